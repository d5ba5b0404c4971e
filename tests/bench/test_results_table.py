"""Speed classification (compute- vs memory-bound), the JSON form, and the tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dynir.bench.machine import Machine, Peak
from dynir.bench.results import BenchResult, BenchRun
from dynir.bench.table import HEADERS, markdown_page, markdown_table, print_table, row_cells

MACHINE = Machine("Test CPU", 2, 8.0, "Linux x86_64")
PEAK = Peak(gflops=400.0, bandwidth_gbs=40.0, threads=2, blas="openblas (SkylakeX kernel)",
            notes=["OPENBLAS_CORETYPE=Haswell is set"])


def compute_row() -> BenchResult:
    # 2 GFLOP over 20 MB: 100 FLOP/B, above the balance of 10
    return BenchResult("matmuls", "fused", "", flops=2_000_000_000, min_bytes=20_000_000, compile_cold_s=1.5,
                       compile_warm_s=0.25, max_abs_error=3e-6, max_scaled_error=1e-6, dynir_ms=20.0, ort_ms=10.0)


def memory_row() -> BenchResult:
    # 10 MFLOP over 40 MB: memory-bound
    return BenchResult("chain", "unfused", "", flops=10_000_000, min_bytes=40_000_000, compile_cold_s=0.5,
                       compile_warm_s=0.1, max_abs_error=0.0, max_scaled_error=0.0, dynir_ms=4.0, ort_ms=2.0)


def failed_row() -> BenchResult:
    return BenchResult("cnn", "fused", "", status="compile failed", error="LoweringError: no loop lowering", ort_ms=3.0)


def run_with(*results: BenchResult, peak: Peak | None = PEAK) -> BenchRun:
    return BenchRun("dynir bench --suite tiny --threads 2 --runs 10", MACHINE, {"dynir": "0.1.0", "onnxruntime": "1.0"},
                    2, 10, peak, list(results))


def test_throughput_uses_gflops_or_bandwidth() -> None:
    compute, memory = compute_row(), memory_row()
    assert compute.compute_bound(PEAK) and not memory.compute_bound(PEAK)
    assert compute.throughput(20.0, PEAK) == pytest.approx((100.0, "GFLOP/s", 0.25))
    assert memory.throughput(4.0, PEAK) == pytest.approx((10.0, "GB/s", 0.25))
    value, unit, share = memory.throughput(4.0, None)  # type: ignore[misc]
    assert (value, unit, share) == (pytest.approx(10.0), "GB/s", None)
    assert compute.throughput(None, PEAK) is None


def test_row_cells() -> None:
    run = run_with(compute_row(), memory_row(), failed_row())
    assert row_cells(compute_row(), run) == ["matmuls", "20.00", "10.00", "2.00x", "100.0 GFLOP/s", "25% / 50%",
                                             "1.50 / 0.25", "3.0e-06"]
    assert row_cells(memory_row(), run)[0] == "chain (unfused)"
    assert row_cells(memory_row(), run)[4:6] == ["10.0 GB/s", "25% / 50%"]
    assert row_cells(failed_row(), run) == ["cnn", "compile failed", "3.00", "-", "-", "-", "-", "-"]
    assert row_cells(compute_row(), run_with(compute_row(), peak=None))[5] == "-"
    bad = compute_row()
    bad.max_scaled_error = 0.5
    assert row_cells(bad, run)[-1] == "3.0e-06 !"


def test_markdown_page_has_command_machine_versions_and_table() -> None:
    page = markdown_page(run_with(compute_row(), failed_row()))
    assert "```sh\ndynir bench --suite tiny --threads 2 --runs 10\n```" in page
    assert "- Machine: Test CPU, 2 cores, 8 GiB RAM, Linux x86_64" in page
    assert "- Versions: dynir 0.1.0, onnxruntime 1.0" in page
    assert "| " + " | ".join(HEADERS) + " |" in page
    assert "| matmuls | 20.00 | 10.00 | 2.00x | 100.0 GFLOP/s | 25% / 50% | 1.50 / 0.25 | 3.0e-06 |" in page
    assert "- cnn: compile failed: LoweringError: no loop lowering" in page
    assert "OPENBLAS_CORETYPE=Haswell is set" in page
    assert markdown_table(run_with()).count("\n") == 2


def test_terminal_table(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    symbolic = compute_row()
    symbolic.model = "bert_layer[seq=?]"
    print_table(run_with(compute_row(), failed_row(), symbolic), Console(width=160, color_system=None))
    out = capsys.readouterr().out
    assert "bert_layer[seq=?]" in out
    assert "matmuls" in out and "2.00x" in out and "100.0 GFLOP/s" in out
    assert "cnn: compile failed: LoweringError: no loop lowering" in out


def test_json(tmp_path: Path) -> None:
    broken = compute_row()
    broken.max_abs_error = float("inf")
    path = run_with(broken, memory_row()).write_json(tmp_path / "sub" / "out.json")
    data = json.loads(path.read_text())
    assert data["machine"]["cpu"] == "Test CPU" and data["peak"]["gflops"] == 400.0 and data["threads"] == 2
    first, second = data["results"]
    assert first["max_abs_error"] == "inf" and first["bound"] == "compute" and first["ratio"] == 2.0
    assert first["dynir_throughput"] == {"value": pytest.approx(100.0), "unit": "GFLOP/s", "fraction_of_peak": 0.25}
    assert second["bound"] == "memory" and second["variant"] == "unfused"
