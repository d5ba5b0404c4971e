"""fuse-reduction: softmax / layer_norm / reduce groups with producers and consumers."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_checks import check_compiled, group_ops, groups, run_passes

import dynir

RNG = np.random.default_rng(2)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax_with_producers_and_consumer(op: str, axis: int) -> None:
    text = f"""
func.func @main(%s: tensor<?x4x6xf32>, %c: tensor<f32>, %m: tensor<?x1x6xf32>) -> tensor<?x4x6xf32> {{
  %0 = nn.div %s, %c : (tensor<?x4x6xf32>, tensor<f32>) -> tensor<?x4x6xf32>
  %1 = nn.add %0, %m : (tensor<?x4x6xf32>, tensor<?x1x6xf32>) -> tensor<?x4x6xf32>
  %2 = nn.{op} %1 {{axis = {axis} : i64}} : (tensor<?x4x6xf32>) -> tensor<?x4x6xf32>
  %3 = nn.mul %2, %c : (tensor<?x4x6xf32>, tensor<f32>) -> tensor<?x4x6xf32>
  func.return %3 : tensor<?x4x6xf32>
}}
"""
    fused, _ = run_passes(dynir.parse(text), "fuse-reduction")
    assert [group_ops(g) for g in groups(fused)] == [["nn.div", "nn.add", f"nn.{op}", "nn.mul"]]
    for batch, mask_batch in ((3, 3), (2, 1), (0, 1)):
        check_compiled(dynir.parse(text), f32(batch, 4, 6), np.float32(2.0) * np.ones((), np.float32), f32(mask_batch, 1, 6))


def test_layer_norm_with_residual_and_gelu() -> None:
    text = """
func.func @main(%x: tensor<?x3x8xf32>, %r: tensor<?x3x8xf32>, %g: tensor<3x8xf32>, %b: tensor<8xf32>) -> tensor<?x3x8xf32> {
  %0 = nn.add %x, %r : (tensor<?x3x8xf32>, tensor<?x3x8xf32>) -> tensor<?x3x8xf32>
  %1 = nn.layer_norm %0, %g, %b {axis = 1 : i64, epsilon = 1.0e-05 : f64} : (tensor<?x3x8xf32>, tensor<3x8xf32>, tensor<8xf32>) -> tensor<?x3x8xf32>
  %2 = nn.gelu %1 : (tensor<?x3x8xf32>) -> tensor<?x3x8xf32>
  func.return %2 : tensor<?x3x8xf32>
}
"""
    fused, _ = run_passes(dynir.parse(text), "fuse-reduction")
    assert [group_ops(g) for g in groups(fused)] == [["nn.add", "nn.layer_norm", "nn.gelu"]]
    for batch in (2, 1):
        check_compiled(dynir.parse(text), f32(batch, 3, 8), f32(batch, 3, 8), f32(3, 8), f32(8), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_l2", "reduce_sum_square"])
@pytest.mark.parametrize(("axes", "keepdims", "out"), [("0, 2", 1, "1x4x1"), ("1", 0, "?x5")])
def test_reduce_with_expensive_producer(op: str, axes: str, keepdims: int, out: str) -> None:
    text = f"""
func.func @main(%x: tensor<?x4x5xf32>) -> tensor<{out}xf32> {{
  %0 = nn.tanh %x : (tensor<?x4x5xf32>) -> tensor<?x4x5xf32>
  %1 = nn.{op} %0 {{axes = array<i64: {axes}>, keepdims = {keepdims} : i64}} : (tensor<?x4x5xf32>) -> tensor<{out}xf32>
  %2 = nn.neg %1 : (tensor<{out}xf32>) -> tensor<{out}xf32>
  func.return %2 : tensor<{out}xf32>
}}
"""
    fused, remarks = run_passes(dynir.parse(text), "fuse-reduction")
    assert [group_ops(g) for g in groups(fused)] == [["nn.tanh", f"nn.{op}", "nn.neg"]] and remarks == []
    for batch in (3, 1):
        check_compiled(dynir.parse(text), f32(batch, 4, 5), rtol=1e-5, atol=1e-5)


def test_cost_guard_keeps_expensive_producer_out_of_softmax() -> None:
    text = """
func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.exp %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = nn.softmax %0 {axis = 1 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  func.return %1 : tensor<4x8xf32>
}
"""
    fused, remarks = run_passes(dynir.parse(text), "fuse-reduction")
    assert [group_ops(g) for g in groups(fused)] == [["nn.softmax"]]
    assert remarks == ["not fused: 'nn.softmax' reads its input 3 times; recomputing 'nn.exp' costs more than a load"]
