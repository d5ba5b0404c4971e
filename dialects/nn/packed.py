"""Pre-packed weights: the panel layout and the two ``nn``-level ops that read it.

A constant right-hand side ``B`` (K x N) of a matmul/gemm is stored as ``P = ceil(N / NR)``
column panels of NR columns each, every panel K rows of NR contiguous values, zero-padded
past column N: ``packed[p, k, j] = B[k, p * NR + j]``. The micro-kernel
(``dynir.lowering.microkernel``) then reads one panel row with NR/lanes plain vector loads,
walking memory sequentially, whatever N is. ``passes/prepack_weights.py`` rewrites
``nn.matmul``/``nn.gemm`` with a constant ``B`` into these ops at compile time, so a call
never pays for the layout.

The ops keep exact reference semantics (unpack, then the original op's numpy), so the
interpreter runs a module before and after packing alike.

```mlir
%bp = nn.constant ... : tensor<32x1024x32xf32>
%y = nn.packed_matmul %a, %bp {columns = 1000 : i64} : (tensor<?x1024xf32>, tensor<32x1024x32xf32>) -> tensor<?x1000xf32>
%z = nn.packed_gemm %a, %bp, %c {columns = 1000 : i64, alpha = 1.0 : f64} : (tensor<?x1024xf32>, tensor<32x1024x32xf32>, tensor<1000xf32>) -> tensor<?x1000xf32>
```
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import FloatAttr, IntegerAttr, TensorType
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, prop_def, result_def

from dynir.dialects.nn.base import NNOp, read_float, read_int, tensor_operand_type
from dynir.ir.types import Shape, format_shape, shape_of, tensor_type

PANEL_VECTORS = 2
"""Vector registers per panel row: NR = PANEL_VECTORS * lanes (32 f32 on AVX-512)."""


def pack_panels(b: np.ndarray, width: int) -> np.ndarray:
    """``b`` (K x N) as ``(ceil(N / width), K, width)`` column panels, zero-padded."""
    k, n = b.shape
    panels = -(-n // width)
    padded = np.zeros((k, panels * width), dtype=b.dtype)
    padded[:, :n] = b
    return np.ascontiguousarray(padded.reshape(k, panels, width).transpose(1, 0, 2))


def unpack_panels(packed: np.ndarray, columns: int) -> np.ndarray:
    """The inverse of ``pack_panels``: the K x ``columns`` matrix."""
    panels, k, width = packed.shape
    return np.ascontiguousarray(packed.transpose(1, 0, 2).reshape(k, panels * width)[:, :columns])


def _packed_dims(packed: TensorType, columns: int) -> tuple[int | None, int | None]:
    """``(K, NR)`` of a packed operand; ValueError unless ``columns`` fits its panels."""
    shape = shape_of(packed)
    if len(shape) != 3:
        raise ValueError(f"packed operand must be (panels, K, width), got {format_shape(shape)}")
    panels, k, width = shape
    if panels is not None and width is not None and not (panels - 1) * width < columns <= panels * width:
        raise ValueError(f"columns {columns} do not fill {panels} panels of width {width}")
    return k, width


@irdl_op_definition
class PackedMatmulOp(NNOp):
    """``matmul(lhs, unpack(packed_rhs))`` for a 2-D right-hand side stored in panels.

    ```mlir
    %y = nn.packed_matmul %a, %bp {columns = 1000 : i64} : (tensor<?x1024xf32>, tensor<32x1024x32xf32>) -> tensor<?x1000xf32>
    ```
    """

    name = "nn.packed_matmul"
    lhs = operand_def(TensorType)
    packed_rhs = operand_def(TensorType)
    output = result_def(TensorType)
    columns = prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        a, bp = tensor_operand_type(self.lhs), tensor_operand_type(self.packed_rhs)
        if a.element_type != bp.element_type:
            raise ValueError(f"operand element types differ: {a} vs {bp}")
        columns = read_int(self.columns)
        k, _ = _packed_dims(bp, columns)
        sa = shape_of(a)
        if not sa:
            raise ValueError("lhs must have rank >= 1, got a scalar")
        if sa[-1] is not None and k is not None and sa[-1] != k:
            raise ValueError(f"contraction dims differ: lhs {format_shape(sa)}, packed rhs has K = {k}")
        out: Shape = (*sa[:-1], columns)
        return [tensor_type(out, a.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        a, bp = inputs
        return [np.asarray(np.matmul(a, unpack_panels(bp, read_int(self.columns))))]


@irdl_op_definition
class PackedGemmOp(NNOp):
    """``nn.gemm`` (``trans_b = 0``) whose ``b`` is stored in panels; ``alpha``, ``beta``,
    ``trans_a`` and the broadcast of ``c`` as in ``nn.gemm``.

    ```mlir
    %y = nn.packed_gemm %a, %bp, %c {columns = 10 : i64} : (tensor<?x512xf32>, tensor<1x512x32xf32>, tensor<10xf32>) -> tensor<?x10xf32>
    ```
    """

    name = "nn.packed_gemm"
    a = operand_def(TensorType)
    packed_b = operand_def(TensorType)
    c = operand_def(TensorType)
    output = result_def(TensorType)
    columns = prop_def(IntegerAttr)
    alpha = opt_prop_def(FloatAttr)
    beta = opt_prop_def(FloatAttr)
    trans_a = opt_prop_def(IntegerAttr)

    def infer_result_types(self) -> Sequence[TensorType]:
        ta, tb, tc = (tensor_operand_type(v) for v in (self.a, self.packed_b, self.c))
        for t in (tb, tc):
            if t.element_type != ta.element_type:
                raise ValueError(f"operand element types differ: {ta} vs {t}")
        columns = read_int(self.columns)
        k, _ = _packed_dims(tb, columns)
        sa, sc = shape_of(ta), shape_of(tc)
        if len(sa) != 2:
            raise ValueError(f"a must be 2-D, got {format_shape(sa)}")
        m, ka = (sa[1], sa[0]) if read_int(self.trans_a, 0) else sa
        if ka is not None and k is not None and ka != k:
            raise ValueError(f"contraction dims differ: a {format_shape(sa)}, packed b has K = {k}")
        padded_c = (1,) * (2 - len(sc)) + sc
        result = (m, columns)
        if len(sc) > 2 or any(
            dc is not None and dc != 1 and dr is not None and dc != dr for dc, dr in zip(padded_c, result)
        ):
            raise ValueError(f"c {format_shape(sc)} does not broadcast to the result {format_shape(result)}")
        return [tensor_type(result, ta.element_type)]

    def reference(self, *inputs: np.ndarray) -> Sequence[np.ndarray]:
        a, bp, c = inputs
        if read_int(self.trans_a, 0):
            a = a.T
        alpha, beta = read_float(self.alpha, 1.0), read_float(self.beta, 1.0)
        product = a @ unpack_panels(bp, read_int(self.columns))
        if alpha != 1.0:
            product = product * np.asarray(alpha, a.dtype)
        out = product + (c if beta == 1.0 else c * np.asarray(beta, c.dtype))
        return [np.asarray(out).astype(a.dtype, copy=False)]


OPS = [PackedMatmulOp, PackedGemmOp]
