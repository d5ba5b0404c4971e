"""Converters for ONNX elementwise ops: unary math and activations, Clip, Cast and
CastLike, Identity and Dropout (inference), binary arithmetic, logic and comparisons,
Where, and the variadic Sum/Max/Min/Mean (folded into chains of binary ops).

Opset moves handled here (dynir reads opsets 7 and later, so the pre-7 ``broadcast``
attributes never reach these converters): Clip's bounds (attributes before opset 11,
constant inputs from 11) and Dropout (ratio and training_mode inputs from opset 12).

Dropout's optional mask follows onnxruntime: before opset 12 it is all zeros (its
"nothing was dropped" reading), from opset 12 all true (the spec's "kept" mask).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import i1
from xdsl.ir import Attribute, SSAValue

from dynir.dialects.nn import activation as act
from dynir.dialects.nn import elementwise as ew
from dynir.dialects.nn.base import NNOp, float_attr, int_attr, str_attr
from dynir.importers.onnx.registry import NodeContext, converter
from dynir.importers.onnx.tensors import TensorDataError, numpy_dtype_of
from dynir.ir.types import element_type, is_static, numpy_dtype, shape_of

_UNARY: dict[str, type[NNOp]] = {
    "Relu": ew.ReluOp, "Not": ew.NotOp, "Sigmoid": act.SigmoidOp, "Tanh": act.TanhOp,
    "Erf": act.ErfOp, "Exp": act.ExpOp, "Log": act.LogOp, "Sqrt": act.SqrtOp,
    "Reciprocal": act.ReciprocalOp, "Neg": act.NegOp, "Abs": act.AbsOp, "Floor": act.FloorOp,
    "Ceil": act.CeilOp, "Round": act.RoundOp, "Sign": act.SignOp, "Sin": act.SinOp,
    "Cos": act.CosOp, "Softplus": act.SoftplusOp, "Softsign": act.SoftsignOp,
    "HardSwish": act.HardSwishOp,
}  # fmt: skip

_FLOAT_PROPS: dict[str, tuple[type[NNOp], tuple[str, ...]]] = {
    "LeakyRelu": (act.LeakyReluOp, ("alpha",)),
    "Elu": (act.EluOp, ("alpha",)),
    "Selu": (act.SeluOp, ("alpha", "gamma")),
    "HardSigmoid": (act.HardSigmoidOp, ("alpha", "beta")),
}

_BINARY: dict[str, type[NNOp]] = {
    "Add": ew.AddOp, "Sub": ew.SubOp, "Mul": ew.MulOp, "Div": ew.DivOp, "Pow": ew.PowOp,
    "And": ew.AndOp, "Or": ew.OrOp, "Xor": ew.XorOp, "Equal": ew.EqualOp, "Less": ew.LessOp,
    "LessOrEqual": ew.LessEqualOp, "Greater": ew.GreaterOp, "GreaterOrEqual": ew.GreaterEqualOp,
}  # fmt: skip

_VARIADIC: dict[str, type[NNOp]] = {"Sum": ew.AddOp, "Max": ew.MaxOp, "Min": ew.MinOp, "Mean": ew.AddOp}


def _emit1(
    ctx: NodeContext,
    op_class: type[NNOp],
    operands: Sequence[SSAValue],
    props: dict[str, Attribute] | None = None,
) -> SSAValue:
    """Emit a one-result op; its result."""
    return ctx.emit(op_class, operands, props)[0]


# ----------------------------------------------------------------------------------
# Unary ops.


def _unary(op_class: type[NNOp], op_type: str) -> None:
    def convert(ctx: NodeContext) -> Sequence[SSAValue]:
        return ctx.emit(op_class, [ctx.input(0)])

    converter(op_type)(convert)


def _with_float_props(op_class: type[NNOp], names: tuple[str, ...], op_type: str) -> None:
    def convert(ctx: NodeContext) -> Sequence[SSAValue]:
        props: dict[str, Attribute] = {n: float_attr(ctx.attr(n)) for n in names if ctx.has_attr(n)}
        return ctx.emit(op_class, [ctx.input(0)], props)

    converter(op_type)(convert)


for _op_type, _cls in _UNARY.items():
    _unary(_cls, _op_type)
for _op_type, (_cls, _names) in _FLOAT_PROPS.items():
    _with_float_props(_cls, _names, _op_type)


@converter("Gelu", since=20)
def gelu(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(act.GeluOp, [ctx.input(0)], {"approximate": str_attr(ctx.attr("approximate", "none"))})


@converter("Clip")
def clip_v1(ctx: NodeContext) -> Sequence[SSAValue]:
    props = {name: float_attr(ctx.attr(name)) for name in ("min", "max") if ctx.has_attr(name)}
    return ctx.emit(act.ClipOp, [ctx.input(0)], props)


@converter("Clip", since=11)
def clip_v11(ctx: NodeContext) -> Sequence[SSAValue]:
    props: dict[str, Attribute] = {}
    for index, name in ((1, "min"), (2, "max")):
        if ctx.has_input(index):
            bound = np.asarray(ctx.require_const_input(index, name))
            if bound.size != 1:
                ctx.error(f"{name} (input #{index}) must be a scalar, got shape {list(bound.shape)}")
            props[name] = float_attr(float(bound.reshape(())))
    return ctx.emit(act.ClipOp, [ctx.input(0)], props)


@converter("Identity")
def identity(ctx: NodeContext) -> Sequence[SSAValue]:
    return [ctx.input(0)]


def _constant_mask_like(ctx: NodeContext, x: SSAValue, value: bool, dtype: np.dtype) -> SSAValue:
    """A mask of ``value`` with the shape of ``x``: a constant when the shape is static,
    else ``x < x`` (false everywhere, NaN included) or its negation."""
    shape = shape_of(x.type)
    if is_static(shape):
        return ctx.constant(np.full(tuple(d or 0 for d in shape), value, dtype), "mask")
    mask = _emit1(ctx, ew.LessOp, [x, x])
    if value:
        mask = _emit1(ctx, ew.NotOp, [mask])
    if dtype != np.bool_:
        mask = _emit1(ctx, ew.CastOp, [mask], {"to": element_type(dtype)})
    return mask


def _dropout(ctx: NodeContext, mask_value: bool, mask_dtype: np.dtype) -> Sequence[SSAValue]:
    x = ctx.input(0)
    if not ctx.has_output(1):
        return [x]
    return [x, _constant_mask_like(ctx, x, mask_value, mask_dtype)]


@converter("Dropout")
def dropout_v7(ctx: NodeContext) -> Sequence[SSAValue]:
    return _dropout(ctx, False, numpy_dtype(ctx.input_type(0).element_type))


@converter("Dropout", since=10)
def dropout_v10(ctx: NodeContext) -> Sequence[SSAValue]:
    return _dropout(ctx, False, np.dtype(np.bool_))


@converter("Dropout", since=12)
def dropout_v12(ctx: NodeContext) -> Sequence[SSAValue]:
    if ctx.has_input(2):
        training = ctx.require_const_input(2, "training_mode")
        if bool(np.asarray(training).reshape(-1)[0]):
            ctx.error("training_mode = true is not supported: dynir imports inference graphs")
    return _dropout(ctx, True, np.dtype(np.bool_))


# ----------------------------------------------------------------------------------
# Cast.


def _cast_to(ctx: NodeContext, data_type: int) -> Sequence[SSAValue]:
    try:
        target = element_type(numpy_dtype_of(data_type))
    except TensorDataError as e:
        ctx.error(f"to: {e}")
    x = ctx.input(0)
    if x.type.element_type == target:  # type: ignore[attr-defined]
        return [x]
    return ctx.emit(ew.CastOp, [x], {"to": target})


@converter("Cast")
def cast(ctx: NodeContext) -> Sequence[SSAValue]:
    if not ctx.has_attr("to"):
        ctx.error("attribute 'to' is required")
    return _cast_to(ctx, int(ctx.attr("to")))


@converter("CastLike", since=15)
def cast_like(ctx: NodeContext) -> Sequence[SSAValue]:
    target = ctx.input_type(1).element_type
    x = ctx.input(0)
    if x.type.element_type == target:  # type: ignore[attr-defined]
        return [x]
    return ctx.emit(ew.CastOp, [x], {"to": target})


# ----------------------------------------------------------------------------------
# Binary and variadic ops.


def _binary(op_class: type[NNOp], op_type: str) -> None:
    def convert(ctx: NodeContext) -> Sequence[SSAValue]:
        return ctx.emit(op_class, [ctx.input(0), ctx.input(1)])

    converter(op_type)(convert)


for _op_type, _cls in _BINARY.items():
    _binary(_cls, _op_type)


@converter("Mod", since=10)
def mod(ctx: NodeContext) -> Sequence[SSAValue]:
    fmod = int(ctx.attr("fmod", 0))
    return ctx.emit(ew.ModOp, [ctx.input(0), ctx.input(1)], {"fmod": int_attr(fmod)} if fmod else None)


@converter("PRelu")
def prelu(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(act.PreluOp, [ctx.input(0), ctx.input(1)])


@converter("Where", since=9)
def where(ctx: NodeContext) -> Sequence[SSAValue]:
    condition = ctx.input(0)
    if condition.type.element_type != i1:  # type: ignore[attr-defined]
        ctx.error(f"condition must be bool, got {condition.type}")
    return ctx.emit(ew.WhereOp, [condition, ctx.input(1), ctx.input(2)])


def _variadic(op_class: type[NNOp], op_type: str) -> None:
    def convert(ctx: NodeContext) -> Sequence[SSAValue]:
        inputs = [ctx.input(i) for i in range(ctx.num_inputs) if ctx.has_input(i)]
        if not inputs:
            ctx.error(f"{op_type} needs at least one input")
        result = inputs[0]
        for operand in inputs[1:]:
            result = _emit1(ctx, op_class, [result, operand])
        if op_type == "Mean" and len(inputs) > 1:
            dtype = numpy_dtype(result.type.element_type)  # type: ignore[attr-defined]
            count = ctx.constant(np.array(len(inputs), dtype), "count")
            result = _emit1(ctx, ew.DivOp, [result, count])
        return [result]

    converter(op_type)(convert)


for _op_type, _cls in _VARIADIC.items():
    _variadic(_cls, _op_type)
