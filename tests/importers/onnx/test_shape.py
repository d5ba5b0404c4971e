"""ONNX converters of the shape and data-movement family, one node per model, checked
exactly against onnxruntime across the opsets where parameters moved to inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import dynir
from dynir.importers.onnx import OnnxImportError

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
RNG = np.random.default_rng(1)
X = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)


def node_model(
    op_type: str,
    inputs: Mapping[str, np.ndarray],
    outputs: int = 1,
    *,
    opset: int,
    dynamic: Sequence[str] = (),
    **attrs: object,
) -> onnx.ModelProto:
    """A one-node model over graph inputs named like ``inputs`` (``""`` keys skip an
    optional input); the inputs in ``dynamic`` get a symbolic first dim."""
    infos = []
    for name, array in inputs.items():
        shape: list[int | str] = list(array.shape)
        if name in dynamic:
            shape[0] = "batch"
        infos.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(array.dtype), shape))
    names = [f"y{i}" for i in range(outputs)]
    node = helper.make_node(op_type, list(inputs), names, name=f"{op_type}_0", **attrs)
    graph = helper.make_graph([node], "g", infos, [onnx.ValueInfoProto(name=o) for o in names])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def check(
    op_type: str,
    inputs: Mapping[str, np.ndarray],
    outputs: int = 1,
    *,
    opset: int,
    params: Sequence[str] = (),
    dynamic: Sequence[str] = (),
    **attrs: object,
) -> list[np.ndarray]:
    """Run the node with onnxruntime and with dynir (``params`` pinned as known inputs);
    assert the results are equal, values and dtypes. Returns dynir's results."""
    model = node_model(op_type, inputs, outputs, opset=opset, dynamic=dynamic, **attrs)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, dict(inputs))
    module = dynir.import_onnx(model, known_inputs={p: inputs[p] for p in params})
    got = dynir.interpret(module, *[a for name, a in inputs.items() if name not in params])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    return got


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def main_text(module: object) -> str:
    return dynir.print_ir(module, resources=False)  # type: ignore[arg-type]


# reshape / flatten / squeeze / unsqueeze / expand ---------------------------------------


@pytest.mark.parametrize("spec", [(0, -1, 5), (-1,), (2, 0, 2, 10), (6, 20)])
def test_reshape_v14(spec: tuple[int, ...]) -> None:
    check("Reshape", {"x": X, "shape": i64(*spec)}, opset=14, params=["shape"])


def test_reshape_allowzero() -> None:
    empty = np.zeros((0, 4), np.float32)
    check("Reshape", {"x": empty, "shape": i64(4, 0)}, opset=14, params=["shape"], allowzero=1)


def test_reshape_keeps_dynamic_batch() -> None:
    x = RNG.standard_normal((2, 8, 6)).astype(np.float32)
    model = node_model("Reshape", {"x": x, "shape": i64(0, 0, 2, 3)}, opset=13, dynamic=["x"])
    module = dynir.import_onnx(model, known_inputs={"shape": i64(0, 0, 2, 3)})
    assert "(tensor<?x8x6xf32>) -> tensor<?x8x2x3xf32>" in main_text(module)
    np.testing.assert_array_equal(dynir.interpret(module, x)[0], x.reshape(2, 8, 2, 3))


def test_reshape_needs_a_known_shape() -> None:
    model = node_model("Reshape", {"x": X, "shape": i64(-1)}, opset=14)
    with pytest.raises(
        OnnxImportError,
        match=r"node 'Reshape_0' \(Reshape, opset 14\): shape \(input #1\) must be known at import time",
    ):
        dynir.import_onnx(model)


def test_reshape_error_names_node() -> None:
    model = node_model("Reshape", {"x": X, "shape": i64(7, -1)}, opset=14)
    with pytest.raises(
        OnnxImportError, match=r"Reshape, opset 14\): shape \[7, -1\] does not divide 2x3x4x5 evenly"
    ):
        dynir.import_onnx(model, known_inputs={"shape": i64(7, -1)})


@pytest.mark.parametrize("axis", [0, 1, 3, -1])
def test_flatten(axis: int) -> None:
    check("Flatten", {"x": X}, opset=13, axis=axis)


def test_squeeze_and_unsqueeze_across_opsets() -> None:
    x = RNG.standard_normal((1, 3, 1, 2)).astype(np.float32)
    check("Squeeze", {"x": x}, opset=11, axes=[0, -2])
    check("Squeeze", {"x": x}, opset=11)
    check("Squeeze", {"x": x, "axes": i64(2)}, opset=13, params=["axes"])
    check("Squeeze", {"x": x}, opset=13)
    check("Unsqueeze", {"x": x}, opset=11, axes=[0, 5])
    check("Unsqueeze", {"x": x, "axes": i64(-1, 1)}, opset=13, params=["axes"])


def test_squeeze_without_axes_needs_static_shape() -> None:
    x = np.zeros((2, 1), np.float32)
    with pytest.raises(OnnxImportError, match="Squeeze without axes needs a static input shape"):
        dynir.import_onnx(node_model("Squeeze", {"x": x}, opset=13, dynamic=["x"]))


def test_pad_needs_a_known_constant_value() -> None:
    model = node_model(
        "Pad", {"x": X, "pads": i64(0, 0, 0, 1, 0, 0, 0, 1), "v": np.array(1.0, np.float32)}, opset=13
    )
    with pytest.raises(OnnxImportError, match=r"constant_value \(input #2\) must be known at import time"):
        dynir.import_onnx(model, known_inputs={"pads": i64(0, 0, 0, 1, 0, 0, 0, 1)})


def test_expand_and_tile() -> None:
    x = RNG.standard_normal((3, 1)).astype(np.float32)
    check("Expand", {"x": x, "shape": i64(2, 1, 4)}, opset=13, params=["shape"])
    check("Expand", {"x": x, "shape": i64(1)}, opset=8, params=["shape"])
    check("Tile", {"x": X, "repeats": i64(1, 2, 1, 3)}, opset=13, params=["repeats"])


# shape / size / range / constants ----------------------------------------------------------


def test_shape_and_size() -> None:
    check("Shape", {"x": X}, opset=13)
    check("Shape", {"x": X}, opset=15, start=1, end=-1)
    check("Shape", {"x": X}, opset=15, start=-10)
    check("Size", {"x": X}, opset=13)


def test_shape_of_static_input_folds_to_a_constant() -> None:
    module = dynir.import_onnx(node_model("Shape", {"x": X}, opset=13))
    text = main_text(module)
    assert "nn.shape" not in text and "dense<[2, 3, 4, 5]> : tensor<4xi64>" in text


def test_shape_of_dynamic_input_stays_an_op() -> None:
    module = dynir.import_onnx(node_model("Shape", {"x": X}, opset=13, dynamic=["x"]))
    assert "nn.shape" in main_text(module)
    np.testing.assert_array_equal(dynir.interpret(module, X)[0], i64(2, 3, 4, 5))


@pytest.mark.parametrize(
    "start, limit, delta",
    [(np.int64(2), np.int64(11), np.int64(3)), (np.float32(1), np.float32(-1), np.float32(-0.5))],
)
def test_range(start: np.ndarray, limit: np.ndarray, delta: np.ndarray) -> None:
    inputs = {"start": np.array(start), "limit": np.array(limit), "delta": np.array(delta)}
    check("Range", inputs, opset=11)
    folded = check("Range", inputs, opset=11, params=["start", "limit", "delta"])
    module = dynir.import_onnx(node_model("Range", inputs, opset=11), known_inputs=inputs)
    assert "nn.range" not in main_text(module) and folded[0].size > 0


def test_constant_of_shape_and_constant() -> None:
    check("ConstantOfShape", {"shape": i64(2, 3)}, opset=9, params=["shape"])
    value = helper.make_tensor("v", TensorProto.INT32, [1], [7])
    check("ConstantOfShape", {"shape": i64(4)}, opset=20, params=["shape"], value=value)
    tensor = numpy_helper.from_array(X, "x")
    check("Constant", {}, opset=13, value=tensor)
    check("Constant", {}, opset=13, value_floats=[1.5, 2.5])
    check("Constant", {}, opset=13, value_int=3)
    check("Constant", {}, opset=13, value_ints=[1, 2, 3])


def test_constant_rejects_sparse_and_strings() -> None:
    sparse = helper.make_sparse_tensor(
        helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]),
        helper.make_tensor("i", TensorProto.INT64, [1], [0]),
        [3],
    )
    with pytest.raises(OnnxImportError, match="Constant with 'sparse_value' is not supported"):
        dynir.import_onnx(node_model("Constant", {}, opset=13, sparse_value=sparse))


# transpose / pad / concat / split / depth_to_space -------------------------------------------


def test_transpose() -> None:
    check("Transpose", {"x": X}, opset=13)
    check("Transpose", {"x": X}, opset=13, perm=[0, 2, 3, 1])


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_across_opsets(mode: str) -> None:
    check("Pad", {"x": X}, opset=7, pads=[0, 1, 2, 0, 0, 0, 1, 3], mode=mode, value=1.5)
    pads = i64(0, 1, -1, 2, 0, 2, 1, 1)
    if mode == "constant":
        check(
            "Pad",
            {"x": X, "pads": pads, "value": np.array(2.0, np.float32)},
            opset=13,
            params=["pads", "value"],
        )
    else:
        check("Pad", {"x": X, "pads": i64(0, 1, 2, 2, 0, 2, 1, 1)}, opset=13, params=["pads"], mode=mode)
    inputs = {"x": X, "pads": i64(1, 2, 3, 1), "value": np.array(0.0, np.float32), "axes": i64(-1, 1)}
    check("Pad", inputs, opset=18, params=["pads", "value", "axes"], mode=mode)


def test_pad_wrap_opset_19() -> None:
    check("Pad", {"x": X, "pads": i64(0, 0, 2, 1, 0, 0, 1, 3)}, opset=19, params=["pads"], mode="wrap")


def test_concat_with_dynamic_batch() -> None:
    y = RNG.standard_normal((2, 1, 4, 5)).astype(np.float32)
    check("Concat", {"a": X, "b": y, "c": X}, opset=13, axis=1, dynamic=["a", "b", "c"])
    check("Concat", {"a": X, "b": X}, opset=7, axis=-1)


def test_split_across_opsets() -> None:
    x = RNG.standard_normal((2, 7)).astype(np.float32)
    check("Split", {"x": x}, 2, opset=11, axis=1, split=[3, 4])
    check("Split", {"x": X}, 2, opset=11, axis=-1, split=[1, 4])
    check("Split", {"x": X}, 3, opset=11, axis=1)
    check("Split", {"x": x, "split": i64(5, 0, 2)}, 3, opset=13, params=["split"], axis=1)
    check("Split", {"x": x}, 3, opset=18, axis=1, num_outputs=3)


def test_split_uneven_before_18_is_an_error() -> None:
    x = RNG.standard_normal((2, 7)).astype(np.float32)
    with pytest.raises(OnnxImportError, match="dim 7 does not split evenly into 2 outputs"):
        dynir.import_onnx(node_model("Split", {"x": x}, 2, opset=13, axis=1))


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space_and_space_to_depth(mode: str) -> None:
    x = RNG.standard_normal((2, 8, 3, 2)).astype(np.float32)
    check("DepthToSpace", {"x": x}, opset=13, blocksize=2, mode=mode, dynamic=["x"])
    check("SpaceToDepth", {"x": RNG.standard_normal((1, 3, 4, 6)).astype(np.float32)}, opset=13, blocksize=2)


# slice / gather / scatter / topk -----------------------------------------------------------------


@pytest.mark.parametrize(
    "starts, ends, axes, steps",
    [
        ((1,), (INT64_MAX,), (1,), (2,)),
        ((0, -3), (-1, 1000), (0, 3), (1, 1)),
        ((-1,), (INT64_MIN,), (2,), (-1,)),
        ((4, 10), (0, 20), (3, 1), (-2, 1)),
    ],
)
def test_slice_v13(
    starts: tuple[int, ...], ends: tuple[int, ...], axes: tuple[int, ...], steps: tuple[int, ...]
) -> None:
    inputs = {"x": X, "starts": i64(*starts), "ends": i64(*ends), "axes": i64(*axes), "steps": i64(*steps)}
    check("Slice", inputs, opset=13, params=["starts", "ends", "axes", "steps"], dynamic=["x"])


def test_slice_without_axes_and_v1_attributes() -> None:
    check("Slice", {"x": X, "starts": i64(1, 1), "ends": i64(2, -1)}, opset=13, params=["starts", "ends"])
    check("Slice", {"x": X}, opset=9, starts=[0, 1], ends=[1, 100], axes=[3, 1])


def test_gather_negative_indices() -> None:
    idx = np.array([[0, -1], [2, 1]], np.int64)
    check("Gather", {"x": X, "i": idx}, opset=13, axis=2)
    check("Gather", {"x": X, "i": np.array(-2, np.int32)}, opset=13, axis=0)


def test_gather_on_a_shape_folds() -> None:
    shape = helper.make_node("Shape", ["x"], ["s"])
    gather = helper.make_node("Gather", ["s", "i"], ["y0"], axis=0)
    graph = helper.make_graph(
        [shape, gather],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 5])],
        [helper.make_tensor_value_info("y0", TensorProto.INT64, None)],
        [numpy_helper.from_array(i64(-1, 1), "i")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    text = main_text(dynir.import_onnx(model))
    assert "nn.gather" not in text and "dense<[5, 3]> : tensor<2xi64>" in text


def test_gather_elements_and_scatter_elements() -> None:
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    idx = np.array([[0, -1], [3, 1], [2, 2]], np.int64)
    check("GatherElements", {"x": x, "i": idx}, opset=13, axis=1)
    upd = RNG.standard_normal((3, 2)).astype(np.float32)
    unique = np.array([[0, 1], [3, -4], [2, 0]], np.int64)
    check("ScatterElements", {"x": x, "i": unique, "u": upd}, opset=13, axis=1)
    for reduction in ("add", "mul", "max", "min"):
        check("ScatterElements", {"x": x, "i": idx, "u": upd}, opset=18, axis=1, reduction=reduction)


def test_topk_across_opsets() -> None:
    x = np.array([[3, 1, 3, 2, 1], [0, 5, 5, 5, -1]], np.float32)
    check("TopK", {"x": x}, 2, opset=9, k=3)
    check("TopK", {"x": x, "k": i64(2)}, 2, opset=11, params=["k"], axis=1, largest=0)
    check("TopK", {"x": X, "k": i64(3)}, 2, opset=11, params=["k"], axis=1, dynamic=["x"])
