"""The vecx dialect: verifiers and numpy semantics."""

import numpy as np

from dynir.dialects.vecx import Dot4Op, GatherOp, InRangeOp


def test_dot4_reference_is_unsigned_times_signed_per_group_of_four() -> None:
    rng = np.random.default_rng(0)
    lhs = rng.integers(0, 256, 64).astype(np.uint8)
    rhs = rng.integers(-128, 128, 64).astype(np.int8)
    acc = rng.integers(-1000, 1000, 16).astype(np.int32)
    got = Dot4Op.reference(acc, lhs, rhs)
    want = acc + (lhs.astype(np.int32) * rhs.astype(np.int32)).reshape(16, 4).sum(axis=1)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int32


def test_dot4_reference_wraps_like_int32() -> None:
    acc = np.full(1, 2**31 - 1, np.int32)
    got = Dot4Op.reference(acc, np.full(4, 255, np.uint8), np.full(4, 127, np.int8))
    assert got[0] == np.int32(-(2**31) + 4 * 255 * 127 - 1)


def test_gather_reference_keeps_pass_thru_where_masked() -> None:
    base = np.arange(10, dtype=np.float32)
    got = GatherOp.reference(base, np.array([9, 0, 5, 100]), np.array([True, True, True, False]), np.full(4, -1, np.float32))
    np.testing.assert_array_equal(got, [9, 0, 5, -1])


def test_in_range_reference_is_zero_to_bound() -> None:
    got = InRangeOp.reference(np.array([-1, 0, 3, 4, 5], np.int64), 4)
    np.testing.assert_array_equal(got, [False, True, True, False, False])
