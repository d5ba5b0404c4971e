"""Loop lowerings of ``reduce_*`` and ``argmax``/``argmin``: compiled kernels vs the numpy
references, over leading, trailing, middle and all axes, with and without keepdims,
``?`` dims and size-0/size-1 cases, floats (NaN and infinities included) and integers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.builder import Graph

RNG = np.random.default_rng(11)
REDUCE_OPS = [
    "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_l1",
    "reduce_l2", "reduce_sum_square", "reduce_log_sum_exp",
]  # fmt: skip
FLOAT_ONLY = {"reduce_l2", "reduce_log_sum_exp"}
AXES: list[dict[str, object]] = [
    {"axes": [2]}, {"axes": [0], "keepdims": 0}, {"axes": [1]}, {"axes": [-1, 0], "keepdims": 0},
    {}, {"axes": [0, 1]}, {"axes": [1, 2], "keepdims": 0},
]  # fmt: skip
SHAPES = [(3, 4, 5), (1, 1, 1), (0, 3, 2), (2, 0, 3), (4, 3, 0), (2, 5, 1)]


def values(shape: Sequence[int], dtype: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return RNG.uniform(-2, 2, size=shape).astype(dt)
    info = np.iinfo(dt)
    return RNG.integers(max(info.min, -50), min(info.max, 50), size=shape, endpoint=True).astype(dt)


def assert_matches(module: ModuleOp, labels: Sequence[str], cases: Sequence[Sequence[np.ndarray]], rtol: float = 1e-5, atol: float = 1e-6) -> None:
    compiled = dynir.compile(module)
    for inputs in cases:
        got = compiled(*inputs)
        with np.errstate(all="ignore"):
            want = dynir.interpret(module, *inputs)
        shapes = [a.shape for a in inputs]
        for label, g, w in zip(labels, got, want, strict=True):
            assert (g.dtype, g.shape) == (w.dtype, w.shape), f"{label} on {shapes}"
            if w.dtype.kind == "f":
                np.testing.assert_allclose(
                    g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True,
                    err_msg=f"{label} on inputs {shapes}",
                )
            else:
                np.testing.assert_array_equal(g, w, err_msg=f"{label} on inputs {shapes}")


def reductions_module(dtype: str, ops: Sequence[str], axes: Sequence[dict[str, object]] = AXES) -> tuple[ModuleOp, list[str]]:
    g = Graph()
    x = g.input("x", (None, None, None), dtype)
    labels: list[str] = []
    for name in ops:
        for props in axes:
            g.output(g.op1(name, x, **props))  # type: ignore[arg-type]
            labels.append(f"{name} {props} {dtype}")
    return g.module(), labels


def test_float_reductions_over_every_axis_set() -> None:
    module, labels = reductions_module("float32", REDUCE_OPS)
    assert_matches(module, labels, [[values(s, "float32")] for s in SHAPES], rtol=1e-4)


def test_float64_reductions() -> None:
    module, labels = reductions_module("float64", ["reduce_mean", "reduce_l2", "reduce_log_sum_exp"], AXES[:4])
    assert_matches(module, labels, [[values(s, "float64")] for s in SHAPES])


@pytest.mark.parametrize(
    ("dtype", "axes"), [("int64", AXES), ("int32", AXES[:3]), ("int8", AXES[:3]), ("uint8", AXES[2:5]), ("uint32", AXES[:3])]
)
def test_integer_reductions_wrap_and_truncate_like_numpy(dtype: str, axes: list[dict[str, object]]) -> None:
    module, labels = reductions_module(dtype, [n for n in REDUCE_OPS if n not in FLOAT_ONLY], axes)
    cases = [[values(s, dtype)] for s in SHAPES]
    info = np.iinfo(dtype)
    cases.append([RNG.integers(info.min, info.max, size=(3, 7, 6), endpoint=True, dtype=dtype)])  # wraps
    assert_matches(module, labels, cases)


def test_float16_reductions_accumulate_in_f32() -> None:
    module, labels = reductions_module("float16", REDUCE_OPS, AXES[:3])
    assert_matches(module, labels, [[values(s, "float16")] for s in SHAPES[:3]], rtol=2e-3, atol=2e-3)


def test_nan_and_infinities() -> None:
    g = Graph()
    x = g.input("x", (None, 4))
    names = ["reduce_max", "reduce_min", "reduce_log_sum_exp", "reduce_sum", "argmax", "argmin"]
    for name in names:
        props = {"axis": 1, "keepdims": 0} if name.startswith("arg") else {"axes": [1], "keepdims": 0}
        g.output(g.op1(name, x, **props))  # type: ignore[arg-type]
    rows = [
        [1.0, np.nan, 3.0, np.nan], [np.inf, 1.0, np.inf, 2.0], [-np.inf] * 4, [np.inf] * 4,
        [np.nan] * 4, [2.0, -np.inf, 5.0, 5.0], [-1.0, -1.0, np.inf, -np.inf],
    ]
    assert_matches(g.module(), names, [[np.array(rows, np.float32)]])


@pytest.mark.parametrize("dtype", ["float32", "int64", "uint8", "float16"])
def test_argmax_argmin_every_axis_ties_first_and_last(dtype: str) -> None:
    g = Graph()
    x = g.input("x", (None, 3, None), dtype)
    labels: list[str] = []
    for name in ("argmax", "argmin"):
        for axis in (0, 1, -1):
            for keepdims in (0, 1):
                for last in (0, 1):
                    g.output(g.op1(name, x, axis=axis, keepdims=keepdims, select_last_index=last))
                    labels.append(f"{name} axis={axis} keepdims={keepdims} last={last}")
    ties = RNG.integers(0, 3, size=(4, 3, 5)).astype(dtype)  # many ties
    cases = [[ties], [values((2, 3, 7), dtype)], [values((1, 3, 1), dtype)]]
    assert_matches(g.module(), labels, cases)


def test_reduction_of_a_scalar_and_to_a_scalar() -> None:
    g = Graph()
    s = g.input("s", ())
    x = g.input("x", (None,))
    g.output(g.reduce_sum(s))
    g.output(g.reduce_mean(x, keepdims=0))
    g.output(g.argmax(x, keepdims=0))
    labels = ["sum of scalar", "mean to scalar", "argmax to scalar"]
    assert_matches(g.module(), labels, [[np.array(2.5, np.float32), values((9,), "float32")]])


def test_long_row_sum_within_tolerance() -> None:
    g = Graph()
    x = g.input("x", (None, None))
    g.output(g.reduce_sum(x, axes=[1]))
    g.output(g.reduce_mean(x, axes=[0]))
    assert_matches(g.module(), ["row sum", "column mean"], [[values((3, 20000), "float32")]], rtol=1e-4, atol=1e-4)
