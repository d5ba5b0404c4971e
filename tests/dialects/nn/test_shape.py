"""Shape inference, diagnostics and numpy semantics of the shape and data-movement
``nn`` ops (``shape.py``, ``layout.py``, ``indexing.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from xdsl.ir import Attribute
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.test_value import create_ssa_value

from dynir.dialects.nn.base import NNOp, float_attr, int_attr, ints_attr, str_attr
from dynir.dialects.nn.indexing import GatherElementsOp, GatherOp, ScatterElementsOp, SliceOp, TopKOp
from dynir.dialects.nn.layout import (
    ConcatOp,
    DepthToSpaceOp,
    PadOp,
    SpaceToDepthOp,
    SplitOp,
    TileOp,
    TransposeOp,
)
from dynir.dialects.nn.shape import (
    ExpandOp,
    FlattenOp,
    RangeOp,
    ReshapeOp,
    ShapeOp,
    SizeOp,
    SqueezeOp,
    UnsqueezeOp,
)
from dynir.ir.types import Shape, tensor_type

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def infer(
    op_class: type[NNOp],
    shapes: Sequence[Shape],
    props: Mapping[str, Attribute] | None = None,
    *,
    dtypes: Sequence[str] | None = None,
    num_results: int = 1,
) -> list[str]:
    """The inferred result types of ``op_class`` on operands of ``shapes``, as text."""
    dtypes = dtypes or ["float32"] * len(shapes)
    operands = [create_ssa_value(tensor_type(s, d)) for s, d in zip(shapes, dtypes)]
    op = op_class.make(operands, props, num_results=num_results)
    op.verify()
    return [str(r.type) for r in op.results]


def run(
    op_class: type[NNOp],
    arrays: Sequence[np.ndarray],
    props: Mapping[str, Attribute] | None = None,
    *,
    num_results: int = 1,
) -> list[np.ndarray]:
    """Build the op on the static types of ``arrays``, check it verifies, run its reference."""
    operands = [create_ssa_value(tensor_type(a.shape, a.dtype)) for a in arrays]
    op = op_class.make(operands, props, num_results=num_results)
    op.verify()
    outs = list(op.reference(*arrays))
    for result, out in zip(op.results, outs):
        assert str(result.type) == str(tensor_type(out.shape, out.dtype))
    return outs


def error_of(
    op_class: type[NNOp], shapes: Sequence[Shape], props: Mapping[str, Attribute], **kw: object
) -> str:
    with pytest.raises(ValueError) as info:
        infer(op_class, shapes, props, **kw)  # type: ignore[arg-type]
    return str(info.value)


RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)


# reshape / flatten ---------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, spec, want",
    [
        ((None, 128, 768), [0, 0, 12, 64], "tensor<?x128x12x64xf32>"),
        ((None, 128, 768), [-1, 768], "tensor<?x768xf32>"),
        ((None, 4, 6), [0, -1], "tensor<?x24xf32>"),
        ((2, 3, 4), [-1], "tensor<24xf32>"),
        ((2, 0, 4), [-1, 4], "tensor<0x4xf32>"),
        ((None, 3), [3, -1], "tensor<3x?xf32>"),
    ],
)
def test_reshape_infers_every_dim_it_can(shape: Shape, spec: list[int], want: str) -> None:
    assert infer(ReshapeOp, [shape], {"shape": ints_attr(spec)}) == [want]


def test_reshape_allowzero_keeps_zero() -> None:
    assert infer(ReshapeOp, [(0, 4)], {"shape": ints_attr([4, 0]), "allowzero": int_attr(1)}) == [
        "tensor<4x0xf32>"
    ]


@pytest.mark.parametrize(
    "shape, spec, message",
    [
        ((2, 3), [-1, -1], "shape [-1, -1] has more than one -1"),
        ((2, 3), [4, -1], "shape [4, -1] does not divide 2x3 evenly"),
        ((2, 3), [5], "shape [5] holds 5 elements, input 2x3 holds 6"),
        ((2, 3), [0, 0, 0], "shape [0, 0, 0] copies dim 2 of a rank-2 input"),
        ((2, 3), [-2, 3], "shape [-2, 3] has a negative dim -2"),
    ],
)
def test_reshape_errors(shape: Shape, spec: list[int], message: str) -> None:
    assert error_of(ReshapeOp, [shape], {"shape": ints_attr(spec)}) == message


def test_reshape_reference() -> None:
    (y,) = run(ReshapeOp, [X], {"shape": ints_attr([0, -1, 5])})
    np.testing.assert_array_equal(y, X.reshape(2, 12, 5))


def test_flatten() -> None:
    assert infer(FlattenOp, [(None, 64, 7, 7)], {"axis": int_attr(1)}) == ["tensor<?x3136xf32>"]
    assert infer(FlattenOp, [(None, 0, 7)], {"axis": int_attr(1)}) == ["tensor<?x0xf32>"]
    assert infer(FlattenOp, [(2, 3)], {"axis": int_attr(0)}) == ["tensor<1x6xf32>"]
    (y,) = run(FlattenOp, [X], {"axis": int_attr(-2)})
    np.testing.assert_array_equal(y, X.reshape(6, 20))
    assert error_of(FlattenOp, [(2, 3)], {"axis": int_attr(3)}) == "axis 3 out of range for rank 2"


# squeeze / unsqueeze / expand ------------------------------------------------------


def test_squeeze_and_unsqueeze() -> None:
    assert infer(SqueezeOp, [(None, 1, 64)], {"axes": ints_attr([1])}) == ["tensor<?x64xf32>"]
    assert infer(SqueezeOp, [(None, 64)], {"axes": ints_attr([0])}) == ["tensor<64xf32>"]
    assert (
        error_of(SqueezeOp, [(2, 3)], {"axes": ints_attr([1])}) == "axes [1] squeeze dim 1 of size 3 in 2x3"
    )
    assert infer(UnsqueezeOp, [(None, 64)], {"axes": ints_attr([0, -1])}) == ["tensor<1x?x64x1xf32>"]
    assert error_of(UnsqueezeOp, [(2,)], {"axes": ints_attr([0, 0])}) == "axes [0, 0] repeat an axis"
    assert error_of(UnsqueezeOp, [(2,)], {"axes": ints_attr([3])}) == "axes [3] out of range for rank 2"
    x = X[:, :1]
    (y,) = run(SqueezeOp, [x], {"axes": ints_attr([-3])})
    np.testing.assert_array_equal(y, x[:, 0])
    (z,) = run(UnsqueezeOp, [X], {"axes": ints_attr([1, 5])})
    np.testing.assert_array_equal(z, X[:, None, :, :, :, None])


def test_expand_bidirectional() -> None:
    assert infer(ExpandOp, [(None, 1)], {"shape": ints_attr([4, 1, 8])}) == ["tensor<4x?x8xf32>"]
    assert infer(ExpandOp, [(3, 1)], {"shape": ints_attr([1])}) == ["tensor<3x1xf32>"]
    assert infer(ExpandOp, [(1, 5)], {"shape": ints_attr([0, 5])}) == ["tensor<0x5xf32>"]
    assert (
        error_of(ExpandOp, [(3, 2)], {"shape": ints_attr([4, 2])})
        == "shape [4, 2] does not broadcast with 3x2"
    )
    x = RNG.standard_normal((3, 1)).astype(np.float32)
    (y,) = run(ExpandOp, [x], {"shape": ints_attr([2, 1, 6])})
    np.testing.assert_array_equal(y, np.broadcast_to(x, (2, 3, 6)))


# shape / size / range -----------------------------------------------------------------


def test_shape_and_size() -> None:
    assert infer(ShapeOp, [(None, 128, 768)]) == ["tensor<3xi64>"]
    assert infer(ShapeOp, [(None, 128, 768)], {"start": int_attr(-2)}) == ["tensor<2xi64>"]
    assert infer(ShapeOp, [(2, 3)], {"start": int_attr(5), "end": int_attr(1)}) == ["tensor<0xi64>"]
    (s,) = run(ShapeOp, [X], {"start": int_attr(1), "end": int_attr(-1)})
    np.testing.assert_array_equal(s, np.array([3, 4], np.int64))
    ids = np.zeros((3, 7), np.int64)
    (s,) = run(ShapeOp, [ids])
    assert s.dtype == np.int64 and s.tolist() == [3, 7]
    assert infer(SizeOp, [(None, 768)]) == ["tensor<i64>"]
    (n,) = run(SizeOp, [X])
    assert n.dtype == np.int64 and n.shape == () and int(n) == 120


def test_range() -> None:
    scalars = [(), (), ()]
    assert infer(RangeOp, scalars, dtypes=["int64"] * 3) == ["tensor<?xi64>"]
    assert error_of(RangeOp, [(1,), (), ()], {}) == "start must be a scalar tensor, got tensor<1xf32>"
    op = RangeOp.make([create_ssa_value(tensor_type((), np.float32)) for _ in range(3)])
    (r,) = op.reference(np.float32(1.0), np.float32(2.0), np.float32(0.25))
    np.testing.assert_array_equal(r, np.arange(1.0, 2.0, 0.25, dtype=np.float32))
    op = RangeOp.make([create_ssa_value(tensor_type((), np.int64)) for _ in range(3)])
    (r,) = op.reference(np.int64(10), np.int64(4), np.int64(-3))
    assert r.dtype == np.int64 and r.tolist() == [10, 7]


# transpose / tile / pad --------------------------------------------------------------


def test_transpose() -> None:
    perm = {"perm": ints_attr([0, 2, 1, 3])}
    assert infer(TransposeOp, [(None, 128, 12, 64)], perm) == ["tensor<?x12x128x64xf32>"]
    assert (
        error_of(TransposeOp, [(2, 3, 4)], {"perm": ints_attr([0, 2])})
        == "perm [0, 2] is not a permutation of rank 3"
    )
    (y,) = run(TransposeOp, [X], {"perm": ints_attr([3, 1, 0, 2])})
    np.testing.assert_array_equal(y, X.transpose(3, 1, 0, 2))


def test_transpose_verifier_names_the_op() -> None:
    x = create_ssa_value(tensor_type((2, 3, 4), np.float32))
    op = TransposeOp.create(
        operands=[x], properties={"perm": ints_attr([0, 2])}, result_types=[tensor_type((2, 4), np.float32)]
    )
    with pytest.raises(
        VerifyException, match=r"^'nn.transpose' op perm \[0, 2\] is not a permutation of rank 3\n"
    ):
        op.verify()


def test_tile() -> None:
    assert infer(TileOp, [(None, 4)], {"repeats": ints_attr([1, 3])}) == ["tensor<?x12xf32>"]
    assert infer(TileOp, [(None, 4)], {"repeats": ints_attr([0, 3])}) == ["tensor<0x12xf32>"]
    assert (
        error_of(TileOp, [(2, 3)], {"repeats": ints_attr([2])})
        == "repeats [2] must be 2 non-negative counts for 2x3"
    )
    (y,) = run(TileOp, [X], {"repeats": ints_attr([2, 1, 3, 1])})
    np.testing.assert_array_equal(y, np.tile(X, (2, 1, 3, 1)))


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_modes(mode: str) -> None:
    pads = [0, 1, 2, 0, 0, 2, 1, 1]
    props = {"pads": ints_attr(pads), "mode": str_attr(mode), "value": float_attr(1.5)}
    (y,) = run(PadOp, [X], props)
    widths = [(0, 0), (1, 2), (2, 1), (0, 1)]
    want = np.pad(X, widths, mode=mode, **({"constant_values": 1.5} if mode == "constant" else {}))  # type: ignore[call-overload]
    np.testing.assert_array_equal(y, want)


def test_pad_inference_and_cropping() -> None:
    props = {"pads": ints_attr([0, 0, 1, 1, 0, 0, 1, 1])}
    assert infer(PadOp, [(None, 3, 8, 8)], props) == ["tensor<?x3x10x10xf32>"]
    (y,) = run(PadOp, [X], {"pads": ints_attr([0, -1, 0, 1, 0, 0, -2, 0])})
    np.testing.assert_array_equal(y, np.pad(X[:, 1:, :2], [(0, 0), (0, 0), (0, 0), (1, 0)]))
    assert (
        error_of(PadOp, [(2, 3)], {"pads": ints_attr([1, 1])}) == "pads [1, 1] must hold 4 values for rank 2"
    )
    assert (
        error_of(PadOp, [(2, 3)], {"pads": ints_attr([0, 0, 0, -4])})
        == "pads [0, 0, 0, -4] crop dim 1 of 2x3 below 0"
    )
    bad_mode = {"pads": ints_attr([0, 0]), "mode": str_attr("mirror")}
    assert error_of(PadOp, [(2,)], bad_mode) == "mode 'mirror' is not one of constant, reflect, edge, wrap"


# concat / split ----------------------------------------------------------------------


def test_concat() -> None:
    axis1 = {"axis": int_attr(1)}
    assert infer(ConcatOp, [(None, 4), (None, 5)], axis1) == ["tensor<?x9xf32>"]
    assert infer(ConcatOp, [(None, 4), (3, None)], axis1) == ["tensor<3x?xf32>"]
    assert infer(ConcatOp, [(2, 0), (2, 3)], {"axis": int_attr(-1)}) == ["tensor<2x3xf32>"]
    assert error_of(ConcatOp, [(2, 4), (3, 4)], axis1) == "operand shapes 2x4, 3x4 differ outside axis 1"
    message = error_of(ConcatOp, [(2,), (2,)], {"axis": int_attr(0)}, dtypes=["float32", "int64"])
    assert message == "operand types do not concatenate: tensor<2xf32>, tensor<2xi64>"
    (y,) = run(ConcatOp, [X, X[:, :1]], axis1)
    np.testing.assert_array_equal(y, np.concatenate([X, X[:, :1]], axis=1))


def test_split() -> None:
    props = {"axis": int_attr(2), "sizes": ints_attr([768, 768, 768])}
    want = ["tensor<?x128x768xf32>"] * 3
    assert infer(SplitOp, [(None, 128, 2304)], props, num_results=3) == want
    equal = {"axis": int_attr(1)}
    assert infer(SplitOp, [(2, 7)], equal, num_results=3) == [
        "tensor<2x3xf32>",
        "tensor<2x3xf32>",
        "tensor<2x1xf32>",
    ]
    assert infer(SplitOp, [(2, None)], equal, num_results=2) == ["tensor<2x?xf32>"] * 2
    sizes = {"axis": int_attr(0), "sizes": ints_attr([1, 2])}
    assert error_of(SplitOp, [(4,)], sizes, num_results=2) == "sizes [1, 2] do not add up to the split dim 4"
    assert error_of(SplitOp, [(3,)], sizes, num_results=3) == "sizes [1, 2] must be 3 non-negative sizes"
    outs = run(SplitOp, [X], {"axis": int_attr(-1), "sizes": ints_attr([2, 0, 3])}, num_results=3)
    for got, want_part in zip(outs, np.split(X, [2, 2], axis=-1)):
        np.testing.assert_array_equal(got, want_part)


# depth_to_space / space_to_depth -------------------------------------------------------


def _depth_to_space_numpy(x: np.ndarray, b: int, mode: str) -> np.ndarray:
    n, c, h, w = x.shape
    if mode == "DCR":
        t = x.reshape(n, b, b, c // b**2, h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, c // b**2, b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return t.reshape(n, c // b**2, h * b, w * b)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space(mode: str) -> None:
    props = {"blocksize": int_attr(2), "mode": str_attr(mode)}
    assert infer(DepthToSpaceOp, [(None, 16, None, 8)], props) == ["tensor<?x4x?x16xf32>"]
    x = RNG.standard_normal((2, 8, 3, 2)).astype(np.float32)
    (y,) = run(DepthToSpaceOp, [x], props)
    np.testing.assert_array_equal(y, _depth_to_space_numpy(x, 2, mode))


def test_space_to_depth_inverts_dcr() -> None:
    props = {"blocksize": int_attr(2)}
    assert infer(SpaceToDepthOp, [(None, 3, 64, None)], props) == ["tensor<?x12x32x?xf32>"]
    assert error_of(SpaceToDepthOp, [(1, 3, 5, 4)], props) == "height 5 is not a multiple of blocksize 2"
    assert (
        error_of(DepthToSpaceOp, [(1, 6, 5, 4)], props) == "channels 6 are not a multiple of blocksize^2 = 4"
    )
    x = RNG.standard_normal((2, 3, 4, 6)).astype(np.float32)
    (y,) = run(SpaceToDepthOp, [x], props)
    assert y.shape == (2, 12, 2, 3)
    np.testing.assert_array_equal(_depth_to_space_numpy(y, 2, "DCR"), x)
    (z,) = run(SpaceToDepthOp, [x], {**props, "mode": str_attr("CRD")})
    np.testing.assert_array_equal(_depth_to_space_numpy(z, 2, "CRD"), x)
    assert (
        error_of(SpaceToDepthOp, [(1, 3, 4, 4)], {**props, "mode": str_attr("RDC")})
        == "mode 'RDC' is not DCR or CRD"
    )


# slice ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "starts, ends, axes, steps",
    [
        ([1], [INT64_MAX], [1], [2]),
        ([0, -3], [-1, 1000], [0, 3], [1, 1]),
        ([-1], [INT64_MIN], [2], [-1]),
        ([4], [0], [3], [-2]),
        ([10], [20], [3], [1]),
        ([3], [1], [2], [1]),
        ([-100, 2], [100, -100], [-1, -2], [3, -1]),
    ],
)
def test_slice_matches_python_slicing(
    starts: list[int], ends: list[int], axes: list[int], steps: list[int]
) -> None:
    props = {
        "starts": ints_attr(starts),
        "ends": ints_attr(ends),
        "axes": ints_attr(axes),
        "steps": ints_attr(steps),
    }
    (y,) = run(SliceOp, [X], props)
    index = [slice(None)] * 4
    for s, e, a, st in zip(starts, ends, axes, steps):
        e = None if (st < 0 and e < -X.shape[a]) else e  # Python's -big end means "through 0" too
        index[a] = slice(s, e, st)
    np.testing.assert_array_equal(y, X[tuple(index)])


def test_slice_inference() -> None:
    props = {"starts": ints_attr([1, 0]), "ends": ints_attr([INT64_MAX, 2]), "axes": ints_attr([1, 0])}
    assert infer(SliceOp, [(None, 10)], {**props, "steps": ints_attr([2, 1])}) == ["tensor<?x5xf32>"]
    assert infer(SliceOp, [(2, 0)], props) == ["tensor<2x0xf32>"]
    assert (
        error_of(SliceOp, [(4,)], {"starts": ints_attr([0]), "ends": ints_attr([4]), "steps": ints_attr([0])})
        == "steps [0] contain 0"
    )
    bad_len = {"starts": ints_attr([0]), "ends": ints_attr([4, 4])}
    assert (
        error_of(SliceOp, [(4, 4)], bad_len)
        == "starts [0], ends [4, 4], axes [0] and steps [1] differ in length"
    )


# gather / gather_elements / scatter_elements -----------------------------------------------


def test_gather() -> None:
    assert infer(
        GatherOp, [(30522, 768), (None, 128)], {"axis": int_attr(0)}, dtypes=["float32", "int64"]
    ) == ["tensor<?x128x768xf32>"]
    assert infer(GatherOp, [(3,), ()], {}, dtypes=["int64", "int64"]) == ["tensor<i64>"]
    message = error_of(GatherOp, [(3,), (2,)], {}, dtypes=["float32", "float32"])
    assert message == "indices must be an integer tensor, got tensor<2xf32>"
    idx = np.array([[0, -1], [2, 1]], np.int32)
    (y,) = run(GatherOp, [X, idx], {"axis": int_attr(2)})
    np.testing.assert_array_equal(y, np.take(X, idx % 4, axis=2))


def test_gather_elements_and_scatter_elements() -> None:
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    idx = np.array([[0, -1], [3, 1], [2, 2]], np.int64)
    (y,) = run(GatherElementsOp, [x, idx], {"axis": int_attr(1)})
    np.testing.assert_array_equal(y, np.take_along_axis(x, idx % 4, axis=1))
    assert infer(
        GatherElementsOp, [(None, 8), (None, 2)], {"axis": int_attr(1)}, dtypes=["float32", "int64"]
    ) == ["tensor<?x2xf32>"]
    upd = np.arange(6, dtype=np.float32).reshape(3, 2)
    (s,) = run(
        ScatterElementsOp, [x, np.array([[0, 1], [3, 3], [2, 0]], np.int64), upd], {"axis": int_attr(1)}
    )
    want = x.copy()
    want[0, 0], want[0, 1], want[1, 3], want[2, 2], want[2, 0] = 0, 1, 3, 4, 5
    np.testing.assert_array_equal(s, want)
    dup = np.array([[1, 1], [0, 0], [3, -1]], np.int64)
    (a,) = run(ScatterElementsOp, [x, dup, upd], {"axis": int_attr(1), "reduction": str_attr("add")})
    want = x.copy()
    want[0, 1] += 1
    want[1, 0] += 5
    want[2, 3] += 9
    np.testing.assert_allclose(a, want, rtol=1e-6)


# topk ----------------------------------------------------------------------------------------


def test_topk() -> None:
    props = {"k": int_attr(5), "axis": int_attr(-1)}
    assert infer(TopKOp, [(None, 1000)], props, num_results=2) == ["tensor<?x5xf32>", "tensor<?x5xi64>"]
    assert error_of(TopKOp, [(2, 3)], props, num_results=2) == "k 5 out of range for dim 1 of 2x3"
    x = np.array([[3, 1, 3, 2, 1], [0, 5, 5, 5, -1]], np.float32)
    values, indices = run(TopKOp, [x], {"k": int_attr(3)}, num_results=2)
    np.testing.assert_array_equal(indices, [[0, 2, 3], [1, 2, 3]])
    np.testing.assert_array_equal(values, [[3, 3, 2], [5, 5, 5]])
    values, indices = run(
        TopKOp, [x], {"k": int_attr(2), "axis": int_attr(1), "largest": int_attr(0)}, num_results=2
    )
    np.testing.assert_array_equal(indices, [[1, 4], [4, 0]])
    np.testing.assert_array_equal(values, [[1, 1], [-1, 0]])
    values, indices = run(TopKOp, [X], {"k": int_attr(2), "axis": int_attr(1)}, num_results=2)
    order = np.argsort(-X, axis=1, kind="stable")[:, :2]
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_array_equal(values, np.take_along_axis(X, order, axis=1))
