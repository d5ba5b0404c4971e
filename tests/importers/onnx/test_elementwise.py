"""ONNX converters of the elementwise family, one node per model, checked against
onnxruntime across the opsets where semantics moved (older opsets that onnxruntime no
longer runs are checked against numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

import dynir
from dynir.importers.onnx import OnnxImportError
from tests.importers.onnx.node_testlib import check, import_text, node_model

RNG = np.random.default_rng(3)
X = (RNG.standard_normal((2, 3, 4)) * 2).astype(np.float32)
X[0, 0, :4] = [0.5, 1.5, -2.5, 0.0]  # halves for Round, zero for Sign
POSITIVE = np.abs(X) + np.float32(0.25)
INTS = np.array([[-7, 0, 5], [3, -2, 9]], np.int32)

FLOAT_UNARY = [
    "Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Neg", "Abs", "Floor", "Ceil", "Round", "Sign",
    "Sin", "Cos", "Softplus", "Softsign", "HardSwish", "LeakyRelu", "Elu", "Selu",
    "HardSigmoid", "Identity", "Reciprocal",
]  # fmt: skip


@pytest.mark.parametrize("op_type", FLOAT_UNARY)
def test_float_unary_ops(op_type: str) -> None:
    opset = 14 if op_type == "HardSwish" else 13
    check(op_type, {"x": X}, opset=opset, dynamic=["x"])


@pytest.mark.parametrize("op_type", ["Log", "Sqrt"])
def test_log_and_sqrt(op_type: str) -> None:
    check(op_type, {"x": POSITIVE}, opset=13, dynamic=["x"])


@pytest.mark.parametrize("op_type", ["Relu", "Sigmoid", "Exp", "Abs", "LeakyRelu"])
def test_unary_ops_at_opset_7(op_type: str) -> None:
    check(op_type, {"x": X}, opset=7)


@pytest.mark.parametrize("op_type", ["Abs", "Neg", "Sign", "Relu"])
def test_integer_unary_ops(op_type: str) -> None:
    check(op_type, {"x": INTS}, opset=14)


@pytest.mark.parametrize(
    "op_type, attrs",
    [
        ("LeakyRelu", {"alpha": 0.3}),
        ("Elu", {"alpha": 0.5}),
        ("Selu", {"alpha": 1.5, "gamma": 2.0}),
        ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    ],
)
def test_activation_attributes(op_type: str, attrs: dict[str, float]) -> None:
    check(op_type, {"x": X}, opset=13, **attrs)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_opset_20(approximate: str) -> None:
    check("Gelu", {"x": X}, opset=20, rtol=1e-5, atol=1e-6, approximate=approximate)


def test_gelu_rejects_unknown_approximation() -> None:
    model = node_model("Gelu", {"x": X}, opset=20, approximate="fast")
    with pytest.raises(OnnxImportError, match=r"node 'Gelu_0' \(Gelu, opset 20\): approximate must be \"none\" or \"tanh\", got \"fast\""):
        dynir.import_onnx(model)


def test_not() -> None:
    check("Not", {"x": X > 0}, opset=7)


# Clip --------------------------------------------------------------------------------------


def test_clip_attributes_before_opset_11() -> None:
    check("Clip", {"x": X}, opset=7, min=-0.5, max=1.0)
    check("Clip", {"x": X}, opset=10, max=1.0)


@pytest.mark.parametrize("opset", [11, 13])
def test_clip_constant_inputs(opset: int) -> None:
    lo, hi = np.array(-0.5, np.float32), np.array(1.0, np.float32)
    check("Clip", {"x": X, "lo": lo, "hi": hi}, opset=opset, params=["lo", "hi"])
    check("Clip", {"x": X, "lo": None, "hi": hi}, opset=opset, params=["hi"])
    check("Clip", {"x": X, "lo": lo}, opset=opset, params=["lo"])
    check("Clip", {"x": X}, opset=opset)
    check("Clip", {"x": INTS, "lo": np.array(-3, np.int32), "hi": np.array(4, np.int32)}, opset=13, params=["lo", "hi"])


def test_clip_bounds_must_be_known() -> None:
    model = node_model("Clip", {"x": X, "lo": np.array(0.0, np.float32)}, opset=13)
    with pytest.raises(OnnxImportError, match=r"min \(input #1\) must be known at import time"):
        dynir.import_onnx(model)


# Identity, Dropout, Cast -------------------------------------------------------------------------


@pytest.mark.parametrize("opset, kept", [(7, False), (10, False), (12, True), (13, True)])
def test_dropout_is_identity_with_a_constant_mask(opset: int, kept: bool) -> None:
    check("Dropout", {"x": X}, opset=opset, dynamic=["x"])
    got = check("Dropout", {"x": X}, 2, opset=opset)
    assert (got[1] == kept).all()


@pytest.mark.parametrize("opset, kept, dtype", [(7, False, np.float32), (10, False, np.bool_), (13, True, np.bool_)])
def test_dropout_mask_with_dynamic_batch(opset: int, kept: bool, dtype: type) -> None:
    x = X.copy()
    x[0, 0, 0] = np.nan
    model = node_model("Dropout", {"x": x}, 2, opset=opset, dynamic=["x"])
    y, mask = dynir.interpret(dynir.import_onnx(model), x)
    np.testing.assert_array_equal(y, x)
    assert mask.dtype == dtype and mask.shape == x.shape and (mask == kept).all()


def test_dropout_training_mode_is_rejected() -> None:
    feeds = {"x": X, "ratio": np.array(0.5, np.float32), "training": np.array(True)}
    model = node_model("Dropout", feeds, opset=13)
    with pytest.raises(OnnxImportError, match=r"training_mode = true is not supported"):
        dynir.import_onnx(model, known_inputs={"ratio": feeds["ratio"], "training": feeds["training"]})


@pytest.mark.parametrize("opset", [7, 13, 19])
@pytest.mark.parametrize(
    "source, to",
    [
        (np.array([-1.7, 1.7, 0.0, 2.5, -0.2], np.float32), TensorProto.INT32),
        (np.array([-1.7, 1.7, 0.0, 2.5, -0.2], np.float32), TensorProto.BOOL),
        (np.array([-1.7, 1.7, 0.0, 2.5, -0.2], np.float32), TensorProto.DOUBLE),
        (np.array([3, -4, 0], np.int64), TensorProto.FLOAT),
        (np.array([True, False]), TensorProto.INT64),
        (np.array([1.0, 2.0], np.float32), TensorProto.FLOAT),
    ],
)
def test_cast(opset: int, source: np.ndarray, to: int) -> None:
    check("Cast", {"x": source}, opset=opset, to=to)


def test_cast_to_unsupported_type() -> None:
    model = node_model("Cast", {"x": X}, opset=13, to=TensorProto.STRING)
    with pytest.raises(OnnxImportError, match=r"\(Cast, opset 13\): to: element type STRING is not supported"):
        dynir.import_onnx(model)


def test_cast_like() -> None:
    check("CastLike", {"x": X, "like": np.zeros(1, np.int64)}, opset=15)


# Binary ops ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op_type", ["Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean"])
@pytest.mark.parametrize("opset", [7, 13])
def test_float_binary_broadcasting(op_type: str, opset: int) -> None:
    if op_type in ("Max", "Min", "Sum", "Mean"):
        opset = max(opset, 8)  # variadic broadcasting starts at opset 8
    y = (RNG.standard_normal((3, 1)) + 4).astype(np.float32)
    check(op_type, {"a": X, "b": y}, opset=opset, dynamic=["a"])


@pytest.mark.parametrize("op_type", ["Add", "Sub", "Mul", "Div", "Max", "Min"])
def test_integer_binary_ops(op_type: str) -> None:
    b = np.array([2, -3, 4], np.int32)
    check(op_type, {"a": INTS, "b": b}, opset=13)


@pytest.mark.parametrize("fmod", [0, 1])
def test_mod(fmod: int) -> None:
    b = np.array([[2, -3, 4]], np.int64)
    check("Mod", {"a": INTS.astype(np.int64), "b": b}, opset=13, fmod=fmod)
    if fmod:
        check("Mod", {"a": X, "b": np.array([1.5, -2.0, 0.7, 3.0], np.float32)}, opset=13, fmod=1)


def test_float_mod_needs_fmod() -> None:
    model = node_model("Mod", {"a": X, "b": X}, opset=13)
    with pytest.raises(OnnxImportError, match=r"\(Mod, opset 13\): fmod = 0 is not defined for f32; use fmod = 1"):
        dynir.import_onnx(model)


@pytest.mark.parametrize("opset", [7, 13, 15])
def test_pow_with_another_exponent_type(opset: int) -> None:
    check("Pow", {"a": POSITIVE, "b": np.array(2.5, np.float32)}, opset=opset)
    if opset >= 13:
        check("Pow", {"a": X, "b": np.array([2, 3, 1, 0], np.int64)}, opset=opset)
        check("Pow", {"a": np.array([2, 3, -2], np.int32), "b": np.array([3, 2, 3], np.int64)}, opset=opset)


@pytest.mark.parametrize("opset", [7, 9, 16])
def test_prelu(opset: int) -> None:
    x = RNG.standard_normal((2, 3, 4, 4)).astype(np.float32)
    slope = np.array([[[0.1]], [[0.2]], [[0.3]]], np.float32)
    check("PRelu", {"x": x, "slope": slope}, opset=opset, params=["slope"])


@pytest.mark.parametrize("op_type", ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"])
def test_comparisons(op_type: str) -> None:
    b = np.array([0.0, 0.5, 1.5, -2.5], np.float32)
    check(op_type, {"a": X, "b": b}, opset=13, dynamic=["a"])
    check(op_type, {"a": INTS, "b": np.array([[0], [3]], np.int32)}, opset=13)


@pytest.mark.parametrize("op_type", ["And", "Or", "Xor"])
def test_logic(op_type: str) -> None:
    check(op_type, {"a": X > 0, "b": np.array([True, False, True, False])}, opset=7)


def test_where_broadcasts_three_ways() -> None:
    c = RNG.standard_normal((2, 1, 4)) > 0
    check("Where", {"c": c, "a": X, "b": np.array(-1.0, np.float32)}, opset=16, dynamic=["c"])
    check("Where", {"c": np.array([True, False, True]), "a": INTS, "b": np.array([[1], [2]], np.int32)}, opset=9)


@pytest.mark.parametrize("op_type", ["Sum", "Max", "Min", "Mean"])
def test_variadic_ops(op_type: str) -> None:
    inputs = {"a": X, "b": X[0, :, :1] * 3, "c": X[1, 0]}
    check(op_type, inputs, opset=13)
    check(op_type, {"a": X}, opset=13)
    check(op_type, {"a": X, "b": X * 2, "c": X - 1}, opset=7)


def test_sum_becomes_a_chain_of_adds() -> None:
    text = import_text("Sum", {"a": X, "b": X, "c": X}, opset=13)
    assert text.count("nn.add") == 2
    text = import_text("Mean", {"a": X, "b": X}, opset=13)
    assert text.count("nn.add") == 1 and text.count("nn.div") == 1
