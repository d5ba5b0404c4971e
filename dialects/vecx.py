"""The ``vecx`` dialect: loop-level vector ops that xDSL's ``vector`` dialect lacks.

Level: the loop level (next to ``vector``, ``scf``, ``memref``, ``arith``), shared by the
LLVM and CUDA emitters. Each op is target-neutral: the LLVM backend maps it to an
intrinsic (``llvm.masked.gather``, AVX-512 VNNI ``vpdpbusd``) or a compare, the CUDA
emitter to a loop over lanes or ``__dp4a``. Why our own: xDSL 0.74's ``vector`` has no
``gather`` (MLIR's ``vector.gather``), MLIR has no target-neutral 4-way int8 dot product
(its ``x86vector`` dialect is target-specific and lacks ``vpdpbusd``), and xDSL 0.74's
``arith.cmpi`` returns a scalar ``i1`` only (MLIR's compares lane by lane), so a lane mask
from computed lanes needs ``vecx.in_range``.

```mlir
// result[i] = mask[i] ? base[indices...][offsets[i]] : pass_thru[i]   (row-major linear)
%g = vecx.gather %x[%n, %c0, %c0, %c0], %offsets, %mask, %zero
    : memref<1x64x56x56xf32>, vector<16xi32>, vector<16xi1>, vector<16xf32> -> vector<16xf32>

// result[i] = acc[i] + sum_{j<4} zext(a[4i+j]) * sext(b[4i+j])   (u8 x s8 -> s32)
%acc2 = vecx.dot4 %acc, %a, %b : vector<16xi32>, vector<64xi8>, vector<64xi8> -> vector<16xi32>

// mask[i] = 0 <= v[i] < bound   (one unsigned compare)
%mask = vecx.in_range %v, %bound : vector<16xi64>, index -> vector<16xi1>
```
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import IndexType, IntegerType, MemRefType, VectorType
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import IRDLOperation, irdl_op_definition, operand_def, result_def, traits_def, var_operand_def
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException


def _vector(t: Attribute, what: str) -> VectorType[Attribute]:
    if not isinstance(t, VectorType) or t.get_num_dims() != 1:
        raise VerifyException(f"{what} must be a 1-D vector, got {t}")
    return t


def _lanes(t: VectorType[Attribute]) -> int:
    return t.get_shape()[0]


def _int_width(t: Attribute) -> int | None:
    return t.width.data if isinstance(t, IntegerType) else None


@irdl_op_definition
class GatherOp(IRDLOperation):
    """Masked gather: lane ``i`` reads the element ``offsets[i]`` elements past
    ``base[indices...]`` (row-major, like ``memref.load``'s linearisation) where
    ``mask[i]`` is set, else takes ``pass_thru[i]``; masked-off lanes never touch memory."""

    name = "vecx.gather"
    base = operand_def(MemRefType)
    indices = var_operand_def(IndexType)
    offsets = operand_def(VectorType)
    mask = operand_def(VectorType)
    pass_thru = operand_def(VectorType)
    result = result_def(VectorType)
    assembly_format = (
        "$base `[` $indices `]` `,` $offsets `,` $mask `,` $pass_thru attr-dict"
        " `:` type($base) `,` type($offsets) `,` type($mask) `,` type($pass_thru) `->` type($result)"
    )
    traits = traits_def(Pure())

    def __init__(
        self, base: SSAValue, indices: list[SSAValue], offsets: SSAValue, mask: SSAValue, pass_thru: SSAValue
    ) -> None:
        super().__init__(operands=[base, indices, offsets, mask, pass_thru], result_types=[pass_thru.type])

    def verify_(self) -> None:
        base = self.base.type
        assert isinstance(base, MemRefType)
        if len(self.indices) != base.get_num_dims():
            raise VerifyException(f"expected {base.get_num_dims()} indices, got {len(self.indices)}")
        offsets = _vector(self.offsets.type, "offsets")
        mask = _vector(self.mask.type, "mask")
        pass_thru = _vector(self.pass_thru.type, "pass_thru")
        result = _vector(self.result.type, "result")
        if _int_width(offsets.element_type) not in (32, 64):
            raise VerifyException(f"offsets must be i32 or i64 lanes, got {offsets}")
        if _int_width(mask.element_type) != 1:
            raise VerifyException(f"mask must be a vector of i1, got {mask}")
        if pass_thru != result or result.element_type != base.element_type:
            raise VerifyException(f"pass_thru and result must be vectors of {base.element_type}, got {pass_thru}, {result}")
        if not _lanes(offsets) == _lanes(mask) == _lanes(result):
            raise VerifyException(f"lane counts differ: offsets {offsets}, mask {mask}, result {result}")

    @staticmethod
    def reference(base_flat_from_start: np.ndarray, offsets: np.ndarray, mask: np.ndarray, pass_thru: np.ndarray) -> np.ndarray:
        """numpy semantics, ``base_flat_from_start`` being the buffer's flat view from ``base[indices...]``."""
        out = pass_thru.copy()
        out[mask] = base_flat_from_start[offsets[mask]]
        return out


@irdl_op_definition
class Dot4Op(IRDLOperation):
    """4-way 8-bit dot product accumulated in 32-bit lanes: ``result[i] = acc[i] +
    sum_{j<4} zext(lhs[4i+j]) * sext(rhs[4i+j])`` (unsigned x signed bytes, the operand
    order of AVX-512 VNNI ``vpdpbusd`` and CUDA ``__dp4a(unsigned, int, int)``). No
    saturation: the sum wraps like ``arith.addi``."""

    name = "vecx.dot4"
    acc = operand_def(VectorType)
    lhs = operand_def(VectorType)
    rhs = operand_def(VectorType)
    result = result_def(VectorType)
    assembly_format = "$acc `,` $lhs `,` $rhs attr-dict `:` type($acc) `,` type($lhs) `,` type($rhs) `->` type($result)"
    traits = traits_def(Pure())
    GROUP: ClassVar[int] = 4

    def __init__(self, acc: SSAValue, lhs: SSAValue, rhs: SSAValue) -> None:
        super().__init__(operands=[acc, lhs, rhs], result_types=[acc.type])

    def verify_(self) -> None:
        acc = _vector(self.acc.type, "acc")
        lhs = _vector(self.lhs.type, "lhs")
        rhs = _vector(self.rhs.type, "rhs")
        if _int_width(acc.element_type) != 32 or self.result.type != acc:
            raise VerifyException(f"acc and result must be the same vector of i32, got {acc}, {self.result.type}")
        if _int_width(lhs.element_type) != 8 or _int_width(rhs.element_type) != 8:
            raise VerifyException(f"lhs and rhs must be vectors of i8, got {lhs}, {rhs}")
        if not _lanes(lhs) == _lanes(rhs) == self.GROUP * _lanes(acc):
            raise VerifyException(f"lhs and rhs need {self.GROUP * _lanes(acc)} lanes for {acc}, got {lhs}, {rhs}")

    @staticmethod
    def reference(acc: np.ndarray, lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """numpy semantics (``lhs`` read as uint8, ``rhs`` as int8, wrapping int32 sums)."""
        products = lhs.view(np.uint8).astype(np.int64) * rhs.view(np.int8).astype(np.int64)
        sums = products.reshape(acc.shape[0], 4).sum(axis=1) + acc.astype(np.int64)
        return ((sums + 2**31) % 2**32 - 2**31).astype(np.int32)


@irdl_op_definition
class InRangeOp(IRDLOperation):
    """Lane mask of the integer lanes inside ``[0, bound)``: ``result[i] = 0 <= v[i] < bound``
    (``bound`` an ``index``, or a scalar of the lanes' type; one unsigned compare). The
    generalisation of ``vector.create_mask`` to lanes that are not ``0, 1, 2 ...``."""

    name = "vecx.in_range"
    value = operand_def(VectorType)
    bound = operand_def()
    result = result_def(VectorType)
    assembly_format = "$value `,` $bound attr-dict `:` type($value) `,` type($bound) `->` type($result)"
    traits = traits_def(Pure())

    def __init__(self, value: SSAValue, bound: SSAValue) -> None:
        lanes = _lanes(_vector(value.type, "value"))
        super().__init__(operands=[value, bound], result_types=[VectorType(IntegerType(1), [lanes])])

    def verify_(self) -> None:
        value = _vector(self.value.type, "value")
        result = _vector(self.result.type, "result")
        width = _int_width(value.element_type)
        if width is None or width < 8:
            raise VerifyException(f"value must be a vector of integers of 8 bits or more, got {value}")
        bound = self.bound.type
        if not (isinstance(bound, IndexType) and width == 64) and bound != value.element_type:
            raise VerifyException(f"bound must be {value.element_type}{' or index' if width == 64 else ''}, got {bound}")
        if _int_width(result.element_type) != 1 or _lanes(result) != _lanes(value):
            raise VerifyException(f"result must be vector<{_lanes(value)}xi1>, got {result}")

    @staticmethod
    def reference(value: np.ndarray, bound: int) -> np.ndarray:
        """numpy semantics."""
        return (value >= 0) & (value < bound)


OPS = [GatherOp, Dot4Op, InRangeOp]
VecX = Dialect("vecx", OPS, [])
