"""Shared machinery of the fusion passes: which ops fuse, what they cost, and how a set
of ops becomes a ``fusion.group``.

A group is formed in place of its last member; it is legal only when every value it
exports is used after that point (otherwise an outside op would sit between two
members: a cycle through the group). ``can_export`` checks it, ``make_group`` builds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np

from xdsl.dialects import func
from xdsl.dialects.builtin import DYNAMIC_INDEX, ModuleOp, TensorType
from xdsl.ir import Block, Operation, Region, SSAValue

from dynir.dialects.fusion import GroupOp, YieldOp
from dynir.dialects.nn.base import read_int, read_ints
from dynir.dialects.nn.constant import ConstantOp
from dynir.lowering.expression import CHANNEL_OPS, VIEW_OPS, static_slice_starts
from dynir.lowering.scalar import has_scalar_form

CHEAP_OPS = frozenset(
    {
        "nn.add", "nn.sub", "nn.mul", "nn.div", "nn.neg", "nn.abs", "nn.relu", "nn.max", "nn.min",
        "nn.clip", "nn.where", "nn.cast", "nn.identity", "nn.dropout", "nn.leaky_relu", "nn.equal",
        "nn.less", "nn.less_equal", "nn.greater", "nn.greater_equal", "nn.and", "nn.or", "nn.not",
        "nn.xor", "nn.reciprocal", "nn.sign", "nn.floor", "nn.ceil", "nn.round", "nn.prelu",
    }
)
"""Elementwise ops of about one instruction; the rest (exp, tanh, erf, pow ...) count
``EXPENSIVE_COST``."""

EXPENSIVE_COST = 8
MAX_RECOMPUTED_COST = 4
"""The most per-element work a producer may carry into a multi-pass reduction, which
recomputes it once per pass: beyond this, reading it back from memory is cheaper."""


def host_blocks(module: ModuleOp) -> list[Block]:
    """The graph blocks of the host functions (kernels, if any, take memrefs)."""
    return [
        op.body.block
        for op in module.ops
        if isinstance(op, func.FuncOp) and op.body.blocks and "kernel" not in op.attributes
    ]


def users(value: SSAValue) -> list[Operation]:
    """The distinct ops that use ``value``, in use order."""
    seen: list[Operation] = []
    for use in value.uses:
        if use.operation not in seen:
            seen.append(use.operation)
    return seen


def result_users(op: Operation) -> list[Operation]:
    seen: list[Operation] = []
    for r in op.results:
        for u in users(r):
            if u not in seen:
                seen.append(u)
    return seen


def tensor(value: SSAValue) -> TensorType:
    t = value.type
    assert isinstance(t, TensorType)
    return t


def is_elementwise(op: Operation) -> bool:
    """Computable element by element in a loop nest (scalar form or per-channel)."""
    return has_scalar_form(op) or op.name in CHANNEL_OPS


def is_fusable_view(op: Operation) -> bool:
    """A view op whose sizes the fused kernel can compute: at most one dynamic result
    dim that is not copied from the input (reshape's 0), static slice starts."""
    if op.name not in VIEW_OPS:
        return False
    if op.name == "nn.slice":
        return static_slice_starts(op) is not None
    if op.name == "nn.transpose":
        return True
    shape = tensor(op.results[0]).get_shape()
    spec = read_ints(op.properties.get("shape")) if op.name == "nn.reshape" else ()
    copies = bool(spec) and not read_int(op.properties.get("allowzero"), 0)
    unknown = [i for i, s in enumerate(shape) if s == DYNAMIC_INDEX and not (copies and spec[i] == 0)]
    return len(unknown) <= 1


def cost(op: Operation) -> int:
    """Rough per-element cost of an elementwise op, in instructions."""
    if op.name in VIEW_OPS:
        return 0
    return 1 if op.name in CHEAP_OPS else EXPENSIVE_COST


def position(op: Operation) -> int:
    block = op.parent_block()
    assert block is not None
    return block.get_operation_index(op)


def can_export(op: Operation, members: Iterable[Operation], last: Operation) -> bool:
    """Whether ``op``'s results may leave a group placed at ``last``: every user
    outside the group comes after ``last``."""
    inside = set(members)
    end = position(last)
    return all(u in inside or position(u) > end for u in result_users(op))


def make_group(members: Sequence[Operation], kind: str) -> GroupOp:
    """Move ``members`` (ops of one block) into a new ``fusion.group`` of ``kind`` placed
    at the last member. Values used outside become the group's results."""
    ordered = sorted(members, key=position)
    inside = set(ordered)
    inputs: list[SSAValue] = []
    for op in ordered:
        for v in op.operands:
            if not (isinstance(v.owner, Operation) and v.owner in inside) and v not in inputs:
                inputs.append(v)
    outputs = [r for op in ordered for r in op.results if any(u.operation not in inside for u in r.uses)]
    body = Block(arg_types=[v.type for v in inputs])
    group = GroupOp(inputs, [r.type for r in outputs], Region(body), kind=kind)
    last = ordered[-1]
    block = last.parent_block()
    assert block is not None
    block.insert_op_after(group, last)
    for old, new in zip(outputs, group.results):
        old.replace_uses_with_if(new, lambda use: use.operation not in inside)
    mapping = dict(zip(inputs, body.args))
    for op in ordered:
        op.detach()
        for i, v in enumerate(op.operands):
            if v in mapping:
                op.operands[i] = mapping[v]  # type: ignore[index]
        body.add_op(op)
    body.add_op(YieldOp(outputs))
    return group


def is_constant(value: SSAValue) -> bool:
    return isinstance(value.owner, ConstantOp)


_CONSTANT_NAMES = itertools.count()


def new_constant(array: np.ndarray, hint: str) -> ConstantOp:
    """An ``nn.constant`` of ``array`` whose blob key (when it is large) is unique in
    the process: ``BlobStore.add`` reuses the key of a name it has seen before."""
    return ConstantOp.from_array(array, f"{hint}_{next(_CONSTANT_NAMES)}")


def erase_if_dead(value: SSAValue) -> None:
    """Erase ``value``'s defining constant when nothing uses it any more."""
    owner = value.owner
    if isinstance(owner, ConstantOp) and not any(True for _ in owner.output.uses):
        owner.detach()
        owner.erase()


# ----------------------------------------------------------------------------------
# Integer contractions with epilogues: what the kernel builder supports.

QUANT_EPILOGUE_ANCHORS = frozenset({"quant.matmul", "quant.gemm", "quant.conv"})
"""Integer contractions that may anchor an epilogue group whose result type differs
from the anchor's (the ``i32`` accumulator dequantized, biased, activated, requantized
before its one store). ``prepack-weights`` turns them into ``quant.packed_matmul`` /
``quant.packed_conv``, whose lowerings take ``epilogue=``."""

QUANT_EPILOGUE_OPS = frozenset({"quant.dequantize", "quant.quantize", "quant.requantize"})
"""Conversions an integer contraction's epilogue may apply (besides the float
elementwise ops: bias add, activation, residual add)."""

_PROBE = """
func.func @main(%x: tensor<3x8xui8>, %xz: tensor<ui8>, %s: tensor<f32>) -> tensor<3x4xi8> {
  %w = nn.constant {value = dense<3> : tensor<8x4xi8>} : tensor<8x4xi8>
  %wz = nn.constant {value = dense<0> : tensor<i8>} : tensor<i8>
  %az = nn.constant {value = dense<0> : tensor<i32>} : tensor<i32>
  %qz = nn.constant {value = dense<1> : tensor<i8>} : tensor<i8>
  %acc = quant.matmul %x, %w, %xz, %wz : (tensor<3x8xui8>, tensor<8x4xi8>, tensor<ui8>, tensor<i8>) -> tensor<3x4xi32>
  %d = quant.dequantize %acc, %s, %az : (tensor<3x4xi32>, tensor<f32>, tensor<i32>) -> tensor<3x4xf32>
  %r = nn.relu %d : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %q = quant.quantize %r, %s, %qz : (tensor<3x4xf32>, tensor<f32>, tensor<i8>) -> tensor<3x4xi8>
  func.return %q : tensor<3x4xi8>
}
"""


@cache
def retyping_epilogue_lowers() -> bool:
    """Whether an epilogue group that changes the element type lowers to one kernel:
    probed once per process by building the kernel of ``quant.matmul -> dequantize ->
    relu -> quantize`` after ``prepack-weights``, exactly as the compile pipeline would.
    False until the kernel builder (``dynir.lowering.kernels``) and the int8 lowering
    both support it; the fusion passes then leave such chains to ``fuse-elementwise``."""
    from dynir.remarks import collect_remarks

    with collect_remarks():  # the probe's own remarks are not the user's
        return _probe_lowers()


def _probe_lowers() -> bool:
    from dynir.ir.context import make_context
    from dynir.ir.text import parse
    from dynir.lowering.kernels import build_kernel
    from dynir.passes.prepack_weights import PrepackWeightsPass

    try:
        module = parse(_PROBE)
        block = host_blocks(module)[0]
        chain = [op for op in block.ops if op.name.startswith(("quant.", "nn.relu"))]
        group = make_group(chain, "epilogue")
        PrepackWeightsPass().apply(make_context(), module)
        anchor = next(op for op in group.body.block.ops)
        if anchor.name == "quant.matmul":  # not packed: the plain loops take no epilogue
            return False
        build_kernel(group, "probe")
    except Exception:  # noqa: BLE001  (any failure means: not supported by this build)
        return False
    return True


INT8_EPILOGUE_MODES = ("auto", "always", "never")
"""``auto``: where ``retyping_epilogue_lowers``; ``always``: wherever the weights pack
(IR tests of the grouping itself); ``never``: integer contractions take no epilogue."""


def quant_epilogue_anchor(op: Operation, mode: str = "auto") -> str | None:
    """Why ``op`` cannot anchor a type-changing epilogue group (None when it can)."""
    if op.name not in QUANT_EPILOGUE_ANCHORS:
        return f"'{op.name}' has no int8 kernel that applies an epilogue"
    if mode == "never":
        return "int8 epilogues are off (int8-epilogues=never)"
    if mode == "auto" and not retyping_epilogue_lowers():
        return "the kernel builder does not lower type-changing epilogues yet"
    from dynir.passes.prepack_weights import activation_rhs_why_not, int8_conv_operands, int8_operands

    if op.name == "quant.matmul" and not is_constant(op.operands[1]):
        return activation_rhs_why_not(op, None)
    found = int8_conv_operands(op, None) if op.name == "quant.conv" else int8_operands(op, None)
    return found if isinstance(found, str) else None
