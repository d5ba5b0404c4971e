"""Fixtures for the LLVM backend tests: MLIR text in, compiled module out."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from dynir.backends.llvm import CompiledModule, TranslateOptions, compile_module
from dynir.ir.context import xdsl_dialects


def parse_loops(text: str) -> ModuleOp:
    """Parse loop-level IR with xDSL's dialects only (no dependency on dynir's own)."""
    ctx = Context()
    for dialect in xdsl_dialects():
        ctx.load_dialect(dialect)
    return Parser(ctx, text, "<test>").parse_module()

CompileIR = Callable[..., CompiledModule]


@pytest.fixture
def compile_ir() -> CompileIR:
    """``compile_ir(text, options=None)``: parse loop-level MLIR and JIT-compile it."""

    def compile_text(text: str, options: TranslateOptions | None = None) -> CompiledModule:
        return compile_module(parse_loops(text), options)

    return compile_text


@pytest.fixture
def parse_ir() -> Callable[[str], ModuleOp]:
    """``parse_ir(text)``: loop-level MLIR text as a module."""
    return parse_loops
