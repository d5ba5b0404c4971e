"""``fuse-epilogue``: a contraction (conv, matmul, gemm) and the elementwise ops that
follow it -- bias add, activation, residual add, clip -- become one group.

Requires: host functions of ``nn`` ops. Guarantees: each ``nn.conv``/``nn.matmul``/
``nn.gemm`` whose result has one user that is an elementwise op of the same type takes
that user, and so on down the chain, into a ``fusion.group {kind = "epilogue"}``; the
kernel applies the chain to each output element before its final store. The chain
stops (with a remark) at a value with several users, a consumer that broadcasts the
result to a larger shape or changes its element type, or a non-elementwise consumer.

Before::

    %0 = nn.conv %x, %w, %b ...
    %1 = nn.add %0, %r : ...
    %2 = nn.relu %1 : ...

After::

    %2 = fusion.group (%x, %w, %b, %r) {kind = "epilogue"} : (...) -> (...) {
    ^bb0(...):
      %0 = nn.conv ... ; %1 = nn.add ... ; %3 = nn.relu ...
      fusion.yield %3 : ...
    }
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation
from xdsl.passes import ModulePass

from dynir.lowering.kernels import has_lowering
from dynir.lowering.scalar import has_scalar_form
from dynir.passes._fusion_utils import host_blocks, make_group, tensor, users
from dynir.remarks import remark

EPILOGUE_PRODUCERS = frozenset({"nn.conv", "nn.matmul", "nn.gemm", "nn.conv_transpose"})


def epilogue_chain(producer: Operation) -> list[Operation]:
    """``producer`` and the elementwise ops that consume it, in order."""
    chain = [producer]
    produced = tensor(producer.results[0])
    current = producer.results[0]
    while True:
        consumers = users(current)
        if len(consumers) != 1:
            if len(consumers) > 1 and len(chain) == 1:
                remark(producer, f"not fused: producer has {len(consumers)} users")
            elif len(consumers) > 1:
                remark(chain[-1], f"epilogue ends: result has {len(consumers)} users")
            return chain
        consumer = consumers[0]
        if not has_scalar_form(consumer) or consumer.parent_block() is not producer.parent_block():
            return chain
        if len(consumer.results) != 1 or tensor(consumer.results[0]) != produced:
            remark(consumer, f"not fused: consumer gives {consumer.results[0].type}, not the type of '{producer.name}' ({produced})")
            return chain
        chain.append(consumer)
        current = consumer.results[0]


def fuse_epilogue_block(block: Block) -> int:
    formed = 0
    for op in list(block.ops):
        if op.name not in EPILOGUE_PRODUCERS or op.parent_block() is not block or not has_lowering(op.name):
            continue
        chain = epilogue_chain(op)
        if len(chain) > 1:
            make_group(chain, "epilogue")
            formed += 1
    return formed


@dataclass(frozen=True)
class FuseEpiloguePass(ModulePass):
    name = "fuse-epilogue"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for block in host_blocks(op):
            fuse_epilogue_block(block)
