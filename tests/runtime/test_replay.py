"""Static calls replayed in machine code (``dynir.runtime.replay``): the same results
as the Python loop, fresh results every call, inputs that change, threads."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import dynir
from dynir.runtime import replay
from dynir.runtime.executable import Executable

MODULE = """
func.func @main(%x: tensor<64x300xf32>, %y: tensor<64x300xf32>) -> (tensor<64x300xf32>, tensor<64x300xf32>, tensor<64x300xf32>) {
  %w = nn.constant {value = dense<0.5> : tensor<300xf32>} : tensor<300xf32>
  %a = nn.exp %x : (tensor<64x300xf32>) -> tensor<64x300xf32>
  %b = nn.mul %a, %w : (tensor<64x300xf32>, tensor<300xf32>) -> tensor<64x300xf32>
  %c = nn.tanh %b : (tensor<64x300xf32>) -> tensor<64x300xf32>
  %d = nn.add %c, %y : (tensor<64x300xf32>, tensor<64x300xf32>) -> tensor<64x300xf32>
  %e = nn.sub %d, %b : (tensor<64x300xf32>, tensor<64x300xf32>) -> tensor<64x300xf32>
  func.return %e, %c, %y : tensor<64x300xf32>, tensor<64x300xf32>, tensor<64x300xf32>
}
"""


def _executable(model: dynir.CompiledModel) -> Executable:
    (executable,) = {id(e): e for e in model._dispatch.values()}.values()  # pyright: ignore[reportPrivateUsage]
    return executable


def _inputs(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((64, 300)).astype(np.float32) for _ in range(2)]


@pytest.mark.parametrize("threads", [1, 2])
def test_replayed_calls_match_the_interpreter_and_return_fresh_arrays(threads: int) -> None:
    module = dynir.parse(MODULE)
    model = dynir.compile(module, fuse=False, threads=threads)
    kept = []
    for seed in range(6):
        x, y = _inputs(seed)
        got = model(x, y)
        for g, w in zip(got, dynir.interpret(module, x, y)):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        assert got[2] is y  # a result that is an input is that input
        kept.append((got, x, y))
    executable = _executable(model)
    assert executable._replay is not None and executable._replay.count == 5  # pyright: ignore[reportPrivateUsage]
    for got, x, y in kept:  # earlier results were not overwritten by later calls
        np.testing.assert_allclose(got[0], dynir.interpret(module, x, y)[0], rtol=1e-5, atol=1e-6)


def test_replay_and_python_loop_agree_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    module = dynir.parse(MODULE)
    replayed = dynir.compile(module, threads=2)
    monkeypatch.setattr(replay, "ENABLED", False)
    looped = dynir.compile(module, threads=2)
    for seed in range(4):
        x, y = _inputs(seed)
        for a, b in zip(replayed(x, y), looped(x, y)):
            np.testing.assert_array_equal(a, b)
    assert _executable(looped)._replay is None  # pyright: ignore[reportPrivateUsage]


def test_strided_inputs_are_made_contiguous() -> None:
    module = dynir.parse(MODULE)
    model = dynir.compile(module)
    x, y = _inputs(0)
    wide = np.zeros((64, 600), np.float32)
    wide[:, ::2] = x
    for _ in range(3):
        got = model(wide[:, ::2], y)
    np.testing.assert_allclose(got[0], dynir.interpret(module, x, y)[0], rtol=1e-5, atol=1e-6)


def test_threads_calling_at_once_each_get_their_own_results() -> None:
    module = dynir.parse(MODULE)
    model = dynir.compile(module, threads=2)
    model(*_inputs(0)), model(*_inputs(0))  # recorded
    failures: list[str] = []

    def work(seed: int) -> None:
        x, y = _inputs(seed)
        want = dynir.interpret(module, x, y)[0]
        for _ in range(30):
            if not np.allclose(model(x, y)[0], want, rtol=1e-5, atol=1e-6):
                failures.append(f"seed {seed}")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_inputs_of_other_sizes_do_not_replay_a_recording() -> None:
    """A plan can be static while its inputs are not (every output size fixed): the
    kernels take the inputs' sizes as arguments, so a recording serves its sizes only."""
    module = dynir.parse("""
func.func @main(%x: tensor<?x8xf32>) -> tensor<8xf32> {
  %r = nn.reduce_sum %x {axes = array<i64: 0>, keepdims = 0 : i64} : (tensor<?x8xf32>) -> tensor<8xf32>
  %e = nn.exp %r : (tensor<8xf32>) -> tensor<8xf32>
  func.return %e : tensor<8xf32>
}
""")
    model = dynir.compile(module, dynamic=True, cache_dir=False)
    for rows in (3, 3, 3, 5, 1, 3):
        x = np.arange(rows * 8, dtype=np.float32).reshape(rows, 8) / 10
        np.testing.assert_allclose(model(x)[0], dynir.interpret(module, x)[0], rtol=1e-5)
    assert _executable(model)._replay is not None  # pyright: ignore[reportPrivateUsage]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_records_again_on_its_own_pool() -> None:
    module = dynir.parse(MODULE)
    model = dynir.compile(module, threads=2)
    x, y = _inputs(0)
    for _ in range(3):
        model(x, y)
    parent_pool = _executable(model)._replay.pool  # type: ignore[union-attr]  # pyright: ignore[reportPrivateUsage]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            want = dynir.interpret(module, x, y)[0]
            results = [model(x, y)[0] for _ in range(3)]
            recording = _executable(model)._replay  # pyright: ignore[reportPrivateUsage]
            fresh = recording is not None and recording.pool is not parent_pool and not recording.stale
            code = 0 if fresh and all(np.allclose(r, want, rtol=1e-5, atol=1e-6) for r in results) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
