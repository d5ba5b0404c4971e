"""``vecx.dot4`` and the byte-level ``vector`` ops of the int8 micro-kernel, as LLVM IR.

``vecx.dot4 %acc, %a, %b : vector<16xi32>, vector<64xi8>, vector<64xi8>`` is one AVX-512
VNNI ``vpdpbusd zmm`` (64 u8 x s8 products summed 4 by 4 into 16 i32 lanes) when the
host has ``avx512vnni`` and the vector is 16 lanes wide; anywhere else it is the portable
expansion (``zext``/``sext`` to i32, ``mul``, the 4 products of each lane gathered by
shuffles and added), which LLVM maps to the best the target has. Both wrap like
``arith.addi``: ``vpdpbusd`` (unlike ``vpdpbusds``) does not saturate.

The micro-kernel also needs to broadcast 4 bytes of a row as one 32-bit lane and to view
that as 64 bytes: ``vector.bitcast`` (an LLVM ``bitcast``) and ``vector.shuffle`` (an LLVM
``shufflevector``; a 0-D operand is not supported) live here, next to the op they feed.

```mlir
%w = vector.load %a[%i, %k] : memref<?x?xi8>, vector<4xi8>                      // load <4 x i8>
%d = vector.bitcast %w : vector<4xi8> to vector<1xi32>                           // bitcast
%s = vector.shuffle %d, %d [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] : vector<1xi32>, vector<1xi32>
%x = vector.bitcast %s : vector<16xi32> to vector<64xi8>
%acc2 = vecx.dot4 %acc, %x, %b : vector<16xi32>, vector<64xi8>, vector<64xi8> -> vector<16xi32>
// call <16 x i32> @llvm.x86.avx512.vpdpbusd.512(<16 x i32> %acc, <64 x i8> %x, <64 x i8> %b)
```
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import llvmlite.ir as ir
from xdsl.dialects import vector
from xdsl.ir import Operation

from dynir.backends.llvm.errors import TranslationError
from dynir.backends.llvm.target import host_target
from dynir.backends.llvm.vector_lowering import splat, vector_llvm_type
from dynir.dialects.vecx import Dot4Op, InRangeOp

if TYPE_CHECKING:
    from dynir.backends.llvm.translate import FunctionTranslator

I32 = ir.IntType(32)
VNNI_INTRINSIC = "llvm.x86.avx512.vpdpbusd.512"
VNNI_LANES = 16


def has_vnni() -> bool:
    """Whether the host CPU runs AVX-512 VNNI (``vpdpbusd`` on zmm registers)."""
    enabled = {f[1:] for f in host_target().features.split(",") if f.startswith("+")}
    return {"avx512f", "avx512vnni"} <= enabled


def _vector_type(op: Operation, attr: object) -> ir.VectorType:
    result = vector_llvm_type(attr)  # type: ignore[arg-type]
    if result is None:
        raise TranslationError.at(op, f"has type {attr}; the LLVM backend supports 1-D vectors of scalars only")
    return result


def _dot4(t: FunctionTranslator, op: Dot4Op) -> None:
    acc, lhs, rhs = (t.scalar(v, op) for v in (op.acc, op.lhs, op.rhs))
    acc_type = _vector_type(op, op.acc.type)
    if acc_type.count == VNNI_LANES and has_vnni():
        fnty = ir.FunctionType(acc_type, [acc_type, lhs.type, rhs.type])
        existing = t.parent.module.globals.get(VNNI_INTRINSIC)
        function = existing if isinstance(existing, ir.Function) else ir.Function(t.parent.module, fnty, VNNI_INTRINSIC)
        t.values[op.result] = t.builder.call(function, [acc, lhs, rhs])
        return
    t.values[op.result] = portable_dot4(t.builder, acc, lhs, rhs, acc_type.count)


def portable_dot4(builder: ir.IRBuilder, acc: ir.Value, lhs: ir.Value, rhs: ir.Value, lanes: int) -> ir.Value:
    """``acc[i] + sum_j zext(lhs[4i+j]) * sext(rhs[4i+j])`` with plain vector instructions."""
    wide = ir.VectorType(I32, 4 * lanes)
    products = builder.mul(builder.zext(lhs, wide), builder.sext(rhs, wide))
    total = acc
    for j in range(Dot4Op.GROUP):
        mask = ir.Constant(ir.VectorType(I32, lanes), [Dot4Op.GROUP * i + j for i in range(lanes)])
        total = builder.add(total, builder.shuffle_vector(products, ir.Constant(wide, ir.Undefined), mask))
    return total


def _in_range(t: FunctionTranslator, op: InRangeOp) -> None:
    """``icmp ult v, splat(bound)``: negative lanes are huge unsigned, so out of range too."""
    value = t.scalar(op.value, op)
    lane_type = _vector_type(op, op.value.type)
    bound = t.scalar(op.bound, op)
    if bound.type != lane_type.element:
        bound = t.builder.trunc(bound, lane_type.element) if bound.type.width > lane_type.element.width else t.builder.zext(bound, lane_type.element)
    t.values[op.result] = t.builder.icmp_unsigned("<", value, splat(t.builder, bound, lane_type))


def _bitcast(t: FunctionTranslator, op: vector.BitcastOp) -> None:
    t.values[op.result] = t.builder.bitcast(t.scalar(op.source, op), _vector_type(op, op.result.type))


def _shuffle(t: FunctionTranslator, op: vector.ShuffleOp) -> None:
    for v in (op.v1, op.v2):
        _vector_type(op, v.type)
    mask = [int(i) for i in op.mask.get_values()]
    constant = ir.Constant(ir.VectorType(I32, len(mask)), mask)
    t.values[op.result] = t.builder.shuffle_vector(t.scalar(op.v1, op), t.scalar(op.v2, op), constant)


Handler = Callable[["FunctionTranslator", Any], None]

VECX_HANDLERS: dict[type[Operation], Handler] = {
    Dot4Op: _dot4,
    InRangeOp: _in_range,
    vector.BitcastOp: _bitcast,
    vector.ShuffleOp: _shuffle,
}
"""Handlers the translator consults after ``VECTOR_HANDLERS`` (see ``translate.py``)."""
