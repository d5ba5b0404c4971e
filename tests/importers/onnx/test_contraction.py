"""ONNX MatMul, Gemm, Conv and ConvTranspose: one node per model, imported and run by the
interpreter, compared with onnxruntime; plus the converters' error messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import dynir
from dynir.importers.onnx import OnnxImportError
from dynir.ir.types import shape_of

RNG = np.random.default_rng(7)


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def node_model(
    op_type: str,
    inputs: Mapping[str, np.ndarray],
    weights: Mapping[str, np.ndarray] | None = None,
    *,
    order: Sequence[str] | None = None,
    opset: int = 17,
    dynamic: Mapping[str, Sequence[int]] | None = None,
    **attrs: object,
) -> onnx.ModelProto:
    """One ``op_type`` node: ``inputs`` are graph inputs (dims listed in ``dynamic`` made
    symbolic), ``weights`` initializers; ``order`` names the node's inputs ("" = absent)."""
    weights = dict(weights or {})
    infos = []
    for name, array in inputs.items():
        dims: list[int | str] = list(array.shape)
        for axis in (dynamic or {}).get(name, ()):
            dims[axis] = f"{name}_d{axis}"
        infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
    names = list(order) if order is not None else [*inputs, *weights]
    node = helper.make_node(op_type, names, ["y"], name="n0", **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        infos,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(array, name) for name, array in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def check(model: onnx.ModelProto, *arrays: np.ndarray) -> np.ndarray:
    """Import and interpret ``model``; assert it matches onnxruntime; return the result."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: a for i, a in zip(session.get_inputs(), arrays)}
    (want,) = session.run(None, feeds)
    module = dynir.import_onnx(model)
    module.verify()
    (got,) = dynir.interpret(module, *arrays)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    return got


def result_shape(model: onnx.ModelProto):
    module = dynir.import_onnx(model)
    main = next(iter(module.ops))
    return shape_of(main.function_type.outputs.data[0])  # type: ignore[attr-defined]


def import_error(model: onnx.ModelProto) -> str:
    with pytest.raises(OnnxImportError) as info:
        dynir.import_onnx(model)
    return str(info.value)


# --- MatMul / Gemm ------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b",
    [((3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((4,), (4,))],
)
def test_matmul_matches_onnxruntime(a, b):
    x, y = rand(*a), rand(*b)
    check(node_model("MatMul", {"a": x, "b": y}, opset=13), x, y)


def test_matmul_dynamic_batch_with_weight():
    x, w = rand(3, 5, 8), rand(8, 6)
    model = node_model("MatMul", {"x": x}, {"w": w}, dynamic={"x": [0, 1]})
    assert result_shape(model) == (None, None, 6)
    check(model, x)


@pytest.mark.parametrize("trans_a, trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("c_shape", [(), (5,), (3, 1), (3, 5)])
def test_gemm_matches_onnxruntime(trans_a, trans_b, c_shape):
    a = rand(4, 3) if trans_a else rand(3, 4)
    b = rand(5, 4) if trans_b else rand(4, 5)
    c = rand(*c_shape)
    model = node_model(
        "Gemm", {"a": a}, {"b": b, "c": c}, opset=13, alpha=0.7, beta=-1.5, transA=trans_a, transB=trans_b
    )
    check(model, a)


@pytest.mark.parametrize("opset", [11, 13])
def test_gemm_without_c(opset):
    a, b = rand(2, 6), rand(3, 6)
    model = node_model("Gemm", {"a": a}, {"b": b}, opset=opset, transB=1, alpha=2.0)
    assert result_shape(model) == (2, 3)
    check(model, a)


@pytest.mark.parametrize("opset", [7, 9])
def test_gemm_old_opsets_broadcast_c_with_dynamic_rows(opset):
    a, b, c = rand(4, 6), rand(6, 3), rand(3)
    model = node_model("Gemm", {"a": a}, {"b": b, "c": c}, opset=opset, dynamic={"a": [0]})
    assert result_shape(model) == (None, 3)
    check(model, a)


def test_gemm_shape_error_names_node():
    a, b = rand(3, 4), rand(5, 6)
    message = import_error(node_model("Gemm", {"a": a}, {"b": b}, opset=13))
    assert "node 'n0' (Gemm, opset 13): contraction dims differ: a 3x4, b 5x6 (trans_a 0, trans_b 0: 4 vs 5)" in message


# --- Conv ---------------------------------------------------------------------------

CONV_CASES = [
    # x, w, attrs
    ((2, 3, 9), (4, 3, 3), {"pads": [1, 2], "strides": [2]}),
    ((1, 3, 8, 7), (5, 3, 3, 3), {"pads": [1, 1, 1, 1]}),
    ((2, 4, 9, 9), (6, 2, 3, 2), {"group": 2, "strides": [2, 1], "dilations": [1, 2], "pads": [0, 1, 2, 0]}),
    ((1, 8, 7, 7), (8, 1, 3, 3), {"group": 8, "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 3, 10, 10), (4, 3, 7, 7), {"strides": [2, 2], "pads": [3, 3, 3, 3], "kernel_shape": [7, 7]}),
    ((1, 2, 5, 6, 4), (3, 2, 3, 3, 2), {"pads": [1, 0, 1, 1, 2, 0], "strides": [1, 2, 1]}),
]


@pytest.mark.parametrize("x_shape, w_shape, attrs", CONV_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv_matches_onnxruntime(x_shape, w_shape, attrs, with_bias):
    x, w = rand(*x_shape), rand(*w_shape)
    weights = {"w": w, "b": rand(w_shape[0])} if with_bias else {"w": w}
    check(node_model("Conv", {"x": x}, weights, **attrs), x)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("kernel, strides", [((3, 3), (1, 1)), ((2, 4), (2, 3)), ((4, 3), (2, 2))])
def test_conv_auto_pad(auto_pad, kernel, strides):
    x, w = rand(1, 2, 7, 8), rand(3, 2, *kernel)
    check(node_model("Conv", {"x": x}, {"w": w}, auto_pad=auto_pad, strides=list(strides)), x)


def test_conv_keeps_batch_and_spatial_dims_symbolic():
    x, w, b = rand(2, 3, 9, 11), rand(4, 3, 3, 3), rand(4)
    model = node_model("Conv", {"x": x}, {"w": w, "b": b}, dynamic={"x": [0, 2, 3]}, strides=[2, 2], pads=[1, 1, 1, 1])
    assert result_shape(model) == (None, 4, None, None)
    check(model, x)


def test_conv_errors():
    x, w = rand(1, 3, 8, 8), rand(4, 3, 3, 3)
    same = node_model("Conv", {"x": x}, {"w": w}, dynamic={"x": [2, 3]}, auto_pad="SAME_UPPER")
    assert "node 'n0' (Conv, opset 17): auto_pad SAME_UPPER needs static spatial dims, but the input's are ?x?" in import_error(same)
    kernel = node_model("Conv", {"x": x}, {"w": w}, kernel_shape=[5, 5])
    assert "kernel_shape [5, 5] does not match the weight 4x3x3x3" in import_error(kernel)
    channels = node_model("Conv", {"x": rand(1, 4, 8, 8)}, {"w": w})
    assert "input 1x4x8x8 has 4 channels, but weight 4x3x3x3 with group 1 takes 3" in import_error(channels)
    auto = node_model("Conv", {"x": x}, {"w": w}, auto_pad="FULL")
    assert "auto_pad 'FULL' is not supported" in import_error(auto)


# --- ConvTranspose ------------------------------------------------------------------

CONV_TRANSPOSE_CASES = [
    # x, w, attrs
    ((1, 2, 5), (2, 3, 3), {"strides": [2], "output_padding": [1]}),
    ((2, 3, 4, 5), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 4, 3, 4), (4, 2, 2, 3), {"group": 2, "strides": [1, 2], "dilations": [2, 1], "pads": [0, 1, 1, 0]}),
    ((1, 3, 4, 4), (3, 2, 4, 4), {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 0]}),
    ((1, 2, 3, 2, 3), (2, 2, 2, 3, 2), {"strides": [2, 1, 2], "pads": [0, 1, 0, 0, 1, 1]}),
    ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [9, 10]}),
    ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [8, 10], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [8, 9], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [3, 2], "auto_pad": "VALID"}),
]


@pytest.mark.parametrize("x_shape, w_shape, attrs", CONV_TRANSPOSE_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv_transpose_matches_onnxruntime(x_shape, w_shape, attrs, with_bias):
    x, w = rand(*x_shape), rand(*w_shape)
    group = int(attrs.get("group", 1))  # type: ignore[call-overload]
    weights = {"w": w, "b": rand(w_shape[1] * group)} if with_bias else {"w": w}
    check(node_model("ConvTranspose", {"x": x}, weights, **attrs), x)


def test_conv_transpose_dynamic_dims_and_errors():
    x, w = rand(2, 3, 4, 5), rand(3, 2, 3, 3)
    model = node_model("ConvTranspose", {"x": x}, {"w": w}, dynamic={"x": [0, 2]}, strides=[2, 2])
    assert result_shape(model) == (None, 2, None, 11)
    check(model, x)
    shaped = node_model("ConvTranspose", {"x": x}, {"w": w}, dynamic={"x": [3]}, output_shape=[8, 10])
    assert "output_shape needs static spatial dims, but the input's are 4x?" in import_error(shaped)
