"""``nn.resize``: nearest / linear / cubic resampling of any dims, as ONNX Resize.

Level: ``nn`` (tensor, ONNX-like). The ONNX importer produces it from Resize (opsets
10-19) and Upsample with the ``scales``/``sizes``/``roi`` inputs folded into properties
(they must be known at import time) and ``axes``/``keep_aspect_ratio_policy`` expanded to
one value per dim.

Each dim is resampled on its own (the ops are separable): output index ``o`` maps to an
input coordinate by ``coordinate_transformation_mode``, computed in f32 in the order
onnxruntime uses, so nearest picks the same pixels; linear and cubic mix neighbours,
clamped to the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, cast

import numpy as np
from xdsl.dialects.builtin import (
    DenseArrayBase,
    Float32Type,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
)
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, result_def

from dynir.dialects.nn.base import NNOp, read_float, read_int, read_ints, read_str, tensor_operand_type
from dynir.ir.types import Shape, format_shape, shape_of, tensor_type

F32 = np.float32


def _read_floats(attr: DenseArrayBase | None) -> tuple[float, ...] | None:
    if attr is None:
        return None
    if not isinstance(attr.elt_type, Float64Type | Float32Type):
        raise ValueError(f"expected a float array, got {attr}")
    return tuple(float(v) for v in cast("DenseArrayBase[Float64Type]", attr).get_values())


def scaled_size(size: int, scale: float, roi_extent: float = 1.0) -> int:
    """``floor(size * roi_extent * scale)`` in f32, as onnxruntime computes it."""
    return int(np.floor(F32(size) * F32(roi_extent) * F32(scale)))


@irdl_op_definition
class ResizeOp(NNOp):
    """Resample ``input`` to new dim sizes.

    ``sizes`` gives the output dims; ``scales`` the factor per dim (output dim
    ``floor(in * scale)``). When only ``sizes`` is given the scale is ``out / in``; when
    both are, ``scales`` drives the coordinate mapping (keep-aspect-ratio resizes).
    ``roi`` (begins, then ends) is read by ``tf_crop_and_resize`` only, which writes
    ``extrapolation_value`` where the mapped coordinate falls outside the input.

    ```mlir
    %y = nn.resize %x {mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor", scales = array<f64: 1.0, 1.0, 2.0, 2.0>} : (tensor<?x256x?x?xf32>) -> tensor<?x256x?x?xf32>
    ```
    """

    name = "nn.resize"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    mode = opt_prop_def(StringAttr)
    coordinate_transformation_mode = opt_prop_def(StringAttr)
    nearest_mode = opt_prop_def(StringAttr)
    cubic_coeff_a = opt_prop_def(FloatAttr)
    exclude_outside = opt_prop_def(IntegerAttr)
    extrapolation_value = opt_prop_def(FloatAttr)
    scales = opt_prop_def(DenseArrayBase)
    sizes = opt_prop_def(DenseArrayBase)
    roi = opt_prop_def(DenseArrayBase)

    MODES: ClassVar[tuple[str, ...]] = ("nearest", "linear", "cubic")
    COORDINATE_MODES: ClassVar[tuple[str, ...]] = (
        "half_pixel",
        "half_pixel_symmetric",
        "pytorch_half_pixel",
        "align_corners",
        "asymmetric",
        "tf_half_pixel_for_nn",
        "tf_crop_and_resize",
    )
    NEAREST_MODES: ClassVar[tuple[str, ...]] = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")
    """``simple`` is the rule of Resize-10 and Upsample: floor when enlarging, ceil when shrinking."""

    def settings(self) -> tuple[str, str, str]:
        """``(mode, coordinate_transformation_mode, nearest_mode)``, validated."""
        mode = read_str(self.mode, "nearest")
        coords = read_str(self.coordinate_transformation_mode, "half_pixel")
        nearest = read_str(self.nearest_mode, "round_prefer_floor")
        for name, value, allowed in (
            ("mode", mode, self.MODES),
            ("coordinate_transformation_mode", coords, self.COORDINATE_MODES),
            ("nearest_mode", nearest, self.NEAREST_MODES),
        ):
            if value not in allowed:
                raise ValueError(f"{name} '{value}' is not one of {', '.join(allowed)}")
        return mode, coords, nearest

    def roi_bounds(self, rank: int) -> list[tuple[float, float]]:
        roi = _read_floats(self.roi)
        if roi is None:
            return [(0.0, 1.0)] * rank
        if len(roi) != 2 * rank:
            raise ValueError(f"roi has {len(roi)} values, expected {2 * rank} (begins, then ends)")
        return [(roi[i], roi[i + rank]) for i in range(rank)]

    def output_shape(self, shape: Shape) -> Shape:
        rank = len(shape)
        coords = self.settings()[1]
        scales = _read_floats(self.scales)
        if scales is not None and (len(scales) != rank or any(s <= 0 for s in scales)):
            raise ValueError(f"scales {list(scales)} must hold {rank} positive values for input {format_shape(shape)}")
        if self.sizes is not None:
            sizes = read_ints(self.sizes)
            if len(sizes) != rank or any(d < 1 for d in sizes):
                raise ValueError(f"sizes {list(sizes)} must hold {rank} positive values for input {format_shape(shape)}")
            return sizes
        if scales is None:
            raise ValueError("needs scales or sizes")
        extents = [end - begin if coords == "tf_crop_and_resize" else 1.0 for begin, end in self.roi_bounds(rank)]
        return tuple(None if d is None else scaled_size(d, s, e) for d, s, e in zip(shape, scales, extents))

    def infer_result_types(self) -> Sequence[TensorType]:
        x = tensor_operand_type(self.input)
        self.settings()
        out = self.output_shape(shape_of(x))
        if any(d == 0 for d in out):
            raise ValueError(f"scales {list(_read_floats(self.scales) or ())} give an empty output {format_shape(out)}")
        return [tensor_type(out, x.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        mode, coords, nearest = self.settings()
        out_shape = [int(d) for d in self.output_shape(tuple(x.shape)) if d is not None]
        scales = _read_floats(self.scales) or tuple(o / i for o, i in zip(out_shape, x.shape))
        a, exclude = read_float(self.cubic_coeff_a, -0.75), bool(read_int(self.exclude_outside, 0))
        result = x
        outside = np.zeros([1] * x.ndim, dtype=bool)
        for axis, (size, out, scale, roi) in enumerate(zip(x.shape, out_shape, scales, self.roi_bounds(x.ndim))):
            if size == out and scale == 1.0 and coords != "tf_crop_and_resize":
                continue
            original = map_coordinates(coords, out, size, scale, roi)
            if mode == "nearest":
                result = np.take(result, nearest_indices(original, nearest, scale, size), axis=axis)
            else:
                weights = interpolation_weights(original, size, mode, a, exclude)
                result = np.moveaxis(np.moveaxis(result, axis, -1) @ weights.T, -1, axis)
            if coords == "tf_crop_and_resize":
                shape = [1] * x.ndim
                shape[axis] = out
                outside = outside | ((original < 0) | (original > size - 1)).reshape(shape)
        if coords == "tf_crop_and_resize":
            result = np.where(outside, read_float(self.extrapolation_value, 0.0), result)
        return [np.ascontiguousarray(result, dtype=x.dtype)]


def map_coordinates(coords: str, out: int, size: int, scale: float, roi: tuple[float, float]) -> np.ndarray:
    """The input coordinate (f32) of each of the ``out`` output positions along one dim."""
    x = np.arange(out, dtype=F32)
    s, half, n_in, n_out = F32(scale), F32(0.5), F32(size), F32(out)
    if coords == "half_pixel":
        return (x + half) / s - half
    if coords == "half_pixel_symmetric":
        adjustment = n_out / (s * n_in)
        offset = n_in / F32(2) * (F32(1) - adjustment)
        return offset + (x + half) / s - half
    if coords == "pytorch_half_pixel":
        return (x + half) / s - half if out > 1 else np.zeros(out, F32)
    if coords == "align_corners":
        return x * (n_in - 1) / (n_out - 1) if out > 1 else np.zeros(out, F32)
    if coords == "asymmetric":
        return x / s
    if coords == "tf_half_pixel_for_nn":
        return (x + half) / s
    begin, end = F32(roi[0]), F32(roi[1])
    if out > 1:
        return begin * (n_in - 1) + x * (end - begin) * (n_in - 1) / (n_out - 1)
    return np.full(out, F32(0.5) * (begin + end) * (n_in - 1), F32)


def nearest_indices(original: np.ndarray, nearest: str, scale: float, size: int) -> np.ndarray:
    floor = np.floor(original)
    if nearest == "round_prefer_floor":
        index = np.where(original == floor + F32(0.5), floor, np.round(original))
    elif nearest == "round_prefer_ceil":
        index = np.where(original == floor + F32(0.5), floor + 1, np.round(original))
    elif nearest == "floor" or (nearest == "simple" and scale >= 1.0):
        index = floor
    else:
        index = np.ceil(original)
    return np.clip(index.astype(np.int64), 0, size - 1)


def cubic_coefficients(s: np.ndarray, a: float) -> np.ndarray:
    """Keys cubic-convolution weights of the 4 neighbours ``floor - 1 .. floor + 2``."""
    s = s.astype(np.float64)
    d = np.stack([s + 1, s, 1 - s, 2 - s], axis=-1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.asarray(np.where(d <= 1, near, far))


def interpolation_weights(original: np.ndarray, size: int, mode: str, a: float, exclude: bool) -> np.ndarray:
    """The (out, size) matrix that maps input rows to output rows along one dim."""
    out = original.shape[0]
    weights = np.zeros((out, size), dtype=np.float64)
    rows = np.arange(out)
    if mode == "linear":
        clamped = np.clip(original, 0, size - 1)
        low = np.minimum(clamped.astype(np.int64), size - 1)
        high = np.minimum(low + 1, size - 1)
        frac = (clamped - low).astype(np.float64)
        frac = np.where(low == high, 0.5, frac)  # at the edge both taps hit the last row
        np.add.at(weights, (rows, low), 1 - frac)
        np.add.at(weights, (rows, high), frac)
        return weights
    floor = np.floor(original)
    coefficients = cubic_coefficients(original - floor, a)
    taps = floor.astype(np.int64)[:, None] + np.arange(-1, 3)[None, :]
    if exclude:
        coefficients = np.where((taps < 0) | (taps >= size), 0.0, coefficients)
        coefficients = coefficients / coefficients.sum(axis=1, keepdims=True)
    for t in range(4):
        np.add.at(weights, (rows, np.clip(taps[:, t], 0, size - 1)), coefficients[:, t])
    return weights


OPS = [ResizeOp]
