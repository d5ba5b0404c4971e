"""Plugins: a package installed with pip that declares a ``dynir.plugins`` entry point
adds its passes and dialects to ``dynir-opt``. The package is the example of
``docs/pass-authoring.md`` (tests/plugins/dynir_example_plugin), and its lit test runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tests" / "plugins" / "dynir_example_plugin"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, pip-installed into a folder of its own (not into the venv)."""
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(PLUGIN)],
        check=True, capture_output=True, timeout=300,
    )
    assert (target / "dynir_example_plugin-0.1.0.dist-info" / "entry_points.txt").is_file()
    return target


def dynir_opt(*argv: str, pythonpath: Path | None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([str(BIN / "dynir-opt"), *argv], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120)


def test_dynir_opt_finds_plugin_pass_and_dialect(plugin_path: Path) -> None:
    source = PLUGIN / "lit" / "fold-double-relu.mlir"
    result = dynir_opt(str(source), "-p", "fold-double-relu", "--remarks", pythonpath=plugin_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"{source}:13:3: remark: [fold-double-relu] folded into the relu it reads\n"
    assert result.stdout.count("nn.relu") == 1
    assert "%c = demo.checkpoint %a : tensor<4xf32>" in result.stdout
    listed = dynir_opt("--list-passes", pythonpath=plugin_path).stdout.split("\n")
    assert "fold-double-relu" in listed


def test_without_the_plugin_its_pass_and_dialect_are_unknown() -> None:
    result = dynir_opt("-", "-p", "fold-double-relu", pythonpath=None)
    assert result.returncode == 1
    assert result.stderr == "error: unknown pass 'fold-double-relu'\n"
    source = (PLUGIN / "lit" / "fold-double-relu.mlir").read_text()
    unknown = dynir_opt("-", pythonpath=None, stdin=source)
    assert unknown.returncode == 1
    assert "error: unregistered dialect 'demo' (in op 'demo.checkpoint')" in unknown.stderr


def test_plugin_lit_test_passes(plugin_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    result = subprocess.run([str(BIN / "lit"), "-v", str(PLUGIN / "lit")], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS: dynir-example-plugin :: fold-double-relu.mlir" in result.stdout


def test_broken_plugin_is_a_clear_error(tmp_path: Path) -> None:
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[dynir.plugins]\nbroken = no_such_module_for_dynir:plugin\n")
    result = dynir_opt("-", pythonpath=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "error: plugin 'broken' (no_such_module_for_dynir:plugin) failed to load: "
        "ModuleNotFoundError: No module named 'no_such_module_for_dynir'\n"
    )


def test_pass_authoring_doc_shows_the_tested_files_verbatim() -> None:
    doc = (ROOT / "docs" / "pass-authoring.md").read_text()
    for relative in ("pyproject.toml", "dynir_example_plugin/__init__.py",
                     "dynir_example_plugin/fold_double_relu.py", "dynir_example_plugin/dialect.py",
                     "lit/fold-double-relu.mlir"):
        text = (PLUGIN / relative).read_text()
        assert text in doc, f"docs/pass-authoring.md is out of date with {relative}"
