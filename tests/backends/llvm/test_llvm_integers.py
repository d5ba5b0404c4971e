"""Integer arithmetic, comparisons and casts across i1/i8/i32/i64/index, against numpy."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dynir.backends.llvm import CompiledModule

CompileIR = Callable[..., CompiledModule]

BINARY_I32 = """
func.func @k(%a: memref<?xi32>, %b: memref<?xi32>, %y: memref<?xi32>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %a, %c0 : memref<?xi32>
  scf.for %i = %c0 to %n step %c1 {{
    %u = memref.load %a[%i] : memref<?xi32>
    %v = memref.load %b[%i] : memref<?xi32>
    %r = {op} %u, %v : i32
    memref.store %r, %y[%i] : memref<?xi32>
  }}
  func.return
}}
"""


def _trunc_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(np.int32)


def _ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (-((-a) // b)).astype(np.int32)


I32_CASES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "arith.addi": np.add,
    "arith.subi": np.subtract,
    "arith.muli": np.multiply,
    "arith.divsi": _trunc_div,
    "arith.remsi": lambda a, b: (a - _trunc_div(a, b) * b).astype(np.int32),
    "arith.floordivsi": np.floor_divide,
    "arith.ceildivsi": _ceil_div,
    "arith.andi": np.bitwise_and,
    "arith.ori": np.bitwise_or,
    "arith.xori": np.bitwise_xor,
    "arith.maxsi": np.maximum,
    "arith.minsi": np.minimum,
}


@pytest.mark.parametrize("op", sorted(I32_CASES))
def test_signed_i32_ops(compile_ir: CompileIR, op: str) -> None:
    kernel = compile_ir(BINARY_I32.format(op=op))["k"]
    a = np.array([7, -7, 7, -7, 0, 100, -100, 5, 6, -1], dtype=np.int32)
    b = np.array([2, 2, -2, -2, 3, 7, 7, 5, -4, 3], dtype=np.int32)
    y = np.empty_like(a)
    kernel(a, b, y)
    np.testing.assert_array_equal(y, I32_CASES[op](a, b))


UNSIGNED_CASES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "arith.divui": np.floor_divide,
    "arith.remui": np.remainder,
    "arith.ceildivui": lambda a, b: -((-a.astype(np.int64)) // b),
    "arith.maxui": np.maximum,
    "arith.minui": np.minimum,
}


@pytest.mark.parametrize("op", sorted(UNSIGNED_CASES))
def test_unsigned_ops_on_uint32_arrays(compile_ir: CompileIR, op: str) -> None:
    kernel = compile_ir(BINARY_I32.format(op=op))["k"]
    a = np.array([7, 4000000000, 9, 0, 13], dtype=np.uint32)
    b = np.array([2, 3, 9, 5, 4000000000], dtype=np.uint32)
    y = np.empty_like(a)
    kernel(a, b, y)
    np.testing.assert_array_equal(y, UNSIGNED_CASES[op](a, b).astype(np.uint32))


def test_shifts(compile_ir: CompileIR) -> None:
    a = np.array([-16, 16, 1, -1], dtype=np.int32)
    b = np.array([2, 3, 31, 4], dtype=np.int32)
    y = np.empty_like(a)
    compile_ir(BINARY_I32.format(op="arith.shli"))["k"](a, b, y)
    np.testing.assert_array_equal(y, np.left_shift(a, b))
    compile_ir(BINARY_I32.format(op="arith.shrsi"))["k"](a, b, y)
    np.testing.assert_array_equal(y, np.right_shift(a, b))
    compile_ir(BINARY_I32.format(op="arith.shrui"))["k"](a, b, y)
    np.testing.assert_array_equal(y.view(np.uint32), np.right_shift(a.view(np.uint32), b.astype(np.uint32)))


CASTS = """
func.func @casts(%x: memref<?xi8>, %f: memref<?xf32>, %wide: memref<?xi64>, %unsigned: memref<?xi64>,
                 %as_float: memref<?xf32>, %back: memref<?xi32>, %mask: memref<?xi1>, %half: memref<?xf16>,
                 %bits: memref<?xi32>, %idx: memref<?xi32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %x, %c0 : memref<?xi8>
  %zero = arith.constant 0 : i8
  scf.for %i = %c0 to %n step %c1 {
    %v = memref.load %x[%i] : memref<?xi8>
    %s = arith.extsi %v : i8 to i64
    memref.store %s, %wide[%i] : memref<?xi64>
    %u = arith.extui %v : i8 to i64
    memref.store %u, %unsigned[%i] : memref<?xi64>
    %fl = arith.sitofp %v : i8 to f32
    memref.store %fl, %as_float[%i] : memref<?xf32>
    %fv = memref.load %f[%i] : memref<?xf32>
    %t = arith.fptosi %fv : f32 to i32
    memref.store %t, %back[%i] : memref<?xi32>
    %neg = arith.cmpi slt, %v, %zero : i8
    memref.store %neg, %mask[%i] : memref<?xi1>
    %h = arith.truncf %fv : f32 to f16
    memref.store %h, %half[%i] : memref<?xf16>
    %b = arith.bitcast %fv : f32 to i32
    memref.store %b, %bits[%i] : memref<?xi32>
    %ii = arith.index_cast %i : index to i32
    %sq = arith.muli %ii, %ii : i32
    %wi = arith.index_cast %sq : i32 to index
    %wl = arith.index_cast %wi : index to i64
    %tr = arith.trunci %wl : i64 to i32
    memref.store %tr, %idx[%i] : memref<?xi32>
  }
  func.return
}
"""


def test_casts_between_widths(compile_ir: CompileIR) -> None:
    kernel = compile_ir(CASTS)["casts"]
    x = np.array([-128, -1, 0, 1, 127], dtype=np.int8)
    f = np.array([-2.7, -0.5, 0.0, 1.5, 1e4], dtype=np.float32)
    wide, unsigned = np.empty(5, np.int64), np.empty(5, np.int64)
    as_float, back, mask = np.empty(5, np.float32), np.empty(5, np.int32), np.empty(5, np.bool_)
    half, bits, idx = np.empty(5, np.float16), np.empty(5, np.int32), np.empty(5, np.int32)
    kernel(x, f, wide, unsigned, as_float, back, mask, half, bits, idx)
    np.testing.assert_array_equal(wide, x.astype(np.int64))
    np.testing.assert_array_equal(unsigned, x.view(np.uint8).astype(np.int64))
    np.testing.assert_array_equal(as_float, x.astype(np.float32))
    np.testing.assert_array_equal(back, f.astype(np.int32))
    np.testing.assert_array_equal(mask, x < 0)
    np.testing.assert_array_equal(half, f.astype(np.float16))
    np.testing.assert_array_equal(bits, f.view(np.int32))
    np.testing.assert_array_equal(idx, np.arange(5) ** 2)


def test_scalar_select(compile_ir: CompileIR) -> None:
    text = """
    func.func @pick(%flag: i1, %a: i64, %b: i64, %f: f64) -> f64 {
      %r = arith.select %flag, %a, %b : i64
      %rf = arith.sitofp %r : i64 to f64
      %u = arith.uitofp %a : i64 to f64
      %s = arith.addf %rf, %f : f64
      %t = arith.addf %s, %u : f64
      func.return %t : f64
    }
    """
    kernel = compile_ir(text)["pick"]
    assert kernel(True, 3, -5, 0.25) == 3 + 0.25 + 3
    assert kernel(False, 3, -5, 0.25) == -5 + 0.25 + 3
    assert kernel(False, -1, 0, 0.0) == pytest.approx(2.0**64)


CMPI = """
func.func @k(%a: memref<?xi8>, %b: memref<?xi8>, %y: memref<?xi1>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %a, %c0 : memref<?xi8>
  scf.for %i = %c0 to %n step %c1 {{
    %u = memref.load %a[%i] : memref<?xi8>
    %v = memref.load %b[%i] : memref<?xi8>
    %r = arith.cmpi {predicate}, %u, %v : i8
    memref.store %r, %y[%i] : memref<?xi1>
  }}
  func.return
}}
"""

SIGNED_A = np.array([-1, 0, 5, 5, -128, 127], dtype=np.int8)
SIGNED_B = np.array([1, 0, 4, 6, 127, -128], dtype=np.int8)
CMPI_CASES = {
    "eq": SIGNED_A == SIGNED_B,
    "ne": SIGNED_A != SIGNED_B,
    "slt": SIGNED_A < SIGNED_B,
    "sle": SIGNED_A <= SIGNED_B,
    "sgt": SIGNED_A > SIGNED_B,
    "sge": SIGNED_A >= SIGNED_B,
    "ult": SIGNED_A.view(np.uint8) < SIGNED_B.view(np.uint8),
    "ule": SIGNED_A.view(np.uint8) <= SIGNED_B.view(np.uint8),
    "ugt": SIGNED_A.view(np.uint8) > SIGNED_B.view(np.uint8),
    "uge": SIGNED_A.view(np.uint8) >= SIGNED_B.view(np.uint8),
}


@pytest.mark.parametrize("predicate", sorted(CMPI_CASES))
def test_cmpi_predicates(compile_ir: CompileIR, predicate: str) -> None:
    kernel = compile_ir(CMPI.format(predicate=predicate))["k"]
    y = np.empty(len(SIGNED_A), dtype=np.bool_)
    kernel(SIGNED_A, SIGNED_B, y)
    np.testing.assert_array_equal(y, CMPI_CASES[predicate])


INT_MATH = """
func.func @k(%a: memref<?xi32>, %y: memref<?xi32>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %a, %c0 : memref<?xi32>
  scf.for %i = %c0 to %n step %c1 {{
    %u = memref.load %a[%i] : memref<?xi32>
    %r = {op} %u : i32
    memref.store %r, %y[%i] : memref<?xi32>
  }}
  func.return
}}
"""

INT_VALUES = np.array([1, -1, 8, 0x00F0, -2**31, 12345], dtype=np.int32)
INT_MATH_CASES = {
    "math.absi": np.abs(INT_VALUES),
    "math.ctpop": np.array([bin(int(v) & 0xFFFFFFFF).count("1") for v in INT_VALUES], dtype=np.int32),
    "math.ctlz": np.array([32 - (int(v) & 0xFFFFFFFF).bit_length() for v in INT_VALUES], dtype=np.int32),
    "math.cttz": np.array([((int(v) & -int(v)) & 0xFFFFFFFF).bit_length() - 1 for v in INT_VALUES], dtype=np.int32),
}


@pytest.mark.parametrize("op", sorted(INT_MATH_CASES))
def test_integer_math_ops(compile_ir: CompileIR, op: str) -> None:
    kernel = compile_ir(INT_MATH.format(op=op))["k"]
    y = np.empty_like(INT_VALUES)
    kernel(INT_VALUES, y)
    np.testing.assert_array_equal(y, INT_MATH_CASES[op])


def test_fpowi(compile_ir: CompileIR) -> None:
    text = """
    func.func @k(%x: f64, %e: i32) -> f64 {
      %r = math.fpowi %x, %e : f64, i32
      func.return %r : f64
    }
    """
    kernel = compile_ir(text)["k"]
    assert kernel(1.5, 3) == pytest.approx(3.375)
    assert kernel(2.0, -2) == pytest.approx(0.25)
