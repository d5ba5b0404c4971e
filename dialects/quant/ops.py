"""The ``quant`` ops: conversions between float and integer tensors, and integer
contractions with zero points and ``i32`` accumulation.

Conversions are elementwise with numpy broadcasting of their parameters: a per-tensor
scale is ``tensor<f32>``, a per-axis one is shaped to broadcast along its axis
(``tensor<16x1x1xf32>`` for the channels of an NCHW tensor). Rounding is half to even,
results saturate to the storage range, as ONNX QuantizeLinear specifies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, IntegerType, TensorType, f32, i32
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, result_def

from dynir.dialects.nn.base import NNOp, read_int, tensor_operand_type
from dynir.dialects.nn.contraction import conv_reference, matmul_shape, read_window, spatial_pads, window_output_dim
from dynir.dialects.quant.packed import PackedConvOp, PackedMatmulOp, PackPanelsOp
from dynir.dialects.quant.types import UniformQuantizedType, u8
from dynir.ir.types import Shape, broadcast_shapes, dims_compatible, format_shape, is_float, shape_of, tensor_type

# ----------------------------------------------------------------------------------
# Shared checks.


def _integer_element(t: TensorType, what: str) -> IntegerType:
    element = t.element_type
    if not isinstance(element, IntegerType) or element.width.data not in (8, 16, 32):
        raise ValueError(f"{what} must hold 8-, 16- or 32-bit integers, got {t}")
    return element


def _float_element(t: TensorType, what: str) -> None:
    if not is_float(t.element_type):
        raise ValueError(f"{what} must hold floats, got {t}")


def _check_broadcasts(param: TensorType, to: Shape, what: str) -> None:
    """``param`` must broadcast to ``to`` without growing it (numpy rules)."""
    ps = shape_of(param)
    try:
        joined = broadcast_shapes(to, ps)
    except ValueError:
        joined = None
    if len(ps) > len(to) or joined is None or not dims_compatible(joined, to):
        raise ValueError(f"{what} {format_shape(ps)} does not broadcast to {format_shape(to)}")


def _check_zero_point(zp: TensorType, like: TensorType, to: Shape, what: str) -> None:
    if zp.element_type != like.element_type:
        raise ValueError(f"{what} {zp} must have the element type of {like}")
    _check_broadcasts(zp, to, what)


def saturate(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Clip integer-valued floats to ``dtype``'s range and convert."""
    info = np.iinfo(dtype)
    return np.clip(values, info.min, info.max).astype(dtype)


# ----------------------------------------------------------------------------------
# Conversions.


@irdl_op_definition
class QuantizeOp(NNOp):
    """``saturate(round_half_even(x / scale) + zero_point)``; the result takes the zero
    point's integer type. ``qtype`` optionally records the quantization as a type.

    ```mlir
    %q = quant.quantize %x, %s, %z {qtype = !quant.uniform<i8:f32, 5.000000e-01:-3>} : (tensor<?x64xf32>, tensor<f32>, tensor<i8>) -> tensor<?x64xi8>
    ```
    """

    name = "quant.quantize"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    zero_point = operand_def(TensorType)
    output = result_def(TensorType)
    qtype = opt_prop_def(UniformQuantizedType)

    def infer_result_types(self) -> Sequence[TensorType]:
        x, s, z = (tensor_operand_type(v) for v in (self.input, self.scale, self.zero_point))
        _float_element(x, "input")
        _float_element(s, "scale")
        element = _integer_element(z, "zero point")
        shape = shape_of(x)
        _check_broadcasts(s, shape, "scale")
        _check_broadcasts(z, shape, "zero point")
        if self.qtype is not None:
            if self.qtype.storage_type != element:
                raise ValueError(f"qtype {self.qtype} does not store {element}")
            axis = self.qtype.axis_value
            if axis is not None and axis >= len(shape):
                raise ValueError(f"qtype axis {axis} out of range for rank {len(shape)}")
        return [tensor_type(shape, element)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x, s, z = inputs
        with np.errstate(all="ignore"):
            q = np.rint(x.astype(np.float32) / s.astype(np.float32)) + z.astype(np.float32)
        return [saturate(q, z.dtype)]


@irdl_op_definition
class DequantizeOp(NNOp):
    """``(x - zero_point) * scale``, computed in f32; the result takes the scale's type.

    ```mlir
    %y = quant.dequantize %q, %s, %z : (tensor<?x64xi8>, tensor<f32>, tensor<i8>) -> tensor<?x64xf32>
    ```
    """

    name = "quant.dequantize"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    zero_point = operand_def(TensorType)
    output = result_def(TensorType)

    def infer_result_types(self) -> Sequence[TensorType]:
        x, s, z = (tensor_operand_type(v) for v in (self.input, self.scale, self.zero_point))
        _integer_element(x, "input")
        _float_element(s, "scale")
        shape = shape_of(x)
        _check_broadcasts(s, shape, "scale")
        _check_zero_point(z, x, shape, "zero point")
        return [tensor_type(shape, s.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x, s, z = inputs
        y = (x.astype(np.float32) - z.astype(np.float32)) * s.astype(np.float32)
        return [y.astype(s.dtype)]


@irdl_op_definition
class RequantizeOp(NNOp):
    """An ``i32`` accumulator to 8 bits: ``saturate(round_half_even(x * multiplier) +
    zero_point)``, computed in f64 (``multiplier`` is ``in_scale / out_scale``).

    ```mlir
    %q = quant.requantize %acc, %m, %z : (tensor<?x64xi32>, tensor<64xf32>, tensor<i8>) -> tensor<?x64xi8>
    ```
    """

    name = "quant.requantize"
    input = operand_def(TensorType)
    multiplier = operand_def(TensorType)
    zero_point = operand_def(TensorType)
    output = result_def(TensorType)

    def infer_result_types(self) -> Sequence[TensorType]:
        x, m, z = (tensor_operand_type(v) for v in (self.input, self.multiplier, self.zero_point))
        if x.element_type != i32:
            raise ValueError(f"input must hold i32 accumulators, got {x}")
        _float_element(m, "multiplier")
        element = _integer_element(z, "zero point")
        shape = shape_of(x)
        _check_broadcasts(m, shape, "multiplier")
        _check_broadcasts(z, shape, "zero point")
        return [tensor_type(shape, element)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x, m, z = inputs
        q = np.rint(x.astype(np.float64) * m.astype(np.float64)) + z.astype(np.float64)
        return [saturate(q, z.dtype)]


@irdl_op_definition
class DynamicQuantizeOp(NNOp):
    """ONNX DynamicQuantizeLinear: ``u8`` with scale and zero point from the range of
    ``x`` widened to include 0: ``scale = (max - min) / 255``, ``zp = round(-min / scale)``.

    ```mlir
    %q, %s, %z = quant.dynamic_quantize %x : (tensor<?x64xf32>) -> (tensor<?x64xui8>, tensor<f32>, tensor<ui8>)
    ```
    """

    name = "quant.dynamic_quantize"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    scale = result_def(TensorType)
    zero_point = result_def(TensorType)

    def infer_result_types(self) -> Sequence[TensorType]:
        x = tensor_operand_type(self.input)
        if x.element_type != f32:
            raise ValueError(f"input must hold f32, got {x}")
        return [tensor_type(shape_of(x), u8), tensor_type((), f32), tensor_type((), u8)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (x,) = inputs
        scale, zero = dynamic_range_params(x)
        with np.errstate(all="ignore"):
            q = np.rint(x / scale) + np.float32(zero)
        return [saturate(q, np.dtype(np.uint8)), np.array(scale, np.float32), np.array(zero, np.uint8)]


def dynamic_range_params(x: np.ndarray) -> tuple[np.float32, int]:
    """DynamicQuantizeLinear's ``(scale, zero_point)`` for ``x``, in f32 as ONNX computes."""
    hi = np.float32(max(0.0, float(np.max(x)))) if x.size else np.float32(0)
    lo = np.float32(min(0.0, float(np.min(x)))) if x.size else np.float32(0)
    scale = np.float32(np.float32(1.0) if hi == lo else hi - lo) / np.float32(255)
    zero = np.rint(np.clip(np.float32(0) - lo / scale, 0, 255))
    return np.float32(scale), int(zero)


# ----------------------------------------------------------------------------------
# Integer contractions: (a - a_zp) . (b - b_zp) accumulated in i32.


def _centered(x: np.ndarray, zp: np.ndarray) -> np.ndarray:
    """``x - zp`` exactly, as f64 (so numpy's BLAS does the integer products exactly)."""
    return x.astype(np.float64) - zp.astype(np.float64)


def _to_i32(acc: np.ndarray) -> np.ndarray:
    return np.rint(acc).astype(np.int64).astype(np.int32)


def _check_integer_pair(a: TensorType, b: TensorType) -> None:
    _integer_element(a, "lhs")
    _integer_element(b, "rhs")


@irdl_op_definition
class MatmulOp(NNOp):
    """Numpy matmul of ``a - a_zp`` and ``b - b_zp`` in ``i32`` (ONNX MatMulInteger);
    zero points broadcast to their operand (per row of ``a``: ``tensor<Mx1xi8>``).

    ```mlir
    %acc = quant.matmul %a, %b, %az, %bz : (tensor<?x64xui8>, tensor<64x32xi8>, tensor<ui8>, tensor<i8>) -> tensor<?x32xi32>
    ```
    """

    name = "quant.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    lhs_zero_point = operand_def(TensorType)
    rhs_zero_point = operand_def(TensorType)
    output = result_def(TensorType)

    def infer_result_types(self) -> Sequence[TensorType]:
        a, b, az, bz = (tensor_operand_type(v) for v in self.operands)
        _check_integer_pair(a, b)
        _check_zero_point(az, a, shape_of(a), "lhs zero point")
        _check_zero_point(bz, b, shape_of(b), "rhs zero point")
        return [tensor_type(matmul_shape(shape_of(a), shape_of(b)), i32)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        a, b, az, bz = inputs
        return [_to_i32(np.matmul(_centered(a, az), _centered(b, bz)))]


@irdl_op_definition
class GemmOp(NNOp):
    """``op(a - a_zp) @ op(b - b_zp) + c`` in ``i32``; ``op`` an optional transpose, ``c``
    an ``i32`` bias broadcast to (M, N); zero points broadcast to their stored operand.

    ```mlir
    %acc = quant.gemm %a, %w, %bias, %az, %wz {trans_b = 1 : i64} : (tensor<?x64xui8>, tensor<10x64xi8>, tensor<10xi32>, tensor<ui8>, tensor<10x1xi8>) -> tensor<?x10xi32>
    ```
    """

    name = "quant.gemm"
    a = operand_def(TensorType)
    b = operand_def(TensorType)
    c = operand_def(TensorType)
    a_zero_point = operand_def(TensorType)
    b_zero_point = operand_def(TensorType)
    output = result_def(TensorType)
    trans_a = opt_prop_def(IntegerAttr)
    trans_b = opt_prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        a, b, c, az, bz = (tensor_operand_type(v) for v in self.operands)
        _check_integer_pair(a, b)
        sa, sb = shape_of(a), shape_of(b)
        if len(sa) != 2 or len(sb) != 2:
            raise ValueError(f"a and b must be 2-D, got {format_shape(sa)} and {format_shape(sb)}")
        _check_zero_point(az, a, sa, "a zero point")
        _check_zero_point(bz, b, sb, "b zero point")
        m, ka = (sa[1], sa[0]) if read_int(self.trans_a, 0) else sa
        kb, n = (sb[1], sb[0]) if read_int(self.trans_b, 0) else sb
        if ka is not None and kb is not None and ka != kb:
            raise ValueError(f"contraction dims differ: a {format_shape(sa)}, b {format_shape(sb)} ({ka} vs {kb})")
        if c.element_type != i32:
            raise ValueError(f"bias c must hold i32, got {c}")
        _check_broadcasts(c, (m, n), "bias c")
        return [tensor_type((m, n), i32)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        a, b, c, az, bz = inputs
        ca, cb = _centered(a, az), _centered(b, bz)
        if read_int(self.trans_a, 0):
            ca = ca.T
        if read_int(self.trans_b, 0):
            cb = cb.T
        return [_to_i32(ca @ cb + c.astype(np.float64))]


@irdl_op_definition
class ConvOp(NNOp):
    """N-d convolution of ``x - x_zp`` and ``w - w_zp`` plus an ``i32`` bias, in ``i32``
    (ONNX ConvInteger, and QLinearConv before its requantization); windows as ``nn.conv``.
    Padding contributes zero (it stands for the zero point).

    ```mlir
    %acc = quant.conv %x, %w, %b, %xz, %wz {pads = array<i64: 1, 1, 1, 1>} : (tensor<1x3x8x8xui8>, tensor<16x3x3x3xi8>, tensor<16xi32>, tensor<ui8>, tensor<16x1x1x1xi8>) -> tensor<1x16x8x8xi32>
    ```
    """

    name = "quant.conv"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = operand_def(TensorType)
    input_zero_point = operand_def(TensorType)
    weight_zero_point = operand_def(TensorType)
    output = result_def(TensorType)
    strides = opt_prop_def(DenseArrayBase)
    pads = opt_prop_def(DenseArrayBase)
    dilations = opt_prop_def(DenseArrayBase)
    group = opt_prop_def(IntegerAttr)

    def window(self, spatial_rank: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int]:
        s, p, d = read_window(self.strides, self.pads, self.dilations, spatial_rank)
        g = read_int(self.group, 1)
        if g < 1:
            raise ValueError(f"group must be positive, got {g}")
        return s, p, d, g

    def infer_result_types(self) -> Sequence[TensorType]:
        x, w, b, xz, wz = (tensor_operand_type(v) for v in self.operands)
        _check_integer_pair(x, w)
        xs, ws = shape_of(x), shape_of(w)
        if len(xs) < 3 or len(ws) != len(xs):
            raise ValueError(f"input {format_shape(xs)} and weight {format_shape(ws)} must have one rank >= 3")
        _check_zero_point(xz, x, xs, "input zero point")
        _check_zero_point(wz, w, ws, "weight zero point")
        k = len(xs) - 2
        strides, pads, dilations, group = self.window(k)
        if xs[1] is not None and ws[1] is not None and xs[1] != ws[1] * group:
            raise ValueError(
                f"input {format_shape(xs)} has {xs[1]} channels, but weight {format_shape(ws)} "
                f"with group {group} takes {ws[1] * group}"
            )
        if b.element_type != i32 or len(shape_of(b)) != 1 or not dims_compatible(shape_of(b), (ws[0],)):
            raise ValueError(f"bias must be i32 with one value per output channel, got {b}")
        spatial = tuple(
            window_output_dim(xs[2 + i], ws[2 + i], strides[i], spatial_pads(pads, i), dilations[i]) for i in range(k)
        )
        return [tensor_type((xs[0], ws[0], *spatial), i32)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x, w, b, xz, wz = inputs
        strides, pads, dilations, group = self.window(x.ndim - 2)
        acc = conv_reference(_centered(x, xz), _centered(w, wz), b.astype(np.float64), strides, pads, dilations, group)
        return [_to_i32(acc)]


OPS = [QuantizeOp, DequantizeOp, RequantizeOp, DynamicQuantizeOp, MatmulOp, GemmOp, ConvOp, PackedMatmulOp, PackedConvOp, PackPanelsOp]
