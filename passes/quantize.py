"""``quantize``: float matmul / gemm / conv layers with constant weights to int8 (and, in
static mode, matmuls of two activations).

Modes (``quantize{mode=...}``):
- ``dynamic`` (default): weights become int8 at compile time (symmetric, per output
  channel unless ``per-channel=false``); activations are quantized to uint8 at run time
  (``quant.dynamic_quantize``: scale from the tensor's own range). Needs no calibration.
- ``static``: activation scales are constants computed from the range calibration
  recorded on the op (``quant.input_range``, see ``dynir.quantization.calibrate``); a
  layer without a range is an error naming it. A matmul of two activations (a 2-D
  right-hand side that is not a constant) is quantized too where calibration recorded
  its right-hand side's range (``quant.rhs_range``): symmetric int8, packed at run time.
- ``weight-only``: weights are stored as int8 and dequantized; compute stays float.

Requires: ``nn`` ops with constant (``nn.constant``) weights. Guarantees: every layer it
quantizes computes ``(x - x_zp) . w_q`` in ``i32`` (``quant.matmul``/``gemm``/``conv``)
and dequantizes the accumulator with ``x_scale * w_scale``; float bias is added after.
Every decision (quantized, kept in float and why) is a remark on the layer; layers are
named by ``quant.layer`` (the ONNX node name where there is one). With ``keep-float``
(default on) a layer whose int8 form would be slower -- a tiny layer, or a dynamic-mode
layer whose run-time activation quantization costs more than the int8 compute saves --
stays in float: the cost model and its thresholds are ``dynir.quantization.cost``; the
layer records ``quant.decision = "<why>"`` and a remark ``kept in float: <why>``.

Before::

    %y = nn.matmul %x, %w : (tensor<?x64xf32>, tensor<64x32xf32>) -> tensor<?x32xf32>

After (dynamic)::

    %q, %s, %z = quant.dynamic_quantize %x : (tensor<?x64xf32>) -> (tensor<?x64xui8>, tensor<f32>, tensor<ui8>)
    %acc = quant.matmul %q, %wq, %z, %wz : (tensor<?x64xui8>, tensor<64x32xi8>, tensor<ui8>, tensor<i8>) -> tensor<?x32xi32>
    %scale = nn.mul %s, %ws : (tensor<f32>, tensor<32xf32>) -> tensor<32xf32>
    %y = quant.dequantize %acc, %scale, %zero : (tensor<?x32xi32>, tensor<32xf32>, tensor<i32>) -> tensor<?x32xf32>
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr, f32, i8
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from dynir.dialects.fusion import GroupOp, YieldOp
from dynir.dialects.nn import contraction as nn_c
from dynir.dialects.nn import elementwise as ew
from dynir.dialects.nn.base import ints_attr, read_float, read_int
from dynir.dialects.nn.constant import ConstantOp
from dynir.dialects.nn.shape import UnsqueezeOp
from dynir.dialects.quant import ops as q
from dynir.dialects.quant.types import UniformQuantizedType, u8
from dynir.diagnostics import DynirError, format_location
from dynir.ir.types import element_of, shape_of
from dynir.quantization.cost import why_float
from dynir.quantization.params import (
    DECISION,
    LAYER,
    RHS_RANGE,
    activation_params,
    input_range,
    layer_name,
    name_layers,
    quantize_weight,
    symmetric_scale,
)
from dynir.remarks import remark

MODES = ("dynamic", "static", "weight-only")
LAYER_OPS = (nn_c.MatmulOp, nn_c.GemmOp, nn_c.ConvOp)


class QuantizeError(DynirError):
    """A layer the pass was asked to quantize but cannot (static mode without a range)."""


def _constant(value: SSAValue) -> np.ndarray | None:
    owner = value.owner
    return owner.array() if isinstance(owner, ConstantOp) else None


def activation_rhs(op: Operation) -> bool:
    """Whether ``op`` is a matmul of two activations whose right-hand side is 2-D f32:
    static mode quantizes it with the calibrated range of both (``quant.rhs_range``)."""
    rhs = op.operands[1]
    return (isinstance(op, nn_c.MatmulOp) and _constant(rhs) is None and len(shape_of(rhs.type)) == 2
            and element_of(rhs.type) == f32)


def why_not(op: Operation, mode: str = "static") -> str | None:
    """Why ``op`` cannot be quantized in ``mode`` (None when it can)."""
    x = op.operands[0]
    if element_of(x.type) != f32:
        return f"input is {element_of(x.type)}, not f32"
    w = _constant(op.operands[1])
    if w is None and activation_rhs(op) and mode == "static":
        return None if input_range(op, RHS_RANGE) is not None else "the right-hand side activation has no calibrated range"
    if w is None:
        return ("weight is not a constant" + (" (static mode quantizes a 2-D f32 activation right-hand side)"
                                               if isinstance(op, nn_c.MatmulOp) else ""))
    if isinstance(op, nn_c.MatmulOp) and w.ndim != 2:
        return f"weight has rank {w.ndim} (2-D weights only)"
    if isinstance(op, nn_c.GemmOp):
        if read_int(op.trans_a, 0) or read_float(op.alpha, 1.0) != 1.0:
            return "gemm with trans_a or alpha != 1"
        if read_float(op.beta, 1.0) != 1.0 and _constant(op.c) is None:
            return "gemm with beta != 1 and a non-constant c"
    return None


def candidates(module: ModuleOp) -> list[Operation]:
    """The float layers of the host functions, in program order. Fusion groups that hold
    one are dissolved first (``dynir-opt --fuse --quantize``): the quantized layer is a
    different op sequence, and lower-to-loops (or a later fusion) groups it again."""
    found: list[Operation] = []
    for f in module.ops:
        if not (isinstance(f, func.FuncOp) and f.body.blocks and "kernel" not in f.attributes):
            continue
        for group in [g for g in f.body.block.ops if isinstance(g, GroupOp)]:
            if any(isinstance(inner, LAYER_OPS) for inner in group.body.block.ops):
                dissolve(group)
        found += [op for op in f.body.block.ops if isinstance(op, LAYER_OPS)]
    return found


def dissolve(group: GroupOp) -> None:
    """Inline ``group``'s body in its place."""
    block = group.body.block
    for arg, value in zip(block.args, group.operands):
        arg.replace_all_uses_with(value)
    yielded: list[SSAValue] = []
    for inner in list(block.ops):
        inner.detach()
        if isinstance(inner, YieldOp):
            yielded = list(inner.operands)
            inner.erase()
            continue
        group.parent_block().insert_op_before(inner, group)  # type: ignore[union-attr]
    for result, value in zip(group.results, yielded):
        result.replace_all_uses_with(value)
    group.detach()
    group.erase()


def channel_axis(op: Operation) -> int:
    """The weight axis of output channels."""
    if isinstance(op, nn_c.MatmulOp):
        return 1
    if isinstance(op, nn_c.GemmOp):
        return 0 if read_int(op.trans_b, 0) else 1
    return 0


def output_scale_shape(op: Operation, channels: int) -> tuple[int, ...]:
    """How a per-channel vector broadcasts over the layer's output."""
    if isinstance(op, nn_c.ConvOp):
        rank = len(shape_of(op.results[0].type))
        return (channels,) + (1,) * (rank - 2)
    return (channels,)


@dataclass
class _Emitter:
    """Builds the replacement of one layer just before it."""

    anchor: Operation
    ops: list[Operation] = field(default_factory=list[Operation])

    def const(self, array: np.ndarray, name: str) -> SSAValue:
        op = ConstantOp.from_array(np.asarray(array), f"{layer_name(self.anchor) or 'q'}.{name}")
        self.ops.append(op)
        return op.output

    def emit(self, cls: type[Operation], operands: Sequence[SSAValue], props: dict | None = None, n: int = 1) -> list[SSAValue]:
        op = cls.make(operands, props, num_results=n)  # type: ignore[attr-defined]
        op.location = self.anchor.location
        self.ops.append(op)
        return list(op.results)

    def finish(self, result: SSAValue | None) -> None:
        block = self.anchor.parent
        assert block is not None
        block.insert_ops_before(self.ops, self.anchor)
        if result is not None:
            result.owner.attributes[LAYER] = StringAttr(layer_name(self.anchor) or "")  # type: ignore[union-attr]
            self.anchor.results[0].replace_all_uses_with(result)
            inputs = list(self.anchor.operands)
            self.anchor.detach()
            self.anchor.erase()
            for value in inputs:  # the float weight (and bias) when nothing else reads them
                owner = value.owner
                if isinstance(owner, ConstantOp) and not value.uses:
                    owner.detach()
                    owner.erase()


def _quantize_activation(e: _Emitter, op: Operation, mode: str) -> tuple[SSAValue, SSAValue, SSAValue, float | None]:
    """``(x_q, x_scale, x_zero_point, static scale)`` of the layer's input."""
    x = op.operands[0]
    if mode == "dynamic":
        xq, xs, xz = e.emit(q.DynamicQuantizeOp, [x], n=3)
        return xq, xs, xz, None
    found = input_range(op)
    if found is None:
        raise QuantizeError(
            f"{format_location(op)}: error: '{op.name}' layer '{layer_name(op)}' has no calibrated range "
            "(quantize{mode=static} needs dynir.quantize or 'dynir calibrate' first)"
        )
    scale, zero = activation_params(*found)
    qtype = UniformQuantizedType.make(u8, f32, scale, zero)
    xs = e.const(np.array(scale, np.float32), "x_scale")
    xz = e.const(np.array(zero, np.uint8), "x_zero_point")
    (xq,) = e.emit(q.QuantizeOp, [x, xs, xz], {"qtype": qtype})
    return xq, xs, xz, scale


def _integer_layer(e: _Emitter, op: Operation, xq: SSAValue, xz: SSAValue, wq: SSAValue) -> SSAValue:
    wz = e.const(np.zeros((), np.int8), "w_zero_point")
    if isinstance(op, nn_c.MatmulOp):
        return e.emit(q.MatmulOp, [xq, wq, xz, wz])[0]
    if isinstance(op, nn_c.GemmOp):
        bias = e.const(np.zeros((), np.int32), "acc_bias")
        return e.emit(q.GemmOp, [xq, wq, bias, xz, wz], {"trans_b": op.trans_b} if op.trans_b else {})[0]
    assert isinstance(op, nn_c.ConvOp)
    bias = e.const(np.zeros(shape_of(wq.type)[0] or 0, np.int32), "acc_bias")
    props = {k: v for k in ("strides", "pads", "dilations", "group") if (v := op.properties.get(k)) is not None}
    return e.emit(q.ConvOp, [xq, wq, bias, xz, wz], props)[0]


def _float_bias(e: _Emitter, op: Operation, y: SSAValue) -> SSAValue:
    """Add the layer's float bias (gemm's ``beta * c``, conv's bias) after dequantizing."""
    if isinstance(op, nn_c.GemmOp):
        c_const = _constant(op.c)
        beta = read_float(op.beta, 1.0)
        if c_const is not None:
            if not np.any(c_const) or beta == 0.0:
                return y
            return e.emit(ew.AddOp, [y, e.const((c_const * np.float32(beta)).astype(np.float32), "bias")])[0]
        return e.emit(ew.AddOp, [y, op.c])[0]
    if isinstance(op, nn_c.ConvOp):
        b = _constant(op.bias)
        if b is None:
            rank = len(shape_of(y.type))
            (shaped,) = e.emit(UnsqueezeOp, [op.bias], {"axes": ints_attr(range(1, rank - 1))})
            return e.emit(ew.AddOp, [y, shaped])[0]
        if not np.any(b):
            return y
        return e.emit(ew.AddOp, [y, e.const(b.reshape(output_scale_shape(op, b.size)), "bias")])[0]
    return y


def _quantize_activation_rhs(op: Operation) -> None:
    """A static matmul of two activations: both quantized with calibrated scales, the
    right-hand side to symmetric int8 (zero point 0, so no row sums); ``prepack-weights``
    packs it into VNNI panels at run time (``quant.pack_panels``)."""
    e = _Emitter(op)
    xq, _, xz, x_scale = _quantize_activation(e, op, "static")
    found = input_range(op, RHS_RANGE)
    assert found is not None and x_scale is not None
    scale = symmetric_scale(*found)
    zero = e.const(np.zeros((), np.int8), "rhs_zero_point")
    qtype = UniformQuantizedType.make(i8, f32, scale, 0)
    (bq,) = e.emit(q.QuantizeOp, [op.operands[1], e.const(np.array(scale, np.float32), "rhs_scale"), zero], {"qtype": qtype})
    (acc,) = e.emit(q.MatmulOp, [xq, bq, xz, zero])
    acc_scale = e.const(np.array(np.float32(x_scale) * np.float32(scale), np.float32), "acc_scale")
    (y,) = e.emit(q.DequantizeOp, [acc, acc_scale, e.const(np.zeros((), np.int32), "acc_zero_point")])
    e.finish(y)


def quantize_layer(op: Operation, mode: str, per_channel: bool) -> None:
    """Replace ``op`` (checked by ``why_not``) by its quantized form."""
    w = _constant(op.operands[1])
    if w is None:
        _quantize_activation_rhs(op)
        return
    axis = channel_axis(op)
    qw = quantize_weight(w, axis if per_channel else None)
    e = _Emitter(op)
    wq = e.const(qw.values, "w_q")
    channels = w.shape[axis]
    scales = np.broadcast_to(qw.scales, (channels,)).astype(np.float32)
    if mode == "weight-only":
        shape = [1] * w.ndim
        shape[axis] = channels
        (wd,) = e.emit(q.DequantizeOp, [wq, e.const(scales.reshape(shape), "w_scale"), e.const(np.zeros((), np.int8), "w_zero_point")])
        e.finish(None)
        op.operands[1] = wd  # type: ignore[index]
        return
    xq, xs, xz, static_scale = _quantize_activation(e, op, mode)
    acc = _integer_layer(e, op, xq, xz, wq)
    out_shape = output_scale_shape(op, channels)
    if static_scale is not None:
        scale = e.const((np.float32(static_scale) * scales).reshape(out_shape).astype(np.float32), "acc_scale")
    else:
        (scale,) = e.emit(ew.MulOp, [xs, e.const(scales.reshape(out_shape), "w_scale")])
    (y,) = e.emit(q.DequantizeOp, [acc, scale, e.const(np.zeros((), np.int32), "acc_zero_point")])
    y = _float_bias(e, op, y)
    e.finish(y)


def _excluded(op: Operation, exclude: Sequence[str]) -> bool:
    names = {layer_name(op) or "", op.name, op.name.removeprefix("nn.")}
    return any(x in names for x in exclude)


@dataclass(frozen=True)
class QuantizePass(ModulePass):
    """See the module docstring."""

    name = "quantize"
    mode: str = "dynamic"
    per_channel: bool = True
    exclude: tuple[str, ...] = ()
    keep_float: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.mode not in MODES:
            raise QuantizeError(f"quantize: mode '{self.mode}' is not one of {', '.join(MODES)}")
        layers = candidates(op)
        name_layers(layers)
        for layer in layers:
            decision = layer.attributes.get(DECISION)
            reason = why_not(layer, self.mode)
            if isinstance(decision, StringAttr):
                remark(layer, f"layer '{layer_name(layer)}' kept in float: {decision.data}")
            elif _excluded(layer, self.exclude):
                layer.attributes[DECISION] = StringAttr("excluded")
                remark(layer, f"layer '{layer_name(layer)}' kept in float: excluded by name or op type")
            elif reason is not None:
                remark(layer, f"layer '{layer_name(layer)}' kept in float: {reason}")
            elif self.keep_float and (slower := why_float(layer, self.mode)) is not None:
                layer.attributes[DECISION] = StringAttr(slower)
                remark(layer, f"layer '{layer_name(layer)}' kept in float: {slower}")
            else:
                remark(layer, f"layer '{layer_name(layer)}' quantized to int8 ({self.mode}, weights "
                       f"{'per channel' if self.per_channel else 'per tensor'})")
                quantize_layer(layer, self.mode, self.per_channel)

