"""Pooling ``nn`` ops: ``max_pool``, ``average_pool``, ``lp_pool`` over N-d windows, and
``global_average_pool`` / ``global_max_pool``.

Level: ``nn`` (tensor, ONNX-like), NC... layout. The ONNX importer produces them from
MaxPool, AveragePool, LpPool, GlobalAveragePool and GlobalMaxPool with ``auto_pad``
resolved into explicit ``pads`` (all begins, then all ends). Batch, channel and spatial
``?`` dims stay symbolic. The numpy semantics loop over kernel taps and combine strided
slices of the padded input, so their cost is (taps x output size).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, FloatAttr, IntegerAttr, TensorType
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, prop_def, result_def

from dynir.dialects.nn.base import NNOp, read_float, read_int, read_ints, tensor_operand_type
from dynir.dialects.nn.contraction import Ints, read_window, spatial_pads, window_output_dim
from dynir.ir.types import format_shape, shape_of, tensor_type


class WindowPoolOp(NNOp):
    """A reduction over each (strided, dilated, padded) window of the spatial dims."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    kernel_shape = prop_def(DenseArrayBase)
    strides = opt_prop_def(DenseArrayBase)
    pads = opt_prop_def(DenseArrayBase)
    dilations = opt_prop_def(DenseArrayBase)
    ceil_mode = opt_prop_def(IntegerAttr)

    def window(self, spatial_rank: int) -> tuple[Ints, Ints, Ints, Ints]:
        """``(kernel, strides, pads, dilations)``, checked against ``spatial_rank``."""
        kernel = read_ints(self.kernel_shape)
        if len(kernel) != spatial_rank or any(v < 1 for v in kernel):
            raise ValueError(
                f"kernel_shape {list(kernel)} must hold {spatial_rank} positive values (one per spatial dim)"
            )
        return (kernel, *read_window(self.strides, self.pads, self.dilations, spatial_rank))

    def infer_result_types(self) -> Sequence[TensorType]:
        x = tensor_operand_type(self.input)
        xs = shape_of(x)
        if len(xs) < 3:
            raise ValueError(f"input must have rank >= 3 (N, C, spatial...), got {format_shape(xs)}")
        k = len(xs) - 2
        kernel, strides, pads, dilations = self.window(k)
        ceil = bool(read_int(self.ceil_mode, 0))
        spatial = tuple(
            window_output_dim(xs[2 + i], kernel[i], strides[i], spatial_pads(pads, i), dilations[i], ceil)
            for i in range(k)
        )
        return [tensor_type((*xs[:2], *spatial), x.element_type)]

    def windows(self, x: np.ndarray, fill: float | int) -> Iterator[np.ndarray]:
        """For each kernel tap, the (N, C, out...) slice of ``x`` padded with ``fill``."""
        kernel, strides, pads, dilations = self.window(x.ndim - 2)
        out = pooled_sizes(x.shape, kernel, strides, pads, dilations, bool(read_int(self.ceil_mode, 0)))
        return tap_slices(x, kernel, strides, pads, dilations, out, fill)


def pooled_sizes(
    shape: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    ceil_mode: bool,
) -> list[int]:
    sizes = [
        window_output_dim(shape[2 + i], kernel[i], strides[i], spatial_pads(pads, i), dilations[i], ceil_mode)
        for i in range(len(kernel))
    ]
    return [int(s) for s in sizes if s is not None]


def tap_slices(
    x: np.ndarray,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    out: Sequence[int],
    fill: float | int,
) -> Iterator[np.ndarray]:
    """Pad ``x``'s spatial dims with ``fill`` (beyond the end pads too, for ceil-mode
    windows), then yield one strided (N, C, out...) slice per kernel tap."""
    k = len(kernel)
    widths: list[tuple[int, int]] = [(0, 0)] * (x.ndim - k)
    for i in range(k):
        begin, end = spatial_pads(pads, i)
        needed = (out[i] - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1
        end = max(end, needed - x.shape[x.ndim - k + i] - begin)
        widths.append((begin, end))
    padded = np.pad(x, widths, constant_values=fill)
    lead = (slice(None),) * (x.ndim - k)
    for tap in np.ndindex(*kernel):
        yield padded[
            lead
            + tuple(
                slice(tap[i] * dilations[i], tap[i] * dilations[i] + (out[i] - 1) * strides[i] + 1, strides[i])
                for i in range(k)
            )
        ]


def _reduce_taps(slices: Iterator[np.ndarray], combine: Callable[..., np.ndarray]) -> np.ndarray:
    acc = np.array(next(slices), copy=True)
    for part in slices:
        combine(acc, part, out=acc)
    return acc


def _lowest(dtype: np.dtype) -> float | int:
    return -np.inf if np.issubdtype(dtype, np.floating) else int(np.iinfo(dtype).min)


@irdl_op_definition
class MaxPoolOp(WindowPoolOp):
    """Maximum over each window; padding never wins.

    ```mlir
    %y = nn.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>} : (tensor<?x64x112x112xf32>) -> tensor<?x64x56x56xf32>
    ```
    """

    name = "nn.max_pool"

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        return [_reduce_taps(self.windows(x, _lowest(x.dtype)), np.maximum)]


@irdl_op_definition
class AveragePoolOp(WindowPoolOp):
    """Mean over each window. With ``count_include_pad = 0`` (default) the divisor counts
    input elements only; with 1 it also counts explicit pads (never ceil-mode overhang).

    ```mlir
    %y = nn.average_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x8x?x?xf32>) -> tensor<1x8x?x?xf32>
    ```
    """

    name = "nn.average_pool"
    count_include_pad = opt_prop_def(IntegerAttr)

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        k = x.ndim - 2
        kernel, strides, pads, dilations = self.window(k)
        out = pooled_sizes(x.shape, kernel, strides, pads, dilations, bool(read_int(self.ceil_mode, 0)))
        total = _reduce_taps(tap_slices(x, kernel, strides, pads, dilations, out, 0), np.add)
        mask = np.ones(x.shape[2:], dtype=np.float64)
        mask_pads = tuple(pads)
        if read_int(self.count_include_pad, 0):
            mask = np.pad(mask, [spatial_pads(pads, i) for i in range(k)], constant_values=1.0)
            mask_pads = (0,) * (2 * k)
        counts = _reduce_taps(tap_slices(mask, kernel, strides, mask_pads, dilations, out, 0.0), np.add)
        return [(total / counts.astype(x.dtype)).astype(x.dtype, copy=False)]


@irdl_op_definition
class LpPoolOp(WindowPoolOp):
    """``(sum |x|^p) ^ (1/p)`` over each window; pads count as zeros.

    ```mlir
    %y = nn.lp_pool %x {kernel_shape = array<i64: 2, 2>, p = 2.000000e+00 : f64} : (tensor<1x3x8x8xf32>) -> tensor<1x3x7x7xf32>
    ```
    """

    name = "nn.lp_pool"
    p = opt_prop_def(FloatAttr)

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        p = read_float(self.p, 2.0)
        total = _reduce_taps(self.windows(np.abs(x) ** p, 0), np.add)
        return [np.power(total, 1.0 / p).astype(x.dtype, copy=False)]


class GlobalPoolOp(NNOp):
    """A reduction over all spatial dims, kept as size-1 dims: (N, C, 1, ...)."""

    input = operand_def(TensorType)
    output = result_def(TensorType)

    def infer_result_types(self) -> Sequence[TensorType]:
        x = tensor_operand_type(self.input)
        xs = shape_of(x)
        if len(xs) < 3:
            raise ValueError(f"input must have rank >= 3 (N, C, spatial...), got {format_shape(xs)}")
        return [tensor_type((*xs[:2], *(1,) * (len(xs) - 2)), x.element_type)]


@irdl_op_definition
class GlobalAveragePoolOp(GlobalPoolOp):
    """Mean over the spatial dims.

    ```mlir
    %y = nn.global_average_pool %x : (tensor<?x2048x7x7xf32>) -> tensor<?x2048x1x1xf32>
    ```
    """

    name = "nn.global_average_pool"

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        axes = tuple(range(2, x.ndim))
        return [np.mean(x, axis=axes, keepdims=True).astype(x.dtype, copy=False)]


@irdl_op_definition
class GlobalMaxPoolOp(GlobalPoolOp):
    """Maximum over the spatial dims.

    ```mlir
    %y = nn.global_max_pool %x : (tensor<1x16x?x?xf32>) -> tensor<1x16x1x1xf32>
    ```
    """

    name = "nn.global_max_pool"

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        return [np.max(x, axis=tuple(range(2, x.ndim)), keepdims=True)]


OPS = [MaxPoolOp, AveragePoolOp, LpPoolOp, GlobalAveragePoolOp, GlobalMaxPoolOp]
