"""``dynir run`` and ``dynir emit`` on a real ONNX file, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.cli.conftest import Result


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Relu", ["h"], ["y"], name="relu"),
    ]
    w = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [onnx.numpy_helper.from_array(w, "w")],
    )
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_run_check_against_onnxruntime(run_dynir, model_file: Path) -> None:
    result: Result = run_dynir("run", str(model_file), "--check", "--dim", "batch=5")
    assert result.code == 0, result.err
    assert "y: float32 (5, 3)" in result.out
    assert "max abs err" in result.out and result.out.rstrip().endswith("yes")


def test_run_with_inputs_and_outputs(run_dynir, model_file: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    result = run_dynir("run", str(model_file), "--inputs", str(tmp_path / "in.npz"), "-o", str(tmp_path / "out.npz"))
    assert result.code == 0, result.err
    w = onnx.numpy_helper.to_array(onnx.load(model_file).graph.initializer[0])
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["y"], np.maximum(x @ w, 0), rtol=1e-5, atol=1e-6)


def test_run_errors(run_dynir, model_file: Path, tmp_path: Path) -> None:
    missing = run_dynir("run", str(tmp_path / "nope.onnx"))
    assert missing.code == 1 and "error:" in missing.err and "Traceback" not in missing.err
    bad_dim = run_dynir("run", str(model_file), "--dim", "batch")
    assert bad_dim.code == 1 and "--dim expects NAME=SIZE, got 'batch'" in bad_dim.err
    np.savez(tmp_path / "bad.npz", x=np.ones((2, 7), np.float32))
    bad_input = run_dynir("run", str(model_file), "--inputs", str(tmp_path / "bad.npz"))
    assert bad_input.code == 1 and "input 'x' dim 1 must be 8" in bad_input.err


@pytest.mark.parametrize(
    ("level", "expected"),
    [("nn", "nn.matmul"), ("loops", "scf.for"), ("llvm", "define void @")],
)
def test_emit_levels(run_dynir, model_file: Path, level: str, expected: str) -> None:
    result = run_dynir("emit", "--target", level, str(model_file))
    assert result.code == 0, result.err
    assert expected in result.out


def test_emit_llvm_is_vectorised_to_a_file(run_dynir, model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.ll"
    assert run_dynir("emit", "--target", "llvm", str(model_file), "-o", str(out)).code == 0
    assert "x float>" in out.read_text()


def test_run_profile_lists_every_kernel_with_its_onnx_nodes(run_dynir, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Exp", ["x"], ["e"], name="exp"),
        helper.make_node("ReduceSum", ["e"], ["y"], name="sum", keepdims=1),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
    )
    path = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    result = run_dynir("run", str(path), "--profile", "3", "--dim", "batch=4", "--no-fuse")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("kernel"))
    rows = lines[header + 1:-1]
    assert len(rows) == 2  # unfused: the exp and the sum
    assert any("node 'exp' (Exp)" in row and "4x8" in row for row in rows)
    assert any("node 'sum' (ReduceSum)" in row and "1x1" in row for row in rows)
    assert lines[-1].startswith("total ") and "(median of 3), 2 kernels" in lines[-1]
    bad = run_dynir("run", str(path), "--profile", "0")
    assert bad.code == 1 and "--profile needs at least 1 run, got 0" in bad.err


def test_run_profile_names_the_node_of_a_prepacked_matmul(run_dynir, model_file: Path) -> None:
    result = run_dynir("run", str(model_file), "--profile", "2", "--no-fuse")
    assert result.code == 0, result.err
    assert any("node 'mm' (MatMul)" in line and "packed" in line for line in result.out.splitlines())
