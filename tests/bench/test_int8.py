"""``dynir bench --variant int8-dynamic/int8-static``: dynir's int8 next to onnxruntime's
own quantization of the same model, each compared with the float model by cosine; the
layers the cost model keeps in float are counted. No timing asserts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dynir.bench.int8 import CALIBRATION_SEEDS, calibration_samples, output_cosine
from dynir.bench.machine import this_machine, versions
from dynir.bench.results import INT8_MIN_COSINE, BenchResult, BenchRun
from dynir.bench.runner import Settings, run_case
from dynir.bench.suite import bundled_case
from dynir.bench.table import INT8_HEADER, footnotes, headers, markdown_table, row_cells
from dynir.bench.timing import TimingPlan
from dynir.cli.main import main
from dynir.diagnostics import DynirError

QUICK = Settings(threads=1, plan=TimingPlan(runs=2, block=2, pause_s=0.0))


def wide_mlp():  # type: ignore[no-untyped-def]
    """Big enough for int8 to pay off in both modes (4M MACs per layer)."""
    return bundled_case("mlp", dims={"batch": 16}, label="mlp_wide", in_features=256, hidden=1024, out_features=256)


def small_mlp():  # type: ignore[no-untyped-def]
    """So small that int8 would be slower: every layer stays in float."""
    return bundled_case("mlp", dims={"batch": 4}, label="mlp_small", in_features=32, hidden=64, out_features=16)


@pytest.fixture(scope="module")
def static_row() -> BenchResult:
    return run_case(wide_mlp(), QUICK, variant="int8-static")


def test_static_row_quantizes_both_layers_and_reports_cosines(static_row: BenchResult) -> None:
    r = static_row
    assert r.ok, r.error
    assert r.variant == "int8-static" and r.int8
    assert r.int8_layers == (2, 2)
    assert r.dynir_cosine is not None and r.ort_cosine is not None
    assert r.dynir_cosine > 0.999 and r.ort_cosine > 0.999 and not r.mismatch
    assert r.max_scaled_error is not None and r.max_scaled_error < 0.05  # two int8 models, not one
    assert len(r.dynir_samples_s) == 2 and len(r.ort_samples_s) == 2 and r.ratio is not None
    assert r.float_outputs is not None and r.float_outputs[0].shape == (16, 256)


def test_dynamic_row() -> None:
    r = run_case(wide_mlp(), QUICK, variant="int8-dynamic")
    assert r.ok, r.error
    assert r.int8_layers == (2, 2)
    assert r.dynir_cosine is not None and r.dynir_cosine > 0.999 and not r.mismatch
    assert r.ort_cosine is not None and r.ort_cosine > 0.99


def test_tiny_model_stays_float_and_matches_float_exactly() -> None:
    r = run_case(small_mlp(), QUICK, variant="int8-dynamic")
    assert r.ok, r.error
    assert r.int8_layers == (0, 2)
    assert r.dynir_cosine == pytest.approx(1.0, abs=1e-9)


def test_table_and_json_of_int8_rows(static_row: BenchResult, tmp_path: Path) -> None:
    run = BenchRun("dynir bench", this_machine(), versions(), 1, 2, results=[static_row])
    assert headers(run)[-1] == INT8_HEADER
    cells = row_cells(static_row, run)
    assert cells[0] == "mlp_wide (int8-static)"
    dynir_cos, ort_cos = (float(c) for c in cells[-1].split(" / "))
    assert dynir_cos == pytest.approx(static_row.dynir_cosine, abs=1e-4)
    assert ort_cos == pytest.approx(static_row.ort_cosine, abs=1e-4)
    assert "mlp_wide (int8-static): dynir quantized 2 of 2 layers" in footnotes(run)
    assert "| " + " | ".join(headers(run)) + " |" in markdown_table(run)
    data = json.loads(run.write_json(tmp_path / "r.json").read_text())["results"][0]
    assert data["variant"] == "int8-static" and data["int8_layers"] == [2, 2] and "float_outputs" not in data
    assert data["dynir_cosine"] == pytest.approx(static_row.dynir_cosine)


def test_low_cosine_is_a_mismatch() -> None:
    row = BenchResult("m", "int8-static", "d", dynir_cosine=INT8_MIN_COSINE - 0.01, max_scaled_error=0.5)
    assert row.mismatch
    run = BenchRun("x", this_machine(), versions(), 1, 1, results=[row])
    assert row_cells(row, run)[-1] == f"{INT8_MIN_COSINE - 0.01:.4f} / - !"


def test_calibration_samples_come_from_the_input_maker() -> None:
    case = wide_mlp()
    samples = calibration_samples(case.samples)
    assert len(samples) == len(CALIBRATION_SEEDS) == 16
    np.testing.assert_array_equal(samples[0]["x"], case.samples(100)["x"])
    assert not np.array_equal(samples[0]["x"], samples[1]["x"])
    assert output_cosine([np.ones(3)], [np.ones(4)]) == 0.0


def test_unknown_variant() -> None:
    with pytest.raises(DynirError, match="unknown bench variant 'int4'"):
        run_case(wide_mlp(), QUICK, variant="int4")


def test_cli_int8_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b.json"
    code = main(["bench", "--suite", "tiny", "--only", "mlp_small", "--variant", "int8-static", "--runs", "2",
                 "--json", str(out)])
    assert code == 0, capsys.readouterr()
    row = json.loads(out.read_text())["results"][0]
    assert (row["model"], row["variant"], row["status"]) == ("mlp_small", "int8-static", "ok")
    assert row["dynir_cosine"] > 0.99 and row["ort_cosine"] > 0.99
    assert "mlp_small (int8-static): dynir quantized" in capsys.readouterr().out
