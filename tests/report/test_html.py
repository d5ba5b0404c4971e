"""The HTML page: pass list, timing table, kernel origins, remarks, diffs and IR,
escaped, cut when long, and with no external resource."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dynir.diagnostics import DynirError
from dynir.remarks import Remark
from dynir.report import KernelOrigin, Snapshot, render_report, write_report
from dynir.report import html as report_html

SNAPSHOTS = [
    Snapshot("input", "module {\n  %0 = nn.relu %x\n}"),
    Snapshot("fuse-elementwise", "module {\n  %0 = fusion.group <x & y>\n}", 0.002),
    Snapshot("LLVM IR after O3", "define void @k() {\n}", 0.1, diff=False),
]
REMARKS = [Remark("fuse-elementwise", "nn.relu", "m.onnx: node 'r' (Relu)", "not fused: producer has 3 users")]
TIMINGS = [("fuse-elementwise", 0.002), ("llvm-jit", 0.1)]
KERNELS = [KernelOrigin("relu_0", (("nn.relu", "node 'r' (Relu)"), ("nn.add", "")))]


def page() -> str:
    return render_report(SNAPSHOTS, REMARKS, TIMINGS, KERNELS, title="m.onnx")


def test_pass_list_links_every_snapshot_with_time_and_remarks() -> None:
    nav = re.search(r'<nav id="pass-list">.*?</nav>', page())
    assert nav is not None
    items = re.findall(r'<li class="pass"><a href="#snapshot-(\d)">([^<]*)</a>', nav.group(0))
    assert items == [("0", "input"), ("1", "fuse-elementwise"), ("2", "LLVM IR after O3")]
    assert "2.0 ms</span><span class=\"badge\">1 remark</span>" in nav.group(0)
    for i in range(3):
        assert f'<section class="snapshot" id="snapshot-{i}">' in page()


def test_diff_timing_kernels_remarks_and_escaping() -> None:
    text = page()
    assert '<span class="del">-  %0 = nn.relu %x</span>' in text
    assert '<span class="add">+  %0 = fusion.group &lt;x &amp; y&gt;</span>' in text
    assert "diff against fuse-elementwise" not in text  # LLVM IR is not diffed against MLIR
    assert "<td>llvm-jit</td><td class=\"num\">100.00</td><td class=\"num\">98%</td>" in text
    assert "<td><code>@relu_0</code></td><td>nn.relu<br>nn.add</td><td>node &#x27;r&#x27; (Relu)<br>" in text
    assert "not fused: producer has 3 users" in text
    assert "<title>dynir compile report: m.onnx</title>" in text


def test_self_contained() -> None:
    text = page()
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<link" not in text and "@import" not in text
    assert "data-rendered" in text


def test_long_texts_are_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_html, "MAX_LINES", 10)
    long = Snapshot("input", "\n".join(f"line {i}" for i in range(100)))
    text = render_report([long], [], [], [])
    assert "line 9\n... 90 more lines not shown" in text and "line 10\n" not in text
    assert "no kernels (lower-to-loops did not run)" in text and "no pass emitted a remark" in text


def test_unchanged_snapshot_says_so() -> None:
    text = render_report([Snapshot("input", "a"), Snapshot("cse", "a", 0.0)], [], [], [])
    assert "no change against input" in text


def test_write_report(tmp_path: Path) -> None:
    path = write_report(SNAPSHOTS, REMARKS, TIMINGS, KERNELS, tmp_path / "sub" / "r.html")
    assert path.read_text().startswith("<!DOCTYPE html>")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DynirError, match="cannot write the report"):
        write_report(SNAPSHOTS, [], [], [], blocker / "r.html")
