"""The address of a numpy array's data, fast.

``array.ctypes.data`` builds a ``_ctypes`` helper object on every access: ~1.9 us here,
paid for every buffer of every kernel launch (YOLO: 167 launches x ~3 buffers, ~1 ms
an inference). The data pointer is the first field after ``PyObject_HEAD`` in numpy's
``PyArrayObject`` (``char *data``; numpy's public struct layout, the same in 1.x and
2.x), so it can be read at ``id(array) + PyObject_HEAD`` in ~0.2 us. The offset is checked
against ``.ctypes.data`` once at import; where it does not hold (a debug or
free-threaded interpreter, another object layout) ``data_pointer`` is the slow path.

```python
data_pointer(np.zeros(4)) == np.zeros(4).ctypes.data  # for the same array
```
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

_HEAD_BYTES = object.__basicsize__  # PyObject_HEAD: 16 on a regular 64-bit CPython


def _slow(array: np.ndarray[Any, Any]) -> int:
    return int(array.ctypes.data)


def _fast(array: np.ndarray[Any, Any]) -> int:
    return ctypes.c_void_p.from_address(id(array) + _HEAD_BYTES).value or 0


def _choose() -> Callable[[np.ndarray[Any, Any]], int]:
    if sys.implementation.name != "cpython":
        return _slow
    probes = [np.zeros(5, np.float32), np.arange(12, dtype=np.int64).reshape(3, 4)[1:], np.empty((0, 3))]
    if all(_fast(p) == p.ctypes.data for p in probes):
        return _fast
    return _slow


data_pointer: Callable[[np.ndarray[Any, Any]], int] = _choose()
"""``array.ctypes.data`` (for an ndarray; its base's memory stays alive as long as it does)."""
