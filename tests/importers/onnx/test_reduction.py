"""ONNX converters of the reduction family, one node per model, checked against
onnxruntime before and after the opsets where ``axes`` moved from an attribute to an
input (13 for ReduceSum, 18 for the others)."""

from __future__ import annotations

import numpy as np
import pytest

import dynir
from dynir.importers.onnx import OnnxImportError
from tests.importers.onnx.node_testlib import check, import_text, node_model

RNG = np.random.default_rng(4)
X = RNG.uniform(0.25, 2.0, (2, 3, 4)).astype(np.float32)
X[0, 1] *= -1
INTS = RNG.integers(-5, 6, (2, 3, 4)).astype(np.int64)

REDUCTIONS = {
    "ReduceSum": 13, "ReduceMean": 18, "ReduceMax": 18, "ReduceMin": 18, "ReduceProd": 18,
    "ReduceL1": 18, "ReduceL2": 18, "ReduceSumSquare": 18, "ReduceLogSumExp": 18,
}  # fmt: skip
CASES = [([1], 1), ([-1, 0], 0), (None, 1), (None, 0), ([0, 2], 1)]


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


@pytest.mark.parametrize("op_type", REDUCTIONS)
@pytest.mark.parametrize("axes, keepdims", CASES)
def test_axes_attribute(op_type: str, axes: list[int] | None, keepdims: int) -> None:
    attrs: dict[str, object] = {"keepdims": keepdims}
    if axes is not None:
        attrs["axes"] = axes
    check(op_type, {"x": X}, opset=REDUCTIONS[op_type] - 1, dynamic=["x"], **attrs)


@pytest.mark.parametrize("op_type", REDUCTIONS)
@pytest.mark.parametrize("axes, keepdims", CASES)
def test_axes_input(op_type: str, axes: list[int] | None, keepdims: int) -> None:
    inputs = {"x": X} if axes is None else {"x": X, "axes": i64(*axes)}
    check(op_type, inputs, opset=REDUCTIONS[op_type], params=["axes"] if axes else [], keepdims=keepdims)


@pytest.mark.parametrize("op_type", REDUCTIONS)
def test_noop_with_empty_axes(op_type: str) -> None:
    check(op_type, {"x": X}, opset=REDUCTIONS[op_type], noop_with_empty_axes=1)
    check(op_type, {"x": X, "axes": i64()}, opset=REDUCTIONS[op_type], params=["axes"], noop_with_empty_axes=1)
    check(op_type, {"x": X, "axes": i64(1)}, opset=REDUCTIONS[op_type], params=["axes"], noop_with_empty_axes=1)


@pytest.mark.parametrize(
    "op_type", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceSumSquare"]
)
def test_integer_reductions(op_type: str) -> None:
    check(op_type, {"x": INTS, "axes": i64(1)}, opset=18, params=["axes"], keepdims=0)


@pytest.mark.parametrize("op_type", REDUCTIONS)
def test_empty_reductions_match_onnxruntime(op_type: str) -> None:
    empty = np.zeros((2, 0), np.float32)
    check(op_type, {"x": empty, "axes": i64(1)}, opset=18, params=["axes"], keepdims=0)


def test_axes_input_must_be_known() -> None:
    model = node_model("ReduceMean", {"x": X, "axes": i64(1)}, opset=18)
    with pytest.raises(OnnxImportError, match=r"node 'ReduceMean_0' \(ReduceMean, opset 18\): axes \(input #1\) must be known at import time"):
        dynir.import_onnx(model)


def test_bad_axis_names_the_node() -> None:
    model = node_model("ReduceMax", {"x": X}, opset=13, axes=[3])
    with pytest.raises(OnnxImportError, match=r"\(ReduceMax, opset 13\): axis 3 out of range for rank 3"):
        dynir.import_onnx(model)


def test_default_keepdims_is_not_printed() -> None:
    text = import_text("ReduceSum", {"x": X, "axes": i64(1)}, opset=13, params=["axes"])
    assert "nn.reduce_sum %x {axes = array<i64: 1>} : (tensor<2x3x4xf32>) -> tensor<2x1x4xf32>" in text


@pytest.mark.parametrize("op_type", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("opset", [11, 12, 13])
def test_arg_reductions(op_type: str, opset: int) -> None:
    x = np.round(X * 2) / 2  # ties, to tell first from last index
    check(op_type, {"x": x}, opset=opset, dynamic=["x"])
    check(op_type, {"x": x}, opset=opset, axis=-1, keepdims=0)
    check(op_type, {"x": INTS}, opset=opset, axis=1)
    if opset >= 12:
        check(op_type, {"x": x}, opset=opset, axis=2, select_last_index=1)
        check(op_type, {"x": INTS}, opset=opset, axis=0, keepdims=0, select_last_index=1)
