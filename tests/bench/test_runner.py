"""``run_case``: dynir and onnxruntime on the same inputs, outputs compared, both timed;
a failing step ends its row with a status instead of raising."""

from __future__ import annotations

import numpy as np
import pytest

import dynir
from dynir.bench.results import BenchResult
from dynir.bench.runner import Settings, compare, run_case
from dynir.bench.suite import bundled_case
from dynir.bench.timing import TimingPlan
from dynir.diagnostics import DynirError

QUICK = Settings(threads=1, plan=TimingPlan(runs=2, block=2, pause_s=0.0))


def small_mlp():  # type: ignore[no-untyped-def]
    return bundled_case("mlp", dims={"batch": 4}, label="mlp_small", in_features=32, hidden=64, out_features=16)


def test_mlp_matches_onnxruntime_and_is_timed() -> None:
    steps: list[str] = []
    result = run_case(small_mlp(), QUICK, progress=steps.append)
    assert result.ok, result.error
    assert result.variant == "fused"
    assert result.max_abs_error is not None and result.max_abs_error < 1e-4
    assert result.max_scaled_error is not None and not result.mismatch
    assert len(result.dynir_samples_s) == 2 and len(result.ort_samples_s) == 2
    assert result.dynir_ms == pytest.approx(1e3 * float(np.median(result.dynir_samples_s)))
    assert result.ratio == pytest.approx(result.dynir_ms / result.ort_ms)
    assert result.compile_cold_s is not None and result.compile_warm_s is not None
    assert result.flops == 2 * 4 * (32 * 64 + 64 * 16) + 2 * 4 * 64  # matmul, gemm, add + relu
    assert result.min_bytes == 4 * (32 * 64 + 64 + 16 * 64 + 16) + 4 * 4 * 32 + 4 * 4 * 16
    assert steps[:4] == ["building", "compiling (cold)", "compiling (warm)", "checking"] and steps[-1].startswith("timing onnxruntime")


def test_unfused_variant() -> None:
    case = bundled_case("elementwise_chain", dims={"batch": 1}, rows=8, cols=16)
    result = run_case(case, QUICK, fuse=False)
    assert result.ok and result.variant == "unfused"
    assert result.max_scaled_error is not None and result.max_scaled_error < 1e-5


def test_compile_failure_is_a_row_with_onnxruntime_still_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise DynirError("no loop lowering for a group of (nn.softmax)\nsecond line")

    monkeypatch.setattr(dynir, "compile", fail, raising=False)
    result = run_case(small_mlp(), QUICK)
    assert result.status == "compile failed"
    assert result.error == "DynirError: no loop lowering for a group of (nn.softmax)"
    assert result.dynir_ms is None and result.ort_ms is not None and len(result.ort_samples_s) == 2
    assert result.ratio is None


def test_compare() -> None:
    a = np.array([1.0, 2.0, 4.0], dtype=np.float32)
    assert compare([a], [a]) == (0.0, 0.0)
    err, scaled = compare([a + np.float32(0.5)], [a])
    assert err == pytest.approx(0.5) and scaled == pytest.approx(0.5 / 4)
    assert compare([a[:2]], [a]) == (float("inf"), float("inf"))
    nan = np.array([np.nan, 1.0])
    assert compare([nan], [np.array([0.0, 1.0])])[0] == float("inf")
    assert compare([nan], [nan.copy()]) == (0.0, 0.0)
    assert compare([a], [a, a])[0] == float("inf")


def test_mismatch_flag() -> None:
    r = BenchResult("m", "fused", "", max_scaled_error=2e-3)
    assert r.mismatch
    assert not BenchResult("m", "fused", "", max_scaled_error=1e-6).mismatch
    assert BenchResult("m", "fused", "", max_scaled_error=float("nan")).mismatch
