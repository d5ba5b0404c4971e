"""``dynir``: the user-facing command line; subcommands live in ``dynir/cli/commands``.

    dynir --version          versions of dynir, xDSL, llvmlite and LLVM
    dynir <command> --help   the options of one command

A ``DynirError`` (bad input) prints ``error: ...`` and exits 1; any other exception is
an internal error (exit 2, traceback with ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

from dynir.cli.commands import COMMAND_MODULES
from dynir.diagnostics import DynirError, error_text


def versions_text() -> str:
    """One line per component: dynir, xDSL, llvmlite and the LLVM it was built with."""
    from importlib.metadata import version

    import llvmlite
    from llvmlite import binding

    llvm = ".".join(str(part) for part in binding.llvm_version_info)
    return "\n".join([
        f"dynir {version('dynir')}",
        f"xDSL {version('xdsl')}",
        f"llvmlite {llvmlite.__version__}",
        f"LLVM {llvm}",
    ])


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the versions of dynir, xDSL, llvmlite and LLVM")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(versions_text())
        parser.exit()


def load_commands(names: Sequence[str] = COMMAND_MODULES) -> list[ModuleType]:
    """The command modules that exist, in list order (a listed module may not yet)."""
    found: list[ModuleType] = []
    for name in names:
        qualified = f"dynir.cli.commands.{name}"
        try:
            found.append(importlib.import_module(qualified))
        except ModuleNotFoundError as error:
            if error.name != qualified:  # the module exists but one of its imports is missing: a bug
                raise
    return found


def build_parser(commands: Sequence[ModuleType]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dynir", description="dynir: a multi-level IR compiler for deep-learning models")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="<command>", title="commands")
    for module in commands:
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(load_commands())
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    try:
        return int(args.run(args))
    except DynirError as error:
        print(error_text(error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001  (an internal bug: one line, traceback with --debug)
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        print(f"internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
