"""ONNX converters of the normalization family, one node per model, checked against
onnxruntime; Softmax/LogSoftmax across opset 13, where "coerce to 2-D" became one axis."""

from __future__ import annotations

import numpy as np
import pytest

import dynir
from dynir.importers.onnx import OnnxImportError
from tests.importers.onnx.node_testlib import check, import_text, node_model

RNG = np.random.default_rng(5)
X = (RNG.standard_normal((2, 3, 4, 5)) * 3).astype(np.float32)
C = 3


def per_channel(low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return RNG.uniform(low, high, C).astype(np.float32)


@pytest.mark.parametrize("op_type", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -3])
def test_softmax_across_opsets(op_type: str, opset: int, axis: int | None) -> None:
    attrs = {} if axis is None else {"axis": axis}
    check(op_type, {"x": X}, opset=opset, dynamic=["x"], rtol=1e-5, atol=1e-6, **attrs)


def test_coerced_softmax_is_written_with_reductions() -> None:
    text = import_text("Softmax", {"x": X}, opset=11, axis=1)
    assert "nn.reduce_max %x {axes = array<i64: 1, 2, 3>}" in text
    assert "nn.softmax" not in text and "nn.reshape" not in text
    text = import_text("LogSoftmax", {"x": X}, opset=11, axis=3)
    assert "nn.log_softmax %x {axis = -1 : i64}" in text and "nn.reduce" not in text


def test_softmax_axis_out_of_range() -> None:
    for opset in (11, 13):
        model = node_model("Softmax", {"x": X}, opset=opset, axis=4)
        with pytest.raises(OnnxImportError, match=rf"\(Softmax, opset {opset}\): axis 4 out of range for rank 4"):
            dynir.import_onnx(model)


@pytest.mark.parametrize("axis", [-1, 2, 1])
def test_layer_normalization(axis: int) -> None:
    normalized = X.shape[axis % 4 :]
    scale = RNG.standard_normal(normalized).astype(np.float32)
    bias = RNG.standard_normal(normalized).astype(np.float32)
    inputs = {"x": X, "scale": scale, "bias": bias}
    check("LayerNormalization", inputs, opset=17, axis=axis, epsilon=1e-3, dynamic=["x"], rtol=1e-4, atol=1e-5)
    inputs = {"x": X, "scale": scale}
    check("LayerNormalization", inputs, opset=17, axis=axis, params=["scale"], rtol=1e-4, atol=1e-5)


def test_layer_normalization_extra_outputs_are_refused_when_used() -> None:
    scale = np.ones(5, np.float32)
    check("LayerNormalization", {"x": X, "scale": scale}, ["y", "", ""], opset=17)
    model = node_model("LayerNormalization", {"x": X, "scale": scale}, ["y", "mean"], opset=17)
    with pytest.raises(OnnxImportError, match=r"graph output 'mean' is output #1 of node 'LayerNormalization_0' \(LayerNormalization\), which dynir does not produce"):
        dynir.import_onnx(model)


@pytest.mark.parametrize("opset", [7, 9, 14, 15])
def test_batch_normalization(opset: int) -> None:
    inputs = {"x": X, "scale": per_channel(), "bias": per_channel(), "mean": per_channel(), "var": per_channel(0.5, 2)}
    params = ["scale", "bias", "mean", "var"]
    check("BatchNormalization", inputs, opset=opset, params=params, dynamic=["x"], epsilon=1e-3)
    check("BatchNormalization", {**inputs, "x": X[:, :, 0, 0]}, opset=opset, params=params)


def test_batch_normalization_training_is_refused() -> None:
    inputs = {"x": X, "scale": per_channel(), "bias": per_channel(), "mean": per_channel(), "var": per_channel(0.5, 2)}
    model = node_model("BatchNormalization", inputs, opset=15, training_mode=1)
    with pytest.raises(OnnxImportError, match=r"\(BatchNormalization, opset 15\): training_mode = 1 is not supported"):
        dynir.import_onnx(model)
    model = node_model("BatchNormalization", inputs, opset=7, spatial=0)
    with pytest.raises(OnnxImportError, match=r"\(BatchNormalization, opset 7\): spatial = 0 \(per-activation statistics\) is not supported"):
        dynir.import_onnx(model)
    model = node_model("BatchNormalization", inputs, ["y", "running_mean"], opset=15)
    with pytest.raises(OnnxImportError, match=r"graph output 'running_mean' is output #1 of node 'BatchNormalization_0'"):
        dynir.import_onnx(model)


def test_batch_normalization_channel_mismatch() -> None:
    inputs = {"x": X, "scale": np.ones(4, np.float32), "bias": per_channel(), "mean": per_channel(), "var": per_channel()}
    model = node_model("BatchNormalization", inputs, opset=15)
    with pytest.raises(OnnxImportError, match=r"\(BatchNormalization, opset 15\): scale shape 4 must be \[C\] with C = 3"):
        dynir.import_onnx(model)


@pytest.mark.parametrize("opset", [7, 22])
def test_instance_normalization(opset: int) -> None:
    inputs = {"x": X, "scale": per_channel(), "bias": per_channel()}
    check("InstanceNormalization", inputs, opset=opset, epsilon=1e-4, dynamic=["x"], rtol=1e-4, atol=1e-5)
    inputs = {"x": X[:, :, 0], "scale": per_channel(), "bias": per_channel()}
    check("InstanceNormalization", inputs, opset=opset, params=["scale", "bias"], rtol=1e-4, atol=1e-5)
