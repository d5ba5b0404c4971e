"""fuse-elementwise: groups formed, remarks, and numerics of the fused loop nests."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_checks import check_compiled, group_ops, groups, run_passes

import dynir

RNG = np.random.default_rng(0)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


CHAIN = """
func.func @main(%x: tensor<?x?xf32>, %b: tensor<?xf32>, %y: tensor<?x1xf32>) -> (tensor<?x?xf32>, tensor<?x?xf32>) {
  %s = nn.constant {value = dense<1.5> : tensor<f32>} : tensor<f32>
  %0 = nn.mul %x, %s : (tensor<?x?xf32>, tensor<f32>) -> tensor<?x?xf32>
  %1 = nn.add %0, %b : (tensor<?x?xf32>, tensor<?xf32>) -> tensor<?x?xf32>
  %2 = nn.sigmoid %1 : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %3 = nn.sub %2, %y : (tensor<?x?xf32>, tensor<?x1xf32>) -> tensor<?x?xf32>
  %4 = nn.tanh %3 : (tensor<?x?xf32>) -> tensor<?x?xf32>
  func.return %4, %1 : tensor<?x?xf32>, tensor<?x?xf32>
}
"""


def test_chain_is_one_group_with_two_outputs() -> None:
    fused, remarks = run_passes(dynir.parse(CHAIN), "fuse-elementwise")
    (group,) = groups(fused)
    assert group_ops(group) == ["nn.mul", "nn.add", "nn.sigmoid", "nn.sub", "nn.tanh"]
    assert len(group.outputs) == 2 and remarks == []


@pytest.mark.parametrize(
    "shapes",
    [
        ((3, 5), (5,), (3, 1)),
        ((1, 5), (5,), (4, 1)),  # x broadcasts along the dynamic rows: outputs differ in shape
        ((3, 5), (1,), (3, 1)),  # a dynamic dim that is 1 at run time
        ((0, 5), (5,), (0, 1)),  # empty
    ],
)
def test_chain_numerics_dynamic_broadcast(shapes: tuple[tuple[int, ...], ...]) -> None:
    check_compiled(dynir.parse(CHAIN), *(f32(*s) for s in shapes))


VIEWS = """
func.func @main(%x: tensor<?x6xf32>, %b: tensor<3xf32>) -> tensor<2x?x3xf32> {
  %0 = nn.relu %x : (tensor<?x6xf32>) -> tensor<?x6xf32>
  %1 = nn.slice %0 {starts = array<i64: 0>, ends = array<i64: 6>, axes = array<i64: 1>, steps = array<i64: 1>} : (tensor<?x6xf32>) -> tensor<?x6xf32>
  %2 = nn.reshape %1 {shape = array<i64: 0, 2, 3>} : (tensor<?x6xf32>) -> tensor<?x2x3xf32>
  %3 = nn.transpose %2 {perm = array<i64: 1, 0, 2>} : (tensor<?x2x3xf32>) -> tensor<2x?x3xf32>
  %4 = nn.add %3, %b : (tensor<2x?x3xf32>, tensor<3xf32>) -> tensor<2x?x3xf32>
  func.return %4 : tensor<2x?x3xf32>
}
"""


def test_views_fuse_as_index_arithmetic() -> None:
    fused, _ = run_passes(dynir.parse(VIEWS), "fuse-elementwise")
    (group,) = groups(fused)
    assert group_ops(group) == ["nn.relu", "nn.slice", "nn.reshape", "nn.transpose", "nn.add"]
    for rows in (4, 1, 0):
        check_compiled(dynir.parse(VIEWS), f32(rows, 6), f32(3))


def test_batch_norm_fuses_as_elementwise() -> None:
    text = """
func.func @main(%x: tensor<?x3x4xf32>, %g: tensor<3xf32>, %b: tensor<3xf32>, %m: tensor<3xf32>, %v: tensor<3xf32>) -> tensor<?x3x4xf32> {
  %0 = nn.batch_norm %x, %g, %b, %m, %v : (tensor<?x3x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x3x4xf32>
  %1 = nn.relu %0 : (tensor<?x3x4xf32>) -> tensor<?x3x4xf32>
  func.return %1 : tensor<?x3x4xf32>
}
"""
    fused, _ = run_passes(dynir.parse(text), "fuse-elementwise")
    assert [group_ops(g) for g in groups(fused)] == [["nn.batch_norm", "nn.relu"]]
    var = np.abs(f32(3)) + 0.1
    check_compiled(dynir.parse(text), f32(2, 3, 4), f32(3), f32(3), f32(3), var)


def test_producer_used_before_group_is_not_fused() -> None:
    text = """
func.func @main(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = nn.exp %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %1 = nn.reduce_max %0 {axes = array<i64: 1>} : (tensor<?x8xf32>) -> tensor<?x1xf32>
  %2 = nn.div %0, %1 : (tensor<?x8xf32>, tensor<?x1xf32>) -> tensor<?x8xf32>
  %3 = nn.neg %2 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  func.return %3 : tensor<?x8xf32>
}
"""
    fused, remarks = run_passes(dynir.parse(text), "fuse-elementwise")
    assert [group_ops(g) for g in groups(fused)] == [["nn.div", "nn.neg"]]
    assert remarks == ["not fused: producer has 2 users, one of them before the fused consumer"]
    check_compiled(dynir.parse(text), f32(3, 8))
