"""``data_pointer`` is ``array.ctypes.data`` for every kind of ndarray the runtime passes."""

from __future__ import annotations

import numpy as np
import pytest

from dynir.runtime import pointers

BASE = np.arange(60, dtype=np.float32).reshape(3, 4, 5)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros(7, np.float32),
        np.array(3.5, np.float32),  # 0-d
        np.empty((0, 4), np.int8),
        BASE[1],  # a view with an offset
        BASE[:, 1:3],  # not contiguous
        BASE.T,
        np.frombuffer(bytearray(64), np.uint8),
        np.ones((2, 3), np.float64)[:, ::2],
    ],
)
def test_data_pointer_is_the_ctypes_address(array: np.ndarray) -> None:
    assert pointers.data_pointer(array) == array.ctypes.data


def test_the_fast_path_is_taken_on_cpython() -> None:
    assert pointers.data_pointer is pointers._fast
