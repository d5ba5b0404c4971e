"""Diagnostics: user-facing errors with locations, never tracebacks.

``DynirError`` is the one exception type that CLIs turn into ``error: ...`` on stderr and
exit code 1. Locations print as ``file:line:col`` (parsed text) or ``model.onnx: node
'Conv_12' (Conv)`` (imported ONNX nodes, kept as MLIR ``NameLoc``s).

Parsed text gets its locations from ``LocatedParser``, which stamps a ``FileLineColLoc``
on every op that has no explicit ``loc(...)``, so a verifier error points at its line::

    in.mlir:2:8: error: 'nn.add' op shapes 2x4, 3 do not broadcast (axis 1)
      %0 = nn.add %x, %y : (tensor<2x4xf32>, tensor<3xf32>) -> tensor<2x4xf32>
           ^
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import FileLineColLoc, IntAttr, ModuleOp, NameLoc, NoneAttr, StringAttr, UnknownLoc
from xdsl.ir import Attribute, Operation
from xdsl.parser import Parser, UnresolvedOperand
from xdsl.utils.exceptions import ParseError, VerifyException
from xdsl.utils.lexer import Span
from xdsl.utils.mlir_lexer import MLIRTokenKind


class DynirError(Exception):
    """A problem with the user's input: printed as one message, exit code 1."""


def error_text(error: DynirError) -> str:
    """What a CLI prints for ``error``: ``error: ...``, unless already a located diagnostic."""
    text = str(error)
    return text if "error: " in text.split("\n", 1)[0] else f"error: {text}"


def format_location(op: Operation) -> str:
    return format_loc_attr(op.location) or f"'{op.name}'"


def format_loc_attr(loc: Attribute) -> str:
    if isinstance(loc, FileLineColLoc):
        if loc.line.data == 0 and loc.column.data == 0:  # a whole file (an imported model)
            return loc.filename.data
        return f"{loc.filename.data}:{loc.line.data}:{loc.column.data}"
    if isinstance(loc, NameLoc):
        inner = format_loc_attr(loc.location) if not isinstance(loc.location, NoneAttr) else ""
        return f"{inner}: {loc.desc.data}" if inner else loc.desc.data
    if isinstance(loc, UnknownLoc):
        return ""
    return str(loc)


# ----------------------------------------------------------------------------------
# Rendering: ``file:line:col: error: message``, the source line, a caret under it.


@dataclass(frozen=True)
class SourceText:
    """The text a module was parsed from, to quote lines in diagnostics."""

    name: str
    text: str

    def line(self, number: int) -> str | None:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else None


def render(where: str, message: str, *, severity: str = "error", quote: str | None = None,
           column: int = 0, width: int = 1) -> str:
    """One diagnostic: ``where: severity: message``, then the quoted line and a caret."""
    head = f"{where}: {severity}: {message}" if where else f"{severity}: {message}"
    if quote is None or column < 1:
        return head
    width = max(1, min(width, len(quote) - column + 1))
    return f"{head}\n{quote}\n{' ' * (column - 1)}^{'~' * (width - 1)}"


def render_parse_error(error: ParseError) -> str:
    """A parser error in the house format (xDSL prints the message under the caret)."""
    span = error.span
    location = span.get_location()
    start = span.input.get_start_of_line(span.start)
    end = span.input.get_end_of_line(max(span.start, span.end - 1))
    quote = span.input.content[start:end]
    if isinstance(quote, bytes):
        quote = quote.decode("utf-8", "replace")
    message = error.msg[:1].lower() + error.msg[1:] if error.msg[:2].istitle() else error.msg
    if message.startswith(" "):  # some xDSL messages are only a context (" in block definition")
        found = span.text.strip() if isinstance(span.text, str) else ""
        message = f"unexpected {repr(found) if found else 'end of input'}{message}"
    return render(
        f"{location.file}:{location.line}:{location.col}",
        message,
        quote=quote,
        column=span.start - start + 1,
        width=min(span.end, end) - span.start,
    )


def render_op_error(op: Operation | None, message: str, source: SourceText | None) -> str:
    """A verifier error about ``op``: its location, the op name, the quoted line."""
    if op is None:
        return render("", message)
    if not message.startswith(f"'{op.name}' op"):
        message = f"'{op.name}' op {message}"
    loc = op.location
    if isinstance(loc, FileLineColLoc) and source is not None and loc.filename.data == source.name:
        return render(format_loc_attr(loc), message, quote=source.line(loc.line.data), column=loc.column.data)
    return render(format_loc_attr(loc), message)


def close_names(name: str, known: Sequence[str]) -> str:
    """``; did you mean 'a', 'b'?`` for names close to ``name`` (empty when none are)."""
    matches = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""


# ----------------------------------------------------------------------------------
# Verification that names the op at fault.


def verify_module(module: ModuleOp, source: SourceText | None = None) -> None:
    """Verify ``module``; raise ``DynirError`` naming the first op that does not verify."""
    try:
        module.verify()
    except VerifyException as error:
        message = str(error)
        raise DynirError(render_op_error(find_invalid_op(module), message, source)) from None


def find_invalid_op(module: ModuleOp) -> Operation | None:
    """The innermost op that fails verification on its own (xDSL's exception does not say)."""
    for op in module.walk(region_first=True):
        try:
            op.verify(verify_nested_ops=False)
        except VerifyException:
            return op
    return None


# ----------------------------------------------------------------------------------
# Parsing with locations.


class LocatedParser(Parser):
    """xDSL's parser, plus: a ``FileLineColLoc`` on every op without an explicit ``loc``,
    an empty module for empty input, and messages that point at the offending token for
    unregistered ops/dialects and undefined values."""

    def __init__(self, ctx: Context, text: str, name: str, line_offset: int = 0) -> None:
        super().__init__(ctx, text, name)
        self._file = StringAttr(name)
        self._line_offset = line_offset
        self._op_name_span: Span | None = None
        self._first_uses: dict[str, Span] = {}

    def parse_module(self, allow_implicit_module: bool = True) -> ModuleOp:
        if allow_implicit_module and self._current_token.kind == MLIRTokenKind.EOF:
            return ModuleOp([])
        try:
            return super().parse_module(allow_implicit_module)
        except ParseError as error:
            undefined = [n for n in self.forward_ssa_references if n in self._first_uses]
            if error.msg.startswith("values used but not defined") and undefined:
                raise ParseError(self._first_uses[undefined[0]], f"use of undefined value '%{undefined[0]}'") from None
            raise

    def parse_operation(self) -> Operation:
        start = self._current_token.span
        op = super().parse_operation()
        if isinstance(op.location, UnknownLoc):
            where = start.get_location()
            op.location = FileLineColLoc(self._file, IntAttr(where.line + self._line_offset), IntAttr(where.col))
        return op

    def _parse_op_result_list(self) -> list[tuple[Span, int]]:
        results = super()._parse_op_result_list()
        self._op_name_span = self._current_token.span
        return results

    def _get_op_by_name(self, name: str) -> type[Operation]:
        op_type = self.ctx.get_optional_op(name, dialect_stack=self._parser_state.dialect_stack)
        if op_type is not None:
            return op_type
        dialect, _, _ = name.partition(".")
        known_dialects = list(self.ctx.registered_dialect_names)
        if "." in name and dialect not in known_dialects:
            message = (
                f"unregistered dialect '{dialect}' (in op '{name}'){close_names(dialect, known_dialects)}; "
                "pass --allow-unregistered-dialect to accept it"
            )
        else:
            known_ops = [op.name for op in self.ctx.loaded_ops]
            message = f"unregistered operation '{name}'{close_names(name, known_ops)}"
        self.raise_error(message, self._op_name_span)

    def resolve_operand(self, operand: UnresolvedOperand, type: Attribute):  # type: ignore[no-untyped-def]
        if operand.operand_name not in self.ssa_values:
            self._first_uses.setdefault(operand.operand_name, operand.span)
        return super().resolve_operand(operand, type)  # pyright: ignore[reportUnknownVariableType]


def parse_source(ctx: Context, source: SourceText, *, line_offset: int = 0, chunk: str | None = None) -> ModuleOp:
    """Parse ``source`` (or one ``--split-input-file`` ``chunk`` of it at ``line_offset``);
    raise ``DynirError`` with a rendered diagnostic on bad input."""
    text = source.text if chunk is None else chunk
    try:
        return LocatedParser(ctx, text, source.name, line_offset).parse_module()
    except ParseError as error:
        if line_offset:
            error.span = Span(error.span.start, error.span.end, error.span.input, line_offset)
        raise DynirError(render_parse_error(error)) from None
