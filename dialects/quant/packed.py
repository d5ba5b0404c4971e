"""Pre-packed int8 weights: the VNNI panel layout and ``quant.packed_matmul``, which reads it.

A constant right-hand side ``B`` (K x N, ``i8`` or ``ui8``) of ``quant.matmul``/``quant.gemm``
is stored, once, at compile time (``passes/prepack_weights.py``) as signed bytes in
*VNNI panels*: ``P = ceil(N / NR)`` column panels, each ``ceil(K / 4)`` rows of NR columns
of 4 consecutive k's, zero-padded past K and N::

    packed[p, k4, j, q] = B'[4 * k4 + q, p * NR + j]          (P, K4, NR, 4) i8

so one 64-byte load gives 16 columns x 4 k's, the operand of one ``vecx.dot4``
(``vpdpbusd``) of the int8 micro-kernel (``dynir.lowering.int8_microkernel``).

The zero points are folded into *column terms* computed at compile time, so the kernel
only adds per-row and per-column corrections to ``sum_k a'[i, k] * B'[k, j]``::

    sum_k (a'[i,k] - za'[i]) (B'[k,j] - zb'[j])
        = sum_k a'[i,k] B'[k,j]  -  za'[i] * (colsum(B')[j] - K zb'[j])  -  zb'[j] * rowsum(a'[i])

``B' = B - 128`` for ``ui8`` weights (``B' = B`` for ``i8``), ``zb'`` likewise; ``a' = a + 128``
for ``i8`` activations (``a' = a`` for ``ui8``), ``za'`` likewise, so the kernel always
multiplies unsigned by signed bytes. ``terms`` (3 x P*NR, ``i32``) holds row 0:
``colsum(B') - K zb'``, row 1: ``zb'`` and row 2: the bias (``quant.gemm``'s ``c``).
``row_sums = 0`` says ``zb'`` is zero everywhere (symmetric weights): the kernel then
skips the row sums of ``a'``.

```mlir
%bp = nn.constant ... : tensor<128x256x32x4xi8>
%t = nn.constant ... : tensor<3x4096xi32>
%acc = quant.packed_matmul %a, %bp, %t, %az {columns = 4096 : i64, depth = 1024 : i64, row_sums = 0 : i64}
    : (tensor<?x1024xui8>, tensor<128x256x32x4xi8>, tensor<3x4096xi32>, tensor<ui8>) -> tensor<?x4096xi32>
```

The reference computes exactly that formula (wrapping to ``i32`` like the kernel), so the
interpreter runs a module before and after packing alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, IntegerType, Signedness, TensorType, i8, i32
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, prop_def, result_def

from dynir.dialects.nn.base import NNOp, read_int, read_ints, tensor_operand_type
from dynir.dialects.nn.contraction import conv_reference, read_window, spatial_pads, window_output_dim
from dynir.ir.types import format_shape, shape_of, tensor_type

DOT_GROUP = 4
"""k's per 32-bit lane of a VNNI panel (``vpdpbusd`` sums 4 byte products)."""

SIGN_SHIFT = 128
"""Added to ``i8`` activations (and subtracted from ``ui8`` weights) to reach u8 x s8."""


@dataclass(frozen=True)
class PackedInt8:
    """What ``pack_int8_weights`` produces for one constant right-hand side."""

    panels: np.ndarray
    terms: np.ndarray
    row_sums: bool


def pack_int8_weights(b: np.ndarray, zero_point: np.ndarray, bias: np.ndarray, width: int) -> PackedInt8:
    """``b`` (K x N, int8 or uint8) with per-column ``zero_point`` and ``bias`` (N,) as VNNI
    panels of ``width`` columns and their column terms (see the module doc)."""
    k, n = b.shape
    shift = SIGN_SHIFT if b.dtype == np.uint8 else 0
    signed = (b.astype(np.int64) - shift).astype(np.int8)
    zb = zero_point.astype(np.int64) - shift
    panels, groups = -(-n // width), -(-k // DOT_GROUP)
    padded = np.zeros((groups * DOT_GROUP, panels * width), np.int8)
    padded[:k, :n] = signed
    packed = padded.reshape(groups, DOT_GROUP, panels, width).transpose(2, 0, 3, 1)
    terms = np.zeros((3, panels * width), np.int64)
    terms[0, :n] = signed.astype(np.int64).sum(axis=0) - k * zb
    terms[1, :n] = zb
    terms[2, :n] = bias.astype(np.int64)
    return PackedInt8(np.ascontiguousarray(packed), _wrap_i32(terms), bool(np.any(zb)))


def unpack_int8_panels(packed: np.ndarray, depth: int, columns: int) -> np.ndarray:
    """The inverse of the panel layout: ``B'`` (depth x columns) as int8."""
    panels, groups, width, group = packed.shape
    matrix = packed.transpose(1, 3, 0, 2).reshape(groups * group, panels * width)
    return np.ascontiguousarray(matrix[:depth, :columns])


def _wrap_i32(values: np.ndarray) -> np.ndarray:
    return values.astype(np.int64).astype(np.int32)


def is_unsigned(t: TensorType) -> bool:
    element = t.element_type
    return isinstance(element, IntegerType) and element.signedness.data == Signedness.UNSIGNED


def _check_lhs(a: TensorType, za: TensorType, depth: int) -> None:
    element = a.element_type
    if not isinstance(element, IntegerType) or element.width.data != 8:
        raise ValueError(f"lhs must hold 8-bit integers, got {a}")
    sa, sz = shape_of(a), shape_of(za)
    if len(sa) < 2:
        raise ValueError(f"lhs must have rank >= 2, got {format_shape(sa)}")
    if sa[-1] is not None and sa[-1] != depth:
        raise ValueError(f"contraction dims differ: lhs {format_shape(sa)}, packed rhs has K = {depth}")
    if za.element_type != element:
        raise ValueError(f"lhs zero point {za} must have the element type of {a}")
    if len(sz) > len(sa) or (sz and sz[-1] != 1):
        raise ValueError(f"lhs zero point {format_shape(sz)} must be one value per row of lhs {format_shape(sa)}")


@irdl_op_definition
class PackedMatmulOp(NNOp):
    """``quant.matmul`` (2-D constant rhs; also ``quant.gemm`` without ``trans_a``) whose rhs
    is stored in VNNI panels with its column terms; rows of ``lhs`` are its leading dims
    flattened. ``lhs_zero_point`` holds one value per row (or one for all).

    ```mlir
    %acc = quant.packed_matmul %a, %bp, %t, %az {columns = 10 : i64, depth = 64 : i64, row_sums = 1 : i64} : (tensor<?x64xui8>, tensor<1x16x32x4xi8>, tensor<3x32xi32>, tensor<ui8>) -> tensor<?x10xi32>
    ```
    """

    name = "quant.packed_matmul"
    lhs = operand_def(TensorType)
    packed_rhs = operand_def(TensorType)
    terms = operand_def(TensorType)
    lhs_zero_point = operand_def(TensorType)
    output = result_def(TensorType)
    columns = prop_def(IntegerAttr)
    depth = prop_def(IntegerAttr)
    row_sums = opt_prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        a, bp, terms, za = (tensor_operand_type(v) for v in self.operands)
        columns, depth = read_int(self.columns), read_int(self.depth)
        _check_lhs(a, za, depth)
        panels = shape_of(bp)
        if bp.element_type != i8 or len(panels) != 4 or None in panels or panels[3] != DOT_GROUP:
            raise ValueError(f"packed rhs must be static i8 panels (P, K/4, NR, 4), got {bp}")
        p, groups, width, _ = panels
        assert p is not None and groups is not None and width is not None
        if groups != -(-depth // DOT_GROUP) or not (p - 1) * width < columns <= p * width:
            raise ValueError(f"packed rhs {format_shape(panels)} does not hold {depth} x {columns} in panels of {width}")
        if terms.element_type != i32 or shape_of(terms) != (3, p * width):
            raise ValueError(f"terms must be tensor<3x{p * width}xi32>, got {terms}")
        return [tensor_type((*shape_of(a)[:-1], columns), i32)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        a, bp, terms, za = inputs
        columns, depth = read_int(self.columns), read_int(self.depth)
        shift = SIGN_SHIFT if a.dtype == np.int8 else 0
        lhs = a.astype(np.int64) + shift
        zero = np.broadcast_to(za, (*a.shape[:-1], 1)).astype(np.int64) + shift
        rhs = unpack_int8_panels(bp, depth, columns).astype(np.float64)
        products = np.rint(np.matmul(lhs.astype(np.float64), rhs)).astype(np.int64)
        t = terms[:, :columns].astype(np.int64)
        out = products - zero * t[0] + t[2]
        if read_int(self.row_sums, 1):
            out = out - lhs.sum(axis=-1, keepdims=True) * t[1]
        return [_wrap_i32(out)]


@irdl_op_definition
class PackPanelsOp(NNOp):
    """A right-hand side ``B`` (K x N, ``i8``, zero point 0) packed into VNNI panels of
    ``width`` columns with its column terms at run time: what ``pack_int8_weights`` does to
    a constant at compile time, for a ``B`` that is an activation (a static matmul of two
    activations, ``passes/quantize.py``). Terms: row 0 ``colsum(B)``, rows 1 and 2 zero.

    ```mlir
    %bp, %t = quant.pack_panels %b {width = 32 : i64} : (tensor<64x40xi8>) -> (tensor<2x16x32x4xi8>, tensor<3x64xi32>)
    ```
    """

    name = "quant.pack_panels"
    rhs = operand_def(TensorType)
    packed = result_def(TensorType)
    terms = result_def(TensorType)
    width = prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        b = tensor_operand_type(self.rhs)
        shape, width = shape_of(b), read_int(self.width)
        if b.element_type != i8 or len(shape) != 2 or None in shape:
            raise ValueError(f"rhs must be a static 2-D tensor of i8, got {b}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        k, n = shape
        assert k is not None and n is not None
        panels = -(-n // width)
        return [tensor_type((panels, -(-k // DOT_GROUP), width, DOT_GROUP), i8), tensor_type((3, panels * width), i32)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        (b,) = inputs
        n = b.shape[1]
        packed = pack_int8_weights(b, np.zeros(n, np.int8), np.zeros(n, np.int32), read_int(self.width))
        return [packed.panels, packed.terms]


def pack_int8_conv_weights(w: np.ndarray, zero_point: np.ndarray, bias: np.ndarray) -> PackedInt8:
    """``w`` (M, C/G, kernel...) as rows of ``K = C/G x kernel`` signed bytes padded to a
    multiple of 4, with per-row terms: ``rowsum(W') - K zw'``, ``zw'`` and the bias."""
    m = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    shift = SIGN_SHIFT if w.dtype == np.uint8 else 0
    signed = (w.reshape(m, k).astype(np.int64) - shift).astype(np.int8)
    rows = np.zeros((m, -(-k // DOT_GROUP) * DOT_GROUP), np.int8)
    rows[:, :k] = signed
    zw = zero_point.astype(np.int64) - shift
    terms = np.stack([signed.astype(np.int64).sum(axis=1) - k * zw, zw, bias.astype(np.int64)])
    return PackedInt8(rows, _wrap_i32(terms), bool(np.any(zw)))


@irdl_op_definition
class PackedConvOp(NNOp):
    """``quant.conv`` (2-D, constant weights and bias, one input zero point) whose weight
    rows are packed signed bytes ``W'`` (M x K padded to 4) with per-output-channel
    terms: row 0 ``rowsum(W') - K zw'``, row 1 ``zw'``, row 2 the bias. The input is
    shifted like ``quant.packed_matmul``'s lhs (``x' = x + 128`` for ``i8``). The reference
    reads the weight zero points and the bias from the terms; row 0 must be derived from
    them as stated (``prepack-weights`` makes it so): the kernel uses it.

    ```mlir
    %acc = quant.packed_conv %x, %wp, %t, %xz {kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, depth = 576 : i64} : (tensor<1x64x56x56xui8>, tensor<64x576xi8>, tensor<3x64xi32>, tensor<ui8>) -> tensor<1x64x56x56xi32>
    ```
    """

    name = "quant.packed_conv"
    input = operand_def(TensorType)
    packed_weight = operand_def(TensorType)
    terms = operand_def(TensorType)
    input_zero_point = operand_def(TensorType)
    output = result_def(TensorType)
    kernel_shape = prop_def(DenseArrayBase)
    depth = prop_def(IntegerAttr)
    strides = opt_prop_def(DenseArrayBase)
    pads = opt_prop_def(DenseArrayBase)
    dilations = opt_prop_def(DenseArrayBase)
    group = opt_prop_def(IntegerAttr)
    row_sums = opt_prop_def(IntegerAttr)

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int]:
        s, p, d = read_window(self.strides, self.pads, self.dilations, 2)
        return s, p, d, read_int(self.group, 1)

    def infer_result_types(self) -> Sequence[TensorType]:
        x, wp, terms, xz = (tensor_operand_type(v) for v in self.operands)
        kernel, depth = read_ints(self.kernel_shape), read_int(self.depth)
        xs, ws = shape_of(x), shape_of(wp)
        strides, pads, dilations, group = self.window()
        if len(xs) != 4 or len(kernel) != 2 or not isinstance(x.element_type, IntegerType) or x.element_type.width.data != 8:
            raise ValueError(f"input must be a 4-D tensor of 8-bit integers with a 2-D kernel, got {x}")
        if xz.element_type != x.element_type or any(d != 1 for d in shape_of(xz)):
            raise ValueError(f"input zero point {xz} must be one value of the input's type")
        m, width = ws if len(ws) == 2 else (None, None)
        if wp.element_type != i8 or m is None or width != -(-depth // DOT_GROUP) * DOT_GROUP or m % group:
            raise ValueError(f"packed weight must be i8 rows of {depth} padded to 4, got {wp}")
        if xs[1] is not None and xs[1] * kernel[0] * kernel[1] != depth * group:
            raise ValueError(f"input {format_shape(xs)} does not match depth {depth} with group {group}")
        if terms.element_type != i32 or shape_of(terms) != (3, m):
            raise ValueError(f"terms must be tensor<3x{m}xi32>, got {terms}")
        spatial = tuple(
            window_output_dim(xs[2 + i], kernel[i], strides[i], spatial_pads(pads, i), dilations[i]) for i in range(2)
        )
        return [tensor_type((xs[0], m, *spatial), i32)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x, wp, terms, xz = inputs
        strides, pads, dilations, group = self.window()
        kernel, depth = read_ints(self.kernel_shape), read_int(self.depth)
        m = wp.shape[0]
        w = wp[:, :depth].astype(np.float64).reshape(m, depth // (kernel[0] * kernel[1]), *kernel)
        centred_w = w - terms[1].astype(np.float64).reshape(m, 1, 1, 1)
        centred_x = x.astype(np.float64) - xz.astype(np.float64).reshape(())  # = x' - zx': the shift cancels
        acc = conv_reference(centred_x, centred_w, terms[2].astype(np.float64), strides, pads, dilations, group)
        return [_wrap_i32(np.rint(acc))]


OPS = [PackedMatmulOp, PackedConvOp, PackPanelsOp]
