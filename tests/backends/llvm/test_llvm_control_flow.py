"""scf.for iter_args reductions, scf.if with results, scf.parallel, func.call, alloc/alloca."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dynir.backends.llvm import CompiledModule, TranslateOptions, emit_llvm_ir

CompileIR = Callable[..., CompiledModule]

SUM = """
func.func @sum(%x: memref<?xf32>, %out: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %zero = arith.constant 0.0 : f32
  %total = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero) -> (f32) {
    %v = memref.load %x[%i] : memref<?xf32>
    %next = arith.addf %acc, %v : f32
    scf.yield %next : f32
  }
  memref.store %total, %out[] : memref<f32>
  func.return
}
"""


@pytest.mark.parametrize("size", [0, 1, 7, 1000])
def test_sum_reduction_with_iter_args(compile_ir: CompileIR, size: int) -> None:
    kernel = compile_ir(SUM)["sum"]
    x = np.arange(size, dtype=np.float32) * 0.5
    out = np.full((), np.nan, dtype=np.float32)
    kernel(x, out)
    assert out == pytest.approx(float(x.sum()), rel=1e-6)


def test_sum_order_is_kept_unless_reassoc_is_asked(parse_ir: Callable[[str], object]) -> None:
    module = parse_ir(SUM)
    strict = emit_llvm_ir(module, optimized=True)  # type: ignore[arg-type]
    assert "reassoc" not in strict and "x float>" not in strict
    relaxed_ir = emit_llvm_ir(module, options=TranslateOptions(reassoc_reductions=True))  # type: ignore[arg-type]
    assert "fadd contract reassoc float" in relaxed_ir
    relaxed = emit_llvm_ir(module, optimized=True, options=TranslateOptions(reassoc_reductions=True))  # type: ignore[arg-type]
    assert "x float>" in relaxed  # vectorised with partial sums


def test_reassoc_sum_still_correct(compile_ir: CompileIR) -> None:
    kernel = compile_ir(SUM, TranslateOptions(reassoc_reductions=True))["sum"]
    x = np.random.default_rng(0).standard_normal(1003).astype(np.float32)
    out = np.empty((), dtype=np.float32)
    kernel(x, out)
    assert out == pytest.approx(float(x.astype(np.float64).sum()), abs=1e-3)


def test_scalar_result_and_scf_if_with_results(compile_ir: CompileIR) -> None:
    text = """
    func.func @count_and_clip(%x: memref<?xf32>, %y: memref<?xf32>, %limit: f32) -> i64 {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %n = memref.dim %x, %c0 : memref<?xf32>
      %zero = arith.constant 0 : i64
      %one = arith.constant 1 : i64
      %count = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero) -> (i64) {
        %v = memref.load %x[%i] : memref<?xf32>
        %big = arith.cmpf ogt, %v, %limit : f32
        %clipped, %next = scf.if %big -> (f32, i64) {
          %inc = arith.addi %acc, %one : i64
          scf.yield %limit, %inc : f32, i64
        } else {
          scf.yield %v, %acc : f32, i64
        }
        memref.store %clipped, %y[%i] : memref<?xf32>
        scf.yield %next : i64
      }
      func.return %count : i64
    }
    """
    kernel = compile_ir(text)["count_and_clip"]
    x = np.array([0.5, 3.0, -1.0, 2.5, 7.0], dtype=np.float32)
    y = np.empty_like(x)
    assert kernel(x, y, 2.0) == 3
    np.testing.assert_array_equal(y, np.minimum(x, 2.0))


def test_scf_if_without_else(compile_ir: CompileIR) -> None:
    text = """
    func.func @relu_inplace(%x: memref<?xf32>) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %n = memref.dim %x, %c0 : memref<?xf32>
      %zero = arith.constant 0.0 : f32
      scf.for %i = %c0 to %n step %c1 {
        %v = memref.load %x[%i] : memref<?xf32>
        %neg = arith.cmpf olt, %v, %zero : f32
        scf.if %neg {
          memref.store %zero, %x[%i] : memref<?xf32>
        }
      }
      func.return
    }
    """
    x = np.array([-1.0, 2.0, -3.0, 4.0], dtype=np.float32)
    compile_ir(text)["relu_inplace"](x)
    np.testing.assert_array_equal(x, [0.0, 2.0, 0.0, 4.0])


def test_scf_parallel_with_reduction(compile_ir: CompileIR) -> None:
    text = """
    func.func @scale_and_max(%x: memref<?x?xf32>, %y: memref<?x?xf32>, %out: memref<1xf32>) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %m = memref.dim %x, %c0 : memref<?x?xf32>
      %n = memref.dim %x, %c1 : memref<?x?xf32>
      %two = arith.constant 2.0 : f32
      %lowest = arith.constant -3.0e38 : f32
      %max = "scf.parallel"(%c0, %c0, %m, %n, %c1, %c1, %lowest)
          <{operandSegmentSizes = array<i32: 2, 2, 2, 1>}> ({
      ^bb0(%i: index, %j: index):
        %v = memref.load %x[%i, %j] : memref<?x?xf32>
        %s = arith.mulf %v, %two : f32
        memref.store %s, %y[%i, %j] : memref<?x?xf32>
        scf.reduce(%v : f32) {
        ^bb1(%lhs: f32, %rhs: f32):
          %r = arith.maximumf %lhs, %rhs : f32
          scf.reduce.return %r : f32
        }
      }) : (index, index, index, index, index, index, f32) -> f32
      memref.store %max, %out[%c0] : memref<1xf32>
      func.return
    }
    """
    kernel = compile_ir(text)["scale_and_max"]
    x = np.random.default_rng(3).standard_normal((5, 9)).astype(np.float32)
    y, out = np.empty_like(x), np.empty(1, dtype=np.float32)
    kernel(x, y, out)
    np.testing.assert_array_equal(y, 2 * x)
    assert out[0] == x.max()


def test_call_between_functions(compile_ir: CompileIR) -> None:
    text = """
    func.func private @square_plus(%v: f32, %w: f32) -> f32 {
      %s = arith.mulf %v, %v : f32
      %r = arith.addf %s, %w : f32
      func.return %r : f32
    }
    func.func private @fill_row(%row: memref<?xf32>, %value: f32) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %n = memref.dim %row, %c0 : memref<?xf32>
      scf.for %i = %c0 to %n step %c1 {
        %v = memref.load %row[%i] : memref<?xf32>
        %r = func.call @square_plus(%v, %value) : (f32, f32) -> f32
        memref.store %r, %row[%i] : memref<?xf32>
      }
      func.return
    }
    func.func @apply(%x: memref<?xf32>, %bias: f32) {
      func.call @fill_row(%x, %bias) : (memref<?xf32>, f32) -> ()
      func.return
    }
    """
    compiled = compile_ir(text)
    assert sorted(compiled.exports) == ["apply"]
    x = np.array([1.0, 2.0, -3.0], dtype=np.float32)
    compiled["apply"](x, np.float32(0.5))
    np.testing.assert_array_equal(x, [1.5, 4.5, 9.5])


def test_alloc_dealloc_and_alloca_inside_kernel(compile_ir: CompileIR) -> None:
    text = """
    func.func @reverse_twice_plus(%x: memref<?xf32>, %y: memref<?xf32>) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %n = memref.dim %x, %c0 : memref<?xf32>
      %last = arith.subi %n, %c1 : index
      %tmp = memref.alloc(%n) : memref<?xf32>
      %bias = memref.alloca() : memref<1xf32>
      %ten = arith.constant 10.0 : f32
      memref.store %ten, %bias[%c0] : memref<1xf32>
      scf.for %i = %c0 to %n step %c1 {
        %v = memref.load %x[%i] : memref<?xf32>
        %j = arith.subi %last, %i : index
        memref.store %v, %tmp[%j] : memref<?xf32>
      }
      scf.for %i = %c0 to %n step %c1 {
        %j = arith.subi %last, %i : index
        %v = memref.load %tmp[%j] : memref<?xf32>
        %b = memref.load %bias[%c0] : memref<1xf32>
        %r = arith.addf %v, %b : f32
        memref.store %r, %y[%i] : memref<?xf32>
      }
      memref.dealloc %tmp : memref<?xf32>
      func.return
    }
    """
    kernel = compile_ir(text)["reverse_twice_plus"]
    for size in (0, 1, 17, 4096):
        x = np.arange(size, dtype=np.float32)
        y = np.empty_like(x)
        for _ in range(3):
            kernel(x, y)
        np.testing.assert_array_equal(y, x + 10)


def test_alloc_is_64_byte_aligned(compile_ir: CompileIR) -> None:
    text = """
    func.func @address(%n: index) -> index {
      %buf = memref.alloc(%n) : memref<?xf32>
      %addr = "memref.extract_aligned_pointer_as_index"(%buf) : (memref<?xf32>) -> index
      memref.dealloc %buf : memref<?xf32>
      func.return %addr : index
    }
    """
    kernel = compile_ir(text)["address"]
    for size in (1, 3, 1000):
        assert kernel(size) % 64 == 0


def test_func_call_results_and_noalias_opt_out(parse_ir: Callable[[str], object]) -> None:
    text = """
    func.func @axpy(%x: memref<4xf32>, %y: memref<4xf32>) attributes {dynir.noalias = false} {
      func.return
    }
    func.func @copy(%x: memref<4xf32>, %y: memref<4xf32>) {
      func.return
    }
    """
    llvm_ir = emit_llvm_ir(parse_ir(text))  # type: ignore[arg-type]
    assert 'define void @"axpy"(ptr %"x", ptr %"y")' in llvm_ir
    assert 'define void @"copy"(ptr noalias %"x", ptr noalias %"y")' in llvm_ir
    no_alias = emit_llvm_ir(parse_ir(text), options=TranslateOptions(noalias=False))  # type: ignore[arg-type]
    assert "noalias" not in no_alias
