"""The one seam that maps a ``math`` op to its LLVM implementation.

``emit_math`` is the only place that decides how ``math.exp`` and friends become LLVM
IR. First choice: a branch-free polynomial from ``vector_math`` (exp, log, log1p, tanh,
expm1, erf in f32; exp in f64), which LLVM vectorises like any arithmetic. Then an LLVM
intrinsic where LLVM has one that its code generator expands inline or vectorises
(``llvm.sqrt``, ``llvm.fabs``, ``llvm.fma``, ``llvm.floor`` ...), the intrinsic for
transcendental functions LLVM knows (``llvm.sin`` lowers to ``sinf``), and a libm call
for the rest (f64 ``erf``, ``tanh`` ...).

```mlir
%y = math.exp %x : f32        // inline: fma, roundeven, bitcast exponent scaling, select
%z = math.erf %x : f64        // call double @erf(double %x)
%r = math.rsqrt %x : f32      // fdiv float 1.0, (call float @llvm.sqrt.f32(float %x))
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llvmlite.ir as ir

from dynir.backends.llvm.vector_math import vector_math

FastMath = tuple[str, ...]


@dataclass(frozen=True)
class Intrinsic:
    """``llvm.<name>.<type>``, with as many operands of the result type as the op has."""

    name: str


@dataclass(frozen=True)
class LibmCall:
    """A C math library function; ``f32``/``f64`` names (``erff``/``erf``). f16 goes through f32."""

    f32: str
    f64: str


Custom = Callable[[ir.IRBuilder, Sequence[ir.Value], FastMath], ir.Value]
Lowering = Intrinsic | LibmCall | Custom


def _rsqrt(builder: ir.IRBuilder, args: Sequence[ir.Value], flags: FastMath) -> ir.Value:
    (x,) = args
    root = _call_intrinsic(builder, "llvm.sqrt", [x], flags)
    return builder.fdiv(ir.Constant(x.type, 1.0), root, flags=list(flags))


def _fpowi(builder: ir.IRBuilder, args: Sequence[ir.Value], flags: FastMath) -> ir.Value:
    """``llvm.powi`` would need compiler-rt's ``__powisf2``, absent from the process: use pow."""
    base, exponent = args
    return _call_intrinsic(builder, "llvm.pow", [base, builder.sitofp(exponent, base.type)], flags)


def _int_intrinsic_with_flag(name: str) -> Custom:
    """``llvm.abs``/``llvm.ctlz``/``llvm.cttz`` take an extra ``i1 false`` (poison-on-edge flag)."""

    def lower(builder: ir.IRBuilder, args: Sequence[ir.Value], flags: FastMath) -> ir.Value:
        (x,) = args
        i1 = ir.IntType(1)
        fnty = ir.FunctionType(x.type, [x.type, i1])
        function = builder.module.declare_intrinsic(name, [x.type], fnty=fnty)
        return builder.call(function, [x, ir.Constant(i1, 0)])

    return lower


MATH_LOWERINGS: dict[str, Lowering] = {
    "math.exp": Intrinsic("llvm.exp"),
    "math.exp2": Intrinsic("llvm.exp2"),
    "math.log": Intrinsic("llvm.log"),
    "math.log2": Intrinsic("llvm.log2"),
    "math.log10": Intrinsic("llvm.log10"),
    "math.sqrt": Intrinsic("llvm.sqrt"),
    "math.absf": Intrinsic("llvm.fabs"),
    "math.fma": Intrinsic("llvm.fma"),
    "math.floor": Intrinsic("llvm.floor"),
    "math.ceil": Intrinsic("llvm.ceil"),
    "math.round": Intrinsic("llvm.round"),
    "math.roundeven": Intrinsic("llvm.roundeven"),
    "math.trunc": Intrinsic("llvm.trunc"),
    "math.sin": Intrinsic("llvm.sin"),
    "math.cos": Intrinsic("llvm.cos"),
    "math.copysign": Intrinsic("llvm.copysign"),
    "math.powf": Intrinsic("llvm.pow"),
    "math.ctpop": Intrinsic("llvm.ctpop"),
    "math.tanh": LibmCall("tanhf", "tanh"),
    "math.erf": LibmCall("erff", "erf"),
    "math.tan": LibmCall("tanf", "tan"),
    "math.atan": LibmCall("atanf", "atan"),
    "math.asin": LibmCall("asinf", "asin"),
    "math.acos": LibmCall("acosf", "acos"),
    "math.sinh": LibmCall("sinhf", "sinh"),
    "math.cosh": LibmCall("coshf", "cosh"),
    "math.asinh": LibmCall("asinhf", "asinh"),
    "math.acosh": LibmCall("acoshf", "acosh"),
    "math.atanh": LibmCall("atanhf", "atanh"),
    "math.expm1": LibmCall("expm1f", "expm1"),
    "math.log1p": LibmCall("log1pf", "log1p"),
    "math.cbrt": LibmCall("cbrtf", "cbrt"),
    "math.atan2": LibmCall("atan2f", "atan2"),
    "math.rsqrt": _rsqrt,
    "math.fpowi": _fpowi,
    "math.absi": _int_intrinsic_with_flag("llvm.abs"),
    "math.ctlz": _int_intrinsic_with_flag("llvm.ctlz"),
    "math.cttz": _int_intrinsic_with_flag("llvm.cttz"),
}


def supported_math_ops() -> list[str]:
    return sorted(MATH_LOWERINGS)


def emit_math(builder: ir.IRBuilder, op_name: str, args: Sequence[ir.Value], flags: FastMath) -> ir.Value | None:
    """LLVM IR for ``op_name`` applied to ``args`` at the builder; None if not supported."""
    lowering = MATH_LOWERINGS.get(op_name)
    if lowering is None:
        return None
    polynomial = vector_math(op_name, args[0].type) if len(args) == 1 else None
    if polynomial is not None:
        return polynomial(builder, args[0])
    if isinstance(lowering, Intrinsic):
        return _call_intrinsic(builder, lowering.name, args, flags)
    if isinstance(lowering, LibmCall):
        return _call_libm(builder, lowering, args, flags)
    return lowering(builder, args, flags)


def _call_intrinsic(builder: ir.IRBuilder, name: str, args: Sequence[ir.Value], flags: FastMath) -> ir.Value:
    value_type = args[0].type
    fnty = ir.FunctionType(value_type, [value_type] * len(args))
    function = builder.module.declare_intrinsic(name, [value_type], fnty=fnty)
    is_float = not isinstance(value_type, ir.IntType)
    return builder.call(function, list(args), fastmath=flags if is_float else ())


def _call_libm(builder: ir.IRBuilder, call: LibmCall, args: Sequence[ir.Value], flags: FastMath) -> ir.Value:
    value_type = args[0].type
    if isinstance(value_type, ir.DoubleType):
        return _call_c(builder, call.f64, args, flags)
    if isinstance(value_type, ir.HalfType):
        f32 = ir.FloatType()
        widened = [builder.fpext(a, f32) for a in args]
        return builder.fptrunc(_call_c(builder, call.f32, widened, flags), value_type)
    return _call_c(builder, call.f32, args, flags)


def _call_c(builder: ir.IRBuilder, name: str, args: Sequence[ir.Value], flags: FastMath) -> ir.Value:
    module = builder.module
    value_type = args[0].type
    function = module.globals.get(name)
    if function is None:
        function = ir.Function(module, ir.FunctionType(value_type, [value_type] * len(args)), name=name)
    return builder.call(function, list(args), fastmath=flags)
