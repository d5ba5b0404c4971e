"""``fuse-reduction``: softmax, log_softmax, layer_norm and reduce_* ops become one
group each, with the elementwise producers of their input and the elementwise
consumers of their result.

Requires: host functions of ``nn`` ops. Guarantees: a ``fusion.group {kind =
"reduction"}`` per float reduction; producers are inlined into the reduction's loads
(the kernel computes them while reading) and consumers are applied at its final store,
so neither reaches memory. Cost guard: softmax and layer_norm read their input in three
passes, so a producer tree is inlined only while it costs at most
``MAX_RECOMPUTED_COST`` instructions per element; reduce_* reads it once, so any
producer tree fuses. A producer with other users, or a consumer that broadcasts the
result (``x - reduce_mean(x)``), is not fused, with a remark.

Before::

    %0 = nn.div %s, %c : ...
    %1 = nn.softmax %0 {axis = -1 : i64} : ...

After::

    %1 = fusion.group (%s, %c) {kind = "reduction"} : (...) -> (...) {
    ^bb0(%a: ..., %b: ...):
      %0 = nn.div %a, %b ... ; %2 = nn.softmax %0 ...
      fusion.yield %2 : ...
    }
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation
from xdsl.passes import ModulePass

from dynir.dialects.nn.constant import ConstantOp
from dynir.lowering.builder import is_integer_type
from dynir.lowering.kernels import REDUCTION_ANCHORS
from dynir.lowering.scalar import has_scalar_form
from dynir.passes._fusion_utils import MAX_RECOMPUTED_COST, cost, host_blocks, make_group, tensor, users
from dynir.remarks import remark

MULTI_PASS = frozenset({"nn.softmax", "nn.log_softmax", "nn.layer_norm"})


def _producers(anchor: Operation) -> list[Operation]:
    """The elementwise producer tree of ``anchor``'s input that it may inline."""
    members: list[Operation] = []
    budget = MAX_RECOMPUTED_COST if anchor.name in MULTI_PASS else None
    spent = 0
    work = [anchor.operands[0]]
    while work:
        v = work.pop()
        p = v.owner
        if not isinstance(p, Operation) or isinstance(p, ConstantOp) or not has_scalar_form(p) or p in members:
            continue
        if p.parent_block() is not anchor.parent_block():
            continue
        n = len(users(p.results[0]))
        if n > 1:
            remark(p, f"not fused: producer has {n} users")
            continue
        if budget is not None and spent + cost(p) > budget:
            remark(p, f"not fused: '{anchor.name}' reads its input 3 times; recomputing '{p.name}' costs more than a load")
            continue
        spent += cost(p)
        members.append(p)
        work.extend(p.operands)
    return members


def _consumers(anchor: Operation) -> list[Operation]:
    chain: list[Operation] = []
    current = anchor.results[0]
    produced = tensor(current)
    while True:
        consumers = users(current)
        if len(consumers) != 1:
            if len(consumers) > 1:
                remark((chain or [anchor])[-1], f"not fused: result has {len(consumers)} users")
            return chain
        consumer = consumers[0]
        if not has_scalar_form(consumer) or consumer.parent_block() is not anchor.parent_block():
            return chain
        if tensor(consumer.results[0]) != produced:
            remark(consumer, f"not fused: consumer broadcasts the result of '{anchor.name}' to {consumer.results[0].type}")
            return chain
        chain.append(consumer)
        current = consumer.results[0]


def fuse_reduction_block(block: Block) -> int:
    formed = 0
    for op in list(block.ops):
        if op.name not in REDUCTION_ANCHORS or op.parent_block() is not block:
            continue
        if is_integer_type(tensor(op.operands[0]).element_type):
            remark(op, "not fused: integer reductions keep their own kernel")
            continue
        members = [*_producers(op), op, *_consumers(op)]
        make_group(members, "reduction")
        formed += 1
    return formed


@dataclass(frozen=True)
class FuseReductionPass(ModulePass):
    name = "fuse-reduction"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for block in host_blocks(op):
            fuse_reduction_block(block)
