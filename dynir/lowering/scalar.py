"""Scalar semantics of elementwise ``nn`` ops at the loop level (arith/math).

``emit_scalar(kb, op, args)`` appends the arith/math ops that compute one element of
``op``'s result from one element of each operand, so an elementwise op -- or a whole
fused chain of them -- becomes the body of one loop nest. The numpy ``reference`` on
each op is the specification; tests compare the two.
"""

from __future__ import annotations

import math as pymath
from collections.abc import Callable, Sequence

from xdsl.dialects import arith
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import IntegerType, TensorType, i1
from xdsl.ir import Attribute, Operation, SSAValue

from dynir.dialects.nn.base import read_float, read_int, read_str
from dynir.lowering.builder import KernelBuilder, is_integer_type

ScalarEmitter = Callable[[KernelBuilder, Operation, list[SSAValue]], SSAValue]
_EMITTERS: dict[str, ScalarEmitter] = {}


class LoweringError(Exception):
    """An op (or attribute value) the loop lowering does not support."""


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
    return emitter(kb, op, list(args))


def _element(op: Operation) -> Attribute:
    t = op.results[0].type
    assert isinstance(t, TensorType)
    return t.element_type


def _operand_element(op: Operation, i: int = 0) -> Attribute:
    t = op.operands[i].type
    assert isinstance(t, TensorType)
    return t.element_type


def _f(kb: KernelBuilder, x: float, like: SSAValue) -> SSAValue:
    return kb.float_const(x, like.type)


def _unary(math_op: type[Operation]) -> ScalarEmitter:
    return lambda kb, op, a: kb.add(math_op(a[0]))  # type: ignore[call-arg]


for _name, _cls in [
    ("nn.exp", xmath.ExpOp), ("nn.log", xmath.LogOp), ("nn.tanh", xmath.TanhOp),
    ("nn.sqrt", xmath.SqrtOp), ("nn.erf", xmath.ErfOp), ("nn.floor", xmath.FloorOp),
    ("nn.ceil", xmath.CeilOp), ("nn.round", xmath.RoundEvenOp), ("nn.sin", xmath.SinOp),
    ("nn.cos", xmath.CosOp),
]:
    _EMITTERS[_name] = _unary(_cls)


@scalar("nn.identity", "nn.dropout")
def _identity(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return a[0]


def _max(kb: KernelBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    if is_integer_type(x.type):
        return kb.add(arith.MaxSIOp(x, y))
    return kb.add(arith.MaximumfOp(x, y))


def _min(kb: KernelBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    if is_integer_type(x.type):
        return kb.add(arith.MinSIOp(x, y))
    return kb.add(arith.MinimumfOp(x, y))


def _sigmoid(kb: KernelBuilder, x: SSAValue) -> SSAValue:
    neg = kb.add(arith.NegfOp(x))
    e = kb.add(xmath.ExpOp(neg))
    return kb.add(arith.DivfOp(_f(kb, 1.0, x), kb.add(arith.AddfOp(_f(kb, 1.0, x), e))))


@scalar("nn.relu")
def _relu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    zero = _f(kb, 0.0, a[0]) if not is_integer_type(a[0].type) else kb.int_const(0, a[0].type)
    return _max(kb, a[0], zero)


@scalar("nn.leaky_relu")
def _leaky_relu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    alpha = read_float(getattr(op, "alpha", None), 0.01)
    x = a[0]
    neg = kb.add(arith.CmpfOp(x, _f(kb, 0.0, x), "olt"))
    return kb.select(neg, kb.add(arith.MulfOp(x, _f(kb, alpha, x))), x)


@scalar("nn.sigmoid")
def _sigmoid_op(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return _sigmoid(kb, a[0])


@scalar("nn.silu")
def _silu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return kb.add(arith.MulfOp(a[0], _sigmoid(kb, a[0])))


@scalar("nn.hard_sigmoid")
def _hard_sigmoid(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    alpha = read_float(getattr(op, "alpha", None), 0.2)
    beta = read_float(getattr(op, "beta", None), 0.5)
    x = a[0]
    y = kb.add(arith.AddfOp(kb.add(arith.MulfOp(x, _f(kb, alpha, x))), _f(kb, beta, x)))
    return _min(kb, _max(kb, y, _f(kb, 0.0, x)), _f(kb, 1.0, x))


@scalar("nn.hard_swish")
def _hard_swish(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x = a[0]
    y = kb.add(arith.AddfOp(kb.add(arith.MulfOp(x, _f(kb, 1.0 / 6.0, x))), _f(kb, 0.5, x)))
    return kb.add(arith.MulfOp(x, _min(kb, _max(kb, y, _f(kb, 0.0, x)), _f(kb, 1.0, x))))


@scalar("nn.gelu")
def _gelu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x = a[0]
    half_x = kb.add(arith.MulfOp(x, _f(kb, 0.5, x)))
    if read_str(getattr(op, "approximate", None), "none") == "tanh":
        cube = kb.add(arith.MulfOp(kb.add(arith.MulfOp(x, x)), x))
        inner = kb.add(arith.AddfOp(x, kb.add(arith.MulfOp(cube, _f(kb, 0.044715, x)))))
        t = kb.add(xmath.TanhOp(kb.add(arith.MulfOp(inner, _f(kb, pymath.sqrt(2.0 / pymath.pi), x)))))
    else:
        t = kb.add(xmath.ErfOp(kb.add(arith.MulfOp(x, _f(kb, 1.0 / pymath.sqrt(2.0), x)))))
    return kb.add(arith.MulfOp(half_x, kb.add(arith.AddfOp(t, _f(kb, 1.0, x)))))


@scalar("nn.softplus")
def _softplus(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    # log(1 + exp(x)) computed stably as max(x, 0) + log(1 + exp(-|x|))
    x = a[0]
    absx = kb.add(xmath.AbsFOp(x))
    e = kb.add(xmath.ExpOp(kb.add(arith.NegfOp(absx))))
    return kb.add(arith.AddfOp(_max(kb, x, _f(kb, 0.0, x)), kb.add(xmath.Log1pOp(e))))


@scalar("nn.softsign")
def _softsign(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x = a[0]
    return kb.add(arith.DivfOp(x, kb.add(arith.AddfOp(_f(kb, 1.0, x), kb.add(xmath.AbsFOp(x))))))


def _elu_like(kb: KernelBuilder, x: SSAValue, alpha: float, scale: float) -> SSAValue:
    em1 = kb.add(arith.SubfOp(kb.add(xmath.ExpOp(x)), _f(kb, 1.0, x)))
    neg = kb.add(arith.MulfOp(em1, _f(kb, alpha, x)))
    pos = kb.add(arith.CmpfOp(x, _f(kb, 0.0, x), "ogt"))
    y = kb.select(pos, x, neg)
    return y if scale == 1.0 else kb.add(arith.MulfOp(y, _f(kb, scale, x)))


@scalar("nn.elu")
def _elu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return _elu_like(kb, a[0], read_float(getattr(op, "alpha", None), 1.0), 1.0)


@scalar("nn.selu")
def _selu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    alpha = read_float(getattr(op, "alpha", None), 1.6732632423543772)
    gamma = read_float(getattr(op, "gamma", None), 1.0507009873554805)
    return _elu_like(kb, a[0], alpha, gamma)


@scalar("nn.reciprocal")
def _reciprocal(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return kb.add(arith.DivfOp(_f(kb, 1.0, a[0]), a[0]))


@scalar("nn.neg")
def _neg(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    if is_integer_type(a[0].type):
        return kb.subi(kb.int_const(0, a[0].type), a[0])
    return kb.add(arith.NegfOp(a[0]))


@scalar("nn.abs")
def _abs(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    if is_integer_type(a[0].type):
        return kb.add(xmath.AbsIOp(a[0]))
    return kb.add(xmath.AbsFOp(a[0]))


@scalar("nn.sign")
def _sign(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x = a[0]
    if is_integer_type(x.type):
        zero, one, m1 = kb.int_const(0, x.type), kb.int_const(1, x.type), kb.int_const(-1, x.type)
        return kb.select(kb.cmpi(x, zero, "sgt"), one, kb.select(kb.cmpi(x, zero, "slt"), m1, zero))
    zero = _f(kb, 0.0, x)
    pos = kb.select(kb.add(arith.CmpfOp(x, zero, "ogt")), _f(kb, 1.0, x), zero)
    return kb.select(kb.add(arith.CmpfOp(x, zero, "olt")), _f(kb, -1.0, x), pos)


@scalar("nn.clip")
def _clip(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x = a[0]
    lo, hi = getattr(op, "min", None), getattr(op, "max", None)
    integer = is_integer_type(x.type)
    if lo is not None:
        v = read_float(lo)
        x = _max(kb, x, kb.int_const(int(v), x.type) if integer else _f(kb, v, x))
    if hi is not None:
        v = read_float(hi)
        x = _min(kb, x, kb.int_const(int(v), x.type) if integer else _f(kb, v, x))
    return x


@scalar("nn.not")
def _not(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return kb.add(arith.XOrIOp(a[0], kb.int_const(1, i1)))


# binary ------------------------------------------------------------------------


def _binary(float_op: type[Operation], int_op: type[Operation]) -> ScalarEmitter:
    def emit(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
        cls = int_op if is_integer_type(a[0].type) else float_op
        return kb.add(cls(a[0], a[1]))  # type: ignore[call-arg]

    return emit


_EMITTERS["nn.add"] = _binary(arith.AddfOp, arith.AddiOp)
_EMITTERS["nn.sub"] = _binary(arith.SubfOp, arith.SubiOp)
_EMITTERS["nn.mul"] = _binary(arith.MulfOp, arith.MuliOp)
_EMITTERS["nn.div"] = _binary(arith.DivfOp, arith.DivSIOp)
_EMITTERS["nn.and"] = _binary(arith.AndIOp, arith.AndIOp)
_EMITTERS["nn.or"] = _binary(arith.OrIOp, arith.OrIOp)
_EMITTERS["nn.xor"] = _binary(arith.XOrIOp, arith.XOrIOp)


@scalar("nn.max")
def _max_op(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return _max(kb, a[0], a[1])


@scalar("nn.min")
def _min_op(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return _min(kb, a[0], a[1])


@scalar("nn.pow")
def _pow(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, y = a
    if is_integer_type(x.type):
        raise LoweringError("'nn.pow' on integers has no loop lowering yet")
    if y.type != x.type:
        y = _convert(kb, y, x.type)
    return kb.add(xmath.PowFOp(x, y))


@scalar("nn.mod")
def _mod(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, y = a
    if not is_integer_type(x.type):
        return kb.add(arith.RemFOp(x, y)) if hasattr(arith, "RemFOp") else _fmod(kb, x, y)
    if read_int(getattr(op, "fmod", None), 0):
        return kb.remsi(x, y)
    # Python-style modulo: result takes the divisor's sign.
    r = kb.remsi(x, y)
    zero = kb.int_const(0, x.type)
    fix = kb.add(arith.AndIOp(kb.cmpi(r, zero, "ne"), kb.cmpi(kb.add(arith.XOrIOp(r, y)), zero, "slt")))
    return kb.select(fix, kb.addi(r, y), r)


def _fmod(kb: KernelBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    q = kb.add(xmath.TruncOp(kb.add(arith.DivfOp(x, y))))
    return kb.add(arith.SubfOp(x, kb.add(arith.MulfOp(q, y))))


@scalar("nn.prelu")
def _prelu(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, slope = a
    neg = kb.add(arith.CmpfOp(x, _f(kb, 0.0, x), "olt"))
    return kb.select(neg, kb.add(arith.MulfOp(x, slope)), x)


_COMPARE = {
    "nn.equal": ("oeq", "eq"),
    "nn.less": ("olt", "slt"),
    "nn.less_equal": ("ole", "sle"),
    "nn.greater": ("ogt", "sgt"),
    "nn.greater_equal": ("oge", "sge"),
}


@scalar(*_COMPARE)
def _compare(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    fpred, ipred = _COMPARE[op.name]
    if is_integer_type(a[0].type):
        return kb.cmpi(a[0], a[1], ipred)
    return kb.add(arith.CmpfOp(a[0], a[1], fpred))


@scalar("nn.where")
def _where(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return kb.select(a[0], a[1], a[2])


@scalar("nn.cast")
def _cast(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    return _convert(kb, a[0], _element(op))


def _convert(kb: KernelBuilder, x: SSAValue, to: Attribute) -> SSAValue:
    """ONNX Cast semantics for one scalar: float->int truncates toward zero,
    anything->bool is ``!= 0``, bool->number is 0/1."""
    src = x.type
    if src == to:
        return x
    src_int, to_int = is_integer_type(src), is_integer_type(to)
    if to == i1:
        if src_int:
            return kb.cmpi(x, kb.int_const(0, src), "ne")
        return kb.add(arith.CmpfOp(x, _f(kb, 0.0, x), "une"))
    if src_int and to_int:
        assert isinstance(src, IntegerType) and isinstance(to, IntegerType)
        if src.width.data < to.width.data:
            unsigned = src == i1 or src.signedness.data.name == "UNSIGNED"
            return kb.add(arith.ExtUIOp(x, to) if unsigned else arith.ExtSIOp(x, to))
        if src.width.data > to.width.data:
            return kb.add(arith.TruncIOp(x, to))
        return x
    if src_int:
        unsigned = src == i1 or (isinstance(src, IntegerType) and src.signedness.data.name == "UNSIGNED")
        return kb.add(arith.UIToFPOp(x, to) if unsigned else arith.SIToFPOp(x, to))  # type: ignore[arg-type]
    if to_int:
        return kb.add(arith.FPToSIOp(x, to))  # type: ignore[arg-type]
    if _width(src) < _width(to):
        return kb.add(arith.ExtFOp(x, to))  # type: ignore[arg-type]
    return kb.add(arith.TruncFOp(x, to))  # type: ignore[arg-type]


def _width(t: Attribute) -> int:
    return int(getattr(t, "bitwidth", 32))
