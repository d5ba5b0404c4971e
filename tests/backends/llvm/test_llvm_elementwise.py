"""Elementwise kernels over dynamic 1-d memrefs: math ops, max, fast-math flags."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dynir.backends.llvm import CompiledModule

CompileIR = Callable[..., CompiledModule]

UNARY_KERNEL = """
func.func @{name}(%x: memref<?xf32>, %y: memref<?xf32>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  scf.for %i = %c0 to %n step %c1 {{
    %v = memref.load %x[%i] : memref<?xf32>
    %r = {op} %v : f32
    memref.store %r, %y[%i] : memref<?xf32>
  }}
  func.return
}}
"""


def _erf(x: np.ndarray) -> np.ndarray:
    import math

    return np.array([math.erf(float(v)) for v in x], dtype=np.float32)


UNARY_CASES = {
    "exp": ("math.exp", np.exp),
    "tanh": ("math.tanh", np.tanh),
    "erf": ("math.erf", _erf),
    "log": ("math.log", np.log),
    "sqrt": ("math.sqrt", np.sqrt),
    "rsqrt": ("math.rsqrt", lambda x: 1 / np.sqrt(x)),
    "absf": ("math.absf", np.abs),
    "floor": ("math.floor", np.floor),
    "ceil": ("math.ceil", np.ceil),
    "roundeven": ("math.roundeven", np.round),
    "sin": ("math.sin", np.sin),
    "cos": ("math.cos", np.cos),
    "log2": ("math.log2", np.log2),
    "negf": ("arith.negf", np.negative),
}


@pytest.mark.parametrize("size", [0, 1, 7, 1000])
@pytest.mark.parametrize("name", ["exp", "tanh", "erf"])
def test_unary_matches_numpy_for_every_size(compile_ir: CompileIR, name: str, size: int) -> None:
    op, reference = UNARY_CASES[name]
    kernel = compile_ir(UNARY_KERNEL.format(name=name, op=op))[name]
    x = np.linspace(-4, 4, size, dtype=np.float32)
    y = np.full(size, np.nan, dtype=np.float32)
    kernel(x, y)
    np.testing.assert_allclose(y, reference(x), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(UNARY_CASES))
def test_more_unary_ops(compile_ir: CompileIR, name: str) -> None:
    op, reference = UNARY_CASES[name]
    kernel = compile_ir(UNARY_KERNEL.format(name=name, op=op))[name]
    x = np.linspace(0.1, 9.7, 37, dtype=np.float32)
    if name in ("absf", "floor", "ceil", "roundeven", "negf", "sin", "cos", "exp", "tanh", "erf"):
        x = x - 5.0
    y = np.empty_like(x)
    kernel(x, y)
    np.testing.assert_allclose(y, reference(x), rtol=2e-6, atol=1e-6)


BINARY_KERNEL = """
func.func @{name}(%a: memref<?xf32>, %b: memref<?xf32>, %y: memref<?xf32>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %a, %c0 : memref<?xf32>
  scf.for %i = %c0 to %n step %c1 {{
    %u = memref.load %a[%i] : memref<?xf32>
    %v = memref.load %b[%i] : memref<?xf32>
    %r = {op} %u, %v : f32
    memref.store %r, %y[%i] : memref<?xf32>
  }}
  func.return
}}
"""

BINARY_CASES = {
    "maximumf": ("arith.maximumf", np.maximum),
    "minimumf": ("arith.minimumf", np.minimum),
    "maxnumf": ("arith.maxnumf", np.fmax),
    "minnumf": ("arith.minnumf", np.fmin),
    "addf": ("arith.addf", np.add),
    "subf": ("arith.subf", np.subtract),
    "mulf": ("arith.mulf", np.multiply),
    "divf": ("arith.divf", np.divide),
    "powf": ("math.powf", np.power),
    "copysign": ("math.copysign", np.copysign),
    "atan2": ("math.atan2", np.arctan2),
}


@pytest.mark.parametrize("size", [0, 1, 7, 1000])
def test_maximumf_for_every_size(compile_ir: CompileIR, size: int) -> None:
    kernel = compile_ir(BINARY_KERNEL.format(name="relu_max", op="arith.maximumf"))["relu_max"]
    rng = np.random.default_rng(size)
    a, b = rng.standard_normal(size).astype(np.float32), rng.standard_normal(size).astype(np.float32)
    y = np.empty(size, dtype=np.float32)
    kernel(a, b, y)
    np.testing.assert_array_equal(y, np.maximum(a, b))


@pytest.mark.parametrize("name", sorted(BINARY_CASES))
def test_binary_ops(compile_ir: CompileIR, name: str) -> None:
    op, reference = BINARY_CASES[name]
    kernel = compile_ir(BINARY_KERNEL.format(name=name, op=op))[name]
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 3, 64).astype(np.float32)
    b = rng.uniform(-2, 2, 64).astype(np.float32)
    y = np.empty(64, dtype=np.float32)
    kernel(a, b, y)
    np.testing.assert_allclose(y, reference(a, b), rtol=2e-6)


def test_maximumf_propagates_nan_and_maxnumf_ignores_it(compile_ir: CompileIR) -> None:
    maximum = compile_ir(BINARY_KERNEL.format(name="k", op="arith.maximumf"))["k"]
    maxnum = compile_ir(BINARY_KERNEL.format(name="k", op="arith.maxnumf"))["k"]
    a = np.array([np.nan, 1.0, -0.0], dtype=np.float32)
    b = np.array([2.0, np.nan, 0.0], dtype=np.float32)
    y = np.empty(3, dtype=np.float32)
    maximum(a, b, y)
    assert np.isnan(y[0]) and np.isnan(y[1]) and y[2] == 0.0 and not np.signbit(y[2])
    maxnum(a, b, y)
    np.testing.assert_array_equal(y[:2], [2.0, 1.0])


def test_fma_and_f64_libm(compile_ir: CompileIR) -> None:
    text = """
    func.func @k(%a: memref<?xf64>, %y: memref<?xf64>, %z: memref<?xf64>) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %n = memref.dim %a, %c0 : memref<?xf64>
      %two = arith.constant 2.0 : f64
      scf.for %i = %c0 to %n step %c1 {
        %v = memref.load %a[%i] : memref<?xf64>
        %f = math.fma %v, %two, %v : f64
        memref.store %f, %y[%i] : memref<?xf64>
        %e = math.erf %v : f64
        memref.store %e, %z[%i] : memref<?xf64>
      }
      func.return
    }
    """
    kernel = compile_ir(text)["k"]
    a = np.linspace(-2, 2, 9)
    y, z = np.empty_like(a), np.empty_like(a)
    kernel(a, y, z)
    import math

    np.testing.assert_allclose(y, 3 * a, rtol=1e-15)
    np.testing.assert_allclose(z, [math.erf(v) for v in a], rtol=1e-15)


CMPF = """
func.func @k(%a: memref<?xf32>, %b: memref<?xf32>, %y: memref<?xi1>) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = memref.dim %a, %c0 : memref<?xf32>
  scf.for %i = %c0 to %n step %c1 {{
    %u = memref.load %a[%i] : memref<?xf32>
    %v = memref.load %b[%i] : memref<?xf32>
    %r = arith.cmpf {predicate}, %u, %v : f32
    memref.store %r, %y[%i] : memref<?xi1>
  }}
  func.return
}}
"""

FA = np.array([1.0, 2.0, np.nan, 3.0, np.nan], dtype=np.float32)
FB = np.array([2.0, 2.0, 1.0, 1.0, np.nan], dtype=np.float32)
UNORDERED = np.isnan(FA) | np.isnan(FB)
CMPF_CASES = {
    "false": np.zeros(5, dtype=bool),
    "oeq": FA == FB,
    "ogt": FA > FB,
    "oge": FA >= FB,
    "olt": FA < FB,
    "ole": FA <= FB,
    "one": ~UNORDERED & (FA != FB),
    "ord": ~UNORDERED,
    "ueq": UNORDERED | (FA == FB),
    "ugt": UNORDERED | (FA > FB),
    "uge": UNORDERED | (FA >= FB),
    "ult": UNORDERED | (FA < FB),
    "ule": UNORDERED | (FA <= FB),
    "une": FA != FB,
    "uno": UNORDERED,
    "true": np.ones(5, dtype=bool),
}


@pytest.mark.parametrize("predicate", sorted(CMPF_CASES))
def test_cmpf_predicates_with_nan(compile_ir: CompileIR, predicate: str) -> None:
    kernel = compile_ir(CMPF.format(predicate=predicate))["k"]
    y = np.empty(5, dtype=np.bool_)
    kernel(FA, FB, y)
    np.testing.assert_array_equal(y, CMPF_CASES[predicate])


@pytest.mark.parametrize(("op", "reference"), [("math.exp", np.exp), ("math.tanh", np.tanh), ("arith.negf", np.negative)])
def test_f16_elementwise(compile_ir: CompileIR, op: str, reference: Callable[[np.ndarray], np.ndarray]) -> None:
    text = UNARY_KERNEL.format(name="k", op=op).replace("f32", "f16")
    kernel = compile_ir(text)["k"]
    x = np.linspace(-3, 3, 25, dtype=np.float16)
    y = np.empty_like(x)
    kernel(x, y)
    np.testing.assert_allclose(y.astype(np.float32), reference(x.astype(np.float32)), rtol=2e-3, atol=1e-3)
