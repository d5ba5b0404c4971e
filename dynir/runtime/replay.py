"""Replaying a call in machine code: every kernel of a static call from one ctypes call.

``Executable.run`` launches each step from Python: the output views, the data pointers
and the launch cost ~3-6 us a step, which for YOLO's ~150 kernels is ~0.5-1 ms a call
(7-10% at int8 speed). Where every step of an executable's static plan is a JIT kernel,
the call is *recorded* once: each step's flat arguments (buffer pointers, dynamic
sizes) go into one ``int64`` array and each step into a table row
``[fn, args, nargs, parts]``, which the native pool's ``dynir_replay`` walks, running
each kernel alone or in parts on the pool (``dynir.runtime.native_pool``). A call then
only writes its inputs' and fresh results' pointers into the argument array.

```
recorded once                          every call
  args = [x*, w*, t0*, | t0*, t1*, |..]  args[x positions] = &input; args[y positions] = &np.empty(...)
  steps = [conv, &args[0], 3, 2]         dynir_replay(job, workers, steps, 147)
          [relu, &args[3], 2, 1] ...
```

The recording owns the intermediates' buffers (taken from the executable's pool for
good), so the pointers stay valid. A call that finds the recording in use (another
thread) or the pool busy runs the Python loop instead.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dynir.runtime.native_pool import MAX_ARGS, NativePool, native_pool
from dynir.runtime.parallel import PARALLEL_MIN_ELEMENTS, _current_core, _usable_cores, is_partitioned
from dynir.runtime.pointers import data_pointer

if TYPE_CHECKING:
    from dynir.runtime.executable import CallPlan, Executable

_GENERATION = 0
"""Bumped in a forked child: its recordings name the parent's pool, whose workers it lacks."""


def _after_fork_in_child() -> None:
    global _GENERATION
    _GENERATION += 1


os.register_at_fork(after_in_child=_after_fork_in_child)

ENABLED = os.environ.get("DYNIR_REPLAY", "1") != "0"
"""Record static calls (``DYNIR_REPLAY=0``: always the Python loop, e.g. to compare)."""

_ROW = 4
"""Table row: fn, args pointer, nargs, parts."""


@dataclass(frozen=True)
class _Input:
    index: int


@dataclass(frozen=True)
class _Result:
    index: int


Value = _Input | _Result | np.ndarray
"""A slot while recording: the k-th input, the j-th fresh result, or a fixed array."""


@dataclass
class Replay:
    """A recorded call (see module doc); ``run`` returns None where it cannot run."""

    pool: NativePool
    parts: int
    table: Any
    count: int
    args: Any
    input_positions: list[np.ndarray]
    results: list[tuple[tuple[int, ...], np.dtype, np.ndarray]]
    """Per fresh result: shape, dtype, positions of its pointer in ``args``."""
    returned: list[Value]
    keep: list[np.ndarray]
    """Arrays whose pointers ``args`` holds (buffers, contiguous constants)."""
    input_shapes: list[tuple[int, ...]]
    """The inputs' shapes it was recorded with (a static plan may have symbolic inputs
    whose sizes the kernels take as arguments): other shapes run the Python loop."""

    def __post_init__(self) -> None:
        self._flat = np.frombuffer(self.args, dtype=np.int64)
        self._lock = threading.Lock()
        self._generation = _GENERATION

    @property
    def stale(self) -> bool:
        """Recorded before this process forked (record again, on this process's pool)."""
        return self._generation != _GENERATION

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray] | None:
        if [a.shape for a in arrays] != self.input_shapes or not self._lock.acquire(blocking=False):
            return None
        try:
            held = [a if a.flags.c_contiguous else np.ascontiguousarray(a) for a in arrays]
            for positions, array in zip(self.input_positions, held):
                self._flat[positions] = data_pointer(array)
            fresh = [np.empty(shape, dtype=dtype) for shape, dtype, _ in self.results]
            for (_, _, positions), array in zip(self.results, fresh):
                self._flat[positions] = data_pointer(array)
            if not self.pool.replay(ctypes.addressof(self.table), self.count, self.parts, _current_core()):
                return None
            return [_resolve(v, arrays, fresh) for v in self.returned]
        finally:
            self._lock.release()


def _resolve(value: Value, arrays: Sequence[np.ndarray], fresh: list[np.ndarray]) -> np.ndarray:
    if isinstance(value, _Input):
        return arrays[value.index]
    if isinstance(value, _Result):
        return fresh[value.index]
    return value


def record(executable: Executable, plan: CallPlan, arrays: Sequence[np.ndarray], threads: int) -> Replay | None:
    """The replay of ``executable`` under ``plan`` (inputs shaped like ``arrays``), or
    None where some step is not a JIT kernel taking only buffers and sizes, or there is
    no native pool."""
    pool = native_pool(_usable_cores())
    if pool is None:
        return None
    codes = [_machine_code(step.kernel) for step in executable.steps]
    if any(code is None for code in codes):
        return None
    buffers = executable.buffer_pool.take(plan.arena.sizes)
    slots: list[Value | None] = list(executable.template)
    keep: list[np.ndarray] = list(buffers)
    for k, slot in enumerate(executable.input_slots):
        slots[slot] = _Input(k)
    input_positions: list[list[int]] = [[] for _ in arrays]
    results: list[tuple[tuple[int, ...], np.dtype, list[int]]] = []
    flat: list[int] = []
    rows: list[tuple[int, int, int, int]] = []
    for index, (step, shapes, code) in enumerate(zip(executable.steps, plan.shapes, codes)):
        assert code is not None
        address, dynamic, partitioned = code
        outs: list[Value] = []
        for shape, dtype, where in zip(shapes, step.output_dtypes, plan.arena.placement[index]):
            if where is None:
                outs.append(_Result(len(results)))
                results.append((tuple(shape), dtype, []))
            else:
                outs.append(buffers[where][: math.prod(shape) * dtype.itemsize].view(dtype).reshape(shape))
        operands: list[Value] = [slots[i] for i in step.inputs] + outs  # type: ignore[misc]
        start, work = len(flat), 0
        for value, dims in zip(operands, dynamic):
            shape = _shape(value, arrays, results)
            if isinstance(value, _Input):
                input_positions[value.index].append(len(flat))
            elif isinstance(value, _Result):
                results[value.index][2].append(len(flat))
            else:
                if not value.flags.c_contiguous:
                    value = np.ascontiguousarray(value)
                    keep.append(value)
            flat.append(data_pointer(value) if isinstance(value, np.ndarray) else 0)
            flat.extend(shape[d] for d in dims)
            work += math.prod(shape)
        if len(flat) - start > MAX_ARGS:
            executable.buffer_pool.give(buffers)
            return None
        parts = threads if partitioned and threads > 1 and work >= PARALLEL_MIN_ELEMENTS else 1
        rows.append((address, start, len(flat) - start, parts))
        for slot, out in zip(step.outputs, outs):
            slots[slot] = out
    args = (ctypes.c_int64 * max(1, len(flat)))(*flat)
    base = ctypes.addressof(args)
    table = (ctypes.c_int64 * max(1, _ROW * len(rows)))(
        *[field for fn, start, nargs, parts in rows for field in (fn, base + 8 * start, nargs, parts)])
    returned = [slots[i] for i in executable.output_slots]
    return Replay(pool, max(r[3] for r in rows) if rows else 1, table, len(rows), args,
                  [np.array(p, dtype=np.intp) for p in input_positions],
                  [(shape, dtype, np.array(p, dtype=np.intp)) for shape, dtype, p in results],
                  returned, keep, [a.shape for a in arrays])  # type: ignore[arg-type]


def _shape(value: Value, arrays: Sequence[np.ndarray], results: list[tuple[tuple[int, ...], np.dtype, list[int]]]) -> tuple[int, ...]:
    if isinstance(value, _Input):
        return tuple(arrays[value.index].shape)
    if isinstance(value, _Result):
        return results[value.index][0]
    return tuple(value.shape)


def _machine_code(kernel: object) -> tuple[int, list[tuple[int, ...]], bool] | None:
    """(address, dynamic dims of each buffer argument, partitioned) of a JIT kernel whose
    arguments are buffers (and ``(part, parts)``); None for anything else."""
    from dynir.backends.llvm.abi import MemrefArg

    inner = getattr(kernel, "kernel", kernel)  # a partitioned kernel run whole
    address, signature = getattr(inner, "address", None), getattr(inner, "signature", None)
    if address is None or signature is None or signature.results:
        return None
    partitioned = is_partitioned(signature)
    buffers = signature.args[:-2] if partitioned else signature.args
    if not all(isinstance(arg, MemrefArg) for arg in buffers):
        return None
    return address, [arg.dynamic_dims for arg in buffers], partitioned
