"""dynir.compile end to end: accepted model kinds, results against the interpreter, and
the input guards of CompiledModel."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import dynir
from dynir.builder import Graph
from dynir.diagnostics import DynirError
from dynir.runtime.compiled_model import InputError


def bias_relu_graph() -> Graph:
    g = Graph()
    x = g.input("x", (None, 4), "float32", dim_names=("batch", ""))
    b = g.constant(np.array([1.0, -2.0, 3.0, -4.0], np.float32), name="b")
    g.output(g.relu(x + b), name="y")
    return g


def bias_relu_onnx() -> onnx.ModelProto:
    nodes = [helper.make_node("Add", ["x", "b"], ["s"], name="add"), helper.make_node("Relu", ["s"], ["y"], name="relu")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor("b", TensorProto.FLOAT, [4], [1.0, -2.0, 3.0, -4.0])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def expected(x: np.ndarray) -> np.ndarray:
    return np.maximum(x + np.array([1.0, -2.0, 3.0, -4.0], np.float32), 0)


@pytest.mark.parametrize("kind", ["builder", "module", "onnx", "onnx-file"])
def test_every_model_kind_compiles_and_runs(kind: str, tmp_path) -> None:
    if kind == "builder":
        model: object = bias_relu_graph()
    elif kind == "module":
        model = bias_relu_graph().module()
    elif kind == "onnx":
        model = bias_relu_onnx()
    else:
        path = tmp_path / "m.onnx"
        onnx.save(bias_relu_onnx(), path)
        model = str(path)
    compiled = dynir.compile(model)
    for batch in (1, 3, 0):
        x = np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)
        (y,) = compiled(x)
        np.testing.assert_allclose(y, expected(x), rtol=1e-6)
    assert compiled.run({"x": np.ones((2, 4), np.float32)})["y"].shape == (2, 4)


def test_compile_does_not_modify_the_module() -> None:
    module = bias_relu_graph().module()
    before = dynir.print_ir(module)
    dynir.compile(module)
    assert dynir.print_ir(module) == before


def test_matmul_gemm_match_interpreter_with_dynamic_batch() -> None:
    rng = np.random.default_rng(0)
    g = Graph()
    x = g.input("x", (None, 16), "float32")
    h = g.relu(g.matmul(x, g.constant(rng.standard_normal((16, 32)).astype(np.float32), name="w1")))
    y = g.gemm(h, g.constant(rng.standard_normal((8, 32)).astype(np.float32), name="w2"),
               g.constant(rng.standard_normal(8).astype(np.float32), name="b2"), trans_b=1, alpha=0.5, beta=2.0)
    g.output(y, name="y")
    module = g.module()
    compiled = dynir.compile(module)
    for batch in (1, 5):
        xv = rng.standard_normal((batch, 16)).astype(np.float32)
        np.testing.assert_allclose(compiled(xv)[0], dynir.interpret(module, xv)[0], rtol=1e-4, atol=1e-5)


def test_batched_broadcasting_matmul() -> None:
    rng = np.random.default_rng(1)
    g = Graph()
    a = g.input("a", (2, 1, 3, 5), "float32")
    b = g.input("b", (4, 5, 6), "float32")
    g.output(g.matmul(a, b), name="c")
    compiled = dynir.compile(g)
    av = rng.standard_normal((2, 1, 3, 5)).astype(np.float32)
    bv = rng.standard_normal((4, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(compiled(av, bv)[0], av @ bv, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ((), "expected 1 inputs (x: ?x4 float32), got 0"),
        ((np.ones((2, 4), np.float64),), "input 'x' must have dtype float32, got float64"),
        ((np.ones((4,), np.float32),), "input 'x' must have rank 2 (?x4), got shape (4,)"),
        ((np.ones((2, 5), np.float32),), "input 'x' dim 1 must be 4 (?x4), got shape (2, 5)"),
    ],
)
def test_bad_inputs_are_named(arrays: tuple[np.ndarray, ...], message: str) -> None:
    compiled = dynir.compile(bias_relu_graph())
    with pytest.raises(InputError) as error:
        compiled(*arrays)
    assert str(error.value) == message


def test_run_by_name_rejects_unknown_and_missing() -> None:
    compiled = dynir.compile(bias_relu_graph())
    with pytest.raises(InputError, match="missing input"):
        compiled.run({})
    with pytest.raises(InputError, match="unknown input"):
        compiled.run({"x": np.ones((1, 4), np.float32), "z": np.ones(1)})


def test_unknown_target_and_option() -> None:
    with pytest.raises(DynirError, match="unknown target 'tpu'"):
        dynir.compile(bias_relu_graph(), target="tpu")
    with pytest.raises(DynirError, match="unknown compile option"):
        dynir.compile(bias_relu_graph(), frobnicate=True)


def test_compile_writes_the_report(tmp_path) -> None:
    path = tmp_path / "report.html"
    compiled = dynir.compile(bias_relu_graph(), report=path, cache_dir=False)
    np.testing.assert_allclose(compiled(np.ones((1, 4), np.float32))[0], expected(np.ones((1, 4), np.float32)))
    page = path.read_text()
    assert "lower-to-loops" in page and "<html" in page.lower()
    assert "http://" not in page and "https://" not in page  # self-contained: no network
