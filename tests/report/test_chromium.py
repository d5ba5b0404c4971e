"""The report opens in a browser with no network: headless Chromium loads the file,
runs its script, and the dumped DOM holds the pass list.

Needs Debian's ``chromium`` (``.ci/run`` installs it). When it is missing and the tests
run as root on a Debian-like system, the fixture installs it with apt-get; otherwise
the test fails with the command to run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import dynir
from dynir.ir.context import make_context
from dynir.report import CompileRecorder, run_pipeline

PROGRAM = """\
func.func @main(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = nn.relu %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %1 = nn.add %0, %x : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %1 : tensor<?x4xf32>
}
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True, timeout=600, check=False)
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("headless Chromium is needed to test the report: apt-get install -y chromium")
    return found


def test_report_renders_pass_list_in_headless_chromium(tmp_path: Path, chromium: str) -> None:
    recorder = CompileRecorder("relu-add")
    run_pipeline(make_context(), dynir.parse(PROGRAM), "canonicalize,lower-to-loops", recorder)
    page = recorder.write(tmp_path / "report.html")
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-rendered="yes"' in dom  # the inline script ran without errors
    nav = re.search(r'<nav id="pass-list">.*?</nav>', dom, re.S)
    assert nav is not None
    assert re.findall(r'<a href="#snapshot-\d+">([^<]*)</a>', nav.group(0)) == ["input", "canonicalize", "lower-to-loops"]
    assert "@relu_0" in dom and "@add_1" in dom
