"""Reduction-group kernels: softmax, log_softmax, layer_norm and reduce_* with their
elementwise producers inlined into the loads and their consumers applied at the store.

One loop nest over the kept (outer) dims; inside it, one register-carried pass per
statistic, then the store pass::

    softmax (axis a):     for outer: m = max_k x[k]; s = sum_k exp(x[k] - m)
                                     for k: out[k] = consumers(exp(x[k] - m) / s)
    layer_norm (axis a):  for outer: mean = sum x / n; var = sum (x - mean)^2 / n
                                     for inner: out = consumers((x - mean) / sqrt(var + eps) * g + b)
    reduce_* (axes):      for kept: acc = fold over reduced axes; out = consumers(finish(acc))

``x`` is the reduction's input computed by ``GroupValues`` from the group's inputs, so
producers never reach memory; the fusion pass only inlines producers cheap enough to
recompute once per pass (see ``passes/_fusion_utils.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import arith
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import TensorType, i64
from xdsl.ir import Operation, SSAValue

from dynir.dialects.fusion import GroupOp, YieldOp
from dynir.dialects.nn.base import read_float, read_int, read_ints
from dynir.ir.types import normalize_axis
from dynir.lowering.builder import KernelBuilder, is_integer_type
from dynir.lowering.expression import GroupValues
from dynir.lowering.scalar import LoweringError

Step = Callable[[KernelBuilder, list[SSAValue], list[SSAValue]], list[SSAValue]]
"""``step(kb, indices, accumulators) -> next accumulators`` for one reduced element."""


def reduction_kernel(
    kb: KernelBuilder, group: GroupOp, anchor: Operation, buffers: dict[SSAValue, SSAValue], outs: Sequence[SSAValue]
) -> None:
    yield_op = group.body.block.last_op
    assert isinstance(yield_op, YieldOp)
    if len(outs) != 1:
        raise LoweringError(f"a reduction group of '{anchor.name}' must have one output")
    x = anchor.operands[0]
    element = _tensor(x.type).element_type
    if is_integer_type(element):
        raise LoweringError(f"'{anchor.name}' in a fused reduction kernel supports float tensors only, got {element}")
    result = yield_op.values[0]
    values = GroupValues(kb, buffers, {result: outs[0]})
    rank = len(_tensor(x.type).get_shape())
    if anchor.name != "nn.layer_norm" and anchor.name not in ("nn.softmax", "nn.log_softmax"):
        _reduce(kb, anchor, values, x, result, outs[0])
        return
    values.set_dims(anchor.results[0], values.dims(x))
    values.prepare(group.body.block)
    if anchor.name in ("nn.softmax", "nn.log_softmax"):
        axis = normalize_axis(read_int(anchor.properties.get("axis"), -1), rank)
        _softmax(kb, anchor, values, x, result, outs[0], axis)
    elif anchor.name == "nn.layer_norm":
        axis = normalize_axis(read_int(anchor.properties.get("axis"), -1), rank)
        _layer_norm(kb, anchor, values, x, result, outs[0], axis)


def reduce_nest(kb: KernelBuilder, sizes: Sequence[SSAValue], init: list[SSAValue], step: Step) -> list[SSAValue]:
    """Fold ``step`` over every index of ``sizes`` (outermost first), carrying ``init``."""

    def level(b: KernelBuilder, depth: int, idx: list[SSAValue], acc: list[SSAValue]) -> list[SSAValue]:
        if depth == len(sizes):
            return step(b, idx, acc)
        with b.reduction_loop(sizes[depth], acc) as (iv, carried, body, next_):
            next_.extend(level(body, depth + 1, [*idx, iv], carried))
        return next_

    return level(kb, 0, [], init)


def _store_nest(
    kb: KernelBuilder, sizes: Sequence[SSAValue], fn: Callable[[KernelBuilder, list[SSAValue]], None]
) -> None:
    ivs, inner = kb.loop_nest(sizes)
    fn(inner, ivs)


def _softmax(
    kb: KernelBuilder, op: Operation, values: GroupValues, x: SSAValue, result: SSAValue, out: SSAValue, axis: int
) -> None:
    dims = values.dims(x)
    outer = [d for i, d in enumerate(dims) if i != axis]
    with kb.parallel_nest(outer) as (ivs, body):
        element = _tensor(x.type).element_type

        def full(k: SSAValue) -> list[SSAValue]:
            return [*ivs[:axis], k, *ivs[axis:]]

        def x_at(b: KernelBuilder, k: SSAValue) -> SSAValue:
            return values.at(b, x, full(k))

        (peak,) = reduce_nest(
            body, [dims[axis]], [body.float_const(float("-inf"), element)],
            lambda b, k, acc: [b.add(arith.MaximumfOp(acc[0], x_at(b, k[0])))],
        )
        # An all -inf row keeps -inf - -inf = nan, as the reference does.
        (total,) = reduce_nest(
            body, [dims[axis]], [body.float_const(0.0, element)],
            lambda b, k, acc: [b.add(arith.AddfOp(acc[0], b.add(xmath.ExpOp(b.add(arith.SubfOp(x_at(b, k[0]), peak))))))],
        )
        log_total = body.add(xmath.LogOp(total)) if op.name == "nn.log_softmax" else None

        def normalized(b: KernelBuilder, idx: list[SSAValue]) -> SSAValue:
            shifted = b.add(arith.SubfOp(values.at(b, x, idx), peak))
            if log_total is not None:
                return b.add(arith.SubfOp(shifted, log_total))
            return b.add(arith.DivfOp(b.add(xmath.ExpOp(shifted)), total))

        values.bind(op.results[0], normalized)
        with body.loop(dims[axis]) as (k, store):
            store.store(values.at(store, result, full(k)), out, full(k))


def _count(kb: KernelBuilder, sizes: Sequence[SSAValue], element: object) -> SSAValue:
    n = kb.index(1)
    for s in sizes:
        n = kb.muli(n, s)
    as_int = kb.add(arith.IndexCastOp(n, i64))
    return kb.add(arith.SIToFPOp(as_int, element))  # type: ignore[arg-type]


def _layer_norm(
    kb: KernelBuilder, op: Operation, values: GroupValues, x: SSAValue, result: SSAValue, out: SSAValue, axis: int
) -> None:
    dims = values.dims(x)
    element = _tensor(x.type).element_type
    inner = dims[axis:]
    count = _count(kb, inner, element)
    with kb.parallel_nest(dims[:axis]) as (ivs, body):
        zero = body.float_const(0.0, element)
        (total,) = reduce_nest(body, inner, [zero], lambda b, k, acc: [b.add(arith.AddfOp(acc[0], values.at(b, x, [*ivs, *k])))])
        mean = body.add(arith.DivfOp(total, count))

        def square_step(b: KernelBuilder, k: list[SSAValue], acc: list[SSAValue]) -> list[SSAValue]:
            c = b.add(arith.SubfOp(values.at(b, x, [*ivs, *k]), mean))
            return [b.add(arith.AddfOp(acc[0], b.add(arith.MulfOp(c, c))))]

        (squares,) = reduce_nest(body, inner, [zero], square_step)
        eps = body.float_const(read_float(op.properties.get("epsilon"), 1e-5), element)
        denom = body.add(xmath.SqrtOp(body.add(arith.AddfOp(body.add(arith.DivfOp(squares, count)), eps))))
        scale, bias = op.operands[1], op.operands[2]

        def normalized(b: KernelBuilder, idx: list[SSAValue]) -> SSAValue:
            centered = b.add(arith.SubfOp(values.at(b, x, idx), mean))
            g = values.at(b, scale, values.operand_index(b, scale, idx))
            beta = values.at(b, bias, values.operand_index(b, bias, idx))
            return b.add(arith.AddfOp(b.add(arith.MulfOp(b.add(arith.DivfOp(centered, denom)), g)), beta))

        values.bind(op.results[0], normalized)
        _store_nest(body, inner, lambda b, k: b.store(values.at(b, result, [*ivs, *k]), out, [*ivs, *k]))


_FOLDS: dict[str, tuple[float, Callable[[KernelBuilder, SSAValue, SSAValue], SSAValue]]] = {
    "nn.reduce_sum": (0.0, lambda b, a, v: b.add(arith.AddfOp(a, v))),
    "nn.reduce_mean": (0.0, lambda b, a, v: b.add(arith.AddfOp(a, v))),
    "nn.reduce_max": (float("-inf"), lambda b, a, v: b.add(arith.MaximumfOp(a, v))),
    "nn.reduce_min": (float("inf"), lambda b, a, v: b.add(arith.MinimumfOp(a, v))),
    "nn.reduce_prod": (1.0, lambda b, a, v: b.add(arith.MulfOp(a, v))),
    "nn.reduce_l1": (0.0, lambda b, a, v: b.add(arith.AddfOp(a, b.add(xmath.AbsFOp(v))))),
    "nn.reduce_l2": (0.0, lambda b, a, v: b.add(arith.AddfOp(a, b.add(arith.MulfOp(v, v))))),
    "nn.reduce_sum_square": (0.0, lambda b, a, v: b.add(arith.AddfOp(a, b.add(arith.MulfOp(v, v))))),
}


def _reduce(kb: KernelBuilder, op: Operation, values: GroupValues, x: SSAValue, result: SSAValue, out: SSAValue) -> None:
    if op.name not in _FOLDS:
        raise LoweringError(f"'{op.name}' has no fused reduction kernel")
    shape = _tensor(x.type).get_shape()
    rank = len(shape)
    axes = tuple(normalize_axis(a, rank) for a in read_ints(op.properties.get("axes"), ())) or tuple(range(rank))
    keepdims = read_int(op.properties.get("keepdims"), 1) == 1
    dims = values.dims(x)
    kept = [i for i in range(rank) if i not in axes]
    out_dims = [kb.index(1) if i in axes else dims[i] for i in range(rank)] if keepdims else [dims[i] for i in kept]
    values.set_dims(op.results[0], out_dims)
    values.prepare(op.parent_block())  # type: ignore[arg-type]
    element = _tensor(x.type).element_type
    init, fold = _FOLDS[op.name]
    count = _count(kb, [dims[a] for a in axes], element)
    empty = kb.add(arith.CmpfOp(count, kb.float_const(0.0, element), "oeq"))
    with kb.parallel_nest([dims[i] for i in kept]) as (ivs, body):

        def full(red: list[SSAValue]) -> list[SSAValue]:
            it_kept, it_red = iter(ivs), iter(red)
            return [next(it_red) if i in axes else next(it_kept) for i in range(rank)]

        (acc,) = reduce_nest(
            body, [dims[a] for a in sorted(axes)], [body.float_const(init, element)],
            lambda b, red, a: [fold(b, a[0], values.at(b, x, full(red)))],
        )
        if op.name == "nn.reduce_mean":
            acc = body.select(empty, body.float_const(0.0, element), body.add(arith.DivfOp(acc, count)))
        elif op.name == "nn.reduce_l2":
            acc = body.add(xmath.SqrtOp(acc))
        finished = acc
        values.bind(op.results[0], lambda _b, _idx: finished)
        it = iter(ivs)
        out_idx = [body.index(0) if i in axes else next(it) for i in range(rank)] if keepdims else list(ivs)
        body.store(values.at(body, result, out_idx), out, out_idx)


def _tensor(t: object) -> TensorType:
    if not isinstance(t, TensorType):
        raise LoweringError(f"expected a tensor, got {t}")
    return t

