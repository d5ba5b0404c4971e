"""fuse-epilogue: contraction + elementwise tail groups, remarks, numerics."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_checks import check_compiled, group_ops, groups, run_passes

import dynir
from dynir.lowering.kernels import accepts_epilogue

RNG = np.random.default_rng(1)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


MATMUL = """
func.func @main(%x: tensor<?x8xf32>, %w: tensor<8x16xf32>, %b: tensor<16xf32>, %r: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = nn.matmul %x, %w : (tensor<?x8xf32>, tensor<8x16xf32>) -> tensor<?x16xf32>
  %1 = nn.add %0, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  %2 = nn.gelu %1 : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %3 = nn.add %2, %r : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  func.return %3 : tensor<?x16xf32>
}
"""


def test_matmul_bias_gelu_residual() -> None:
    fused, remarks = run_passes(dynir.parse(MATMUL), "fuse-epilogue")
    assert [group_ops(g) for g in groups(fused)] == [["nn.matmul", "nn.add", "nn.gelu", "nn.add"]]
    assert accepts_epilogue("nn.matmul") and accepts_epilogue("nn.gemm")
    for rows in (5, 1, 0):
        check_compiled(dynir.parse(MATMUL), f32(rows, 8), f32(8, 16), f32(16), f32(rows, 16), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("beta", [1.0, 0.0, 0.5])
def test_gemm_epilogue(beta: float) -> None:
    text = f"""
func.func @main(%x: tensor<?x6xf32>, %w: tensor<4x6xf32>, %c: tensor<4xf32>) -> tensor<?x4xf32> {{
  %0 = nn.gemm %x, %w, %c {{trans_b = 1 : i64, beta = {beta:.1f} : f64}} : (tensor<?x6xf32>, tensor<4x6xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %1 = nn.relu %0 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %1 : tensor<?x4xf32>
}}
"""
    fused, _ = run_passes(dynir.parse(text), "fuse-epilogue")
    assert [group_ops(g) for g in groups(fused)] == [["nn.gemm", "nn.relu"]]
    check_compiled(dynir.parse(text), f32(3, 6), f32(4, 6), f32(4), rtol=1e-4, atol=1e-5)


def test_conv_epilogue_without_hook_applies_tail_in_the_kernel() -> None:
    text = """
func.func @main(%x: tensor<?x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<?x3x5x5xf32> {
  %0 = nn.conv %x, %w, %b {pads = array<i64: 1, 1, 1, 1>} : (tensor<?x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<?x3x5x5xf32>
  %1 = nn.clip %0 {min = 0.0 : f64, max = 6.0 : f64} : (tensor<?x3x5x5xf32>) -> tensor<?x3x5x5xf32>
  func.return %1 : tensor<?x3x5x5xf32>
}
"""
    fused, _ = run_passes(dynir.parse(text), "fuse-epilogue,lower-to-loops")
    (group,) = groups(fused)
    assert group_ops(group) == ["nn.conv", "nn.clip"] and group.kernel is not None
    check_compiled(dynir.parse(text), f32(2, 2, 5, 5), f32(3, 2, 3, 3), f32(3), rtol=1e-4, atol=1e-5)


def test_multi_use_producer_is_not_fused() -> None:
    text = """
func.func @main(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = nn.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %1 = nn.relu %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  func.return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
}
"""
    fused, remarks = run_passes(dynir.parse(text), "fuse-epilogue")
    assert groups(fused) == [] and remarks == ["not fused: producer has 2 users"]
