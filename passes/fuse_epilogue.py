"""``fuse-epilogue``: a contraction (conv, matmul, gemm) and the elementwise ops that
follow it -- bias add, activation, residual add, clip -- become one group.

Requires: host functions of ``nn`` ops. Guarantees: each ``nn.conv``/``nn.matmul``/
``nn.gemm`` whose result has one user that is an elementwise op of the same type takes
that user, and so on down the chain, into a ``fusion.group {kind = "epilogue"}``; the
kernel applies the chain to each output element before its final store. The chain
stops (with a remark) at a value with several users, a consumer that broadcasts the
result to a larger shape or changes its element type, or a non-elementwise consumer.

Integer contractions (``quant.matmul``/``gemm``/``conv``, see ``QUANT_EPILOGUE_ANCHORS``)
anchor the same groups, and there the element type may change along the chain: the
``i32`` accumulator is dequantized, biased, activated and (re)quantized in registers,
``quant.matmul -> dequantize -> add -> relu -> quantize`` being one kernel. Such a group
is formed only where the kernel builder lowers it (``quant_epilogue_anchor`` says why
not, as a remark); ``quant.dynamic_quantize`` needs the whole tensor's range before
its first element, so it is never an epilogue and starts its own kernel.

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
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Block, Operation
from xdsl.passes import ModulePass

from dynir.lowering.kernels import has_lowering
from dynir.lowering.scalar import has_scalar_form
from dynir.diagnostics import DynirError
from dynir.passes._fusion_utils import (
    INT8_EPILOGUE_MODES,
    QUANT_EPILOGUE_ANCHORS,
    host_blocks,
    make_group,
    quant_epilogue_anchor,
    tensor,
    users,
)
from dynir.remarks import remark

EPILOGUE_PRODUCERS = frozenset({"nn.conv", "nn.matmul", "nn.gemm", "nn.conv_transpose"})


def _same_kind(consumer: Operation, produced: TensorType, retypes: bool) -> bool:
    """The consumer keeps the producer's type (its shape only, for integer anchors)."""
    result = tensor(consumer.results[0])
    return result.get_shape() == produced.get_shape() if retypes else result == produced


def epilogue_chain(producer: Operation) -> list[Operation]:
    """``producer`` and the elementwise ops that consume it, in order."""
    chain = [producer]
    retypes = producer.name in QUANT_EPILOGUE_ANCHORS
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
        if len(consumer.results) != 1 or not _same_kind(consumer, produced, retypes):
            what = "shape" if retypes else "type"
            remark(consumer, f"not fused: consumer gives {consumer.results[0].type}, not the {what} of '{producer.name}' ({produced})")
            return chain
        chain.append(consumer)
        current = consumer.results[0]


def _anchors(op: Operation, int8_epilogues: str) -> bool:
    """Whether ``op`` may anchor an epilogue group (says why not for integer ones)."""
    if op.name in QUANT_EPILOGUE_ANCHORS and has_lowering(op.name):  # has_lowering loads the scalar forms
        why = quant_epilogue_anchor(op, int8_epilogues)
        if why is not None:
            remark(op, f"no epilogue: {why}")
        return why is None
    return op.name in EPILOGUE_PRODUCERS and has_lowering(op.name)


def fuse_epilogue_block(block: Block, int8_epilogues: str = "auto") -> int:
    formed = 0
    for op in list(block.ops):
        if op.parent_block() is not block or not _anchors(op, int8_epilogues):
            continue
        chain = epilogue_chain(op)
        if len(chain) > 1:
            make_group(chain, "epilogue")
            formed += 1
    return formed


@dataclass(frozen=True)
class FuseEpiloguePass(ModulePass):
    name = "fuse-epilogue"
    int8_epilogues: str = "auto"
    """Integer contractions with epilogues: ``auto``, ``always`` or ``never`` (see
    ``INT8_EPILOGUE_MODES``)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.int8_epilogues not in INT8_EPILOGUE_MODES:
            raise DynirError(f"fuse-epilogue: int8-epilogues '{self.int8_epilogues}' is not one of "
                             f"{', '.join(INT8_EPILOGUE_MODES)}")
        for block in host_blocks(op):
            fuse_epilogue_block(block, self.int8_epilogues)
