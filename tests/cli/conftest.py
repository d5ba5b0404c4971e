"""Helpers for the CLI tests: run ``dynir-opt``/``dynir`` in-process or as the installed
console scripts, and register throw-away passes for one test."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from xdsl.passes import ModulePass

from dynir.passes import register_pass, unregister_pass

BIN = Path(sys.executable).parent


@dataclass
class Result:
    code: int
    out: str
    err: str


RunOpt = Callable[..., Result]


@pytest.fixture
def run_opt(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunOpt:
    """``dynir-opt`` in-process: ``run_opt(*argv, stdin=b"...")``."""
    from dynir.cli.opt import main

    def run(*argv: str, stdin: bytes = b"") -> Result:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse's --help/--version/usage errors
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def run_dynir(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``dynir`` in-process."""
    from dynir.cli.main import main

    def run(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse's --help/--version
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def _run_script(name: str, *argv: str, stdin: bytes = b"", cwd: Path | None = None,
                env: dict[str, str] | None = None) -> Result:
    proc = subprocess.run([str(BIN / name), *argv], input=stdin, capture_output=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=120)
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.fixture
def run_script() -> Callable[..., Result]:
    """An installed console script (``dynir-opt``, ``dynir``) in a subprocess:
    ``run_script("dynir-opt", *argv, stdin=b"", cwd=None, env=None)``."""
    return _run_script


@pytest.fixture
def registered() -> Iterator[Callable[[type[ModulePass]], type[ModulePass]]]:
    """Register passes for one test only."""
    names: list[str] = []

    def add(cls: type[ModulePass]) -> type[ModulePass]:
        register_pass(cls)
        names.append(cls.name)
        return cls

    yield add
    for name in names:
        unregister_pass(name)
