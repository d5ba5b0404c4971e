"""The polynomial transcendental functions (dynir/backends/llvm/vector_math.py): accuracy
against float64 references over dense sweeps of the whole f32 range, libm's special
values (NaN, infinities, signed zeros, overflow, underflow, subnormals), and the check
that LLVM vectorises a loop of them (``<16 x float>`` in the optimised IR)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest

from dynir.backends.llvm import CompiledModule, emit_llvm_ir

from .conftest import parse_loops

CompileIR = Callable[..., CompiledModule]

KERNEL = """
func.func @f(%x: memref<?x{t}>, %y: memref<?x{t}>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %x, %c0 : memref<?x{t}>
  scf.for %i = %c0 to %n step %c1 {{
    %v = memref.load %x[%i] : memref<?x{t}>
    %r = math.{op} %v : {t}
    memref.store %r, %y[%i] : memref<?x{t}>
  }}
  func.return
}}
"""

F32_TINY = float(np.finfo(np.float32).tiny)
SUBNORMALS = [1e-45, 3e-42, 1e-39, 1.1e-38]

# op -> (float64 reference, sweep range of x)
REFERENCES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], tuple[float, float]]] = {
    "exp": (np.exp, (-110.0, 90.0)),
    "log": (np.log, (0.0, 1e6)),
    "log1p": (np.log1p, (-1.0, 1e6)),
    "tanh": (np.tanh, (-30.0, 30.0)),
    "expm1": (np.expm1, (-110.0, 90.0)),
    "erf": (np.vectorize(math.erf, otypes=[np.float64]), (-6.0, 6.0)),
}


def run(compile_ir: CompileIR, op: str, x: np.ndarray) -> np.ndarray:
    t = "f32" if x.dtype == np.float32 else "f64"
    compiled = compile_ir(KERNEL.format(op=op, t=t))
    y = np.empty_like(x)
    compiled["f"](x, y)
    return y


def sweep(lo: float, hi: float) -> np.ndarray:
    """Dense linear sweep plus log-spaced magnitudes of both signs inside ``[lo, hi]``."""
    linear = np.linspace(lo, hi, 400_001)
    magnitudes = np.geomspace(1e-44, 1e6, 200_001)
    values = np.concatenate([linear, magnitudes, -magnitudes, SUBNORMALS, [-v for v in SUBNORMALS]])
    values = values[(values >= lo) & (values <= hi)]
    return values.astype(np.float32)


@pytest.mark.parametrize("op", sorted(REFERENCES))
def test_f32_relative_error_below_1e6(compile_ir: CompileIR, op: str) -> None:
    reference, (lo, hi) = REFERENCES[op]
    x = sweep(lo, hi)
    got = run(compile_ir, op, x).astype(np.float64)
    with np.errstate(all="ignore"):
        want = reference(x.astype(np.float64))
    finite = np.isfinite(want) & (np.abs(want) < float(np.finfo(np.float32).max))
    # Relative error, with subnormal results measured against the smallest normal.
    error = np.abs(got[finite] - want[finite]) / np.maximum(np.abs(want[finite]), F32_TINY)
    worst = int(np.argmax(error))
    assert error[worst] < 1e-6, f"{op}({x[finite][worst]!r}) = {got[finite][worst]!r}, want {want[finite][worst]!r}"


SPECIALS: dict[str, list[tuple[float, float]]] = {
    "exp": [(math.inf, math.inf), (-math.inf, 0.0), (0.0, 1.0), (-0.0, 1.0), (89.0, math.inf),
            (88.8, math.inf), (-104.0, 0.0), (-1e30, 0.0), (1e30, math.inf)],
    "log": [(0.0, -math.inf), (-0.0, -math.inf), (-1.0, math.nan), (-math.inf, math.nan),
            (math.inf, math.inf), (1.0, 0.0)],
    "log1p": [(-1.0, -math.inf), (-2.0, math.nan), (math.inf, math.inf), (0.0, 0.0), (-0.0, -0.0)],
    "tanh": [(math.inf, 1.0), (-math.inf, -1.0), (0.0, 0.0), (-0.0, -0.0), (1e30, 1.0), (-1e30, -1.0)],
    "expm1": [(math.inf, math.inf), (-math.inf, -1.0), (0.0, 0.0), (-0.0, -0.0), (100.0, math.inf)],
    "erf": [(math.inf, 1.0), (-math.inf, -1.0), (0.0, 0.0), (-0.0, -0.0), (1e30, 1.0), (-4.5, -1.0)],
}


@pytest.mark.parametrize("op", sorted(SPECIALS))
def test_f32_special_values_match_libm(compile_ir: CompileIR, op: str) -> None:
    cases = SPECIALS[op] + [(math.nan, math.nan)]
    x = np.array([c[0] for c in cases], dtype=np.float32)
    got = run(compile_ir, op, x)
    want = np.array([c[1] for c in cases], dtype=np.float32)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(want)]), np.signbit(want[~np.isnan(want)]))


def test_f32_exp_underflows_through_subnormals(compile_ir: CompileIR) -> None:
    x = np.linspace(-103.9, -87.0, 20_001, dtype=np.float32)
    got = run(compile_ir, "exp", x)
    want = np.exp(x.astype(np.float64)).astype(np.float32)  # correctly rounded (almost always)
    assert np.min(got[x < -88]) < F32_TINY  # subnormal results are produced, not flushed
    ulp = np.float32(2.0**-149)
    assert np.max(np.abs(got[want < F32_TINY] - want[want < F32_TINY])) <= ulp


def test_f64_exp_is_accurate(compile_ir: CompileIR) -> None:
    x = np.concatenate([np.linspace(-745.0, 709.0, 200_001), np.geomspace(1e-300, 700.0, 10_001)])
    got = run(compile_ir, "exp", x)
    want = np.exp(x)
    error = np.abs(got - want) / np.maximum(np.abs(want), np.finfo(np.float64).tiny)
    assert np.max(error) < 1e-14
    special = run(compile_ir, "exp", np.array([math.inf, -math.inf, math.nan, 710.0, -746.0, 0.0]))
    np.testing.assert_array_equal(special, [math.inf, 0.0, math.nan, math.inf, 0.0, 1.0])


@pytest.mark.parametrize("op", ["erf", "tanh", "log"])
def test_f64_falls_back_to_libm(compile_ir: CompileIR, op: str) -> None:
    reference, (lo, hi) = REFERENCES[op]
    x = np.linspace(max(lo, 1e-3), hi, 1001)
    np.testing.assert_allclose(run(compile_ir, op, x), reference(x), rtol=1e-15)
    text = emit_llvm_ir(parse_loops(KERNEL.format(op=op, t="f64")), optimized=False)
    assert re.search(rf'@"?(llvm\.)?{op}(\.f64)?"?\(', text), f"f64 math.{op} should call libm's {op}"


@pytest.mark.parametrize("op", sorted(REFERENCES))
def test_f32_loop_vectorises(op: str) -> None:
    text = emit_llvm_ir(parse_loops(KERNEL.format(op=op, t="f32")), optimized=True)
    assert re.search(r"<\d+ x float>", text), f"math.{op} loop was not vectorised"
    libm = {"exp": "expf", "log": "logf", "log1p": "log1pf", "tanh": "tanhf", "expm1": "expm1f", "erf": "erff"}[op]
    assert not re.search(rf'@"?({libm}|llvm\.{op}\.f32)"?\(', text)
