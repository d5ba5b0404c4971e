"""Loop lowerings of softmax, log_softmax, layer_norm, batch_norm and instance_norm:
compiled kernels vs the numpy references, with ``?`` dims, size-0/size-1 cases,
every axis, broadcasting scale/bias, f16/f64, and rows with infinities.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.builder import Graph

RNG = np.random.default_rng(5)


def values(shape: Sequence[int], dtype: str = "float32", scale: float = 3.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def tolerance(dtype: str) -> tuple[float, float]:
    # f16: batch_norm/instance_norm references round every intermediate to f16.
    return (1e-2, 1e-2) if dtype == "float16" else (1e-4, 1e-5)


def assert_matches(module: ModuleOp, labels: Sequence[str], cases: Sequence[Sequence[np.ndarray]], rtol: float, atol: float) -> None:
    compiled = dynir.compile(module)
    for inputs in cases:
        got = compiled(*inputs)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice" on size-0 rows
            want = dynir.interpret(module, *inputs)
        shapes = [a.shape for a in inputs]
        for label, g, w in zip(labels, got, want, strict=True):
            assert (g.dtype, g.shape) == (w.dtype, w.shape), f"{label} on {shapes}"
            np.testing.assert_allclose(
                g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True,
                err_msg=f"{label} on inputs {shapes}",
            )


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_softmax_and_log_softmax_over_every_axis(dtype: str) -> None:
    g = Graph()
    x = g.input("x", (None, 3, None), dtype)
    labels: list[str] = []
    for name in ("softmax", "log_softmax"):
        for axis in (-1, 0, 1):
            g.output(g.op1(name, x, axis=axis))
            labels.append(f"{name} axis={axis}")
    cases = [[values((2, 3, 5), dtype)], [values((1, 3, 1), dtype)], [values((0, 3, 4), dtype)], [values((2, 3, 0), dtype)]]
    assert_matches(g.module(), labels, cases, *tolerance(dtype))


def test_softmax_over_an_earlier_axis_in_column_tiles() -> None:
    # axis 1 with a static last dim of 130: two full column tiles and a tail of 2;
    # columns with infinities and a NaN take the same special cases as rows do.
    g = Graph()
    x = g.input("x", (2, 5, 3, 130))
    g.output(g.softmax(x, axis=1))
    g.output(g.log_softmax(x, axis=1))
    data = np.random.default_rng(7).standard_normal((2, 5, 3, 130)).astype(np.float32) * 4
    data[0, :, 0, 3] = -np.inf
    data[1, 2, 1, 64] = np.inf
    data[0, 4, 2, 129] = np.nan
    data[1, :, 2, 0] = [1000.0, 999.0, -1000.0, 0.0, 5.0]
    assert_matches(g.module(), ["softmax", "log_softmax"], [[data]], 1e-5, 1e-6)


def test_softmax_is_stable_and_handles_infinities() -> None:
    g = Graph()
    x = g.input("x", (None, 4))
    g.output(g.softmax(x))
    g.output(g.log_softmax(x))
    rows = np.array(
        [[1000.0, 999.0, -1000.0, 0.0], [-np.inf, 0.0, 1.0, -np.inf], [-np.inf] * 4, [np.inf, 1.0, 2.0, 3.0], [np.nan, 1.0, 2.0, 3.0]],
        np.float32,
    )
    assert_matches(g.module(), ["softmax", "log_softmax"], [[rows]], 1e-5, 1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_layer_norm_every_axis_with_broadcast_parameters(dtype: str) -> None:
    g = Graph()
    x = g.input("x", (None, None, 6), dtype)
    labels: list[str] = []
    cases_params: list[np.ndarray] = []
    for axis, param_shape in ((-1, (6,)), (1, (1, 6)), (0, (6,)), (-2, (None, 6))):
        scale = g.input(f"scale{axis}", param_shape, dtype)
        bias = g.input(f"bias{axis}", (1,), dtype)
        g.output(g.layer_norm(x, scale, bias, axis=axis, epsilon=1e-3))
        labels.append(f"layer_norm axis={axis}")
        cases_params.append(values(tuple(4 if d is None else d for d in param_shape), dtype))
        cases_params.append(values((1,), dtype))
    module = g.module()
    # (None, 6) scale at axis=-2 broadcasts over a run-time size-1 dim or matches dim 1.
    def case(xs: np.ndarray, rows: int) -> list[np.ndarray]:
        params = [p if p.shape != (4, 6) else values((rows, 6), dtype) for p in cases_params]
        return [xs, *params]

    cases = [case(values((2, 4, 6), dtype), 4), case(values((3, 4, 6), dtype), 1), case(values((1, 1, 6), dtype), 1)]
    cases.append(case(values((0, 2, 6), dtype), 2))
    assert_matches(module, labels, cases, *tolerance(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_batch_norm_and_instance_norm(dtype: str) -> None:
    g = Graph()
    x4 = g.input("x4", (None, 3, None, None), dtype)
    x2 = g.input("x2", (None, 3), dtype)
    scale, bias, mean = (g.input(n, (3,), dtype) for n in ("scale", "bias", "mean"))
    variance = g.input("variance", (3,), dtype)
    g.output(g.batch_norm(x4, scale, bias, mean, variance, epsilon=1e-3))
    g.output(g.batch_norm(x2, scale, bias, mean, variance))
    g.output(g.instance_norm(x4, scale, bias, epsilon=1e-4))
    labels = ["batch_norm nchw", "batch_norm nc", "instance_norm"]

    def params() -> list[np.ndarray]:
        return [values((3,), dtype), values((3,), dtype), values((3,), dtype), np.abs(values((3,), dtype)) + 0.1]

    cases = [
        [values((2, 3, 4, 5), dtype), values((4, 3), dtype), *params()],
        [values((1, 3, 1, 1), dtype), values((1, 3), dtype), *params()],
        [values((0, 3, 2, 2), dtype), values((0, 3), dtype), *params()],
        [values((2, 3, 0, 3), dtype), values((2, 3), dtype), *params()],
    ]
    assert_matches(g.module(), labels, cases, *tolerance(dtype))


def test_long_rows_within_tolerance() -> None:
    g = Graph()
    x = g.input("x", (None, None))
    ones = g.constant(np.ones((1,), np.float32))
    g.output(g.softmax(x))
    g.output(g.layer_norm(x, ones, ones, axis=-1))
    inputs = [values((2, 30000), "float32", scale=10.0)]
    assert_matches(g.module(), ["softmax", "layer_norm"], [inputs], 1e-4, 1e-4)
