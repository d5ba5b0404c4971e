"""Diagnostics: user-facing errors with locations, never tracebacks.

``DynirError`` is the one exception type that CLIs turn into ``error: ...`` on stderr and
exit code 1. Locations print as ``file:line:col`` (parsed text) or ``model.onnx: node
'Conv_12' (Conv)`` (imported ONNX nodes, kept as MLIR ``NameLoc``s).
"""

from __future__ import annotations

from xdsl.dialects.builtin import FileLineColLoc, NameLoc, NoneAttr, UnknownLoc
from xdsl.ir import Attribute, Operation


class DynirError(Exception):
    """A problem with the user's input: printed as one message, exit code 1."""


def format_location(op: Operation) -> str:
    return format_loc_attr(op.location) or f"'{op.name}'"


def format_loc_attr(loc: Attribute) -> str:
    if isinstance(loc, FileLineColLoc):
        return f"{loc.filename.data}:{loc.line.data}:{loc.column.data}"
    if isinstance(loc, NameLoc):
        inner = format_loc_attr(loc.location) if not isinstance(loc.location, NoneAttr) else ""
        return f"{inner}: {loc.desc.data}" if inner else loc.desc.data
    if isinstance(loc, UnknownLoc):
        return ""
    return str(loc)
