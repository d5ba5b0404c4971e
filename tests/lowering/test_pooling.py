"""Loop lowerings of the pooling ops: compiled kernels vs the numpy reference.

Each module pools one ``?``-shaped input several ways (one kernel per op, one compile)
and runs on batch 2, 1 and 0 and small spatial sizes. Max pools are exact; sums match
to float rounding.
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


def random_array(shape: Sequence[int], dtype: str) -> np.ndarray:
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        return RNG.integers(info.min, info.max, size=tuple(shape), endpoint=True).astype(dtype)
    return RNG.standard_normal(tuple(shape)).astype(dtype)


def assert_close(module: ModuleOp, shapes: Sequence[Sequence[int]], dtype: str = "float32", rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Compile ``module`` (one input) once and compare with the reference on each shape."""
    compiled = compile_symbolic(module)
    for shape in shapes:
        x = random_array(shape, dtype)
        got = compiled(x)
        want = dynir.interpret(module, x)
        for position, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g.shape == w.shape and g.dtype == w.dtype, f"output {position} for {shape}"
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {position} for input {shape}")


def pools_module(shape: Sequence[int | None], dtype: str, pools: Sequence[tuple[str, dict[str, PropValue]]]) -> ModuleOp:
    g = Graph()
    x = g.input("x", tuple(shape), dtype)
    for op, props in pools:
        g.output(g.op1(op, x, **props))
    return g.module()


WINDOW_POOLS = ("max_pool", "average_pool", "lp_pool")

# (props shared by max/average/lp pool, input shapes: channels fixed, batch and spatial vary)
WINDOW_CASES: dict[str, tuple[dict[str, PropValue], list[tuple[int, ...]]]] = {
    "2x2_stride_2": ({"kernel_shape": [2, 2], "strides": [2, 2]}, [(2, 3, 8, 7), (1, 3, 2, 2), (0, 3, 4, 4)]),
    "3x3_padded": ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, [(2, 3, 6, 5), (1, 3, 1, 1)]),
    "asymmetric_dilated_ceil": (
        {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 1], "dilations": [1, 2], "ceil_mode": 1},
        [(2, 3, 9, 8), (1, 3, 2, 3)],
    ),
    "window_in_padding_only": ({"kernel_shape": [2, 1], "pads": [2, 0, 2, 0]}, [(1, 3, 3, 4)]),
    "1d": ({"kernel_shape": [3], "strides": [2], "pads": [2, 2]}, [(2, 3, 7), (1, 3, 1)]),
    "3d": ({"kernel_shape": [2, 3, 2], "strides": [1, 2, 2], "pads": [1, 0, 1, 1, 0, 1]}, [(1, 3, 5, 6, 7), (2, 3, 1, 3, 1)]),
}


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")  # 0 / 0 windows: NaN
@pytest.mark.parametrize("case", sorted(WINDOW_CASES))
def test_window_pools(case: str) -> None:
    props, shapes = WINDOW_CASES[case]
    rank = len(shapes[0])
    pools = [(op, props) for op in WINDOW_POOLS]
    pools.append(("average_pool", {**props, "count_include_pad": 1}))
    pools.append(("lp_pool", {**props, "p": 3.0}))
    pools.append(("lp_pool", {**props, "p": 1.0}))
    assert_close(pools_module((None, 3, *(None,) * (rank - 2)), "float32", pools), shapes)


def test_count_include_pad_with_ceil_mode_overhang() -> None:
    """The divisor counts explicit pads but never the ceil-mode overhang past them."""
    props: dict[str, PropValue] = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}
    module = pools_module((None, 2, None, None), "float32", [("average_pool", {**props, "count_include_pad": c}) for c in (0, 1)])
    assert_close(module, [(2, 2, 8, 8), (1, 2, 6, 7)])


def test_static_shapes_and_other_floats() -> None:
    props: dict[str, PropValue] = {"kernel_shape": [3, 3], "strides": [2, 1], "pads": [1, 0, 1, 1]}
    pools = [(op, props) for op in WINDOW_POOLS]
    assert_close(pools_module((2, 3, 7, 6), "float32", pools), [(2, 3, 7, 6)])
    assert_close(pools_module((None, 3, None, None), "float64", pools), [(2, 3, 7, 6)], "float64", rtol=1e-12, atol=1e-12)
    assert_close(pools_module((None, 3, None, None), "float16", pools), [(2, 3, 7, 6)], "float16", rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
def test_max_pools_on_integers(dtype: str) -> None:
    pools: list[tuple[str, dict[str, PropValue]]] = [
        ("max_pool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}),
        ("max_pool", {"kernel_shape": [2, 1], "pads": [2, 0, 2, 0]}),  # windows in the padding only: int min
        ("global_max_pool", {}),
    ]
    assert_close(pools_module((None, 2, None, None), dtype, pools), [(2, 2, 5, 6), (1, 2, 1, 1)], dtype, rtol=0, atol=0)


def test_unsigned_max_pool_compares_unsigned() -> None:
    """uint8 buffers are signless i8 in kernels; the max must still compare unsigned."""
    module = pools_module((1, 2, 4, 4), "uint8", [("max_pool", {"kernel_shape": [2, 2]})])
    x = RNG.integers(0, 256, size=(1, 2, 4, 4)).astype(np.uint8)
    np.testing.assert_array_equal(compile_symbolic(module)(x)[0], dynir.interpret(module, x)[0])


@pytest.mark.parametrize("op", ["average_pool", "lp_pool", "global_average_pool"])
def test_averaging_pools_on_integers_are_lowering_errors(op: str) -> None:
    props: dict[str, PropValue] = {} if op.startswith("global") else {"kernel_shape": [2, 2]}
    module = pools_module((1, 2, 4, 4), "int32", [(op, props)])
    with pytest.raises(LoweringError, match=rf"'nn.{op}' on i32 has no loop lowering \(float element types only\)"):
        compile_symbolic(module)(np.ones((1, 2, 4, 4), np.int32))


def test_global_pools() -> None:
    pools: list[tuple[str, dict[str, PropValue]]] = [("global_average_pool", {}), ("global_max_pool", {})]
    assert_close(pools_module((None, 3, None, None), "float32", pools), [(2, 3, 7, 9), (1, 3, 1, 1), (0, 3, 2, 2)], rtol=1e-4)
    assert_close(pools_module((None, None, None), "float32", pools), [(2, 5, 33), (3, 1, 1)], rtol=1e-4)
    assert_close(pools_module((1, 2, None, None, None), "float32", pools), [(1, 2, 3, 4, 5)], rtol=1e-4)
    # f16 means accumulate in f32, as numpy's mean does.
    assert_close(pools_module((None, 3, None, None), "float16", pools), [(2, 3, 16, 16)], "float16", rtol=1e-3, atol=1e-3)
