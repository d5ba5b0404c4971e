"""The micro-kernel matmul/gemm paths: compiled results vs the numpy reference.

Sizes straddle the register tile (rows 8) and the panel (2 vectors of lanes): tails of
rows and columns, K past one cache block (256), sizes 0 and 1, ``?`` dims, batched and
broadcast operands, transposes, alpha/beta, constant weights (pre-packed) with fused
epilogues, and f64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.lowering.scalar import LoweringError
from dynir.builder import Graph
from dynir.builder import Value
from dynir.ir.context import make_context
from dynir.pipeline import compile_pipeline
from dynir.report import run_pipeline

RNG = np.random.default_rng(0)


def rand(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def module_of(inputs: Sequence[tuple[str, Sequence[int | None], str]], body: Callable[..., Value]) -> ModuleOp:
    g = Graph()
    values = [g.input(name, shape, dtype) for name, shape, dtype in inputs]
    g.output(body(g, *values))
    return g.module()


def assert_matches(module: ModuleOp, input_sets: Sequence[Sequence[np.ndarray]], tol: float = 1e-4) -> None:
    compiled = dynir.compile(module, dynamic=True, cache_dir=False)
    for inputs in input_sets:
        (got,) = compiled(*inputs)
        (want,) = dynir.interpret(module, *inputs)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=str([a.shape for a in inputs]))


def lowered_op_names(module: ModuleOp) -> set[str]:
    lowered = module.clone()
    run_pipeline(make_context(), lowered, compile_pipeline(fuse=True), None)
    return {op.name for op in lowered.walk()}


def test_matmul_runtime_operands_tails_and_empty() -> None:
    module = module_of([("a", [None, None], "float32"), ("b", [None, None], "float32")], lambda g, a, b: g.matmul(a, b))
    shapes = [(1, 1, 1), (8, 5, 32), (9, 17, 33), (17, 300, 70), (3, 0, 5), (0, 4, 5), (4, 6, 0), (23, 513, 15)]
    assert_matches(module, [[rand(m, k), rand(k, n)] for m, k, n in shapes], tol=2e-4)


def test_matmul_flattens_leading_dims_of_lhs() -> None:
    module = module_of([("a", [None, 3, 40], "float32"), ("b", [40, 37], "float32")], lambda g, a, b: g.matmul(a, b))
    assert_matches(module, [[rand(2, 3, 40), rand(40, 37)], [rand(1, 3, 40), rand(40, 37)], [rand(0, 3, 40), rand(40, 37)]])


def test_batched_matmul_with_broadcast_batch() -> None:
    module = module_of(
        [("a", [2, None, 7, 20], "float32"), ("b", [None, 1, 20, 35], "float32")], lambda g, a, b: g.matmul(a, b)
    )
    assert_matches(module, [[rand(2, 3, 7, 20), rand(2, 1, 20, 35)], [rand(2, 1, 7, 20), rand(1, 1, 20, 35)]])


def test_integer_matmul_is_a_lowering_error() -> None:
    ints = module_of([("a", [5, 6], "int32"), ("b", [6, 3], "int32")], lambda g, a, b: g.matmul(a, b))
    with pytest.raises(LoweringError, match="'nn.matmul' on i32 has no loop lowering"):
        dynir.compile(ints, cache_dir=False)


def test_vector_operands_keep_the_scalar_loops() -> None:
    matvec = module_of([("a", [None, 9], "float32"), ("b", [9], "float32")], lambda g, a, b: g.matmul(a, b))
    assert_matches(matvec, [[rand(4, 9), rand(9)], [rand(1, 9), rand(9)]])


@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm_transposes_alpha_beta(trans_a: int, trans_b: int) -> None:
    m, k, n = 13, 29, 45
    a_shape = [k, None] if trans_a else [None, k]
    b_shape = [n, k] if trans_b else [k, n]

    def body(g: Graph, a: Value, b: Value, c: Value) -> Value:
        return g.gemm(a, b, c, trans_a=trans_a, trans_b=trans_b, alpha=0.5, beta=-2.0)

    module = module_of([("a", a_shape, "float32"), ("b", b_shape, "float32"), ("c", [1, n], "float32")], body)
    sets = []
    for rows in (m, 1, 0):
        a = rand(k, rows) if trans_a else rand(rows, k)
        sets.append([a, rand(*[d for d in b_shape if d is not None]), rand(1, n)])
    assert_matches(module, sets)


def test_constant_weights_are_packed_and_epilogues_fused() -> None:
    w1, b1 = rand(40, 70), rand(70)
    w2, b2 = rand(33, 70), rand(33)

    def body(g: Graph, x: Value) -> Value:
        h = g.relu(g.add(g.matmul(x, g.constant(w1)), g.constant(b1)))
        return g.gemm(h, g.constant(w2), g.constant(b2), trans_b=1, alpha=0.5, beta=2.0)

    module = module_of([("x", [None, 40], "float32")], body)
    names = lowered_op_names(module)
    assert {"nn.packed_matmul", "nn.packed_gemm"} <= names and not {"nn.matmul", "nn.gemm"} & names
    assert_matches(module, [[rand(m, 40)] for m in (0, 1, 7, 8, 9, 64)])


def test_packed_matmul_batched_lhs_with_residual_epilogue() -> None:
    w = rand(300, 50)

    def body(g: Graph, x: Value, r: Value) -> Value:
        return g.add(g.matmul(x, g.constant(w)), r)

    module = module_of([("x", [None, 5, 300], "float32"), ("r", [1, 5, 50], "float32")], body)
    assert "nn.packed_matmul" in lowered_op_names(module)
    assert_matches(module, [[rand(3, 5, 300), rand(1, 5, 50)], [rand(1, 5, 300), rand(1, 5, 50)]], tol=3e-4)


def test_float64_uses_its_own_lanes() -> None:
    w = rand(19, 21, dtype=np.float64)
    module = module_of([("x", [None, 19], "float64")], lambda g, x: g.matmul(x, g.constant(w)))
    assert "nn.packed_matmul" in lowered_op_names(module)
    assert_matches(module, [[rand(m, 19, dtype=np.float64)] for m in (1, 10)], tol=1e-10)
