"""Reusing the memory of a call's intermediate tensors: liveness-based buffer sharing
within a call, and the same buffers across calls.

Every step of a host plan writes new output buffers. Left to ``np.empty``, each large
one is fresh memory from the OS on every call (glibc returns big freed blocks), and the
first write to each page faults: on the 2-core VM this project is measured on, ~10 us a
4 KiB page, which made a 1x1 conv 5x slower inside ResNet-50 than alone. So the runtime
plans the intermediates (step outputs that are not the function's results) once per
set of shapes:

- each intermediate lives from the step that writes it to the last step that reads it;
- intermediates whose lives do not overlap share a buffer (greedy, largest first), and
  a step's outputs never share with its inputs, so kernels' ``noalias`` holds;
- the buffers come from a per-executable pool and go back to it after the call, so the
  next call writes to pages that are already mapped.

Results handed to the caller are always fresh arrays (the caller keeps them). A call
that runs while another holds the pool's buffers (threads) gets buffers of its own.

```
step 0  conv   -> t0 ────┐ buffer A
step 1  relu   -> t1 ─┐  ┘ (t0 dead after step 1)   buffer B
step 2  conv   -> t2  ┘──┐ buffer A again
step 3  add    -> y      ┘ fresh: returned to the caller
```
"""

from __future__ import annotations

import math

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Shapes = list[tuple[int, ...]]

ALIGN = 64
"""Buffer sizes are rounded up to a cache line."""

POOL_LIMIT_BYTES = 1 << 30
"""Free buffers an executable keeps at most (bytes); past it the smallest are dropped."""


@dataclass(frozen=True)
class ArenaPlan:
    """Where each step output goes: ``placement[step][output]`` is a buffer index, or
    None for a fresh array (a result of the function)."""

    sizes: tuple[int, ...]
    placement: tuple[tuple[int | None, ...], ...]

    def outputs(self, step: int, shapes: Shapes, dtypes: Sequence[np.dtype], buffers: Sequence[np.ndarray]) -> list[np.ndarray]:
        arrays: list[np.ndarray] = []
        for shape, dtype, where in zip(shapes, dtypes, self.placement[step]):
            if where is None:
                arrays.append(np.empty(shape, dtype=dtype))
            else:
                nbytes = math.prod(shape) * dtype.itemsize  # np.prod: 6 us more per output
                arrays.append(buffers[where][:nbytes].view(dtype).reshape(shape))
        return arrays


def plan_arena(
    steps_inputs: Sequence[Sequence[int]],
    steps_outputs: Sequence[Sequence[int]],
    dtypes: Sequence[Sequence[np.dtype]],
    shapes: Sequence[Shapes],
    results: Sequence[int],
) -> ArenaPlan:
    """Share buffers among the intermediates of one plan (see module doc). Slots are the
    host plan's value numbers; ``results`` are the function's result slots."""
    last_use: dict[int, int] = {}
    for index, inputs in enumerate(steps_inputs):
        for slot in inputs:
            last_use[slot] = index
    kept = set(results)
    lives: list[tuple[int, int, int, int, int]] = []  # (bytes, first, last, step, output)
    for index, (outputs, step_dtypes, step_shapes) in enumerate(zip(steps_outputs, dtypes, shapes)):
        for position, (slot, dtype, shape) in enumerate(zip(outputs, step_dtypes, step_shapes)):
            if slot in kept:
                continue
            nbytes = math.prod(shape) * np.dtype(dtype).itemsize
            lives.append((nbytes, index, last_use.get(slot, index), index, position))
    buffer_sizes: list[int] = []
    buffer_lives: list[list[tuple[int, int]]] = []
    placement = [[None] * len(outputs) for outputs in steps_outputs]
    for nbytes, first, last, index, position in sorted(lives, key=lambda life: -life[0]):
        for buffer, taken in enumerate(buffer_lives):
            if all(last < start or first > end for start, end in taken):
                break
        else:
            buffer = len(buffer_sizes)
            buffer_sizes.append(0)
            buffer_lives.append([])
        buffer_lives[buffer].append((first, last))
        buffer_sizes[buffer] = max(buffer_sizes[buffer], -(-nbytes // ALIGN) * ALIGN)
        placement[index][position] = buffer  # type: ignore[call-overload]
    return ArenaPlan(tuple(buffer_sizes), tuple(tuple(p) for p in placement))


class BufferPool:
    """Free byte buffers kept between calls; ``take`` finds the smallest free one that is
    large enough for each size (else allocates), ``give`` puts them back."""

    def __init__(self, limit_bytes: int = POOL_LIMIT_BYTES) -> None:
        self.limit_bytes = limit_bytes
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, sizes: Sequence[int]) -> list[np.ndarray]:
        if not sizes:
            return []  # a plan without intermediates: nothing to lock for
        taken: list[np.ndarray | None] = []
        with self._lock:
            for size in sizes:
                fitting = [i for i, b in enumerate(self._free) if b.nbytes >= size]
                if fitting:
                    best = min(fitting, key=lambda i: self._free[i].nbytes)
                    taken.append(self._free.pop(best))
                else:
                    taken.append(None)  # allocated below, outside the lock
        return [np.empty(size, np.uint8) if b is None else b for b, size in zip(taken, sizes)]

    def give(self, buffers: Sequence[np.ndarray]) -> None:
        if not buffers:
            return
        with self._lock:
            self._free.extend(b for b in buffers if b.nbytes)
            self._free.sort(key=lambda b: -b.nbytes)
            while sum(b.nbytes for b in self._free) > self.limit_bytes:
                self._free.pop()

    @property
    def free_bytes(self) -> int:
        return sum(b.nbytes for b in self._free)
