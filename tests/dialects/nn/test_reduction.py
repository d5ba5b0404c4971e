"""Shape inference, diagnostics and numpy semantics of the reduction ``nn`` ops."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytest
from xdsl.dialects.builtin import f32, i1, i32, i64
from xdsl.ir import Attribute
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.test_value import create_ssa_value

from dynir.dialects.nn import reduction as red
from dynir.dialects.nn.base import NNOp, int_attr, ints_attr
from dynir.ir.types import Shape, element_type, shape_of, tensor_type

RNG = np.random.default_rng(1)


def build(op_class: type[NNOp], shape: Shape, element: Attribute, props: Mapping[str, Attribute] | None = None) -> NNOp:
    op = op_class.make([create_ssa_value(tensor_type(shape, element))], props)
    op.verify()
    return op


def run(op_class: type[NNOp], x: np.ndarray, props: Mapping[str, Attribute] | None = None) -> np.ndarray:
    op = build(op_class, x.shape, element_type(x.dtype), props)
    (out,) = op.reference(x)
    want = op.results[0].type
    assert shape_of(want) == out.shape
    assert element_type(out.dtype) == want.element_type  # type: ignore[attr-defined]
    return out


def reduce_props(axes: Sequence[int] | None, keepdims: int | None = None) -> dict[str, Attribute]:
    props: dict[str, Attribute] = {}
    if axes is not None:
        props["axes"] = ints_attr(axes)
    if keepdims is not None:
        props["keepdims"] = int_attr(keepdims)
    return props


def log_sum_exp(x: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
    return np.log(np.sum(np.exp(x.astype(np.float64)), axis=axis, keepdims=keepdims))


REDUCTIONS: list[tuple[type[NNOp], Callable[..., np.ndarray]]] = [
    (red.ReduceSumOp, np.sum),
    (red.ReduceMeanOp, np.mean),
    (red.ReduceMaxOp, np.max),
    (red.ReduceMinOp, np.min),
    (red.ReduceProdOp, np.prod),
    (red.ReduceL1Op, lambda x, axis, keepdims: np.sum(np.abs(x), axis=axis, keepdims=keepdims)),
    (red.ReduceL2Op, lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))),
    (red.ReduceSumSquareOp, lambda x, axis, keepdims: np.sum(x * x, axis=axis, keepdims=keepdims)),
    (red.ReduceLogSumExpOp, log_sum_exp),
]


@pytest.mark.parametrize("op_class, expected", REDUCTIONS, ids=lambda v: getattr(v, "name", ""))
@pytest.mark.parametrize("axes, keepdims", [([1], 1), ([-1, 0], 0), ([], 1), (None, 0), ([0, 2], 1)])
def test_reductions_match_numpy(
    op_class: type[NNOp], expected: Callable[..., np.ndarray], axes: list[int] | None, keepdims: int
) -> None:
    x = RNG.uniform(0.5, 1.5, (2, 3, 4)).astype(np.float32)
    numpy_axes = tuple(a % 3 for a in axes) if axes else None
    out = run(op_class, x, reduce_props(axes, keepdims))
    np.testing.assert_allclose(out, expected(x, axis=numpy_axes, keepdims=bool(keepdims)), rtol=1e-5)


def test_reduction_shape_inference_keeps_dynamic_dims() -> None:
    op = build(red.ReduceSumOp, (None, 8, None), f32, reduce_props([1]))
    assert op.results[0].type == tensor_type((None, 1, None), f32)
    op = build(red.ReduceMaxOp, (None, 8, None), f32, reduce_props([-1, 1], 0))
    assert op.results[0].type == tensor_type((None,), f32)
    op = build(red.ReduceMeanOp, (None, 8), f32, reduce_props(None, 0))
    assert op.results[0].type == tensor_type((), f32)
    op = build(red.ReduceMeanOp, (None, 8), f32)
    assert op.results[0].type == tensor_type((1, 1), f32)


def test_reduction_diagnostics() -> None:
    with pytest.raises(ValueError, match=r"^axis 3 out of range for rank 2$"):
        build(red.ReduceSumOp, (2, 3), f32, reduce_props([3]))
    with pytest.raises(ValueError, match=r"^axes \[1, -1\] name an axis twice$"):
        build(red.ReduceSumOp, (2, 3), f32, reduce_props([1, -1]))
    with pytest.raises(ValueError, match=r"^keepdims must be 0 or 1, got 2$"):
        build(red.ReduceSumOp, (2, 3), f32, reduce_props([1], 2))
    with pytest.raises(ValueError, match=r"^element type i32 is not a float type$"):
        build(red.ReduceL2Op, (2, 3), i32)
    with pytest.raises(ValueError, match=r"^element type i1 is not a numeric type$"):
        build(red.ReduceSumOp, (2, 3), i1)
    bad = red.ReduceSumOp.create(
        operands=[create_ssa_value(tensor_type((2, 3), f32))],
        properties=reduce_props([1], 0),
        result_types=[tensor_type((3,), f32)],
    )
    with pytest.raises(VerifyException, match=r"^'nn.reduce_sum' op result #0 has type tensor<3xf32>, but its operands give tensor<2xf32>"):
        bad.verify()


@pytest.mark.parametrize(
    "op_class, value",
    [
        (red.ReduceSumOp, 0.0), (red.ReduceMeanOp, 0.0), (red.ReduceMaxOp, -np.inf), (red.ReduceMinOp, np.inf),
        (red.ReduceProdOp, 1.0), (red.ReduceL1Op, 0.0), (red.ReduceL2Op, 0.0), (red.ReduceSumSquareOp, 0.0),
        (red.ReduceLogSumExpOp, -np.inf),
    ],
)  # fmt: skip
def test_empty_reductions_give_the_identity(op_class: type[NNOp], value: float) -> None:
    out = run(op_class, np.zeros((2, 0), np.float32), reduce_props([1], 0))
    np.testing.assert_array_equal(out, np.full((2,), value, np.float32))


def test_empty_integer_max_and_min_use_the_type_limits() -> None:
    x = np.zeros((0, 3), np.int32)
    np.testing.assert_array_equal(run(red.ReduceMaxOp, x, reduce_props([0], 0)), [np.iinfo(np.int32).min] * 3)
    np.testing.assert_array_equal(run(red.ReduceMinOp, x, reduce_props([0], 0)), [np.iinfo(np.int32).max] * 3)


def test_integer_reductions() -> None:
    x = np.array([[1, 2], [3, 3], [-1, -2]], np.int32)
    np.testing.assert_array_equal(run(red.ReduceMeanOp, x, reduce_props([1], 0)), [1, 3, -1])
    np.testing.assert_array_equal(run(red.ReduceSumOp, x, reduce_props([0], 0)), [3, 3])
    np.testing.assert_array_equal(run(red.ReduceProdOp, x, reduce_props([1], 0)), [2, 9, 2])


def test_log_sum_exp_is_stable() -> None:
    x = np.array([[1000.0, 1000.0], [-1000.0, -np.inf]], np.float32)
    out = run(red.ReduceLogSumExpOp, x, reduce_props([1], 0))
    np.testing.assert_allclose(out, [1000 + np.log(2), -1000], rtol=1e-6)


def test_argmax_argmin() -> None:
    x = np.array([[1.0, 5.0, 5.0, 0.0], [2.0, 2.0, -1.0, -1.0]], np.float32)
    props = {"axis": int_attr(1), "keepdims": int_attr(0)}
    np.testing.assert_array_equal(run(red.ArgmaxOp, x, props), [1, 0])
    np.testing.assert_array_equal(run(red.ArgminOp, x, props), [3, 2])
    last = {**props, "select_last_index": int_attr(1)}
    np.testing.assert_array_equal(run(red.ArgmaxOp, x, last), [2, 1])
    np.testing.assert_array_equal(run(red.ArgminOp, x, last), [3, 3])
    kept = run(red.ArgmaxOp, x, {"axis": int_attr(-2)})
    np.testing.assert_array_equal(kept, [[1, 0, 0, 0]])
    assert kept.dtype == np.int64


def test_argmax_inference_and_diagnostics() -> None:
    op = build(red.ArgmaxOp, (None, 10, None), f32, {"axis": int_attr(1)})
    assert op.results[0].type == tensor_type((None, 1, None), i64)
    op = build(red.ArgminOp, (None, 10), i32, {"axis": int_attr(-1), "keepdims": int_attr(0)})
    assert op.results[0].type == tensor_type((None,), i64)
    with pytest.raises(ValueError, match=r"^axis 2 out of range for rank 2$"):
        build(red.ArgmaxOp, (3, 4), f32, {"axis": int_attr(2)})
    with pytest.raises(ValueError, match=r"^axis 1 has size 0: no element to select$"):
        build(red.ArgmaxOp, (3, 0), f32, {"axis": int_attr(1)})
    with pytest.raises(ValueError, match=r"^select_last_index must be 0 or 1, got 3$"):
        build(red.ArgmaxOp, (3, 4), f32, {"select_last_index": int_attr(3)})
