"""Converters for ONNX Resize (opsets 10-19) and Upsample (7-9) into ``nn.resize``.

``roi``, ``scales`` and ``sizes`` must be known at import time; they become properties
with one value per dim (``axes`` and ``keep_aspect_ratio_policy`` are expanded here).
Resize-10 and Upsample map coordinates asymmetrically and pick nearest pixels with the
legacy ``simple`` rule (floor when enlarging, ceil when shrinking), as onnxruntime does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, f64
from xdsl.ir import Attribute, SSAValue

from dynir.dialects.nn.base import float_attr, int_attr, ints_attr, str_attr
from dynir.dialects.nn.resize import ResizeOp
from dynir.importers.onnx.registry import NodeContext, converter
from dynir.ir.types import Shape, format_shape, normalize_axis, shape_of

LEGACY_MODES = ("nearest", "linear")
ASPECT_POLICIES = ("stretch", "not_larger", "not_smaller")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def floats_attr(values: Sequence[float]) -> DenseArrayBase:
    return DenseArrayBase.from_list(f64, [float(v) for v in values])


def _legacy(ctx: NodeContext, scales: Sequence[float]) -> Sequence[SSAValue]:
    mode = ctx.attr("mode", "nearest")
    if mode not in LEGACY_MODES:
        ctx.error(f"mode '{mode}' is not supported")
    rank = len(shape_of(ctx.input_type(0)))
    if len(scales) != rank:
        ctx.error(f"scales {list(scales)} must hold {rank} values (one per dim)")
    props: dict[str, Attribute] = {
        "mode": str_attr(mode),
        "coordinate_transformation_mode": str_attr("asymmetric"),
        "nearest_mode": str_attr("simple"),
        "scales": floats_attr(scales),
    }
    return ctx.emit(ResizeOp, [ctx.input(0)], props)


@converter("Upsample", since=7)
def upsample_7(ctx: NodeContext) -> Sequence[SSAValue]:
    scales = ctx.attr("scales")
    if scales is None:
        ctx.error("scales is required")
    return _legacy(ctx, list(scales))


@converter("Upsample", since=9)
def upsample_9(ctx: NodeContext) -> Sequence[SSAValue]:
    return _legacy(ctx, [float(s) for s in ctx.require_const_input(1, "scales").reshape(-1)])


@converter("Resize", since=10)
def resize_10(ctx: NodeContext) -> Sequence[SSAValue]:
    return _legacy(ctx, [float(s) for s in ctx.require_const_input(1, "scales").reshape(-1)])


def _optional_const(ctx: NodeContext, i: int, what: str) -> np.ndarray | None:
    """Input ``i`` as a flat array; None when absent or empty; an error when not constant."""
    if not ctx.has_input(i):
        return None
    value = np.asarray(ctx.require_const_input(i, what)).reshape(-1)
    return value if value.size else None


@converter("Resize", since=11)
def resize(ctx: NodeContext) -> Sequence[SSAValue]:
    if ctx.attr("antialias", 0):
        ctx.error("antialias=1 is not supported")
    shape = shape_of(ctx.input_type(0))
    rank = len(shape)
    try:
        axes = [normalize_axis(int(a), rank) for a in ctx.attr("axes", list(range(rank)))]
    except ValueError as e:
        ctx.error(f"axes: {e}")
    if len(set(axes)) != len(axes):
        ctx.error(f"axes {ctx.attr('axes')} repeat a dim")
    coords = ctx.attr("coordinate_transformation_mode", "half_pixel")
    scales = _optional_const(ctx, 2, "scales")
    sizes = _optional_const(ctx, 3, "sizes")
    if (scales is None) == (sizes is None):
        ctx.error("exactly one of scales (input #2) and sizes (input #3) must be given")
    props = _settings(ctx, coords)
    if coords == "tf_crop_and_resize":
        roi = _optional_const(ctx, 1, "roi")
        if roi is None:
            ctx.error("coordinate_transformation_mode tf_crop_and_resize needs roi (input #1)")
        props["roi"] = floats_attr(_expand_roi(ctx, roi, axes, rank))
    if sizes is not None:
        props |= _sizes_props(ctx, shape, axes, [int(s) for s in sizes])
    elif scales is not None:
        props["scales"] = floats_attr(_expand(ctx, "scales", scales.astype(np.float64), axes, [1.0] * rank))
    return ctx.emit(ResizeOp, [ctx.input(0)], props)


def _settings(ctx: NodeContext, coords: str) -> dict[str, Attribute]:
    mode = ctx.attr("mode", "nearest")
    nearest = ctx.attr("nearest_mode", "round_prefer_floor")
    for name, value, allowed in (
        ("mode", mode, ResizeOp.MODES),
        ("coordinate_transformation_mode", coords, ResizeOp.COORDINATE_MODES),
        ("nearest_mode", nearest, NEAREST_MODES),
    ):
        if value not in allowed:
            ctx.error(f"{name} '{value}' is not supported")
    if coords == "half_pixel_symmetric" and ctx.opset < 19:
        ctx.error(f"coordinate_transformation_mode '{coords}' needs opset 19")
    props: dict[str, Attribute] = {"mode": str_attr(mode), "coordinate_transformation_mode": str_attr(coords)}
    if mode == "nearest":
        props["nearest_mode"] = str_attr(nearest)
    if mode == "cubic":
        props["cubic_coeff_a"] = float_attr(ctx.attr("cubic_coeff_a", -0.75))
        props["exclude_outside"] = int_attr(ctx.attr("exclude_outside", 0))
    if coords == "tf_crop_and_resize":
        props["extrapolation_value"] = float_attr(ctx.attr("extrapolation_value", 0.0))
    return props


def _expand(ctx: NodeContext, what: str, values: np.ndarray, axes: list[int], base: list[float]) -> list[float]:
    if len(values) != len(axes):
        ctx.error(f"{what} {values.tolist()} must hold {len(axes)} values (one per resized axis)")
    full = list(base)
    for axis, v in zip(axes, values.tolist()):
        full[axis] = v
    return full


def _expand_roi(ctx: NodeContext, roi: np.ndarray, axes: list[int], rank: int) -> list[float]:
    n = len(axes)
    if len(roi) != 2 * n:
        ctx.error(f"roi {roi.tolist()} must hold {2 * n} values (begins, then ends)")
    begins = _expand(ctx, "roi", roi[:n].astype(np.float64), axes, [0.0] * rank)
    ends = _expand(ctx, "roi", roi[n:].astype(np.float64), axes, [1.0] * rank)
    return begins + ends


def _sizes_props(ctx: NodeContext, shape: Shape, axes: list[int], sizes: list[int]) -> dict[str, Attribute]:
    """``sizes`` for every dim; with a keep-aspect-ratio policy also the common scale,
    which then drives the coordinate mapping (onnxruntime's rule)."""
    if len(sizes) != len(axes):
        ctx.error(f"sizes {sizes} must hold {len(axes)} values (one per resized axis)")
    others = [d for i, d in enumerate(shape) if i not in axes]
    if any(d is None for d in others):
        ctx.error(f"sizes cover axes {axes}, but the other dims of {format_shape(shape)} are not static")
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
    if policy not in ASPECT_POLICIES:
        ctx.error(f"keep_aspect_ratio_policy '{policy}' is not supported")
    full: list[int] = [int(d) if d is not None else 0 for d in shape]
    for axis, size in zip(axes, sizes):
        full[axis] = size
    if policy == "stretch":
        return {"sizes": ints_attr(full)}
    dims = [shape[a] for a in axes]
    static = [d for d in dims if d is not None]
    if len(static) != len(dims):
        ctx.error(f"keep_aspect_ratio_policy '{policy}' needs static resized dims, got {format_shape(shape)}")
    ratios = [np.float32(s) / np.float32(d) for s, d in zip(sizes, static)]
    scale = float(min(ratios) if policy == "not_larger" else max(ratios))
    scales = [1.0] * len(shape)
    for axis, d in zip(axes, static):
        full[axis] = int(np.floor(np.float32(scale) * np.float32(d) + np.float32(0.5)))
        scales[axis] = scale
    return {"sizes": ints_attr(full), "scales": floats_attr(scales)}
