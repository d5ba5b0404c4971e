"""Parsing and printing MLIR text with dynir's dialects, resource blobs included."""

from __future__ import annotations

import io

from xdsl.dialects.builtin import ModuleOp
from xdsl.printer import Printer

from dynir.ir.constants import BLOBS
from dynir.ir.context import make_context


def parse(text: str, name: str = "<string>") -> ModuleOp:
    """Parse MLIR text (with a ``dialect_resources`` section, if any) into a module;
    every op gets a ``file:line:col`` location (``name`` is the file)."""
    from dynir.diagnostics import LocatedParser

    ctx = make_context()
    BLOBS.begin_parse()
    return LocatedParser(ctx, text, name).parse_module()


def print_ir(module: ModuleOp, *, resources: bool = True) -> str:
    """The module as MLIR text; blobs of ``dense_resource`` constants follow it."""
    stream = io.StringIO()
    printer = Printer(stream=stream)
    printer.print_op(module)
    if resources:
        printer.print_metadata(make_context().loaded_dialects)
    stream.write("\n")
    return stream.getvalue()
