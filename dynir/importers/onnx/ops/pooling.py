"""Converters for ONNX pooling: MaxPool, AveragePool, LpPool and the global pools.

``auto_pad`` is resolved into explicit pads (``same_pads``, shared with Conv).
MaxPool's optional Indices output is not supported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from xdsl.ir import Attribute, SSAValue

from dynir.dialects.nn.base import float_attr, int_attr, ints_attr
from dynir.dialects.nn.pooling import (
    AveragePoolOp,
    GlobalAveragePoolOp,
    GlobalMaxPoolOp,
    LpPoolOp,
    MaxPoolOp,
)
from dynir.importers.onnx.ops.contraction import same_pads, window_attrs
from dynir.importers.onnx.registry import NodeContext, converter
from dynir.ir.types import format_shape, shape_of


def window_props(ctx: NodeContext) -> dict[str, Attribute]:
    """kernel_shape, strides, pads (auto_pad resolved), dilations and ceil_mode."""
    x_shape = shape_of(ctx.input_type(0))
    kernel = ctx.attr("kernel_shape")
    if kernel is None:
        ctx.error("kernel_shape is required")
    kernel = list(kernel)
    if len(x_shape) != len(kernel) + 2:
        ctx.error(f"kernel_shape {kernel} does not fit input {format_shape(x_shape)} (N, C, spatial...)")
    strides, dilations = window_attrs(ctx, len(kernel))
    pads = same_pads(ctx, x_shape[2:], kernel, strides, dilations)
    return {
        "kernel_shape": ints_attr(kernel),
        "strides": ints_attr(strides),
        "pads": ints_attr(pads),
        "dilations": ints_attr(dilations),
        "ceil_mode": int_attr(ctx.attr("ceil_mode", 0)),
    }


def _emit(ctx: NodeContext, op_class: type, extra: Mapping[str, Attribute] | None = None) -> Sequence[SSAValue]:
    return ctx.emit(op_class, [ctx.input(0)], window_props(ctx) | dict(extra or {}))


@converter("MaxPool")
def max_pool(ctx: NodeContext) -> Sequence[SSAValue]:
    if ctx.has_output(1):
        ctx.error("the Indices output (#1) is not supported")
    return _emit(ctx, MaxPoolOp)


@converter("AveragePool")
def average_pool(ctx: NodeContext) -> Sequence[SSAValue]:
    return _emit(ctx, AveragePoolOp, {"count_include_pad": int_attr(ctx.attr("count_include_pad", 0))})


@converter("LpPool")
def lp_pool(ctx: NodeContext) -> Sequence[SSAValue]:
    return _emit(ctx, LpPoolOp, {"p": float_attr(ctx.attr("p", 2))})


@converter("GlobalAveragePool")
def global_average_pool(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(GlobalAveragePoolOp, [ctx.input(0)])


@converter("GlobalMaxPool")
def global_max_pool(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(GlobalMaxPoolOp, [ctx.input(0)])


@converter("GlobalLpPool", since=2)
def global_lp_pool(ctx: NodeContext) -> Sequence[SSAValue]:
    x_shape = shape_of(ctx.input_type(0))
    spatial = [d for d in x_shape[2:] if d is not None]
    if len(x_shape) < 3 or len(spatial) != len(x_shape) - 2:
        ctx.error(f"GlobalLpPool needs static spatial dims, but the input is {format_shape(x_shape)}")
    props = {"kernel_shape": ints_attr(spatial), "p": float_attr(ctx.attr("p", 2))}
    return ctx.emit(LpPoolOp, [ctx.input(0)], props)
