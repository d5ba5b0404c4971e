"""Loop lowerings of the data-movement ops (transpose, tile, pad, concat, split,
depth_to_space, space_to_depth): compiled kernels vs the numpy reference, bit for bit.

Modules with ``?`` dims are compiled once and run on several shapes, including size-1
and size-0 dims.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.builder import Graph
from tests.lowering import copy_testlib

RNG = np.random.default_rng(1)


def random_array(shape: Sequence[int], dtype: str = "float32") -> np.ndarray:
    return copy_testlib.random_array(RNG, shape, dtype, low=0)


def assert_same(module: ModuleOp, shapes: Sequence[Sequence[Sequence[int]]], dtype: str = "float32") -> None:
    copy_testlib.assert_same(RNG, module, shapes, dtype, low=0)


def test_transpose() -> None:
    g = Graph()
    x = g.input("x", (None, 3, None, 5))
    for perm in ([0, 2, 1, 3], [3, 2, 1, 0], [1, 3, 0, 2], [0, 1, 2, 3]):
        g.output(g.transpose(x, perm=perm))
    assert_same(g.module(), [[(2, 3, 4, 5)], [(1, 3, 1, 5)], [(0, 3, 2, 5)], [(2, 3, 0, 5)]])


def test_transpose_static_and_typed() -> None:
    for dtype in ("float32", "int64", "bool", "uint8"):
        g = Graph()
        x = g.input("x", (4, 6), dtype)
        g.output(g.transpose(x, perm=[1, 0]))
        assert_same(g.module(), [[(4, 6)]], dtype)


def test_tile() -> None:
    g = Graph()
    x = g.input("x", (None, 3, 2))
    g.output(g.tile(x, repeats=[1, 3, 1]))
    g.output(g.tile(x, repeats=[2, 2, 3]))
    g.output(g.tile(x, repeats=[1, 0, 2]))
    assert_same(g.module(), [[(4, 3, 2)], [(1, 3, 2)], [(0, 3, 2)]])


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_modes(mode: str) -> None:
    g = Graph()
    x = g.input("x", (None, 4, 5))
    g.output(g.pad(x, pads=[0, 1, 2, 0, 2, 1], mode=mode))
    g.output(g.pad(x, pads=[1, 0, -1, 1, 0, 3], mode=mode))  # crop the start of dim 2, pad the end
    g.output(g.pad(x, pads=[0, -1, 0, 0, -2, 0], mode=mode))  # crop only
    g.output(g.pad(x, pads=[0, 0, 0, 0, 0, 0], mode=mode))
    # pads longer than the dim: numpy reflects / wraps repeatedly
    g.output(g.pad(x, pads=[0, 7, 9, 0, 6, 11], mode=mode))
    assert_same(g.module(), [[(3, 4, 5)], [(1, 4, 5)]])


def test_pad_constant_value_and_empty_input() -> None:
    g = Graph()
    x = g.input("x", (None, None))
    g.output(g.pad(x, pads=[1, 2, 0, 1], mode="constant", value=-2.5))
    g.output(g.pad(x, pads=[0, -1, 0, -1], value=7.0))
    assert_same(g.module(), [[(3, 4)], [(1, 2)], [(0, 3)], [(1, 3)]])


def test_pad_reflect_size_one_dims() -> None:
    g = Graph()
    x = g.input("x", (None, 1))
    g.output(g.pad(x, pads=[0, 2, 0, 3], mode="reflect"))
    g.output(g.pad(x, pads=[0, 2, 0, 3], mode="wrap"))
    assert_same(g.module(), [[(3, 1)], [(1, 1)]])


@pytest.mark.parametrize("dtype", ["int32", "int8", "bool"])
def test_pad_integer_types(dtype: str) -> None:
    g = Graph()
    x = g.input("x", (None, 3), dtype)
    g.output(g.pad(x, pads=[1, 0, 0, 2], value=3.0))
    g.output(g.pad(x, pads=[1, 1, 1, 1], mode="edge"))
    assert_same(g.module(), [[(2, 3)], [(1, 3)]], dtype)


def test_pad_unsigned() -> None:
    g = Graph()
    x = g.input("x", (None, 3), "uint8")
    g.output(g.pad(x, pads=[1, 1, 1, 1], mode="wrap"))
    assert_same(g.module(), [[(2, 3)], [(1, 3)]], "uint8")
    g = Graph()
    x = g.input("x", (None, 3), "uint8")
    g.output(g.pad(x, pads=[1, 0, 0, 2], value=200.0))
    assert_same(g.module(), [[(2, 3)], [(1, 3)]], "uint8")


def test_concat() -> None:
    g = Graph()
    a = g.input("a", (None, 4))
    b = g.input("b", (None, 2))
    c = g.input("c", (None, 4))
    g.output(g.concat(a, b, a, axis=1))
    g.output(g.concat(a, c, axis=0))
    g.output(g.concat(b, axis=-1))
    g.output(g.concat(c, a, c, axis=-2))
    assert_same(g.module(), [[(3, 4), (3, 2), (5, 4)], [(1, 4), (1, 2), (0, 4)], [(0, 4), (0, 2), (2, 4)]])


def test_concat_dynamic_axis_sizes() -> None:
    g = Graph()
    a = g.input("a", (2, None, 3))
    b = g.input("b", (2, None, 3))
    g.output(g.concat(a, b, b, axis=1))
    assert_same(g.module(), [[(2, 3, 3), (2, 1, 3)], [(2, 0, 3), (2, 4, 3)], [(2, 0, 3), (2, 0, 3)]])


def test_split() -> None:
    g = Graph()
    x = g.input("x", (None, 9))
    for part in g.split(x, axis=1, sizes=[2, 0, 7], num_results=3):  # type: ignore[union-attr]
        g.output(part)
    for part in g.split(x, axis=-1, num_results=4):  # type: ignore[union-attr]
        g.output(part)
    y = g.input("y", (6, 2))
    for part in g.split(y, axis=0, sizes=[1, 5], num_results=2):  # type: ignore[union-attr]
        g.output(part)
    z = g.input("z", (2, None))  # a dynamic split dim: piece sizes known at run time only
    for part in g.split(z, axis=1, num_results=3):  # type: ignore[union-attr]
        g.output(part)
    assert_same(g.module(), [[(3, 9), (6, 2), (2, 7)], [(1, 9), (6, 2), (2, 2)], [(0, 9), (6, 2), (2, 0)]])


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space(mode: str) -> None:
    g = Graph()
    x = g.input("x", (None, 12, None, 3))
    g.output(g.depth_to_space(x, blocksize=2, mode=mode))
    y = g.input("y", (1, 18, 2, 2))
    g.output(g.depth_to_space(y, blocksize=3, mode=mode))
    fixed = (1, 18, 2, 2)
    assert_same(g.module(), [[(2, 12, 4, 3), fixed], [(1, 12, 1, 3), fixed], [(0, 12, 2, 3), fixed]])


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_space_to_depth(mode: str) -> None:
    g = Graph()
    x = g.input("x", (None, None, 4, 6))
    g.output(g.space_to_depth(x, blocksize=2, mode=mode))
    y = g.input("y", (2, 2, 3, 6))
    g.output(g.space_to_depth(y, blocksize=3, mode=mode))
    fixed = (2, 2, 3, 6)
    assert_same(g.module(), [[(2, 3, 4, 6), fixed], [(1, 1, 4, 6), fixed], [(0, 2, 4, 6), fixed]])


def test_depth_space_round_trip() -> None:
    g = Graph()
    x = g.input("x", (None, 8, 4, 4))
    g.output(g.depth_to_space(g.space_to_depth(x, blocksize=2), blocksize=2))
    module = g.module()
    x_value = random_array((2, 8, 4, 4))
    np.testing.assert_array_equal(dynir.compile(module)(x_value)[0], x_value)
