"""Data-movement ``nn`` ops that reorder or copy elements: ``transpose``, ``tile``,
``pad``, ``concat``, ``split``, ``depth_to_space`` and ``space_to_depth``.

Parameters are static properties; inference keeps ``?`` dims and computes the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, FloatAttr, IntegerAttr, StringAttr, TensorType
from xdsl.irdl import (
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    var_operand_def,
    var_result_def,
)

from dynir.dialects.nn.base import NNOp, read_float, read_int, read_ints, read_str, tensor_operand_type
from dynir.dialects.nn.shape import format_ints
from dynir.ir.types import Shape, format_shape, normalize_axis, shape_of, tensor_type


@irdl_op_definition
class TransposeOp(NNOp):
    """Permute dims: output dim ``i`` is input dim ``perm[i]``.

    ```mlir
    %y = nn.transpose %x {perm = array<i64: 0, 2, 1, 3>} : (tensor<?x128x12x64xf32>) -> tensor<?x12x128x64xf32>
    ```
    """

    name = "nn.transpose"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    perm = prop_def(DenseArrayBase)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        shape = shape_of(t)
        perm = read_ints(self.perm)
        if sorted(perm) != list(range(len(shape))):
            raise ValueError(f"perm {format_ints(perm)} is not a permutation of rank {len(shape)}")
        return [tensor_type([shape[p] for p in perm], t.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        return [np.ascontiguousarray(np.transpose(x, read_ints(self.perm)))]


@irdl_op_definition
class TileOp(NNOp):
    """Repeat the whole tensor ``repeats[i]`` times along dim ``i``.

    ```mlir
    %y = nn.tile %x {repeats = array<i64: 1, 3>} : (tensor<?x4xf32>) -> tensor<?x12xf32>
    ```
    """

    name = "nn.tile"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    repeats = prop_def(DenseArrayBase)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        shape = shape_of(t)
        repeats = read_ints(self.repeats)
        if len(repeats) != len(shape) or any(r < 0 for r in repeats):
            raise ValueError(
                f"repeats {format_ints(repeats)} must be {len(shape)} non-negative counts for "
                f"{format_shape(shape)}"
            )
        dims = [0 if r == 0 else None if d is None else d * r for d, r in zip(shape, repeats)]
        return [tensor_type(dims, t.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        return [np.tile(x, read_ints(self.repeats))]


PAD_MODES = ("constant", "reflect", "edge", "wrap")


@irdl_op_definition
class PadOp(NNOp):
    """ONNX ``Pad``: ``pads`` holds the begin pads of every dim, then the end pads
    (negative pads crop); ``mode`` is constant (fill with ``value``), reflect, edge or wrap.

    ```mlir
    %y = nn.pad %x {pads = array<i64: 0, 0, 1, 1, 0, 0, 1, 1>, mode = "constant", value = 0.0 : f64} : (tensor<?x3x8x8xf32>) -> tensor<?x3x10x10xf32>
    ```
    """

    name = "nn.pad"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    pads = prop_def(DenseArrayBase)
    mode = opt_prop_def(StringAttr)
    value = opt_prop_def(FloatAttr)

    def begins_ends(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        pads = read_ints(self.pads)
        if len(pads) != 2 * rank:
            raise ValueError(f"pads {format_ints(pads)} must hold {2 * rank} values for rank {rank}")
        mode = read_str(self.mode, "constant")
        if mode not in PAD_MODES:
            raise ValueError(f"mode '{mode}' is not one of {', '.join(PAD_MODES)}")
        return pads[:rank], pads[rank:]

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        shape = shape_of(t)
        begins, ends = self.begins_ends(len(shape))
        dims: list[int | None] = []
        for axis, (d, b, e) in enumerate(zip(shape, begins, ends)):
            if d is not None and d + b + e < 0:
                raise ValueError(
                    f"pads {format_ints(read_ints(self.pads))} crop dim {axis} of {format_shape(shape)} "
                    "below 0"
                )
            dims.append(None if d is None else d + b + e)
        return [tensor_type(dims, t.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        begins, ends = self.begins_ends(x.ndim)
        crop = tuple(slice(max(-b, 0), d - max(-e, 0)) for d, b, e in zip(x.shape, begins, ends))
        x = x[crop]
        widths = [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends)]
        mode = read_str(self.mode, "constant")
        if mode == "constant":
            fill = np.array(read_float(self.value, 0.0)).astype(x.dtype)
            return [np.pad(x, widths, mode="constant", constant_values=fill)]
        return [np.pad(x, widths, mode=mode)]


@irdl_op_definition
class ConcatOp(NNOp):
    """Join tensors along ``axis``; the other dims must agree.

    ```mlir
    %y = nn.concat %a, %b {axis = 1 : i64} : (tensor<?x4xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
    ```
    """

    name = "nn.concat"
    inputs = var_operand_def(TensorType)
    output = result_def(TensorType)
    axis = prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        types = [tensor_operand_type(v) for v in self.inputs]
        if not types:
            raise ValueError("needs at least one operand")
        shapes = [shape_of(t) for t in types]
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes) or len({t.element_type for t in types}) != 1:
            raise ValueError(f"operand types do not concatenate: {', '.join(str(t) for t in types)}")
        axis = normalize_axis(read_int(self.axis), rank)
        dims = list(shapes[0])
        for shape in shapes[1:]:
            for i, (have, d) in enumerate(zip(dims, shape)):
                if i == axis:
                    dims[i] = None if have is None or d is None else have + d
                elif d is not None and have is not None and d != have:
                    raise ValueError(
                        f"operand shapes {', '.join(format_shape(s) for s in shapes)} differ "
                        f"outside axis {axis}"
                    )
                elif have is None:
                    dims[i] = d
        return [tensor_type(dims, types[0].element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        return [np.concatenate(inputs, axis=normalize_axis(read_int(self.axis), inputs[0].ndim))]


@irdl_op_definition
class SplitOp(NNOp):
    """Cut a tensor along ``axis`` into pieces of ``sizes``; without ``sizes``, into one
    piece per result of ``ceil(dim / n)`` (the last one smaller).

    ```mlir
    %q, %k, %v = nn.split %x {axis = 2 : i64, sizes = array<i64: 768, 768, 768>} : (tensor<?x128x2304xf32>) -> (tensor<?x128x768xf32>, tensor<?x128x768xf32>, tensor<?x128x768xf32>)
    ```
    """

    name = "nn.split"
    input = operand_def(TensorType)
    outputs = var_result_def(TensorType)
    axis = prop_def(IntegerAttr)
    sizes = opt_prop_def(DenseArrayBase)

    def piece_sizes(self, dim: int | None) -> list[int | None]:
        count = len(self.outputs)
        if count == 0:
            raise ValueError("needs at least one result")
        if self.sizes is None:
            if dim is None:
                return [None] * count
            step = -(-dim // count)
            return [max(min(step, dim - i * step), 0) for i in range(count)]
        sizes = read_ints(self.sizes)
        if len(sizes) != count or any(s < 0 for s in sizes):
            raise ValueError(f"sizes {format_ints(sizes)} must be {count} non-negative sizes")
        if dim is not None and sum(sizes) != dim:
            raise ValueError(f"sizes {format_ints(sizes)} do not add up to the split dim {dim}")
        return list(sizes)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        shape = shape_of(t)
        axis = normalize_axis(read_int(self.axis), len(shape))
        return [
            tensor_type((*shape[:axis], size, *shape[axis + 1 :]), t.element_type)
            for size in self.piece_sizes(shape[axis])
        ]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        axis = normalize_axis(read_int(self.axis), x.ndim)
        sizes = self.piece_sizes(x.shape[axis])
        bounds = np.cumsum([0, *[s or 0 for s in sizes]])
        if bounds[-1] != x.shape[axis]:
            raise ValueError(f"nn.split: sizes {sizes} do not add up to dim {x.shape[axis]}")
        return [np.take(x, np.arange(lo, hi), axis=axis) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _block_shape(shape: Shape, blocksize: int, what: str) -> tuple[int | None, ...]:
    if len(shape) != 4:
        raise ValueError(f"{what} needs an NCHW tensor, got {format_shape(shape)}")
    if blocksize < 1:
        raise ValueError(f"blocksize {blocksize} must be positive")
    return shape


def _check_block_mode(mode: str) -> None:
    if mode not in ("DCR", "CRD"):
        raise ValueError(f"mode '{mode}' is not DCR or CRD")


@irdl_op_definition
class DepthToSpaceOp(NNOp):
    """Move ``blocksize x blocksize`` channel groups into space (NCHW); ``mode`` DCR
    (depth-column-row, the default) or CRD.

    ```mlir
    %y = nn.depth_to_space %x {blocksize = 2 : i64, mode = "DCR"} : (tensor<?x16x8x8xf32>) -> tensor<?x4x16x16xf32>
    ```
    """

    name = "nn.depth_to_space"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    blocksize = prop_def(IntegerAttr)
    mode = opt_prop_def(StringAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        b = read_int(self.blocksize)
        n, c, h, w = _block_shape(shape_of(t), b, "depth_to_space")
        _check_block_mode(read_str(self.mode, "DCR"))
        if c is not None and c % (b * b):
            raise ValueError(f"channels {c} are not a multiple of blocksize^2 = {b * b}")
        scale = lambda d: None if d is None else d * b  # noqa: E731
        return [tensor_type((n, None if c is None else c // (b * b), scale(h), scale(w)), t.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        b = read_int(self.blocksize)
        n, c, h, w = x.shape
        if read_str(self.mode, "DCR") == "DCR":
            y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return [np.ascontiguousarray(y).reshape(n, c // (b * b), h * b, w * b)]


@irdl_op_definition
class SpaceToDepthOp(NNOp):
    """Move ``blocksize x blocksize`` spatial blocks into channels (NCHW); ``mode`` DCR
    (the default, inverse of DCR ``depth_to_space``) or CRD.

    ```mlir
    %y = nn.space_to_depth %x {blocksize = 2 : i64} : (tensor<?x3x64x64xf32>) -> tensor<?x12x32x32xf32>
    ```
    """

    name = "nn.space_to_depth"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    blocksize = prop_def(IntegerAttr)
    mode = opt_prop_def(StringAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        b = read_int(self.blocksize)
        n, c, h, w = _block_shape(shape_of(t), b, "space_to_depth")
        _check_block_mode(read_str(self.mode, "DCR"))
        for label, d in (("height", h), ("width", w)):
            if d is not None and d % b:
                raise ValueError(f"{label} {d} is not a multiple of blocksize {b}")
        shrink = lambda d: None if d is None else d // b  # noqa: E731
        return [tensor_type((n, None if c is None else c * b * b, shrink(h), shrink(w)), t.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        b = read_int(self.blocksize)
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // b, b, w // b, b)
        if read_str(self.mode, "DCR") == "DCR":
            y = y.transpose(0, 3, 5, 1, 2, 4)
        else:
            y = y.transpose(0, 1, 3, 5, 2, 4)
        return [np.ascontiguousarray(y).reshape(n, c * b * b, h // b, w // b)]


OPS = [TransposeOp, TileOp, PadOp, ConcatOp, SplitOp, DepthToSpaceOp, SpaceToDepthOp]
