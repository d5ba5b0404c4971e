"""Indexing ``nn`` ops: ``slice`` (static bounds), ``gather``, ``gather_elements``,
``scatter_elements`` (data-dependent indices) and ``topk``.

Index operands may be ``i32`` or ``i64`` and may be negative (counted from the end).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, StringAttr, TensorType, i64
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, prop_def, result_def

from dynir.dialects.nn.base import NNOp, read_int, read_ints, read_str, tensor_operand_type
from dynir.dialects.nn.shape import format_ints, normalize_axes
from dynir.ir.types import format_shape, is_integer, normalize_axis, shape_of, tensor_type


def slice_bounds(dim: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """ONNX ``Slice`` clamping: ``(start, end, count)`` for one axis of size ``dim``; with
    a negative step ``end`` may be -1, meaning "through index 0"."""
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    count = max(0, -(-(end - start) // step))
    return start, end, count


def _index_array(indices: np.ndarray, dim: int, what: str) -> np.ndarray:
    """``indices`` with negative entries counted from the end; raises when out of range."""
    idx = indices.astype(np.int64)
    if idx.size and (idx.min() < -dim or idx.max() >= dim):
        raise ValueError(f"{what}: index out of range [{-dim}, {dim})")
    return np.where(idx < 0, idx + dim, idx)


def _require_indices(t: TensorType, label: str) -> None:
    if not is_integer(t.element_type):
        raise ValueError(f"{label} must be an integer tensor, got {t}")


@irdl_op_definition
class SliceOp(NNOp):
    """ONNX ``Slice`` with static ``starts``/``ends``/``axes``/``steps``: bounds are
    clamped to each dim, negative steps walk backwards, ``ends`` of INT64_MAX/INT64_MIN
    mean "to the end".

    ```mlir
    %y = nn.slice %x {starts = array<i64: 1>, ends = array<i64: 9223372036854775807>, axes = array<i64: 1>, steps = array<i64: 2>} : (tensor<?x10xf32>) -> tensor<?x5xf32>
    ```
    """

    name = "nn.slice"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    starts = prop_def(DenseArrayBase)
    ends = prop_def(DenseArrayBase)
    axes = opt_prop_def(DenseArrayBase)
    steps = opt_prop_def(DenseArrayBase)

    def per_axis(self, rank: int) -> list[tuple[int, int, int, int]]:
        """``(axis, start, end, step)`` for each sliced axis, axes normalized."""
        starts, ends = read_ints(self.starts), read_ints(self.ends)
        axes = read_ints(self.axes, range(len(starts)))
        steps = read_ints(self.steps, [1] * len(starts))
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise ValueError(
                f"starts {format_ints(starts)}, ends {format_ints(ends)}, axes {format_ints(axes)} "
                f"and steps {format_ints(steps)} differ in length"
            )
        if 0 in steps:
            raise ValueError(f"steps {format_ints(steps)} contain 0")
        return list(zip(normalize_axes(axes, rank), starts, ends, steps))

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        dims = list(shape_of(t))
        for axis, start, end, step in self.per_axis(len(dims)):
            d = dims[axis]
            dims[axis] = None if d is None else slice_bounds(d, start, end, step)[2]
        return [tensor_type(dims, t.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        index = [slice(None)] * x.ndim
        for axis, start, end, step in self.per_axis(x.ndim):
            lo, hi, _ = slice_bounds(x.shape[axis], start, end, step)
            index[axis] = slice(lo, None if hi < 0 else hi, step)
        return [x[tuple(index)].copy()]


@irdl_op_definition
class GatherOp(NNOp):
    """ONNX ``Gather``: pick whole slices of ``data`` along ``axis`` at ``indices``; the
    result shape is ``data[:axis] + indices + data[axis+1:]``.

    ```mlir
    %y = nn.gather %table, %ids {axis = 0 : i64} : (tensor<30522x768xf32>, tensor<?x128xi64>) -> tensor<?x128x768xf32>
    ```
    """

    name = "nn.gather"
    data = operand_def(TensorType)
    indices = operand_def(TensorType)
    output = result_def(TensorType)
    axis = opt_prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        data, indices = tensor_operand_type(self.data), tensor_operand_type(self.indices)
        _require_indices(indices, "indices")
        shape = shape_of(data)
        axis = normalize_axis(read_int(self.axis, 0), len(shape))
        return [tensor_type((*shape[:axis], *shape_of(indices), *shape[axis + 1 :]), data.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        data, indices = inputs
        axis = normalize_axis(read_int(self.axis, 0), data.ndim)
        return [np.take(data, _index_array(indices, data.shape[axis], "nn.gather"), axis=axis)]


@irdl_op_definition
class GatherElementsOp(NNOp):
    """ONNX ``GatherElements``: ``out[i][j] = data[indices[i][j]][j]`` for ``axis = 0``;
    the result has the shape of ``indices``.

    ```mlir
    %y = nn.gather_elements %x, %idx {axis = 1 : i64} : (tensor<?x8xf32>, tensor<?x2xi64>) -> tensor<?x2xf32>
    ```
    """

    name = "nn.gather_elements"
    data = operand_def(TensorType)
    indices = operand_def(TensorType)
    output = result_def(TensorType)
    axis = opt_prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        data, indices = tensor_operand_type(self.data), tensor_operand_type(self.indices)
        _require_indices(indices, "indices")
        if len(shape_of(data)) != len(shape_of(indices)):
            raise ValueError(f"data {data} and indices {indices} differ in rank")
        normalize_axis(read_int(self.axis, 0), len(shape_of(data)))
        return [tensor_type(shape_of(indices), data.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        data, indices = inputs
        axis = normalize_axis(read_int(self.axis, 0), data.ndim)
        idx = _index_array(indices, data.shape[axis], "nn.gather_elements")
        return [np.take_along_axis(data, idx, axis=axis)]


SCATTER_REDUCTIONS = {"none": None, "add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


@irdl_op_definition
class ScatterElementsOp(NNOp):
    """ONNX ``ScatterElements``: a copy of ``data`` with ``updates`` written (or combined
    by ``reduction``: none, add, mul, max, min) at ``indices`` along ``axis``.

    ```mlir
    %y = nn.scatter_elements %x, %idx, %upd {axis = 1 : i64, reduction = "add"} : (tensor<4x8xf32>, tensor<4x2xi64>, tensor<4x2xf32>) -> tensor<4x8xf32>
    ```
    """

    name = "nn.scatter_elements"
    data = operand_def(TensorType)
    indices = operand_def(TensorType)
    updates = operand_def(TensorType)
    output = result_def(TensorType)
    axis = opt_prop_def(IntegerAttr)
    reduction = opt_prop_def(StringAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        data = tensor_operand_type(self.data)
        indices, updates = tensor_operand_type(self.indices), tensor_operand_type(self.updates)
        _require_indices(indices, "indices")
        if updates.element_type != data.element_type or len(shape_of(indices)) != len(shape_of(data)):
            raise ValueError(f"data {data}, indices {indices} and updates {updates} do not match")
        if any(
            a is not None and b is not None and a != b for a, b in zip(shape_of(indices), shape_of(updates))
        ):
            raise ValueError(f"indices {indices} and updates {updates} differ in shape")
        if read_str(self.reduction, "none") not in SCATTER_REDUCTIONS:
            raise ValueError(
                f"reduction '{read_str(self.reduction)}' is not one of {', '.join(SCATTER_REDUCTIONS)}"
            )
        normalize_axis(read_int(self.axis, 0), len(shape_of(data)))
        return [data]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        data, indices, updates = inputs
        axis = normalize_axis(read_int(self.axis, 0), data.ndim)
        idx = _index_array(indices, data.shape[axis], "nn.scatter_elements")
        coords: list[np.ndarray] = list(np.indices(idx.shape, sparse=False))
        coords[axis] = idx
        out = data.copy()
        combine = SCATTER_REDUCTIONS[read_str(self.reduction, "none")]
        if combine is None:
            out[tuple(coords)] = updates
        else:
            combine.at(out, tuple(coords), updates)
        return [out]


@irdl_op_definition
class TopKOp(NNOp):
    """ONNX ``TopK``: the ``k`` largest (or smallest) values along ``axis`` and their
    ``i64`` indices; equal values keep the lower index first.

    ```mlir
    %v, %i = nn.topk %x {k = 5 : i64, axis = -1 : i64} : (tensor<?x1000xf32>) -> (tensor<?x5xf32>, tensor<?x5xi64>)
    ```
    """

    name = "nn.topk"
    input = operand_def(TensorType)
    values = result_def(TensorType)
    indices = result_def(TensorType)
    k = prop_def(IntegerAttr)
    axis = opt_prop_def(IntegerAttr)
    largest = opt_prop_def(IntegerAttr)
    sorted = opt_prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        shape = list(shape_of(t))
        axis = normalize_axis(read_int(self.axis, -1), len(shape))
        k = read_int(self.k)
        dim = shape[axis]
        if k < 0 or (dim is not None and k > dim):
            raise ValueError(f"k {k} out of range for dim {axis} of {format_shape(tuple(shape))}")
        shape[axis] = k
        return [tensor_type(shape, t.element_type), tensor_type(shape, i64)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        axis = normalize_axis(read_int(self.axis, -1), x.ndim)
        k = read_int(self.k)
        if k > x.shape[axis]:
            raise ValueError(f"nn.topk: k {k} exceeds dim {x.shape[axis]}")
        if read_int(self.largest, 1):
            # Stable descending order with ties by lower index: sort the reversed axis.
            n = x.shape[axis]
            order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
            order = (n - 1) - np.flip(order, axis)
        else:
            order = np.argsort(x, axis=axis, kind="stable")
        order = np.take(order, np.arange(k), axis=axis).astype(np.int64)
        return [np.take_along_axis(x, order, axis=axis), order]


OPS = [SliceOp, GatherOp, GatherElementsOp, ScatterElementsOp, TopKOp]
