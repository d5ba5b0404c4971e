"""Loop lowerings of reductions: ``nn.reduce_*`` over any axes, ``nn.argmax``/``nn.argmin``.

Two loop shapes, chosen by where the input's contiguous (last) dim goes::

    last dim reduced (row reductions), and log_sum_exp / f16 / arg reductions:
      for kept dims:                      acc in registers (scf.for iter_args)
        acc = fold over reduced dims (combine(acc, map(x)))
        out[kept] = finish(acc)

    last dim kept (reduce over a leading axis: vectorises along the kept row):
      for out: out = identity
      for every input dim, in order:      out[kept] = combine(out[kept], map(x))
      for out: out = finish(out)          (mean: / count, l2: sqrt)

Reductions over zero elements give the reference's identity (0, 1, the lowest or the
highest value); a mean over zero elements is 0. Integers wrap like numpy, integer means
truncate toward zero, unsigned tensors use unsigned max/min/division. ``f16`` folds in
``f32`` registers and rounds once at the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import Float16Type, MemRefType, TensorType, f64, i64
from xdsl.ir import Attribute, Operation, SSAValue

from dynir.dialects.nn.base import read_int
from dynir.dialects.nn.reduction import ReductionOp
from dynir.ir.types import normalize_axis, numpy_dtype
from dynir.lowering.builder import KernelBuilder, is_integer_type
from dynir.lowering.kernels import lowers
from dynir.lowering.numeric import (
    absolute,
    add,
    compute_type,
    constant,
    convert,
    from_compute,
    is_finite,
    is_nan,
    is_unsigned,
    maximum,
    minimum,
    mul,
    to_compute,
)
from dynir.lowering.scalar import LoweringError

Step = Callable[[KernelBuilder, list[SSAValue], list[SSAValue]], list[SSAValue]]
"""``step(kb, indices, carried) -> next carried values`` for one element of a fold."""


def fold_nest(kb: KernelBuilder, sizes: Sequence[SSAValue], init: list[SSAValue], step: Step) -> list[SSAValue]:
    """Fold ``step`` over every index of ``sizes`` (outermost first), carrying ``init``
    in registers; returns the final carried values (``init`` when ``sizes`` is empty
    of iterations)."""

    def level(b: KernelBuilder, depth: int, idx: list[SSAValue], carried: list[SSAValue]) -> list[SSAValue]:
        if depth == len(sizes):
            return step(b, idx, carried)
        with b.reduction_loop(sizes[depth], carried) as (iv, inner_carried, body, next_):
            next_.extend(level(body, depth + 1, [*idx, iv], inner_carried))
        return next_

    return level(kb, 0, [], init)


def rank_of(buffer: SSAValue) -> int:
    t = buffer.type
    assert isinstance(t, MemRefType)
    return t.get_num_dims()


def element_of(value: SSAValue) -> Attribute:
    t = value.type
    assert isinstance(t, TensorType)
    element: Attribute = t.element_type
    return element


def count_of(kb: KernelBuilder, sizes: Sequence[SSAValue]) -> SSAValue:
    """The product of ``sizes`` (an ``index``)."""
    if not sizes:
        return kb.index(1)
    count = sizes[0]
    for size in sizes[1:]:
        count = kb.muli(count, size)
    return count


def index_to_float(kb: KernelBuilder, count: SSAValue, element: Attribute) -> SSAValue:
    as_int = kb.add(arith.IndexCastOp(count, i64))
    return kb.add(arith.SIToFPOp(as_int, element))  # type: ignore[arg-type]


# -- reduce_* -----------------------------------------------------------------------


@dataclass(frozen=True)
class Reduction:
    """One ``reduce_*`` op's fold: ``finish(fold(combine, identity, map(x)))``."""

    name: str
    element: Attribute  # the tensor's element type
    unsigned: bool

    @property
    def work(self) -> Attribute:
        return compute_type(self.element)

    def identity(self, kb: KernelBuilder) -> SSAValue:
        dtype = numpy_dtype(self.element)
        if self.name in ("nn.reduce_max", "nn.reduce_log_sum_exp"):
            value: float | int = -np.inf if dtype.kind == "f" else int(np.iinfo(dtype).min)
        elif self.name == "nn.reduce_min":
            value = np.inf if dtype.kind == "f" else int(np.iinfo(dtype).max)
        else:
            value = 1 if self.name == "nn.reduce_prod" else 0
        return constant(kb, value, self.element)

    def map(self, kb: KernelBuilder, x: SSAValue) -> SSAValue:
        if self.name == "nn.reduce_l1":
            return absolute(kb, x, self.unsigned)
        if self.name in ("nn.reduce_l2", "nn.reduce_sum_square"):
            return mul(kb, x, x)
        return x

    def combine(self, kb: KernelBuilder, acc: SSAValue, x: SSAValue) -> SSAValue:
        if self.name == "nn.reduce_max":
            return maximum(kb, acc, x, self.unsigned)
        if self.name == "nn.reduce_min":
            return minimum(kb, acc, x, self.unsigned)
        if self.name == "nn.reduce_prod":
            return mul(kb, acc, x)
        return add(kb, acc, x)

    def needs_finish(self) -> bool:
        return self.name in ("nn.reduce_mean", "nn.reduce_l2")

    def finish(self, kb: KernelBuilder, acc: SSAValue, count: SSAValue) -> SSAValue:
        if self.name == "nn.reduce_l2":
            return kb.add(xmath.SqrtOp(acc))
        if self.name != "nn.reduce_mean":
            return acc
        # An empty mean is 0: the sum is 0, so divide by max(count, 1).
        safe = kb.select(kb.cmpi(count, kb.index(0), "eq"), kb.index(1), count)
        if not is_integer_type(acc.type):
            return kb.add(arith.DivfOp(acc, index_to_float(kb, safe, acc.type)))
        # As the reference: trunc(float64(sum) / count), cast back like astype.
        total = convert(kb, acc, self.element, f64)
        quotient = kb.add(xmath.TruncOp(kb.add(arith.DivfOp(total, index_to_float(kb, safe, f64)))))
        return convert(kb, quotient, f64, self.element)


@lowers(
    "nn.reduce_sum", "nn.reduce_mean", "nn.reduce_max", "nn.reduce_min", "nn.reduce_prod",
    "nn.reduce_l1", "nn.reduce_l2", "nn.reduce_sum_square", "nn.reduce_log_sum_exp",
)  # fmt: skip
def lower_reduce(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    if not isinstance(op, ReductionOp):
        raise LoweringError(f"'{op.name}' is not a reduction")
    (x,), (out,) = ins, outs
    rank = rank_of(x)
    axes = op.reduced_axes(rank)
    keepdims = read_int(op.keepdims, 1) == 1
    element = element_of(op.input)
    spec = Reduction(op.name, element, is_unsigned(element))
    last_kept = rank > 0 and rank - 1 not in axes
    if last_kept and op.name != "nn.reduce_log_sum_exp" and not isinstance(element, Float16Type):
        _reduce_into_output(kb, spec, x, out, axes, keepdims)
    else:
        _reduce_in_registers(kb, spec, x, out, axes, keepdims)


def _out_index(kb: KernelBuilder, ivs: Sequence[SSAValue], axes: Sequence[int], keepdims: bool) -> list[SSAValue]:
    """The output index of input index ``ivs``."""
    if keepdims:
        return [kb.index(0) if d in axes else iv for d, iv in enumerate(ivs)]
    return [iv for d, iv in enumerate(ivs) if d not in axes]


def _reduce_in_registers(
    kb: KernelBuilder, spec: Reduction, x: SSAValue, out: SSAValue, axes: Sequence[int], keepdims: bool
) -> None:
    x_dims = kb.dims(x)
    kept = [d for d in range(len(x_dims)) if d not in axes]
    reduced = [x_dims[a] for a in axes]
    kept_ivs, body = kb.parallel_loop_nest([x_dims[d] for d in kept], split_all=True)

    def full_index(reduced_ivs: Sequence[SSAValue]) -> list[SSAValue]:
        position = dict(zip(kept, kept_ivs)) | dict(zip(axes, reduced_ivs))
        return [position[d] for d in range(len(x_dims))]

    def load(b: KernelBuilder, reduced_ivs: list[SSAValue]) -> SSAValue:
        return to_compute(b, b.load(x, full_index(reduced_ivs)))

    if spec.name == "nn.reduce_log_sum_exp":
        result = _log_sum_exp(body, spec, reduced, load)
    else:

        def step(b: KernelBuilder, idx: list[SSAValue], acc: list[SSAValue]) -> list[SSAValue]:
            return [spec.combine(b, acc[0], spec.map(b, load(b, idx)))]

        (acc,) = fold_nest(body, reduced, [spec.identity(body)], step)
        result = spec.finish(body, acc, count_of(body, reduced)) if spec.needs_finish() else acc
    index = _out_index(body, full_index([body.index(0)] * len(axes)), axes, keepdims)
    body.store(from_compute(body, result, spec.element), out, index)


def _log_sum_exp(
    kb: KernelBuilder, spec: Reduction, reduced: list[SSAValue], load: Callable[[KernelBuilder, list[SSAValue]], SSAValue]
) -> SSAValue:
    """``log(sum(exp(x - shift))) + shift``, ``shift`` the max where it is finite, else 0."""

    def max_step(b: KernelBuilder, idx: list[SSAValue], acc: list[SSAValue]) -> list[SSAValue]:
        return [maximum(b, acc[0], load(b, idx))]

    (peak,) = fold_nest(kb, reduced, [spec.identity(kb)], max_step)
    zero = kb.float_const(0.0, peak.type)
    shift = kb.select(is_finite(kb, peak), peak, zero)

    def sum_step(b: KernelBuilder, idx: list[SSAValue], acc: list[SSAValue]) -> list[SSAValue]:
        e = b.add(xmath.ExpOp(b.add(arith.SubfOp(load(b, idx), shift))))
        return [b.add(arith.AddfOp(acc[0], e))]

    (total,) = fold_nest(kb, reduced, [zero], sum_step)
    return kb.add(arith.AddfOp(kb.add(xmath.LogOp(total)), shift))


def _reduce_into_output(
    kb: KernelBuilder, spec: Reduction, x: SSAValue, out: SSAValue, axes: Sequence[int], keepdims: bool
) -> None:
    out_ivs, init = kb.loop_nest(kb.dims(out))
    init.store(spec.identity(init), out, out_ivs)
    x_dims = kb.dims(x)
    ivs, body = kb.loop_nest(x_dims)
    index = _out_index(body, ivs, axes, keepdims)
    acc = body.load(out, index)
    body.store(spec.combine(body, acc, spec.map(body, to_compute(body, body.load(x, ivs)))), out, index)
    if spec.needs_finish():
        count = count_of(kb, [x_dims[a] for a in axes])
        out_ivs, fin = kb.loop_nest(kb.dims(out))
        fin.store(spec.finish(fin, fin.load(out, out_ivs), count), out, out_ivs)


# -- argmax / argmin ----------------------------------------------------------------


@lowers("nn.argmax", "nn.argmin")
def lower_arg_reduction(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """Index of the first (or, with ``select_last_index``, last) extreme value along
    ``axis``; NaN counts as the extreme, as in numpy. The fold starts from the lowest
    (highest) value at index 0, so an empty axis never reads the input."""
    (x,), (out,) = ins, outs
    rank = rank_of(x)
    axis = normalize_axis(read_int(op.properties.get("axis"), 0), rank)
    keepdims = read_int(op.properties.get("keepdims"), 1) == 1
    last = read_int(op.properties.get("select_last_index"), 0) == 1
    element = element_of(op.operands[0])
    unsigned = is_unsigned(element)
    is_max = op.name == "nn.argmax"
    start = Reduction("nn.reduce_max" if is_max else "nn.reduce_min", element, unsigned)
    x_dims = kb.dims(x)
    kept = [d for d in range(rank) if d != axis]
    kept_ivs, body = kb.parallel_loop_nest([x_dims[d] for d in kept], split_all=True)

    def full_index(k: SSAValue) -> list[SSAValue]:
        position = dict(zip(kept, kept_ivs)) | {axis: k}
        return [position[d] for d in range(rank)]

    def step(b: KernelBuilder, idx: list[SSAValue], carried: list[SSAValue]) -> list[SSAValue]:
        best, best_index = carried
        v = to_compute(b, b.load(x, full_index(idx[0])))
        take = _better(b, v, best, is_max=is_max, last=last, unsigned=unsigned)
        return [b.select(take, v, best), b.select(take, idx[0], best_index)]

    _, found = fold_nest(body, [x_dims[axis]], [start.identity(body), body.index(0)], step)
    index = _out_index(body, full_index(body.index(0)), [axis], keepdims)
    body.store(body.add(arith.IndexCastOp(found, i64)), out, index)


def _better(kb: KernelBuilder, v: SSAValue, best: SSAValue, *, is_max: bool, last: bool, unsigned: bool) -> SSAValue:
    """Whether ``v`` replaces ``best`` (ties go to the later index only with ``last``)."""
    if is_integer_type(v.type):
        sign = "u" if unsigned else "s"
        return kb.cmpi(v, best, sign + ("g" if is_max else "l") + ("e" if last else "t"))
    predicate = ("ogt" if is_max else "olt") if not last else ("oge" if is_max else "ole")
    better = kb.add(arith.CmpfOp(v, best, predicate))
    nan = is_nan(kb, v)
    if not last:  # the first NaN wins and stays
        nan = kb.add(arith.AndIOp(nan, kb.add(arith.XOrIOp(is_nan(kb, best), kb.int_const(1, nan.type)))))
    return kb.add(arith.OrIOp(better, nan))
