"""nn pooling ops and nn.resize: shape inference (static and dynamic), named errors,
and numpy semantics against straightforward loops."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects.builtin import DenseArrayBase, f64
from xdsl.utils.test_value import create_ssa_value

from dynir.dialects.nn.base import float_attr, int_attr, ints_attr, str_attr
from dynir.dialects.nn.pooling import (
    AveragePoolOp,
    GlobalAveragePoolOp,
    GlobalMaxPoolOp,
    LpPoolOp,
    MaxPoolOp,
)
from dynir.dialects.nn.resize import ResizeOp
from dynir.ir.types import shape_of, tensor_type

RNG = np.random.default_rng(1)


def value(shape, dtype="float32"):
    return create_ssa_value(tensor_type(shape, dtype))


def result_shape(op):
    return shape_of(op.results[0].type)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def floats_attr(values):
    return DenseArrayBase.from_list(f64, [float(v) for v in values])


def pool_loops(x, kernel, strides, pads, dilations, ceil_mode, kind, count_include_pad=0, p=2.0):
    """One output element at a time; windows clipped to the input (+ pads when counted)."""
    k = x.ndim - 2
    out_sp = []
    for i in range(k):
        span = dilations[i] * (kernel[i] - 1) + 1
        total = x.shape[2 + i] + pads[i] + pads[i + k] - span
        size = (-(-total // strides[i]) if ceil_mode else total // strides[i]) + 1
        if ceil_mode and (size - 1) * strides[i] >= x.shape[2 + i] + pads[i]:
            size -= 1
        out_sp.append(size)
    out = np.zeros((*x.shape[:2], *out_sp), np.float64)
    for idx in np.ndindex(*out.shape):
        pos = idx[2:]
        values, count = [], 0
        for tap in np.ndindex(*kernel):
            src = [pos[i] * strides[i] + tap[i] * dilations[i] - pads[i] for i in range(k)]
            inside_pads = all(-pads[i] <= src[i] < x.shape[2 + i] + pads[i + k] for i in range(k))
            if all(0 <= src[i] < x.shape[2 + i] for i in range(k)):
                values.append(float(x[(*idx[:2], *src)]))
                count += 1
            elif inside_pads and count_include_pad:
                count += 1
        if kind == "max":
            out[idx] = max(values)
        elif kind == "avg":
            out[idx] = sum(values) / count
        else:
            out[idx] = sum(abs(v) ** p for v in values) ** (1 / p)
    return out


POOL_CASES = [
    # x shape, kernel, strides, pads, dilations, ceil_mode
    ((1, 2, 7), [3], [2], [1, 1], [1], 0),
    ((2, 3, 6, 5), [2, 2], [2, 2], [0, 0, 0, 0], [1, 1], 0),
    ((1, 2, 7, 6), [3, 3], [2, 2], [1, 1, 1, 1], [1, 1], 0),
    ((1, 2, 6, 7), [3, 2], [2, 3], [0, 1, 1, 0], [1, 1], 1),
    ((1, 1, 8, 8), [2, 3], [1, 2], [1, 0, 0, 1], [2, 1], 1),
    ((1, 2, 4, 5, 6), [2, 2, 3], [2, 1, 2], [1, 0, 1, 0, 1, 1], [1, 1, 1], 0),
]


def pool_props(kernel, strides, pads, dilations, ceil_mode):
    return {
        "kernel_shape": ints_attr(kernel),
        "strides": ints_attr(strides),
        "pads": ints_attr(pads),
        "dilations": ints_attr(dilations),
        "ceil_mode": int_attr(ceil_mode),
    }


@pytest.mark.parametrize("x_shape, kernel, strides, pads, dilations, ceil_mode", POOL_CASES)
def test_max_pool_matches_loops(x_shape, kernel, strides, pads, dilations, ceil_mode):
    x = rand(*x_shape)
    op = MaxPoolOp.make([value(x.shape)], pool_props(kernel, strides, pads, dilations, ceil_mode))
    (got,) = op.reference(x)
    want = pool_loops(x, kernel, strides, pads, dilations, ceil_mode, "max")
    assert result_shape(op) == want.shape == got.shape
    np.testing.assert_array_equal(got, want.astype(np.float32))


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("x_shape, kernel, strides, pads, dilations, ceil_mode", POOL_CASES)
def test_average_pool_matches_loops(x_shape, kernel, strides, pads, dilations, ceil_mode, count_include_pad):
    x = rand(*x_shape)
    props = pool_props(kernel, strides, pads, dilations, ceil_mode) | {"count_include_pad": int_attr(count_include_pad)}
    op = AveragePoolOp.make([value(x.shape)], props)
    (got,) = op.reference(x)
    want = pool_loops(x, kernel, strides, pads, dilations, ceil_mode, "avg", count_include_pad)
    assert result_shape(op) == want.shape
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_lp_pool_matches_loops(p):
    x = rand(1, 2, 6, 5)
    props = pool_props([2, 3], [2, 1], [1, 0, 0, 1], [1, 1], 0) | {"p": float_attr(p)}
    op = LpPoolOp.make([value(x.shape)], props)
    (got,) = op.reference(x)
    want = pool_loops(x, [2, 3], [2, 1], [1, 0, 0, 1], [1, 1], 0, "lp", p=p)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_pool_keeps_dynamic_dims():
    op = MaxPoolOp.make([value((None, 64, None, 112))], pool_props([3, 3], [2, 2], [1, 1, 1, 1], [1, 1], 0))
    assert result_shape(op) == (None, 64, None, 56)
    op.verify()


def test_integer_max_pool_pads_with_lowest_value():
    x = -np.arange(16, dtype=np.int32).reshape(1, 1, 4, 4) - 100
    op = MaxPoolOp.make([value(x.shape, "int32")], pool_props([2, 2], [2, 2], [1, 1, 1, 1], [1, 1], 0))
    (got,) = op.reference(x)
    np.testing.assert_array_equal(got, pool_loops(x, [2, 2], [2, 2], [1, 1, 1, 1], [1, 1], 0, "max"))


@pytest.mark.parametrize(
    "x, props, message",
    [
        ((1, 2, 5, 5), {"kernel_shape": ints_attr([3])}, "kernel_shape [3] must hold 2 positive values (one per spatial dim)"),
        ((2, 5), {"kernel_shape": ints_attr([3])}, "input must have rank >= 3 (N, C, spatial...), got 2x5"),
        ((1, 2, 5, 5), {"kernel_shape": ints_attr([3, 3]), "strides": ints_attr([0, 1])}, "strides must be positive, got [0, 1]"),
        ((1, 2, 2, 5), {"kernel_shape": ints_attr([3, 3])}, "window of 3 (kernel 3, dilation 1) does not fit input size 2 with pads [0, 0]"),
    ],
)
def test_pool_rejects_bad_attributes(x, props, message):
    with pytest.raises(ValueError) as info:
        MaxPoolOp.make([value(x)], props)
    assert str(info.value) == message


def test_global_pools():
    x = rand(2, 3, 4, 5)
    for op_class, fn in ((GlobalAveragePoolOp, np.mean), (GlobalMaxPoolOp, np.max)):
        op = op_class.make([value((None, 3, None, None))])
        assert result_shape(op) == (None, 3, 1, 1)
        (got,) = op.reference(x)
        want = np.array([[[[fn(x[n, c])]] for c in range(3)] for n in range(2)])
        np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match=r"input must have rank >= 3 \(N, C, spatial...\), got 3"):
        GlobalMaxPoolOp.make([value((3,))])


# --- resize -------------------------------------------------------------------------


def resize_props(**kwargs):
    props = {}
    for name, v in kwargs.items():
        if name == "scales":
            props[name] = floats_attr(v)
        elif name == "sizes":
            props[name] = ints_attr(v)
        else:
            props[name] = str_attr(v)
    return props


def test_nearest_2x_upsampling_is_exact_repeat():
    x = rand(1, 3, 4, 5)
    props = resize_props(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor", scales=[1, 1, 2, 2])
    op = ResizeOp.make([value(x.shape)], props)
    assert result_shape(op) == (1, 3, 8, 10)
    (got,) = op.reference(x)
    np.testing.assert_array_equal(got, x.repeat(2, axis=2).repeat(2, axis=3))
    # The default half_pixel / round_prefer_floor mapping gives the same pixels at 2x.
    (default,) = ResizeOp.make([value(x.shape)], resize_props(scales=[1, 1, 2, 2])).reference(x)
    np.testing.assert_array_equal(default, got)


def test_resize_scales_keep_dynamic_dims_and_sizes_fix_them():
    op = ResizeOp.make([value((None, 256, None, 20))], resize_props(scales=[1, 1, 2, 2.5]))
    assert result_shape(op) == (None, 256, None, 50)
    op.verify()
    op = ResizeOp.make([value((None, 3, None, None))], resize_props(sizes=[1, 3, 7, 9]))
    assert result_shape(op) == (1, 3, 7, 9)
    # Output size is floor(in * scale).
    op = ResizeOp.make([value((1, 1, 5, 7))], resize_props(scales=[1, 1, 0.5, 1.5]))
    assert result_shape(op) == (1, 1, 2, 10)


def linear_loops(x, out, coords):
    """Bilinear resize of the last two dims with edge clamping, point by point."""
    h, w = x.shape[-2:]
    result = np.zeros((*x.shape[:-2], *out))
    for oy, ox in np.ndindex(*out):
        point = []
        for o, size, n_out in ((oy, h, out[0]), (ox, w, out[1])):
            scale = n_out / size
            c = (o + 0.5) / scale - 0.5 if coords == "half_pixel" else o * (size - 1) / (n_out - 1)
            point.append(min(max(c, 0.0), size - 1))
        y0, x0 = int(np.floor(point[0])), int(np.floor(point[1]))
        y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
        dy, dx = point[0] - y0, point[1] - x0
        result[..., oy, ox] = (
            x[..., y0, x0] * (1 - dy) * (1 - dx) + x[..., y0, x1] * (1 - dy) * dx
            + x[..., y1, x0] * dy * (1 - dx) + x[..., y1, x1] * dy * dx
        )
    return result


@pytest.mark.parametrize("coords", ["half_pixel", "align_corners"])
@pytest.mark.parametrize("out", [(7, 9), (3, 2)])
def test_linear_resize_matches_loops(coords, out):
    x = rand(1, 2, 4, 5)
    props = resize_props(mode="linear", coordinate_transformation_mode=coords, sizes=[1, 2, *out])
    (got,) = ResizeOp.make([value(x.shape)], props).reference(x)
    np.testing.assert_allclose(got, linear_loops(x, out, coords), rtol=1e-5, atol=1e-6)


def test_cubic_resize_keeps_constants_and_linear_ramps():
    ramp = np.tile(np.arange(8, dtype=np.float32), (1, 1, 8, 1))
    props = resize_props(mode="cubic", coordinate_transformation_mode="align_corners", sizes=[1, 1, 8, 15])
    (got,) = ResizeOp.make([value(ramp.shape)], props).reference(ramp)
    # Keys' kernel reproduces linear functions away from the edges.
    np.testing.assert_allclose(got[0, 0, 0, 2:-2], np.linspace(0, 7, 15)[2:-2], atol=1e-5)
    (flat,) = ResizeOp.make([value((1, 1, 3, 3))], resize_props(mode="cubic", scales=[1, 1, 2.5, 1.5])).reference(
        np.full((1, 1, 3, 3), 4.0, np.float32)
    )
    np.testing.assert_allclose(flat, 4.0, rtol=1e-6)


def test_tf_crop_and_resize_extrapolates_outside_roi():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    props = resize_props(mode="nearest", coordinate_transformation_mode="tf_crop_and_resize", sizes=[1, 1, 3, 3])
    props |= {"roi": floats_attr([0, 0, -0.5, 0.0, 1, 1, 1.0, 1.0]), "extrapolation_value": float_attr(-1.0)}
    (got,) = ResizeOp.make([value(x.shape)], props).reference(x)
    # Rows map to -1.5, 0.75, 3.0 (first is outside); columns to 0, 1.5, 3 (round_prefer_floor).
    np.testing.assert_array_equal(got[0, 0], [[-1, -1, -1], [4, 5, 7], [12, 13, 15]])


@pytest.mark.parametrize(
    "x, props, message",
    [
        ((1, 2, 3, 4), {}, "needs scales or sizes"),
        ((1, 2, 3, 4), resize_props(scales=[1, 2]), "scales [1.0, 2.0] must hold 4 positive values for input 1x2x3x4"),
        ((1, 2, 3, 4), resize_props(sizes=[1, 2, 0, 4]), "sizes [1, 2, 0, 4] must hold 4 positive values for input 1x2x3x4"),
        ((1, 2, 3, 4), resize_props(mode="area", scales=[1, 1, 2, 2]), "mode 'area' is not one of nearest, linear, cubic"),
        ((1, 2, 3, 4), resize_props(scales=[1, 1, 0.1, 1]), "scales [1.0, 1.0, 0.1, 1.0] give an empty output 1x2x0x4"),
    ],
)
def test_resize_rejects_bad_attributes(x, props, message):
    with pytest.raises(ValueError) as info:
        ResizeOp.make([value(x)], props)
    assert str(info.value) == message
