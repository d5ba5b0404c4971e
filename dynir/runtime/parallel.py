"""Multi-core execution of partitioned kernels.

A kernel built with ``KernelBuilder.parallel_loop`` takes two trailing ``index``
parameters ``(part, parts)`` and does share ``part`` of its outermost loop (see
``dynir.lowering.builder``). Its ABI signature records that: its last two parameters are
``index`` scalars (kernels have no other scalar parameters), so the flag survives the disk
cache with the signature (``dynir.runtime.artefact``).

``WorkerPool`` runs the parts on ``threads`` persistent daemon threads, each pinned to
its own core (round-robin over the cores this process may use); the calling thread
waits. A call through ctypes releases the GIL, so the parts run on separate cores.
Why not let the caller do part 0: Linux wakes a thread on its waker's core, so a worker
woken by a caller that goes on computing sits in that core's run queue until the load
balancer moves it -- measured here, half of all 2-thread calls then ran at 1-thread speed.
Pinned workers and a sleeping caller run in parallel every time. The split depends on the kernel's loop bounds only, never
on the thread count, so compiled code (and its cache key) is the same for every
``threads=``. Small work runs once with ``(0, 1)``: waking a thread costs more than the
work (``PARALLEL_MIN_ELEMENTS``).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from dynir.backends.llvm.abi import KernelSignature, MemrefArg, ScalarArg
from dynir.diagnostics import DynirError

PARALLEL_MIN_ELEMENTS = 1 << 15
"""Elements in a step's buffers (inputs + outputs) below which a partitioned kernel runs
on the calling thread alone. Waking a worker and waiting for it costs ~20-50 us in
Python; elementwise work on 32K floats costs about as much."""

_Task = tuple[Callable[..., object], Sequence[object], "queue.SimpleQueue[BaseException | None]"]


def default_threads() -> int:
    """The cores this process may run on (``sched_getaffinity``), else ``os.cpu_count()``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_threads(threads: object) -> int:
    """``threads=`` as given to ``dynir.compile``: ``None`` (all cores) or a positive int."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise DynirError(f"threads must be a positive integer or None, got {threads!r}")
    return threads


def is_partitioned(signature: KernelSignature) -> bool:
    """Whether a kernel takes ``(part, parts)``: memref parameters, then two ``index`` scalars."""
    args = signature.args
    return (
        len(args) >= 2
        and all(isinstance(a, ScalarArg) and a.element.name == "index" for a in args[-2:])
        and all(isinstance(a, MemrefArg) for a in args[:-2])
    )


class WorkerPool:
    """``threads`` pinned daemon threads, each with its own task queue; see module doc."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._queues: list[queue.SimpleQueue[_Task]] = []
        cores = _usable_cores()
        for index in range(threads):
            tasks: queue.SimpleQueue[_Task] = queue.SimpleQueue()
            core = cores[index % len(cores)] if cores else None
            worker = threading.Thread(target=_work, args=(tasks, core), name=f"dynir-worker-{index}", daemon=True)
            worker.start()
            self._queues.append(tasks)

    def run_parts(self, function: Callable[..., object], args: Sequence[object], parts: int) -> None:
        """``function(*args, part, parts)`` for every part, each on its worker; returns
        when all are done and re-raises the first failure. ``parts`` is at most ``threads``."""
        done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        for part in range(parts):
            self._queues[part].put((function, (*args, part, parts), done))
        error: BaseException | None = None
        for _ in range(parts):
            failure = done.get()
            error = error or failure
        if error is not None:
            raise error


def _usable_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return []


def _work(tasks: queue.SimpleQueue[_Task], core: int | None) -> None:
    if core is not None:
        try:
            os.sched_setaffinity(threading.get_native_id(), {core})
        except OSError:
            pass  # a restricted process keeps the scheduler's placement
    while True:
        function, args, done = tasks.get()
        try:
            function(*args)
        except BaseException as error:  # noqa: BLE001  (handed to the caller)
            done.put(error)
        else:
            done.put(None)


_POOLS: dict[int, WorkerPool] = {}
_POOLS_LOCK = threading.Lock()


def worker_pool(threads: int) -> WorkerPool:
    """The process's pool for ``threads`` threads (made once, kept for the process)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = WorkerPool(threads)
        return pool


def partitioned_call(function: Callable[..., object], threads: int) -> Callable[[Sequence[object], int], Any]:
    """``call(flat_args, work)``: ``function`` on ``threads`` parts when ``work`` (elements)
    is at least ``PARALLEL_MIN_ELEMENTS``, else once as part ``(0, 1)``."""
    if threads <= 1:
        return lambda flat, work: function(*flat, 0, 1)
    pool = worker_pool(threads)

    def call(flat: Sequence[object], work: int) -> object:
        if work < PARALLEL_MIN_ELEMENTS:
            return function(*flat, 0, 1)
        pool.run_parts(function, flat, threads)
        return None

    return call
