"""Shape inference, element-type checks, diagnostics and numpy semantics of the
elementwise ``nn`` ops (``elementwise.py`` and ``activation.py``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import FloatAttr, f16, f32, i1, i32, i64
from xdsl.ir import Attribute
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.test_value import create_ssa_value

from dynir.dialects.nn import activation as act
from dynir.dialects.nn import elementwise as ew
from dynir.dialects.nn.base import NNOp, float_attr, int_attr, str_attr
from dynir.ir.types import Shape, element_type, shape_of, tensor_type

RNG = np.random.default_rng(0)


def build(
    op_class: type[NNOp], types: Sequence[tuple[Shape, Attribute]], props: Mapping[str, Attribute] | None = None
) -> NNOp:
    operands = [create_ssa_value(tensor_type(shape, element)) for shape, element in types]
    op = op_class.make(operands, props)
    op.verify()
    return op


def run(op_class: type[NNOp], *arrays: np.ndarray, props: Mapping[str, Attribute] | None = None) -> np.ndarray:
    """Build the op on the arrays' static types, check its inferred type, run it."""
    op = build(op_class, [(a.shape, element_type(a.dtype)) for a in arrays], props)
    (out,) = op.reference(*arrays)
    want = op.results[0].type
    assert shape_of(want) == out.shape
    assert element_type(out.dtype) == want.element_type  # type: ignore[attr-defined]
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x.astype(np.float64)))


def erf(x: np.ndarray) -> np.ndarray:
    return np.array([math.erf(v) for v in x.astype(np.float64).ravel()]).reshape(x.shape)


FLOAT_UNARY: list[tuple[type[NNOp], Callable[[np.ndarray], np.ndarray]]] = [
    (ew.ReluOp, lambda x: np.maximum(x, 0)),
    (act.ExpOp, np.exp),
    (act.LogOp, lambda x: np.log(np.abs(x) + 0.5)),
    (act.SqrtOp, lambda x: np.sqrt(np.abs(x) + 0.5)),
    (act.ReciprocalOp, lambda x: 1 / x),
    (act.ErfOp, erf),
    (act.SinOp, np.sin),
    (act.CosOp, np.cos),
    (act.TanhOp, np.tanh),
    (act.SigmoidOp, sigmoid),
    (act.SiluOp, lambda x: x * sigmoid(x)),
    (act.HardSwishOp, lambda x: x * np.clip(x / 6 + 0.5, 0, 1)),
    (act.SoftplusOp, lambda x: np.log1p(np.exp(x.astype(np.float64)))),
    (act.SoftsignOp, lambda x: x / (1 + np.abs(x))),
    (act.NegOp, np.negative),
    (act.AbsOp, np.abs),
    (act.FloorOp, np.floor),
    (act.CeilOp, np.ceil),
    (act.RoundOp, np.round),
    (act.SignOp, np.sign),
    (act.GeluOp, lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2)))),
    (act.LeakyReluOp, lambda x: np.where(x >= 0, x, 0.01 * x)),
    (act.HardSigmoidOp, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    (act.EluOp, lambda x: np.where(x >= 0, x, np.exp(x) - 1)),
    (act.SeluOp, lambda x: act.SELU_GAMMA * np.where(x > 0, x, act.SELU_ALPHA * (np.exp(x) - 1))),
    (ew.IdentityOp, lambda x: x),
]


@pytest.mark.parametrize("op_class, expected", FLOAT_UNARY, ids=lambda v: getattr(v, "name", ""))
def test_float_unary_matches_numpy(op_class: type[NNOp], expected: Callable[[np.ndarray], np.ndarray]) -> None:
    x = (RNG.standard_normal((3, 5)) * 3).astype(np.float32)
    x[0, :4] = [0.5, 1.5, -2.5, 0.0]  # halves for round, zero for sign
    if op_class in (act.LogOp, act.SqrtOp):
        x = np.abs(x) + np.float32(0.5)
        expected = {act.LogOp: np.log, act.SqrtOp: np.sqrt}[op_class]
    out = run(op_class, x)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(out, expected(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op_class", [cls for cls, _ in FLOAT_UNARY])
def test_unary_keeps_dynamic_and_zero_size_shapes(op_class: type[NNOp]) -> None:
    op = build(op_class, [((None, 0, 1), f32)])
    assert op.results[0].type == tensor_type((None, 0, 1), f32)
    (out,) = op.reference(np.zeros((2, 0, 1), np.float32))
    assert out.shape == (2, 0, 1) and out.dtype == np.float32


@pytest.mark.parametrize(
    "op_class", [act.ExpOp, act.ErfOp, act.SigmoidOp, act.GeluOp, act.FloorOp, act.RoundOp, act.LeakyReluOp]
)
def test_float_only_ops_reject_integers(op_class: type[NNOp]) -> None:
    with pytest.raises(ValueError, match=r"^element type i32 is not a float type$"):
        build(op_class, [((4,), i32)])
    bad = op_class.create(operands=[create_ssa_value(tensor_type((4,), i32))], result_types=[tensor_type((4,), i32)])
    with pytest.raises(VerifyException, match=rf"^'{op_class.name}' op element type i32 is not a float type\n"):
        bad.verify()


def test_numeric_ops_run_on_integers() -> None:
    x = np.array([-3, 0, 4, -7], np.int32)
    np.testing.assert_array_equal(run(ew.ReluOp, x), [0, 0, 4, 0])
    np.testing.assert_array_equal(run(act.AbsOp, x), [3, 0, 4, 7])
    np.testing.assert_array_equal(run(act.NegOp, x), [3, 0, -4, 7])
    np.testing.assert_array_equal(run(act.SignOp, x), [-1, 0, 1, -1])
    clipped = run(act.ClipOp, x, props={"min": float_attr(-2), "max": float_attr(3)})
    np.testing.assert_array_equal(clipped, [-2, 0, 3, -2])
    assert clipped.dtype == np.int32


def test_f16_is_computed_and_returned_as_f16() -> None:
    x = np.linspace(-4, 4, 9).astype(np.float16)
    out = run(act.SigmoidOp, x)
    assert out.dtype == np.float16
    np.testing.assert_allclose(out, sigmoid(x), rtol=1e-3)
    assert build(act.TanhOp, [((2,), f16)]).results[0].type == tensor_type((2,), f16)


def test_activations_with_properties() -> None:
    x = np.array([-2.0, -0.5, 0.0, 1.0, 8.0], np.float32)
    np.testing.assert_allclose(run(act.LeakyReluOp, x, props={"alpha": float_attr(0.5)}), [-1, -0.25, 0, 1, 8])
    elu = run(act.EluOp, x, props={"alpha": float_attr(2.0)})
    np.testing.assert_allclose(elu, np.where(x >= 0, x, 2 * np.expm1(x)), rtol=1e-6)
    hard = run(act.HardSigmoidOp, x, props={"alpha": float_attr(0.25), "beta": float_attr(0.25)})
    np.testing.assert_allclose(hard, np.clip(0.25 * x + 0.25, 0, 1))
    selu = run(act.SeluOp, x, props={"alpha": float_attr(2.0), "gamma": float_attr(3.0)})
    np.testing.assert_allclose(selu, 3 * np.where(x > 0, x, 2 * np.expm1(x)), rtol=1e-6)
    tanh_gelu = run(act.GeluOp, x, props={"approximate": str_attr("tanh")})
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    np.testing.assert_allclose(tanh_gelu, 0.5 * x * (1 + np.tanh(inner)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(run(act.ClipOp, x, props={"max": float_attr(0.5)}), np.minimum(x, 0.5))
    np.testing.assert_array_equal(run(act.ClipOp, x), x)


def test_gelu_rejects_unknown_approximation() -> None:
    with pytest.raises(ValueError, match=r'^approximate must be "none" or "tanh", got "fast"$'):
        build(act.GeluOp, [((4,), f32)], {"approximate": str_attr("fast")})


def test_sigmoid_and_softplus_do_not_overflow() -> None:
    x = np.array([-1000.0, -90.0, 0.0, 90.0, 1000.0], np.float32)
    np.testing.assert_allclose(run(act.SigmoidOp, x), [0, math.exp(-90.0), 0.5, 1, 1], rtol=1e-6)
    np.testing.assert_allclose(run(act.SoftplusOp, x), [0, np.log1p(np.exp(-90.0)), np.log(2), 90, 1000], rtol=1e-6)


def test_not_requires_i1() -> None:
    np.testing.assert_array_equal(run(ew.NotOp, np.array([True, False])), [False, True])
    with pytest.raises(ValueError, match=r"^element type f32 is not i1$"):
        build(ew.NotOp, [((2,), f32)])


# ----------------------------------------------------------------------------------
# Binary ops.


@pytest.mark.parametrize(
    "lhs, rhs, result",
    [
        ((None, 1, 4), (3, 1), (None, 3, 4)),
        ((2, 0, 4), (1, 4), (2, 0, 4)),
        ((), (5,), (5,)),
        ((None,), (None,), (None,)),
        ((None,), (1,), (None,)),
    ],
)
def test_binary_broadcast_inference(lhs: Shape, rhs: Shape, result: Shape) -> None:
    for op_class in ew.BINARY_OPS[:8]:
        element = i1 if op_class in (ew.AndOp, ew.OrOp, ew.XorOp) else f32
        props = {"fmod": int_attr(1)} if op_class is ew.ModOp else None
        op = build(op_class, [(lhs, element), (rhs, element)], props)
        assert shape_of(op.results[0].type) == result


def test_binary_mismatch_and_element_errors() -> None:
    with pytest.raises(ValueError, match=r"^shapes 2x4, 3 do not broadcast \(axis 1\)$"):
        build(ew.SubOp, [((2, 4), f32), ((3,), f32)])
    with pytest.raises(ValueError, match=r"^operand element types differ: tensor<2xf32> vs tensor<2xi32>$"):
        build(ew.MulOp, [((2,), f32), ((2,), i32)])
    with pytest.raises(ValueError, match=r"^element type i1 is not a numeric type$"):
        build(ew.AddOp, [((2,), i1), ((2,), i1)])
    with pytest.raises(ValueError, match=r"^element type f32 is not i1$"):
        build(ew.AndOp, [((2,), f32), ((2,), f32)])


def test_arithmetic_matches_numpy_with_broadcasting() -> None:
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    y = (RNG.standard_normal((3, 1)) + 3).astype(np.float32)
    for op_class, fn in [
        (ew.AddOp, np.add), (ew.SubOp, np.subtract), (ew.MulOp, np.multiply), (ew.DivOp, np.divide),
        (ew.MaxOp, np.maximum), (ew.MinOp, np.minimum),
    ]:  # fmt: skip
        np.testing.assert_allclose(run(op_class, x, y), fn(x, y), rtol=1e-6)


def test_integer_division_truncates_toward_zero() -> None:
    x = np.array([-7, 7, -7, 7, 6, -6, 0], np.int32)
    y = np.array([2, 2, -2, -2, 3, 3, -5], np.int32)
    np.testing.assert_array_equal(run(ew.DivOp, x, y), [-3, 3, 3, -3, 2, -2, 0])


def test_mod_follows_divisor_or_dividend_sign() -> None:
    x, y = np.array([-7, 7, -7, 7], np.int64), np.array([2, 2, -2, -2], np.int64)
    np.testing.assert_array_equal(run(ew.ModOp, x, y), [1, 1, -1, -1])
    np.testing.assert_array_equal(run(ew.ModOp, x, y, props={"fmod": int_attr(1)}), [-1, 1, -1, 1])
    xf, yf = x.astype(np.float32) + 0.5, y.astype(np.float32)
    np.testing.assert_allclose(run(ew.ModOp, xf, yf, props={"fmod": int_attr(1)}), np.fmod(xf, yf))
    with pytest.raises(ValueError, match=r"^fmod = 0 is not defined for f32; use fmod = 1$"):
        build(ew.ModOp, [((2,), f32), ((2,), f32)])
    with pytest.raises(ValueError, match=r"^fmod must be 0 or 1, got 2$"):
        build(ew.ModOp, [((2,), i32), ((2,), i32)], {"fmod": int_attr(2)})


def test_pow_accepts_another_exponent_type() -> None:
    base = np.array([2.0, 3.0, 0.5], np.float32)
    op = build(ew.PowOp, [((None,), f32), ((), i64)])
    assert op.results[0].type == tensor_type((None,), f32)
    np.testing.assert_allclose(run(ew.PowOp, base, np.array(3, np.int64)), base**3)
    ints = run(ew.PowOp, np.array([2, 3], np.int32), np.array([2.5, 3.0], np.float32))
    np.testing.assert_array_equal(ints, [5, 27])
    assert ints.dtype == np.int32
    np.testing.assert_array_equal(run(ew.PowOp, np.array([2, -3], np.int64), np.array([10, 3], np.int64)), [1024, -27])


def test_prelu_slope_broadcasts() -> None:
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    slope = np.array([[0.1], [0.2], [0.3]], np.float32)
    np.testing.assert_allclose(run(act.PreluOp, x, slope), np.where(x < 0, x * slope, x))


def test_comparisons_and_logic_give_i1() -> None:
    x, y = np.array([1, 2, 3], np.int64), np.array([2], np.int64)
    for op_class, fn in [
        (ew.EqualOp, np.equal), (ew.LessOp, np.less), (ew.LessEqualOp, np.less_equal),
        (ew.GreaterOp, np.greater), (ew.GreaterEqualOp, np.greater_equal),
    ]:  # fmt: skip
        op = build(op_class, [((None,), i64), ((1,), i64)])
        assert op.results[0].type == tensor_type((None,), i1)
        np.testing.assert_array_equal(run(op_class, x, y), fn(x, y))
    a, b = np.array([True, True, False, False]), np.array([True, False, True, False])
    np.testing.assert_array_equal(run(ew.AndOp, a, b), a & b)
    np.testing.assert_array_equal(run(ew.OrOp, a, b), a | b)
    np.testing.assert_array_equal(run(ew.XorOp, a, b), a ^ b)
    np.testing.assert_array_equal(run(ew.EqualOp, a, b), a == b)


def test_where_broadcasts_three_ways() -> None:
    op = build(ew.WhereOp, [((None, 1), i1), ((1, 4), f32), ((), f32)])
    assert op.results[0].type == tensor_type((None, 4), f32)
    c = np.array([[True], [False]])
    x, y = np.arange(4, dtype=np.float32).reshape(1, 4), np.array(-1, np.float32)
    np.testing.assert_array_equal(run(ew.WhereOp, c, x, y), np.where(c, x, y))
    with pytest.raises(ValueError, match=r"^condition element type f32 is not i1$"):
        build(ew.WhereOp, [((2,), f32), ((2,), f32), ((2,), f32)])
    with pytest.raises(ValueError, match=r"^operand element types differ: tensor<2xf32> vs tensor<2xi64>$"):
        build(ew.WhereOp, [((2,), i1), ((2,), f32), ((2,), i64)])


def test_cast_follows_onnx_semantics() -> None:
    x = np.array([-1.7, 1.7, 0.0, 2.5, -0.2], np.float32)
    op = build(ew.CastOp, [((None, 5), f32)], {"to": i32})
    assert op.results[0].type == tensor_type((None, 5), i32)
    np.testing.assert_array_equal(run(ew.CastOp, x, props={"to": i32}), [-1, 1, 0, 2, 0])
    np.testing.assert_array_equal(run(ew.CastOp, x, props={"to": i1}), [True, True, False, True, True])
    np.testing.assert_array_equal(run(ew.CastOp, np.array([True, False]), props={"to": f32}), [1.0, 0.0])
    np.testing.assert_array_equal(run(ew.CastOp, np.array([300], np.int32), props={"to": i64}), [300])
    with pytest.raises(ValueError, match=r"^cannot cast to index: not a tensor element type$"):
        from xdsl.dialects.builtin import IndexType

        build(ew.CastOp, [((2,), f32)], {"to": IndexType()})


def test_float_attr_props_are_f64() -> None:
    op = build(act.LeakyReluOp, [((2,), f32)], {"alpha": float_attr(0.25)})
    assert isinstance(op.alpha, FloatAttr) and op.alpha.value.data == 0.25
