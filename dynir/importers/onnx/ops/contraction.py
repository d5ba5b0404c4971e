"""Converters for ONNX contractions: MatMul, Gemm, Conv and ConvTranspose.

Implicit inputs become explicit operands (a zero C for Gemm, zero conv biases), and
``auto_pad``/``output_shape`` are resolved into explicit ``pads`` here, so the ``nn`` ops
have one meaning each. ``same_pads`` is shared with the pooling converters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import SSAValue

from dynir.dialects.nn.base import float_attr, int_attr, ints_attr
from dynir.dialects.nn.contraction import ConvOp, ConvTransposeOp, GemmOp, MatmulOp
from dynir.importers.onnx.registry import NodeContext, converter
from dynir.ir.types import Shape, element_of, format_shape, numpy_dtype, shape_of

AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


@converter("MatMul")
def matmul(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(MatmulOp, [ctx.input(0), ctx.input(1)])


@converter("Gemm")
def gemm(ctx: NodeContext) -> Sequence[SSAValue]:
    a = ctx.input(0)
    dtype = numpy_dtype(element_of(a.type))
    c = ctx.input(2) if ctx.has_input(2) else ctx.constant(np.zeros((), dtype), "c")
    props = {
        "alpha": float_attr(ctx.attr("alpha", 1.0)),
        "beta": float_attr(ctx.attr("beta", 1.0)),
        "trans_a": int_attr(ctx.attr("transA", 0)),
        "trans_b": int_attr(ctx.attr("transB", 0)),
    }
    return ctx.emit(GemmOp, [a, ctx.input(1), c], props)


def window_attrs(ctx: NodeContext, spatial_rank: int) -> tuple[list[int], list[int]]:
    """``(strides, dilations)`` attributes with their defaults, length-checked."""
    strides = list(ctx.attr("strides", [1] * spatial_rank))
    dilations = list(ctx.attr("dilations", [1] * spatial_rank))
    for name, values in (("strides", strides), ("dilations", dilations)):
        if len(values) != spatial_rank:
            ctx.error(f"{name} {values} must hold {spatial_rank} values (one per spatial dim)")
    return strides, dilations


def same_pads(
    ctx: NodeContext,
    spatial: Shape,
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> list[int]:
    """Explicit pads (begins, then ends) for the node's ``auto_pad`` and ``pads``.

    SAME_* pads so that each output dim is ``ceil(in / stride)``; the odd pad goes at the
    end (SAME_UPPER) or the beginning (SAME_LOWER). That needs static spatial dims.
    """
    k = len(kernel)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad not in AUTO_PADS:
        ctx.error(f"auto_pad '{auto_pad}' is not supported")
    if auto_pad == "VALID":
        return [0] * (2 * k)
    if auto_pad == "NOTSET":
        pads = list(ctx.attr("pads", [0] * (2 * k)))
        if len(pads) != 2 * k:
            ctx.error(f"pads {pads} must hold {2 * k} values (begins, then ends)")
        return pads
    sizes = [d for d in spatial if d is not None]
    if len(sizes) != k:
        ctx.error(f"auto_pad {auto_pad} needs static spatial dims, but the input's are {format_shape(spatial)}")
    begins, ends = [], []
    for size, kk, s, d in zip(sizes, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + d * (kk - 1) + 1 - size)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def _kernel(ctx: NodeContext, weight_shape: Shape) -> list[int]:
    declared = weight_shape[2:]
    kernel = ctx.attr("kernel_shape")
    if kernel is None:
        if any(d is None for d in declared):
            ctx.error(f"the weight's kernel dims must be static, got {format_shape(weight_shape)}")
        return [int(d) for d in declared if d is not None]
    kernel = list(kernel)
    if len(kernel) != len(declared) or any(d is not None and d != kk for d, kk in zip(declared, kernel)):
        ctx.error(f"kernel_shape {kernel} does not match the weight {format_shape(weight_shape)}")
    return kernel


def _bias(ctx: NodeContext, channels: int | None) -> SSAValue:
    if ctx.has_input(2):
        return ctx.input(2)
    if channels is None:
        ctx.error("without a bias (input #2) the weight's output-channel dim must be static")
    return ctx.constant(np.zeros(channels, numpy_dtype(element_of(ctx.input_type(0)))), "bias")


@converter("Conv")
def conv(ctx: NodeContext) -> Sequence[SSAValue]:
    x_shape, w_shape = shape_of(ctx.input_type(0)), shape_of(ctx.input_type(1))
    if len(x_shape) < 3:
        ctx.error(f"input must have rank >= 3 (N, C, spatial...), got {format_shape(x_shape)}")
    kernel = _kernel(ctx, w_shape)
    strides, dilations = window_attrs(ctx, len(kernel))
    pads = same_pads(ctx, x_shape[2:], kernel, strides, dilations)
    props = {
        "strides": ints_attr(strides),
        "pads": ints_attr(pads),
        "dilations": ints_attr(dilations),
        "group": int_attr(ctx.attr("group", 1)),
    }
    return ctx.emit(ConvOp, [ctx.input(0), ctx.input(1), _bias(ctx, w_shape[0])], props)


@converter("ConvTranspose")
def conv_transpose(ctx: NodeContext) -> Sequence[SSAValue]:
    x_shape, w_shape = shape_of(ctx.input_type(0)), shape_of(ctx.input_type(1))
    if len(x_shape) < 3:
        ctx.error(f"input must have rank >= 3 (N, C, spatial...), got {format_shape(x_shape)}")
    kernel = _kernel(ctx, w_shape)
    k = len(kernel)
    strides, dilations = window_attrs(ctx, k)
    group = int(ctx.attr("group", 1))
    extra = list(ctx.attr("output_padding", [0] * k))
    if len(extra) != k:
        ctx.error(f"output_padding {extra} must hold {k} values (one per spatial dim)")
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    output_shape = ctx.attr("output_shape")
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = _transpose_pads(ctx, x_shape[2:], kernel, strides, dilations, extra, output_shape)
    else:
        pads = same_pads(ctx, x_shape[2:], kernel, strides, dilations)
    props = {
        "strides": ints_attr(strides),
        "pads": ints_attr(pads),
        "dilations": ints_attr(dilations),
        "group": int_attr(group),
        "output_padding": ints_attr(extra),
    }
    channels = None if w_shape[1] is None else w_shape[1] * group
    return ctx.emit(ConvTransposeOp, [ctx.input(0), ctx.input(1), _bias(ctx, channels)], props)


def _transpose_pads(
    ctx: NodeContext,
    spatial: Shape,
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    extra: list[int],
    output_shape: Sequence[int] | None,
) -> list[int]:
    """Pads that give ``output_shape`` (or ``in * stride`` for SAME_*), split as the
    ONNX spec says: the odd pad at the end for SAME_UPPER, else at the beginning.
    An output larger than the unpadded one grows ``extra`` (output_padding) instead."""
    k = len(kernel)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    sizes = [d for d in spatial if d is not None]
    if len(sizes) != k:
        what = "output_shape" if output_shape is not None else f"auto_pad {auto_pad}"
        ctx.error(f"{what} needs static spatial dims, but the input's are {format_shape(spatial)}")
    if output_shape is not None:
        wanted = list(output_shape)[-k:] if len(output_shape) >= k else []
        if len(output_shape) not in (k, k + 2):
            ctx.error(f"output_shape {list(output_shape)} must hold {k} values (one per spatial dim)")
    else:
        wanted = [size * s for size, s in zip(sizes, strides)]
    begins, ends = [], []
    for i in range(k):
        full = strides[i] * (sizes[i] - 1) + extra[i] + dilations[i] * (kernel[i] - 1) + 1
        total = full - wanted[i]
        if total < 0:
            extra[i] -= total
            total = 0
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return begins + ends
