"""The reference interpreter: runs a module with numpy, op by op.

It is the oracle for every pass and backend: each ``nn`` op's ``reference`` method gives
its semantics. Region ops (``fusion.group`` and friends) are interpreted by running their
body with the block arguments bound to the group's operands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.traits import IsTerminator

Env = dict[SSAValue, np.ndarray]
OpHandler = Callable[[Operation, Sequence[np.ndarray]], Sequence[np.ndarray]]

_HANDLERS: dict[type[Operation], OpHandler] = {}


class InterpreterError(Exception):
    """An op the interpreter cannot run, or inputs that do not fit the function."""


def register_handler(op_type: type[Operation]) -> Callable[[OpHandler], OpHandler]:
    """Give ``op_type`` (an op without a ``reference`` method) interpreter semantics."""

    def wrap(handler: OpHandler) -> OpHandler:
        _HANDLERS[op_type] = handler
        return handler

    return wrap


def entry_function(module: ModuleOp, name: str | None = None) -> func.FuncOp:
    """The function to run: ``name``, else ``@main``, else the only public function."""
    funcs = [op for op in module.ops if isinstance(op, func.FuncOp) and op.body.blocks]
    if name is not None:
        for f in funcs:
            if f.sym_name.data == name:
                return f
        raise InterpreterError(f"no function @{name} in the module")
    for f in funcs:
        if f.sym_name.data == "main":
            return f
    public = [f for f in funcs if f.sym_visibility is None or f.sym_visibility.data == "public"]
    if len(public) != 1:
        raise InterpreterError(f"the module has {len(public)} public functions; name one")
    return public[0]


def interpret(module: ModuleOp, *arrays: np.ndarray, function: str | None = None) -> list[np.ndarray]:
    """Run ``function`` (default ``@main``) of ``module`` on ``arrays``; returns its results."""
    f = entry_function(module, function)
    block = f.body.block
    if len(arrays) != len(block.args):
        raise InterpreterError(f"@{f.sym_name.data} takes {len(block.args)} inputs, got {len(arrays)}")
    return run_block(block, [np.asarray(a) for a in arrays])


def run_block(block: Block, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run the ops of ``block`` with its arguments bound to ``args``; returns what its
    terminator yields."""
    env: Env = dict(zip(block.args, args))
    for op in block.ops:
        operands = [env[v] for v in op.operands]
        if op is block.last_op and op.has_trait(IsTerminator):
            return operands
        results = run_op(op, operands)
        if len(results) != len(op.results):
            raise InterpreterError(f"'{op.name}' produced {len(results)} values for {len(op.results)} results")
        for value, array in zip(op.results, results):
            env[value] = np.asarray(array)
    raise InterpreterError("block has no terminator")


def run_op(op: Operation, operands: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
    handler = _HANDLERS.get(type(op))
    if handler is not None:
        return handler(op, operands)
    reference = getattr(op, "reference", None)
    if reference is None:
        raise InterpreterError(f"the interpreter cannot run '{op.name}' (no reference semantics)")
    return reference(*operands)
