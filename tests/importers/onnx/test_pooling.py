"""ONNX pooling ops, Resize and Upsample: one node per model, imported and run by the
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

RNG = np.random.default_rng(11)


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def node_model(
    op_type: str,
    x: np.ndarray,
    params: Mapping[str, np.ndarray] | None = None,
    *,
    order: Sequence[str] | None = None,
    outputs: Sequence[str] = ("y",),
    opset: int = 17,
    dynamic: Sequence[int] = (),
    **attrs: object,
) -> onnx.ModelProto:
    """One ``op_type`` node over graph input ``x`` (dims in ``dynamic`` symbolic) and
    initializers ``params``; ``order`` names the node's inputs ("" = absent)."""
    dims: list[int | str] = list(x.shape)
    for axis in dynamic:
        dims[axis] = f"d{axis}"
    params = dict(params or {})
    names = list(order) if order is not None else ["x", *params]
    node = helper.make_node(op_type, names, list(outputs), name="n0", **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(array, name) for name, array in params.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def check(model: onnx.ModelProto, x: np.ndarray, *, exact: bool = False) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (want,) = session.run(None, {"x": x})
    module = dynir.import_onnx(model)
    module.verify()
    (got,) = dynir.interpret(module, x)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    return got


def result_shape(model: onnx.ModelProto):
    main = next(iter(dynir.import_onnx(model).ops))
    return shape_of(main.function_type.outputs.data[0])  # type: ignore[attr-defined]


def import_error(model: onnx.ModelProto) -> str:
    with pytest.raises(OnnxImportError) as info:
        dynir.import_onnx(model)
    return str(info.value)


# --- window pools -------------------------------------------------------------------

POOL_CASES = [
    # x, attrs
    ((1, 2, 9), {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}),
    ((2, 3, 8, 7), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ((1, 2, 9, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 2, 9, 8), {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [1, 0, 0, 1], "ceil_mode": 1}),
    ((1, 2, 6, 7), {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 2, 8, 8), {"kernel_shape": [3, 3], "strides": [1, 1], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 8, 9), {"kernel_shape": [2, 4], "strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 8, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "VALID"}),
    ((1, 2, 4, 5, 6), {"kernel_shape": [2, 2, 3], "strides": [2, 1, 2], "pads": [1, 0, 1, 0, 1, 1]}),
]


@pytest.mark.parametrize("x_shape, attrs", POOL_CASES)
def test_max_pool_matches_onnxruntime(x_shape, attrs):
    x = rand(*x_shape)
    check(node_model("MaxPool", x, **attrs), x, exact=True)


@pytest.mark.parametrize("dilations", [[2, 1], [2, 3]])
def test_max_pool_dilated(dilations):
    x = rand(1, 2, 10, 11)
    check(node_model("MaxPool", x, kernel_shape=[3, 2], strides=[1, 2], pads=[1, 1, 1, 0], dilations=dilations), x)


@pytest.mark.parametrize("opset", [7, 8, 10, 12])
def test_max_pool_across_opsets_with_dynamic_dims(opset):
    x = rand(2, 3, 9, 9)
    model = node_model("MaxPool", x, opset=opset, dynamic=(0, 2, 3), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    assert result_shape(model) == (None, 3, None, None)
    check(model, x, exact=True)


def test_max_pool_indices_output_is_rejected():
    x = rand(1, 1, 4, 4)
    model = node_model("MaxPool", x, outputs=("y", "idx"), kernel_shape=[2, 2])
    assert "node 'n0' (MaxPool, opset 17): the Indices output (#1) is not supported" in import_error(model)


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("x_shape, attrs", POOL_CASES)
def test_average_pool_matches_onnxruntime(x_shape, attrs, count_include_pad):
    x = rand(*x_shape)
    check(node_model("AveragePool", x, count_include_pad=count_include_pad, **attrs), x)


def test_average_pool_dilated_opset19():
    x = rand(1, 2, 9, 10)
    model = node_model("AveragePool", x, opset=19, kernel_shape=[2, 3], dilations=[2, 2], pads=[1, 1, 1, 1])
    check(model, x)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool_matches_onnxruntime(p):
    x = rand(1, 3, 7, 8)
    check(node_model("LpPool", x, p=p, kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 0]), x)
    check(node_model("GlobalLpPool", x, p=p), x)


@pytest.mark.parametrize("op_type", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("x_shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 4, 5)])
def test_global_pools(op_type, x_shape):
    x = rand(*x_shape)
    model = node_model(op_type, x, dynamic=(0, 2))
    assert result_shape(model) == (None, x_shape[1], *(1,) * (len(x_shape) - 2))
    check(model, x)


def test_pool_errors():
    x = rand(1, 2, 8, 8)
    same = node_model("MaxPool", x, dynamic=(3,), kernel_shape=[3, 3], auto_pad="SAME_UPPER")
    assert "auto_pad SAME_UPPER needs static spatial dims, but the input's are 8x?" in import_error(same)
    assert "kernel_shape [3] does not fit input 1x2x8x8 (N, C, spatial...)" in import_error(node_model("AveragePool", x, kernel_shape=[3]))
    assert "kernel_shape is required" in import_error(node_model("MaxPool", x))


# --- Resize / Upsample --------------------------------------------------------------

NO_ROI = np.zeros(0, np.float32)


def resize_model(x, *, scales=None, sizes=None, roi=None, opset=13, dynamic=(), **attrs):
    params: dict[str, np.ndarray] = {}
    order = ["x", "", "", ""]
    if roi is not None:
        params["roi"], order[1] = np.asarray(roi, np.float32), "roi"
    if scales is not None:
        params["scales"], order[2] = np.asarray(scales, np.float32), "scales"
    if sizes is not None:
        params["sizes"], order[3] = np.asarray(sizes, np.int64), "sizes"
    if opset == 11:  # roi and scales are required inputs at opset 11
        params.setdefault("roi", NO_ROI)
        params.setdefault("scales", np.zeros(0, np.float32))
        order[1], order[2] = "roi", "scales"
    while order[-1] == "":
        order.pop()
    return node_model("Resize", x, params, order=order, opset=opset, dynamic=dynamic, **attrs)


def test_yolo_nearest_2x_upsampling_is_exact_with_dynamic_dims():
    x = rand(2, 8, 5, 7)
    for attrs in ({}, {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}):
        model = resize_model(x, scales=[1, 1, 2, 2], dynamic=(0, 2, 3), mode="nearest", **attrs)
        assert result_shape(model) == (None, 8, None, None)
        got = check(model, x, exact=True)
        np.testing.assert_array_equal(got, x.repeat(2, axis=2).repeat(2, axis=3))


COORDINATE_MODES = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"]
NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
SCALES = [[1, 1, 2, 3], [1, 1, 1.5, 0.6], [1, 1, 0.5, 1.75]]


@pytest.mark.parametrize("scales", SCALES)
@pytest.mark.parametrize("nearest_mode", NEAREST_MODES)
@pytest.mark.parametrize("coords", COORDINATE_MODES)
def test_resize_nearest(coords, nearest_mode, scales):
    x = rand(1, 2, 6, 5)
    model = resize_model(x, scales=scales, mode="nearest", coordinate_transformation_mode=coords, nearest_mode=nearest_mode)
    check(model, x, exact=True)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("coords", COORDINATE_MODES)
@pytest.mark.parametrize("scales", SCALES)
def test_resize_linear_and_cubic_scales(mode, coords, scales):
    if coords == "tf_half_pixel_for_nn":
        coords = "half_pixel"  # nearest-only mode in onnxruntime
    x = rand(1, 2, 6, 5)
    check(resize_model(x, scales=scales, mode=mode, coordinate_transformation_mode=coords), x)


@pytest.mark.parametrize("sizes", [[1, 2, 9, 4], [1, 2, 3, 11], [1, 2, 1, 1]])
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("opset", [11, 13])
def test_resize_sizes(sizes, mode, opset):
    x = rand(1, 2, 6, 5)
    model = resize_model(x, sizes=sizes, opset=opset, mode=mode, dynamic=(0, 2, 3))
    assert result_shape(model) == tuple(sizes)
    check(model, x)


@pytest.mark.parametrize("a, exclude", [(-0.75, 0), (-0.5, 1), (-0.6, 1)])
def test_resize_cubic_coefficients(a, exclude):
    x = rand(1, 1, 7, 6)
    model = resize_model(x, scales=[1, 1, 1.7, 0.8], mode="cubic", cubic_coeff_a=a, exclude_outside=exclude)
    check(model, x)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_tf_crop_and_resize(mode):
    x = rand(1, 2, 6, 7)
    roi = [0, 0, 0.2, -0.1, 1, 1, 0.9, 1.2]
    model = resize_model(
        x, sizes=[1, 2, 5, 8], roi=roi, mode=mode, coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-3.0
    )
    check(model, x)


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
def test_resize_opset18_axes_and_aspect_ratio(policy):
    x = rand(1, 2, 6, 5)
    model = resize_model(x, sizes=[9, 13], opset=18, axes=[2, 3], mode="linear", keep_aspect_ratio_policy=policy)
    check(model, x)
    model = resize_model(x, scales=[2.5, 1.5], opset=18, axes=[-1, 2], mode="nearest")
    check(model, x, exact=True)


def test_resize_opset19_half_pixel_symmetric():
    x = rand(1, 2, 6, 5)
    for mode in ("nearest", "linear"):
        model = resize_model(x, scales=[1, 1, 1.5, 0.6], opset=19, mode=mode, coordinate_transformation_mode="half_pixel_symmetric")
        check(model, x)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [[1, 1, 2, 2], [1, 1, 1.5, 3], [1, 1, 0.5, 0.7]])
def test_resize10_and_upsample(mode, scales):
    x = rand(1, 2, 6, 5)
    params = {"scales": np.asarray(scales, np.float32)}
    check(node_model("Resize", x, params, opset=10, mode=mode), x)
    if min(scales) >= 1:  # Upsample only enlarges
        check(node_model("Upsample", x, params, opset=9, mode=mode), x)
        check(node_model("Upsample", x, opset=7, mode=mode, scales=[float(s) for s in scales]), x)


def test_resize_errors():
    x = rand(1, 2, 4, 4)
    prefix = "node 'n0' (Resize, opset 18): "
    assert prefix + "antialias=1 is not supported" in import_error(resize_model(x, scales=[1, 1, 2, 2], opset=18, antialias=1))
    assert "mode 'area' is not supported" in import_error(resize_model(x, scales=[1, 1, 2, 2], mode="area"))
    assert "nearest_mode 'simple' is not supported" in import_error(resize_model(x, scales=[1, 1, 2, 2], nearest_mode="simple"))
    both = resize_model(x, scales=[1, 1, 2, 2], sizes=[1, 2, 8, 8])
    assert "exactly one of scales (input #2) and sizes (input #3) must be given" in import_error(both)
    short = resize_model(x, scales=[2, 2])
    assert "scales [2.0, 2.0] must hold 4 values (one per resized axis)" in import_error(short)
    crop = resize_model(x, scales=[1, 1, 2, 2], coordinate_transformation_mode="tf_crop_and_resize")
    assert "coordinate_transformation_mode tf_crop_and_resize needs roi (input #1)" in import_error(crop)


def test_resize_scales_must_be_constant():
    x = rand(1, 2, 4, 4)
    node = helper.make_node("Resize", ["x", "", "s"], ["y"], name="n0")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape)), helper.make_tensor_value_info("s", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    assert "node 'n0' (Resize, opset 13): scales (input #2) must be known at import time" in import_error(model)
