"""The built wheel holds every package of the source tree: ``dynir/``, and ``dialects/``
and ``passes/`` mapped to ``dynir.dialects`` and ``dynir.passes``, plus the bundled
examples. (A sub-package missing from ``setup.py``'s list still works in an editable
install, so only the wheel shows it.) Part of the suite; marked ``slow`` (~10 s)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_TOPS = {"dynir": "dynir", "dialects": "dynir/dialects", "passes": "dynir/passes"}
IGNORED = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__",
                                 "Output", ".pytest_cache", ".hypothesis", "tests", "lit", "docs")


def source_modules() -> set[str]:
    """Wheel paths of every ``.py`` file under the installed source folders."""
    expected: set[str] = set()
    for top, installed in SOURCE_TOPS.items():
        for path in (ROOT / top).rglob("*.py"):
            if "__pycache__" not in path.parts:
                expected.add(f"{installed}/{path.relative_to(ROOT / top).as_posix()}")
    return expected


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(ROOT, source, ignore=IGNORED)  # build a copy: no build/ left in the checkout
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=600,
    )
    (built,) = out.glob("dynir-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.mark.slow
def test_wheel_contains_every_source_module(wheel_names: set[str]) -> None:
    missing = sorted(source_modules() - wheel_names)
    assert not missing, f"missing from the wheel (add an __init__.py or fix setup.py): {missing}"


@pytest.mark.slow
def test_wheel_contains_dialects_passes_and_examples(wheel_names: set[str]) -> None:
    assert "dynir/passes/__init__.py" in wheel_names
    assert "dynir/dialects/__init__.py" in wheel_names
    nn_modules = {n for n in wheel_names if n.startswith("dynir/dialects/nn/") and n.endswith(".py")}
    assert {f"dynir/dialects/nn/{p.name}" for p in (ROOT / "dialects" / "nn").glob("*.py")} <= nn_modules
    examples = {f"dynir/examples/{p.name}" for p in (ROOT / "dynir" / "examples").glob("*.mlir")}
    assert "dynir/examples/conv_block.mlir" in examples
    assert examples <= wheel_names
    assert not any(n.startswith(("dialects/", "passes/", "tests/")) for n in wheel_names)


@pytest.mark.slow
def test_wheel_declares_both_console_scripts(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read("dynir-0.1.0.dist-info/entry_points.txt").decode()
    assert "dynir = dynir.cli.main:main" in text
    assert "dynir-opt = dynir.cli.opt:main" in text
