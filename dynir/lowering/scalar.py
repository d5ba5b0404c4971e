"""Scalar semantics of elementwise ``nn`` ops at the loop level (arith/math).

``emit_scalar(kb, op, args)`` appends the arith/math ops that compute one element of
``op``'s result from one element of each operand, so an elementwise op -- or a whole
fused chain of them -- becomes the body of one loop nest. The numpy ``reference`` on
each op is the specification; tests/lowering/test_elementwise.py compares the two for
every elementwise op and element type.

Emitters work on *compute types* (``dynir.lowering.numeric``: f16 in f32, unsigned
integers signless) and pick unsigned predicates and divisions from the op's declared
tensor types; ``emit_scalar`` converts the arguments in and the result back to the
type the result's buffer holds.

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
from xdsl.dialects.builtin import AnyFloatConstr, TensorType, f64, i1
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    VarConstraint,
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
from dynir.lowering.numeric import (
    absolute,
    cmpf,
    constant,
    convert,
    float_like as _f,
    from_compute,
    is_unsigned,
    maximum,
    minimum,
    to_compute,
)

ScalarEmitter = Callable[[KernelBuilder, Operation, list[SSAValue]], SSAValue]
_EMITTERS: dict[str, ScalarEmitter] = {}


class LoweringError(Exception):
    """An op (or attribute value) the loop lowering does not support."""


@irdl_op_definition
class RemFOp(IRDLOperation):
    """MLIR's ``arith.remf`` (C ``fmod``, exact), which xDSL 0.74 lacks; the LLVM backend
    translates it to ``frem``."""

    name = "arith.remf"
    T: ClassVar = VarConstraint("T", AnyFloatConstr)
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


def _element(op: Operation, result: int = 0) -> Attribute:
    t = op.results[result].type
    assert isinstance(t, TensorType)
    element: Attribute = t.element_type
    return element


def _operand_element(op: Operation, i: int = 0) -> Attribute:
    t = op.operands[i].type
    assert isinstance(t, TensorType)
    element: Attribute = t.element_type
    return element


# -- unary ------------------------------------------------------------------------


def _unary(math_op: Callable[[SSAValue], Operation]) -> ScalarEmitter:
    return lambda kb, op, a: kb.add(math_op(a[0]))


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
    if is_unsigned(element):
        return a[0]
    zero = constant(kb, 0, element)
    if is_integer_type(element):
        return maximum(kb, a[0], zero)
    # x > 0 or NaN ? x : 0 -- one ``vmaxps`` with x as the operand it returns for NaN,
    # where ``maximum`` (llvm.maximum) is max + compare + blend.
    return kb.select(cmpf(kb, a[0], zero, "ugt"), a[0], zero)


def _sigmoid(kb: KernelBuilder, x: SSAValue) -> SSAValue:
    # 1 / (1 + exp(-x)): accurate to ~2 ulp everywhere (for x < 0 the division of 1 by a
    # large 1 + exp(-x) loses nothing), and three ops per element fewer than the
    # reference's exp(-|x|) with a select. Past x < -88.7 exp(-x) is inf and the result
    # 0, where the reference gives a subnormal below 2.9e-39.
    z = kb.add(xmath.ExpOp(kb.add(arith.NegfOp(x))))
    return kb.add(arith.DivfOp(_f(kb, 1.0, x), kb.add(arith.AddfOp(_f(kb, 1.0, x), z))))


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
    return kb.select(cmpf(kb, x, _f(kb, 0.0, x), "oge"), x, kb.add(arith.MulfOp(x, _f(kb, alpha, x))))


def _elu_like(kb: KernelBuilder, x: SSAValue, alpha: float, positive: str) -> SSAValue:
    # x (where x `positive` 0) else alpha * expm1(min(x, 0)), as the references.
    em1 = kb.add(xmath.ExpM1Op(minimum(kb, x, _f(kb, 0.0, x))))
    negative = kb.add(arith.MulfOp(_f(kb, alpha, x), em1))
    return kb.select(cmpf(kb, x, _f(kb, 0.0, x), positive), x, negative)


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
    negative = kb.select(cmpf(kb, x, zero, "olt"), _f(kb, -1.0, x), x)
    return kb.select(cmpf(kb, x, zero, "ogt"), one, negative)


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


BinaryOp = Callable[[SSAValue, SSAValue], Operation]


def _binary(float_op: BinaryOp, int_op: BinaryOp) -> ScalarEmitter:
    def emit(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
        make = int_op if is_integer_type(a[0].type) else float_op
        return kb.add(make(a[0], a[1]))

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
    return kb.select(cmpf(kb, x, _f(kb, 0.0, x), "olt"), kb.add(arith.MulfOp(x, slope)), x)


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
    return cmpf(kb, a[0], a[1], float_predicate)


@scalar("nn.where")
def _where(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return kb.select(a[0], a[1], a[2])


@scalar("nn.cast")
def _cast(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return convert(kb, a[0], _operand_element(op), _element(op))
