"""``dynir bench`` and ``dynir demo`` as a user runs them (in-process), on models that
compile in a second, and ``measure_peak`` at small sizes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dynir.bench import machine
from dynir.cli.main import main
from dynir.models import MODELS, save

FAST = ["--runs", "2", "--budget", "5"]


def test_bench_suite_rows_json_and_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_md = tmp_path / "r.json", tmp_path / "perf.md"
    code = main(["bench", "--suite", "tiny", "--only", "mlp_small", "--only", "elementwise_small", *FAST,
                 "--variant", "fused", "--variant", "unfused", "--json", str(out_json), "--markdown", str(out_md)])
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads(out_json.read_text())
    rows = [(r["model"], r["variant"], r["status"]) for r in data["results"]]
    assert rows == [("mlp_small", "fused", "ok"), ("mlp_small", "unfused", "ok"),
                    ("elementwise_small", "fused", "ok"), ("elementwise_small", "unfused", "ok")]
    assert all(len(r["dynir_samples_s"]) == 2 and r["max_scaled_error"] < 1e-5 for r in data["results"])
    assert data["command"] == (f"dynir bench --suite tiny --only mlp_small --only elementwise_small --variant fused "
                               f"--variant unfused --threads 1 --runs 2 --json {out_json} --markdown {out_md}")
    assert "mlp_small (unfused)" in out and "elementwise_small" in out
    page = out_md.read_text()
    assert data["command"] in page and "| mlp_small |" in page and "| elementwise_small (unfused) |" in page


def test_bench_onnx_file_with_dims(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dynir.models import elementwise_chain

    path = save(elementwise_chain.build(rows=4, cols=8), tmp_path / "chain.onnx")
    code = main(["bench", str(path), "--dim", "batch=3", *FAST, "--threads", "2", "--json", str(tmp_path / "o.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    (row,) = json.loads((tmp_path / "o.json").read_text())["results"]
    assert row["model"] == "chain" and row["status"] == "ok"
    assert "applies to onnxruntime only" not in out  # --threads drives dynir too


def test_bench_failure_exits_1_and_names_the_step(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import dynir
    from dynir.diagnostics import DynirError

    def fail(*args: object, **kwargs: object) -> None:
        raise DynirError("no loop lowering for a group of (nn.softmax)")

    monkeypatch.setattr(dynir, "compile", fail, raising=False)
    code = main(["bench", "--suite", "tiny", "--only", "mlp_small", *FAST])
    out = capsys.readouterr().out
    assert code == 1
    assert "mlp_small: compile failed: DynirError: no loop lowering for a group of (nn.softmax)" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--suite", "tiny", "--only", "nope"], "error: --only nope: no such row in suite 'tiny'"),
        (["bench", "missing.onnx"], "error: cannot open 'missing.onnx': no such file"),
        (["bench", "--suite", "tiny", "--dim", "batch"], "error: --dim expects NAME=SIZE, got 'batch'"),
    ],
)
def test_bench_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_bench_peak_columns(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(machine, "MATMUL_SIZE", 128)
    monkeypatch.setattr(machine, "COPY_BYTES", 2**20)
    code = main(["bench", "--suite", "tiny", "--only", "mlp_small", *FAST, "--peak"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "GFLOP/s float32 (numpy matmul, openblas" in out and "GB/s copy bandwidth" in out
    assert "% /" in out  # the share of the peak for dynir / onnxruntime


def test_measure_peak_small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "MATMUL_SIZE", 128)
    monkeypatch.setattr(machine, "COPY_BYTES", 2**20)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    peak = machine.measure_peak(threads=1, repeats=1)
    assert peak.gflops > 0 and peak.bandwidth_gbs > 0 and peak.threads == 1
    assert peak.balance == pytest.approx(peak.gflops / peak.bandwidth_gbs)
    assert any("OPENBLAS_CORETYPE=Haswell is set" in note and "env -u OPENBLAS_CORETYPE" in note for note in peak.notes)


def test_versions_and_machine() -> None:
    found = machine.versions()
    assert {"dynir", "xdsl", "llvmlite", "onnxruntime", "LLVM", "numpy"} <= set(found)
    m = machine.this_machine()
    assert m.cores >= 1 and m.cpu


def test_demo_prints_each_level_and_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "demo.html"
    code = main(["demo", "--model", "elementwise_chain", "--runs", "2", "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out
    for heading in ("1. nn dialect", "2. kernels", "3. loops", "4. LLVM IR", "5. run"):
        assert heading in out
    assert "nn.sigmoid" in out and "<- mul_scale" in out and "scf.for" in out and "define void @" in out
    assert "outputs match onnxruntime's" in out and "elementwise_chain: dynir vs onnxruntime" in out
    page = report.read_text()
    assert "<nav id=\"pass-list\">" in page and "LLVM IR after O3" in page and "node &#x27;gate&#x27; (Mul)" in page


def test_demo_choices_include_bundled_models() -> None:
    assert "conv_block" in MODELS and "bert_layer" in MODELS
