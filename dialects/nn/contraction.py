"""Contraction ``nn`` ops: ``matmul``, ``gemm``, ``conv`` and ``conv_transpose``.

Level: ``nn`` (tensor, ONNX-like). The ONNX importer produces them from MatMul, Gemm,
Conv and ConvTranspose, with every implicit input made explicit (Gemm's C and the conv
bias are always operands; ``auto_pad``/``output_shape`` are resolved into ``pads``).
Convolutions use the NC... layout (N-d: 1-D, 2-D, 3-D ...), ONNX pad order (all begins,
then all ends) and keep batch and spatial ``?`` dims symbolic.

The window arithmetic (``window_output_dim``, ``read_window``) is shared with the
pooling ops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from xdsl.dialects.builtin import DenseArrayBase, FloatAttr, IntegerAttr, TensorType
from xdsl.ir import Attribute
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, result_def

from dynir.dialects.nn.base import NNOp, read_float, read_int, read_ints, tensor_operand_type
from dynir.ir.types import Shape, broadcast_shapes, format_shape, shape_of, tensor_type

# ----------------------------------------------------------------------------------
# Window arithmetic shared by convolutions and pooling.


Ints = tuple[int, ...]


def read_window(
    strides: Attribute | None, pads: Attribute | None, dilations: Attribute | None, spatial_rank: int
) -> tuple[Ints, Ints, Ints]:
    """``(strides, pads, dilations)`` with defaults 1/0/1, checked against ``spatial_rank``."""
    s = read_ints(strides, (1,) * spatial_rank)
    p = read_ints(pads, (0,) * (2 * spatial_rank))
    d = read_ints(dilations, (1,) * spatial_rank)
    for name, values, want in (("strides", s, spatial_rank), ("dilations", d, spatial_rank)):
        if len(values) != want:
            raise ValueError(f"{name} has {len(values)} values, expected {want} (one per spatial dim)")
        if any(v < 1 for v in values):
            raise ValueError(f"{name} must be positive, got {list(values)}")
    if len(p) != 2 * spatial_rank:
        raise ValueError(f"pads has {len(p)} values, expected {2 * spatial_rank} (begins, then ends)")
    if any(v < 0 for v in p):
        raise ValueError(f"pads must be non-negative, got {list(p)}")
    return s, p, d


def window_output_dim(
    size: int | None,
    kernel: int | None,
    stride: int,
    pads: tuple[int, int],
    dilation: int,
    ceil_mode: bool = False,
) -> int | None:
    """Number of window positions along one spatial dim (``None`` when unknown).

    In ceil mode a window that would start inside the end padding is dropped (ONNX).
    """
    if size is None or kernel is None:
        return None
    span = dilation * (kernel - 1) + 1
    padded = size + pads[0] + pads[1]
    if padded < span:
        raise ValueError(
            f"window of {span} (kernel {kernel}, dilation {dilation}) does not fit input size {size} "
            f"with pads {list(pads)}"
        )
    if not ceil_mode:
        return (padded - span) // stride + 1
    out = -(-(padded - span) // stride) + 1
    if (out - 1) * stride >= size + pads[0]:
        out -= 1
    return out


def spatial_pads(pads: Sequence[int], axis: int) -> tuple[int, int]:
    rank = len(pads) // 2
    return pads[axis], pads[axis + rank]


def _conv_input_shapes(x: TensorType, w: TensorType) -> tuple[Shape, Shape]:
    xs, ws = shape_of(x), shape_of(w)
    if len(xs) < 3:
        raise ValueError(f"input must have rank >= 3 (N, C, spatial...), got {format_shape(xs)}")
    if len(ws) != len(xs):
        raise ValueError(f"weight {format_shape(ws)} must have the rank of input {format_shape(xs)}")
    if x.element_type != w.element_type:
        raise ValueError(f"operand element types differ: {x} vs {w}")
    return xs, ws


def _check_bias(b: TensorType, channels: int | None, x: TensorType) -> None:
    bs = shape_of(b)
    if b.element_type != x.element_type:
        raise ValueError(f"bias type {b} does not match input {x}")
    if len(bs) != 1 or (channels is not None and bs[0] is not None and bs[0] != channels):
        want = "?" if channels is None else str(channels)
        raise ValueError(f"bias must have shape {want} (output channels), got {format_shape(bs)}")


class ConvLikeOp(NNOp):
    """Shared fields of ``conv`` and ``conv_transpose``: input, weight, bias; window props."""

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = operand_def(TensorType)
    output = result_def(TensorType)
    strides = opt_prop_def(DenseArrayBase)
    pads = opt_prop_def(DenseArrayBase)
    dilations = opt_prop_def(DenseArrayBase)
    group = opt_prop_def(IntegerAttr)

    def window(self, spatial_rank: int) -> tuple[Ints, Ints, Ints, int]:
        s, p, d = read_window(self.strides, self.pads, self.dilations, spatial_rank)
        g = read_int(self.group, 1)
        if g < 1:
            raise ValueError(f"group must be positive, got {g}")
        return s, p, d, g


def matmul_shape(sa: Shape, sb: Shape) -> Shape:
    """``np.matmul``'s result shape over possibly-dynamic shapes: 1-D operands are
    promoted (and their dim dropped again), batch dims broadcast."""
    for i, shape in enumerate((sa, sb)):
        if not shape:
            raise ValueError(f"operand #{i} must have rank >= 1, got a scalar")
    pa = (1, *sa) if len(sa) == 1 else sa
    pb = (*sb, 1) if len(sb) == 1 else sb
    ka, kb = pa[-1], pb[-2]
    if ka is not None and kb is not None and ka != kb:
        raise ValueError(f"contraction dims differ: {format_shape(sa)} @ {format_shape(sb)} ({ka} vs {kb})")
    batch = broadcast_shapes(pa[:-2], pb[:-2])
    return (*batch, *((pa[-2],) if len(sa) > 1 else ()), *((pb[-1],) if len(sb) > 1 else ()))


@irdl_op_definition
class MatmulOp(NNOp):
    """Numpy ``matmul``: batched, batch dims broadcast, 1-D operands promoted and the
    promoted dim dropped from the result.

    ```mlir
    %y = nn.matmul %a, %b : (tensor<?x4x8xf32>, tensor<8x16xf32>) -> tensor<?x4x16xf32>
    ```
    """

    name = "nn.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)

    def infer_result_types(self) -> Sequence[TensorType]:
        a, b = tensor_operand_type(self.lhs), tensor_operand_type(self.rhs)
        if a.element_type != b.element_type:
            raise ValueError(f"operand element types differ: {a} vs {b}")
        return [tensor_type(matmul_shape(shape_of(a), shape_of(b)), a.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        a, b = inputs
        return [np.asarray(np.matmul(a, b))]


@irdl_op_definition
class GemmOp(NNOp):
    """``alpha * op(a) @ op(b) + beta * c`` with ``op`` an optional transpose; ``a``, ``b``
    are 2-D and ``c`` broadcasts to the (M, N) result.

    ```mlir
    %y = nn.gemm %a, %b, %c {trans_b = 1 : i64} : (tensor<?x512xf32>, tensor<10x512xf32>, tensor<10xf32>) -> tensor<?x10xf32>
    ```
    """

    name = "nn.gemm"
    a = operand_def(TensorType)
    b = operand_def(TensorType)
    c = operand_def(TensorType)
    output = result_def(TensorType)
    alpha = opt_prop_def(FloatAttr)
    beta = opt_prop_def(FloatAttr)
    trans_a = opt_prop_def(IntegerAttr)
    trans_b = opt_prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        ta, tb, tc = (tensor_operand_type(v) for v in (self.a, self.b, self.c))
        for t in (tb, tc):
            if t.element_type != ta.element_type:
                raise ValueError(f"operand element types differ: {ta} vs {t}")
        sa, sb, sc = shape_of(ta), shape_of(tb), shape_of(tc)
        if len(sa) != 2 or len(sb) != 2:
            raise ValueError(f"a and b must be 2-D, got {format_shape(sa)} and {format_shape(sb)}")
        m, ka = (sa[1], sa[0]) if read_int(self.trans_a, 0) else sa
        kb, n = (sb[1], sb[0]) if read_int(self.trans_b, 0) else sb
        if ka is not None and kb is not None and ka != kb:
            raise ValueError(
                f"contraction dims differ: a {format_shape(sa)}, b {format_shape(sb)} "
                f"(trans_a {read_int(self.trans_a, 0)}, trans_b {read_int(self.trans_b, 0)}: {ka} vs {kb})"
            )
        result = (m, n)
        padded_c = (1,) * (2 - len(sc)) + sc
        if len(sc) > 2 or any(
            dc is not None and dc != 1 and dr is not None and dc != dr for dc, dr in zip(padded_c, result)
        ):
            raise ValueError(f"c {format_shape(sc)} does not broadcast to the result {format_shape(result)}")
        return [tensor_type(result, ta.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        a, b, c = inputs
        if read_int(self.trans_a, 0):
            a = a.T
        if read_int(self.trans_b, 0):
            b = b.T
        alpha, beta = read_float(self.alpha, 1.0), read_float(self.beta, 1.0)
        product = a @ b
        if alpha != 1.0:
            product = product * np.asarray(alpha, a.dtype)
        out = product + (c if beta == 1.0 else c * np.asarray(beta, c.dtype))
        return [np.asarray(out).astype(a.dtype, copy=False)]


@irdl_op_definition
class ConvOp(ConvLikeOp):
    """N-d convolution (cross-correlation), NC... layout, as ONNX Conv: weight is
    (M, C/group, k...), bias is (M,); grouped, depthwise, dilated, strided and padded.

    ```mlir
    %y = nn.conv %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>} : (tensor<?x3x?x?xf32>, tensor<16x3x3x3xf32>, tensor<16xf32>) -> tensor<?x16x?x?xf32>
    ```
    """

    name = "nn.conv"

    def infer_result_types(self) -> Sequence[TensorType]:
        x, w, b = (tensor_operand_type(v) for v in (self.input, self.weight, self.bias))
        xs, ws = _conv_input_shapes(x, w)
        k = len(xs) - 2
        strides, pads, dilations, group = self.window(k)
        channels, out_channels, per_group = xs[1], ws[0], ws[1]
        if channels is not None and per_group is not None and channels != per_group * group:
            raise ValueError(
                f"input {format_shape(xs)} has {channels} channels, but weight {format_shape(ws)} "
                f"with group {group} takes {per_group * group}"
            )
        if out_channels is not None and out_channels % group != 0:
            raise ValueError(f"weight {format_shape(ws)}: {out_channels} output channels do not split into {group} groups")
        _check_bias(b, out_channels, x)
        spatial = tuple(
            window_output_dim(xs[2 + i], ws[2 + i], strides[i], spatial_pads(pads, i), dilations[i])
            for i in range(k)
        )
        return [tensor_type((xs[0], out_channels, *spatial), x.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x, w, b = inputs
        strides, pads, dilations, group = self.window(x.ndim - 2)
        return [conv_reference(x, w, b, strides, pads, dilations, group)]


def conv_reference(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
) -> np.ndarray:
    """Convolution by im2col over a strided window view and one batched matmul per group."""
    k = x.ndim - 2
    n, c = x.shape[:2]
    m, kernel = w.shape[0], w.shape[2:]
    cg, mg = c // group, m // group
    padded = np.pad(x, [(0, 0), (0, 0), *(spatial_pads(pads, i) for i in range(k))])
    spans = [dilations[i] * (kernel[i] - 1) + 1 for i in range(k)]
    windows = sliding_window_view(padded, spans, axis=tuple(range(2, 2 + k)))
    step = (slice(None),) * 2 + tuple(slice(None, None, s) for s in strides)
    windows = windows[step + tuple(slice(None, None, d) for d in dilations)]
    out_spatial = windows.shape[2 : 2 + k]
    windows = windows.reshape(n, group, cg, *out_spatial, *kernel)
    to_cols = (1, 0, *range(3, 3 + k), 2, *range(3 + k, 3 + 2 * k))
    positions, taps = n * math.prod(out_spatial), cg * math.prod(kernel)
    cols = windows.transpose(to_cols).reshape(group, positions, taps)
    weights = w.reshape(group, mg, taps).transpose(0, 2, 1)
    out = np.matmul(cols, weights).reshape(group, n, *out_spatial, mg)
    out = out.transpose(1, 0, 2 + k, *range(2, 2 + k)).reshape(n, m, *out_spatial)
    out = out + b.reshape(m, *(1,) * k)
    return np.ascontiguousarray(out, dtype=x.dtype)


@irdl_op_definition
class ConvTransposeOp(ConvLikeOp):
    """N-d transposed convolution, as ONNX ConvTranspose with explicit pads: weight is
    (C, M/group, k...), bias (M,); each output dim is
    ``stride * (in - 1) + output_padding + dilation * (k - 1) + 1 - pad_begin - pad_end``.

    ```mlir
    %y = nn.conv_transpose %x, %w, %b {strides = array<i64: 2, 2>, output_padding = array<i64: 1, 1>} : (tensor<1x8x4x4xf32>, tensor<8x4x3x3xf32>, tensor<4xf32>) -> tensor<1x4x10x10xf32>
    ```
    """

    name = "nn.conv_transpose"
    output_padding = opt_prop_def(DenseArrayBase)

    def geometry(self, spatial_rank: int) -> tuple[Ints, Ints, Ints, int, Ints]:
        """``(strides, pads, dilations, group, output_padding)``, checked."""
        strides, pads, dilations, group = self.window(spatial_rank)
        extra = read_ints(self.output_padding, (0,) * spatial_rank)
        if len(extra) != spatial_rank or any(v < 0 for v in extra):
            raise ValueError(f"output_padding must hold {spatial_rank} non-negative values, got {list(extra)}")
        return strides, pads, dilations, group, extra

    def infer_result_types(self) -> Sequence[TensorType]:
        x, w, b = (tensor_operand_type(v) for v in (self.input, self.weight, self.bias))
        xs, ws = _conv_input_shapes(x, w)
        k = len(xs) - 2
        strides, pads, dilations, group, extra = self.geometry(k)
        if xs[1] is not None and ws[0] is not None and xs[1] != ws[0]:
            raise ValueError(f"input {format_shape(xs)} has {xs[1]} channels, but weight {format_shape(ws)} takes {ws[0]}")
        if ws[0] is not None and ws[0] % group != 0:
            raise ValueError(f"weight {format_shape(ws)}: {ws[0]} input channels do not split into {group} groups")
        out_channels = None if ws[1] is None else ws[1] * group
        _check_bias(b, out_channels, x)
        spatial: list[int | None] = []
        for i in range(k):
            size, kernel = xs[2 + i], ws[2 + i]
            if size is None or kernel is None:
                spatial.append(None)
                continue
            full = strides[i] * (size - 1) + extra[i] + dilations[i] * (kernel - 1) + 1
            out = full - pads[i] - pads[i + k]
            if out < 1:
                raise ValueError(f"pads {list(pads)} leave no output along spatial dim {i} (full size {full})")
            spatial.append(out)
        return [tensor_type((xs[0], out_channels, *spatial), x.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        x, w, b = inputs
        strides, pads, dilations, group, extra = self.geometry(x.ndim - 2)
        return [conv_transpose_reference(x, w, b, strides, pads, dilations, group, extra)]


def conv_transpose_reference(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
    output_padding: Sequence[int],
) -> np.ndarray:
    """Transposed convolution: one matmul per group gives every (input position, tap)
    contribution; a strided add per kernel tap scatters them (col2im), then pads crop."""
    k = x.ndim - 2
    n, c = x.shape[:2]
    in_spatial, kernel = x.shape[2:], w.shape[2:]
    cg, mg = c // group, w.shape[1]
    rows = x.reshape(n, group, cg, int(np.prod(in_spatial, dtype=np.int64))).transpose(1, 0, 3, 2).reshape(group, n * int(np.prod(in_spatial, dtype=np.int64)), cg)
    contributions = np.matmul(rows, w.reshape(group, cg, -1))  # (G, N*D, Mg*K)
    contributions = contributions.reshape(group, n, *in_spatial, mg, *kernel)
    contributions = contributions.transpose(0, 1, 2 + k, *range(3 + k, 3 + 2 * k), *range(2, 2 + k))
    full = [strides[i] * (in_spatial[i] - 1) + dilations[i] * (kernel[i] - 1) + 1 + output_padding[i] for i in range(k)]
    out = np.zeros((group, n, mg, *full), dtype=np.result_type(x, w))
    lead: tuple[slice, ...] = (slice(None),) * 3  # group, batch, channel
    for tap in np.ndindex(*kernel):
        target = tuple(
            slice(tap[i] * dilations[i], tap[i] * dilations[i] + strides[i] * (in_spatial[i] - 1) + 1, strides[i])
            for i in range(k)
        )
        out[lead + target] += contributions[lead + tap]
    out = out[lead + tuple(slice(pads[i], full[i] - pads[i + k]) for i in range(k))]
    out = out.transpose(1, 0, 2, *range(3, 3 + k)).reshape(n, group * mg, *out.shape[3:])
    out = out + b.reshape(-1, *(1,) * k)
    return np.ascontiguousarray(out, dtype=x.dtype)


OPS = [MatmulOp, GemmOp, ConvOp, ConvTransposeOp]
