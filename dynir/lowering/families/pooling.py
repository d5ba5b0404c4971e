"""Loop lowerings of pooling: ``nn.max_pool``, ``nn.average_pool``, ``nn.lp_pool``,
``nn.global_average_pool`` and ``nn.global_max_pool``.

Window pools share the convolution's nest, without the channel reduction (2-D shown)::

    for n, c, oh:
      for ow: y[n, c, oh, ow] = init                  -inf / int min for max, 0 otherwise
      for kh in valid(oh):
        for kw:
          for ow in valid(kw):                        contiguous output row, innermost
            y[n, c, oh, ow] = combine(y[n, c, oh, ow], f(x[n, c, oh*s - p + kh*d, ow*s - p + kw*d]))
      for ow: y[n, c, oh, ow] = finish(y[n, c, oh, ow])   average: / count; lp: ^ (1/p)

Taps in the padding (or beyond the input in ceil mode) are never read: the kernel
loops and the innermost output loop run over clamped ranges (``valid_range``). The
average divisor counts the taps inside the input, or with ``count_include_pad = 1`` the
taps inside the explicitly padded input (ceil-mode overhang never counts), as the
reference does. Global pools reduce the spatial dims of each (n, c) in registers.

Max pools work on signed integer tensors (int8 ...); unsigned ones need signless kernel
buffers (a ``LoweringError`` until then). The averaging pools are float-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import cast

from xdsl.dialects import arith
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import AnyFloat, BFloat16Type, Float16Type, IntegerType, Signedness, f32
from xdsl.ir import Attribute, Operation, SSAValue

from dynir.dialects.nn.base import read_float, read_int
from dynir.dialects.nn.contraction import spatial_pads
from dynir.dialects.nn.pooling import AveragePoolOp, LpPoolOp, MaxPoolOp, WindowPoolOp
from dynir.lowering.builder import KernelBuilder, is_integer_type
from dynir.lowering.families.convolution import (
    element_of,
    plus,
    range_length,
    rank_of,
    require_float,
    times,
    valid_range,
)
from dynir.lowering.kernels import lowers
from dynir.lowering.scalar import LoweringError


@dataclass(frozen=True)
class _MaxOf:
    """``max`` over one element type: the tensor's type says signed or unsigned, the
    buffer's (signless) type is what the arith ops see."""

    element: Attribute
    unsigned: bool

    @staticmethod
    def of(op: Operation, buffer: SSAValue) -> _MaxOf:
        element = element_of(buffer)
        if isinstance(element, IntegerType) and element.signedness.data != Signedness.SIGNLESS:
            raise LoweringError(f"'{op.name}' on {element}: kernel buffers of integers must be signless")
        tensor_element = op.results[0].type.element_type  # type: ignore[attr-defined]
        unsigned = isinstance(tensor_element, IntegerType) and tensor_element.signedness.data == Signedness.UNSIGNED
        return _MaxOf(element, unsigned)

    def lowest(self, kb: KernelBuilder) -> SSAValue:
        """The identity of ``max``: -inf, or the smallest value of the integer type."""
        if isinstance(self.element, IntegerType):
            return kb.int_const(0 if self.unsigned else -(1 << (self.element.width.data - 1)), self.element)
        return kb.float_const(float("-inf"), self.element)

    def __call__(self, kb: KernelBuilder, a: SSAValue, b: SSAValue) -> SSAValue:
        """NaN-propagating for floats (numpy's ``maximum``)."""
        if isinstance(self.element, IntegerType):
            return kb.add(arith.MaxUIOp(a, b) if self.unsigned else arith.MaxSIOp(a, b))
        return kb.add(arith.MaximumfOp(a, b))


def _to_float(kb: KernelBuilder, count: SSAValue, element: Attribute) -> SSAValue:
    as_i64 = kb.add(arith.IndexCastOp(count, IntegerType(64)))
    return kb.add(arith.SIToFPOp(as_i64, cast(AnyFloat, element)))


# ----------------------------------------------------------------------------------
# Window pools


class _WindowPool:
    """How one window pool reads, combines and finishes (the loop nest is shared)."""

    finishes: bool = False
    """Whether ``finish`` rewrites the combined value (a last pass over each row)."""
    counts: bool = False
    """Whether ``finish`` reads the window's tap count."""

    def __init__(self, op: WindowPoolOp, element: Attribute) -> None:
        self.op = op
        self.element = element

    def init(self, kb: KernelBuilder) -> SSAValue:
        return kb.float_const(0.0, self.element)

    def combine(self, kb: KernelBuilder, acc: SSAValue, value: SSAValue) -> SSAValue:
        return kb.add(arith.AddfOp(acc, value))

    def finish(self, kb: KernelBuilder, value: SSAValue, count: SSAValue) -> SSAValue:
        """The output from the combined value and the window's tap count."""
        return value


class _MaxPool(_WindowPool):
    def __init__(self, op: WindowPoolOp, element: Attribute, maximum: _MaxOf) -> None:
        super().__init__(op, element)
        self.maximum = maximum

    def init(self, kb: KernelBuilder) -> SSAValue:
        return self.maximum.lowest(kb)

    def combine(self, kb: KernelBuilder, acc: SSAValue, value: SSAValue) -> SSAValue:
        return self.maximum(kb, acc, value)


class _AveragePool(_WindowPool):
    finishes = True
    counts = True

    def finish(self, kb: KernelBuilder, value: SSAValue, count: SSAValue) -> SSAValue:
        return kb.add(arith.DivfOp(value, _to_float(kb, count, self.element)))


class _LpPool(_WindowPool):
    def __init__(self, op: WindowPoolOp, element: Attribute) -> None:
        super().__init__(op, element)
        self.p = read_float(op.p if isinstance(op, LpPoolOp) else None, 2.0)
        self.finishes = self.p != 1.0

    def combine(self, kb: KernelBuilder, acc: SSAValue, value: SSAValue) -> SSAValue:
        magnitude = kb.add(xmath.AbsFOp(value))
        if self.p == 2.0:
            magnitude = kb.add(arith.MulfOp(magnitude, magnitude))
        elif self.p != 1.0:
            magnitude = kb.add(xmath.PowFOp(magnitude, kb.float_const(self.p, self.element)))
        return kb.add(arith.AddfOp(acc, magnitude))

    def finish(self, kb: KernelBuilder, value: SSAValue, count: SSAValue) -> SSAValue:
        if self.p == 2.0:
            return kb.add(xmath.SqrtOp(value))
        return kb.add(xmath.PowFOp(value, kb.float_const(1.0 / self.p, self.element)))


def _window_pool_kind(op: Operation, y: SSAValue) -> _WindowPool:
    element = element_of(y)
    if isinstance(op, MaxPoolOp):
        return _MaxPool(op, element, _MaxOf.of(op, y))
    if isinstance(op, AveragePoolOp | LpPoolOp):
        if is_integer_type(element):
            raise LoweringError(f"'{op.name}' on {element} has no loop lowering (float element types only)")
        return _AveragePool(op, element) if isinstance(op, AveragePoolOp) else _LpPool(op, element)
    raise LoweringError(f"'{op.name}' is not a window pool")


@lowers("nn.max_pool", "nn.average_pool", "nn.lp_pool")
def lower_window_pool(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    (x,), (y,) = ins, outs
    pool = _window_pool_kind(op, y)
    assert isinstance(op, WindowPoolOp)
    k = rank_of(x) - 2
    kernel, strides, pads, dilations = op.window(k)
    include_pad = isinstance(op, AveragePoolOp) and bool(read_int(op.count_include_pad, 0))
    in_sizes = [kb.dim(x, 2 + i) for i in range(k)]
    out_sizes = [kb.dim(y, 2 + i) for i in range(k)]
    # The divisor's bounds: the input, or the input with its explicit pads.
    count_limits = [plus(kb, size, sum(spatial_pads(pads, i))) if include_pad else size for i, size in enumerate(in_sizes)]
    with ExitStack() as loops:
        (n, c), body = loops.enter_context(kb.parallel_nest([kb.dim(y, 0), kb.dim(y, 1)]))
        out_outer: list[SSAValue] = []
        for i in range(k - 1):
            o, body = loops.enter_context(body.loop(out_sizes[i]))
            out_outer.append(o)
        with body.loop(out_sizes[-1]) as (o, fill):
            fill.store(pool.init(fill), y, [n, c, *out_outer, o])
        _accumulate_taps(body, pool, x, y, [n, c], out_outer, (kernel, strides, pads, dilations), in_sizes, out_sizes)
        if not pool.finishes:
            return
        if pool.counts:
            outer_count = _outer_count(body, out_outer, strides, pads, dilations, kernel, count_limits, include_pad)
        last = k - 1
        with body.loop(out_sizes[last]) as (o, epilogue):
            count = epilogue.index(1)
            if pool.counts:
                offset = times(epilogue, o, strides[last])
                if not include_pad:
                    offset = plus(epilogue, offset, -pads[last])
                lo, hi = valid_range(epilogue, offset, dilations[last], count_limits[last], epilogue.index(kernel[last]))
                count = epilogue.muli(outer_count, range_length(epilogue, lo, hi))
            index = [n, c, *out_outer, o]
            epilogue.store(pool.finish(epilogue, epilogue.load(y, index), count), y, index)


def _outer_count(
    kb: KernelBuilder,
    out_outer: Sequence[SSAValue],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    kernel: Sequence[int],
    limits: Sequence[SSAValue],
    include_pad: bool,
) -> SSAValue:
    """The number of counted taps of the window at ``out_outer`` over all but the last
    spatial dim (the product of per-dim counts)."""
    count = kb.index(1)
    for i, o in enumerate(out_outer):
        offset = times(kb, o, strides[i])
        if not include_pad:
            offset = plus(kb, offset, -pads[i])
        lo, hi = valid_range(kb, offset, dilations[i], limits[i], kb.index(kernel[i]))
        count = kb.muli(count, range_length(kb, lo, hi))
    return count


def _accumulate_taps(
    kb: KernelBuilder,
    pool: _WindowPool,
    x: SSAValue,
    y: SSAValue,
    lead: list[SSAValue],
    out_outer: list[SSAValue],
    window: tuple[Sequence[int], Sequence[int], Sequence[int], Sequence[int]],
    in_sizes: Sequence[SSAValue],
    out_sizes: Sequence[SSAValue],
) -> None:
    """The kernel-tap loops: ``y[lead, out] = combine(y[lead, out], x[lead, in])`` over the
    taps inside the input, the last output dim innermost."""
    kernel, strides, pads, dilations = window
    with ExitStack() as loops:
        body = kb
        in_outer: list[SSAValue] = []
        for i, o in enumerate(out_outer):
            base = plus(body, times(body, o, strides[i]), -pads[i])
            lo, hi = valid_range(body, base, dilations[i], in_sizes[i], body.index(kernel[i]))
            t, body = loops.enter_context(body.loop(hi, lo))
            in_outer.append(body.addi(base, times(body, t, dilations[i])))
        last = len(kernel) - 1
        t, body = loops.enter_context(body.loop(body.index(kernel[last])))
        base = plus(body, times(body, t, dilations[last]), -pads[last])
        lo, hi = valid_range(body, base, strides[last], in_sizes[last], out_sizes[last])
        o, inner = loops.enter_context(body.loop(hi, lo))
        value = inner.load(x, [*lead, *in_outer, inner.addi(times(inner, o, strides[last]), base)])
        out_index = [*lead, *out_outer, o]
        inner.store(pool.combine(inner, inner.load(y, out_index), value), y, out_index)


# ----------------------------------------------------------------------------------
# Global pools


@lowers("nn.global_average_pool", "nn.global_max_pool")
def lower_global_pool(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """One register reduction per (n, c) over the spatial dims. Means of f16/bf16
    accumulate and divide in f32, as numpy's ``mean`` does."""
    (x,), (y,) = ins, outs
    is_max = op.name == "nn.global_max_pool"
    element = element_of(y) if is_max else require_float(op, y)
    maximum = _MaxOf.of(op, y)
    wide = not is_max and isinstance(element, Float16Type | BFloat16Type)
    accumulator = f32 if wide else element
    spatial = [kb.dim(x, a) for a in range(2, rank_of(x))]
    init = maximum.lowest(kb) if is_max else kb.float_const(0.0, accumulator)

    def reduce(b: KernelBuilder, lead: list[SSAValue], sizes: Sequence[SSAValue], acc: SSAValue) -> SSAValue:
        if not sizes:
            value = b.load(x, lead)
            if is_max:
                return maximum(b, acc, value)
            return b.add(arith.AddfOp(acc, b.add(arith.ExtFOp(value, f32)) if wide else value))
        with b.reduction_loop(sizes[0], [acc]) as (iv, (carried,), inner, next_):
            next_.append(reduce(inner, [*lead, iv], sizes[1:], carried))
        return next_[0]

    with kb.parallel_nest([kb.dim(y, 0), kb.dim(y, 1)]) as ((n, c), body):
        result = reduce(body, [n, c], spatial, init)
        if not is_max:
            count = body.index(1)
            for size in spatial:
                count = body.muli(count, size)
            result = body.add(arith.DivfOp(result, _to_float(body, count, accumulator)))
            if wide:
                result = body.add(arith.TruncFOp(result, element))
        body.store(result, y, [n, c, *(body.index(0) for _ in spatial)])
