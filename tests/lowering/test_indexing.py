"""Loop lowerings of the indexing ops (slice, gather, gather_elements, scatter_elements,
topk): compiled kernels vs the numpy reference, bit for bit.

Modules with ``?`` dims are compiled once and run on several shapes, including size-1
and size-0 dims; indices include negative ones and both ``i32`` and ``i64``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.builder import Graph
from dynir.lowering.scalar import LoweringError

RNG = np.random.default_rng(2)
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

Inputs = Callable[[], list[np.ndarray]]


def floats(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def indices(dim: int, shape: Sequence[int], dtype: type = np.int64) -> np.ndarray:
    """Random indices into a dim of size ``dim``, negative ones included."""
    return RNG.integers(-dim, dim, size=shape).astype(dtype) if dim else np.zeros(shape, dtype)


def assert_same(module: ModuleOp, cases: Sequence[Sequence[np.ndarray]]) -> None:
    """Compile ``module`` once; for each input list, compare with the reference."""
    compiled = dynir.compile(module)
    for inputs in cases:
        got = compiled(*inputs)
        want = dynir.interpret(module, *inputs)
        assert len(got) == len(want)
        shapes = [a.shape for a in inputs]
        for position, (g, w) in enumerate(zip(got, want)):
            assert g.dtype == w.dtype and g.shape == w.shape, f"output {position} for {shapes}"
            np.testing.assert_array_equal(g, w, err_msg=f"output {position} for inputs {shapes}")


# -- slice -------------------------------------------------------------------------------


def test_slice_dynamic_dims_clamp_at_run_time() -> None:
    g = Graph()
    x = g.input("x", (None, None))
    g.output(g.slice(x, starts=[1, 0], ends=[INT64_MAX, 3]))
    g.output(g.slice(x, starts=[-2], ends=[INT64_MAX], axes=[1]))
    g.output(g.slice(x, starts=[-1, 100], ends=[INT64_MIN, -100], steps=[-1, -2]))  # reverse dim 0, clamp
    g.output(g.slice(x, starts=[-100, 1], ends=[100, -1], axes=[0, -1], steps=[2, 3]))
    g.output(g.slice(x, starts=[5], ends=[2], axes=[1], steps=[-2]))
    g.output(g.slice(x, starts=[3], ends=[1], axes=[0]))  # empty
    cases = [[floats(*s)] for s in [(5, 7), (1, 1), (0, 4), (3, 0), (2, 9)]]
    assert_same(g.module(), cases)


def test_slice_static_dims() -> None:
    g = Graph()
    x = g.input("x", (6, 8, 3))
    g.output(g.slice(x, starts=[1, -3], ends=[5, INT64_MAX], axes=[0, 1], steps=[2, 1]))
    g.output(g.slice(x, starts=[INT64_MAX, 2], ends=[INT64_MIN, 0], axes=[1, 2], steps=[-3, -1]))
    g.output(g.slice(x, starts=[0], ends=[1], axes=[2]))
    assert_same(g.module(), [[floats(6, 8, 3)]])


def test_slice_integers() -> None:
    g = Graph()
    x = g.input("x", (None, 4), "int64")
    g.output(g.slice(x, starts=[-1], ends=[INT64_MIN], axes=[1], steps=[-1]))
    assert_same(g.module(), [[np.arange(12, dtype=np.int64).reshape(3, 4)]])


# -- gather ------------------------------------------------------------------------------


def test_gather_axes_and_negative_indices() -> None:
    g = Graph()
    table = g.input("table", (None, 6))
    ids = g.input("ids", (None, 3), "int64")
    ids32 = g.input("ids32", (None,), "int32")
    g.output(g.gather(table, ids, axis=0))
    g.output(g.gather(table, ids32, axis=1))
    g.output(g.gather(table, ids32, axis=-2))
    module = g.module()
    cases = [
        [floats(10, 6), indices(10, (4, 3)), indices(6, (5,), np.int32)],
        [floats(1, 6), indices(1, (1, 3)), indices(1, (1,), np.int32)],
        [floats(4, 6), indices(4, (0, 3)), indices(4, (0,), np.int32)],
    ]
    assert_same(module, cases)


def test_gather_middle_axis_of_3d() -> None:
    g = Graph()
    x = g.input("x", (2, None, 5))
    ids = g.input("ids", (2, 2), "int64")
    g.output(g.gather(x, ids, axis=1))
    assert_same(g.module(), [[floats(2, 7, 5), indices(7, (2, 2))], [floats(2, 3, 5), indices(3, (2, 2))]])


def test_gather_scalar_index() -> None:
    text = """
    func.func @main(%x: tensor<4x3xf32>, %i: tensor<i64>) -> tensor<3xf32> {
      %y = nn.gather %x, %i {axis = 0 : i64} : (tensor<4x3xf32>, tensor<i64>) -> tensor<3xf32>
      func.return %y : tensor<3xf32>
    }
    """
    module = dynir.parse(text)
    # Called on the kernel: the host runtime turns 0-d arrays into 1-d ones.
    (step,) = dynir.compile(module).executable.steps
    x = floats(4, 3)
    for i in (2, -1):
        out = np.empty(3, np.float32)
        step.kernel(x, np.array(i, np.int64), out)
        np.testing.assert_array_equal(out, dynir.interpret(module, x, np.array(i))[0])


def test_gather_elements() -> None:
    g = Graph()
    x = g.input("x", (None, 5))
    i0 = g.input("i0", (None, 5), "int64")
    i1 = g.input("i1", (None, 3), "int32")
    g.output(g.gather_elements(x, i0, axis=0))
    g.output(g.gather_elements(x, i1, axis=-1))
    module = g.module()
    cases = [
        [floats(4, 5), indices(4, (2, 5)), indices(5, (4, 3), np.int32)],
        [floats(1, 5), indices(1, (1, 5)), indices(5, (1, 3), np.int32)],
        [floats(0, 5), indices(0, (0, 5)), indices(5, (0, 3), np.int32)],
    ]
    assert_same(module, cases)


# -- scatter_elements ----------------------------------------------------------------------


def unique_rows(dim: int, rows: int, count: int) -> np.ndarray:
    """Per row, ``count`` distinct indices into a dim of ``dim`` (some written negative)."""
    picks = np.array([RNG.permutation(dim)[:count] for _ in range(rows)], dtype=np.int64).reshape(rows, count)
    return np.where(RNG.random(picks.shape) < 0.5, picks - dim, picks).astype(np.int64)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_scatter_elements(reduction: str, dtype: type) -> None:
    g = Graph()
    np_type = np.dtype(dtype).name
    data = g.input("data", (None, 6), np_type)
    idx = g.input("idx", (None, 3), "int64")
    upd = g.input("upd", (None, 3), np_type)
    g.output(g.scatter_elements(data, idx, upd, axis=1, reduction=reduction))
    module = g.module()

    def values(*shape: int) -> np.ndarray:
        return (RNG.standard_normal(shape) * 10).astype(dtype)

    def index(rows: int) -> np.ndarray:
        # ``none`` with duplicate targets is order-dependent in ONNX: keep them distinct.
        return unique_rows(6, rows, 3) if reduction == "none" else indices(6, (rows, 3))

    cases = [[values(r, 6), index(r), values(r, 3)] for r in (4, 1, 0)]
    assert_same(module, cases)


def test_scatter_elements_axis_0_with_fewer_rows() -> None:
    g = Graph()
    data = g.input("data", (5, None))
    idx = g.input("idx", (2, None), "int32")
    upd = g.input("upd", (2, None))
    g.output(g.scatter_elements(data, idx, upd, axis=0, reduction="add"))
    module = g.module()
    cases = [[floats(5, n), indices(5, (2, n), np.int32), floats(2, n)] for n in (4, 1, 0)]
    assert_same(module, cases)


def test_scatter_reduction_on_bool_is_a_lowering_error() -> None:
    g = Graph()
    data = g.input("data", (4,), "bool")
    idx = g.input("idx", (2,), "int64")
    upd = g.input("upd", (2,), "bool")
    g.output(g.scatter_elements(data, idx, upd, reduction="add"))
    with pytest.raises(LoweringError, match="'nn.scatter_elements' reduction 'add' on i1 has no loop lowering"):
        dynir.compile(g.module())


# -- topk --------------------------------------------------------------------------------


@pytest.mark.parametrize("largest", [1, 0])
def test_topk_last_axis(largest: int) -> None:
    g = Graph()
    x = g.input("x", (None, 9))
    for k in (3, 9, 1):
        v, i = g.topk(x, k=k, largest=largest, num_results=2)  # type: ignore[misc]
        g.output(v)
        g.output(i)
    assert_same(g.module(), [[floats(5, 9)], [floats(1, 9)], [floats(0, 9)]])


def test_topk_ties_keep_lower_index_first() -> None:
    g = Graph()
    x = g.input("x", (None, 12), "int64")
    for largest in (1, 0):
        v, i = g.topk(x, k=5, largest=largest, num_results=2)  # type: ignore[misc]
        g.output(v)
        g.output(i)
    module = g.module()
    assert_same(module, [[RNG.integers(0, 3, size=(6, 12)).astype(np.int64)]])


def test_topk_middle_axis_and_nan() -> None:
    g = Graph()
    x = g.input("x", (2, None, 3))
    for largest in (1, 0):
        v, i = g.topk(x, k=4, axis=1, largest=largest, num_results=2)  # type: ignore[misc]
        g.output(v)
        g.output(i)
    module = g.module()
    with_nan = floats(2, 7, 3)
    with_nan[0, [1, 4], 0] = np.nan
    with_nan[1, :, 2] = np.nan
    ties = np.repeat(floats(2, 1, 3), 6, axis=1)
    assert_same(module, [[floats(2, 7, 3)], [with_nan], [ties], [floats(2, 4, 3)]])


def test_topk_k_zero() -> None:
    g = Graph()
    x = g.input("x", (None, 4))
    v, i = g.topk(x, k=0, num_results=2)  # type: ignore[misc]
    g.output(v)
    g.output(i)
    assert_same(g.module(), [[floats(3, 4)]])


def test_topk_unsigned_compares_unsigned() -> None:
    g = Graph()
    x = g.input("x", (None, 4), "uint8")
    v, i = g.topk(x, k=2, num_results=2)  # type: ignore[misc]
    g.output(v)
    g.output(i)
    module = g.module()
    xv = np.array([[200, 3, 129, 7], [0, 255, 128, 127]], np.uint8)  # >= 128: wrong if compared signed
    for got, want in zip(dynir.compile(module)(xv), dynir.interpret(module, xv)):
        np.testing.assert_array_equal(got, want)
