"""Loop lowerings of ``nn.conv`` and ``nn.conv_transpose``: compiled kernels vs the numpy
reference (rtol 1e-4 for the long reductions).

Each module has ``?`` batch and spatial dims and is compiled once, then run on several
shapes: batch 2, 1 and 0, and the smallest spatial sizes the window allows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.builder import Graph
from dynir.builder.ops import PropValue
from dynir.lowering.scalar import LoweringError

RNG = np.random.default_rng(0)


def compile_symbolic(module: ModuleOp) -> dynir.CompiledModel:
    """Compile with every ``?`` dim symbolic (the kernels read sizes at run time) and no
    disk cache, so each run exercises the current lowering."""
    return dynir.compile(module, dynamic=True, cache_dir=False)


def assert_close(module: ModuleOp, input_sets: Sequence[Sequence[np.ndarray]], rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Compile ``module`` once and compare it with the reference on every input set."""
    compiled = compile_symbolic(module)
    for inputs in input_sets:
        got = compiled(*inputs)
        want = dynir.interpret(module, *inputs)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"inputs {[a.shape for a in inputs]}")


def conv_module(op: str, x_shape: Sequence[int | None], w_shape: Sequence[int], channels_out: int, dtype: str, **props: PropValue) -> ModuleOp:
    g = Graph()
    x = g.input("x", tuple(x_shape), dtype)
    w = g.input("w", tuple(w_shape), dtype)
    b = g.input("b", (channels_out,), dtype)
    g.output(g.op1(op, x, w, b, **props))
    return g.module()


def random_inputs(x_shape: Sequence[int], w_shape: Sequence[int], channels_out: int, dtype: str = "float32") -> list[np.ndarray]:
    return [RNG.standard_normal(s).astype(dtype) for s in (tuple(x_shape), tuple(w_shape), (channels_out,))]


# (weight shape, output channels, props, input shapes: channels fixed, batch and spatial vary)
CONV_CASES: dict[str, tuple[tuple[int, ...], int, dict[str, PropValue], list[tuple[int, ...]]]] = {
    "plain_3x3": ((5, 3, 3, 3), 5, {}, [(2, 3, 9, 8), (1, 3, 3, 3), (0, 3, 4, 4)]),
    "padded_strided_dilated_grouped": (
        (6, 2, 3, 3), 6,
        {"group": 2, "strides": [2, 1], "pads": [1, 2, 0, 1], "dilations": [1, 2]},
        [(2, 4, 9, 8), (1, 4, 2, 3)],
    ),
    "depthwise": ((8, 1, 3, 3), 8, {"group": 8, "pads": [1, 1, 1, 1]}, [(2, 8, 7, 6), (1, 8, 1, 1)]),
    "depthwise_multiplier_2": ((8, 1, 5, 5), 8, {"group": 4, "pads": [2, 2, 2, 2], "strides": [2, 2]}, [(1, 4, 11, 10)]),
    "pointwise": ((7, 5, 1, 1), 7, {}, [(2, 5, 4, 3), (1, 5, 1, 1)]),
    "pads_wider_than_kernel": ((2, 3, 2, 2), 2, {"pads": [3, 2, 3, 2]}, [(1, 3, 2, 3)]),
    "1d": ((4, 3, 3), 4, {"pads": [1, 1], "strides": [2], "dilations": [2]}, [(2, 3, 11), (1, 3, 3)]),
    "3d": ((4, 2, 3, 2, 3), 4, {"group": 2, "pads": [1, 0, 1, 1, 0, 1], "strides": [1, 2, 2]}, [(1, 4, 5, 6, 7), (2, 4, 2, 2, 1)]),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv(case: str) -> None:
    w_shape, channels_out, props, x_shapes = CONV_CASES[case]
    rank = len(x_shapes[0])
    module = conv_module("conv", (None, x_shapes[0][1], *(None,) * (rank - 2)), w_shape, channels_out, "float32", **props)
    assert_close(module, [random_inputs(s, w_shape, channels_out) for s in x_shapes])


def test_conv_static_shapes_and_f64() -> None:
    props: dict[str, PropValue] = {"pads": [1, 1, 1, 1], "strides": [2, 2]}
    static = conv_module("conv", (1, 3, 8, 8), (4, 3, 3, 3), 4, "float32", **props)
    assert_close(static, [random_inputs((1, 3, 8, 8), (4, 3, 3, 3), 4)])
    double = conv_module("conv", (None, 3, None, None), (4, 3, 3, 3), 4, "float64", **props)
    assert_close(double, [random_inputs((2, 3, 5, 6), (4, 3, 3, 3), 4, "float64")], rtol=1e-12, atol=1e-12)


def test_conv_dynamic_channels_and_kernel() -> None:
    """Every size from memref.dim: channels and kernel sizes unknown at compile time."""
    g = Graph()
    x = g.input("x", (None, None, None, None))
    w = g.input("w", (None, None, None, None))
    b = g.input("b", (None,))
    g.output(g.conv(x, w, b, pads=[1, 0, 1, 0]))
    assert_close(g.module(), [random_inputs((2, 3, 6, 5), (4, 3, 3, 2), 4), random_inputs((1, 1, 1, 2), (2, 1, 1, 2), 2)])


# (weight shape, output channels, props, input shapes)
CONV_TRANSPOSE_CASES: dict[str, tuple[tuple[int, ...], int, dict[str, PropValue], list[tuple[int, ...]]]] = {
    "plain": ((3, 4, 3, 3), 4, {}, [(2, 3, 5, 4), (1, 3, 1, 1)]),
    "strided_padded_output_padding": (
        (4, 3, 3, 3), 3,
        {"strides": [2, 3], "pads": [1, 0, 2, 1], "output_padding": [1, 2]},
        [(2, 4, 5, 4), (1, 4, 1, 2)],
    ),
    "grouped_dilated": ((4, 3, 3, 2), 6, {"group": 2, "dilations": [2, 3], "strides": [2, 1]}, [(1, 4, 4, 5)]),
    "depthwise": ((6, 1, 4, 4), 6, {"group": 6, "strides": [2, 2], "pads": [1, 1, 1, 1]}, [(2, 6, 3, 3)]),
    "1d": ((2, 3, 4), 3, {"strides": [3], "pads": [1, 2]}, [(2, 2, 7), (1, 2, 1)]),
    "3d": ((2, 2, 2, 3, 2), 2, {"strides": [2, 1, 2], "pads": [0, 1, 0, 0, 1, 1]}, [(1, 2, 3, 4, 3)]),
}


@pytest.mark.parametrize("case", sorted(CONV_TRANSPOSE_CASES))
def test_conv_transpose(case: str) -> None:
    w_shape, channels_out, props, x_shapes = CONV_TRANSPOSE_CASES[case]
    rank = len(x_shapes[0])
    module = conv_module("conv_transpose", (None, x_shapes[0][1], *(None,) * (rank - 2)), w_shape, channels_out, "float32", **props)
    assert_close(module, [random_inputs(s, w_shape, channels_out) for s in x_shapes])


def test_conv_transpose_empty_batch() -> None:
    """Batch 0 gives an empty (0, M, ...) output. (The numpy reference cannot run it: its
    ``reshape(n, group, cg, -1)`` fails on size 0, so the shape is checked directly.)"""
    module = conv_module("conv_transpose", (None, 3, None, None), (3, 4, 3, 3), 4, "float32", strides=[2, 2])
    (got,) = compile_symbolic(module)(*random_inputs((0, 3, 2, 5), (3, 4, 3, 3), 4))
    assert got.shape == (0, 4, 5, 11) and got.dtype == np.float32


def test_conv_on_integers_is_a_lowering_error() -> None:
    module = conv_module("conv", (1, 2, 4, 4), (2, 2, 1, 1), 2, "int32")
    inputs = [np.ones(s, np.int32) for s in ((1, 2, 4, 4), (2, 2, 1, 1), (2,))]
    with pytest.raises(LoweringError, match=r"'nn.conv' on i32 has no loop lowering \(float element types only\)"):
        compile_symbolic(module)(*inputs)
