"""Shapes computed from dynamic dims (``Shape -> Gather -> Concat -> Reshape``, as
PyTorch exports ``x.view(x.size(0), x.size(1), h, d)``) import as static reshape and
expand specs, and run like onnxruntime for every size (``dynir.builder.symbolic``)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import dynir
from dynir.builder.symbolic import DimExpr, DimSymbol, NotSymbolic
from dynir.dialects.nn.shape import ExpandOp, ReshapeOp
from dynir.importers.onnx.registry import OnnxImportError

I64 = np.int64


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], output: str,
           consts: dict[str, np.ndarray]) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", inputs, [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _x(dims: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)


def _dims_of_x(take: list[int]) -> tuple[list[onnx.NodeProto], list[str]]:
    """Shape(x) -> Gather(i) -> Unsqueeze for each i; returns the nodes and the outputs."""
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape")]
    names = []
    for i in take:
        nodes.append(helper.make_node("Gather", ["s", f"i{i}"], [f"d{i}"], name=f"gather{i}", axis=0))
        nodes.append(helper.make_node("Unsqueeze", [f"d{i}", "axis0"], [f"u{i}"], name=f"unsqueeze{i}"))
        names.append(f"u{i}")
    return nodes, names


CONSTS = {"i0": np.array(0, I64), "i1": np.array(1, I64), "i2": np.array(2, I64), "axis0": np.array([0], I64)}


def _check(model: onnx.ModelProto, shapes: list[tuple[int, ...]]) -> None:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    compiled = dynir.compile(model)
    rng = np.random.default_rng(0)
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32)
        (want,) = session.run(None, {"x": x})
        np.testing.assert_array_equal(compiled(x)[0], want)


def _ops(model: onnx.ModelProto, cls: type) -> list[object]:
    return [op for op in dynir.import_onnx(model).walk() if isinstance(op, cls)]


def test_view_by_the_tensors_own_sizes_becomes_a_static_reshape() -> None:
    nodes, (b, s) = _dims_of_x([0, 1])
    nodes += [
        helper.make_node("Concat", [b, s, "heads"], ["target"], name="cat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["r"], name="view"),
        helper.make_node("Transpose", ["r"], ["y"], name="t", perm=[0, 2, 1, 3]),
    ]
    model = _model(nodes, [_x(["batch", "seq", 32])], "y", {**CONSTS, "heads": np.array([4, 8], I64)})
    (reshape,) = _ops(model, ReshapeOp)
    assert list(reshape.shape.get_values()) == [0, 0, 4, 8]  # type: ignore[attr-defined]
    assert {op.name for op in dynir.import_onnx(model).walk()} >= {"nn.reshape", "nn.transpose"}
    assert "nn.shape" not in {op.name for op in dynir.import_onnx(model).walk()}  # the shape chain is dead
    _check(model, [(2, 5, 32), (3, 7, 32), (1, 1, 32)])


def test_a_product_of_dims_is_the_one_inferred_dim() -> None:
    nodes, (b, s) = _dims_of_x([0, 1])
    nodes += [
        helper.make_node("Mul", [b, s], ["bs"], name="mul"),
        helper.make_node("Concat", ["bs", "width"], ["target"], name="cat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="flatten"),
    ]
    model = _model(nodes, [_x(["batch", "seq", 32])], "y", {**CONSTS, "width": np.array([32], I64)})
    (reshape,) = _ops(model, ReshapeOp)
    assert list(reshape.shape.get_values()) == [-1, 32]  # type: ignore[attr-defined]
    _check(model, [(2, 5, 32), (4, 3, 32)])


def test_divided_sizes_and_static_dims_of_dynamic_tensors_fold() -> None:
    # [b, s * 32 / 8, 8]: s*32/8 = 4*s is exact; x.size(2) = 32 is static even though x is not
    nodes, (b, s, c) = _dims_of_x([0, 1, 2])
    nodes += [
        helper.make_node("Mul", [s, c], ["sc"], name="mul"),
        helper.make_node("Div", ["sc", "eight"], ["rows"], name="div"),
        helper.make_node("Concat", [b, "rows", "eight"], ["target"], name="cat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="split"),
    ]
    model = _model(nodes, [_x(["batch", "seq", 32])], "y", {**CONSTS, "eight": np.array([8], I64)})
    (reshape,) = _ops(model, ReshapeOp)
    assert list(reshape.shape.get_values()) == [0, -1, 8]  # type: ignore[attr-defined]
    _check(model, [(2, 5, 32), (1, 9, 32)])


def test_sizes_of_another_input_with_the_same_dim_name_are_the_same_dims() -> None:
    nodes = [
        helper.make_node("Shape", ["mask"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "i0"], ["d0"], name="gather0", axis=0),
        helper.make_node("Unsqueeze", ["d0", "axis0"], ["u0"], name="unsqueeze0"),
        helper.make_node("Concat", ["u0", "rest"], ["target"], name="cat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["r"], name="view"),
        helper.make_node("Add", ["r", "mask"], ["y"], name="add"),
    ]
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", 1, 1])
    model = _model(nodes, [_x(["batch", 6]), mask], "y", {**CONSTS, "rest": np.array([2, 3], I64)})
    (reshape,) = _ops(model, ReshapeOp)
    assert list(reshape.shape.get_values()) == [0, 2, 3]  # type: ignore[attr-defined]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    compiled = dynir.compile(model)
    for batch in (1, 4):
        feeds = {"x": np.ones((batch, 6), np.float32), "mask": np.full((batch, 1, 1), 2, np.float32)}
        np.testing.assert_array_equal(compiled.run(feeds)["y"], session.run(None, feeds)[0])


def test_expand_to_the_inputs_own_sizes() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "i0"], ["d0"], name="gather0", axis=0),
        helper.make_node("Gather", ["s", "i2"], ["d2"], name="gather2", axis=0),
        helper.make_node("Unsqueeze", ["d0", "axis0"], ["u0"], name="unsqueeze0"),
        helper.make_node("Unsqueeze", ["d2", "axis0"], ["u2"], name="unsqueeze2"),
        helper.make_node("Concat", ["u0", "four", "u2"], ["target"], name="cat", axis=0),
        helper.make_node("Expand", ["x", "target"], ["y"], name="expand"),
    ]
    model = _model(nodes, [_x(["batch", 1, "seq"])], "y", {**CONSTS, "four": np.array([4], I64)})
    (expand,) = _ops(model, ExpandOp)
    assert list(expand.shape.get_values()) == [1, 4, 1]  # type: ignore[attr-defined]
    _check(model, [(2, 1, 5), (1, 1, 1)])


def test_dims_that_cannot_be_expressed_statically_name_the_node() -> None:
    nodes, (b, s) = _dims_of_x([0, 1])
    nodes += [
        helper.make_node("Concat", [s, b, "width"], ["target"], name="cat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="swap"),
    ]
    model = _model(nodes, [_x(["batch", "seq", 32])], "y", {**CONSTS, "width": np.array([32], I64)})
    with pytest.raises(OnnxImportError) as caught:
        dynir.import_onnx(model)
    assert "node 'swap' (Reshape, opset 17): shape (input #1) is [seq, batch, 32] at run time" in str(caught.value)
    assert "more than one element is unknown before run time (seq, batch)" in str(caught.value)


def test_dim_expressions() -> None:
    b = DimExpr.symbol(DimSymbol(("name", "b"), "b"))
    s = DimExpr.symbol(DimSymbol(("name", "s"), "s"))
    assert (b * s * 32) // 8 == b * s * 4
    assert repr(b * s * 4 + 2) == "2 + 4*b*s"
    assert b * 2 - b - b == 0 and isinstance(b - b, int)
    assert b == DimExpr.symbol(DimSymbol(("name", "b"), "other label")) and b != s and b != 3
    with pytest.raises(NotSymbolic, match="is not a multiple of 3"):
        _ = (b * 2) // 3
    with pytest.raises(NotSymbolic, match="is not known before run time"):
        int(b)


def test_slice_bounds_relative_to_the_inputs_own_dim() -> None:
    # x[:, 1 : x.size(1) - 1] and x[:, :, : x.size(2)]
    nodes, (s, c) = _dims_of_x([1, 2])
    nodes += [
        helper.make_node("Sub", [s, "one"], ["s1"], name="sub"),
        helper.make_node("Concat", ["one", "zero"], ["starts"], name="cat_starts", axis=0),
        helper.make_node("Concat", ["s1", c], ["ends"], name="cat_ends", axis=0),
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["y"], name="trim"),
    ]
    consts = {**CONSTS, "one": np.array([1], I64), "zero": np.array([0], I64), "axes": np.array([1, 2], I64)}
    model = _model(nodes, [_x(["batch", "seq", "width"])], "y", consts)
    _check(model, [(2, 5, 3), (1, 2, 4), (3, 9, 1)])
    bad = [
        *_dims_of_x([0])[0],
        helper.make_node("Slice", ["x", "zero", "u0", "one"], ["y"], name="by_batch"),
    ]
    with pytest.raises(OnnxImportError, match=r"node 'by_batch' \(Slice, opset 17\): ends \(input #2\) element 0 is "
                       r"batch at run time, which is not the input's own dim plus a constant"):
        dynir.import_onnx(_model(bad, [_x(["batch", "seq", "width"])], "y", consts))
