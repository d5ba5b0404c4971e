"""Diagnostics: unsupported IR at translation time, bad arrays at call time."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest

from dynir.backends.llvm import CompiledModule, KernelArgumentError, TranslationError

CompileIR = Callable[..., CompiledModule]


def test_unsupported_op_is_named_with_location_and_function(compile_ir: CompileIR) -> None:
    text = """
    func.func @power(%x: i32, %y: i32) -> i32 {
      %r = math.ipowi %x, %y : i32 loc("model.mlir":3:7)
      func.return %r : i32
    }
    """
    with pytest.raises(TranslationError) as error:
        compile_ir(text)
    message = str(error.value)
    assert message.startswith("model.mlir:3:7: 'math.ipowi' op is not supported by the LLVM backend")
    assert message.endswith("(in @power)") or "(in @power)" in message
    assert "exp" in message  # lists what the backend can lower


def test_unsupported_structural_op(compile_ir: CompileIR) -> None:
    text = """
    func.func @view(%x: memref<8xf32>) {
      %s = memref.subview %x[0] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1]>>
      func.return
    }
    """
    with pytest.raises(TranslationError, match=re.escape("'memref.subview' op is not supported by the LLVM backend (in @view)")):
        compile_ir(text)


def test_multi_dimensional_vectors_are_rejected(compile_ir: CompileIR) -> None:
    text = """
    func.func @vec() {
      %v = arith.constant dense<1.0> : vector<4x4xf32>
      func.return
    }
    """
    with pytest.raises(TranslationError, match=re.escape("'arith.constant' op has type vector<4x4xf32>")):
        compile_ir(text)


def test_memref_result_is_rejected(compile_ir: CompileIR) -> None:
    text = """
    func.func @make(%n: index) -> memref<?xf32> {
      %b = memref.alloc(%n) : memref<?xf32>
      func.return %b : memref<?xf32>
    }
    """
    with pytest.raises(TranslationError, match="'func.func' op memref results are not supported"):
        compile_ir(text)


def test_strided_layout_is_rejected(compile_ir: CompileIR) -> None:
    text = """
    func.func @strided(%x: memref<4xf32, strided<[2]>>) {
      func.return
    }
    """
    with pytest.raises(TranslationError, match="only identity \\(row-major contiguous\\) layouts"):
        compile_ir(text)


COPY = """
func.func @copy(%x: memref<?x4xf32>, %y: memref<?x4xf32>) {
  "memref.copy"(%x, %y) : (memref<?x4xf32>, memref<?x4xf32>) -> ()
  func.return
}
"""


def test_memref_copy_and_argument_checks(compile_ir: CompileIR) -> None:
    kernel = compile_ir(COPY)["copy"]
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    y = np.zeros_like(x)
    kernel(x, y)
    np.testing.assert_array_equal(y, x)
    where = "kernel @copy argument 0 (memref<?x4xf32>)"
    cases: list[tuple[tuple[object, ...], str]] = [
        ((x.astype(np.float64), y), f"{where}: expected dtype float32, got float64"),
        ((x.reshape(12), y), f"{where}: expected rank 2, got shape (12,)"),
        ((np.zeros((3, 5), np.float32), y), f"{where}: dim 1 must be 4, got shape (3, 5)"),
        ((np.zeros((4, 6), np.float32)[:, :4], y), f"{where}: array must be C-contiguous"),
        (([1.0], y), f"{where}: expected a numpy array, got list"),
        ((x,), "kernel @copy takes 2 arguments, got 1"),
    ]
    for args, message in cases:
        with pytest.raises(KernelArgumentError, match=re.escape(message)):
            kernel(*args)


def test_unknown_kernel_name(compile_ir: CompileIR) -> None:
    compiled = compile_ir(COPY)
    with pytest.raises(KeyError, match=re.escape("no kernel @cpy; this module exports ['copy']")):
        compiled["cpy"]


def test_kernel_named_like_libm_does_not_capture_libcalls(compile_ir: CompileIR) -> None:
    """``llvm.pow.f32`` lowers to a call to ``powf``; a kernel named @powf must not receive it."""
    text = """
    func.func @powf(%x: memref<?xf32>, %y: memref<?xf32>) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %n = memref.dim %x, %c0 : memref<?xf32>
      %three = arith.constant 3.0 : f32
      scf.for %i = %c0 to %n step %c1 {
        %v = memref.load %x[%i] : memref<?xf32>
        %p = math.powf %v, %three : f32
        memref.store %p, %y[%i] : memref<?xf32>
      }
      func.return
    }
    """
    compiled = compile_ir(text)
    assert compiled.exports["powf"].symbol == "powf.dynir"
    x = np.linspace(0.5, 2, 40, dtype=np.float32)
    y = np.empty_like(x)
    compiled["powf"](x, y)
    np.testing.assert_allclose(y, x**3, rtol=1e-6)


def test_identity_affine_map_layout_is_accepted(compile_ir: CompileIR) -> None:
    text = """
    func.func @id(%x: memref<2x3xf32, affine_map<(d0, d1) -> (d0, d1)>>) {
      func.return
    }
    """
    assert compile_ir(text)["id"].signature.args[0].describe() == "memref<2x3xf32>"
