"""JIT lifetimes: many compilations in one process, garbage collection, threads."""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from dynir.backends.llvm import CompiledModule

CompileIR = Callable[..., CompiledModule]

AFFINE = """
func.func @affine(%x: memref<?xf32>, %y: memref<?xf32>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %scale = arith.constant {scale}.0 : f32
  %shift = arith.constant {shift}.0 : f32
  scf.for %i = %c0 to %n step %c1 {{
    %v = memref.load %x[%i] : memref<?xf32>
    %e = math.{fn} %v : f32
    %m = arith.mulf %e, %scale : f32
    %r = arith.addf %m, %shift : f32
    memref.store %r, %y[%i] : memref<?xf32>
  }}
  func.return
}}
"""

FUNCTIONS = {"exp": np.exp, "tanh": np.tanh, "sqrt": np.sqrt}


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_300_recompilations_keep_memory_bounded(compile_ir: CompileIR) -> None:
    x = np.linspace(0.1, 2.0, 33, dtype=np.float32)
    y = np.empty_like(x)
    baseline = 0.0
    for index in range(300):
        fn = list(FUNCTIONS)[index % 3]
        compiled = compile_ir(AFFINE.format(scale=index % 7 + 1, shift=index, fn=fn))
        compiled["affine"](x, y)
        np.testing.assert_allclose(y, FUNCTIONS[fn](x) * (index % 7 + 1) + index, rtol=1e-5)
        del compiled
        if index == 19:  # after warm-up: caches, the JIT itself, lazily loaded modules
            gc.collect()
            baseline = _rss_mb()
    gc.collect()
    growth = _rss_mb() - baseline
    print(f"\nRSS growth over 280 compilations: {growth:.1f} MB")
    assert growth < 200, f"RSS grew by {growth:.0f} MB over 280 compilations"


def test_library_is_freed_when_module_and_kernels_are_collected(compile_ir: CompileIR) -> None:
    compiled = compile_ir(AFFINE.format(scale=2, shift=1, fn="exp"))
    kernel = compiled["affine"]
    tracker = weakref.ref(compiled._tracker)
    module_ref = weakref.ref(compiled)
    del compiled
    gc.collect()
    assert module_ref() is None
    assert tracker() is not None  # the kernel keeps the code mapped
    x = np.zeros(4, dtype=np.float32)
    y = np.empty_like(x)
    kernel(x, y)
    np.testing.assert_array_equal(y, np.full(4, 3.0, dtype=np.float32))
    del kernel
    gc.collect()
    assert tracker() is None


def test_two_modules_with_the_same_kernel_name_coexist(compile_ir: CompileIR) -> None:
    first = compile_ir(AFFINE.format(scale=1, shift=0, fn="exp"))["affine"]
    second = compile_ir(AFFINE.format(scale=1, shift=100, fn="exp"))["affine"]
    x = np.zeros(3, dtype=np.float32)
    y1, y2 = np.empty_like(x), np.empty_like(x)
    first(x, y1)
    second(x, y2)
    np.testing.assert_array_equal(y1, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(y2, [101.0, 101.0, 101.0])


def test_kernels_run_from_threads(compile_ir: CompileIR) -> None:
    kernel = compile_ir(AFFINE.format(scale=3, shift=0, fn="sqrt"))["affine"]
    x = np.linspace(0, 100, 200_000, dtype=np.float32)
    y = np.empty_like(x)
    halves = [(x[:100_000], y[:100_000]), (x[100_000:], y[100_000:])]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda pair: kernel(*pair), halves))
    np.testing.assert_allclose(y, np.sqrt(x) * 3, rtol=1e-6)
