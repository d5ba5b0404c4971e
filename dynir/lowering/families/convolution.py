"""Loop lowerings of convolutions: ``nn.conv`` and ``nn.conv_transpose`` (N-d, grouped).

``nn.conv`` (2-D shown; N-d adds one output loop and one kernel loop per spatial dim)::

    for n, g, oc:                       m = g * (M / G) + oc (no g loop for one group)
      for oh:
        for ow: y[n, m, oh, ow] = b[m]
        for ic, kh in valid(oh):        c = g * (C / G) + ic
          for kw:
            w_val = w[m, ic, kh, kw]
            for ow in valid(kw):        the output row, contiguous: LLVM vectorises it
              y[n, m, oh, ow] += x[n, c, oh*s - p + kh*d, ow*s - p + kw*d] * w_val

Padding never reads out of bounds: each kernel loop (and the innermost output loop)
runs over the clamped range of taps whose input index lies inside the input
(``valid_range``), so the loop bodies hold no bounds checks.

``nn.conv_transpose`` is the scatter form of the same nest: for each input position
and tap, ``y[n, m, i*s - p + k*d] += x[n, c, i] * w[c, oc, k]`` over the clamped range
of input positions whose output index lies inside the (cropped) output, after the
output is filled with the bias. The window helpers here are shared with pooling.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

from xdsl.dialects import arith
from xdsl.dialects.builtin import MemRefType
from xdsl.ir import Attribute, Operation, SSAValue

from dynir.dialects.nn.contraction import ConvOp, ConvTransposeOp
from dynir.lowering.builder import KernelBuilder, is_integer_type
from dynir.lowering.kernels import Epilogue, lowers
from dynir.lowering.scalar import LoweringError

# ----------------------------------------------------------------------------------
# Window helpers (also used by pooling.py).


def rank_of(buffer: SSAValue) -> int:
    t = buffer.type
    assert isinstance(t, MemRefType)
    return t.get_num_dims()


def element_of(buffer: SSAValue) -> Attribute:
    t = buffer.type
    assert isinstance(t, MemRefType)
    element: Attribute = t.element_type
    return element


def require_float(op: Operation, buffer: SSAValue) -> Attribute:
    """The element type of ``buffer``; a ``LoweringError`` naming ``op`` unless float."""
    element = element_of(buffer)
    if is_integer_type(element):
        raise LoweringError(f"'{op.name}' on {element} has no loop lowering (float element types only)")
    return element


def times(kb: KernelBuilder, value: SSAValue, factor: int) -> SSAValue:
    """``value * factor`` for a static ``factor`` (no op when it is 1)."""
    return value if factor == 1 else kb.muli(value, kb.index(factor))


def plus(kb: KernelBuilder, value: SSAValue, term: int) -> SSAValue:
    """``value + term`` for a static ``term`` (no op when it is 0)."""
    return value if term == 0 else kb.addi(value, kb.index(term))


def valid_range(
    kb: KernelBuilder, offset: SSAValue, step: int, limit: SSAValue, count: SSAValue
) -> tuple[SSAValue, SSAValue]:
    """``[lo, hi)``: the ``t`` in ``[0, count)`` with ``0 <= offset + step * t < limit``
    (``step`` > 0). The range is empty when ``hi <= lo``; ``scf.for`` then runs no
    iteration."""
    zero = kb.index(0)
    lo = kb.subi(zero, offset)
    hi = kb.subi(limit, offset)
    if step != 1:
        lo = kb.add(arith.CeilDivSIOp(lo, kb.index(step)))
        hi = kb.add(arith.CeilDivSIOp(hi, kb.index(step)))
    return kb.add(arith.MaxSIOp(lo, zero)), kb.add(arith.MinSIOp(hi, count))


def range_length(kb: KernelBuilder, lo: SSAValue, hi: SSAValue) -> SSAValue:
    """``max(hi - lo, 0)``: the trip count of ``[lo, hi)``."""
    return kb.add(arith.MaxSIOp(kb.subi(hi, lo), kb.index(0)))


def _per_group(kb: KernelBuilder, channels: SSAValue, group: int) -> SSAValue:
    return channels if group == 1 else kb.divsi(channels, kb.index(group))


def _group_loop(loops: ExitStack, kb: KernelBuilder, group: int) -> tuple[SSAValue | None, KernelBuilder]:
    """The loop over groups (none for one group)."""
    if group == 1:
        return None, kb
    return loops.enter_context(kb.loop(kb.index(group)))


def _channel(kb: KernelBuilder, g: SSAValue | None, per_group: SSAValue, within: SSAValue) -> SSAValue:
    """The channel ``g * per_group + within``."""
    return within if g is None else kb.addi(kb.muli(g, per_group), within)


# ----------------------------------------------------------------------------------
# nn.conv


@lowers("nn.conv")
def lower_conv(
    kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], *, epilogue: Epilogue | None = None
) -> None:
    """Implicit GEMM on the micro-kernel where it pays (float, >= ``GEMM_MIN_CHANNELS``
    output channels per group: ``conv_gemm.py``), else the direct loops below; the
    ``epilogue`` is applied to each output element before its final store."""
    if not isinstance(op, ConvOp):
        raise LoweringError(f"expected nn.conv, got '{op.name}'")
    from dynir.lowering.families.conv_gemm import conv_as_gemm

    if conv_as_gemm(kb, op, ins, outs, epilogue):
        return
    conv_direct(kb, op, ins, outs)
    if epilogue is not None:
        (y,) = outs
        ivs, inner = kb.loop_nest(kb.dims(y))
        inner.store(epilogue(inner, inner.load(y, ivs), ivs), y, ivs)


def conv_direct(kb: KernelBuilder, op: ConvOp, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """The direct loop nest (any group count, any element type the loops support)."""
    x, w, b = ins
    (y,) = outs
    require_float(op, y)
    k = rank_of(x) - 2
    strides, pads, dilations, group = op.window(k)
    in_sizes = [kb.dim(x, 2 + i) for i in range(k)]
    out_sizes = [kb.dim(y, 2 + i) for i in range(k)]
    kernel = [kb.dim(w, 2 + i) for i in range(k)]
    per_group_in = kb.dim(w, 1)
    per_group_out = _per_group(kb, kb.dim(w, 0), group)
    with ExitStack() as loops:
        n, body = loops.enter_context(kb.loop(kb.dim(y, 0)))
        g, body = _group_loop(loops, body, group)
        oc, body = loops.enter_context(body.loop(per_group_out))
        m = _channel(body, g, per_group_out, oc)
        bias = body.load(b, [m])
        out_outer: list[SSAValue] = []
        for i in range(k - 1):
            o, body = loops.enter_context(body.loop(out_sizes[i]))
            out_outer.append(o)
        with body.loop(out_sizes[-1]) as (o, fill):
            fill.store(bias, y, [n, m, *out_outer, o])
        ic, body = loops.enter_context(body.loop(per_group_in))
        c = _channel(body, g, per_group_in, ic)
        taps: list[SSAValue] = []
        in_outer: list[SSAValue] = []
        for i in range(k - 1):
            base = plus(body, times(body, out_outer[i], strides[i]), -pads[i])
            lo, hi = valid_range(body, base, dilations[i], in_sizes[i], kernel[i])
            t, body = loops.enter_context(body.loop(hi, lo))
            taps.append(t)
            in_outer.append(body.addi(base, times(body, t, dilations[i])))
        last = k - 1
        t, body = loops.enter_context(body.loop(kernel[last]))
        weight = body.load(w, [m, ic, *taps, t])
        base = plus(body, times(body, t, dilations[last]), -pads[last])
        lo, hi = valid_range(body, base, strides[last], in_sizes[last], out_sizes[last])
        o, inner = loops.enter_context(body.loop(hi, lo))
        i_last = inner.addi(times(inner, o, strides[last]), base)
        x_val = inner.load(x, [n, c, *in_outer, i_last])
        out_index = [n, m, *out_outer, o]
        acc = inner.load(y, out_index)
        inner.store(inner.add(arith.AddfOp(acc, inner.add(arith.MulfOp(x_val, weight)))), y, out_index)


# ----------------------------------------------------------------------------------
# nn.conv_transpose


@lowers("nn.conv_transpose")
def lower_conv_transpose(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    if not isinstance(op, ConvTransposeOp):
        raise LoweringError(f"expected nn.conv_transpose, got '{op.name}'")
    x, w, b = ins
    (y,) = outs
    require_float(op, y)
    k = rank_of(x) - 2
    strides, pads, dilations, group, _ = op.geometry(k)
    in_sizes = [kb.dim(x, 2 + i) for i in range(k)]
    out_sizes = [kb.dim(y, 2 + i) for i in range(k)]
    kernel = [kb.dim(w, 2 + i) for i in range(k)]
    per_group_in = _per_group(kb, kb.dim(w, 0), group)
    per_group_out = kb.dim(w, 1)
    with ExitStack() as loops:
        n, body = loops.enter_context(kb.loop(kb.dim(y, 0)))
        g, body = _group_loop(loops, body, group)
        oc, body = loops.enter_context(body.loop(per_group_out))
        m = _channel(body, g, per_group_out, oc)
        _fill_spatial(body, body.load(b, [m]), y, [n, m], out_sizes)
        ic, body = loops.enter_context(body.loop(per_group_in))
        c = _channel(body, g, per_group_in, ic)
        inputs: list[SSAValue] = []
        taps: list[SSAValue] = []
        outputs: list[SSAValue] = []
        for i in range(k - 1):
            pos, body = loops.enter_context(body.loop(in_sizes[i]))
            base = plus(body, times(body, pos, strides[i]), -pads[i])
            lo, hi = valid_range(body, base, dilations[i], out_sizes[i], kernel[i])
            t, body = loops.enter_context(body.loop(hi, lo))
            inputs.append(pos)
            taps.append(t)
            outputs.append(body.addi(base, times(body, t, dilations[i])))
        last = k - 1
        t, body = loops.enter_context(body.loop(kernel[last]))
        weight = body.load(w, [c, oc, *taps, t])
        base = plus(body, times(body, t, dilations[last]), -pads[last])
        lo, hi = valid_range(body, base, strides[last], out_sizes[last], in_sizes[last])
        pos, inner = loops.enter_context(body.loop(hi, lo))
        out_index = [n, m, *outputs, inner.addi(times(inner, pos, strides[last]), base)]
        x_val = inner.load(x, [n, c, *inputs, pos])
        acc = inner.load(y, out_index)
        inner.store(inner.add(arith.AddfOp(acc, inner.add(arith.MulfOp(x_val, weight)))), y, out_index)


def _fill_spatial(kb: KernelBuilder, value: SSAValue, y: SSAValue, lead: Sequence[SSAValue], sizes: Sequence[SSAValue]) -> None:
    """``y[lead..., :, ..., :] = value`` over the spatial ``sizes``."""
    ivs, inner = kb.loop_nest(sizes)
    inner.store(value, y, [*lead, *ivs])
