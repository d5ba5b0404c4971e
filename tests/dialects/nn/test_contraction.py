"""nn.matmul, nn.gemm, nn.conv, nn.conv_transpose: shape inference (static and dynamic),
named errors, and numpy semantics against straightforward loops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.test_value import create_ssa_value

from dynir.dialects.nn.base import float_attr, int_attr, ints_attr
from dynir.dialects.nn.contraction import ConvOp, ConvTransposeOp, GemmOp, MatmulOp
from dynir.ir.types import shape_of, tensor_type

RNG = np.random.default_rng(0)


def value(shape, dtype="float32"):
    return create_ssa_value(tensor_type(shape, dtype))


def result_shape(op):
    return shape_of(op.results[0].type)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# --- matmul -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, want",
    [
        ((2, 3), (3, 4), (2, 4)),
        ((3,), (3, 4), (4,)),
        ((2, 3), (3,), (2,)),
        ((3,), (3,), ()),
        ((5, 1, 2, 3), (4, 3, 6), (5, 4, 2, 6)),
        ((None, 4, 8), (8, 16), (None, 4, 16)),
        ((None, None, 8), (None, 8, None), (None, None, None)),
        ((2, None), (None, 7), (2, 7)),
    ],
)
def test_matmul_infers_numpy_shapes(a, b, want):
    op = MatmulOp.make([value(a), value(b)])
    assert result_shape(op) == want
    op.verify()


def test_matmul_reference_matches_loops():
    a, b = rand(2, 1, 3, 4), rand(5, 4, 2)
    (got,) = MatmulOp.make([value(a.shape), value(b.shape)]).reference(a, b)
    want = np.zeros((2, 5, 3, 2), np.float32)
    for i, j, r, c in itertools.product(range(2), range(5), range(3), range(2)):
        want[i, j, r, c] = sum(a[i, 0, r, k] * b[j, k, c] for k in range(4))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "a, b, message",
    [
        ((2, 3), (4, 5), "contraction dims differ: 2x3 @ 4x5 (3 vs 4)"),
        ((), (3,), "operand #0 must have rank >= 1, got a scalar"),
        ((2, 2, 3), (3, 3, 4), "shapes 2, 3 do not broadcast (axis 0)"),
    ],
)
def test_matmul_rejects_bad_shapes(a, b, message):
    with pytest.raises(ValueError) as info:
        MatmulOp.make([value(a), value(b)])
    assert str(info.value) == message


def test_matmul_verify_names_op_and_types():
    op = MatmulOp.create(operands=[value((2, 3)), value((3, 4))], result_types=[tensor_type((2, 5), "float32")])
    with pytest.raises(VerifyException, match=r"'nn.matmul' op result #0 has type tensor<2x5xf32>, but its operands give tensor<2x4xf32>"):
        op.verify()


# --- gemm ---------------------------------------------------------------------------


@pytest.mark.parametrize("trans_a, trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("c_shape", [(), (5,), (3, 1), (3, 5)])
def test_gemm_reference_matches_loops(trans_a, trans_b, c_shape):
    a = rand(4, 3) if trans_a else rand(3, 4)
    b = rand(5, 4) if trans_b else rand(4, 5)
    c = rand(*c_shape)
    props = {"alpha": float_attr(0.5), "beta": float_attr(2.0), "trans_a": int_attr(trans_a), "trans_b": int_attr(trans_b)}
    op = GemmOp.make([value(a.shape), value(b.shape), value(c.shape)], props)
    assert result_shape(op) == (3, 5)
    (got,) = op.reference(a, b, c)
    aa, bb = (a.T if trans_a else a), (b.T if trans_b else b)
    cc = np.broadcast_to(c, (3, 5))
    want = np.array([[0.5 * sum(aa[i, k] * bb[k, j] for k in range(4)) + 2.0 * cc[i, j] for j in range(5)] for i in range(3)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert got.dtype == np.float32


def test_gemm_keeps_dynamic_dims():
    op = GemmOp.make([value((None, 512)), value((10, 512)), value((10,))], {"trans_b": int_attr(1)})
    assert result_shape(op) == (None, 10)


@pytest.mark.parametrize(
    "shapes, props, message",
    [
        (((3, 4), (5, 6), ()), {}, "contraction dims differ: a 3x4, b 5x6 (trans_a 0, trans_b 0: 4 vs 5)"),
        (((3, 4), (4, 5), (4,)), {}, "c 4 does not broadcast to the result 3x5"),
        (((3, 4, 1), (4, 5), ()), {}, "a and b must be 2-D, got 3x4x1 and 4x5"),
    ],
)
def test_gemm_rejects_bad_shapes(shapes, props, message):
    with pytest.raises(ValueError) as info:
        GemmOp.make([value(s) for s in shapes], props)
    assert str(info.value) == message


# --- conv ---------------------------------------------------------------------------


def conv_loops(x, w, b, strides, pads, dilations, group):
    """Direct N-d convolution, one output element at a time."""
    k = x.ndim - 2
    padded = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[i + k]) for i in range(k)])
    n, c = x.shape[:2]
    m, kernel = w.shape[0], w.shape[2:]
    cg, mg = c // group, m // group
    out_sp = [(padded.shape[2 + i] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1 for i in range(k)]
    out = np.zeros((n, m, *out_sp), np.float64)
    for idx in np.ndindex(n, m, *out_sp):
        batch, oc, pos = idx[0], idx[1], idx[2:]
        g = oc // mg
        acc = float(b[oc])
        for ic in range(cg):
            for tap in np.ndindex(*kernel):
                src = tuple(pos[i] * strides[i] + tap[i] * dilations[i] for i in range(k))
                acc += padded[(batch, g * cg + ic, *src)] * w[(oc, ic, *tap)]
        out[idx] = acc
    return out


CONV_CASES = [
    # x shape, w shape, strides, pads, dilations, group
    ((2, 3, 7), (4, 3, 3), [1], [0, 0], [1], 1),
    ((1, 4, 9), (6, 2, 3), [2], [1, 2], [2], 2),
    ((2, 3, 6, 5), (4, 3, 3, 3), [1, 1], [1, 1, 1, 1], [1, 1], 1),
    ((1, 4, 8, 7), (8, 1, 3, 2), [2, 1], [1, 0, 2, 1], [1, 2], 4),
    ((1, 6, 6, 6), (6, 1, 3, 3), [2, 2], [1, 1, 1, 1], [1, 1], 6),
    ((1, 2, 4, 5, 4), (3, 2, 2, 3, 2), [1, 2, 1], [0, 1, 1, 1, 0, 0], [1, 1, 2], 1),
]


@pytest.mark.parametrize("x_shape, w_shape, strides, pads, dilations, group", CONV_CASES)
def test_conv_reference_matches_loops(x_shape, w_shape, strides, pads, dilations, group):
    x, w, b = rand(*x_shape), rand(*w_shape), rand(w_shape[0])
    props = {"strides": ints_attr(strides), "pads": ints_attr(pads), "dilations": ints_attr(dilations), "group": int_attr(group)}
    op = ConvOp.make([value(x.shape), value(w.shape), value(b.shape)], props)
    (got,) = op.reference(x, w, b)
    want = conv_loops(x, w, b, strides, pads, dilations, group)
    assert result_shape(op) == want.shape
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_conv_keeps_batch_and_spatial_dims_symbolic():
    props = {"strides": ints_attr([2, 2]), "pads": ints_attr([1, 1, 1, 1])}
    op = ConvOp.make([value((None, 3, None, 224)), value((16, 3, 3, 3)), value((16,))], props)
    assert result_shape(op) == (None, 16, None, 112)
    op.verify()


def test_conv_defaults_are_unit_strides_no_pads():
    op = ConvOp.make([value((1, 3, 8, 8)), value((4, 3, 3, 3)), value((4,))])
    assert result_shape(op) == (1, 4, 6, 6)


@pytest.mark.parametrize(
    "x, w, b, props, message",
    [
        ((1, 6, 5, 5), (4, 2, 3, 3), (4,), {"group": int_attr(2)},
         "input 1x6x5x5 has 6 channels, but weight 4x2x3x3 with group 2 takes 4"),
        ((1, 4, 5, 5), (6, 1, 3, 3), (6,), {"group": int_attr(4)},
         "weight 6x1x3x3: 6 output channels do not split into 4 groups"),
        ((1, 3, 5, 5), (4, 3, 3, 3), (3,), {}, "bias must have shape 4 (output channels), got 3"),
        ((1, 3, 5), (4, 3, 3, 3), (4,), {}, "weight 4x3x3x3 must have the rank of input 1x3x5"),
        ((3, 5), (4, 3), (4,), {}, "input must have rank >= 3 (N, C, spatial...), got 3x5"),
        ((1, 3, 5, 5), (4, 3, 3, 3), (4,), {"strides": ints_attr([1])},
         "strides has 1 values, expected 2 (one per spatial dim)"),
        ((1, 3, 5, 5), (4, 3, 3, 3), (4,), {"pads": ints_attr([1, 1])},
         "pads has 2 values, expected 4 (begins, then ends)"),
        ((1, 3, 2, 5), (4, 3, 3, 3), (4,), {},
         "window of 3 (kernel 3, dilation 1) does not fit input size 2 with pads [0, 0]"),
    ],
)
def test_conv_rejects_bad_shapes(x, w, b, props, message):
    with pytest.raises(ValueError) as info:
        ConvOp.make([value(x), value(w), value(b)], props)
    assert str(info.value) == message


def test_conv_verify_prefixes_op_name():
    op = ConvOp.create(
        operands=[value((1, 6, 5, 5)), value((4, 3, 3, 3)), value((4,))], result_types=[tensor_type((1, 4, 3, 3), "float32")]
    )
    with pytest.raises(VerifyException) as info:
        op.verify()
    assert str(info.value) == "'nn.conv' op input 1x6x5x5 has 6 channels, but weight 4x3x3x3 with group 1 takes 3"


# --- conv_transpose -----------------------------------------------------------------


def conv_transpose_loops(x, w, b, strides, pads, dilations, group, output_padding):
    k = x.ndim - 2
    n, c = x.shape[:2]
    mg, kernel = w.shape[1], w.shape[2:]
    cg = c // group
    full = [strides[i] * (x.shape[2 + i] - 1) + dilations[i] * (kernel[i] - 1) + 1 + output_padding[i] for i in range(k)]
    out = np.zeros((n, mg * group, *full), np.float64)
    for batch, ic in np.ndindex(n, c):
        g = ic // cg
        for pos in np.ndindex(*x.shape[2:]):
            for oc_in_group in range(mg):
                for tap in np.ndindex(*kernel):
                    dst = tuple(pos[i] * strides[i] + tap[i] * dilations[i] for i in range(k))
                    out[(batch, g * mg + oc_in_group, *dst)] += x[(batch, ic, *pos)] * w[(ic, oc_in_group, *tap)]
    crop = tuple(slice(pads[i], full[i] - pads[i + k]) for i in range(k))
    out = out[(slice(None), slice(None), *crop)]
    return out + b.reshape(-1, *(1,) * k)


CONV_TRANSPOSE_CASES = [
    # x, w, strides, pads, dilations, group, output_padding
    ((1, 2, 5), (2, 3, 3), [2], [0, 0], [1], 1, [1]),
    ((2, 3, 3, 4), (3, 2, 3, 3), [2, 2], [1, 1, 1, 1], [1, 1], 1, [0, 1]),
    ((1, 4, 3, 3), (4, 1, 2, 2), [1, 2], [0, 1, 1, 0], [2, 1], 2, [0, 0]),
    ((1, 2, 2, 3, 2), (2, 2, 2, 2, 2), [2, 1, 2], [0, 0, 0, 1, 0, 0], [1, 1, 1], 1, [1, 0, 0]),
]


@pytest.mark.parametrize("x_shape, w_shape, strides, pads, dilations, group, output_padding", CONV_TRANSPOSE_CASES)
def test_conv_transpose_reference_matches_loops(x_shape, w_shape, strides, pads, dilations, group, output_padding):
    x, w, b = rand(*x_shape), rand(*w_shape), rand(w_shape[1] * group)
    props = {
        "strides": ints_attr(strides),
        "pads": ints_attr(pads),
        "dilations": ints_attr(dilations),
        "group": int_attr(group),
        "output_padding": ints_attr(output_padding),
    }
    op = ConvTransposeOp.make([value(x.shape), value(w.shape), value(b.shape)], props)
    (got,) = op.reference(x, w, b)
    want = conv_transpose_loops(x, w, b, strides, pads, dilations, group, output_padding)
    assert result_shape(op) == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_conv_transpose_shapes_dynamic_and_errors():
    op = ConvTransposeOp.make(
        [value((None, 8, None, 4)), value((8, 4, 3, 3)), value((8,))],
        {"strides": ints_attr([2, 2]), "group": int_attr(2), "output_padding": ints_attr([1, 1])},
    )
    assert result_shape(op) == (None, 8, None, 10)
    with pytest.raises(ValueError) as info:
        ConvTransposeOp.make([value((1, 6, 4, 4)), value((8, 4, 3, 3)), value((4,))])
    assert str(info.value) == "input 1x6x4x4 has 6 channels, but weight 8x4x3x3 takes 8"
    with pytest.raises(ValueError) as info:
        ConvTransposeOp.make([value((1, 8, 4, 4)), value((8, 4, 3, 3)), value((8,))])
    assert str(info.value) == "bias must have shape 4 (output channels), got 8"
