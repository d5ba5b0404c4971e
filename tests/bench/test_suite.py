"""Bench cases: bundled models with bound dims and fixed inputs, ONNX files with random
inputs, and clear errors for bad names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from dynir.bench.suite import SUITES, bind_dims, bundled_case, file_case, random_feeds, suite_cases
from dynir.diagnostics import DynirError
from dynir.models import MODELS, save


def _input_shape(model: onnx.ModelProto, index: int = 0) -> list[int | str]:
    dims = model.graph.input[index].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]


def test_default_suite_has_the_issue_models() -> None:
    names = [c.name for c in suite_cases("default")]
    assert names == ["matmul", "mlp", "conv_block", "resnet50", "bert_layer", "bert_layer[seq=?]", "yolo", "elementwise_chain"]
    assert set(SUITES) >= {"default", "tiny"}


def test_bundled_case_binds_dims_except_symbolic_ones() -> None:
    static = bundled_case("bert_tiny", dims={"seq": 16})
    assert _input_shape(static.model()) == [1, 16, 64]
    dynamic = bundled_case("bert_tiny", dims={"seq": 16}, symbolic=["seq"])
    assert dynamic.name == "bert_tiny[seq=?]"
    assert _input_shape(dynamic.model()) == [1, "seq", 64]
    assert dynamic.feeds()["hidden"].shape == (1, 16, 64)
    np.testing.assert_array_equal(static.feeds()["hidden"], dynamic.feeds()["hidden"])  # fixed seed


def test_bundled_case_with_size_options_counts_flops_and_weights() -> None:
    case = bundled_case("mlp", dims={"batch": 8}, label="m", in_features=16, hidden=32, out_features=4)
    assert case.name == "m" and "hidden=32" in case.description
    assert case.feeds()["x"].shape == (8, 16)
    assert case.flops() >= 2 * 8 * (16 * 32 + 32 * 4)
    assert case.weight_bytes() == 4 * (16 * 32 + 32 + 4 * 32 + 4)


def test_bind_dims_copies() -> None:
    model = MODELS["mlp"].build()
    bound = bind_dims(model, {"batch": 3})
    assert _input_shape(bound) == [3, 1024]
    assert _input_shape(model) == ["batch", 1024]


def test_file_case_uses_dims_or_one(tmp_path: Path) -> None:
    path = save(MODELS["bert_tiny"].build(), tmp_path / "bert.onnx")
    case = file_case(str(path), {"seq": 8})
    assert case.name == "bert" and case.dims == {"batch": 1, "seq": 8}
    feeds = case.feeds()
    assert feeds["hidden"].shape == (1, 8, 64) and feeds["attention_mask"].shape == (1, 1, 1, 8)


def test_file_case_errors(tmp_path: Path) -> None:
    with pytest.raises(DynirError, match="cannot open 'nope.onnx': no such file"):
        file_case("nope.onnx", {})
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not a model")
    with pytest.raises(DynirError, match="is not an ONNX model"):
        file_case(str(bad), {})
    path = save(MODELS["mlp"].build(), tmp_path / "mlp.onnx")
    with pytest.raises(DynirError, match=r"--dim seq: the model has no dimension 'seq' \(has: batch\)"):
        file_case(str(path), {"seq": 2})


def test_random_feeds_types() -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["i"], ["o"])], "g",
        [helper.make_tensor_value_info("i", TensorProto.INT64, [2, 3]),
         helper.make_tensor_value_info("b", TensorProto.BOOL, [4])],
        [helper.make_tensor_value_info("o", TensorProto.INT64, [2, 3])],
    )
    feeds = random_feeds(helper.make_model(graph), seed=0)
    assert feeds["i"].dtype == np.int64 and feeds["i"].shape == (2, 3) and 0 <= feeds["i"].min() <= feeds["i"].max() < 10
    assert feeds["b"].dtype == np.bool_


def test_unknown_suite() -> None:
    with pytest.raises(DynirError, match=r"unknown suite 'x' \(suites: default, tiny\)"):
        suite_cases("x")
