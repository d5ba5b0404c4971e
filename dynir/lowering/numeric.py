"""Numeric building blocks of the loop lowerings: compute types, constants, numpy-exact
combinators (NaN-propagating max/min, wrapping integer arithmetic) and ``convert``,
ONNX Cast as numpy's ``astype`` does it on x86-64.

Values are computed in a *compute type*: ``f16`` widens to ``f32`` (the references
compute f16 in f32 and round once per op), unsigned integers are signless integers of
the same width, as their buffers hold them (``builder.memref_type``); callers pick
unsigned predicates, divisions and extensions from the op's declared tensor types.

```mlir
// f16 exp:        %w = arith.extf %x : f16 to f32; %e = math.exp %w; arith.truncf %e
// f32 -> i32:     %t = arith.fptosi %x; arith.select %fits, %t, %int_min
```
"""

from __future__ import annotations

import math as pymath

from xdsl.dialects import arith
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import Float16Type, Float64Type, IntegerType, Signedness, f32, f64, i1, i32
from xdsl.ir import Attribute, SSAValue

from dynir.lowering.builder import KernelBuilder, is_integer_type

# -- compute types ------------------------------------------------------------------


def is_unsigned(element: Attribute) -> bool:
    return isinstance(element, IntegerType) and element.signedness.data == Signedness.UNSIGNED


def compute_type(element: Attribute) -> Attribute:
    """The register type values of ``element`` are computed in (see module doc)."""
    if isinstance(element, Float16Type):
        return f32
    if is_unsigned(element):
        assert isinstance(element, IntegerType)
        return IntegerType(element.width.data)
    return element


def to_compute(kb: KernelBuilder, value: SSAValue) -> SSAValue:
    """``value`` in its compute type (f16 -> f32, unsigned -> signless)."""
    target = compute_type(value.type)
    if target == value.type:
        return value
    if isinstance(value.type, Float16Type):
        return kb.add(arith.ExtFOp(value, f32))
    return kb.add(arith.BitcastOp(value, target))


def from_compute(kb: KernelBuilder, value: SSAValue, element: Attribute) -> SSAValue:
    """``value`` (a compute-type or ``element``-typed value) as buffers of ``element``
    hold it: floats in their own type, integers signless (``memref_type``)."""
    if isinstance(element, IntegerType):
        element = compute_type(element)
    if value.type == element:
        return value
    if isinstance(element, IntegerType):
        return kb.add(arith.BitcastOp(value, element))
    if float_width(value.type) > float_width(element):
        return kb.add(arith.TruncFOp(value, element))
    return kb.add(arith.ExtFOp(value, element))


def constant(kb: KernelBuilder, value: float | int, element: Attribute) -> SSAValue:
    """A compute-type constant holding ``value`` as numpy's ``element`` dtype holds it."""
    ctype = compute_type(element)
    if isinstance(ctype, IntegerType):
        width = ctype.width.data
        bits = int(value) & ((1 << width) - 1)
        return kb.int_const(bits - (1 << width) if width > 1 and bits >= 1 << (width - 1) else bits, ctype)
    return kb.float_const(float(value), ctype)


def float_width(t: Attribute) -> int:
    return int(getattr(t, "bitwidth", 0))


def float_like(kb: KernelBuilder, x: float, like: SSAValue) -> SSAValue:
    return kb.float_const(x, like.type)


def cmpf(kb: KernelBuilder, x: SSAValue, y: SSAValue, predicate: str) -> SSAValue:
    return kb.add(arith.CmpfOp(x, y, predicate))


# -- combinators --------------------------------------------------------------------


def maximum(kb: KernelBuilder, x: SSAValue, y: SSAValue, unsigned: bool = False) -> SSAValue:
    """``np.maximum`` (NaN propagates)."""
    if is_integer_type(x.type):
        return kb.add(arith.MaxUIOp(x, y) if unsigned else arith.MaxSIOp(x, y))
    return kb.add(arith.MaximumfOp(x, y))


def minimum(kb: KernelBuilder, x: SSAValue, y: SSAValue, unsigned: bool = False) -> SSAValue:
    """``np.minimum`` (NaN propagates)."""
    if is_integer_type(x.type):
        return kb.add(arith.MinUIOp(x, y) if unsigned else arith.MinSIOp(x, y))
    return kb.add(arith.MinimumfOp(x, y))


def add(kb: KernelBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    return kb.add(arith.AddiOp(x, y) if is_integer_type(x.type) else arith.AddfOp(x, y))


def mul(kb: KernelBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    return kb.add(arith.MuliOp(x, y) if is_integer_type(x.type) else arith.MulfOp(x, y))


def absolute(kb: KernelBuilder, x: SSAValue, unsigned: bool = False) -> SSAValue:
    if unsigned:
        return x
    return kb.add(xmath.AbsIOp(x) if is_integer_type(x.type) else xmath.AbsFOp(x))


def is_finite(kb: KernelBuilder, x: SSAValue) -> SSAValue:
    """``np.isfinite`` for a float."""
    return cmpf(kb, kb.add(xmath.AbsFOp(x)), float_like(kb, pymath.inf, x), "olt")


def is_nan(kb: KernelBuilder, x: SSAValue) -> SSAValue:
    return cmpf(kb, x, x, "uno")


# -- conversions (ONNX Cast as numpy's astype does it on x86-64) --------------------


def convert(kb: KernelBuilder, x: SSAValue, source: Attribute, target: Attribute) -> SSAValue:
    """``x`` (of element type ``source``, or its compute type) as ``target``: anything
    to ``i1`` is ``!= 0``; int to int wraps or extends by the source's signedness;
    float to int truncates toward zero, and out-of-range or NaN values give what
    numpy's ``astype`` gives on x86-64 (never LLVM poison). Returns a value of
    ``target`` or of its compute type."""
    x = to_compute(kb, x)
    if source == target:
        return x
    if target == i1:
        if is_integer_type(x.type):
            return kb.cmpi(x, kb.int_const(0, x.type), "ne")
        return cmpf(kb, x, float_like(kb, 0.0, x), "une")
    if is_integer_type(target):
        assert isinstance(target, IntegerType)
        if is_integer_type(source):
            return _resize_int(kb, x, target.width.data, unsigned=source == i1 or is_unsigned(source))
        if isinstance(source, Float16Type) and is_unsigned(target) and target.width.data == 32:
            # numpy converts f16 to uint32 through int64 (so inf and NaN give 0).
            return _resize_int(kb, _truncate_to_signed(kb, x, 64), 32, unsigned=False)
        return _float_to_int(kb, x, target.width.data, is_unsigned(target))
    if is_integer_type(source):
        unsigned = source == i1 or is_unsigned(source)
        wide = f64 if isinstance(target, Float64Type) else f32
        value = kb.add(arith.UIToFPOp(x, wide) if unsigned else arith.SIToFPOp(x, wide))
        return value
    if isinstance(x.type, Float64Type) and isinstance(target, Float16Type):
        return kb.add(arith.TruncFOp(_to_f32_round_to_odd(kb, x), target))
    if float_width(x.type) > float_width(target):
        return kb.add(arith.TruncFOp(x, target))
    if float_width(x.type) < float_width(compute_type(target)):
        return kb.add(arith.ExtFOp(x, compute_type(target)))
    return x


def _resize_int(kb: KernelBuilder, x: SSAValue, width: int, *, unsigned: bool) -> SSAValue:
    assert isinstance(x.type, IntegerType)
    target = IntegerType(width)
    if x.type.width.data < width:
        return kb.add(arith.ExtUIOp(x, target) if unsigned else arith.ExtSIOp(x, target))
    if x.type.width.data > width:
        return kb.add(arith.TruncIOp(x, target))
    return x


def _truncate_to_signed(kb: KernelBuilder, x: SSAValue, width: int) -> SSAValue:
    """x86 ``cvtts?2si``: trunc(x) as a ``width``-bit signed integer, and INT_MIN when
    it does not fit or x is NaN."""
    limit = float(2 ** (width - 1))
    target = IntegerType(width)
    fits = kb.add(
        arith.AndIOp(cmpf(kb, x, float_like(kb, -limit, x), "oge"), cmpf(kb, x, float_like(kb, limit, x), "olt"))
    )
    # A select only yields its chosen operand, so the poison of an unfit fptosi is unused.
    return kb.select(fits, kb.add(arith.FPToSIOp(x, target)), kb.int_const(-(2 ** (width - 1)), target))


def _float_to_int(kb: KernelBuilder, x: SSAValue, width: int, unsigned: bool) -> SSAValue:
    if width < 32:  # through int32, then wrap (what C compilers emit for narrow types)
        return _resize_int(kb, _truncate_to_signed(kb, x, 32), width, unsigned=False)
    if not unsigned:
        return _truncate_to_signed(kb, x, width)
    # Unsigned 32/64: values >= 2**(w-1) convert as x - 2**(w-1) with the top bit set.
    half = float(2 ** (width - 1))
    low = _truncate_to_signed(kb, x, width)
    high = _truncate_to_signed(kb, kb.add(arith.SubfOp(x, float_like(kb, half, x))), width)
    high = kb.add(arith.XOrIOp(high, kb.int_const(-(2 ** (width - 1)), IntegerType(width))))
    return kb.select(cmpf(kb, x, float_like(kb, half, x), "oge"), high, low)


def _to_f32_round_to_odd(kb: KernelBuilder, x: SSAValue) -> SSAValue:
    """f64 -> f32 rounding to odd, so that a following f32 -> f16 rounding is the
    correctly rounded f64 -> f16 (the JIT process has no ``__truncdfhf2``)."""
    nearest = kb.add(arith.TruncFOp(x, f32))
    back = kb.add(arith.ExtFOp(nearest, f64))
    inexact = cmpf(kb, back, x, "une")
    bits = kb.add(arith.BitcastOp(nearest, i32))
    # Rounded away from zero: step back toward zero (|bits| - 1 in sign-magnitude).
    overshoot = cmpf(kb, kb.add(xmath.AbsFOp(back)), kb.add(xmath.AbsFOp(x)), "ogt")
    bits = kb.select(overshoot, kb.subi(bits, kb.int_const(1, i32)), bits)
    bits = kb.select(inexact, kb.add(arith.OrIOp(bits, kb.int_const(1, i32))), bits)
    return kb.add(arith.BitcastOp(bits, f32))
