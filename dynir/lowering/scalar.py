"""Scalar semantics of elementwise ``nn`` ops at the loop level (arith/math).

``emit_scalar(kb, op, args)`` appends the arith/math ops that compute one element of
``op``'s result from one element of each operand, so an elementwise op -- or a whole
fused chain of them -- becomes the body of one loop nest. The numpy ``reference`` on
each op is the specification; tests/lowering/test_elementwise.py compares the two for
every elementwise op and element type.

Values are computed in a *compute type*: ``f16`` widens to ``f32`` (the references
compute f16 in f32 and round once per op), unsigned integers are signless integers of
the same width, as their buffers hold them (``builder.memref_type``); the emitters pick
unsigned predicates, divisions and extensions from the op's declared tensor types.
``emit_scalar`` converts its arguments in and the result back to the buffer type.

```mlir
// nn.exp on f16:   %w = arith.extf %x : f16 to f32; %e = math.exp %w; arith.truncf %e
// nn.max on ui8:   %m = arith.maxui %x, %y : i8
```
"""

from __future__ import annotations

import math as pymath
from collections.abc import Callable, Sequence
from typing import ClassVar
import numpy as np
from xdsl.dialects import arith
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import (
    AnyFloat,
    Float16Type,
    Float64Type,
    IntegerType,
    Signedness,
    TensorType,
    f32,
    f64,
    i1,
    i32,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    VarConstraint,
    base,
    irdl_op_definition,
    operand_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure

from dynir.dialects.nn.activation import SELU_ALPHA, SELU_GAMMA
from dynir.dialects.nn.base import read_float, read_int, read_str
from dynir.ir.types import element_type, numpy_dtype
from dynir.lowering.builder import KernelBuilder, is_integer_type

ScalarEmitter = Callable[[KernelBuilder, Operation, list[SSAValue]], SSAValue]
_EMITTERS: dict[str, ScalarEmitter] = {}


class LoweringError(Exception):
    """An op (or attribute value) the loop lowering does not support."""


@irdl_op_definition
class RemFOp(IRDLOperation):
    """MLIR's ``arith.remf`` (C ``fmod``, exact), which xDSL 0.74 lacks; the LLVM backend
    translates it to ``frem``."""

    name = "arith.remf"
    T: ClassVar = VarConstraint("T", base(AnyFloat))
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)
    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue) -> None:
        super().__init__(operands=[lhs, rhs], result_types=[lhs.type])


def scalar(*names: str) -> Callable[[ScalarEmitter], ScalarEmitter]:
    def wrap(fn: ScalarEmitter) -> ScalarEmitter:
        for name in names:
            _EMITTERS[name] = fn
        return fn

    return wrap


def has_scalar_form(op: Operation) -> bool:
    return op.name in _EMITTERS


def emit_scalar(kb: KernelBuilder, op: Operation, args: Sequence[SSAValue]) -> SSAValue:
    emitter = _EMITTERS.get(op.name)
    if emitter is None:
        raise LoweringError(f"'{op.name}' has no scalar lowering")
    result = emitter(kb, op, [to_compute(kb, v) for v in args])
    return from_compute(kb, result, _element(op))


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
        return kb.add(arith.ExtFOp(value, f32))  # type: ignore[arg-type]
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
    if _float_width(value.type) > _float_width(element):
        return kb.add(arith.TruncFOp(value, element))  # type: ignore[arg-type]
    return kb.add(arith.ExtFOp(value, element))  # type: ignore[arg-type]


def constant(kb: KernelBuilder, value: float | int, element: Attribute) -> SSAValue:
    """A compute-type constant holding ``value`` as numpy's ``element`` dtype holds it."""
    ctype = compute_type(element)
    if isinstance(ctype, IntegerType):
        width = ctype.width.data
        bits = int(value) & ((1 << width) - 1)
        return kb.int_const(bits - (1 << width) if width > 1 and bits >= 1 << (width - 1) else bits, ctype)
    return kb.float_const(float(value), ctype)


def _element(op: Operation, result: int = 0) -> Attribute:
    t = op.results[result].type
    assert isinstance(t, TensorType)
    return t.element_type


def _operand_element(op: Operation, i: int = 0) -> Attribute:
    t = op.operands[i].type
    assert isinstance(t, TensorType)
    return t.element_type


def _float_width(t: Attribute) -> int:
    return int(getattr(t, "bitwidth", 0))


def _f(kb: KernelBuilder, x: float, like: SSAValue) -> SSAValue:
    return kb.float_const(x, like.type)


def _cmpf(kb: KernelBuilder, x: SSAValue, y: SSAValue, predicate: str) -> SSAValue:
    return kb.add(arith.CmpfOp(x, y, predicate))


# -- shared combinators (also used by the reduction and normalization lowerings) -----


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
    return _cmpf(kb, kb.add(xmath.AbsFOp(x)), _f(kb, pymath.inf, x), "olt")


def is_nan(kb: KernelBuilder, x: SSAValue) -> SSAValue:
    return _cmpf(kb, x, x, "uno")


# -- unary ------------------------------------------------------------------------


def _unary(math_op: type[Operation]) -> ScalarEmitter:
    return lambda kb, op, a: kb.add(math_op(a[0]))  # type: ignore[call-arg]


for _name, _cls in [
    ("nn.exp", xmath.ExpOp), ("nn.log", xmath.LogOp), ("nn.tanh", xmath.TanhOp),
    ("nn.sqrt", xmath.SqrtOp), ("nn.erf", xmath.ErfOp), ("nn.floor", xmath.FloorOp),
    ("nn.ceil", xmath.CeilOp), ("nn.round", xmath.RoundEvenOp), ("nn.sin", xmath.SinOp),
    ("nn.cos", xmath.CosOp),
]:  # fmt: skip
    _EMITTERS[_name] = _unary(_cls)


@scalar("nn.identity")
def _identity(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return a[0]


@scalar("nn.relu")
def _relu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    element = _operand_element(op)
    return a[0] if is_unsigned(element) else maximum(kb, a[0], constant(kb, 0, element))


def _sigmoid(kb: KernelBuilder, x: SSAValue) -> SSAValue:
    # As the reference: z = exp(-|x|); x >= 0 ? 1 / (1 + z) : z / (1 + z).
    z = kb.add(xmath.ExpOp(kb.add(arith.NegfOp(kb.add(xmath.AbsFOp(x))))))
    one_plus_z = kb.add(arith.AddfOp(_f(kb, 1.0, x), z))
    numerator = kb.select(_cmpf(kb, x, _f(kb, 0.0, x), "oge"), _f(kb, 1.0, x), z)
    return kb.add(arith.DivfOp(numerator, one_plus_z))


@scalar("nn.sigmoid")
def _sigmoid_op(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return _sigmoid(kb, a[0])


@scalar("nn.silu")
def _silu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return kb.add(arith.MulfOp(a[0], _sigmoid(kb, a[0])))


def _clamp01(kb: KernelBuilder, y: SSAValue) -> SSAValue:
    return minimum(kb, maximum(kb, y, _f(kb, 0.0, y)), _f(kb, 1.0, y))


@scalar("nn.hard_sigmoid")
def _hard_sigmoid(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    alpha = read_float(getattr(op, "alpha", None), 0.2)
    beta = read_float(getattr(op, "beta", None), 0.5)
    x = a[0]
    return _clamp01(kb, kb.add(arith.AddfOp(kb.add(arith.MulfOp(x, _f(kb, alpha, x))), _f(kb, beta, x))))


@scalar("nn.hard_swish")
def _hard_swish(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x = a[0]
    y = kb.add(arith.AddfOp(kb.add(arith.DivfOp(x, _f(kb, 6.0, x))), _f(kb, 0.5, x)))
    return kb.add(arith.MulfOp(x, _clamp01(kb, y)))


@scalar("nn.gelu")
def _gelu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x = a[0]
    half_x = kb.add(arith.MulfOp(_f(kb, 0.5, x), x))
    if read_str(getattr(op, "approximate", None), "none") == "tanh":
        cube = kb.add(arith.MulfOp(kb.add(arith.MulfOp(x, x)), x))
        inner = kb.add(arith.AddfOp(x, kb.add(arith.MulfOp(_f(kb, 0.044715, x), cube))))
        t = kb.add(xmath.TanhOp(kb.add(arith.MulfOp(_f(kb, pymath.sqrt(2.0 / pymath.pi), x), inner))))
    else:
        t = kb.add(xmath.ErfOp(kb.add(arith.DivfOp(x, _f(kb, pymath.sqrt(2.0), x)))))
    return kb.add(arith.MulfOp(half_x, kb.add(arith.AddfOp(_f(kb, 1.0, x), t))))


@scalar("nn.softplus")
def _softplus(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    # np.logaddexp(0, x) = max(x, 0) + log1p(exp(-|x|))
    x = a[0]
    e = kb.add(xmath.ExpOp(kb.add(arith.NegfOp(kb.add(xmath.AbsFOp(x))))))
    return kb.add(arith.AddfOp(maximum(kb, x, _f(kb, 0.0, x)), kb.add(xmath.Log1pOp(e))))


@scalar("nn.softsign")
def _softsign(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x = a[0]
    return kb.add(arith.DivfOp(x, kb.add(arith.AddfOp(_f(kb, 1.0, x), kb.add(xmath.AbsFOp(x))))))


@scalar("nn.leaky_relu")
def _leaky_relu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x = a[0]
    alpha = read_float(getattr(op, "alpha", None), 0.01)
    return kb.select(_cmpf(kb, x, _f(kb, 0.0, x), "oge"), x, kb.add(arith.MulfOp(x, _f(kb, alpha, x))))


def _elu_like(kb: KernelBuilder, x: SSAValue, alpha: float, positive: str) -> SSAValue:
    # x (where x `positive` 0) else alpha * expm1(min(x, 0)), as the references.
    em1 = kb.add(xmath.ExpM1Op(minimum(kb, x, _f(kb, 0.0, x))))
    negative = kb.add(arith.MulfOp(_f(kb, alpha, x), em1))
    return kb.select(_cmpf(kb, x, _f(kb, 0.0, x), positive), x, negative)


@scalar("nn.elu")
def _elu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return _elu_like(kb, a[0], read_float(getattr(op, "alpha", None), 1.0), "oge")


@scalar("nn.selu")
def _selu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    alpha = read_float(getattr(op, "alpha", None), SELU_ALPHA)
    gamma = read_float(getattr(op, "gamma", None), SELU_GAMMA)
    y = _elu_like(kb, a[0], alpha, "ogt")
    return kb.add(arith.MulfOp(_f(kb, gamma, y), y))


@scalar("nn.reciprocal")
def _reciprocal(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return kb.add(arith.DivfOp(_f(kb, 1.0, a[0]), a[0]))


@scalar("nn.neg")
def _neg(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    if is_integer_type(a[0].type):
        return kb.subi(kb.int_const(0, a[0].type), a[0])  # wraps, like numpy
    return kb.add(arith.NegfOp(a[0]))


@scalar("nn.abs")
def _abs(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return absolute(kb, a[0], is_unsigned(_operand_element(op)))


@scalar("nn.sign")
def _sign(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, element = a[0], _operand_element(op)
    zero, one = constant(kb, 0, element), constant(kb, 1, element)
    if is_unsigned(element):
        return kb.select(kb.cmpi(x, zero, "ne"), one, zero)
    if is_integer_type(x.type):
        negative = kb.select(kb.cmpi(x, zero, "slt"), constant(kb, -1, element), zero)
        return kb.select(kb.cmpi(x, zero, "sgt"), one, negative)
    # 0 and NaN map to themselves.
    negative = kb.select(_cmpf(kb, x, zero, "olt"), _f(kb, -1.0, x), x)
    return kb.select(_cmpf(kb, x, zero, "ogt"), one, negative)


@scalar("nn.clip")
def _clip(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, element = a[0], _operand_element(op)
    dtype = numpy_dtype(element)
    unsigned = is_unsigned(element)
    for name, combine in (("min", maximum), ("max", minimum)):
        attr = getattr(op, name, None)
        if attr is not None:
            with np.errstate(all="ignore"):  # the bound as the reference casts it
                bound = np.asarray(read_float(attr)).astype(dtype).item()
            x = combine(kb, x, constant(kb, bound, element), unsigned)
    return x


@scalar("nn.not")
def _not(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return kb.add(arith.XOrIOp(a[0], kb.int_const(1, i1)))


# -- binary -------------------------------------------------------------------------


def _binary(float_op: type[Operation], int_op: type[Operation]) -> ScalarEmitter:
    def emit(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
        cls = int_op if is_integer_type(a[0].type) else float_op
        return kb.add(cls(a[0], a[1]))  # type: ignore[call-arg]

    return emit


_EMITTERS["nn.add"] = _binary(arith.AddfOp, arith.AddiOp)
_EMITTERS["nn.sub"] = _binary(arith.SubfOp, arith.SubiOp)
_EMITTERS["nn.mul"] = _binary(arith.MulfOp, arith.MuliOp)
_EMITTERS["nn.and"] = _binary(arith.AndIOp, arith.AndIOp)
_EMITTERS["nn.or"] = _binary(arith.OrIOp, arith.OrIOp)
_EMITTERS["nn.xor"] = _binary(arith.XOrIOp, arith.XOrIOp)


@scalar("nn.max")
def _max_op(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return maximum(kb, a[0], a[1], is_unsigned(_operand_element(op)))


@scalar("nn.min")
def _min_op(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return minimum(kb, a[0], a[1], is_unsigned(_operand_element(op)))


def _safe_divisor(kb: KernelBuilder, y: SSAValue, unsigned: bool) -> SSAValue:
    """``y`` with 0 (and, signed, -1: INT_MIN / -1 overflows) replaced by 1: integer
    division by them traps on x86. Callers patch those lanes' results."""
    one = kb.int_const(1, y.type)
    bad = kb.cmpi(y, kb.int_const(0, y.type), "eq")
    if not unsigned:
        bad = kb.add(arith.OrIOp(bad, kb.cmpi(y, kb.int_const(-1, y.type), "eq")))
    return kb.select(bad, one, y)


@scalar("nn.div")
def _div(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, y = a
    if not is_integer_type(x.type):
        return kb.add(arith.DivfOp(x, y))
    zero = kb.int_const(0, x.type)
    unsigned = is_unsigned(_operand_element(op))
    safe = _safe_divisor(kb, y, unsigned)
    q = kb.add(arith.DivUIOp(x, safe) if unsigned else arith.DivSIOp(x, safe))
    if not unsigned:  # x / -1 = -x, wrapping like numpy
        q = kb.select(kb.cmpi(y, kb.int_const(-1, y.type), "eq"), kb.subi(zero, x), q)
    return kb.select(kb.cmpi(y, zero, "eq"), zero, q)  # numpy: x / 0 = 0


@scalar("nn.mod")
def _mod(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, y = a
    if not is_integer_type(x.type):
        return kb.add(RemFOp(x, y))  # verifier: floats need fmod = 1
    unsigned = is_unsigned(_operand_element(op))
    safe = _safe_divisor(kb, y, unsigned)  # x % 0 = 0 in numpy; x % +-1 = 0
    if unsigned:
        return kb.add(arith.RemUIOp(x, safe))
    r = kb.remsi(x, safe)
    if read_int(getattr(op, "fmod", None), 0):
        return r
    # Python-style modulo: the result takes the divisor's sign.
    zero = kb.int_const(0, x.type)
    fix = kb.add(arith.AndIOp(kb.cmpi(r, zero, "ne"), kb.cmpi(kb.add(arith.XOrIOp(r, y)), zero, "slt")))
    return kb.select(fix, kb.addi(r, y), r)


@scalar("nn.pow")
def _pow(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, y = a
    base, exponent = _operand_element(op, 0), _operand_element(op, 1)
    if not is_integer_type(base):
        # np.power(x, y.astype(x.dtype))
        y = to_compute(kb, convert(kb, y, exponent, base))
        return kb.add(xmath.PowFOp(x, y))
    # Integer base: numpy computes in a float type, then casts back (astype).
    if is_integer_type(exponent):
        work: Attribute = f64
    else:
        work = element_type(np.result_type(numpy_dtype(base), numpy_dtype(exponent)))
    xw = to_compute(kb, convert(kb, x, base, work))
    yw = to_compute(kb, convert(kb, y, exponent, work))
    power = from_compute(kb, kb.add(xmath.PowFOp(xw, yw)), work)
    return convert(kb, power, work, base)


@scalar("nn.prelu")
def _prelu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, slope = a
    element = _operand_element(op)
    if is_unsigned(element):
        return x
    if is_integer_type(x.type):
        return kb.select(kb.cmpi(x, kb.int_const(0, x.type), "slt"), kb.muli(x, slope), x)
    return kb.select(_cmpf(kb, x, _f(kb, 0.0, x), "olt"), kb.add(arith.MulfOp(x, slope)), x)


_COMPARE = {
    "nn.equal": ("oeq", "eq", "eq"),
    "nn.less": ("olt", "slt", "ult"),
    "nn.less_equal": ("ole", "sle", "ule"),
    "nn.greater": ("ogt", "sgt", "ugt"),
    "nn.greater_equal": ("oge", "sge", "uge"),
}


@scalar(*_COMPARE)
def _compare(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    float_predicate, signed_predicate, unsigned_predicate = _COMPARE[op.name]
    if is_integer_type(a[0].type):
        unsigned = is_unsigned(_operand_element(op))
        return kb.cmpi(a[0], a[1], unsigned_predicate if unsigned else signed_predicate)
    return _cmpf(kb, a[0], a[1], float_predicate)


@scalar("nn.where")
def _where(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return kb.select(a[0], a[1], a[2])


@scalar("nn.cast")
def _cast(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return convert(kb, a[0], _operand_element(op), _element(op))


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
        return _cmpf(kb, x, _f(kb, 0.0, x), "une")
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
        value = kb.add(arith.UIToFPOp(x, wide) if unsigned else arith.SIToFPOp(x, wide))  # type: ignore[arg-type]
        return value
    if isinstance(x.type, Float64Type) and isinstance(target, Float16Type):
        return kb.add(arith.TruncFOp(_to_f32_round_to_odd(kb, x), target))  # type: ignore[arg-type]
    if _float_width(x.type) > _float_width(target):
        return kb.add(arith.TruncFOp(x, target))  # type: ignore[arg-type]
    if _float_width(x.type) < _float_width(compute_type(target)):
        return kb.add(arith.ExtFOp(x, compute_type(target)))  # type: ignore[arg-type]
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
        arith.AndIOp(_cmpf(kb, x, _f(kb, -limit, x), "oge"), _cmpf(kb, x, _f(kb, limit, x), "olt"))
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
    high = _truncate_to_signed(kb, kb.add(arith.SubfOp(x, _f(kb, half, x))), width)
    high = kb.add(arith.XOrIOp(high, kb.int_const(-(2 ** (width - 1)), IntegerType(width))))
    return kb.select(_cmpf(kb, x, _f(kb, half, x), "oge"), high, low)


def _to_f32_round_to_odd(kb: KernelBuilder, x: SSAValue) -> SSAValue:
    """f64 -> f32 rounding to odd, so that a following f32 -> f16 rounding is the
    correctly rounded f64 -> f16 (the JIT process has no ``__truncdfhf2``)."""
    nearest = kb.add(arith.TruncFOp(x, f32))  # type: ignore[arg-type]
    back = kb.add(arith.ExtFOp(nearest, f64))  # type: ignore[arg-type]
    inexact = _cmpf(kb, back, x, "une")
    bits = kb.add(arith.BitcastOp(nearest, i32))
    # Rounded away from zero: step back toward zero (|bits| - 1 in sign-magnitude).
    overshoot = _cmpf(kb, kb.add(xmath.AbsFOp(back)), kb.add(xmath.AbsFOp(x)), "ogt")
    bits = kb.select(overshoot, kb.subi(bits, kb.int_const(1, i32)), bits)
    bits = kb.select(inexact, kb.add(arith.OrIOp(bits, kb.int_const(1, i32))), bits)
    return kb.add(arith.BitcastOp(bits, f32))
