"""Steps whose output sizes depend on input *values* (``nn.range`` of run-time operands)
run on the host through their ops' numpy semantics; every other step still runs its
kernel, sized from the actual arrays."""

from __future__ import annotations

import numpy as np

import dynir

MODULE = """
func.func @main(%n: tensor<i64>, %x: tensor<?xf32>) -> (tensor<?xi64>, tensor<?xf32>) {
  %z = nn.constant {value = dense<0> : tensor<i64>} : tensor<i64>
  %o = nn.constant {value = dense<1> : tensor<i64>} : tensor<i64>
  %r = nn.range %z, %n, %o : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %c = nn.cast %r {to = f32} : (tensor<?xi64>) -> tensor<?xf32>
  %e = nn.exp %x : (tensor<?xf32>) -> tensor<?xf32>
  %y = nn.add %c, %e : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
  func.return %r, %y : tensor<?xi64>, tensor<?xf32>
}
"""


def test_range_of_a_run_time_value_runs_and_feeds_compiled_kernels() -> None:
    module = dynir.parse(MODULE)
    model = dynir.compile(module)
    for n in (4, 6, 0, 1, 6):
        x = np.linspace(-1, 1, n).astype(np.float32)
        r, y = model(np.array(n, np.int64), x)
        np.testing.assert_array_equal(r, np.arange(n))
        np.testing.assert_allclose(y, np.arange(n) + np.exp(x), rtol=1e-6)
        want = dynir.interpret(module, np.array(n, np.int64), x)
        np.testing.assert_array_equal(r, want[0])


def test_same_shapes_different_values_give_different_sizes() -> None:
    module = dynir.parse(
        """
func.func @main(%start: tensor<i64>, %limit: tensor<i64>) -> tensor<?xi64> {
  %d = nn.constant {value = dense<2> : tensor<i64>} : tensor<i64>
  %r = nn.range %start, %limit, %d : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  %s = nn.mul %r, %r : (tensor<?xi64>, tensor<?xi64>) -> tensor<?xi64>
  func.return %s : tensor<?xi64>
}
"""
    )
    model = dynir.compile(module)
    for start, limit in [(0, 7), (3, 4), (5, 1), (-4, 9)]:
        (got,) = model(np.array(start, np.int64), np.array(limit, np.int64))
        np.testing.assert_array_equal(got, np.arange(start, limit, 2) ** 2)
    assert model.stats.compiles == 1  # one specialisation serves every value


def test_profile_of_a_value_dependent_model_names_every_step() -> None:
    model = dynir.compile(dynir.parse(MODULE))
    report = model.profile(np.array(5, np.int64), np.ones(5, np.float32), runs=2)
    assert ((5,),) in [k.output_shapes for k in report.kernels]
    assert report.call_ms > 0
