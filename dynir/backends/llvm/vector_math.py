"""Branch-free transcendental functions as plain LLVM IR, so loops that use them vectorise.

A call to ``expf`` or ``tanhf`` stops LLVM's loop vectoriser (there is no vector math
library in the JIT), which leaves softmax, GELU, SiLU and sigmoid loops scalar. Here each
function is straight-line ``fmul``/``fadd``/``llvm.fma``, integer bit manipulation of the
exponent (``bitcast``, ``shl``) and ``select`` for range clamps and special values, so
a loop of them becomes AVX-512 code like any other arithmetic.

| function | method | f32 max relative error (tests/backends/llvm/test_math_accuracy.py) |
|---|---|---|
| exp   | ``x = n ln2 + r``, ``|r| <= ln2/2`` (Cody-Waite, FMA), degree-6 polynomial, ``* 2^n`` by ``llvm.ldexp`` (subnormal results round once) | ~1 ulp |
| log   | ``x = m 2^e``, ``m`` in ``[sqrt(1/2), sqrt(2))``, Cephes degree-8 polynomial in ``m - 1`` | ~1 ulp |
| tanh  | ``x P(x^2) / Q(x^2)`` on ``|x| <= 7.9`` (rational fit), 1 past 9; sign copied back; NaN computed through (a NaN, not always the input's payload) | ~3 ulp |
| erf   | ``|x| < 1``: ``x P(x^2)``; else ``1 - exp(-x^2) Q(1/|x|)`` (least-squares fits) | ~2 ulp |
| log1p | ``u = 1 + x``: ``log(u) x / (u - 1)`` (exact where ``u == 1``) | ~2 ulp |
| expm1 | ``|x| < 1/2``: Taylor polynomial; else ``exp(x) - 1`` | ~2 ulp |

Special values follow libm: NaN in, NaN out; ``exp(+inf) = inf``, ``exp(-inf) = 0``,
overflow to ``inf``, underflow through subnormals to ``0``; ``log(0) = -inf``,
``log(x < 0) = NaN``; ``tanh(+-inf) = +-1``, ``erf(+-inf) = +-1``; signed zeros kept.
f64 has a polynomial ``exp`` (degree 13); the other f64 functions stay libm calls.

```llvm
%r = call float @llvm.fma.f32(float %n, float -0x3FE6300000000000, float %x)  ; r = x - n*ln2_hi
```
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import llvmlite.ir as ir
import numpy as np

F32 = ir.FloatType()
F64 = ir.DoubleType()
I32 = ir.IntType(32)
I64 = ir.IntType(64)

VectorMath = Callable[[ir.IRBuilder, ir.Value], ir.Value]

RECIPROCAL_ESTIMATES = '"reciprocal-estimates"="divf:1,vec-divf:1"'
"""Function attribute that lets divisions flagged ``arcp`` (only ``bounded_divide``'s: the
translator never sets ``arcp`` itself) become a reciprocal estimate and one Newton-Raphson
step. Not for sigmoid: the estimate makes ``sigmoid(0)`` 0.49999997, not 0.5."""


class _Emitter:
    """Float arithmetic on one type at one builder, constants rounded to that type."""

    def __init__(self, builder: ir.IRBuilder, value_type: ir.Type) -> None:
        self.b = builder
        self.t = value_type
        self.is_f32 = isinstance(value_type, ir.FloatType)

    def c(self, value: float) -> ir.Constant:
        return ir.Constant(self.t, float(np.float32(value)) if self.is_f32 else float(value))

    def intrinsic(self, name: str, *args: ir.Value) -> ir.Value:
        fnty = ir.FunctionType(self.t, [self.t] * len(args))
        return self.b.call(self.b.module.declare_intrinsic(name, [self.t], fnty=fnty), list(args))

    def fma(self, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
        return self.intrinsic("llvm.fma", a, b, c)

    def horner(self, x: ir.Value, coefficients: Sequence[float]) -> ir.Value:
        """``c[0] + c[1] x + ... + c[n] x^n`` with one FMA per degree."""
        acc: ir.Value = self.c(coefficients[-1])
        for coefficient in reversed(coefficients[:-1]):
            acc = self.fma(acc, x, self.c(coefficient))
        return acc

    def select(self, cond: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.select(cond, a, b)

    def lt(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fcmp_ordered("<", a, b)

    def gt(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fcmp_ordered(">", a, b)

    def eq(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fcmp_ordered("==", a, b)

    def is_nan(self, a: ir.Value) -> ir.Value:
        return self.b.fcmp_unordered("uno", a, a)

    def abs(self, a: ir.Value) -> ir.Value:
        return self.intrinsic("llvm.fabs", a)

    def copysign(self, magnitude: ir.Value, sign: ir.Value) -> ir.Value:
        return self.intrinsic("llvm.copysign", magnitude, sign)

    def bounded_divide(self, numerator: ir.Value, denominator: ir.Value) -> ir.Value:
        """``numerator / denominator`` for a finite, nonzero denominator: flagged ``ninf
        arcp``, which lets the backend use a reciprocal estimate plus one Newton step
        (``vrcp14ps`` + 2 FMAs, ~1 ulp) where the function allows it (see
        ``RECIPROCAL_ESTIMATES``) instead of ``vdivps`` (~10 cycles a vector on Zen 4)."""
        return self.b.fdiv(numerator, denominator, flags=["ninf", "arcp"])

    def keep_nan(self, x: ir.Value, result: ir.Value) -> ir.Value:
        """``x`` where it is NaN (its payload, as libm returns it), else ``result``."""
        return self.select(self.is_nan(x), x, result)


# -- exp ----------------------------------------------------------------------------

# Cephes expf: exp(r) = 1 + r + r^2 P(r) on |r| <= ln2/2.
_EXP_F32 = (5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3, 1.3981999507e-3, 1.9875691500e-4)
_EXP_F64 = tuple(1.0 / math.factorial(k) for k in range(2, 14))


def _exp(e: _Emitter, x: ir.Value) -> ir.Value:
    b = e.b
    f32 = e.is_f32
    high, low = (89.0, -104.0) if f32 else (710.0, -746.0)  # past them: inf / 0 anyway
    # maxnum/minnum (vmaxps/vminps) return the number for a NaN operand, so ``clamped``
    # is never NaN and fptosi below never sees one; NaN is put back by keep_nan.
    clamped = e.intrinsic("llvm.minnum", e.intrinsic("llvm.maxnum", x, e.c(low)), e.c(high))
    n = e.intrinsic("llvm.roundeven", b.fmul(clamped, e.c(1.4426950408889634)))
    ln2_hi, ln2_lo = (0.693359375, -2.12194440e-4) if f32 else (6.93147180369123816490e-01, 1.90821492927058770002e-10)
    r = e.fma(n, e.c(-ln2_hi), clamped)
    r = e.fma(n, e.c(-ln2_lo), r)
    if f32:
        p = e.fma(b.fmul(r, r), e.horner(r, _EXP_F32), b.fadd(r, e.c(1.0)))
    else:
        p = e.fma(b.fmul(r, r), e.horner(r, _EXP_F64), b.fadd(r, e.c(1.0)))
    # p * 2^n in one correctly rounded step, subnormal results included: ``llvm.ldexp``
    # (one ``vscalefps`` on AVX-512, which LLVM's loop vectoriser widens like fma).
    whole = b.fptosi(n, I32)
    fnty = ir.FunctionType(e.t, [e.t, I32])
    ldexp = b.module.declare_intrinsic("llvm.ldexp", [e.t, I32], fnty=fnty)
    return e.keep_nan(x, b.call(ldexp, [p, whole]))


def exp(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return _exp(_Emitter(builder, x.type), x)


# -- log ----------------------------------------------------------------------------

# Cephes logf: log(1 + m) = m - m^2/2 + m^3 P(m) on m in [sqrt(1/2) - 1, sqrt(2) - 1).
_LOG_F32 = (
    3.3333331174e-1, -2.4999993993e-1, 2.0000714765e-1, -1.6668057665e-1, 1.4249322787e-1,
    -1.2420140846e-1, 1.1676998740e-1, -1.1514610310e-1, 7.0376836292e-2,
)


def log(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """f32 ``log`` (see module doc)."""
    e = _Emitter(builder, x.type)
    b = builder
    subnormal = e.lt(x, e.c(1.17549435e-38))  # also true for 0 and negatives: fixed below
    normal = e.select(subnormal, b.fmul(x, e.c(8388608.0)), x)  # * 2^23
    bits = b.bitcast(normal, I32)
    exponent = b.sub(b.and_(b.lshr(bits, ir.Constant(I32, 23)), ir.Constant(I32, 0xFF)), ir.Constant(I32, 126))
    exponent = b.select(subnormal, b.sub(exponent, ir.Constant(I32, 23)), exponent)
    mantissa = b.bitcast(b.or_(b.and_(bits, ir.Constant(I32, 0x007FFFFF)), ir.Constant(I32, 0x3F000000)), F32)
    small = e.lt(mantissa, e.c(0.70710678118654752440))  # m in [1/2, sqrt(1/2)): use 2m, e - 1
    exponent = b.select(small, b.sub(exponent, ir.Constant(I32, 1)), exponent)
    m = b.fsub(e.select(small, b.fadd(mantissa, mantissa), mantissa), e.c(1.0))
    ef = b.sitofp(exponent, F32)
    z = b.fmul(m, m)
    y = b.fmul(b.fmul(m, z), e.horner(m, _LOG_F32))
    y = e.fma(ef, e.c(-2.12194440e-4), y)
    y = e.fma(z, e.c(-0.5), y)
    result = e.fma(ef, e.c(0.693359375), b.fadd(m, y))
    result = e.select(e.eq(x, e.c(0.0)), e.c(-math.inf), result)
    result = e.select(e.lt(x, e.c(0.0)), e.c(math.nan), result)
    result = e.select(e.eq(x, e.c(math.inf)), x, result)
    return e.keep_nan(x, result)


def log1p(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """f32 ``log1p``: ``log(u) * x / (u - 1)`` with ``u = 1 + x`` cancels the rounding of
    ``u`` (Goldberg); ``x`` itself where ``u == 1``."""
    e = _Emitter(builder, x.type)
    b = builder
    u = b.fadd(x, e.c(1.0))
    um1 = b.fsub(u, e.c(1.0))
    exact_one = e.eq(um1, e.c(0.0))
    safe = e.select(exact_one, e.c(1.0), um1)
    corrected = b.fmul(log(builder, u), b.fdiv(x, safe))
    result = e.select(exact_one, x, corrected)
    return e.select(e.eq(x, e.c(math.inf)), x, result)


# -- tanh, expm1 --------------------------------------------------------------------

# tanh(x) = x P(x^2) / Q(x^2) on |x| <= 7.9053 (the rational minimax fit Eigen uses for
# float: 7 + 4 coefficients, ~2 ulp); beyond it tanh is 1 within 3e-7, and 1 exactly past 9.
_TANH_P = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
           -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)
_TANH_Q = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)


def tanh(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """f32 ``tanh`` (see module doc): one rational function instead of an ``exp``, a
    division and a second polynomial for small ``|x|``."""
    e = _Emitter(builder, x.type)
    b = builder
    a = e.abs(x)
    # |x| < 7.9 or NaN ? |x| : 7.9 (one vminps): NaN flows through the rational function
    # and both selects below to the result, with no compare-and-blend at the end.
    limit = e.c(7.90531110763549805)
    clamped = e.select(b.fcmp_unordered("<", a, limit), a, limit)
    square = b.fmul(clamped, clamped)
    numerator = b.fmul(clamped, e.horner(square, _TANH_P))
    ratio = e.bounded_divide(numerator, e.horner(square, _TANH_Q))  # Q >= 4.9e-3 > 0
    ratio = e.select(e.lt(a, e.c(0.0004)), a, ratio)  # tanh(x) = x in f32 below it
    ratio = e.select(e.gt(a, e.c(9.0)), e.c(1.0), ratio)
    return e.copysign(ratio, x)


_EXPM1_F32 = tuple(1.0 / math.factorial(k) for k in range(2, 10))


def expm1(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """f32 ``expm1``: Taylor polynomial on ``|x| < 1/2`` (no cancellation), ``exp(x) - 1``
    elsewhere."""
    e = _Emitter(builder, x.type)
    b = builder
    small = e.fma(b.fmul(x, x), e.horner(x, _EXPM1_F32), x)
    large = b.fsub(_exp(e, x), e.c(1.0))
    result = e.select(e.lt(e.abs(x), e.c(0.5)), small, large)
    return e.keep_nan(x, e.copysign(result, x))  # expm1 has the sign of x (keeps -0)


# -- erf ----------------------------------------------------------------------------

# erf(x) = x P(x^2) on |x| < 1; erfc(x) = exp(-x^2) Q(1/x) on [1, 4]: least-squares
# Chebyshev fits in float64, rounded to f32 (max error 6e-8 and 8e-9 absolute).
_ERF_SMALL = (
    1.1283791065216064, -0.3761262595653534, 0.11283597350120544, -0.02685432881116867,
    0.005189312621951103, -0.0008018859080038965, 7.882500358391553e-05,
)
_ERFC_LARGE = (
    0.0002749496197793633, 0.5589596629142761, 0.042608775198459625, -0.47395461797714233,
    0.5022039413452148, -0.24921603500843048, 0.02991912141442299, 0.02565707080066204,
    -0.00886930339038372,
)


def erf(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """f32 ``erf`` (see module doc); ``|x| >= 4`` is 1 in f32."""
    e = _Emitter(builder, x.type)
    b = builder
    a = e.abs(x)
    small = b.fmul(a, e.horner(b.fmul(a, a), _ERF_SMALL))
    clamped = e.select(e.lt(a, e.c(1.0)), e.c(1.0), e.select(e.gt(a, e.c(4.0)), e.c(4.0), a))
    square = b.fmul(clamped, clamped)
    square_error = e.fma(clamped, clamped, b.fsub(e.c(0.0), square))  # a^2 = square + error exactly
    gauss = b.fmul(_exp(e, b.fsub(e.c(0.0), square)), b.fsub(e.c(1.0), square_error))
    tail = b.fmul(gauss, e.horner(b.fdiv(e.c(1.0), clamped), _ERFC_LARGE))
    large = e.select(e.gt(a, e.c(4.0)), e.c(1.0), b.fsub(e.c(1.0), tail))
    result = e.copysign(e.select(e.lt(a, e.c(1.0)), small, large), x)
    return e.keep_nan(x, result)


F32_FUNCTIONS: dict[str, VectorMath] = {
    "math.exp": exp,
    "math.log": log,
    "math.log1p": log1p,
    "math.tanh": tanh,
    "math.expm1": expm1,
    "math.erf": erf,
}
"""``math`` ops with an f32 polynomial here (f16 is computed in f32 by the lowering)."""

F64_FUNCTIONS: dict[str, VectorMath] = {"math.exp": exp}
"""``math`` ops with an f64 polynomial here; the others stay libm calls for f64."""


def vector_math(op_name: str, value_type: ir.Type) -> VectorMath | None:
    """The polynomial implementation of ``op_name`` for ``value_type``, if there is one."""
    if isinstance(value_type, ir.FloatType):
        return F32_FUNCTIONS.get(op_name)
    if isinstance(value_type, ir.DoubleType):
        return F64_FUNCTIONS.get(op_name)
    return None
