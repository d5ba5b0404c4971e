"""Multi-core execution of partitioned kernels.

A kernel built with ``KernelBuilder.parallel_loop`` takes two trailing ``index``
parameters ``(part, parts)`` and does share ``part`` of its outermost loop (see
``dynir.lowering.builder``). Its ABI signature records that: its last two parameters are
``index`` scalars (kernels have no other scalar parameters), so the flag survives the disk
cache with the signature (``dynir.runtime.artefact``).

Where it can, a launch goes to the machine-code pool (``dynir.runtime.native_pool``):
workers that spin in native code take a part in ~2 us. Otherwise (more than
``native_pool.MAX_ARGS`` arguments, another thread using that pool, not x86-64 Linux)
``WorkerPool`` does, in Python: part 0 on the calling thread and the others on
persistent daemon threads, each pinned to a core other than the caller's
(``sched_getcpu``); a hand-off costs ~60 us there (a futex wake of an idle vCPU, the GIL).
A call through ctypes releases the GIL, so the parts run on separate cores. Why pinned:
Linux wakes a thread on its waker's core, so an unpinned worker woken by a caller that
goes on computing sat in that core's run queue until the load balancer moved it --
measured here, half of all 2-thread calls ran at 1-thread speed. Why the caller works:
one hand-off per call instead of two. The split depends on the kernel's loop bounds
only, never on the thread count, so compiled code (and its cache key) is the same for
every ``threads=``. Small work runs once with ``(0, 1)``: a hand-off would cost more
than the work saved (``PARALLEL_MIN_ELEMENTS``).
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from dynir.backends.llvm.abi import KernelSignature, MemrefArg, ScalarArg
from dynir.diagnostics import DynirError
from dynir.runtime.native_pool import forget_pools, native_pool

PARALLEL_MIN_ELEMENTS = 1 << 15
"""Elements in a step's buffers (inputs + outputs) below which a partitioned kernel runs
on the calling thread alone: elementwise work on 32K floats takes ~10 us, a native
hand-off ~3-5 us (a Python one ~60 us). 1 << 13 measured no different on YOLO."""

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
    """Daemon worker threads, each pinned to one core and fed by its own queue; see
    module doc."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._cores = _usable_cores()
        self._queues: dict[int, queue.SimpleQueue[_Task]] = {}
        self._lock = threading.Lock()

    def _queue(self, core: int) -> queue.SimpleQueue[_Task]:
        """The worker pinned to ``core`` (a negative key: an unpinned worker), started on
        first use."""
        tasks = self._queues.get(core)
        if tasks is None:
            with self._lock:
                tasks = self._queues.get(core)
                if tasks is None:
                    tasks = queue.SimpleQueue()
                    threading.Thread(target=_work, args=(tasks, core if core >= 0 else None),
                                     name=f"dynir-worker-{core}", daemon=True).start()
                    self._queues[core] = tasks
        return tasks

    def run_parts(self, function: Callable[..., object], args: Sequence[object], parts: int) -> None:
        """``function(*args, part, parts)`` for every part; returns when all are done and
        re-raises the first failure. ``parts`` is at most ``threads``. The caller runs
        part 0 on its own core and workers pinned to other cores run the rest; without
        ``sched_getcpu`` (or cores to spare) workers run every part and the caller waits."""
        done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        here = _current_core()
        others = [c for c in self._cores if c != here][: parts - 1]
        if here is None or len(others) < parts - 1:
            targets = self._cores[:parts] if len(self._cores) >= parts else [-1 - part for part in range(parts)]
            for part, core in enumerate(targets):
                self._queue(core).put((function, (*args, part, parts), done))
            _wait(done, parts, None)
            return
        for part, core in enumerate(others, start=1):
            self._queue(core).put((function, (*args, part, parts), done))
        error: BaseException | None = None
        try:
            function(*args, 0, parts)
        except BaseException as caught:  # noqa: BLE001  (re-raised after the workers finish)
            error = caught
        _wait(done, parts - 1, error)


def _wait(done: queue.SimpleQueue[BaseException | None], count: int, error: BaseException | None) -> None:
    for _ in range(count):
        failure = done.get()
        error = error or failure
    if error is not None:
        raise error


def _current_core() -> int | None:
    """The core this thread runs on now (Linux ``sched_getcpu``, a vDSO call), or None."""
    if _SCHED_GETCPU is None:
        return None
    core = int(_SCHED_GETCPU())
    return core if core >= 0 else None


def _sched_getcpu() -> Callable[[], int] | None:
    try:
        libc = ctypes.CDLL(None)
        function = libc.sched_getcpu
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    function.argtypes = []
    return function  # type: ignore[no-any-return]


_SCHED_GETCPU = _sched_getcpu()


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


def partitioned_call(
    function: Callable[..., object], threads: int, address: int | None = None
) -> Callable[[Sequence[int], int], Any]:
    """``call(flat_args, work)``: ``function`` on ``threads`` parts when ``work`` (elements)
    is at least ``PARALLEL_MIN_ELEMENTS``, else once as part ``(0, 1)``. With the
    kernel's machine-code ``address``, parts go to the native pool (``native_pool``)
    when it can take them, else to the Python ``WorkerPool``."""
    if threads <= 1:
        return lambda flat, work: function(*flat, 0, 1)
    pool = worker_pool(threads)
    native = native_pool(_usable_cores()) if address is not None else None

    def call(flat: Sequence[int], work: int) -> object:
        if work < PARALLEL_MIN_ELEMENTS:
            return function(*flat, 0, 1)
        if native is not None and address is not None and native.run(address, flat, threads, _current_core()):
            return None
        pool.run_parts(function, flat, threads)
        return None

    return call


def _forget_pools_after_fork() -> None:
    # A forked child has none of the parent's worker threads: their queues would never
    # drain, and the native pools' mailboxes would never be answered.
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()
    forget_pools()


os.register_at_fork(after_in_child=_forget_pools_after_fork)
