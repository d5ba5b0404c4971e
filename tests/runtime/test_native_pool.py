"""The machine-code worker pool: every part runs once, arguments arrive in order, sleeping
workers wake, concurrent callers and forked children stay correct."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from dynir.backends.llvm.jit import load_native
from dynir.runtime import native_pool as native
from dynir.runtime.parallel import _current_core, _usable_cores

pytestmark = pytest.mark.skipif(not native.supported(), reason="the native pool is x86-64 Linux only")

# kernel(buffer, n, part, parts): buffer[part] = 1000 * parts + part + n
_MARK_PART = """
define void @mark(i64 %buf, i64 %n, i64 %part, i64 %parts) {
  %p = inttoptr i64 %buf to ptr
  %q = getelementptr i64, ptr %p, i64 %part
  %a = mul i64 %parts, 1000
  %b = add i64 %a, %part
  %v = add i64 %b, %n
  %old = atomicrmw add ptr %q, i64 %v seq_cst
  ret void
}
"""


def _weighted_sum_kernel(count: int) -> str:
    """kernel(out, a1..a{count-1}, part, parts): out[part] = sum(k * a_k)."""
    params = ", ".join(["i64 %out"] + [f"i64 %a{k}" for k in range(1, count)] + ["i64 %part", "i64 %parts"])
    body = ["  %s0 = add i64 0, 0"]
    for k in range(1, count):
        body.append(f"  %m{k} = mul i64 %a{k}, {k}\n  %s{k} = add i64 %s{k - 1}, %m{k}")
    body.append(f"  %p = inttoptr i64 %out to ptr\n  %q = getelementptr i64, ptr %p, i64 %part\n"
                f"  store i64 %s{count - 1}, ptr %q\n  ret void")
    return "define void @weighted(" + params + ") {\n" + "\n".join(body) + "\n}\n"


@pytest.fixture(scope="module")
def pool() -> native.NativePool:
    if len(_usable_cores()) < 2:
        pytest.skip("one core: nothing to hand parts to")
    made = native.native_pool(_usable_cores())
    assert made is not None
    return made


@pytest.fixture(scope="module")
def mark() -> tuple[object, int]:
    tracker, addresses = load_native(_MARK_PART, ["mark"])
    return tracker, addresses["mark"]


def _workers(pool: native.NativePool) -> int:
    return len(pool.cores) - (1 if _current_core() in pool.cores else 0)


def test_every_part_runs_exactly_once(pool: native.NativePool, mark: tuple[object, int]) -> None:
    for parts in range(2, _workers(pool) + 2):
        for _ in range(50):
            buffer = np.zeros(parts + 1, np.int64)
            assert pool.run(mark[1], [buffer.ctypes.data, 7], parts, _current_core())
            expected = [1000 * parts + part + 7 for part in range(parts)] + [0]
            assert buffer.tolist() == expected


@pytest.mark.parametrize("count", [1, 6, 7, 20, native.MAX_ARGS])
def test_arguments_arrive_in_order(pool: native.NativePool, count: int) -> None:
    tracker, addresses = load_native(_weighted_sum_kernel(count), ["weighted"])
    out = np.zeros(2, np.int64)
    values = [int(v) for v in np.random.default_rng(count).integers(-1000, 1000, count - 1)]
    assert pool.run(addresses["weighted"], [out.ctypes.data, *values], 2, _current_core())
    expected = sum(k * v for k, v in zip(range(1, count), values))
    assert out.tolist() == [expected, expected]
    del tracker


def test_the_caller_runs_the_parts_no_worker_claims(mark: tuple[object, int]) -> None:
    absent = native.NativePool([0, 1], start_workers=False)  # workers that never run
    buffer = np.zeros(4, np.int64)
    assert absent.run(mark[1], [buffer.ctypes.data, 2], 3, None)
    assert buffer.tolist() == [3002, 3003, 3004, 0]


def test_too_many_arguments_are_refused(pool: native.NativePool, mark: tuple[object, int]) -> None:
    buffer = np.zeros(4, np.int64)
    assert not pool.run(mark[1], [buffer.ctypes.data] * (native.MAX_ARGS + 1), 2, _current_core())
    assert buffer.tolist() == [0, 0, 0, 0]


def test_sleeping_workers_wake_up(pool: native.NativePool, mark: tuple[object, int]) -> None:
    time.sleep(0.05)  # far past the spin limit: the workers sleep in futex_wait
    buffer = np.zeros(3, np.int64)
    assert pool.run(mark[1], [buffer.ctypes.data, 1], 2, _current_core())
    assert buffer.tolist() == [2001, 2002, 0]


def test_concurrent_callers_never_share_a_task(pool: native.NativePool, mark: tuple[object, int]) -> None:
    errors: list[str] = []

    def caller(seed: int) -> None:
        for i in range(300):
            buffer = np.zeros(3, np.int64)
            if not pool.run(mark[1], [buffer.ctypes.data, seed], 2, _current_core()):
                buffer[:2] = [2000 + seed, 2001 + seed]  # refused: the runtime runs it itself
            if buffer.tolist() != [2000 + seed, 2001 + seed, 0]:
                errors.append(f"thread {seed} call {i}: {buffer.tolist()}")

    threads = [threading.Thread(target=caller, args=(seed,)) for seed in (3, 5, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_pool(pool: native.NativePool, mark: tuple[object, int]) -> None:
    pid = os.fork()
    if pid == 0:  # the child: the parent's workers do not exist here
        code = 1
        try:
            child_pool = native.native_pool(_usable_cores())
            buffer = np.zeros(3, np.int64)
            ran = child_pool is not None and child_pool is not pool and child_pool.run(
                mark[1], [buffer.ctypes.data, 0], 2, _current_core())
            code = 0 if ran and buffer.tolist() == [2000, 2001, 0] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
