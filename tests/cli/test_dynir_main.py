"""The ``dynir`` command: subcommands from the module list, versions, error exit codes,
the bundled examples and the progress-bar helper."""

from __future__ import annotations

import re

import argparse
import io
import sys
import types
from pathlib import Path

import llvmlite
import pytest
from llvmlite import binding

from dynir.cli import commands
from dynir.cli import main as dynir_main
from dynir.cli.progress import progress_bar, track
from dynir.diagnostics import DynirError


def test_help_lists_existing_commands_only(run_dynir) -> None:
    result = run_dynir("--help")
    assert result.code == 0
    listed = {m.NAME for m in dynir_main.load_commands()}
    assert "example" in listed
    section = result.out.split("commands:")[1].split("\n")[2:]
    shown = {m.group(1) for line in section if (m := re.match(r"^ {4}(\S+)", line))}
    assert shown == listed  # every existing command, and no placeholder for one not written yet


def test_version_prints_every_component(run_dynir) -> None:
    from importlib.metadata import version

    result = run_dynir("--version")
    assert result.code == 0
    llvm = ".".join(str(p) for p in binding.llvm_version_info)
    assert result.out.split("\n")[:4] == [
        f"dynir {version('dynir')}",
        f"xDSL {version('xdsl')}",
        f"llvmlite {llvmlite.__version__}",
        f"LLVM {llvm}",
    ]


def test_missing_listed_module_is_skipped_but_broken_one_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = dynir_main.load_commands(["no_such_command_yet", "example"])
    assert [m.NAME for m in loaded] == ["example"]
    # a command module that exists but imports something missing is a bug, not "not written yet"
    (tmp_path / "broken_for_test.py").write_text("import no_such_dependency_for_dynir_tests\n")
    monkeypatch.setattr(commands, "__path__", [*commands.__path__, str(tmp_path)])
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_for_dynir_tests"):
        dynir_main.load_commands(["broken_for_test"])


def test_example_command_lists_and_locates(run_dynir, run_script) -> None:
    listed = run_dynir("example")
    assert listed.code == 0
    assert "conv_block" in listed.out.split("\n")
    located = run_script("dynir", "example", "conv_block")
    assert located.code == 0
    path = Path(located.out.strip())
    assert path.name == "conv_block.mlir" and "func.func @conv_block" in path.read_text()
    missing = run_script("dynir", "example", "nope")
    assert missing.code == 1
    assert missing.err.startswith("error: no bundled example 'nope'")


def _command(name: str, behaviour: BaseException | None) -> types.ModuleType:
    module = types.ModuleType(name)
    module.NAME = name  # type: ignore[attr-defined]
    module.HELP = f"test command {name}"  # type: ignore[attr-defined]
    module.add_arguments = lambda parser: None  # type: ignore[attr-defined]

    def run(args: argparse.Namespace) -> int:
        if behaviour is not None:
            raise behaviour
        return 0

    module.run = run  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize(
    ("behaviour", "code", "message"),
    [
        (None, 0, ""),
        (DynirError("model.onnx: node 'Conv_1' (Conv): bad pads"), 1, "error: model.onnx: node 'Conv_1' (Conv): bad pads\n"),
        (RuntimeError("kaboom"), 2, "internal error: RuntimeError: kaboom (rerun with --debug for the traceback)\n"),
    ],
)
def test_exit_codes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                    behaviour: BaseException | None, code: int, message: str) -> None:
    monkeypatch.setattr(dynir_main, "load_commands", lambda: [_command("probe", behaviour)])
    assert dynir_main.main(["probe"]) == code
    assert capsys.readouterr().err == message


def test_debug_shows_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(dynir_main, "load_commands", lambda: [_command("probe", RuntimeError("kaboom"))])
    assert dynir_main.main(["--debug", "probe"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.endswith("internal error: RuntimeError: kaboom (rerun with --debug for the traceback)\n")


def test_progress_bar_draws_on_a_terminal_and_stays_silent_otherwise() -> None:
    stream = io.StringIO()
    with progress_bar("compiling kernels", total=3, stream=stream, enabled=True) as bar:
        for name in ("k0", "k1", "k2"):
            bar.step(name)
    assert "compiling kernels" in stream.getvalue()
    quiet = io.StringIO()  # StringIO is not a terminal: no bar by default
    assert list(track(range(4), "work", stream=quiet)) == [0, 1, 2, 3]
    assert quiet.getvalue() == ""
