"""Converters for ONNX shape ops: Reshape, Flatten, Squeeze, Unsqueeze, Expand, Shape,
Size, Range, ConstantOfShape and Constant.

Parameters that later opsets moved from attributes to inputs (Reshape's shape, the axes
of Squeeze/Unsqueeze, Expand's shape) must be known at import time; the converters ask
``ctx.require_const_input``, whose error names the input. Reshape and Expand also take a
shape computed from dynamic dims (``Shape -> Gather -> Concat``, as PyTorch exports
``x.view(x.size(0), -1, 64)``) when it maps onto a static spec: an element equal to the
input's own dim at that position becomes ``0`` (Reshape) or ``1`` (Expand), and one
remaining unknown element becomes Reshape's ``-1`` (see ``dynir.builder.symbolic``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import SSAValue

from dynir.builder.symbolic import DimExpr
from dynir.dialects.nn.base import int_attr, ints_attr
from dynir.dialects.nn.shape import (
    ExpandOp,
    FlattenOp,
    RangeOp,
    ReshapeOp,
    ShapeOp,
    SizeOp,
    SqueezeOp,
    UnsqueezeOp,
)
from dynir.importers.onnx.registry import NodeContext, converter
from dynir.ir.types import shape_of


def int_list(array: np.ndarray) -> list[int]:
    """A constant parameter input (any integer array) as a list of ints."""
    return [int(v) for v in np.asarray(array).reshape(-1)]


@converter("Reshape", since=5)
def reshape_v5(ctx: NodeContext) -> Sequence[SSAValue]:
    allowzero = bool(ctx.attr("allowzero", 0))
    known = ctx.const_input(1)
    shape = int_list(known) if known is not None else _symbolic_reshape(ctx, allowzero)
    props = {"shape": ints_attr(shape)}
    if allowzero:
        props["allowzero"] = int_attr(1)
    return ctx.emit(ReshapeOp, [ctx.input(0)], props)


def _symbolic_shape(ctx: NodeContext) -> list[int | DimExpr]:
    symbolic = ctx.symbolic_input(1)
    if symbolic is None or symbolic.ndim != 1:
        ctx.require_const_input(1, "shape")  # raises, naming the input
        raise AssertionError("unreachable")
    return [v if isinstance(v, DimExpr) else int(v) for v in symbolic]


def _symbolic_reshape(ctx: NodeContext, allowzero: bool) -> list[int]:
    elements = _symbolic_shape(ctx)
    dims = ctx.dim_exprs(0)
    spec: list[int] = []
    unknown: list[str] = []
    for axis, element in enumerate(elements):
        if not isinstance(element, DimExpr):
            spec.append(element)
        elif not allowzero and axis < len(dims) and dims[axis] == element:
            spec.append(0)  # the input's own dim at this position
        else:
            spec.append(-1)
            unknown.append(str(element))
    if len(unknown) + (-1 in [e for e in elements if not isinstance(e, DimExpr)]) > 1:
        ctx.error(
            f"shape (input #1) is [{', '.join(str(e) for e in elements)}] at run time: more than one "
            f"element is unknown before run time ({', '.join(unknown)}), which a static reshape cannot express"
        )
    return spec


@converter("Flatten")
def flatten(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(FlattenOp, [ctx.input(0)], {"axis": int_attr(ctx.attr("axis", 1))})


def _squeeze(ctx: NodeContext, axes: list[int] | None) -> Sequence[SSAValue]:
    if axes is None:
        shape = shape_of(ctx.input_type(0))
        if any(d is None for d in shape):
            ctx.error("Squeeze without axes needs a static input shape")
        axes = [i for i, d in enumerate(shape) if d == 1]
    return ctx.emit(SqueezeOp, [ctx.input(0)], {"axes": ints_attr(axes)})


@converter("Squeeze")
def squeeze_v1(ctx: NodeContext) -> Sequence[SSAValue]:
    return _squeeze(ctx, ctx.attr("axes"))


@converter("Squeeze", since=13)
def squeeze_v13(ctx: NodeContext) -> Sequence[SSAValue]:
    axes = int_list(ctx.require_const_input(1, "axes")) if ctx.has_input(1) else None
    return _squeeze(ctx, axes)


@converter("Unsqueeze")
def unsqueeze_v1(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(UnsqueezeOp, [ctx.input(0)], {"axes": ints_attr(ctx.attr("axes", []))})


@converter("Unsqueeze", since=13)
def unsqueeze_v13(ctx: NodeContext) -> Sequence[SSAValue]:
    axes = int_list(ctx.require_const_input(1, "axes"))
    return ctx.emit(UnsqueezeOp, [ctx.input(0)], {"axes": ints_attr(axes)})


@converter("Expand", since=8)
def expand(ctx: NodeContext) -> Sequence[SSAValue]:
    known = ctx.const_input(1)
    shape = int_list(known) if known is not None else _symbolic_expand(ctx)
    return ctx.emit(ExpandOp, [ctx.input(0)], {"shape": ints_attr(shape)})


def _symbolic_expand(ctx: NodeContext) -> list[int]:
    elements = _symbolic_shape(ctx)
    dims = ctx.dim_exprs(0)
    spec: list[int] = []
    for axis, element in enumerate(elements):
        if not isinstance(element, DimExpr):
            spec.append(element)
            continue
        aligned = axis - (len(elements) - len(dims))  # numpy broadcasting aligns trailing dims
        if 0 <= aligned < len(dims) and dims[aligned] == element:
            spec.append(1)  # broadcasting keeps the input's own dim
        else:
            ctx.error(
                f"shape (input #1) is [{', '.join(str(e) for e in elements)}] at run time: element {axis} "
                f"({element}) is not the input's own dim, so a static expand cannot express it"
            )
    return spec


@converter("Shape")
def shape(ctx: NodeContext) -> Sequence[SSAValue]:
    props = {name: int_attr(ctx.attr(name)) for name in ("start", "end") if ctx.has_attr(name)}
    return ctx.emit(ShapeOp, [ctx.input(0)], props)


@converter("Size")
def size(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(SizeOp, [ctx.input(0)])


@converter("Range", since=11)
def range_(ctx: NodeContext) -> Sequence[SSAValue]:
    # With constant operands the importer folds this into a constant of static length.
    return ctx.emit(RangeOp, [ctx.input(0), ctx.input(1), ctx.input(2)])


@converter("ConstantOfShape", since=9)
def constant_of_shape(ctx: NodeContext) -> Sequence[SSAValue]:
    dims = int_list(ctx.require_const_input(0, "shape"))
    if any(d < 0 for d in dims):
        ctx.error(f"shape {dims} has a negative dim")
    value = ctx.attr("value")
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    if fill.size != 1:
        ctx.error(f"value must hold one element, got {fill.size}")
    return [ctx.constant(np.full(dims, fill[0], dtype=fill.dtype), "constant_of_shape")]


_CONSTANT_SCALARS = {
    "value_float": np.float32,
    "value_floats": np.float32,
    "value_int": np.int64,
    "value_ints": np.int64,
}


@converter("Constant")
def constant(ctx: NodeContext) -> Sequence[SSAValue]:
    for name in ("sparse_value", "value_string", "value_strings"):
        if ctx.has_attr(name):
            ctx.error(f"Constant with '{name}' is not supported")
    if ctx.has_attr("value"):
        array = np.asarray(ctx.attr("value"))
    else:
        found = [name for name in _CONSTANT_SCALARS if ctx.has_attr(name)]
        if not found:
            ctx.error("Constant has no value attribute")
        array = np.asarray(ctx.attr(found[0]), dtype=_CONSTANT_SCALARS[found[0]])
    name = ctx.node.output[0] or "constant"
    return [ctx.constant(array, name)]
