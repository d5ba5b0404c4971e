"""Loop interleaving hints (dynir/backends/llvm/loop_hints.py): an innermost loop that
calls a polynomial math function asks LLVM for ``INTERLEAVE_MATH_LOOPS`` vectors per
iteration, other loops are left to LLVM, and the hinted loop still computes the same."""

from __future__ import annotations

import re

import numpy as np

from dynir.backends.llvm import emit_llvm_ir
from dynir.backends.llvm.loop_hints import INTERLEAVE_MATH_LOOPS

from .conftest import parse_loops

LOOP = """
func.func @f(%x: memref<?xf32>, %y: memref<?xf32>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  scf.for %i = %c0 to %n step %c1 {{
    %v = memref.load %x[%i] : memref<?xf32>
    %r = {body}
    memref.store %r, %y[%i] : memref<?xf32>
  }}
  func.return
}}
"""

HINT = re.compile(r'!"llvm\.loop\.interleave\.count", i32 (\d+)')


def test_a_loop_with_exp_asks_for_interleaving() -> None:
    text = emit_llvm_ir(parse_loops(LOOP.format(body="math.exp %v : f32")))
    assert [int(n) for n in HINT.findall(text)] == [INTERLEAVE_MATH_LOOPS]
    assert re.search(r'br label %"for\.header[.\d]*", !llvm\.loop !(\d+)', text)


def test_a_loop_without_math_is_left_to_llvm() -> None:
    text = emit_llvm_ir(parse_loops(LOOP.format(body="arith.addf %v, %v : f32")))
    assert HINT.findall(text) == []
    assert "!llvm.loop" not in text


def test_the_hinted_loop_is_interleaved_and_exact(compile_ir) -> None:  # type: ignore[no-untyped-def]
    optimized = emit_llvm_ir(parse_loops(LOOP.format(body="math.exp %v : f32")), optimized=True)
    assert re.search(r"<16 x float>", optimized) or re.search(r"<8 x float>", optimized)
    module = compile_ir(LOOP.format(body="math.exp %v : f32"))
    x = np.linspace(-20, 20, 1000, dtype=np.float32)  # not a multiple of 4 vectors: a remainder loop runs
    y = np.empty_like(x)
    module["f"](x, y)
    np.testing.assert_allclose(y, np.exp(x.astype(np.float64)), rtol=3e-7)
