"""Shape ``nn`` ops: reshapes that keep the element order (``reshape``, ``flatten``,
``squeeze``, ``unsqueeze``), ``expand``, and the shape queries ``shape``, ``size`` and
``range``.

Every parameter is a static property (the ONNX importer requires parameter inputs to be
known at import time). Shape inference keeps unknown dims ``?`` and still computes every
dim it can: ``reshape`` of ``tensor<?x128x768xf32>`` to ``[0, 0, 12, 64]`` gives
``tensor<?x128x12x64xf32>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, TensorType, i64
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, prop_def, result_def

from dynir.dialects.nn.base import NNOp, read_int, read_ints, tensor_operand_type
from dynir.ir.types import (
    Shape,
    broadcast_shapes,
    format_shape,
    is_integer,
    shape_of,
    tensor_type,
)


def dims_product(dims: Sequence[int | None]) -> int | None:
    """The product of ``dims``: 0 when a static dim is 0, ``None`` when another is ``?``."""
    if any(d == 0 for d in dims):
        return 0
    if any(d is None for d in dims):
        return None
    return math.prod(d for d in dims if d is not None)


def format_ints(values: Sequence[int]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def normalize_axes(axes: Sequence[int], rank: int, what: str = "axes") -> list[int]:
    """Axes mapped into ``[0, rank)``; raises naming ``what`` when out of range or repeated."""
    out: list[int] = []
    for axis in axes:
        if not -rank <= axis < rank:
            raise ValueError(f"{what} {format_ints(axes)} out of range for rank {rank}")
        out.append(axis + rank if axis < 0 else axis)
    if len(set(out)) != len(out):
        raise ValueError(f"{what} {format_ints(axes)} repeat an axis")
    return out


# ----------------------------------------------------------------------------------


@irdl_op_definition
class ReshapeOp(NNOp):
    """ONNX ``Reshape``: ``0`` copies the input dim (unless ``allowzero = 1``), ``-1`` is
    inferred from the element count.

    ```mlir
    %y = nn.reshape %x {shape = array<i64: 0, 0, 12, 64>} : (tensor<?x128x768xf32>) -> tensor<?x128x12x64xf32>
    ```
    """

    name = "nn.reshape"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    shape = prop_def(DenseArrayBase)
    allowzero = opt_prop_def(IntegerAttr)

    def target_dims(self, input_shape: Shape) -> list[int | None]:
        """The output dims with ``0`` resolved, ``-1`` still ``-1``; ``?`` where unknown."""
        spec = read_ints(self.shape)
        allowzero = read_int(self.allowzero, 0)
        if sum(1 for s in spec if s == -1) > 1:
            raise ValueError(f"shape {format_ints(spec)} has more than one -1")
        if allowzero and 0 in spec and -1 in spec:
            raise ValueError(f"shape {format_ints(spec)} has both 0 and -1 with allowzero = 1")
        dims: list[int | None] = []
        for i, s in enumerate(spec):
            if s < -1:
                raise ValueError(f"shape {format_ints(spec)} has a negative dim {s}")
            if s == 0 and not allowzero:
                if i >= len(input_shape):
                    raise ValueError(
                        f"shape {format_ints(spec)} copies dim {i} of a rank-{len(input_shape)} input"
                    )
                dims.append(input_shape[i])
            else:
                dims.append(s)
        return dims

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        in_shape = shape_of(t)
        dims = self.target_dims(in_shape)
        spec = read_ints(self.shape)
        # Dynamic input dims copied by 0 to the same position cancel on both sides.
        copied = {i for i, s in enumerate(spec) if s == 0 and not read_int(self.allowzero, 0)}
        in_rest = [d for i, d in enumerate(in_shape) if i not in copied]
        out_rest = [d for i, d in enumerate(dims) if i not in copied and d != -1]
        in_count, out_count = dims_product(in_rest), dims_product(out_rest)
        if -1 in dims:
            if in_count is None or out_count is None:
                inferred = None
            elif out_count == 0 or in_count % out_count:
                raise ValueError(f"shape {format_ints(spec)} does not divide {format_shape(in_shape)} evenly")
            else:
                inferred = in_count // out_count
            dims = [inferred if d == -1 else d for d in dims]
        elif in_count is not None and out_count is not None and in_count != out_count:
            raise ValueError(
                f"shape {format_ints(spec)} holds {out_count} elements, input {format_shape(in_shape)} "
                f"holds {in_count}"
            )
        return [tensor_type(dims, t.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        dims = self.target_dims(tuple(int(d) for d in x.shape))
        return [x.reshape([-1 if d is None else d for d in dims])]


@irdl_op_definition
class FlattenOp(NNOp):
    """ONNX ``Flatten``: a 2-D view, dims before ``axis`` into rows, the rest into columns.

    ```mlir
    %y = nn.flatten %x {axis = 1 : i64} : (tensor<?x64x7x7xf32>) -> tensor<?x3136xf32>
    ```
    """

    name = "nn.flatten"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    axis = opt_prop_def(IntegerAttr)

    def split_axis(self, rank: int) -> int:
        axis = read_int(self.axis, 1)
        if not -rank <= axis <= rank:
            raise ValueError(f"axis {axis} out of range for rank {rank}")
        return axis + rank if axis < 0 else axis

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        shape = shape_of(t)
        axis = self.split_axis(len(shape))
        rows, cols = dims_product(shape[:axis]), dims_product(shape[axis:])
        return [tensor_type((rows, cols), t.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        axis = self.split_axis(x.ndim)
        rows = int(np.prod(x.shape[:axis], dtype=np.int64))
        return [x.reshape(rows, int(np.prod(x.shape[axis:], dtype=np.int64)))]


@irdl_op_definition
class SqueezeOp(NNOp):
    """Remove the size-1 dims at ``axes`` (a ``?`` dim there must be 1 at run time).

    ```mlir
    %y = nn.squeeze %x {axes = array<i64: 1>} : (tensor<?x1x64xf32>) -> tensor<?x64xf32>
    ```
    """

    name = "nn.squeeze"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    axes = prop_def(DenseArrayBase)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        shape = shape_of(t)
        axes = normalize_axes(read_ints(self.axes), len(shape))
        for axis in axes:
            if shape[axis] not in (1, None):
                raise ValueError(
                    f"axes {format_ints(read_ints(self.axes))} squeeze dim {axis} of size "
                    f"{shape[axis]} in {format_shape(shape)}"
                )
        return [tensor_type([d for i, d in enumerate(shape) if i not in axes], t.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        axes = tuple(normalize_axes(read_ints(self.axes), x.ndim))
        if any(x.shape[a] != 1 for a in axes):
            raise ValueError(f"nn.squeeze: dims {axes} of shape {x.shape} are not all 1")
        return [np.squeeze(x, axis=axes)]


@irdl_op_definition
class UnsqueezeOp(NNOp):
    """Insert size-1 dims; ``axes`` index the output shape.

    ```mlir
    %y = nn.unsqueeze %x {axes = array<i64: 0, -1>} : (tensor<?x64xf32>) -> tensor<1x?x64x1xf32>
    ```
    """

    name = "nn.unsqueeze"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    axes = prop_def(DenseArrayBase)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        return [tensor_type(self.output_shape(shape_of(t)), t.element_type)]

    def output_shape(self, shape: Shape) -> list[int | None]:
        raw = read_ints(self.axes)
        axes = set(normalize_axes(raw, len(shape) + len(raw)))
        rest = iter(shape)
        return [1 if i in axes else next(rest) for i in range(len(shape) + len(raw))]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        return [x.reshape([d if d is not None else -1 for d in self.output_shape(x.shape)])]


@irdl_op_definition
class ExpandOp(NNOp):
    """ONNX ``Expand``: numpy broadcast of the input against ``shape`` (either side may
    hold the larger dim).

    ```mlir
    %y = nn.expand %x {shape = array<i64: 4, 1, 8>} : (tensor<?x1xf32>) -> tensor<4x?x8xf32>
    ```
    """

    name = "nn.expand"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    shape = prop_def(DenseArrayBase)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        target = read_ints(self.shape)
        if any(d < 0 for d in target):
            raise ValueError(f"shape {format_ints(target)} has a negative dim")
        try:
            shape = broadcast_shapes(shape_of(t), target)
        except ValueError:
            raise ValueError(
                f"shape {format_ints(target)} does not broadcast with {format_shape(shape_of(t))}"
            ) from None
        return [tensor_type(shape, t.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        shape = np.broadcast_shapes(x.shape, read_ints(self.shape))
        return [np.broadcast_to(x, shape).copy()]


@irdl_op_definition
class ShapeOp(NNOp):
    """ONNX ``Shape``: the dims ``[start, end)`` of the input as a 1-D ``i64`` tensor
    (negative bounds count from the end; both are clamped to the rank).

    ```mlir
    %s = nn.shape %x {start = 1 : i64} : (tensor<?x128x768xf32>) -> tensor<2xi64>
    ```
    """

    name = "nn.shape"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    start = opt_prop_def(IntegerAttr)
    end = opt_prop_def(IntegerAttr)

    def bounds(self, rank: int) -> tuple[int, int]:
        def clamp(v: int) -> int:
            return min(max(v + rank if v < 0 else v, 0), rank)

        start, end = clamp(read_int(self.start, 0)), clamp(read_int(self.end, rank))
        return start, max(start, end)

    def infer_result_types(self) -> Sequence[TensorType]:
        start, end = self.bounds(len(shape_of(tensor_operand_type(self.input))))
        return [tensor_type((end - start,), i64)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        start, end = self.bounds(x.ndim)
        return [np.array(x.shape[start:end], dtype=np.int64)]


@irdl_op_definition
class SizeOp(NNOp):
    """ONNX ``Size``: the element count as an ``i64`` scalar.

    ```mlir
    %n = nn.size %x : (tensor<?x768xf32>) -> tensor<i64>
    ```
    """

    name = "nn.size"
    input = operand_def(TensorType)
    output = result_def(TensorType)

    def infer_result_types(self) -> Sequence[TensorType]:
        tensor_operand_type(self.input)
        return [tensor_type((), i64)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        return [np.array(x.size, dtype=np.int64)]


@irdl_op_definition
class RangeOp(NNOp):
    """ONNX ``Range``: ``start, start + delta, ...`` up to ``limit`` (exclusive); the
    length is known only at run time (the importer folds constant operands).

    ```mlir
    %r = nn.range %start, %limit, %delta : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
    ```
    """

    name = "nn.range"
    start = operand_def(TensorType)
    limit = operand_def(TensorType)
    delta = operand_def(TensorType)
    output = result_def(TensorType)

    def infer_result_types(self) -> Sequence[TensorType]:
        types = [tensor_operand_type(v) for v in (self.start, self.limit, self.delta)]
        for label, t in zip(("start", "limit", "delta"), types):
            if shape_of(t) != ():
                raise ValueError(f"{label} must be a scalar tensor, got {t}")
        if len({t.element_type for t in types}) != 1:
            raise ValueError(f"start, limit and delta types differ: {', '.join(str(t) for t in types)}")
        return [tensor_type((None,), types[0].element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        start, limit, delta = inputs
        if delta == 0:
            raise ValueError("nn.range: delta is 0")
        count = max(math.ceil((float(limit) - float(start)) / float(delta)), 0)
        dtype = start.dtype
        if is_integer(tensor_operand_type(self.start).element_type):
            values = start.astype(np.int64) + np.arange(count, dtype=np.int64) * delta.astype(np.int64)
        else:
            values = start + np.arange(count, dtype=dtype) * delta
        return [values.astype(dtype)]


OPS = [ReshapeOp, FlattenOp, SqueezeOp, UnsqueezeOp, ExpandOp, ShapeOp, SizeOp, RangeOp]
