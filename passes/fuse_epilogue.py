"""``fuse-epilogue``: a contraction (conv, matmul, gemm) and the elementwise ops that
follow it -- bias add, activation, residual add, clip -- become one group.

Requires: host functions of ``nn`` ops. Guarantees: each ``nn.conv``/``nn.matmul``/
``nn.gemm`` whose result has one user that is an elementwise op of the same type takes
that user, and so on down the chain, into a ``fusion.group {kind = "epilogue"}``; the
kernel applies the chain to each output element before its final store. The chain
stops (with a remark) at a value with several users unless they meet again in one value
(SiLU, GELU), at a consumer that broadcasts the result to a larger shape or changes its
element type, or at a non-elementwise consumer.

Integer contractions (``quant.matmul``/``gemm``/``conv``, see ``QUANT_EPILOGUE_ANCHORS``)
anchor the same groups, and there the element type may change along the chain: the
``i32`` accumulator is dequantized, biased, activated and (re)quantized in registers,
``quant.matmul -> dequantize -> add -> relu -> quantize`` being one kernel. Such a group
is formed only where the kernel builder lowers it (``quant_epilogue_anchor`` says why
not, as a remark); ``quant.dynamic_quantize`` needs the whole tensor's range before
its first element, so it is never an epilogue and starts its own kernel.

A concat anchors a chain too (``RETYPING_EPILOGUE_ANCHORS``): ``quantize(concat(a, b))`` copies
and quantizes in one kernel.

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
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from dynir.lowering.kernels import RETYPING_EPILOGUE_ANCHORS, has_lowering
from dynir.lowering.scalar import has_scalar_form
from dynir.diagnostics import DynirError
from dynir.passes._fusion_utils import (
    INT8_EPILOGUE_MODES,
    QUANT_EPILOGUE_ANCHORS,
    host_blocks,
    is_constant,
    make_group,
    position,
    quant_epilogue_anchor,
    tensor,
    users,
)
from dynir.remarks import remark

EPILOGUE_PRODUCERS = frozenset({"nn.conv", "nn.matmul", "nn.gemm", "nn.conv_transpose", "nn.concat"})


def _same_kind(consumer: Operation, produced: TensorType, retypes: bool) -> bool:
    """The consumer keeps the producer's type (its shape only, for integer anchors)."""
    result = tensor(consumer.results[0])
    return result.get_shape() == produced.get_shape() if retypes else result == produced


def epilogue_chain(producer: Operation) -> list[Operation]:
    """``producer`` and the elementwise ops that consume it, in order. A value with
    several users continues the epilogue when those users meet again in one value (SiLU:
    ``x * sigmoid(x)``; GELU: ``x * 0.5 * (1 + erf(x / sqrt 2))``): the kernel computes
    each element of ``x`` once and every branch from it in registers."""
    chain = [producer]
    # Integer anchors, and float ones whose lowering stores only the epilogue's value
    # (a concat: ``quantize(concat(a, b))`` copies and quantizes in one kernel).
    retypes = producer.name in QUANT_EPILOGUE_ANCHORS or producer.name in RETYPING_EPILOGUE_ANCHORS
    produced = tensor(producer.results[0])
    current = producer.results[0]
    while True:
        consumers = users(current)
        if len(consumers) > 1:
            merged = _branches_that_meet(producer, chain, retypes)
            if merged is None:
                if len(chain) == 1:
                    remark(producer, f"not fused: producer has {len(consumers)} users")
                else:
                    remark(chain[-1], f"epilogue ends: result has {len(consumers)} users")
                return chain
            chain, current = merged
            continue
        if len(consumers) != 1:
            return chain
        consumer = consumers[0]
        if not _absorbable(consumer, producer):
            return chain
        if len(consumer.results) != 1 or not _same_kind(consumer, produced, retypes):
            what = "shape" if retypes else "type"
            remark(consumer, f"not fused: consumer gives {consumer.results[0].type}, not the {what} of '{producer.name}' ({produced})")
            return chain
        chain.append(consumer)
        current = consumer.results[0]


def _absorbable(consumer: Operation, producer: Operation) -> bool:
    return has_scalar_form(consumer) and consumer.parent_block() is producer.parent_block()


def _branches_that_meet(
    producer: Operation, chain: list[Operation], retypes: bool
) -> tuple[list[Operation], SSAValue] | None:
    """``chain`` grown by every elementwise op reachable from it whose other operands
    come from before ``producer``, and the one value that then leaves it; None when the
    branches do not meet in one value."""
    members = list(chain)
    inside = set(members)
    produced = tensor(producer.results[0])
    start = position(producer)
    grown = True
    while grown:
        grown = False
        for op in list(members):
            for result in op.results:
                for consumer in users(result):
                    if consumer in inside or not _absorbable(consumer, producer) or len(consumer.results) != 1:
                        continue
                    if not _same_kind(consumer, produced, retypes):
                        continue
                    outside = [v for v in consumer.operands if not (isinstance(v.owner, Operation) and v.owner in inside)]
                    if any(isinstance(v.owner, Operation) and not is_constant(v)
                           and v.owner.parent_block() is producer.parent_block()
                           and position(v.owner) > start for v in outside):
                        continue  # an operand computed after the producer might depend on the group
                    members.append(consumer)
                    inside.add(consumer)
                    grown = True
    # The longest prefix (in block order, so every member's operands come before it)
    # from which one value leaves: where the branches meet, even if what follows the
    # meeting point fans out again (YOLO: SiLU, then a residual add and two quantizes).
    ordered = sorted(members, key=position)
    for end in range(len(ordered), len(chain), -1):
        kept = set(ordered[:end])
        leaving = [r for op in ordered[:end] for r in op.results if any(u.operation not in kept for u in r.uses)]
        if len(leaving) == 1:
            return ordered[:end], leaving[0]
    return None


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
