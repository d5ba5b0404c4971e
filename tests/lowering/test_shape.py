"""Loop lowerings of the shape ops (reshape, flatten, squeeze, unsqueeze, expand, shape,
size, range): compiled kernels vs the numpy reference, bit for bit.

Modules with ``?`` dims are compiled once and run on several shapes, including size-1
and size-0 dims; static modules take the kernels' static-size paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.builder import Graph
from tests.lowering import copy_testlib

RNG = np.random.default_rng(0)


def random_array(shape: Sequence[int], dtype: str = "float32") -> np.ndarray:
    return copy_testlib.random_array(RNG, shape, dtype, low=-100)


def assert_same(module: ModuleOp, shapes: Sequence[Sequence[Sequence[int]]], dtype: str = "float32") -> None:
    copy_testlib.assert_same(RNG, module, shapes, dtype, low=-100)


def test_reshapes_dynamic_batch() -> None:
    g = Graph()
    x = g.input("x", (None, 4, 6))
    g.output(g.reshape(x, shape=[0, 2, 12]))  # rows of 12 span two input rows
    g.output(g.reshape(x, shape=[0, 4, 3, 2]))  # 6 -> 3x2: index per row
    g.output(g.reshape(x, shape=[-1]))
    g.output(g.reshape(x, shape=[0, 24]))
    g.output(g.flatten(x, axis=0))
    g.output(g.flatten(x, axis=2))
    g.output(g.flatten(x, axis=-1))
    g.output(g.flatten(x, axis=3))
    g.output(g.unsqueeze(x, axes=[0, -1]))
    assert_same(g.module(), [[(3, 4, 6)], [(1, 4, 6)], [(0, 4, 6)]])


def test_reshape_all_dynamic() -> None:
    g = Graph()
    x = g.input("x", (None, None))
    g.output(g.reshape(x, shape=[-1, 2]))
    g.output(g.reshape(x, shape=[2, -1]))
    g.output(g.reshape(x, shape=[1, -1, 1]))
    assert_same(g.module(), [[(3, 4)], [(1, 2)], [(2, 1)], [(0, 6)], [(6, 0)]])


def test_reshape_static_shapes() -> None:
    g = Graph()
    x = g.input("x", (2, 3, 4))
    g.output(g.reshape(x, shape=[4, 6]))
    g.output(g.reshape(x, shape=[6, 4]))
    g.output(g.reshape(x, shape=[24]))
    g.output(g.reshape(x, shape=[2, 12]))
    g.output(g.reshape(x, shape=[3, 8]))
    assert_same(g.module(), [[(2, 3, 4)]])


def run_kernel(module: ModuleOp, inputs: Sequence[np.ndarray], out: np.ndarray) -> np.ndarray:
    """Call the kernel of a one-op module directly with ``out`` as its output buffer.
    Rank-0 tensors go this way: the host runtime passes arrays through
    ``np.ascontiguousarray``, which turns a 0-d array into a 1-d one."""
    (step,) = dynir.compile(module).executable.steps
    step.kernel(*inputs, out)
    return out


@pytest.mark.parametrize("op_text", [
    "nn.reshape %x {shape = array<i64>} : (tensor<1x1xf32>) -> tensor<f32>",
    "nn.squeeze %x {axes = array<i64: 0, 1>} : (tensor<1x1xf32>) -> tensor<f32>",
])
def test_to_scalar(op_text: str) -> None:
    module = dynir.parse(
        f"func.func @main(%x: tensor<1x1xf32>) -> tensor<f32> {{\n  %y = {op_text}\n  func.return %y : tensor<f32>\n}}"
    )
    x = np.array([[2.5]], dtype=np.float32)
    got = run_kernel(module, [x], np.zeros((), np.float32))
    np.testing.assert_array_equal(got, dynir.interpret(module, x)[0])


def test_from_scalar() -> None:
    module = dynir.parse(
        "func.func @main(%x: tensor<f32>) -> tensor<1x1x1xf32> {\n"
        "  %y = nn.reshape %x {shape = array<i64: 1, 1, 1>} : (tensor<f32>) -> tensor<1x1x1xf32>\n"
        "  func.return %y : tensor<1x1x1xf32>\n}"
    )
    x = np.array(-4.0, dtype=np.float32)
    got = run_kernel(module, [x], np.zeros((1, 1, 1), np.float32))
    np.testing.assert_array_equal(got, dynir.interpret(module, x)[0])


def test_reshape_integers_and_bools() -> None:
    for dtype in ("int64", "int8", "bool"):
        g = Graph()
        x = g.input("x", (None, 6), dtype)
        g.output(g.reshape(x, shape=[0, 3, 2]))
        g.output(g.flatten(x, axis=0))
        assert_same(g.module(), [[(2, 6)], [(0, 6)]], dtype)


def test_squeeze_unsqueeze() -> None:
    g = Graph()
    x = g.input("x", (None, 1, 5, 1))
    g.output(g.squeeze(x, axes=[1]))
    g.output(g.squeeze(x, axes=[-1, 1]))
    g.output(g.unsqueeze(x, axes=[2]))
    g.output(g.unsqueeze(g.squeeze(x, axes=[1, 3]), axes=[0, 2, 4]))
    assert_same(g.module(), [[(3, 1, 5, 1)], [(1, 1, 5, 1)], [(0, 1, 5, 1)]])


def test_squeeze_dynamic_unit_dim() -> None:
    g = Graph()
    x = g.input("x", (None, None, 3))
    g.output(g.squeeze(x, axes=[1]))
    assert_same(g.module(), [[(4, 1, 3)], [(0, 1, 3)]])


def test_expand() -> None:
    g = Graph()
    x = g.input("x", (None, 1))
    y = g.input("y", (None, 3))
    z = g.input("z", (None,))
    g.output(g.expand(x, shape=[4, 1, 8]))
    g.output(g.expand(y, shape=[2, 1, 1]))
    g.output(g.expand(z, shape=[2, 1]))
    g.output(g.expand(x, shape=[1]))
    module = g.module()
    assert_same(module, [[(3, 1), (5, 3), (4,)], [(1, 1), (1, 3), (1,)], [(0, 1), (0, 3), (0,)]])


def test_expand_dynamic_dim_of_size_one_broadcasts() -> None:
    g = Graph()
    x = g.input("x", (None, None))
    g.output(g.expand(x, shape=[3, 4]))
    assert_same(g.module(), [[(3, 4)], [(1, 4)], [(3, 1)], [(1, 1)]])


def test_shape_and_size() -> None:
    g = Graph()
    x = g.input("x", (None, 3, None, 2))
    g.output(g.shape(x))
    g.output(g.shape(x, start=1))
    g.output(g.shape(x, start=-3, end=-1))
    g.output(g.shape(x, start=2, end=1))
    assert_same(g.module(), [[(5, 3, 7, 2)], [(1, 3, 1, 2)], [(0, 3, 4, 2)]])


@pytest.mark.parametrize("shape", [(5, 3, 7), (1, 3, 1), (0, 3, 4)])
def test_size(shape: tuple[int, ...]) -> None:
    g = Graph()
    x = g.input("x", (None, 3, None))
    g.output(g.size(x))
    module = g.module()
    x_value = random_array(shape)
    got = run_kernel(module, [x_value], np.full((), -1, np.int64))
    np.testing.assert_array_equal(got, dynir.interpret(module, x_value)[0])


RANGE = """
func.func @main(%s: tensor<{t}>, %l: tensor<{t}>, %d: tensor<{t}>) -> tensor<{n}x{t}> {{
  %r = nn.range %s, %l, %d : (tensor<{t}>, tensor<{t}>, tensor<{t}>) -> tensor<{n}x{t}>
  func.return %r : tensor<{n}x{t}>
}}
"""


@pytest.mark.parametrize(
    "dtype, start, limit, delta",
    [
        ("f32", 0.5, 3.7, 0.4),
        ("f32", 2.0, -1.0, -0.75),
        ("i64", -7, 20, 3),
        ("i32", 10, 1, -2),
        ("f64", 1.0, 1.0, 1.0),
    ],
)
def test_range(dtype: str, start: float, limit: float, delta: float) -> None:
    np_dtype = {"f32": np.float32, "f64": np.float64, "i64": np.int64, "i32": np.int32}[dtype]
    args = [np.array(v, dtype=np_dtype) for v in (start, limit, delta)]
    count = max(int(np.ceil((float(limit) - float(start)) / float(delta))), 0)
    module = dynir.parse(RANGE.format(t=dtype, n=count))
    got = run_kernel(module, args, np.empty(count, np_dtype))
    want = dynir.interpret(module, *args)[0]
    assert got.dtype == want.dtype and got.shape == (count,)
    np.testing.assert_array_equal(got, want)


def test_range_on_unsigned() -> None:
    module = dynir.parse(RANGE.format(t="ui8", n=3))
    args = [np.array(2, np.uint8), np.array(200, np.uint8), np.array(70, np.uint8)]
    got = run_kernel(module, args, np.empty(3, np.uint8))
    np.testing.assert_array_equal(got, dynir.interpret(module, *args)[0])
