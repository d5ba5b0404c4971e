"""Intermediate buffers: shared by liveness within a call, reused across calls, never
handed to the caller (``dynir.runtime.arena``)."""

from __future__ import annotations

import resource
import threading

import numpy as np

import dynir
from dynir.runtime.arena import BufferPool, plan_arena

F32 = np.dtype(np.float32)


def test_intermediates_with_disjoint_lives_share_a_buffer() -> None:
    # x -> s0 -> t0 ; t0 -> s1 -> t1 ; t1 -> s2 -> t2 ; (t2, t1) -> s3 -> y
    plan = plan_arena(
        steps_inputs=[[0], [1], [2], [3, 2]],
        steps_outputs=[[1], [2], [3], [4]],
        dtypes=[[F32]] * 4,
        shapes=[[(100,)], [(50,)], [(100,)], [(100,)]],
        results=[4],
    )
    t0, t1, t2, y = (p[0] for p in plan.placement)
    assert y is None  # the result is a fresh array
    assert t0 == t2 != t1  # t0 dies at step 1, t2 is born at step 2; t1 lives until step 3
    assert sorted(plan.sizes) == [256, 448]  # rounded up to 64 bytes


def test_a_steps_outputs_never_share_its_inputs_buffer() -> None:
    plan = plan_arena([[0], [1], [2]], [[1], [2], [3]], [[F32]] * 3, [[(16,)], [(16,)], [(16,)]], results=[3])
    assert plan.placement[0][0] != plan.placement[1][0]


MODULE = """
func.func @main(%x: tensor<?x256xf32>) -> (tensor<?x256xf32>, tensor<?x256xf32>) {
  %a = nn.exp %x : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %b = nn.mul %a, %x : (tensor<?x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
  %c = nn.tanh %b : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %d = nn.add %c, %a : (tensor<?x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
  %e = nn.sub %d, %b : (tensor<?x256xf32>, tensor<?x256xf32>) -> tensor<?x256xf32>
  func.return %e, %c : tensor<?x256xf32>, tensor<?x256xf32>
}
"""


def test_results_stay_the_callers_across_calls() -> None:
    module = dynir.parse(MODULE)
    model = dynir.compile(module, fuse=False)
    rng = np.random.default_rng(0)
    kept = []
    for rows in (3, 3, 7, 3, 0, 1):
        x = rng.standard_normal((rows, 256)).astype(np.float32)
        got = model(x)
        want = dynir.interpret(module, x)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
            assert g.base is None or g.base.nbytes == g.nbytes  # not a view into a pool buffer
        kept.append((got, want))
    for got, want in kept:  # later calls did not write into earlier results
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_concurrent_calls_get_their_own_buffers() -> None:
    module = dynir.parse(MODULE)
    model = dynir.compile(module, fuse=False, threads=1)
    inputs = [np.full((64, 256), v, np.float32) for v in (0.1, 0.2, 0.3, 0.4)]
    wants = [dynir.interpret(module, x) for x in inputs]
    failures: list[str] = []

    def call(i: int) -> None:
        for _ in range(30):
            for g, w in zip(model(inputs[i]), wants[i]):
                if not np.allclose(g, w, rtol=1e-5, atol=1e-6):
                    failures.append(f"thread {i}")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


CHAIN = """
func.func @main(%x: tensor<4096x256xf32>) -> tensor<4096x256xf32> {
  %a = nn.exp %x : (tensor<4096x256xf32>) -> tensor<4096x256xf32>
  %b = nn.mul %a, %x : (tensor<4096x256xf32>, tensor<4096x256xf32>) -> tensor<4096x256xf32>
  %c = nn.tanh %b : (tensor<4096x256xf32>) -> tensor<4096x256xf32>
  %d = nn.add %c, %a : (tensor<4096x256xf32>, tensor<4096x256xf32>) -> tensor<4096x256xf32>
  %e = nn.sub %d, %b : (tensor<4096x256xf32>, tensor<4096x256xf32>) -> tensor<4096x256xf32>
  %f = nn.neg %e : (tensor<4096x256xf32>) -> tensor<4096x256xf32>
  func.return %f : tensor<4096x256xf32>
}
"""


def test_reused_buffers_are_not_page_faulted_again() -> None:
    # 4 MiB a tensor: 5 intermediates are 5120 pages a call when freshly allocated (measured
    # ~2500 faults a call without the pool, glibc reusing some); the one result is 1024.
    model = dynir.compile(dynir.parse(CHAIN), fuse=False, threads=1)
    x = np.ones((4096, 256), np.float32)
    for _ in range(3):
        model(x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    calls = 5
    for _ in range(calls):
        model(x)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls
    assert faults < 1600


def test_the_pool_keeps_at_most_its_limit() -> None:
    pool = BufferPool(limit_bytes=1000)
    buffers = pool.take([400, 400, 400])
    assert [b.nbytes for b in buffers] == [400, 400, 400]
    pool.give(buffers)
    assert pool.free_bytes == 800
    again = pool.take([300])
    assert again[0].nbytes == 400 and pool.free_bytes == 400  # the smallest that fits
