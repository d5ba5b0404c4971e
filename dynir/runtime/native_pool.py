"""Worker threads that wait for kernels in machine code, not in Python.

Handing a kernel part to a Python worker thread (a queue, a lock, the GIL) cost ~60 us
per call here: the worker sleeps in a futex, and on a virtual machine waking an idle
vCPU is slow. Most kernels of a CNN take 50-300 us, so YOLO's 167 kernels lost ~9 ms
per inference to it. This pool is a few dozen lines of LLVM IR, JIT-compiled once per
process (x86-64 Linux):

- each worker is a Python thread that pins itself to a core and calls
  ``dynir_worker(mailbox)`` through ctypes, which releases the GIL and never returns;
- a worker spins on its mailbox's sequence number (``pause``; ``sched_yield`` every 256
  spins, so a thread that shares its core runs) for ``SPIN_LIMIT`` spins (~0.1-0.3 ms:
  the gap between two kernels of one inference is ~5-10 us), then sleeps in
  ``futex(FUTEX_WAIT)`` until the next task;
- ``dynir_run`` (one ctypes call per kernel launch) describes the job (kernel, arguments,
  parts), bumps each worker's sequence number (waking it if it sleeps), then claims parts
  from the job's counter like the workers do, and spins until no part is unfinished.

Parts are claimed, not assigned: a worker that another process keeps off its core (a
busy or shared machine) takes no part, and the caller runs them all instead of waiting
for it. With assigned parts and 1 ms of spinning, two dynir processes on two cores ran
YOLO 40x slower (each waited for its preempted worker's part, time slice after time
slice); claimed parts and short spins leave the wait only for a part already started.

A round trip costs ~4 us while workers spin. Kernels are called through
``dynir_call(fn, args, nargs, part, parts)``: partitioned kernels take only pointers and
``i64`` (memrefs, then ``(part, parts)``), which the x86-64 calling convention passes
alike, so one switch over the argument count calls any of them.

Mailbox layout, one per worker, 128 bytes (two cache lines, only its worker and the
caller touch it): ``[0]`` sequence number (i32 futex word), ``[1]`` sleeping flag,
``[2]`` stop flag, ``[3]`` the job. The job (the pool's first 128 bytes): next part to
claim, parts unfinished, fn, args, nargs, parts.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading
from collections.abc import Callable, Sequence

MAX_ARGS = 64
"""Flat arguments (pointers and sizes, without ``(part, parts)``) ``dynir_call`` accepts."""

SPIN_LIMIT = 1 << 12
"""Spins before a worker sleeps: ~0.1-0.3 ms (a ``pause`` is ~65 cycles on Zen 4)."""

_MAILBOX_BYTES = 128
_FUTEX_WAIT_PRIVATE = 128
_FUTEX_WAKE_PRIVATE = 129
_SYS_FUTEX = 202  # x86-64


def supported() -> bool:
    """Linux on x86-64: the futex syscall number and ``pause`` are those of that target."""
    return sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


def _call_function() -> str:
    cases = " ".join(f"i64 {n}, label %c{n}" for n in range(MAX_ARGS + 1))
    blocks = []
    for n in range(MAX_ARGS + 1):
        loads = "".join(
            f"  %p{n}.{i} = getelementptr i64, ptr %args, i64 {i}\n  %a{n}.{i} = load i64, ptr %p{n}.{i}\n"
            for i in range(n)
        )
        operands = ", ".join([f"i64 %a{n}.{i}" for i in range(n)] + ["i64 %part", "i64 %parts"])
        blocks.append(f"c{n}:\n{loads}  call void %fn({operands})\n  ret void\n")
    return (
        "define void @dynir_call(ptr %fn, ptr %args, i64 %nargs, i64 %part, i64 %parts) {\n"
        f"entry:\n  switch i64 %nargs, label %bad [ {cases} ]\nbad:\n  ret void\n" + "".join(blocks) + "}\n"
    )


_POOL_IR = """
declare i64 @syscall(i64, ...)
declare i32 @sched_yield()
declare void @llvm.x86.sse2.pause()

; One spin of a wait loop: pause, and every 256th spin let another thread on this core run.
define internal i64 @dynir_backoff(i64 %spins) alwaysinline {
entry:
  call void @llvm.x86.sse2.pause()
  %next = add i64 %spins, 1
  %low = and i64 %next, 255
  %yield = icmp eq i64 %low, 0
  br i1 %yield, label %give, label %done
give:
  %r = call i32 @sched_yield()
  br label %done
done:
  ret i64 %next
}

; A job (its own cache lines): [0] next part to claim, [8] parts not finished,
; [16] fn, [24] args, [32] nargs, [40] parts.
define internal void @dynir_claim(ptr %job) {
entry:
  %fn.p = getelementptr i64, ptr %job, i64 2
  %args.p = getelementptr i64, ptr %job, i64 3
  %nargs.p = getelementptr i64, ptr %job, i64 4
  %parts.p = getelementptr i64, ptr %job, i64 5
  %remaining = getelementptr i64, ptr %job, i64 1
  br label %claim
claim:
  %part = atomicrmw add ptr %job, i64 1 acq_rel
  %parts = load i64, ptr %parts.p
  %mine = icmp slt i64 %part, %parts
  br i1 %mine, label %run, label %exit
run:
  %fn = load ptr, ptr %fn.p
  %args = load ptr, ptr %args.p
  %nargs = load i64, ptr %nargs.p
  call void @dynir_call(ptr %fn, ptr %args, i64 %nargs, i64 %part, i64 %parts)
  %old = atomicrmw sub ptr %remaining, i64 1 release
  br label %claim
exit:
  ret void
}

define void @dynir_worker(ptr %mb) {
entry:
  %s0 = load atomic i32, ptr %mb acquire, align 8
  %sleeping = getelementptr i64, ptr %mb, i64 1
  %stop.p = getelementptr i64, ptr %mb, i64 2
  %job.p = getelementptr i64, ptr %mb, i64 3
  br label %idle
idle:
  %seen = phi i32 [ %s0, %entry ], [ %seen, %spin.next ], [ %seen, %woke ], [ %now, %ran ]
  %spins = phi i64 [ 0, %entry ], [ %spins1, %spin.next ], [ 0, %woke ], [ 0, %ran ]
  %now = load atomic i32, ptr %mb acquire, align 8
  %new = icmp ne i32 %now, %seen
  br i1 %new, label %task, label %spin
spin:
  %spins1 = call i64 @dynir_backoff(i64 %spins)
  %tired = icmp ugt i64 %spins1, SPIN_LIMIT
  br i1 %tired, label %sleep, label %spin.next
spin.next:
  br label %idle
sleep:
  store atomic i64 1, ptr %sleeping seq_cst, align 8
  %again = load atomic i32, ptr %mb seq_cst, align 8
  %still = icmp eq i32 %again, %seen
  br i1 %still, label %wait, label %awake
wait:
  %seen64 = zext i32 %seen to i64
  %r = call i64 (i64, ...) @syscall(i64 SYS_FUTEX, ptr %mb, i64 FUTEX_WAIT, i64 %seen64, ptr null)
  br label %awake
awake:
  store atomic i64 0, ptr %sleeping seq_cst, align 8
  br label %woke
woke:
  br label %idle
task:
  %stop = load atomic i64, ptr %stop.p acquire, align 8
  %is.stop = icmp ne i64 %stop, 0
  br i1 %is.stop, label %exit, label %run
run:
  %job = load ptr, ptr %job.p
  call void @dynir_claim(ptr %job)
  br label %ran
ran:
  br label %idle
exit:
  ret void
}

define void @dynir_run(ptr %job, ptr %mailboxes, i64 %workers, ptr %fn, ptr %args, i64 %nargs, i64 %parts) {
entry:
  %fn.p = getelementptr i64, ptr %job, i64 2
  store ptr %fn, ptr %fn.p
  %args.p = getelementptr i64, ptr %job, i64 3
  store ptr %args, ptr %args.p
  %nargs.p = getelementptr i64, ptr %job, i64 4
  store i64 %nargs, ptr %nargs.p
  %parts.p = getelementptr i64, ptr %job, i64 5
  store i64 %parts, ptr %parts.p
  %remaining = getelementptr i64, ptr %job, i64 1
  store atomic i64 %parts, ptr %remaining seq_cst, align 8
  store atomic i64 0, ptr %job seq_cst, align 8
  br label %post
post:
  %i = phi i64 [ 0, %entry ], [ %i1, %posted ]
  %more = icmp slt i64 %i, %workers
  br i1 %more, label %publish, label %mine
publish:
  %mb.p = getelementptr ptr, ptr %mailboxes, i64 %i
  %mb = load ptr, ptr %mb.p
  %job.p = getelementptr i64, ptr %mb, i64 3
  store ptr %job, ptr %job.p
  %seq = atomicrmw add ptr %mb, i32 1 seq_cst
  %sleeping.p = getelementptr i64, ptr %mb, i64 1
  %sleeping = load atomic i64, ptr %sleeping.p seq_cst, align 8
  %asleep = icmp ne i64 %sleeping, 0
  br i1 %asleep, label %wake, label %posted
wake:
  %r = call i64 (i64, ...) @syscall(i64 SYS_FUTEX, ptr %mb, i64 FUTEX_WAKE, i64 1)
  br label %posted
posted:
  %i1 = add i64 %i, 1
  br label %post
mine:
  call void @dynir_claim(ptr %job)
  br label %join
join:
  %spins = phi i64 [ 0, %mine ], [ %spins1, %join.wait ]
  %left = load atomic i64, ptr %remaining acquire, align 8
  %done = icmp eq i64 %left, 0
  br i1 %done, label %exit, label %join.wait
join.wait:
  %spins1 = call i64 @dynir_backoff(i64 %spins)
  br label %join
exit:
  ret void
}

; A whole recorded call (dynir.runtime.replay): steps of [fn, args, nargs, parts], each
; run alone (parts <= 1) or on the pool, in order.
define void @dynir_replay(ptr %job, ptr %mailboxes, i64 %workers, ptr %steps, i64 %count) {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %next ]
  %more = icmp slt i64 %i, %count
  br i1 %more, label %step, label %exit
step:
  %base = mul i64 %i, 4
  %fn.p = getelementptr i64, ptr %steps, i64 %base
  %fn = load ptr, ptr %fn.p
  %args.p = getelementptr i64, ptr %fn.p, i64 1
  %args = load ptr, ptr %args.p
  %nargs.p = getelementptr i64, ptr %fn.p, i64 2
  %nargs = load i64, ptr %nargs.p
  %parts.p = getelementptr i64, ptr %fn.p, i64 3
  %parts = load i64, ptr %parts.p
  %alone = icmp sle i64 %parts, 1
  br i1 %alone, label %direct, label %pooled
direct:
  call void @dynir_call(ptr %fn, ptr %args, i64 %nargs, i64 0, i64 1)
  br label %next
pooled:
  call void @dynir_run(ptr %job, ptr %mailboxes, i64 %workers, ptr %fn, ptr %args, i64 %nargs, i64 %parts)
  br label %next
next:
  %i1 = add i64 %i, 1
  br label %loop
exit:
  ret void
}
"""


def _module_ir() -> str:
    text = (_POOL_IR.replace("SPIN_LIMIT", str(SPIN_LIMIT)).replace("SYS_FUTEX", str(_SYS_FUTEX))
            .replace("FUTEX_WAIT", str(_FUTEX_WAIT_PRIVATE)).replace("FUTEX_WAKE", str(_FUTEX_WAKE_PRIVATE)))
    return text + _call_function()


_RUN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                        ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
_WORKER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_REPLAY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64)


class NativePool:
    """One spinning machine-code worker per core in ``cores``; ``run`` hands them parts.

    Mailboxes live in memory from ``aligned_alloc`` that is never freed: daemon workers
    still read them while the interpreter shuts down. ``start_workers=False`` makes a
    pool whose workers never come (a stand-in for workers kept off their cores)."""

    def __init__(self, cores: Sequence[int], *, start_workers: bool = True) -> None:
        from dynir.backends.llvm.jit import load_native

        self._tracker, addresses = load_native(_module_ir(), ["dynir_worker", "dynir_run", "dynir_replay"])
        self._run = _RUN(addresses["dynir_run"])
        self._replay = _REPLAY(addresses["dynir_replay"])
        self._worker = _WORKER(addresses["dynir_worker"])
        libc = ctypes.CDLL(None)
        libc.aligned_alloc.restype = ctypes.c_void_p
        libc.aligned_alloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
        self.cores = list(cores)
        block = libc.aligned_alloc(64, _MAILBOX_BYTES * (len(self.cores) + 1))
        if not block:
            raise MemoryError("dynir: cannot allocate the worker pool's mailboxes")
        ctypes.memset(block, 0, _MAILBOX_BYTES * (len(self.cores) + 1))
        self._job = block  # the first 128 bytes: the job being run (see the IR)
        self._mailboxes = {core: block + _MAILBOX_BYTES * (k + 1) for k, core in enumerate(self.cores)}
        self._lock = threading.Lock()
        self._workers: dict[tuple[int | None, int], tuple[ctypes.Array[ctypes.c_void_p], int]] = {}
        """The mailboxes (and how many) a call from a core with ``parts`` parts wakes."""
        for core, mailbox in self._mailboxes.items() if start_workers else ():
            threading.Thread(target=self._serve, args=(core, mailbox), name=f"dynir-native-{core}",
                             daemon=True).start()

    def _serve(self, core: int, mailbox: int) -> None:
        try:
            os.sched_setaffinity(threading.get_native_id(), {core})
        except OSError:
            pass  # a restricted process keeps the scheduler's placement
        self._worker(mailbox)

    def run(self, address: int, flat: Sequence[int], parts: int, caller_core: int | None) -> bool:
        """``kernel(*flat, part, parts)`` for every part, claimed by this thread and by
        workers pinned to cores other than ``caller_core``. False (nothing ran)
        when another thread is using the pool, the arguments do not fit, or there are
        too few workers: the caller then runs the kernel some other way."""
        if len(flat) > MAX_ARGS:
            return False
        args = (ctypes.c_int64 * max(1, len(flat)))(*flat)
        return self._exclusive(parts, caller_core, lambda job, workers, count: self._run(
            job, workers, count, address, args, len(flat), parts))

    def replay(self, steps: int, count: int, parts: int, caller_core: int | None) -> bool:
        """Run ``count`` recorded steps (``dynir.runtime.replay``: at address ``steps``,
        ``[fn, args, nargs, parts]`` each, ``parts`` at most ``parts``) in one call; False
        (nothing ran) when ``run`` would say False."""
        return self._exclusive(parts, caller_core, lambda job, workers, workers_count: self._replay(
            job, workers, workers_count, steps, count))

    def _exclusive(self, parts: int, caller_core: int | None, call: Callable[[int, object, int], None]) -> bool:
        """``call(job, mailboxes, count)`` holding the pool, with the workers that a call
        from ``caller_core`` in ``parts`` parts wakes; False when they are too few or
        another thread holds the pool."""
        found = self._workers.get((caller_core, parts))
        if found is None:
            chosen = [mb for core, mb in self._mailboxes.items() if core != caller_core][: parts - 1]
            found = self._workers[(caller_core, parts)] = ((ctypes.c_void_p * max(1, len(chosen)))(*chosen),
                                                           len(chosen))
        workers, count = found
        if count < parts - 1 or not self._lock.acquire(blocking=False):
            return False
        try:
            call(self._job, workers, count)
        finally:
            self._lock.release()
        return True


_POOLS: dict[tuple[int, ...], NativePool] = {}
_POOLS_LOCK = threading.Lock()


def native_pool(cores: Sequence[int]) -> NativePool | None:
    """The process's pool over ``cores`` (made on first use), or None off x86-64 Linux."""
    if not supported() or not cores:
        return None
    key = tuple(cores)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = NativePool(cores)
        return pool


def forget_pools() -> None:
    """Drop every pool: in a forked child (``parallel`` registers this at fork), which has
    none of the parent's threads, a pool would wait forever for its workers."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()
