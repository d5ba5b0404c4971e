"""Converters for ONNX quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv and com.microsoft's QLinearAdd.

Every implicit input becomes explicit: a missing zero point is a zero of the storage
type (``output_dtype``, else u8), a missing ConvInteger/QLinearConv bias a zero ``i32``
vector. Per-axis scales and zero points (1-D, one value per index of ``axis``) are
unsqueezed to broadcast along that axis, which is how the ``quant`` ops take them.
QLinear* ops become an integer contraction plus ``quant.requantize`` with the multiplier
``a_scale * b_scale / y_scale`` (folded when the scales are constants). Blocked
quantization (``block_size``) and the 2/4-bit and float8 storage types are reported as
unsupported.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import TensorProto, helper
from xdsl.ir import Attribute, SSAValue

from dynir.dialects.nn import elementwise as ew
from dynir.dialects.nn.base import int_attr, ints_attr
from dynir.dialects.nn.shape import UnsqueezeOp
from dynir.dialects.quant import ops as q
from dynir.importers.onnx.ops.contraction import same_pads, window_attrs
from dynir.importers.onnx.registry import NodeContext, converter
from dynir.ir.types import element_of, element_type, format_shape, normalize_axis, numpy_dtype, shape_of

_STORAGE = {TensorProto.UINT8, TensorProto.INT8, TensorProto.UINT16, TensorProto.INT16}


def _storage_dtype(ctx: NodeContext, value_index: int | None) -> np.dtype:
    """The integer storage type: the zero point's, else ``output_dtype``, else u8."""
    if value_index is not None and ctx.has_input(value_index):
        dtype = numpy_dtype(element_of(ctx.input_type(value_index)))
    else:
        code = int(ctx.attr("output_dtype", 0)) or TensorProto.UINT8
        if code not in _STORAGE:
            ctx.error(f"output_dtype {TensorProto.DataType.Name(code)} is not supported (8- and 16-bit integers only)")
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(code))
    if dtype.kind not in "iu" or dtype.itemsize > 2:
        ctx.error(f"quantized type {dtype} is not supported (8- and 16-bit integers only)")
    return dtype


def _zero_point(ctx: NodeContext, index: int, dtype: np.dtype) -> SSAValue:
    return ctx.input(index) if ctx.has_input(index) else ctx.constant(np.zeros((), dtype), "zero_point")


def along_axis(ctx: NodeContext, value: SSAValue, axis: int, rank: int, what: str) -> SSAValue:
    """A 1-D per-axis parameter shaped to broadcast along ``axis`` of a rank-``rank``
    tensor: ``[C]`` becomes ``[C, 1, ..., 1]``; scalars and size-1 vectors stay.
    A known parameter is reshaped here, into its own constant named ``what``."""
    shape = shape_of(value.type)
    if len(shape) == 0 or shape == (1,):
        return value
    if len(shape) != 1:
        ctx.error(f"{what} must be a scalar or 1-D, got {format_shape(shape)} (blocked quantization is not supported)")
    trailing = rank - normalize_axis(axis, rank) - 1
    if trailing == 0:
        return value
    known = _known(value)
    if known is not None:
        return ctx.constant(known.reshape(known.shape + (1,) * trailing), what)
    return ctx.emit(UnsqueezeOp, [value], {"axes": ints_attr(range(1, trailing + 1))})[0]


def _known(value: SSAValue) -> np.ndarray | None:
    from dynir.dialects.nn.constant import ConstantOp

    owner = value.owner
    return owner.array() if isinstance(owner, ConstantOp) else None


def _check_not_blocked(ctx: NodeContext) -> None:
    if int(ctx.attr("block_size", 0)):
        ctx.error("blocked quantization (block_size) is not supported")


@converter("QuantizeLinear", since=10)
def quantize_linear(ctx: NodeContext) -> Sequence[SSAValue]:
    _check_not_blocked(ctx)
    x = ctx.input(0)
    rank = len(shape_of(x.type))
    axis = int(ctx.attr("axis", 1))
    zp = _zero_point(ctx, 2, _storage_dtype(ctx, 2))
    scale = along_axis(ctx, ctx.input(1), axis, max(rank, 1), "scale")
    return ctx.emit(q.QuantizeOp, [x, scale, along_axis(ctx, zp, axis, max(rank, 1), "zero_point")])


@converter("DequantizeLinear", since=10)
def dequantize_linear(ctx: NodeContext) -> Sequence[SSAValue]:
    _check_not_blocked(ctx)
    x = ctx.input(0)
    rank = len(shape_of(x.type))
    axis = int(ctx.attr("axis", 1))
    zp = _zero_point(ctx, 2, numpy_dtype(element_of(x.type)))
    scale = along_axis(ctx, ctx.input(1), axis, max(rank, 1), "scale")
    (y,) = ctx.emit(q.DequantizeOp, [x, scale, along_axis(ctx, zp, axis, max(rank, 1), "zero_point")])
    code = int(ctx.attr("output_dtype", 0))
    if code:
        target = element_type(helper.tensor_dtype_to_np_dtype(code))
        if target != element_of(y.type):
            return ctx.emit(ew.CastOp, [y], {"to": target})
    return [y]


@converter("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(q.DynamicQuantizeOp, [ctx.input(0)], num_results=3)


def _matmul_zero_points(ctx: NodeContext, a: SSAValue, b: SSAValue, az: SSAValue, bz: SSAValue) -> tuple[SSAValue, SSAValue]:
    """ONNX per-row ``a`` zero points (``[M]``) become ``[M, 1]``; per-column ``b`` ones stay."""
    ra = len(shape_of(a.type))
    return (along_axis(ctx, az, ra - 2, ra, "a_zero_point") if ra >= 2 else az), bz


@converter("MatMulInteger", since=10)
def matmul_integer(ctx: NodeContext) -> Sequence[SSAValue]:
    a, b = ctx.input(0), ctx.input(1)
    az = _zero_point(ctx, 2, numpy_dtype(element_of(a.type)))
    bz = _zero_point(ctx, 3, numpy_dtype(element_of(b.type)))
    az, bz = _matmul_zero_points(ctx, a, b, az, bz)
    return ctx.emit(q.MatmulOp, [a, b, az, bz])


def _multiplier(ctx: NodeContext, in_scale: SSAValue, w_scale: SSAValue, out_scale: SSAValue) -> SSAValue:
    """``in_scale * w_scale / out_scale`` in the scales' float type (as ONNX computes it)."""
    product = ctx.emit(ew.MulOp, [in_scale, w_scale])[0]
    return ctx.emit(ew.DivOp, [product, out_scale])[0]


@converter("QLinearMatMul", since=10)
def qlinear_matmul(ctx: NodeContext) -> Sequence[SSAValue]:
    a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp = (ctx.input(i) for i in range(8))
    ra = len(shape_of(a.type))
    a_zp, b_zp = _matmul_zero_points(ctx, a, b, a_zp, b_zp)
    (acc,) = ctx.emit(q.MatmulOp, [a, b, a_zp, b_zp])
    if ra >= 2:
        a_scale = along_axis(ctx, a_scale, ra - 2, ra, "a_scale")
    return ctx.emit(q.RequantizeOp, [acc, _multiplier(ctx, a_scale, b_scale, y_scale), y_zp])


def _conv_props(ctx: NodeContext, w: SSAValue) -> dict[str, Attribute]:
    x_shape, w_shape = shape_of(ctx.input_type(0)), shape_of(w.type)
    if len(x_shape) < 3:
        ctx.error(f"input must have rank >= 3 (N, C, spatial...), got {format_shape(x_shape)}")
    kernel = ctx.attr("kernel_shape")
    if kernel is None:
        if any(d is None for d in w_shape[2:]):
            ctx.error(f"the weight's kernel dims must be static, got {format_shape(w_shape)}")
        kernel = [int(d) for d in w_shape[2:] if d is not None]
    strides, dilations = window_attrs(ctx, len(kernel))
    pads = same_pads(ctx, x_shape[2:], list(kernel), strides, dilations)
    return {
        "strides": ints_attr(strides),
        "pads": ints_attr(pads),
        "dilations": ints_attr(dilations),
        "group": int_attr(ctx.attr("group", 1)),
    }


def _conv_bias(ctx: NodeContext, index: int | None, w: SSAValue) -> SSAValue:
    if index is not None and ctx.has_input(index):
        return ctx.input(index)
    channels = shape_of(w.type)[0]
    if channels is None:
        ctx.error("without a bias the weight's output-channel dim must be static")
    return ctx.constant(np.zeros(channels, np.int32), "bias")


@converter("ConvInteger", since=10)
def conv_integer(ctx: NodeContext) -> Sequence[SSAValue]:
    x, w = ctx.input(0), ctx.input(1)
    rank = len(shape_of(w.type))
    xz = _zero_point(ctx, 2, numpy_dtype(element_of(x.type)))
    wz = along_axis(ctx, _zero_point(ctx, 3, numpy_dtype(element_of(w.type))), 0, rank, "w_zero_point")
    return ctx.emit(q.ConvOp, [x, w, _conv_bias(ctx, None, w), xz, wz], _conv_props(ctx, w))


@converter("QLinearConv", since=10)
def qlinear_conv(ctx: NodeContext) -> Sequence[SSAValue]:
    x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp = (ctx.input(i) for i in range(8))
    rank = len(shape_of(w.type))
    wz = along_axis(ctx, w_zp, 0, rank, "w_zero_point")
    (acc,) = ctx.emit(q.ConvOp, [x, w, _conv_bias(ctx, 8, w), x_zp, wz], _conv_props(ctx, w))
    multiplier = _multiplier(ctx, x_scale, along_axis(ctx, w_scale, 1, rank, "w_scale"), y_scale)
    return ctx.emit(q.RequantizeOp, [acc, multiplier, y_zp])


@converter("QLinearAdd", domain="com.microsoft")
def qlinear_add(ctx: NodeContext) -> Sequence[SSAValue]:
    """onnxruntime's QLinearAdd: dequantize both, add in float, quantize."""
    a, a_scale, b, b_scale, c_scale = (ctx.input(i) for i in (0, 1, 3, 4, 6))
    a_zp = _zero_point(ctx, 2, numpy_dtype(element_of(a.type)))
    b_zp = _zero_point(ctx, 5, numpy_dtype(element_of(b.type)))
    c_zp = _zero_point(ctx, 7, numpy_dtype(element_of(a.type)))
    (fa,) = ctx.emit(q.DequantizeOp, [a, a_scale, a_zp])
    (fb,) = ctx.emit(q.DequantizeOp, [b, b_scale, b_zp])
    (total,) = ctx.emit(ew.AddOp, [fa, fb])
    return ctx.emit(q.QuantizeOp, [total, c_scale, c_zp])
