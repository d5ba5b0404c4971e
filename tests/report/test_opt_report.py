"""``dynir-opt --report``: one HTML file per run (per chunk with --split-input-file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dynir.cli.opt import main

PROGRAM = """\
func.func @main(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = nn.relu %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %0 : tensor<?x4xf32>
}
"""


def test_report_lists_each_pass_and_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.mlir"
    source.write_text(PROGRAM)
    report = tmp_path / "out.html"
    assert main([str(source), "-p", "canonicalize", "--lower-to-loops", "--report", str(report)]) == 0
    assert "scf.for" in capsys.readouterr().out  # the normal output is unchanged
    page = report.read_text()
    passes = re.findall(r'<li class="pass"><a href="#snapshot-\d+">([^<]*)</a>', page)
    assert passes == ["input", "canonicalize", "lower-to-loops"]
    assert f"dynir compile report: {source}" in page
    assert f"<td><code>@relu_0</code></td><td>nn.relu</td><td>{source}:2:3</td>" in page
    assert "kernel @relu_0: 1 op in one loop nest" in page


def test_report_per_chunk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.mlir"
    source.write_text(PROGRAM + "// -----\n" + PROGRAM)
    assert main([str(source), "--split-input-file", "-p", "canonicalize", "--report", str(tmp_path / "r.html")]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.glob("r*.html")) == ["r.chunk-00.html", "r.chunk-01.html"]


def test_unwritable_report_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.mlir"
    source.write_text(PROGRAM)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main([str(source), "--report", str(blocker / "r.html")]) == 1
    assert "error: cannot write the report" in capsys.readouterr().err
