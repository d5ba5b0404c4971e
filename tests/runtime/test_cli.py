"""``dynir cache info|clear|explain`` and ``dynir explain-recompiles``, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

import dynir
from dynir.cli import main as cli
from tests.runtime.runtime_testlib import inputs, tied_model

COMMANDS = ["cache", "explain_recompiles"]
LOAD_COMMANDS = cli.load_commands


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str, str]:
    # Load this commands by name, whether or not COMMAND_MODULES lists them yet.
    names = [*cli.COMMAND_MODULES, *[c for c in COMMANDS if c not in cli.COMMAND_MODULES]]
    monkeypatch.setattr(cli, "load_commands", lambda: LOAD_COMMANDS(names))
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "tied.mlir"
    path.write_text(dynir.print_ir(tied_model()))
    return path


def test_cache_info_explain_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "cache"
    model = dynir.compile(tied_model(), cache_dir=directory)
    model(*inputs(2, 3))
    model(*inputs(2, 4))
    code, out, _ = run(capsys, monkeypatch, "cache", "info", "--cache-dir", str(directory))
    assert code == 0
    assert out.splitlines()[:2] == [f"cache directory: {directory}", out.splitlines()[1]]
    assert out.splitlines()[1].startswith("entries: 2 (")
    code, out, _ = run(capsys, monkeypatch, "cache", "explain", "--cache-dir", str(directory))
    assert code == 0
    assert out.startswith("last lookup of module (x: 2x?x8 float32, z: 2x?x8 float32) missed (compiled and stored")
    assert "differs in 1 key part(s): inputs: the input dtypes/shapes of the specialisation changed" in out
    code, out, _ = run(capsys, monkeypatch, "cache", "clear", "--cache-dir", str(directory))
    assert (code, out) == (0, f"removed 2 entries from {directory}\n")


def test_cache_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(capsys, monkeypatch, "cache", "explain", "--cache-dir", str(tmp_path))
    assert (code, err) == (1, f"error: no lookup recorded in {tmp_path}\n")
    code, _, err = run(capsys, monkeypatch, "cache", "info", "model.onnx", "--cache-dir", str(tmp_path))
    assert (code, err) == (1, "error: 'dynir cache info' takes no model\n")


def test_explain_recompiles(model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["explain-recompiles", str(model_file), "--cache-dir", str(tmp_path / "c"),
            "--call", "batch=2,seq=3", "--call", "batch=2,seq=3", "--call", "batch=2,seq=8"]
    code, out, _ = run(capsys, monkeypatch, *argv)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "2 specialisations for 3 calls (2 compiled, 0 from the disk cache, 1 in-memory hits)"
    assert lines[2] == "   -> x: 2x3x8 float32, z: 2x3x8 float32"
    assert lines[3].endswith("input 'x' dim 1 ('seq') was 3, now 8; input 'z' dim 1 ('seq') was 3, now 8")
    code, out, _ = run(capsys, monkeypatch, *argv, "--dynamic", "exact")
    # seq=3 exact is on disk; seq=8 exact is new (the auto run compiled 2x?x8)
    assert out.splitlines()[0] == "2 specialisations for 3 calls (1 compiled, 1 from the disk cache, 1 in-memory hits)"
    code, out, _ = run(capsys, monkeypatch, "explain-recompiles", str(model_file), "--no-cache", "--dynamic", "symbolic",
                       "--call", "seq=5", "--call", "batch=3,seq=1")
    assert out.splitlines()[0] == "1 specialisation for 2 calls (1 compiled, 0 from the disk cache, 1 in-memory hits)"
    assert out.splitlines()[2] == "   -> x: ?x?x8 float32, z: ?x?x8 float32"
