"""``nn.conv`` as an implicit GEMM on the micro-kernel: compiled results vs the numpy
reference, with the fused epilogue (bias, residual add, relu) applied at the store.

Shapes cover 1x1 (the plain GEMM path), padded/strided/dilated windows, groups, 1-D and
3-D convs, output positions that are not a multiple of the panel, ``?`` batch and spatial
dims with batch 0 and 1, and depthwise convs (which keep the direct loops).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

from dynir.builder import Graph
from tests.lowering import conv_testlib
from dynir.builder.ops import PropValue

RNG = np.random.default_rng(1)


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def conv_module(
    x_shape: Sequence[int | None], w: np.ndarray, *, residual: bool = False, relu: bool = False, **props: PropValue
) -> ModuleOp:
    g = Graph()
    x = g.input("x", x_shape, "float32")
    y = g.conv(x, g.constant(w), g.constant(rand(w.shape[0])), **props)
    if residual:
        y = g.add(y, g.input("r", [None, w.shape[0], *([None] * (len(x_shape) - 2))], "float32"))
    if relu:
        y = g.relu(y)
    g.output(y)
    return g.module()


def assert_matches(module: ModuleOp, input_sets: Sequence[Sequence[np.ndarray]], tol: float = 2e-4) -> None:
    conv_testlib.assert_matches(module, input_sets, tol)


def test_pointwise_conv_is_a_plain_gemm_with_bias_relu() -> None:
    module = conv_module([None, 24, None, None], rand(40, 24, 1, 1), relu=True)
    assert_matches(module, [[rand(2, 24, 7, 9)], [rand(1, 24, 1, 1)], [rand(0, 24, 3, 3)], [rand(1, 24, 8, 8)]])


@pytest.mark.parametrize(
    "props",
    [
        {"pads": [1, 1, 1, 1]},
        {"strides": [2, 2], "pads": [1, 0, 1, 2]},
        {"dilations": [2, 1], "pads": [2, 1, 2, 1]},
        {"strides": [2, 2]},
    ],
)
def test_window_convs(props: dict[str, PropValue]) -> None:
    module = conv_module([None, 5, None, None], rand(12, 5, 3, 3), **props)
    assert_matches(module, [[rand(2, 5, 9, 11)], [rand(1, 5, 5, 5)], [rand(1, 5, 13, 6)]])


def test_grouped_conv_with_residual_epilogue() -> None:
    module = conv_module([None, 6, None, None], rand(16, 3, 3, 3), residual=True, relu=True, group=2, pads=[1, 1, 1, 1])
    assert_matches(module, [[rand(2, 6, 6, 7), rand(2, 16, 6, 7)], [rand(1, 6, 1, 1), rand(1, 16, 1, 1)]])


def test_one_and_three_dimensional_convs() -> None:
    conv1d = conv_module([None, 4, None], rand(9, 4, 5), pads=[2, 2], strides=[3])
    assert_matches(conv1d, [[rand(3, 4, 50)], [rand(1, 4, 1)]])
    conv3d = conv_module([1, 3, None, 4, 5], rand(8, 3, 2, 2, 2), pads=[1, 0, 1, 0, 1, 1])
    assert_matches(conv3d, [[rand(1, 3, 3, 4, 5)]])


def test_large_reduction_spans_several_cache_blocks() -> None:
    module = conv_module([1, 64, 6, 6], rand(20, 64, 3, 3), pads=[1, 1, 1, 1])
    assert_matches(module, [[rand(1, 64, 6, 6)]], tol=5e-4)


def test_depthwise_conv_keeps_the_direct_loops() -> None:
    module = conv_module([None, 8, None, None], rand(8, 1, 3, 3), group=8, pads=[1, 1, 1, 1], relu=True)
    assert_matches(module, [[rand(2, 8, 5, 6)], [rand(0, 8, 2, 2)]])
