"""Normalization ``nn`` ops: ``softmax``, ``log_softmax``, ``layer_norm``, ``batch_norm``
(inference form) and ``instance_norm``. All are float-only and keep the input's type.

The importer lowers ONNX's older "coerce to 2-D" softmax to reductions, so ``softmax``
here always works along one axis. Parameter operands (scale, bias, statistics) are
required; importers materialise ONNX's optional ones as constants.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import FloatAttr, IntegerAttr, TensorType
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, result_def

from dynir.dialects.nn.base import NNOp, read_float, read_int, tensor_operand_type
from dynir.dialects.nn.elementwise import ElementKind, check_element
from dynir.ir.types import Shape, format_shape, normalize_axis, shape_of

DEFAULT_EPSILON = 1e-5


def _check_same_element(x: TensorType, role: str, t: TensorType) -> None:
    if t.element_type != x.element_type:
        raise ValueError(f"{role} element type {t.element_type} differs from the input's {x.element_type}")


def _check_broadcasts_to(role: str, shape: Shape, target: Shape) -> None:
    """``shape`` must broadcast (one way) to ``target``: no longer, static dims 1 or equal."""
    padded = (1,) * (len(target) - len(shape)) + tuple(shape)
    agree = all(a is None or b is None or a in (1, b) for a, b in zip(padded, target))
    if len(shape) > len(target) or not agree:
        raise ValueError(
            f"{role} shape {format_shape(shape)} does not broadcast to the normalized shape "
            f"{format_shape(target)}"
        )


def _check_per_channel(role: str, shape: Shape, channels: int | None) -> None:
    """``shape`` must be ``[C]``, ``C`` matching the input's channel dim where static."""
    if len(shape) != 1 or (shape[0] is not None and channels is not None and shape[0] != channels):
        raise ValueError(
            f"{role} shape {format_shape(shape)} must be [C] with C = {format_shape((channels,))}"
        )


def _epsilon(attr: FloatAttr | None) -> float:
    epsilon = read_float(attr, DEFAULT_EPSILON)
    if epsilon < 0:
        raise ValueError(f"epsilon must not be negative, got {epsilon}")
    return epsilon


class AxisSoftmaxOp(NNOp):
    """``softmax``/``log_softmax`` along one ``axis`` (default -1)."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    axis = opt_prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        t = tensor_operand_type(self.input)
        check_element(t.element_type, ElementKind.FLOAT)
        normalize_axis(read_int(self.axis, -1), len(shape_of(t)))
        return [t]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        axis = normalize_axis(read_int(self.axis, -1), x.ndim)
        wide = x.astype(np.float32) if x.dtype == np.float16 else x
        with np.errstate(all="ignore"):
            peak = np.max(wide, axis=axis, keepdims=True, initial=-np.inf)
            shifted = wide - np.where(np.isfinite(peak), peak, 0).astype(wide.dtype)
            out = self.compute(shifted, axis)
        return [out.astype(x.dtype, copy=False)]

    def compute(self, shifted: np.ndarray, axis: int) -> np.ndarray:
        """The result from ``x - max(x)`` along ``axis``."""
        raise NotImplementedError


@irdl_op_definition
class SoftmaxOp(AxisSoftmaxOp):
    """``exp(x) / sum(exp(x))`` along ``axis``, computed from ``x - max(x)``.

    ```mlir
    %y = nn.softmax %x {axis = -1 : i64} : (tensor<?x128xf32>) -> tensor<?x128xf32>
    ```
    """

    name = "nn.softmax"

    def compute(self, shifted: np.ndarray, axis: int) -> np.ndarray:
        e = np.exp(shifted)
        return e / np.sum(e, axis=axis, keepdims=True)


@irdl_op_definition
class LogSoftmaxOp(AxisSoftmaxOp):
    """``x - log(sum(exp(x)))`` along ``axis``, computed from ``x - max(x)``.

    ```mlir
    %y = nn.log_softmax %x {axis = 1 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
    ```
    """

    name = "nn.log_softmax"

    def compute(self, shifted: np.ndarray, axis: int) -> np.ndarray:
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@irdl_op_definition
class LayerNormOp(NNOp):
    """Normalize over dims ``axis .. rank-1`` (mean 0, variance 1, plus ``epsilon``), then
    ``* scale + bias``; both broadcast to the normalized shape ``x.shape[axis:]``.

    ```mlir
    %y = nn.layer_norm %x, %g, %b {axis = -1 : i64, epsilon = 1.000000e-05 : f64} : (tensor<?x16x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<?x16x768xf32>
    ```
    """

    name = "nn.layer_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = operand_def(TensorType)
    output = result_def(TensorType)
    axis = opt_prop_def(IntegerAttr)
    epsilon = opt_prop_def(FloatAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        x = tensor_operand_type(self.input)
        check_element(x.element_type, ElementKind.FLOAT)
        shape = shape_of(x)
        axis = normalize_axis(read_int(self.axis, -1), len(shape))
        _epsilon(self.epsilon)
        for role, value in (("scale", self.scale), ("bias", self.bias)):
            t = tensor_operand_type(value)
            _check_same_element(x, role, t)
            _check_broadcasts_to(role, shape_of(t), shape[axis:])
        return [x]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x, scale, bias = inputs
        axis = normalize_axis(read_int(self.axis, -1), x.ndim)
        axes = tuple(range(axis, x.ndim))
        wide = x.astype(np.float32) if x.dtype == np.float16 else x
        mean = np.mean(wide, axis=axes, keepdims=True)
        centered = wide - mean
        variance = np.mean(centered * centered, axis=axes, keepdims=True)
        normalized = centered / np.sqrt(variance + wide.dtype.type(_epsilon(self.epsilon)))
        return [(normalized * scale + bias).astype(x.dtype, copy=False)]


class ChannelNormOp(NNOp):
    """Shared checks of ``batch_norm`` and ``instance_norm``: input ``N x C x ...``, every
    parameter operand ``[C]``. (Operands are declared on the concrete ops, since IRDL
    orders inherited fields after the subclass's own.)"""

    def parameters(self) -> list[tuple[str, TensorType]]:
        raise NotImplementedError

    def infer_result_types(self) -> Sequence[TensorType]:
        x = tensor_operand_type(self.operands[0])
        check_element(x.element_type, ElementKind.FLOAT)
        shape = shape_of(x)
        if len(shape) < self.min_rank():
            raise ValueError(f"input rank {len(shape)} is below {self.min_rank()} (N x C x ...)")
        self.epsilon_value()
        for role, t in self.parameters():
            _check_same_element(x, role, t)
            _check_per_channel(role, shape_of(t), shape[1])
        return [x]

    def min_rank(self) -> int:
        return 2

    def epsilon_value(self) -> float:
        attr = self.properties.get("epsilon")
        return _epsilon(attr if isinstance(attr, FloatAttr) else None)

    def per_channel(self, array: np.ndarray, rank: int) -> np.ndarray:
        """A ``[C]`` parameter shaped to broadcast against ``N x C x ...``."""
        return array.reshape((-1,) + (1,) * (rank - 2))


@irdl_op_definition
class BatchNormOp(ChannelNormOp):
    """Inference batch normalization with running statistics, per channel (dim 1):
    ``(x - mean) / sqrt(var + epsilon) * scale + bias``.

    ```mlir
    %y = nn.batch_norm %x, %g, %b, %m, %v {epsilon = 1.000000e-05 : f64} : (tensor<?x64x?x?xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64x?x?xf32>
    ```
    """

    name = "nn.batch_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = operand_def(TensorType)
    mean = operand_def(TensorType)
    variance = operand_def(TensorType)
    output = result_def(TensorType)
    epsilon = opt_prop_def(FloatAttr)

    def parameters(self) -> list[tuple[str, TensorType]]:
        named = (("scale", self.scale), ("bias", self.bias), ("mean", self.mean), ("variance", self.variance))
        return [(role, tensor_operand_type(v)) for role, v in named]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x = inputs[0]
        scale, bias, mean, variance = (self.per_channel(a, x.ndim) for a in inputs[1:])
        epsilon = x.dtype.type(self.epsilon_value())
        out = (x - mean) / np.sqrt(variance + epsilon) * scale + bias
        return [out.astype(x.dtype, copy=False)]


@irdl_op_definition
class InstanceNormOp(ChannelNormOp):
    """Normalize each (sample, channel) over its spatial dims ``2 ..``, then
    ``* scale + bias`` per channel.

    ```mlir
    %y = nn.instance_norm %x, %g, %b {epsilon = 1.000000e-05 : f64} : (tensor<?x8x?x?xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x?x?xf32>
    ```
    """

    name = "nn.instance_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = operand_def(TensorType)
    output = result_def(TensorType)
    epsilon = opt_prop_def(FloatAttr)

    def parameters(self) -> list[tuple[str, TensorType]]:
        return [("scale", tensor_operand_type(self.scale)), ("bias", tensor_operand_type(self.bias))]

    def min_rank(self) -> int:
        return 3

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x, scale, bias = inputs
        axes = tuple(range(2, x.ndim))
        mean = np.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        variance = np.mean(centered * centered, axis=axes, keepdims=True)
        epsilon = x.dtype.type(self.epsilon_value())
        out = centered / np.sqrt(variance + epsilon) * self.per_channel(scale, x.ndim)
        return [(out + self.per_channel(bias, x.ndim)).astype(x.dtype, copy=False)]


OPS: list[type[NNOp]] = [SoftmaxOp, LogSoftmaxOp, LayerNormOp, BatchNormOp, InstanceNormOp]
