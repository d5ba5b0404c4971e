"""``fuse-elementwise``: chains and trees of elementwise ops become one group each.

Requires: host functions of ``nn`` ops (groups formed by earlier fusion passes are left
alone). Guarantees: every maximal connected set of elementwise ops (scalar-form ops,
``batch_norm``) and the view ops between them (transpose, reshape, slice, ...) whose
values the kernel can compute in registers becomes one ``fusion.group {kind =
"elementwise"}``: one loop nest, one load per input element, one store per output.
Broadcast operands and scalar constants stay group inputs (loaded with broadcast
indices). A producer used outside the group is kept in it and exported (a second
output of the same shape); one of another shape, or used before the group, is not fused,
with a remark saying why.

Before::

    %0 = nn.mul %x, %s : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
    %1 = nn.add %0, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
    %2 = nn.relu %1 : (tensor<?x4xf32>) -> tensor<?x4xf32>

After::

    %2 = fusion.group (%x, %s, %b) {kind = "elementwise"} : (...) -> (tensor<?x4xf32>) {
    ^bb0(%a: tensor<?x4xf32>, %c: tensor<f32>, %d: tensor<4xf32>):
      %0 = nn.mul %a, %c ...
      %1 = nn.add %0, %d ...
      %3 = nn.relu %1 ...
      fusion.yield %3 : tensor<?x4xf32>
    }
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation
from xdsl.passes import ModulePass

from dynir.dialects.nn.base import NNOp
from dynir.dialects.nn.constant import ConstantOp
from dynir.passes._fusion_utils import (
    host_blocks,
    is_elementwise,
    is_fusable_view,
    make_group,
    position,
    result_users,
    tensor,
)
from dynir.remarks import remark


def _candidate(op: Operation) -> bool:
    return isinstance(op, NNOp) and not isinstance(op, ConstantOp) and (is_elementwise(op) or is_fusable_view(op))


def elementwise_members(root: Operation, taken: set[Operation]) -> list[Operation]:
    """The producers of ``root`` that fuse with it (``root`` first)."""
    members: list[Operation] = [root]
    root_type = tensor(root.results[0])
    end = position(root)
    work = [root]
    while work:
        op = work.pop()
        operands = op.operands[:1] if op.name == "nn.batch_norm" else op.operands
        for v in operands:
            p = v.owner
            if not isinstance(p, Operation) or p in members or p in taken or not _candidate(p):
                continue
            outside = [u for u in result_users(p) if u not in members]
            if outside and not _exportable(p, outside, root_type, end, members):
                continue
            members.append(p)
            work.append(p)
    return members


def _exportable(p: Operation, outside: list[Operation], root_type: object, end: int, members: list[Operation]) -> bool:
    """A producer with users outside the group may stay in it as an extra output
    if it has the group's shape and all those users come after the group."""
    n = len(result_users(p))
    if tensor(p.results[0]) != root_type:
        remark(p, f"not fused: producer has {n} users and a shape other than the group's")
        return False
    # Users that are themselves fusable producers of the root are joined later.
    if any(position(u) < end and u not in members for u in outside):
        remark(p, f"not fused: producer has {n} users, one of them before the fused consumer")
        return False
    return True


def fuse_elementwise_block(block: Block) -> int:
    """Form the elementwise groups of ``block``; returns how many were formed."""
    taken: set[Operation] = set()
    formed = 0
    for root in reversed(list(block.ops)):
        if root in taken or not _candidate(root) or root.parent_block() is not block:
            continue
        members = elementwise_members(root, taken)
        taken.update(members)
        if len(members) < 2:
            continue
        make_group(members, "elementwise")
        formed += 1
    return formed



@dataclass(frozen=True)
class FuseElementwisePass(ModulePass):
    name = "fuse-elementwise"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for block in host_blocks(op):
            fuse_elementwise_block(block)
