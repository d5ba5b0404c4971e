"""``fuse-horizontal``: sibling matmuls that share their input become one wider matmul.

Requires: host functions of ``nn`` ops. Guarantees: two or more ``nn.matmul`` ops with
the same lhs and constant 2-D rhs of the same K and element type (attention's Q, K, V
projections) become one matmul against the column-concatenated weights, followed by
one ``nn.slice`` per original along the last dim. When every sibling's only user is an
``nn.add`` of a constant ``[N_i]`` bias, the biases are concatenated and added once too.
The input is then read once instead of once per projection; the slices fuse into
their consumers (``fuse-elementwise`` treats them as index arithmetic).

Before::

    %q = nn.matmul %x, %wq : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>
    %k = nn.matmul %x, %wk : (tensor<?x?x64xf32>, tensor<64x64xf32>) -> tensor<?x?x64xf32>

After::

    %w = nn.constant ... : tensor<64x128xf32>
    %qk = nn.matmul %x, %w : (tensor<?x?x64xf32>, tensor<64x128xf32>) -> tensor<?x?x128xf32>
    %q = nn.slice %qk {starts = array<i64: 0>, ends = array<i64: 64>, axes = array<i64: 2>} ...
    %k = nn.slice %qk {starts = array<i64: 64>, ends = array<i64: 128>, axes = array<i64: 2>} ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from dynir.dialects.nn.base import ints_attr
from dynir.dialects.nn.constant import ConstantOp
from dynir.dialects.nn.contraction import MatmulOp
from dynir.dialects.nn.elementwise import AddOp
from dynir.dialects.nn.indexing import SliceOp
from dynir.passes._fusion_utils import erase_if_dead, host_blocks, new_constant, position, tensor, users
from dynir.remarks import remark


def _weight(op: Operation) -> np.ndarray | None:
    owner = op.operands[1].owner
    if isinstance(owner, ConstantOp) and len(tensor(op.operands[1]).get_shape()) == 2:
        return owner.array()
    return None


def _bias_add(op: Operation) -> tuple[Operation, np.ndarray] | None:
    """The ``nn.add`` of a constant ``[N]`` bias that is ``op``'s only user."""
    consumers = users(op.results[0])
    if len(consumers) != 1 or consumers[0].name != "nn.add":
        return None
    add = consumers[0]
    other = add.operands[1] if add.operands[0] is op.results[0] else add.operands[0]
    n = tensor(op.operands[1]).get_shape()[1]
    if isinstance(other.owner, ConstantOp) and tensor(other).get_shape() == (n,) and tensor(add.results[0]) == tensor(op.results[0]):
        return add, other.owner.array()
    return None


def _siblings(lhs: SSAValue) -> list[Operation]:
    """The matmuls of ``lhs`` with constant 2-D weights, in block order. (Sharing the
    lhs, they share K and the element type.)"""
    matmuls = sorted((u for u in users(lhs) if u.name == "nn.matmul" and u.operands[0] is lhs), key=position)
    found = [m for m in matmuls if _weight(m) is not None]
    if len(found) >= 2:
        for m in matmuls:
            if m not in found:
                remark(m, "not fused: sibling matmul's weights are not constants")
    return found


def _merge(siblings: list[Operation]) -> None:
    first = min(siblings, key=position)
    block = first.parent_block()
    assert block is not None
    weights = [_weight(m) for m in siblings]
    biases = [_bias_add(m) for m in siblings]
    with_bias = all(b is not None for b in biases)
    new_ops: list[Operation] = []
    w = new_constant(np.concatenate([a for a in weights if a is not None], axis=1), "merged_weight")
    new_ops.append(w)
    wide = MatmulOp.make([first.operands[0], w.output])
    new_ops.append(wide)
    merged: SSAValue = wide.output
    if with_bias:
        b = new_constant(np.concatenate([x[1] for x in biases if x is not None]), "merged_bias")
        add = AddOp.make([merged, b.output])
        new_ops += [b, add]
        merged = add.results[0]
    rank = len(tensor(merged).get_shape())
    offset = 0
    replaced: list[tuple[Operation, SSAValue]] = []
    for m, weight, bias in zip(siblings, weights, biases):
        assert weight is not None
        n = weight.shape[1]
        props = {"starts": ints_attr([offset]), "ends": ints_attr([offset + n]), "axes": ints_attr([rank - 1]), "steps": ints_attr([1])}
        sl = SliceOp.make([merged], props)
        new_ops.append(sl)
        target = bias[0] if with_bias and bias is not None else m
        replaced.append((target, sl.results[0]))
        offset += n
    block.insert_ops_before(new_ops, first)
    for old, new in replaced:
        old.results[0].replace_all_uses_with(new)
    dead: list[SSAValue] = []
    for m, bias in zip(siblings, biases):
        if with_bias and bias is not None:
            dead += list(bias[0].operands)
            bias[0].detach()
            bias[0].erase()
        dead.append(m.operands[1])
        m.detach()
        m.erase()
    for value in dead:
        erase_if_dead(value)


def fuse_horizontal_block(block: Block) -> int:
    merged = 0
    values = list(block.args) + [r for op in block.ops for r in op.results]
    for v in values:
        siblings = _siblings(v)
        if len(siblings) >= 2:
            _merge(siblings)
            merged += 1
    return merged


@dataclass(frozen=True)
class FuseHorizontalPass(ModulePass):
    name = "fuse-horizontal"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for block in host_blocks(op):
            fuse_horizontal_block(block)
