"""ikj matmul: numerics (static, dynamic, zero dims), vectorised inner loop, throughput."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from dynir.backends.llvm import CompiledModule, emit_llvm_ir, host_target

CompileIR = Callable[..., CompiledModule]

MATMUL_IKJ = """
func.func @matmul(%a: memref<{m}x{k}xf32>, %b: memref<{k}x{n}xf32>, %c: memref<{m}x{n}xf32>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %m = memref.dim %a, %c0 : memref<{m}x{k}xf32>
  %k = memref.dim %a, %c1 : memref<{m}x{k}xf32>
  %n = memref.dim %b, %c1 : memref<{k}x{n}xf32>
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %m step %c1 {{
    scf.for %j = %c0 to %n step %c1 {{
      memref.store %zero, %c[%i, %j] : memref<{m}x{n}xf32>
    }}
    scf.for %p = %c0 to %k step %c1 {{
      %aip = memref.load %a[%i, %p] : memref<{m}x{k}xf32>
      scf.for %j = %c0 to %n step %c1 {{
        %bpj = memref.load %b[%p, %j] : memref<{k}x{n}xf32>
        %cij = memref.load %c[%i, %j] : memref<{m}x{n}xf32>
        %prod = arith.mulf %aip, %bpj : f32
        %sum = arith.addf %cij, %prod : f32
        memref.store %sum, %c[%i, %j] : memref<{m}x{n}xf32>
      }}
    }}
  }}
  func.return
}}
"""


def matmul_text(m: int | None, k: int | None, n: int | None) -> str:
    dims = {name: "?" if value is None else str(value) for name, value in (("m", m), ("k", k), ("n", n))}
    return MATMUL_IKJ.format(**dims)


def run_matmul(kernel: Callable[..., object], m: int, k: int, n: int) -> None:
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, dtype=np.float32)
    kernel(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 7, 3), (33, 64, 17), (64, 0, 8), (0, 4, 4), (4, 4, 0)])
def test_dynamic_matmul(compile_ir: CompileIR, shape: tuple[int, int, int]) -> None:
    kernel = compile_ir(matmul_text(None, None, None))["matmul"]
    run_matmul(kernel, *shape)


def test_one_dynamic_kernel_serves_many_shapes(compile_ir: CompileIR) -> None:
    kernel = compile_ir(matmul_text(None, None, None))["matmul"]
    for shape in [(3, 5, 7), (70, 3, 129), (2, 300, 1)]:
        run_matmul(kernel, *shape)


@pytest.mark.parametrize("shape", [(16, 32, 48), (7, 3, 5), (8, 0, 4)])
def test_static_matmul(compile_ir: CompileIR, shape: tuple[int, int, int]) -> None:
    kernel = compile_ir(matmul_text(*shape))["matmul"]
    run_matmul(kernel, *shape)


def test_mixed_static_dynamic_matmul(compile_ir: CompileIR) -> None:
    kernel = compile_ir(matmul_text(None, 64, None))["matmul"]
    assert [len(arg.llvm_types()) for arg in kernel.signature.args] == [2, 2, 3]
    run_matmul(kernel, 9, 64, 31)


def test_inner_loop_is_vectorised(parse_ir: Callable[[str], object]) -> None:
    optimized = emit_llvm_ir(parse_ir(matmul_text(None, None, None)), optimized=True)  # type: ignore[arg-type]
    lanes = host_target().f32_lanes
    assert f"<{lanes} x float>" in optimized or "x float>" in optimized
    assert "fmul contract <" in optimized and "fadd contract <" in optimized
    unoptimized = emit_llvm_ir(parse_ir(matmul_text(None, None, None)))  # type: ignore[arg-type]
    assert "x float>" not in unoptimized
    assert 'define void @"matmul"(ptr noalias %"a", i64 %"a_d0", i64 %"a_d1", ptr noalias %"b"' in unoptimized


def test_avx512_host_uses_16_lanes(parse_ir: Callable[[str], object]) -> None:
    if host_target().vector_width_bits != 512:
        pytest.skip("host has no AVX-512")  # the general check above still runs everywhere
    optimized = emit_llvm_ir(parse_ir(matmul_text(None, None, None)), optimized=True)  # type: ignore[arg-type]
    assert "<16 x float>" in optimized


def test_matmul_512_throughput(compile_ir: CompileIR) -> None:
    """Report GFLOP/s of the 512^3 ikj kernel; the floor only catches a non-vectorised build."""
    n = 512
    kernel = compile_ir(matmul_text(None, None, None))["matmul"]
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    kernel(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-3, atol=1e-3)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        kernel(a, b, c)
        times.append(time.perf_counter() - start)
    gflops = 2 * n**3 / min(times) / 1e9
    print(f"\n512^3 ikj matmul: {min(times) * 1e3:.2f} ms, {gflops:.1f} GFLOP/s")
    assert gflops > 3.0
