"""The builder API: numpy-like graph building, generic ops by name, the importer's IR."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import DenseArrayBase, ModuleOp, UnknownLoc, f64

from dynir.builder import Graph
from dynir.builder.ops import nn_op_class, prop_attr
from dynir.importers.onnx import import_onnx
from dynir.interpreter import interpret
from dynir.ir.text import parse, print_ir
from tests.importers.onnx.graph_testlib import initializer, model, node, value_info

RNG = np.random.default_rng(7)


def op_names(module: ModuleOp) -> list[str]:
    (f,) = [op for op in module.ops if isinstance(op, func.FuncOp)]
    return [op.name for op in f.body.block.ops]


def test_the_documented_example() -> None:
    w = RNG.standard_normal((64, 32)).astype(np.float32)
    b = RNG.standard_normal(32).astype(np.float32)
    g = Graph()
    x = g.input("x", (None, 64), "float32", dim_names=("batch", ""))
    y = g.relu(g.matmul(x, g.constant(w, name="w")) + g.constant(b))
    g.output(y, name="logits")
    module = g.module()
    module.verify()
    text = print_ir(module)
    assert (
        'func.func @main(%x: tensor<?x64xf32> {nn.name = "x", nn.dim_names = ["batch", ""]}) '
        '-> (tensor<?x32xf32> {nn.name = "logits"})'
    ) in text
    assert "%logits = nn.relu" in text
    assert op_names(module) == ["nn.constant", "nn.matmul", "nn.constant", "nn.add", "nn.relu", "func.return"]
    xs = RNG.standard_normal((5, 64)).astype(np.float32)
    (got,) = interpret(parse(text), xs)
    np.testing.assert_allclose(got, np.maximum(xs @ w + b, 0), rtol=1e-5, atol=1e-5)


def test_operators_and_python_scalars() -> None:
    g = Graph()
    x = g.input("x", (3,), "float32")
    y = g.input("y", (3,), "float32")
    outs = [x + y, x - y, x * y, x / y, -x, 1.0 - x, 2.0 * x, x / 4, 8 / y, x + 1]
    for v in outs:
        g.output(v)
    module = g.module()
    a, b = np.array([1.0, -2.0, 3.0], np.float32), np.array([4.0, 5.0, -6.0], np.float32)
    expected = [a + b, a - b, a * b, a / b, -a, 1.0 - a, 2.0 * a, a / 4, 8 / b, a + 1]
    for got, want in zip(interpret(module, a, b), expected, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_matmul_operator() -> None:
    g = Graph()
    x = g.input("x", (2, 3), "float32")
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    g.output(x @ w)
    xs = RNG.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(interpret(g.module(), xs)[0], xs @ w, rtol=1e-5)


def test_generic_props_by_python_type() -> None:
    g = Graph()
    x = g.input("x", (None, 4, 6), "float32", dim_names=("n", "", ""))
    t = g.transpose(x, perm=[0, 2, 1])  # list[int]
    c = g.cast(t, to=np.int64)  # dtype
    parts = g.split(c, axis=1, sizes=[2, 4], num_results=2)  # int, list[int], multi-result
    assert isinstance(parts, tuple) and [p.shape for p in parts] == [(None, 2, 4), (None, 4, 4)]
    joined = g.concat(parts[1], parts[0], axis=1)
    g.output(joined)
    module = g.module()
    module.verify()
    xs = RNG.standard_normal((2, 4, 6)).astype(np.float32) * 10
    tx = xs.transpose(0, 2, 1).astype(np.int64)
    np.testing.assert_array_equal(interpret(module, xs)[0], np.concatenate([tx[:, 2:], tx[:, :2]], axis=1))


def test_float_list_and_string_props() -> None:
    g = Graph()
    x = g.input("x", (1, 1, 2, 2), "float32")
    g.output(g.resize(x, mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor", scales=[1.0, 1.0, 2.0, 2.0]))
    module = g.module()
    assert "scales = array<f64: 1.000000e+00, 1.000000e+00, 2.000000e+00, 2.000000e+00>" in print_ir(module)
    xs = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(interpret(module, xs)[0], xs.repeat(2, axis=2).repeat(2, axis=3))


def test_prop_attr_conversions() -> None:
    assert prop_attr("p", [0.5, 2]) == DenseArrayBase.from_list(f64, [0.5, 2.0])
    with pytest.raises(TypeError, match="property 'p': cannot make an attribute of"):
        prop_attr("p", object())  # type: ignore[arg-type]


def test_constant_operands_fold() -> None:
    g = Graph()
    a = g.constant(np.array([1, 2, 3], np.int64))
    g.output(g.add(a, a) * 3)
    module = g.module()
    assert op_names(module) == ["nn.constant", "func.return"]
    np.testing.assert_array_equal(interpret(module)[0], [6, 12, 18])


def test_shape_inference_errors_name_the_op() -> None:
    g = Graph()
    x, y = g.input("x", (2,), "float32"), g.input("y", (3,), "float32")
    with pytest.raises(ValueError, match=r"^nn\.add: shapes 2, 3 do not broadcast \(axis 0\)$"):
        g.add(x, y)
    with pytest.raises(ValueError, match=r"^nn\.transpose: perm \[1, 0\] is not a permutation of rank 1$"):
        g.transpose(x, perm=[1, 0])


def test_unknown_op() -> None:
    g = Graph()
    with pytest.raises(AttributeError, match="the nn dialect has no op 'nn.frobnicate'"):
        g.frobnicate  # noqa: B018
    with pytest.raises(LookupError):
        nn_op_class("frobnicate")


def test_graph_is_closed_after_module() -> None:
    g = Graph()
    x = g.input("x", (2,), "float32")
    g.output(x)
    g.module()
    with pytest.raises(ValueError, match="Graph.module\\(\\) was already called"):
        g.relu(x)


def test_values_of_another_graph_are_refused() -> None:
    g1, g2 = Graph(), Graph()
    x = g1.input("x", (2,), "float32")
    with pytest.raises(ValueError, match="the value belongs to another Graph"):
        g2.relu(x)


def strip_names(module: ModuleOp) -> str:
    """The module's text without SSA names and locations."""
    for op in module.walk():
        op.location = UnknownLoc()  # pyright: ignore[reportAttributeAccessIssue]
        for value in [*op.results, *(a for region in op.regions for block in region.blocks for a in block.args)]:
            value.name_hint = None
    return print_ir(module)


def test_builder_and_importer_produce_the_same_ir() -> None:
    b = np.array([1.0, -2.0, 3.0, -4.0], np.float32)
    nodes = [node("Add", ["x", "b"], ["s"]), node("Relu", ["s"], ["y"])]
    imported = import_onnx(model(nodes, [value_info("x", ["batch", 4])], ["y"], [initializer("b", b)]))
    g = Graph()
    x = g.input("x", (None, 4), "float32", dim_names=("batch", ""))
    g.output(g.relu(x + g.constant(b, name="b")), name="y")
    built = strip_names(g.module())
    assert built == strip_names(imported)
    assert "nn.add" in built and "nn.dim_names" in built
