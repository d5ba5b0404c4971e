"""Loop lowering of ``nn.resize``: nearest, N-d multilinear and cubic resampling.

One loop per output dim, outermost first. Each dim's loop-invariant values (sizes, the
f32 scale, ...) are computed before its loop; inside it, the output index is mapped to
an input coordinate in f32, in the order the reference (and onnxruntime) uses, and
turned into taps: one index for nearest, two (index, weight) pairs for linear, four
for cubic. The innermost body reads ``x`` at every combination of taps (1, 2^r or 4^r
loads) and mixes them in f64, the last dim outermost in the sum, like the reference
that resamples one dim after another in f64::

    for o0:                     taps0 = map(o0)
      for o1:                   taps1 = map(o1)
        y[o0, o1] = sum_t1 w1[t1] * (sum_t0 w0[t0] * x[i0[t0], i1[t1]])

A dim whose size and scale are statically unchanged reads ``x`` at the output index;
one that may be unchanged at run time (dynamic sizes) selects that index with an
``arith.select``, since the reference skips such dims. ``tf_crop_and_resize`` writes
``extrapolation_value`` where any mapped coordinate falls outside the input.

Nearest works for every element type (``tf_crop_and_resize`` of unsigned integers needs
signless kernel buffers); linear and cubic are float-only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import cast

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import AnyFloat, DenseArrayBase, Float64Type, IntegerType, MemRefType, Signedness, f32, f64, i1, i64
from xdsl.ir import Attribute, Operation, SSAValue

from dynir.dialects.nn.base import read_float, read_int
from dynir.dialects.nn.resize import ResizeOp
from dynir.ir.types import numpy_dtype
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.families.convolution import element_of, rank_of, require_float
from dynir.lowering.kernels import lowers
from dynir.lowering.scalar import LoweringError

F32 = np.float32
Tap = tuple[SSAValue, SSAValue | None]
"""An input index along one dim and its f64 weight (``None``: the only tap, weight 1)."""


@dataclass(frozen=True)
class _Settings:
    mode: str
    coords: str
    nearest: str
    cubic_a: float
    exclude_outside: bool


@dataclass
class _Dim:
    """One dim of the resize: static facts, then the values computed before its loop."""

    axis: int
    scale: float | None
    """The ``scales`` entry (f64), or ``None`` when the scale is out/in at run time."""
    roi: tuple[float, float]
    identity: bool
    """Statically unchanged: the output index reads the input directly."""
    size: SSAValue
    out: SSAValue
    last: SSAValue
    """``size - 1``, the largest input index."""
    n_in: SSAValue
    n_out: SSAValue
    s: SSAValue
    """The f32 scale."""
    skip: SSAValue | None
    """``i1``: unchanged at run time (the reference skips the dim); ``None``: never."""
    out_gt_1: SSAValue
    offset: SSAValue | None = None
    """The loop-invariant term of half_pixel_symmetric / tf_crop_and_resize."""


def _floats(attr: DenseArrayBase | None) -> tuple[float, ...] | None:
    if attr is None:
        return None
    return tuple(float(v) for v in cast("DenseArrayBase[Float64Type]", attr).get_values())


def _static_dim(buffer: SSAValue, axis: int) -> int | None:
    t = buffer.type
    assert isinstance(t, MemRefType)
    size = t.get_shape()[axis]
    return None if size < 0 else size


# ----------------------------------------------------------------------------------
# Scalar helpers (f32 coordinates, f64 weights)


def _fop(kb: KernelBuilder, cls: Callable[[SSAValue, SSAValue], Operation], a: SSAValue, b: SSAValue) -> SSAValue:
    """A binary float op ``cls(a, b)``."""
    return kb.add(cls(a, b))


def _to_float(kb: KernelBuilder, index: SSAValue, element: AnyFloat) -> SSAValue:
    return kb.add(arith.SIToFPOp(kb.add(arith.IndexCastOp(index, i64)), element))


def _to_index(kb: KernelBuilder, value: SSAValue) -> SSAValue:
    return kb.add(arith.IndexCastOp(kb.add(arith.FPToSIOp(value, i64)), kb.index(0).type))


def _clamp_index(kb: KernelBuilder, index: SSAValue, last: SSAValue) -> SSAValue:
    return kb.add(arith.MinSIOp(kb.add(arith.MaxSIOp(index, kb.index(0))), last))


def _dim_invariants(kb: KernelBuilder, x: SSAValue, y: SSAValue, axis: int, op: ResizeOp, settings: _Settings) -> _Dim:
    scales = _floats(op.scales)
    scale = None if scales is None else scales[axis]
    roi = op.roi_bounds(rank_of(x))[axis]
    crop = settings.coords == "tf_crop_and_resize"
    in_static, out_static = _static_dim(x, axis), _static_dim(y, axis)
    may_skip = not crop and (scale is None or scale == 1.0)
    identity = may_skip and in_static is not None and in_static == out_static
    size, out = kb.dim(x, axis), kb.dim(y, axis)
    n_in, n_out = _to_float(kb, size, f32), _to_float(kb, out, f32)
    if scale is None:  # out / in in f64, then f32, as the reference's Python division
        ratio = _fop(kb, arith.DivfOp, _to_float(kb, out, f64), _to_float(kb, size, f64))
        s = kb.add(arith.TruncFOp(ratio, f32))
    else:
        s = kb.float_const(float(F32(scale)), f32)
    dim = _Dim(
        axis=axis, scale=scale, roi=roi, identity=identity, size=size, out=out,
        last=kb.subi(size, kb.index(1)), n_in=n_in, n_out=n_out, s=s,
        skip=kb.cmpi(size, out, "eq") if may_skip and not identity else None,
        out_gt_1=kb.cmpi(out, kb.index(1), "sgt"),
    )
    one = kb.float_const(1.0, f32)
    if settings.coords == "half_pixel_symmetric":
        # n_in / 2 * (1 - adjustment), written as a division so that no FMA contraction
        # of the later addition changes its rounding (halving is exact either way).
        adjustment = _fop(kb, arith.DivfOp, n_out, _fop(kb, arith.MulfOp, s, n_in))
        scaled = _fop(kb, arith.MulfOp, n_in, _fop(kb, arith.SubfOp, one, adjustment))
        dim.offset = _fop(kb, arith.DivfOp, scaled, kb.float_const(2.0, f32))
    elif crop:
        dim.offset = _fop(kb, arith.MulfOp, kb.float_const(float(F32(roi[0])), f32), _fop(kb, arith.SubfOp, n_in, one))
    return dim


def _coordinate(kb: KernelBuilder, coords: str, dim: _Dim, o: SSAValue) -> SSAValue:
    """The f32 input coordinate of output index ``o`` (the reference's ``map_coordinates``)."""
    x = _to_float(kb, o, f32)
    half, zero, one = kb.float_const(0.5, f32), kb.float_const(0.0, f32), kb.float_const(1.0, f32)
    if coords in ("half_pixel", "pytorch_half_pixel", "half_pixel_symmetric"):
        value = _fop(kb, arith.DivfOp, _fop(kb, arith.AddfOp, x, half), dim.s)
        if coords == "half_pixel_symmetric":
            assert dim.offset is not None
            value = _fop(kb, arith.AddfOp, dim.offset, value)
        value = _fop(kb, arith.SubfOp, value, half)
        return kb.select(dim.out_gt_1, value, zero) if coords == "pytorch_half_pixel" else value
    if coords == "align_corners":
        stretched = _fop(kb, arith.MulfOp, x, _fop(kb, arith.SubfOp, dim.n_in, one))
        value = _fop(kb, arith.DivfOp, stretched, _fop(kb, arith.SubfOp, dim.n_out, one))
        return kb.select(dim.out_gt_1, value, zero)
    if coords == "asymmetric":
        return _fop(kb, arith.DivfOp, x, dim.s)
    if coords == "tf_half_pixel_for_nn":
        return _fop(kb, arith.DivfOp, _fop(kb, arith.AddfOp, x, half), dim.s)
    begin, end = F32(dim.roi[0]), F32(dim.roi[1])
    assert dim.offset is not None
    in_last = _fop(kb, arith.SubfOp, dim.n_in, one)
    span = _fop(kb, arith.MulfOp, _fop(kb, arith.MulfOp, x, kb.float_const(float(end - begin), f32)), in_last)
    value = _fop(kb, arith.AddfOp, dim.offset, _fop(kb, arith.DivfOp, span, _fop(kb, arith.SubfOp, dim.n_out, one)))
    centre = _fop(kb, arith.MulfOp, kb.float_const(float(F32(0.5) * (begin + end)), f32), in_last)
    return kb.select(dim.out_gt_1, value, centre)


# ----------------------------------------------------------------------------------
# Taps


def _nearest_taps(kb: KernelBuilder, settings: _Settings, dim: _Dim, o: SSAValue, coordinate: SSAValue) -> list[Tap]:
    floor = kb.add(xmath.FloorOp(coordinate))
    rule = settings.nearest
    if rule in ("round_prefer_floor", "round_prefer_ceil"):
        is_half = kb.add(arith.CmpfOp(coordinate, _fop(kb, arith.AddfOp, floor, kb.float_const(0.5, f32)), "oeq"))
        tie = floor if rule == "round_prefer_floor" else _fop(kb, arith.AddfOp, floor, kb.float_const(1.0, f32))
        chosen = kb.select(is_half, tie, kb.add(xmath.RoundEvenOp(coordinate)))
    elif rule == "floor":
        chosen = floor
    elif rule == "ceil":
        chosen = kb.add(xmath.CeilOp(coordinate))
    else:  # simple: floor when enlarging, ceil when shrinking
        ceil = kb.add(xmath.CeilOp(coordinate))
        if dim.scale is not None:
            chosen = floor if dim.scale >= 1.0 else ceil
        else:
            chosen = kb.select(kb.cmpi(dim.out, dim.size, "sge"), floor, ceil)
    index = _clamp_index(kb, _to_index(kb, chosen), dim.last)
    return [(_unless_skipped(kb, dim, o, index), None)]


def _linear_taps(kb: KernelBuilder, dim: _Dim, o: SSAValue, coordinate: SSAValue) -> list[Tap]:
    upper = _to_float(kb, dim.last, f32)
    clamped = kb.add(arith.MinimumfOp(kb.add(arith.MaximumfOp(coordinate, kb.float_const(0.0, f32))), upper))
    low = kb.add(arith.MinSIOp(_to_index(kb, clamped), dim.last))
    high = kb.add(arith.MinSIOp(kb.addi(low, kb.index(1)), dim.last))
    frac = _fop(kb, arith.SubfOp, kb.add(arith.ExtFOp(clamped, f64)), _to_float(kb, low, f64))
    half = kb.float_const(0.5, f64)
    frac = kb.select(kb.cmpi(low, high, "eq"), half, frac)  # at the edge both taps hit the last row
    if dim.skip is not None:
        frac = kb.select(dim.skip, half, frac)  # 0.5 * x[o] + 0.5 * x[o] == x[o]
    low_weight = _fop(kb, arith.SubfOp, kb.float_const(1.0, f64), frac)
    return [(_unless_skipped(kb, dim, o, low), low_weight), (_unless_skipped(kb, dim, o, high), frac)]


def _cubic_taps(kb: KernelBuilder, settings: _Settings, dim: _Dim, o: SSAValue, coordinate: SSAValue) -> list[Tap]:
    floor = kb.add(xmath.FloorOp(coordinate))
    s = kb.add(arith.ExtFOp(_fop(kb, arith.SubfOp, coordinate, floor), f64))
    base = _to_index(kb, floor)
    a = settings.cubic_a

    def c(value: float) -> SSAValue:
        return kb.float_const(value, f64)

    def mul(p: SSAValue, q: SSAValue) -> SSAValue:
        return _fop(kb, arith.MulfOp, p, q)

    distances = [_fop(kb, arith.AddfOp, s, c(1.0)), s, _fop(kb, arith.SubfOp, c(1.0), s), _fop(kb, arith.SubfOp, c(2.0), s)]
    taps = [kb.addi(base, kb.index(t - 1)) for t in range(4)]
    weights: list[SSAValue] = []
    for d, tap in zip(distances, taps):
        near = _fop(kb, arith.AddfOp, mul(mul(_fop(kb, arith.SubfOp, mul(c(a + 2), d), c(a + 3)), d), d), c(1.0))
        far_inner = _fop(kb, arith.AddfOp, mul(_fop(kb, arith.SubfOp, mul(c(a), d), c(5 * a)), d), c(8 * a))
        far = _fop(kb, arith.SubfOp, mul(far_inner, d), c(4 * a))
        weight = kb.select(kb.add(arith.CmpfOp(d, c(1.0), "ole")), near, far)
        if settings.exclude_outside:
            inside = kb.add(arith.AndIOp(kb.cmpi(tap, kb.index(0), "sge"), kb.cmpi(tap, dim.size, "slt")))
            weight = kb.select(inside, weight, c(0.0))
        weights.append(weight)
    if settings.exclude_outside:
        total = weights[0]
        for w in weights[1:]:
            total = _fop(kb, arith.AddfOp, total, w)
        weights = [_fop(kb, arith.DivfOp, w, total) for w in weights]
    if dim.skip is not None:
        weights = [kb.select(dim.skip, c(1.0 if t == 1 else 0.0), w) for t, w in enumerate(weights)]
    return [(_unless_skipped(kb, dim, o, _clamp_index(kb, tap, dim.last)), w) for tap, w in zip(taps, weights)]


def _unless_skipped(kb: KernelBuilder, dim: _Dim, o: SSAValue, index: SSAValue) -> SSAValue:
    return index if dim.skip is None else kb.select(dim.skip, o, index)


def _outside(kb: KernelBuilder, dim: _Dim, coordinate: SSAValue) -> SSAValue:
    below = kb.add(arith.CmpfOp(coordinate, kb.float_const(0.0, f32), "olt"))
    above = kb.add(arith.CmpfOp(coordinate, _to_float(kb, dim.last, f32), "ogt"))
    return kb.add(arith.OrIOp(below, above))


# ----------------------------------------------------------------------------------
# The kernel


def _settings(op: ResizeOp) -> _Settings:
    mode, coords, nearest = op.settings()
    return _Settings(mode, coords, nearest, read_float(op.cubic_coeff_a, -0.75), bool(read_int(op.exclude_outside, 0)))


@lowers("nn.resize")
def lower_resize(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    if not isinstance(op, ResizeOp):
        raise LoweringError(f"expected nn.resize, got '{op.name}'")
    (x,), (y,) = ins, outs
    settings = _settings(op)
    if settings.mode != "nearest":
        require_float(op, y)
    crop = settings.coords == "tf_crop_and_resize"
    ivs: list[SSAValue] = []
    taps: list[list[Tap]] = []
    outside: SSAValue | None = None
    dims = [_dim_invariants(kb, x, y, axis, op, settings) for axis in range(rank_of(x))]
    split = min(2, len(dims))  # N and C split across threads (batch 1 still splits)
    with ExitStack() as loops:
        lead, body = loops.enter_context(kb.parallel_nest([dim.out for dim in dims[:split]]))
        for axis, dim in enumerate(dims):
            if axis < split:
                o = lead[axis]
            else:
                o, body = loops.enter_context(body.loop(dim.out))
            ivs.append(o)
            if dim.identity:
                taps.append([(o, None)])
                continue
            coordinate = _coordinate(body, settings.coords, dim, o)
            if settings.mode == "nearest":
                taps.append(_nearest_taps(body, settings, dim, o, coordinate))
            elif settings.mode == "linear":
                taps.append(_linear_taps(body, dim, o, coordinate))
            else:
                taps.append(_cubic_taps(body, settings, dim, o, coordinate))
            if crop:
                flag = _outside(body, dim, coordinate)
                outside = flag if outside is None else body.add(arith.OrIOp(outside, flag))
        value = _mix(body, x, taps, settings.mode != "nearest")
        if outside is not None:
            value = body.select(outside, _extrapolation(body, op, value.type), value)
        element = element_of(y)
        if settings.mode != "nearest" and element != f64:
            # Through f32: the JIT has no f64 -> f16 conversion routine (__truncdfhf2).
            value = body.add(arith.TruncFOp(value, f32))
            if element != f32:
                value = body.add(arith.TruncFOp(value, element))
        body.store(value, y, ivs)


def _mix(kb: KernelBuilder, x: SSAValue, taps: Sequence[Sequence[Tap]], widen: bool) -> SSAValue:
    """``sum`` over tap combinations of ``weights * x[indices]``, the last dim outermost
    (loads widened to f64 when ``widen``)."""

    def mix(rank: int, indices: list[SSAValue | None]) -> SSAValue:
        if rank == 0:
            value = kb.load(x, cast(list[SSAValue], indices))
            return kb.add(arith.ExtFOp(value, f64)) if widen and value.type != f64 else value
        axis = rank - 1
        total: SSAValue | None = None
        for index, weight in taps[axis]:
            indices[axis] = index
            term = mix(axis, indices)
            if weight is not None:
                term = _fop(kb, arith.MulfOp, term, weight)
            total = term if total is None else _fop(kb, arith.AddfOp, total, term)
        assert total is not None
        return total

    return mix(len(taps), [None] * len(taps))


def _extrapolation(kb: KernelBuilder, op: ResizeOp, value_type: Attribute) -> SSAValue:
    """``extrapolation_value`` as the reference stores it in ``value_type``."""
    fill = read_float(op.extrapolation_value, 0.0)
    if isinstance(value_type, IntegerType):
        if value_type.signedness.data != Signedness.SIGNLESS:
            raise LoweringError(f"'{op.name}' on {value_type}: tf_crop_and_resize needs signless kernel buffers")
        element = cast(Attribute, getattr(op.results[0].type, "element_type"))
        if element == i1:
            return kb.int_const(int(fill != 0.0), value_type)
        as_int = int(np.asarray(np.float64(fill)).astype(numpy_dtype(element)))
        return kb.int_const(as_int, value_type)
    return kb.float_const(fill, value_type)

