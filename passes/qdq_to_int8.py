"""``qdq-to-int8``: the float convs/matmuls/gemms of an ONNX QDQ model compute in int8.

An ONNX model quantized in the QDQ format (``onnxruntime.quantization.quantize_static``
with ``QuantFormat.QDQ``) keeps every layer a float op between ``DequantizeLinear`` and
``QuantizeLinear``. onnxruntime runs such a layer as ``QLinearConv``/``QLinearMatMul``;
this pass does the same, with ONNX's semantics:

- the layer's input is ``dequantize(x_q, s_x, z_x)`` (8-bit, per tensor, constant scale);
- its weight is ``dequantize(w_q, s_w, z_w)`` of constants (per tensor or per output
  channel), or a float constant that is exactly such a dequantization of a symmetric
  int8 tensor (what the importer folds a ``DequantizeLinear`` of an initializer into:
  ``weight_from_float`` finds ``w_q`` and ``s_w`` with ``w_q * s_w`` in f32 equal to every
  element -- for onnxruntime's weights, its own values and scales -- so the integer
  product is exact whatever scale the model stored), or, for ``nn.matmul`` only, another
  per-tensor dequantized activation;
- a float bias (conv's, gemm's ``beta * c``) is a constant and becomes ``i32`` as
  QLinearConv's: ``b_i32 = round(b / (s_x * s_w))``.

Then the layer is ``quant.conv``/``quant.matmul``/``quant.gemm`` accumulating in ``i32``,
and its float result is replaced per user: a ``quantize(y, s_y, z_y)`` (per tensor,
constant scale) becomes ``quant.requantize(acc, s_x * s_w / s_y, z_y)`` -- int8 flows
straight to the next layer --, ``quantize(relu(y))`` becomes ``max(requantize(acc),
z_y)`` (the clip at the zero point), every other user reads ``dequantize(acc, s_x * s_w,
0)``. Requires: ``fold-qdq`` first (it moves the pairs out of views and pools). Guarantees:
every contraction with a dequantized input is rewritten or keeps a remark that says why
not; results equal onnxruntime's QLinear* ops up to one step of the rounding of
``acc * multiplier`` (computed in f64 here, in f32 there). ``prepack-weights`` then packs
the new ops for the VNNI kernels and ``fuse-epilogue`` takes their conversions.

Before::

    %xd = quant.dequantize %xq, %sx, %zx : (tensor<1x8xui8>, tensor<f32>, tensor<ui8>) -> tensor<1x8xf32>
    %y = nn.matmul %xd, %w : (tensor<1x8xf32>, tensor<8x4xf32>) -> tensor<1x4xf32>
    %q = quant.quantize %y, %sy, %zy : (tensor<1x4xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x4xui8>

After::

    %acc = quant.matmul %xq, %wq, %zx, %wz : (tensor<1x8xui8>, tensor<8x4xi8>, tensor<ui8>, tensor<i8>) -> tensor<1x4xi32>
    %q = quant.requantize %acc, %m, %zy : (tensor<1x4xi32>, tensor<4xf32>, tensor<ui8>) -> tensor<1x4xui8>
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass

from dynir.dialects.nn import contraction as nn_c
from dynir.dialects.nn import elementwise as ew
from dynir.dialects.nn.base import read_float, read_int
from dynir.dialects.nn.constant import ConstantOp
from dynir.dialects.quant import ops as q
from dynir.ir.types import element_of, numpy_dtype, shape_of
from dynir.passes._fusion_utils import host_blocks, new_constant, users
from dynir.remarks import remark

LAYERS = (nn_c.ConvOp, nn_c.MatmulOp, nn_c.GemmOp)
WINDOW_PROPS = ("strides", "pads", "dilations", "group")
RECOVERY_QMAX = (127, 128, 64, 63)
"""Largest stored magnitude a symmetric int8 weight may have been quantized to: 127
(onnxruntime's default), 128 (full range), 64/63 (``reduce_range``); tried in order."""
DEAD_OPS = frozenset({"nn.constant", "nn.relu", "nn.conv", "nn.matmul", "nn.gemm"})
"""Pure ops a rewrite may leave unused (besides ``quant`` ones): erased with it."""
SCALE_ULPS = 2
"""How many f32 steps around ``max|w| / qmax`` the scale recovery searches."""


# ----------------------------------------------------------------------------------
# Reading the quantization of operands.


def known_array(value: SSAValue) -> np.ndarray | None:
    """``value`` when known at compile time: a constant, or a ``quant.dequantize`` of
    constants (evaluated with its reference semantics)."""
    owner = value.owner
    if isinstance(owner, ConstantOp):
        return np.asarray(owner.array())
    if isinstance(owner, q.DequantizeOp):
        inputs = [a for v in owner.operands if (a := _constant(v)) is not None]
        if len(inputs) == len(owner.operands):
            return np.asarray(owner.reference(*inputs)[0])
    return None


def _constant(value: SSAValue) -> np.ndarray | None:
    owner = value.owner
    return np.asarray(owner.array()) if isinstance(owner, ConstantOp) else None


def _is_8bit(value: SSAValue) -> bool:
    return numpy_dtype(element_of(value.type)).itemsize == 1 and numpy_dtype(element_of(value.type)).kind in "iu"


def _per_tensor(value: SSAValue) -> bool:
    return all(d == 1 for d in shape_of(value.type))


@dataclass(frozen=True)
class Activation:
    """``dequantize(stored, scale, zero_point)`` with one constant scale."""

    stored: SSAValue
    scale: np.float32
    zero_point: SSAValue


def activation_of(value: SSAValue) -> Activation | str:
    """The per-tensor 8-bit dequantization behind ``value``, or why there is none."""
    dq = value.owner
    if not isinstance(dq, q.DequantizeOp):
        return "input is not dequantized"
    if not _is_8bit(dq.input):
        return f"input is dequantized from {element_of(dq.input.type)}, not 8-bit integers"
    if not (_per_tensor(dq.scale) and _per_tensor(dq.zero_point)):
        return "input is dequantized with per-axis parameters"
    scale = _constant(dq.scale)
    if scale is None or scale.dtype != np.float32:
        return "input scale is not an f32 constant"
    return Activation(dq.input, np.float32(scale.reshape(())), dq.zero_point)


@dataclass(frozen=True)
class Int8Weight:
    """Stored weight values with one scale and zero point per output channel (``axis``),
    or one of each (``per_channel`` False)."""

    values: np.ndarray
    scales: np.ndarray
    zero_points: np.ndarray
    per_channel: bool
    recovered: bool


def _along_axis(array: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray | None:
    """``array`` broadcast to ``shape`` as one value per index of ``axis`` (None when it
    varies along another axis or does not broadcast)."""
    try:
        full = np.moveaxis(np.broadcast_to(array, shape), axis, 0).reshape(shape[axis], -1)
    except ValueError:
        return None
    if full.shape[1] and not bool(np.all(full == full[:, :1])):
        return None
    return full[:, 0] if full.shape[1] else np.zeros(shape[axis], array.dtype)


def weight_from_dequantize(dq: q.DequantizeOp, axis: int) -> Int8Weight | str:
    """The weight of ``dequantize(w_q, s_w, z_w)`` with constant operands."""
    values, scale, zero = (_constant(v) for v in dq.operands)
    if values is None or scale is None or zero is None:
        return "weight is dequantized from non-constants"
    if values.dtype not in (np.int8, np.uint8) or scale.dtype != np.float32:
        return f"weight is dequantized from {values.dtype} with {scale.dtype} scales, not 8-bit with f32"
    scales, zeros = _along_axis(scale, values.shape, axis), _along_axis(zero, values.shape, axis)
    if scales is None or zeros is None:
        return "weight is quantized along an axis that is not the output channels"
    per_channel = scale.size > 1 or zero.size > 1
    if not per_channel:
        scales, zeros = scale.reshape(1), zero.reshape(1)
    return Int8Weight(values, scales, zeros, per_channel, recovered=False)


def _recover_scales(lines: np.ndarray) -> np.ndarray | None:
    """One f32 scale per row of ``lines`` such that ``rint(line / s) * s`` (in f32, stored
    values within int8) gives the row back bit for bit; None when some row has none."""
    absmax = np.max(np.abs(lines), axis=1) if lines.shape[1] else np.zeros(lines.shape[0], np.float32)
    found = np.where(absmax == 0, np.float32(1), np.float32(0)).astype(np.float32)
    for qmax in RECOVERY_QMAX:
        guess = (absmax / np.float32(qmax)).astype(np.float32)
        for step in sorted(range(-SCALE_ULPS, SCALE_ULPS + 1), key=abs):
            open_rows = np.nonzero(found == 0)[0]
            if not open_rows.size:
                return found
            s = guess[open_rows]
            for _ in range(abs(step)):
                s = np.nextafter(s, np.float32(np.inf) if step > 0 else np.float32(0)).astype(np.float32)
            with np.errstate(all="ignore"):
                stored = np.rint(lines[open_rows] / s[:, None])
                exact = (stored.astype(np.float32) * s[:, None] == lines[open_rows]) & (stored >= -128) & (stored <= 127)
            good = np.all(exact, axis=1) & (s > 0)
            found[open_rows[good]] = s[good]
    return found if bool(np.all(found > 0)) else None


def weight_from_float(array: np.ndarray, axis: int) -> Int8Weight | str:
    """The symmetric int8 weight whose dequantization is exactly ``array`` (per tensor
    if one scale does, else per ``axis``)."""
    if array.dtype != np.float32:
        return f"weight is {array.dtype}, not a dequantized tensor"
    if array.size == 0 or not bool(np.all(np.isfinite(array))):
        return "weight is empty or not finite"
    for per_channel in (False, True):
        lines = np.moveaxis(array, axis, 0).reshape(array.shape[axis], -1) if per_channel else array.reshape(1, -1)
        scales = _recover_scales(lines)
        if scales is None:
            continue
        shape = [1] * array.ndim
        if per_channel:
            shape[axis] = array.shape[axis]
        values = np.rint(array / scales.reshape(shape)).astype(np.int8)
        return Int8Weight(values, scales, np.zeros(scales.shape, np.int8), per_channel, recovered=True)
    return "weight is a float constant that no int8 tensor with per-channel scales dequantizes to"


def channel_axis(op: Operation) -> int:
    """The weight axis of output channels."""
    if isinstance(op, nn_c.GemmOp):
        return 0 if read_int(op.trans_b, 0) else 1
    return 0 if isinstance(op, nn_c.ConvOp) else 1


def weight_of(op: Operation) -> Int8Weight | Activation | str:
    """The quantized weight of layer ``op``: constant, or (``nn.matmul``) an activation."""
    w = op.operands[1]
    axis = channel_axis(op)
    constant = isinstance(w.owner, ConstantOp) or (isinstance(w.owner, q.DequantizeOp) and _constant(w.owner.input) is not None)
    if constant and isinstance(op, nn_c.MatmulOp) and len(shape_of(w.type)) != 2:
        return f"weight has rank {len(shape_of(w.type))} (2-D constant weights only)"
    if isinstance(w.owner, q.DequantizeOp) and _constant(w.owner.input) is not None:
        return weight_from_dequantize(w.owner, axis)
    array = _constant(w)
    if array is not None:
        return weight_from_float(array, axis)
    if isinstance(op, nn_c.MatmulOp):
        found = activation_of(w)
        return found if isinstance(found, Activation) else f"rhs: {found}"
    return "weight is neither constant nor dequantized from constants"


def why_not_layer(op: Operation) -> str | None:
    """Layer properties the int8 ops do not take (None when fine)."""
    if isinstance(op, nn_c.GemmOp):
        if read_int(op.trans_a, 0) or read_float(op.alpha, 1.0) != 1.0:
            return "gemm with trans_a or alpha != 1"
        if known_array(op.c) is None:
            return "gemm bias c is not a constant"
    if isinstance(op, nn_c.ConvOp) and known_array(op.bias) is None:
        return "conv bias is not a constant"
    return None


def layer_operands(op: Operation) -> tuple[Activation, Int8Weight | Activation] | str:
    """The quantized input and weight of layer ``op``, or why it stays in float."""
    x = activation_of(op.operands[0])
    if isinstance(x, str):
        return x
    w = weight_of(op)
    if isinstance(w, str):
        return w
    why = why_not_layer(op)
    return (x, w) if why is None else why


# ----------------------------------------------------------------------------------
# Users of the float result.


@dataclass(frozen=True)
class Requantized:
    """A ``quantize`` that reads the layer's result (through ``relu`` when ``relu``)."""

    quantize: q.QuantizeOp
    scale: np.float32
    relu: bool


def _requantizable(quantize: Operation) -> Requantized | None:
    if not isinstance(quantize, q.QuantizeOp) or not (_per_tensor(quantize.scale) and _per_tensor(quantize.zero_point)):
        return None
    scale = _constant(quantize.scale)
    if scale is None or scale.dtype != np.float32 or not _is_8bit(quantize.output):
        return None
    return Requantized(quantize, np.float32(scale.reshape(())), relu=False)


def split_users(result: SSAValue) -> tuple[list[Requantized], list[Operation]]:
    """``result``'s users that take a requantized accumulator (quantizes, and relus whose
    users all are such quantizes), and the rest, which read it dequantized."""
    requantized: list[Requantized] = []
    floats: list[Operation] = []
    for user in users(result):
        direct = _requantizable(user)
        if direct is not None:
            requantized.append(direct)
            continue
        through = [_requantizable(u) for u in users(user.results[0])] if user.name == "nn.relu" else []
        if through and all(r is not None for r in through):
            requantized += [Requantized(r.quantize, r.scale, relu=True) for r in through if r is not None]
        else:
            floats.append(user)
    return requantized, floats


# ----------------------------------------------------------------------------------
# The rewrite.


@dataclass
class _Builder:
    """Inserts new ops before ``anchor``, at ``anchor``'s location."""

    anchor: Operation
    ops: list[Operation] = field(default_factory=list[Operation])

    def const(self, array: np.ndarray, hint: str) -> SSAValue:
        op: Operation = new_constant(np.asarray(array), hint)
        self.ops.append(op)
        return op.results[0]

    def emit(self, cls: type[Operation], operands: Sequence[SSAValue], props: dict[str, Attribute] | None = None) -> SSAValue:
        op: Operation = cls.make(list(operands), props or {})  # type: ignore[attr-defined]
        op.location = self.anchor.location
        self.ops.append(op)
        return op.results[0]

    def insert(self) -> None:
        block = self.anchor.parent_block()
        assert block is not None
        block.insert_ops_before(self.ops, self.anchor)


def _output_shape(op: Operation, size: int) -> tuple[int, ...]:
    """How a per-channel vector of ``size`` broadcasts over ``op``'s result."""
    if size == 1:
        return ()
    rank = len(shape_of(op.results[0].type))
    return (size,) + (1,) * (rank - 2) if isinstance(op, nn_c.ConvOp) else (size,)


def _weight_param(array: np.ndarray, w: Int8Weight, axis: int) -> np.ndarray:
    """A per-channel parameter shaped to broadcast along ``axis`` of the weight."""
    if not w.per_channel:
        return array.reshape(())
    shape = [1] * w.values.ndim
    shape[axis] = array.size
    return array.reshape(shape)


def _int32_bias(bias: np.ndarray, acc_scale: np.ndarray) -> np.ndarray:
    """``round(b / (s_x * s_w))`` saturated to ``i32`` (QLinearConv's bias)."""
    with np.errstate(all="ignore"):
        ratio = np.rint(bias.astype(np.float64) / acc_scale.astype(np.float64))
    info = np.iinfo(np.int32)
    return np.asarray(np.clip(np.nan_to_num(ratio), info.min, info.max), np.int32)


def _float_bias(op: Operation) -> np.ndarray | None:
    if isinstance(op, nn_c.ConvOp):
        return known_array(op.bias)
    if isinstance(op, nn_c.GemmOp):
        c = known_array(op.c)
        assert c is not None
        return (c * np.float32(read_float(op.beta, 1.0))).astype(np.float32)
    return None


def _contraction(b: _Builder, op: Operation, x: Activation, w: Int8Weight | Activation, acc_scale: np.ndarray) -> SSAValue:
    """The ``i32`` accumulator of layer ``op``."""
    if isinstance(w, Activation):
        return b.emit(q.MatmulOp, [x.stored, w.stored, x.zero_point, w.zero_point])
    axis = channel_axis(op)
    wq = b.const(w.values, "w_q")
    wz = b.const(_weight_param(w.zero_points, w, axis), "w_zero_point")
    if isinstance(op, nn_c.MatmulOp):
        return b.emit(q.MatmulOp, [x.stored, wq, x.zero_point, wz])
    bias = _float_bias(op)
    assert bias is not None
    if isinstance(op, nn_c.GemmOp):
        c = b.const(_int32_bias(bias, acc_scale.reshape(-1)), "bias_i32")
        props = {"trans_b": op.trans_b} if op.trans_b is not None else {}
        return b.emit(q.GemmOp, [x.stored, wq, c, x.zero_point, wz], props)
    channels = w.values.shape[0]
    c = b.const(_int32_bias(np.broadcast_to(bias, (channels,)), np.broadcast_to(acc_scale.reshape(-1), (channels,))), "bias_i32")
    props = {k: v for k in WINDOW_PROPS if (v := op.properties.get(k)) is not None}
    return b.emit(q.ConvOp, [x.stored, wq, c, x.zero_point, wz], props)


def _requantize(op: Operation, acc: SSAValue, acc_scale: np.ndarray, target: Requantized) -> None:
    """Replace ``target.quantize`` by ``requantize(acc)`` (and the clip of its relu)."""
    b = _Builder(target.quantize)
    multiplier = (acc_scale / target.scale).astype(np.float32)  # (s_x * s_w) / s_y in f32, as onnxruntime
    result = b.emit(q.RequantizeOp, [acc, b.const(multiplier.reshape(_output_shape(op, acc_scale.size)), "requant_multiplier"),
                                     target.quantize.zero_point])
    if target.relu:
        result = b.emit(ew.MaxOp, [result, target.quantize.zero_point])
    b.insert()
    target.quantize.output.replace_all_uses_with(result)


def rewrite_layer(op: Operation, x: Activation, w: Int8Weight | Activation) -> tuple[Operation, str]:
    """Replace layer ``op`` by its int8 form; returns the integer contraction and the
    remark that describes the rewrite."""
    w_scales = np.asarray(w.scale, np.float32).reshape(1) if isinstance(w, Activation) else w.scales
    acc_scale = (x.scale * w_scales).astype(np.float32)  # s_x * s_w in f32, as the bias quantization
    b = _Builder(op)
    acc = _contraction(b, op, x, w, acc_scale)
    requantized, floats = split_users(op.results[0])
    if floats:
        zero = b.const(np.zeros((), np.int32), "acc_zero_point")
        scale = b.const(acc_scale.reshape(_output_shape(op, acc_scale.size)), "acc_scale")
        y = b.emit(q.DequantizeOp, [acc, scale, zero])
        op.results[0].replace_uses_with_if(y, lambda use: use.operation in floats)
    b.insert()
    for target in requantized:
        _requantize(op, acc, acc_scale, target)
    new = acc.owner
    assert isinstance(new, Operation)
    _erase_dead([r.quantize for r in requantized] + [op])
    return new, _describe(new, w, len(requantized), bool(floats))


def _describe(new: Operation, w: Int8Weight | Activation, requantized: int, dequantized: bool) -> str:
    if isinstance(w, Activation):
        weights = "both operands dequantized activations"
    else:
        kind = f"per channel ({w.scales.size} scales)" if w.per_channel else "per tensor"
        weights = f"weights {kind}{', scales recovered from the folded float weight' if w.recovered else ''}"
    ends = [f"requantized for {requantized} quantize user(s)"] if requantized else []
    ends += ["dequantized for float users"] if dequantized else []
    return f"computes in int8 as '{new.name}' ({weights}); {' and '.join(ends)}"


def _erase_dead(ops: Sequence[Operation]) -> None:
    """Erase the ops of ``ops`` that nothing uses, then their dead pure producers."""
    work = list(ops)
    while work:
        op = work.pop()
        if op.parent is None or any(True for r in op.results for _ in r.uses):
            continue
        if not (op.name.startswith("quant.") or op.name in DEAD_OPS):
            continue
        producers = [v.owner for v in op.operands if isinstance(v.owner, Operation)]
        op.detach()  # type: ignore[no-untyped-call]
        op.erase()
        work += producers


def qdq_to_int8_block(block: Block) -> int:
    """Rewrite every layer of ``block`` with a dequantized input; returns how many."""
    rewritten = 0
    for op in list(block.ops):
        if not isinstance(op, LAYERS) or not isinstance(op.operands[0].owner, q.DequantizeOp):
            continue
        found = layer_operands(op)
        if isinstance(found, str):
            remark(op, f"kept in float: {found}")
            continue
        new, message = rewrite_layer(op, *found)
        remark(new, message)
        rewritten += 1
    return rewritten


@dataclass(frozen=True)
class QdqToInt8Pass(ModulePass):
    """See the module docstring."""

    name = "qdq-to-int8"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for block in host_blocks(op):
            qdq_to_int8_block(block)
