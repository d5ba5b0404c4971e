"""Converters for ONNX reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSumExp
and ArgMax/ArgMin.

Opset moves: the axes are an attribute until ReduceSum-13 and the others' opset 18, then
an optional input that must be known at import time. With ``noop_with_empty_axes = 1``
and no axes, the reduction runs over no axes at all, which leaves only its elementwise
part (``|x|`` for L1 and L2, ``x * x`` for SumSquare, ``x`` otherwise), as onnxruntime
computes it; without that flag, no axes means every axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import Attribute, SSAValue

from dynir.dialects.nn import activation as act
from dynir.dialects.nn import elementwise as ew
from dynir.dialects.nn import reduction as red
from dynir.dialects.nn.base import NNOp, int_attr, ints_attr
from dynir.importers.onnx.registry import NodeContext, converter

_REDUCTIONS: dict[str, tuple[type[NNOp], int]] = {
    # op type: (nn op, first opset with axes as an input)
    "ReduceSum": (red.ReduceSumOp, 13),
    "ReduceMean": (red.ReduceMeanOp, 18),
    "ReduceMax": (red.ReduceMaxOp, 18),
    "ReduceMin": (red.ReduceMinOp, 18),
    "ReduceProd": (red.ReduceProdOp, 18),
    "ReduceL1": (red.ReduceL1Op, 18),
    "ReduceL2": (red.ReduceL2Op, 18),
    "ReduceSumSquare": (red.ReduceSumSquareOp, 18),
    "ReduceLogSumExp": (red.ReduceLogSumExpOp, 18),
}


def _reduce_over_no_axes(ctx: NodeContext, op_class: type[NNOp]) -> Sequence[SSAValue]:
    x = ctx.input(0)
    if op_class in (red.ReduceL1Op, red.ReduceL2Op):
        return ctx.emit(act.AbsOp, [x])
    if op_class is red.ReduceSumSquareOp:
        return ctx.emit(ew.MulOp, [x, x])
    return [x]


def _reduce(ctx: NodeContext, op_class: type[NNOp], axes: Sequence[int] | None) -> Sequence[SSAValue]:
    if not axes and ctx.attr("noop_with_empty_axes", 0):
        return _reduce_over_no_axes(ctx, op_class)
    props: dict[str, Attribute] = {}
    if axes:
        props["axes"] = ints_attr(axes)
    keepdims = ctx.attr("keepdims", 1)
    if keepdims != 1:
        props["keepdims"] = int_attr(keepdims)
    return ctx.emit(op_class, [ctx.input(0)], props)


def _register(op_type: str, op_class: type[NNOp], axes_input_since: int) -> None:
    def with_axes_attribute(ctx: NodeContext) -> Sequence[SSAValue]:
        return _reduce(ctx, op_class, ctx.attr("axes"))

    def with_axes_input(ctx: NodeContext) -> Sequence[SSAValue]:
        if ctx.has_attr("axes"):
            ctx.error(f"attribute 'axes' is not allowed from opset {axes_input_since}; axes are input #1")
        axes = None
        if ctx.has_input(1):
            axes = [int(a) for a in np.asarray(ctx.require_const_input(1, "axes")).reshape(-1)]
        return _reduce(ctx, op_class, axes)

    converter(op_type)(with_axes_attribute)
    converter(op_type, since=axes_input_since)(with_axes_input)


for _op_type, (_cls, _since) in _REDUCTIONS.items():
    _register(_op_type, _cls, _since)


def _arg_reduce(ctx: NodeContext, op_class: type[NNOp]) -> Sequence[SSAValue]:
    props: dict[str, Attribute] = {"axis": int_attr(ctx.attr("axis", 0))}
    if ctx.attr("keepdims", 1) != 1:
        props["keepdims"] = int_attr(ctx.attr("keepdims"))
    if ctx.attr("select_last_index", 0):
        props["select_last_index"] = int_attr(ctx.attr("select_last_index"))
    return ctx.emit(op_class, [ctx.input(0)], props)


@converter("ArgMax")
def argmax(ctx: NodeContext) -> Sequence[SSAValue]:
    return _arg_reduce(ctx, red.ArgmaxOp)


@converter("ArgMin")
def argmin(ctx: NodeContext) -> Sequence[SSAValue]:
    return _arg_reduce(ctx, red.ArgminOp)
