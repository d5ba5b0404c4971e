"""Converters for ONNX Softmax/LogSoftmax, LayerNormalization, BatchNormalization
(inference form) and InstanceNormalization.

Before opset 13, Softmax and LogSoftmax "coerce the input to 2-D at ``axis``": they
normalize over all of the dims ``axis ..`` together. With ``axis`` on the last dim that
is ``nn.softmax``; otherwise it is written out with reductions over those dims
(``x - max``, ``exp``, ``reduce_sum``), no reshape needed.

LayerNormalization's Mean/InvStdDev and BatchNormalization's training outputs are not
produced: the importer reports a graph that uses them. A missing LayerNormalization
bias becomes a scalar 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import Attribute, SSAValue

from dynir.dialects.nn import activation as act
from dynir.dialects.nn import elementwise as ew
from dynir.dialects.nn import normalization as norm
from dynir.dialects.nn import reduction as red
from dynir.dialects.nn.base import NNOp, float_attr, int_attr, ints_attr
from dynir.importers.onnx.registry import NodeContext, converter
from dynir.ir.types import normalize_axis, numpy_dtype, shape_of


def _emit1(
    ctx: NodeContext,
    op_class: type[NNOp],
    operands: Sequence[SSAValue],
    props: dict[str, Attribute] | None = None,
) -> SSAValue:
    """Emit a one-result op; its result."""
    return ctx.emit(op_class, operands, props)[0]


def _coerced_softmax(ctx: NodeContext, log: bool) -> Sequence[SSAValue]:
    """Softmax over the dims ``axis ..`` taken together (opsets before 13)."""
    x = ctx.input(0)
    rank = len(shape_of(x.type))
    try:
        axis = normalize_axis(int(ctx.attr("axis", 1)), rank)
    except ValueError as e:
        ctx.error(str(e))
    if axis >= rank - 1:
        return ctx.emit(norm.LogSoftmaxOp if log else norm.SoftmaxOp, [x], {"axis": int_attr(-1)})
    axes = {"axes": ints_attr(range(axis, rank))}
    peak = _emit1(ctx, red.ReduceMaxOp, [x], axes)
    shifted = _emit1(ctx, ew.SubOp, [x, peak])
    exp = _emit1(ctx, act.ExpOp, [shifted])
    total = _emit1(ctx, red.ReduceSumOp, [exp], axes)
    if log:
        return ctx.emit(ew.SubOp, [shifted, _emit1(ctx, act.LogOp, [total])])
    return ctx.emit(ew.DivOp, [exp, total])


@converter("Softmax")
def softmax_v1(ctx: NodeContext) -> Sequence[SSAValue]:
    return _coerced_softmax(ctx, log=False)


@converter("LogSoftmax")
def log_softmax_v1(ctx: NodeContext) -> Sequence[SSAValue]:
    return _coerced_softmax(ctx, log=True)


@converter("Softmax", since=13)
def softmax_v13(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(norm.SoftmaxOp, [ctx.input(0)], {"axis": int_attr(ctx.attr("axis", -1))})


@converter("LogSoftmax", since=13)
def log_softmax_v13(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(norm.LogSoftmaxOp, [ctx.input(0)], {"axis": int_attr(ctx.attr("axis", -1))})


def _epsilon(ctx: NodeContext) -> dict[str, Attribute]:
    return {"epsilon": float_attr(ctx.attr("epsilon", norm.DEFAULT_EPSILON))}


@converter("LayerNormalization", since=17)
def layer_norm(ctx: NodeContext) -> Sequence[SSAValue]:
    x = ctx.input(0)
    if ctx.has_input(2):
        bias = ctx.input(2)
    else:
        bias = ctx.constant(np.zeros((), numpy_dtype(x.type.element_type)), "bias")  # type: ignore[attr-defined]
    props = {"axis": int_attr(ctx.attr("axis", -1)), **_epsilon(ctx)}
    return ctx.emit(norm.LayerNormOp, [x, ctx.input(1), bias], props)


@converter("BatchNormalization")
def batch_norm(ctx: NodeContext) -> Sequence[SSAValue]:
    if ctx.attr("spatial", 1) != 1:
        ctx.error(f"spatial = {ctx.attr('spatial')} (per-activation statistics) is not supported")
    if ctx.attr("training_mode", 0):
        ctx.error("training_mode = 1 is not supported: dynir imports inference graphs")
    operands = [ctx.input(i) for i in range(5)]
    return ctx.emit(norm.BatchNormOp, operands, _epsilon(ctx))


@converter("InstanceNormalization")
def instance_norm(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(norm.InstanceNormOp, [ctx.input(0), ctx.input(1), ctx.input(2)], _epsilon(ctx))
