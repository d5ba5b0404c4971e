"""Static int8 for a matmul of two activations: calibration records both operands'
ranges, ``quantize`` makes B symmetric int8, ``prepack-weights`` packs it at run time
(``quant.pack_panels``), and the result runs on the int8 micro-kernel."""

from __future__ import annotations

import numpy as np
import pytest

import dynir
from dynir.bench.int8 import layer_counts
from dynir.lowering.int8_microkernel import Int8Tile, int8_lanes
from dynir.quantization import calibrate_module, cosine
from dynir.quantization.params import RHS_RANGE, input_range
from tests.quant.conftest import assert_bit_exact

K, N = 37, 70  # K % 4 = 1, N past two 32-column panels


def activation_matmul() -> str:
    return f"""
func.func @main(%a: tensor<?x{K}xf32>, %b: tensor<{K}x{N}xf32>) -> tensor<?x{N}xf32> {{
  %y = nn.matmul %a, %b : (tensor<?x{K}xf32>, tensor<{K}x{N}xf32>) -> tensor<?x{N}xf32>
  %r = nn.relu %y : (tensor<?x{N}xf32>) -> tensor<?x{N}xf32>
  func.return %r : tensor<?x{N}xf32>
}}
"""


def samples(n: int, rows: int = 9, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.random((rows, K), np.float32), rng.standard_normal((K, N)).astype(np.float32)] for _ in range(n)]


def test_calibration_records_the_rhs_range_and_quantize_makes_it_int8() -> None:
    module = dynir.parse(activation_matmul())
    data = samples(8)
    kept = calibrate_module(module, data, exclude=["matmul"])  # ranges recorded, layer left in float
    (matmul,) = [op for op in kept.walk() if op.name == "nn.matmul"]
    lo, hi = input_range(matmul, RHS_RANGE) or (None, None)
    assert lo == min(float(b.min()) for _, b in data) and hi == max(float(b.max()) for _, b in data)
    quantized = calibrate_module(module, data, keep_float=False)
    assert layer_counts(quantized) == (1, 1)
    names = [op.name for op in quantized.walk()]
    assert "nn.matmul" not in names and names.count("quant.quantize") == 2 and "quant.matmul" in names


@pytest.mark.parametrize("rows", [9, 1, 0])
def test_runtime_packed_matmul_is_bit_exact_and_close_to_float(rows: int) -> None:
    module = dynir.parse(activation_matmul())
    quantized = calibrate_module(module, samples(8), keep_float=False)
    inputs = samples(2, rows=rows, seed=7)
    assert_bit_exact(quantized, inputs)
    compiled = dynir.compile(quantized, cache_dir=False)
    for a, b in inputs:
        if rows:
            assert cosine(dynir.interpret(module, a, b)[0], compiled(a, b)[0]) >= 0.999


def test_the_compiled_model_packs_b_in_its_own_kernel() -> None:
    quantized = calibrate_module(dynir.parse(activation_matmul()), samples(8), keep_float=False)
    compiled = dynir.compile(quantized, cache_dir=False)
    a, b = samples(1)[0]
    kernels = [k.kernel for k in compiled.profile(a, b, runs=1).kernels]
    assert any(k.startswith("quant.pack_panels") for k in kernels), kernels
    assert any("packed_matmul" in k for k in kernels), kernels


@pytest.mark.parametrize("shape", [(1, 1), (4, 32), (9, 33), (64, 100)])
def test_pack_panels_kernel_matches_its_reference(shape: tuple[int, int]) -> None:
    k, n = shape
    width = Int8Tile(int8_lanes()).cols
    panels = -(-n // width)
    types = f"(tensor<{panels}x{-(-k // 4)}x{width}x4xi8>, tensor<3x{panels * width}xi32>)"
    text = f"""
func.func @main(%b: tensor<{k}x{n}xi8>) -> {types} {{
  %p, %t = quant.pack_panels %b {{width = {width} : i64}} : (tensor<{k}x{n}xi8>) -> {types}
  func.return %p, %t : {types[1:-1]}
}}
"""
    b = np.random.default_rng(k * n).integers(-128, 128, shape).astype(np.int8)
    assert_bit_exact(text, [[b]])
