"""``arith`` ops as LLVM instructions: one table from op name to a small emitter.

Scalars (``index`` is ``i64``) and 1-D vectors of them, lane by lane. Float ops carry the fast-math flags the translator
computes (the op's own ``fastmath`` plus the backend's options); integer ops carry their
``overflow<nsw, nuw>`` flags. Division helpers follow MLIR: ``floordivsi`` rounds towards
negative infinity, ``ceildivsi`` towards positive infinity.

```mlir
%s = arith.addf %a, %b : f32          // fadd contract float %a, %b
%c = arith.cmpi slt, %i, %n : index   // icmp slt i64 %i, %n
%w = arith.extsi %x : i8 to i32       // sext i8 %x to i32
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llvmlite.ir as ir
from xdsl.dialects.builtin import IntegerAttr
from xdsl.ir import Operation

from dynir.backends.llvm.math_lowering import FastMath
from dynir.backends.llvm.vector_lowering import declare_overloaded


@dataclass(frozen=True)
class ArithCall:
    """Everything an emitter needs: where to emit, the op, its LLVM operands and result type."""

    builder: ir.IRBuilder
    op: Operation
    args: Sequence[ir.Value]
    result_type: ir.Type
    flags: FastMath

    def predicate(self) -> int:
        attr = self.op.properties.get("predicate")
        return attr.value.data if isinstance(attr, IntegerAttr) else -1

    def overflow_flags(self) -> list[str]:
        attr = self.op.properties.get("overflowFlags")
        data: frozenset[object] = getattr(attr, "data", frozenset())
        return sorted(str(getattr(flag, "value", flag)) for flag in data)


Emitter = Callable[[ArithCall], ir.Value]


def _float_binary(name: str) -> Emitter:
    def emit(c: ArithCall) -> ir.Value:
        method = getattr(c.builder, name)
        return method(c.args[0], c.args[1], flags=list(c.flags))

    return emit


def _int_binary(name: str, *, overflow: bool = False) -> Emitter:
    def emit(c: ArithCall) -> ir.Value:
        method = getattr(c.builder, name)
        if overflow:
            return method(c.args[0], c.args[1], flags=c.overflow_flags())
        return method(c.args[0], c.args[1])

    return emit


def _binary_intrinsic(name: str, *, is_float: bool) -> Emitter:
    def emit(c: ArithCall) -> ir.Value:
        value_type = c.args[0].type
        fnty = ir.FunctionType(value_type, [value_type, value_type])
        if isinstance(value_type, ir.VectorType):  # llvmlite cannot mangle vector overloads
            function = declare_overloaded(c.builder.module, name, fnty, value_type)
        else:
            function = c.builder.module.declare_intrinsic(name, [value_type], fnty=fnty)
        return c.builder.call(function, list(c.args), fastmath=c.flags if is_float else ())

    return emit


def _cast(name: str) -> Emitter:
    def emit(c: ArithCall) -> ir.Value:
        return getattr(c.builder, name)(c.args[0], c.result_type)

    return emit


def _int_resize(*, signed: bool) -> Emitter:
    """``index_cast``/``index_castui``: extend or truncate, whichever the widths need."""

    def emit(c: ArithCall) -> ir.Value:
        source_width, target_width = c.args[0].type.width, c.result_type.width  # verified integers
        if source_width == target_width:
            return c.args[0]
        if source_width > target_width:
            return c.builder.trunc(c.args[0], c.result_type)
        extend = c.builder.sext if signed else c.builder.zext
        return extend(c.args[0], c.result_type)

    return emit


_CMPI = {0: "==", 1: "!=", 2: "<", 3: "<=", 4: ">", 5: ">=", 6: "<", 7: "<=", 8: ">", 9: ">="}
_CMPF_ORDERED = {1: "==", 2: ">", 3: ">=", 4: "<", 5: "<=", 6: "!=", 7: "ord"}
_CMPF_UNORDERED = {8: "==", 9: ">", 10: ">=", 11: "<", 12: "<=", 13: "!=", 14: "uno"}


def _cmpi(c: ArithCall) -> ir.Value:
    predicate = c.predicate()
    lhs, rhs = c.args
    if predicate <= 5:  # eq, ne, slt, sle, sgt, sge
        return c.builder.icmp_signed(_CMPI[predicate], lhs, rhs)
    return c.builder.icmp_unsigned(_CMPI[predicate], lhs, rhs)


def _cmpf(c: ArithCall) -> ir.Value:
    predicate = c.predicate()
    lhs, rhs = c.args
    if predicate == 0:
        return ir.Constant(ir.IntType(1), 0)
    if predicate == 15:
        return ir.Constant(ir.IntType(1), 1)
    if predicate in _CMPF_ORDERED:
        return c.builder.fcmp_ordered(_CMPF_ORDERED[predicate], lhs, rhs, flags=list(c.flags))
    return c.builder.fcmp_unordered(_CMPF_UNORDERED[predicate], lhs, rhs, flags=list(c.flags))


def _select(c: ArithCall) -> ir.Value:
    return c.builder.select(c.args[0], c.args[1], c.args[2])


def _negf(c: ArithCall) -> ir.Value:
    return c.builder.fneg(c.args[0], flags=list(c.flags))


def _floordivsi(c: ArithCall) -> ir.Value:
    """q = a / b truncated; minus one when the remainder is nonzero and signs differ."""
    b = c.builder
    lhs, rhs = c.args
    zero = ir.Constant(lhs.type, 0)
    quotient, remainder = b.sdiv(lhs, rhs), b.srem(lhs, rhs)
    inexact = b.icmp_signed("!=", remainder, zero)
    signs_differ = b.icmp_signed("!=", b.icmp_signed("<", remainder, zero), b.icmp_signed("<", rhs, zero))
    adjust = b.and_(inexact, signs_differ)
    return b.sub(quotient, b.zext(adjust, lhs.type))


def _ceildivsi(c: ArithCall) -> ir.Value:
    """q = a / b truncated; plus one when the remainder is nonzero and signs agree."""
    b = c.builder
    lhs, rhs = c.args
    zero = ir.Constant(lhs.type, 0)
    quotient, remainder = b.sdiv(lhs, rhs), b.srem(lhs, rhs)
    inexact = b.icmp_signed("!=", remainder, zero)
    signs_agree = b.icmp_signed("==", b.icmp_signed("<", remainder, zero), b.icmp_signed("<", rhs, zero))
    adjust = b.and_(inexact, signs_agree)
    return b.add(quotient, b.zext(adjust, lhs.type))


def _ceildivui(c: ArithCall) -> ir.Value:
    b = c.builder
    lhs, rhs = c.args
    quotient, remainder = b.udiv(lhs, rhs), b.urem(lhs, rhs)
    inexact = b.icmp_unsigned("!=", remainder, ir.Constant(lhs.type, 0))
    return b.add(quotient, b.zext(inexact, lhs.type))


ARITH_LOWERINGS: dict[str, Emitter] = {
    "arith.addf": _float_binary("fadd"),
    "arith.subf": _float_binary("fsub"),
    "arith.mulf": _float_binary("fmul"),
    "arith.divf": _float_binary("fdiv"),
    "arith.remf": _float_binary("frem"),
    "arith.negf": _negf,
    "arith.maximumf": _binary_intrinsic("llvm.maximum", is_float=True),
    "arith.minimumf": _binary_intrinsic("llvm.minimum", is_float=True),
    "arith.maxnumf": _binary_intrinsic("llvm.maxnum", is_float=True),
    "arith.minnumf": _binary_intrinsic("llvm.minnum", is_float=True),
    "arith.cmpf": _cmpf,
    "arith.cmpi": _cmpi,
    "arith.select": _select,
    "arith.addi": _int_binary("add", overflow=True),
    "arith.subi": _int_binary("sub", overflow=True),
    "arith.muli": _int_binary("mul", overflow=True),
    "arith.shli": _int_binary("shl", overflow=True),
    "arith.divsi": _int_binary("sdiv"),
    "arith.divui": _int_binary("udiv"),
    "arith.remsi": _int_binary("srem"),
    "arith.remui": _int_binary("urem"),
    "arith.floordivsi": _floordivsi,
    "arith.ceildivsi": _ceildivsi,
    "arith.ceildivui": _ceildivui,
    "arith.andi": _int_binary("and_"),
    "arith.ori": _int_binary("or_"),
    "arith.xori": _int_binary("xor"),
    "arith.shrsi": _int_binary("ashr"),
    "arith.shrui": _int_binary("lshr"),
    "arith.maxsi": _binary_intrinsic("llvm.smax", is_float=False),
    "arith.minsi": _binary_intrinsic("llvm.smin", is_float=False),
    "arith.maxui": _binary_intrinsic("llvm.umax", is_float=False),
    "arith.minui": _binary_intrinsic("llvm.umin", is_float=False),
    "arith.index_cast": _int_resize(signed=True),
    "arith.index_castui": _int_resize(signed=False),
    "arith.sitofp": _cast("sitofp"),
    "arith.uitofp": _cast("uitofp"),
    "arith.fptosi": _cast("fptosi"),
    "arith.fptoui": _cast("fptoui"),
    "arith.extf": _cast("fpext"),
    "arith.truncf": _cast("fptrunc"),
    "arith.extsi": _cast("sext"),
    "arith.extui": _cast("zext"),
    "arith.trunci": _cast("trunc"),
    "arith.bitcast": _cast("bitcast"),
}

FLOAT_FLAGGED_OPS = frozenset(
    {
        "arith.addf",
        "arith.subf",
        "arith.mulf",
        "arith.divf",
        "arith.remf",
        "arith.negf",
        "arith.maximumf",
        "arith.minimumf",
        "arith.maxnumf",
        "arith.minnumf",
        "arith.cmpf",
    }
)


def emit_arith(call: ArithCall) -> ir.Value | None:
    """LLVM IR for one arith op; None if the op has no lowering."""
    emitter = ARITH_LOWERINGS.get(call.op.name)
    return emitter(call) if emitter is not None else None
