"""``vector`` ops in the LLVM backend: masked loads/stores, broadcast, fma, vector arith and
vectors carried through ``scf.for``; numerics on sizes around the vector width."""

from __future__ import annotations

import re

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from dynir.backends.llvm import TranslationError, compile_module, emit_llvm_ir, host_target
from dynir.ir.context import xdsl_dialects

LANES = host_target().f32_lanes


def parse(text: str) -> ModuleOp:
    ctx = Context()
    for dialect in xdsl_dialects():  # the vector dialect is among them
        ctx.load_dialect(dialect)
    return Parser(ctx, text, "<test>").parse_module()


AXPY_SUM = """
func.func @axpy_sum(%x: memref<?xf32>, %y: memref<?xf32>, %a: f32, %out: memref<?xf32>, %sums: memref<Lxf32>) {
  %c0 = arith.constant 0 : index
  %step = arith.constant L : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %av = vector.broadcast %a : f32 to vector<Lxf32>
  %zero = arith.constant 0.0 : f32
  %z = vector.broadcast %zero : f32 to vector<Lxf32>
  %s = scf.for %i = %c0 to %n step %step iter_args(%acc = %z) -> (vector<Lxf32>) {
    %left = arith.subi %n, %i : index
    %m = vector.create_mask %left : vector<Lxi1>
    %xv = vector.maskedload %x[%i], %m, %z : memref<?xf32>, vector<Lxi1>, vector<Lxf32> into vector<Lxf32>
    %yv = vector.maskedload %y[%i], %m, %z : memref<?xf32>, vector<Lxi1>, vector<Lxf32> into vector<Lxf32>
    %r = vector.fma %av, %xv, %yv : vector<Lxf32>
    %next = arith.addf %acc, %r : vector<Lxf32>
    vector.maskedstore %out[%i], %m, %r : memref<?xf32>, vector<Lxi1>, vector<Lxf32>
    scf.yield %next : vector<Lxf32>
  }
  vector.store %s, %sums[%c0] : memref<Lxf32>, vector<Lxf32>
  func.return
}
""".replace("L", str(LANES))


@pytest.fixture(scope="module")
def axpy_sum():  # type: ignore[no-untyped-def]
    return compile_module(parse(AXPY_SUM))["axpy_sum"]


@pytest.mark.parametrize("n", [0, 1, LANES - 1, LANES, LANES + 1, 3 * LANES + 5])
def test_masked_axpy_and_carried_sum(axpy_sum, n: int) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    out = np.full(n + 0, np.nan, np.float32)
    sums = np.empty(LANES, np.float32)
    axpy_sum(x, y, 2.0, out, sums)
    np.testing.assert_allclose(out, 2 * x + y, rtol=1e-6, atol=1e-6)
    want = np.zeros(-(-n // LANES) * LANES, np.float32)
    want[:n] = 2 * x + y
    np.testing.assert_allclose(sums, want.reshape(-1, LANES).sum(0) if n else 0, rtol=1e-5, atol=1e-5)


UNMASKED = """
func.func @scale_rows(%m: memref<?xLxf32>, %s: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %rows = memref.dim %m, %c0 : memref<?xLxf32>
  %sv = vector.broadcast %s : f32 to vector<Lxf32>
  scf.for %i = %c0 to %rows step %c1 {
    %v = vector.load %m[%i, %c0] : memref<?xLxf32>, vector<Lxf32>
    %w = arith.mulf %v, %sv : vector<Lxf32>
    %big = arith.maximumf %w, %v : vector<Lxf32>
    vector.store %big, %m[%i, %c0] : memref<?xLxf32>, vector<Lxf32>
  }
  func.return
}
""".replace("L", str(LANES))


def test_unmasked_load_store_and_vector_arith() -> None:
    module = parse(UNMASKED)
    ir_text = emit_llvm_ir(module)
    assert f"<{LANES} x float>" in ir_text and "llvm.maximum" in ir_text
    kernel = compile_module(module)["scale_rows"]
    m = np.random.default_rng(0).standard_normal((3, LANES)).astype(np.float32)
    want = np.maximum(m * 3.0, m)
    kernel(m, 3.0)
    np.testing.assert_array_equal(m, want)


def test_fma_is_one_intrinsic_call() -> None:
    text = emit_llvm_ir(parse(AXPY_SUM))
    for intrinsic in (f"llvm.fma.v{LANES}f32", f"llvm.masked.load.v{LANES}f32.p0", f"llvm.masked.store.v{LANES}f32.p0"):
        assert re.search(rf'call [^\n]*@"{re.escape(intrinsic)}"', text), intrinsic


def test_two_dimensional_vectors_are_rejected() -> None:
    text = """
    func.func @bad(%m: memref<4x4xf32>) {
      %c0 = arith.constant 0 : index
      %v = vector.load %m[%c0, %c0] : memref<4x4xf32>, vector<4x4xf32>
      func.return
    }
    """
    with pytest.raises(TranslationError, match="supports 1-D vectors of scalars only"):
        emit_llvm_ir(parse(text))


def test_vector_constants_splat_and_per_lane() -> None:
    text = """
    func.func @consts(%out: memref<2x4xf32>) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %splat = arith.constant dense<2.5> : vector<4xf32>
      %lanes = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : vector<4xf32>
      vector.store %splat, %out[%c0, %c0] : memref<2x4xf32>, vector<4xf32>
      vector.store %lanes, %out[%c1, %c0] : memref<2x4xf32>, vector<4xf32>
      func.return
    }
    """
    out = np.zeros((2, 4), np.float32)
    compile_module(parse(text))["consts"](out)
    np.testing.assert_array_equal(out, [[2.5] * 4, [1.0, 2.0, 3.0, 4.0]])
