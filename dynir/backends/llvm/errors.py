"""The two errors of the LLVM backend: bad IR at translation, bad arrays at call time."""

from __future__ import annotations

from xdsl.ir import Operation

from dynir.diagnostics import DynirError, format_loc_attr


class TranslationError(DynirError):
    """Loop-level IR the LLVM translation cannot handle (op, type or structure)."""

    @classmethod
    def at(cls, op: Operation, message: str) -> TranslationError:
        """``loc: 'math.atan' op <message> (in @kernel)``: location when known, op name always."""
        where = format_loc_attr(op.location)
        function = _enclosing_function_name(op)
        text = f"'{op.name}' op {message}"
        if function is not None:
            text += f" (in @{function})"
        return cls(f"{where}: {text}" if where else text)


class KernelArgumentError(DynirError):
    """A numpy argument that does not fit the kernel's signature (dtype, rank, shape, layout)."""


def _enclosing_function_name(op: Operation) -> str | None:
    from xdsl.dialects.func import FuncOp

    parent = op.parent_op()
    while parent is not None and not isinstance(parent, FuncOp):
        parent = parent.parent_op()
    return parent.sym_name.data if parent is not None else None
