"""Reduction ``nn`` ops: ``reduce_*`` over a set of axes, and ``argmax``/``argmin``.

``reduce_*`` ops carry ``axes`` (empty or absent: every axis) and ``keepdims`` (default
1); dims that are not reduced keep their size, dynamic ones stay ``?``. Reductions over
zero elements give the identity of the reduction, as onnxruntime does: 0 for sums and
means, 1 for products, ``-inf`` (integers: the lowest value) for max and log-sum-exp,
``+inf`` (integers: the highest value) for min.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, TensorType, i64
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, result_def

from dynir.dialects.nn.base import NNOp, read_int, read_ints, tensor_operand_type
from dynir.dialects.nn.elementwise import ElementKind, check_element
from dynir.ir.types import Shape, normalize_axis, shape_of, tensor_type


def reduced_shape(shape: Shape, axes: Sequence[int], keepdims: bool) -> Shape:
    """``shape`` with ``axes`` (normalized) dropped, or set to 1 when ``keepdims``."""
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _read_keepdims(attr: IntegerAttr | None) -> bool:
    keepdims = read_int(attr, 1)
    if keepdims not in (0, 1):
        raise ValueError(f"keepdims must be 0 or 1, got {keepdims}")
    return keepdims == 1


def _lowest(dtype: np.dtype) -> float:
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def _highest(dtype: np.dtype) -> float:
    return np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).max


class ReductionOp(NNOp):
    """``reduce_*``: one input, reduced over ``axes`` (all when empty), ``keepdims``."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    axes = opt_prop_def(DenseArrayBase)
    keepdims = opt_prop_def(IntegerAttr)
    ELEMENTS: ClassVar[ElementKind] = ElementKind.NUMERIC

    def reduced_axes(self, rank: int) -> tuple[int, ...]:
        """The normalized axes to reduce; raises ``ValueError`` naming a bad axis."""
        axes = read_ints(self.axes, ())
        if not axes:
            return tuple(range(rank))
        normalized = tuple(normalize_axis(a, rank) for a in axes)
        if len(set(normalized)) != len(normalized):
            raise ValueError(f"axes {list(axes)} name an axis twice")
        return normalized

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        check_element(t.element_type, self.ELEMENTS)
        shape = shape_of(t)
        axes = self.reduced_axes(len(shape))
        return [tensor_type(reduced_shape(shape, axes, _read_keepdims(self.keepdims)), t.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        axes = self.reduced_axes(x.ndim)
        with np.errstate(all="ignore"):
            out = np.asarray(self.compute(x, axes))
        if not _read_keepdims(self.keepdims):
            out = np.squeeze(out, axis=axes)
        return [out.astype(x.dtype, copy=False)]

    def compute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        """The reduction over ``axes`` with ``keepdims=True``."""
        raise NotImplementedError


@irdl_op_definition
class ReduceSumOp(ReductionOp):
    """Sum over ``axes``.

    ```mlir
    %y = nn.reduce_sum %x {axes = array<i64: 1>, keepdims = 0 : i64} : (tensor<?x8xf32>) -> tensor<?xf32>
    ```
    """

    name = "nn.reduce_sum"

    def compute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        return np.sum(x, axis=axes, keepdims=True, dtype=x.dtype)


@irdl_op_definition
class ReduceMeanOp(ReductionOp):
    """Mean over ``axes``; integer means truncate toward zero, empty means are 0.

    ```mlir
    %y = nn.reduce_mean %x {axes = array<i64: -1>} : (tensor<?x8xf32>) -> tensor<?x1xf32>
    ```
    """

    name = "nn.reduce_mean"

    def compute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        total = np.sum(x, axis=axes, keepdims=True, dtype=x.dtype)
        if count == 0:
            return np.zeros_like(total)
        if np.issubdtype(x.dtype, np.integer):
            return np.trunc(total / count)
        return total / x.dtype.type(count)


@irdl_op_definition
class ReduceMaxOp(ReductionOp):
    """Maximum over ``axes``.

    ```mlir
    %y = nn.reduce_max %x {axes = array<i64: 0>} : (tensor<?x8xi32>) -> tensor<1x8xi32>
    ```
    """

    name = "nn.reduce_max"

    def compute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        return np.max(x, axis=axes, keepdims=True, initial=_lowest(x.dtype))


@irdl_op_definition
class ReduceMinOp(ReductionOp):
    """Minimum over ``axes``.

    ```mlir
    %y = nn.reduce_min %x {axes = array<i64: 0>} : (tensor<?x8xf32>) -> tensor<1x8xf32>
    ```
    """

    name = "nn.reduce_min"

    def compute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        return np.min(x, axis=axes, keepdims=True, initial=_highest(x.dtype))


@irdl_op_definition
class ReduceProdOp(ReductionOp):
    """Product over ``axes``.

    ```mlir
    %y = nn.reduce_prod %x {axes = array<i64: 1>} : (tensor<2x3xf32>) -> tensor<2x1xf32>
    ```
    """

    name = "nn.reduce_prod"

    def compute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        return np.prod(x, axis=axes, keepdims=True, dtype=x.dtype)


@irdl_op_definition
class ReduceL1Op(ReductionOp):
    """Sum of absolute values over ``axes``.

    ```mlir
    %y = nn.reduce_l1 %x {axes = array<i64: 1>} : (tensor<2x3xf32>) -> tensor<2x1xf32>
    ```
    """

    name = "nn.reduce_l1"

    def compute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        return np.sum(np.abs(x), axis=axes, keepdims=True, dtype=x.dtype)


@irdl_op_definition
class ReduceL2Op(ReductionOp):
    """Euclidean norm over ``axes`` (floats only).

    ```mlir
    %y = nn.reduce_l2 %x {axes = array<i64: 1>} : (tensor<2x3xf32>) -> tensor<2x1xf32>
    ```
    """

    name = "nn.reduce_l2"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        return np.sqrt(np.sum(x * x, axis=axes, keepdims=True, dtype=x.dtype))


@irdl_op_definition
class ReduceSumSquareOp(ReductionOp):
    """Sum of squares over ``axes``.

    ```mlir
    %y = nn.reduce_sum_square %x {axes = array<i64: 1>} : (tensor<2x3xf32>) -> tensor<2x1xf32>
    ```
    """

    name = "nn.reduce_sum_square"

    def compute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        return np.sum(x * x, axis=axes, keepdims=True, dtype=x.dtype)


@irdl_op_definition
class ReduceLogSumExpOp(ReductionOp):
    """``log(sum(exp(x)))`` over ``axes``, computed without overflow (floats only).

    ```mlir
    %y = nn.reduce_log_sum_exp %x {axes = array<i64: 1>} : (tensor<2x3xf32>) -> tensor<2x1xf32>
    ```
    """

    name = "nn.reduce_log_sum_exp"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        peak = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
        shift = np.where(np.isfinite(peak), peak, 0).astype(x.dtype)
        return np.log(np.sum(np.exp(x - shift), axis=axes, keepdims=True)) + shift


class ArgReductionOp(NNOp):
    """``argmax``/``argmin``: the ``i64`` index of the extreme value along ``axis``
    (first occurrence, or last with ``select_last_index = 1``)."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    axis = opt_prop_def(IntegerAttr)
    keepdims = opt_prop_def(IntegerAttr)
    select_last_index = opt_prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        check_element(t.element_type, ElementKind.NUMERIC)
        shape = shape_of(t)
        axis = normalize_axis(read_int(self.axis, 0), len(shape))
        if shape[axis] == 0:
            raise ValueError(f"axis {axis} has size 0: no element to select")
        if read_int(self.select_last_index, 0) not in (0, 1):
            raise ValueError(f"select_last_index must be 0 or 1, got {read_int(self.select_last_index)}")
        return [tensor_type(reduced_shape(shape, (axis,), _read_keepdims(self.keepdims)), i64)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        axis = normalize_axis(read_int(self.axis, 0), x.ndim)
        if x.shape[axis] == 0:
            raise ValueError(f"'{self.name}' over axis {axis} of size 0")
        if read_int(self.select_last_index, 0):
            flipped = self.select(np.flip(x, axis), axis)
            index = x.shape[axis] - 1 - flipped
        else:
            index = self.select(x, axis)
        if _read_keepdims(self.keepdims):
            index = np.expand_dims(index, axis)
        return [index.astype(np.int64)]

    def select(self, x: np.ndarray, axis: int) -> np.ndarray:
        raise NotImplementedError


@irdl_op_definition
class ArgmaxOp(ArgReductionOp):
    """Index of the largest value along ``axis``.

    ```mlir
    %i = nn.argmax %x {axis = 1 : i64, keepdims = 0 : i64} : (tensor<?x10xf32>) -> tensor<?xi64>
    ```
    """

    name = "nn.argmax"

    def select(self, x: np.ndarray, axis: int) -> np.ndarray:
        return np.argmax(x, axis=axis)


@irdl_op_definition
class ArgminOp(ArgReductionOp):
    """Index of the smallest value along ``axis``.

    ```mlir
    %i = nn.argmin %x {axis = -1 : i64} : (tensor<?x10xf32>) -> tensor<?x1xi64>
    ```
    """

    name = "nn.argmin"

    def select(self, x: np.ndarray, axis: int) -> np.ndarray:
        return np.argmin(x, axis=axis)


OPS: list[type[NNOp]] = [
    ReduceSumOp, ReduceMeanOp, ReduceMaxOp, ReduceMinOp, ReduceProdOp, ReduceL1Op,
    ReduceL2Op, ReduceSumSquareOp, ReduceLogSumExpOp, ArgmaxOp, ArgminOp,
]  # fmt: skip
