"""``CompiledModel.profile``: per-kernel times, in program order, with their sources."""

from __future__ import annotations

import numpy as np
import pytest

import dynir
from dynir.runtime.executable import Executable
from dynir.runtime.profile import profile_executable

MODULE = """
func.func @main(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %a = nn.exp %x : (tensor<?x16xf32>) -> tensor<?x16xf32> loc("exp_node")
  %b = nn.softmax %a {axis = -1 : i64} : (tensor<?x16xf32>) -> tensor<?x16xf32> loc("softmax_node")
  %c = nn.transpose %b {perm = array<i64: 1, 0>} : (tensor<?x16xf32>) -> tensor<16x?xf32> loc("t_node")
  %d = nn.reduce_sum %c {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<16x?xf32>) -> tensor<16x1xf32> loc("sum_node")
  %e = nn.reshape %d {shape = array<i64: 1, 16>} : (tensor<16x1xf32>) -> tensor<1x16xf32>
  %f = nn.add %x, %e : (tensor<?x16xf32>, tensor<1x16xf32>) -> tensor<?x16xf32> loc("add_node")
  func.return %f : tensor<?x16xf32>
}
"""


def test_profile_times_every_step_and_names_its_sources() -> None:
    model = dynir.compile(dynir.parse(MODULE), fuse=False)
    x = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
    report = model.profile(x, runs=4)
    assert report.runs == 4
    assert len(report.kernels) >= 5
    assert all(k.median_ms >= 0 for k in report.kernels)
    assert report.call_ms >= report.kernel_ms * 0.5 > 0
    by_source = {k.sources: k for k in report.kernels}
    assert by_source[("exp_node",)].output_shapes == ((5, 16),)
    assert by_source[("sum_node",)].output_shapes == ((16, 1),)
    table = report.table(limit=2)
    assert table.splitlines()[0].split()[:3] == ["kernel", "ms", "%"]
    assert f"... {len(report.kernels) - 2} faster kernels not shown" in table
    assert table.splitlines()[-1].startswith("total ")
    # the profiled calls compute what a plain call does
    np.testing.assert_allclose(model(x)[0], dynir.interpret(dynir.parse(MODULE), x)[0], rtol=1e-5, atol=1e-6)


def test_profile_of_a_fused_model_keeps_every_node_name() -> None:
    model = dynir.compile(dynir.parse(MODULE))
    x = np.ones((3, 16), np.float32)
    sources = [name for k in model.profile(x, runs=1).kernels for name in k.sources]
    assert {"exp_node", "softmax_node", "t_node", "sum_node", "add_node"} <= set(sources)


def test_profile_needs_a_run() -> None:
    model = dynir.compile(dynir.parse(MODULE))
    x = np.ones((2, 16), np.float32)
    model(x)
    (executable,) = {id(e): e for e in model._dispatch.values()}.values()
    assert isinstance(executable, Executable)
    with pytest.raises(ValueError, match="runs must be at least 1, got 0"):
        profile_executable(executable, [x], runs=0)
