"""Loop lowerings of the ``quant`` dialect.

- ``quant.quantize`` / ``dequantize`` / ``requantize`` are elementwise: they have scalar
  forms (registered with ``dynir.lowering.scalar.scalar``), so they lower inside the
  elementwise loop nest and fuse with their neighbours. Scales and zero points are
  loaded by numpy broadcasting like any other operand.
- ``quant.matmul`` / ``quant.gemm`` / ``quant.conv`` are the float loop nests of
  ``contraction.py`` and ``convolution.py`` on integers: each operand is widened to
  ``i32`` (``extsi``, ``extui`` for unsigned storage), its zero point subtracted, and
  the products accumulate with ``muli``/``addi`` in the ``i32`` output (i-k-j order: the
  output's contiguous dim innermost, so LLVM vectorises it).
- ``quant.packed_matmul`` / ``quant.packed_conv`` (constant weights packed by
  ``prepack-weights``) run on the VNNI micro-kernel (``dynir.lowering.int8_microkernel``,
  ``dynir.lowering.int8_conv``), with the fused ``epilogue`` applied to the corrected
  ``i32`` accumulators; the loop nests above stay for everything else.
- ``quant.dynamic_quantize`` is one kernel of two passes: a min/max reduction that
  carries both values, then the quantization loop nest.

Every result is bit-identical to the op's numpy reference (``dialects/quant/ops.py``):
same float widths, ``roundeven``, saturation before the integer conversion.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

from xdsl.dialects import arith, memref
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import Float32Type, IntegerType, MemRefType, Signedness, f32, f64, i32
from xdsl.ir import Attribute, Operation, SSAValue

from dynir.dialects.nn.base import read_int, read_ints
from dynir.dialects.quant.ops import ConvOp
from dynir.dialects.quant.packed import PackedConvOp, PackedMatmulOp, PackPanelsOp, is_unsigned
from dynir.dialects.quant.types import storage_range
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.families.convolution import plus, times, valid_range
from dynir.lowering.families.contraction import product
from dynir.lowering.families.conv_gemm import epilogue_reads_flat
from dynir.lowering.int8_conv import (
    ConvGeometry,
    ConvOperands,
    allocate_conv_scratch,
    allocate_phase_planes,
    fill_phase_planes,
)
from dynir.lowering.int8_microkernel import (
    Int8Gemm,
    Int8Tile,
    MatmulOperands,
    allocate_scratch,
    emit_int8_panel,
    emit_pack_panel,
    int8_lanes,
    panel_count,
    widen_zero_point,
)
from dynir.lowering.kernels import Epilogue, lowers
from dynir.lowering.microkernel import flat_index, unflatten
from dynir.lowering.scalar import LoweringError, scalar

# ----------------------------------------------------------------------------------
# Scalar helpers.


def _unsigned(t: Attribute) -> bool:
    return isinstance(t, IntegerType) and t.signedness.data == Signedness.UNSIGNED


def _width(t: Attribute) -> int:
    return int(getattr(t, "bitwidth", 32))


def int_to_float(kb: KernelBuilder, x: SSAValue, to: Attribute, storage: Attribute) -> SSAValue:
    """``x`` (held as ``storage``, maybe bit-cast to signless) as float ``to``."""
    cls = arith.UIToFPOp if _unsigned(storage) else arith.SIToFPOp
    return kb.add(cls(x, to))  # type: ignore[arg-type]


def widen_float(kb: KernelBuilder, x: SSAValue, to: Attribute) -> SSAValue:
    if x.type == to:
        return x
    if _width(x.type) < _width(to):
        return kb.add(arith.ExtFOp(x, to))  # type: ignore[arg-type]
    return kb.add(arith.TruncFOp(x, to))  # type: ignore[arg-type]


def widen_int(kb: KernelBuilder, x: SSAValue, storage: Attribute) -> SSAValue:
    """``x`` as ``i32``, sign- or zero-extended as its ``storage`` type says."""
    t = x.type
    assert isinstance(t, IntegerType)
    if t.width.data == 32:
        return x
    return kb.add(arith.ExtUIOp(x, i32) if _unsigned(storage) else arith.ExtSIOp(x, i32))


def saturate_to(kb: KernelBuilder, value: SSAValue, storage: Attribute) -> SSAValue:
    """An integer-valued float clipped to ``storage``'s range and converted to a
    signless integer of its width (buffers and registers are signless)."""
    if not isinstance(storage, IntegerType):
        raise LoweringError(f"quantized storage must be an integer type, got {storage}")
    lo, hi = storage_range(storage)
    clipped = kb.add(arith.MinimumfOp(kb.add(arith.MaximumfOp(value, kb.float_const(lo, value.type))), kb.float_const(hi, value.type)))
    as_i32 = kb.add(arith.FPToSIOp(clipped, i32))  # type: ignore[arg-type]
    width = storage.width.data
    return as_i32 if width == 32 else kb.add(arith.TruncIOp(as_i32, IntegerType(width)))


def _result_element(op: Operation, i: int = 0) -> Attribute:
    return op.results[i].type.element_type  # type: ignore[attr-defined]


def _operand_element(op: Operation, i: int) -> Attribute:
    return op.operands[i].type.element_type  # type: ignore[attr-defined]


@scalar("quant.quantize")
def _quantize(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, s, z = a
    ratio = kb.add(arith.DivfOp(widen_float(kb, x, f32), widen_float(kb, s, f32)))
    shifted = kb.add(arith.AddfOp(kb.add(xmath.RoundEvenOp(ratio)), int_to_float(kb, z, f32, _operand_element(op, 2))))
    return saturate_to(kb, shifted, _result_element(op))


@scalar("quant.dequantize")
def _dequantize(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, s, z = a
    storage = _operand_element(op, 0)
    centered = kb.add(arith.SubfOp(int_to_float(kb, x, f32, storage), int_to_float(kb, z, f32, storage)))
    return widen_float(kb, kb.add(arith.MulfOp(centered, widen_float(kb, s, f32))), _result_element(op))


@scalar("quant.requantize")
def _requantize(kb: KernelBuilder, op: Operation, a: list[SSAValue]) -> SSAValue:
    x, m, z = a
    scaled = kb.add(arith.MulfOp(int_to_float(kb, x, f64, i32), widen_float(kb, m, f64)))
    shifted = kb.add(arith.AddfOp(kb.add(xmath.RoundEvenOp(scaled)), int_to_float(kb, z, f64, _operand_element(op, 2))))
    return saturate_to(kb, shifted, _result_element(op))


def centered(
    kb: KernelBuilder, buffer: SSAValue, zero_point: SSAValue, index: Sequence[SSAValue], storage: Attribute
) -> SSAValue:
    """``buffer[index] - zero_point[broadcast(index)]`` in ``i32``; ``storage`` is the
    tensor's element type (it says signed or unsigned; buffers are signless)."""
    value = widen_int(kb, kb.load(buffer, index), storage)
    zp = widen_int(kb, kb.load(zero_point, kb.broadcast_index(zero_point, index)), storage)
    return kb.subi(value, zp)


def _rank(v: SSAValue) -> int:
    t = v.type
    assert isinstance(t, MemRefType)
    return t.get_num_dims()


def _mac(kb: KernelBuilder, out: SSAValue, index: Sequence[SSAValue], a: SSAValue, b: SSAValue) -> None:
    acc = kb.load(out, index)
    kb.store(kb.addi(acc, kb.muli(a, b)), out, index)


# ----------------------------------------------------------------------------------
# Integer contractions.


@lowers("quant.matmul")
def lower_matmul(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    a, b, az, bz = ins
    (c,) = outs
    sa, sb = _operand_element(op, 0), _operand_element(op, 1)
    ra, rb, rc = _rank(a), _rank(b), _rank(c)
    has_m, has_n = ra > 1, rb > 1
    batch_rank = rc - int(has_m) - int(has_n)
    out_dims = kb.dims(c)
    batch_ivs, body = kb.loop_nest(out_dims[:batch_rank])
    zero = body.int_const(0, i32)

    def batch_index(buf: SSAValue, rank: int, tail: int) -> list[SSAValue]:
        return [] if rank - tail <= 0 else body.broadcast_index(buf, batch_ivs, leading=rank - tail)

    m_dim = out_dims[batch_rank] if has_m else body.index(1)
    with body.loop(m_dim) as (i, row):
        n_dim = out_dims[rc - 1] if has_n else row.index(1)

        def c_index(j: SSAValue) -> list[SSAValue]:
            return [*batch_ivs, *([i] if has_m else []), *([j] if has_n else [])]

        with row.loop(n_dim) as (j, init):
            init.store(zero, c, c_index(j))
        with row.loop(kb.dim(a, ra - 1)) as (k, kloop):
            a_val = centered(kloop, a, az, [*batch_index(a, ra, 2 if has_m else 1), *([i] if has_m else []), k], sa)
            with kloop.loop(n_dim) as (j, inner):
                b_val = centered(inner, b, bz, [*batch_index(b, rb, 2 if has_n else 1), k, *([j] if has_n else [])], sb)
                _mac(inner, c, c_index(j), a_val, b_val)


@lowers("quant.gemm")
def lower_gemm(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    a, b, bias, az, bz = ins
    (y,) = outs
    sa, sb = _operand_element(op, 0), _operand_element(op, 1)
    trans_a = read_int(getattr(op, "trans_a", None), 0)
    trans_b = read_int(getattr(op, "trans_b", None), 0)
    m_dim, n_dim = kb.dim(y, 0), kb.dim(y, 1)
    with kb.loop(m_dim) as (i, row):
        with row.loop(n_dim) as (j, init):
            init.store(init.load(bias, init.broadcast_index(bias, [i, j])), y, [i, j])
        with row.loop(kb.dim(a, 0 if trans_a else 1)) as (k, kloop):
            a_val = centered(kloop, a, az, [k, i] if trans_a else [i, k], sa)
            with kloop.loop(n_dim) as (j, inner):
                b_val = centered(inner, b, bz, [j, k] if trans_b else [k, j], sb)
                _mac(inner, y, [i, j], a_val, b_val)


@lowers("quant.conv")
def lower_conv(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """``nn.conv``'s nest (see ``convolution.py``) on zero-point-centred ``i32`` values."""
    if not isinstance(op, ConvOp):
        raise LoweringError(f"expected quant.conv, got '{op.name}'")
    x, w, b, xz, wz = ins
    (y,) = outs
    k = _rank(x) - 2
    strides, pads, dilations, group = op.window(k)
    in_sizes = [kb.dim(x, 2 + i) for i in range(k)]
    out_sizes = [kb.dim(y, 2 + i) for i in range(k)]
    kernel = [kb.dim(w, 2 + i) for i in range(k)]
    per_group_in = kb.dim(w, 1)
    per_group_out = kb.divsi(kb.dim(w, 0), kb.index(group))
    with ExitStack() as loops:
        n, body = loops.enter_context(kb.loop(kb.dim(y, 0)))
        g, body = loops.enter_context(body.loop(body.index(group)))
        oc, body = loops.enter_context(body.loop(per_group_out))
        m = body.addi(body.muli(g, per_group_out), oc)
        bias = body.load(b, [m])
        out_outer: list[SSAValue] = []
        for i in range(k - 1):
            o, body = loops.enter_context(body.loop(out_sizes[i]))
            out_outer.append(o)
        with body.loop(out_sizes[-1]) as (o, fill):
            fill.store(bias, y, [n, m, *out_outer, o])
        ic, body = loops.enter_context(body.loop(per_group_in))
        c = body.addi(body.muli(g, per_group_in), ic)
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
        weight = centered(body, w, wz, [m, ic, *taps, t], _operand_element(op, 1))
        base = plus(body, times(body, t, dilations[last]), -pads[last])
        lo, hi = valid_range(body, base, strides[last], in_sizes[last], out_sizes[last])
        o, inner = loops.enter_context(body.loop(hi, lo))
        x_val = centered(inner, x, xz, [n, c, *in_outer, inner.addi(times(inner, o, strides[last]), base)], _operand_element(op, 0))
        _mac(inner, y, [n, m, *out_outer, o], x_val, weight)


# ----------------------------------------------------------------------------------
# Pre-packed int8 contractions: the VNNI micro-kernel.


@lowers("quant.packed_matmul")
def lower_packed_matmul(
    kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], *, epilogue: Epilogue | None = None
) -> None:
    """``quant.packed_matmul`` on ``int8_microkernel``: A's leading dims flattened into the
    rows of one GEMM, its column panels split across threads."""
    if not isinstance(op, PackedMatmulOp):
        raise LoweringError(f"expected quant.packed_matmul, got '{op.name}'")
    a, packed, terms, az = ins
    (c,) = outs
    tile = Int8Tile(int8_lanes())
    if packed.type.get_shape()[2] != tile.cols:  # type: ignore[attr-defined]
        raise LoweringError(f"'{op.name}' needs VNNI panels of {tile.cols} columns, got {packed.type}")
    ra, rc = _rank(a), _rank(c)
    lead = kb.dims(c)[:-1]
    signed = not is_unsigned(op.lhs.type)  # type: ignore[arg-type]
    zero = kb.index(0)
    per_row = any(d != 1 for d in az.type.get_shape())  # type: ignore[attr-defined]

    def a_zero(zkb: KernelBuilder, row: SSAValue) -> SSAValue:
        at = [*(unflatten(zkb, row, lead) if per_row else [zero] * len(lead)), zero]
        return widen_zero_point(zkb, zkb.load(az, zkb.broadcast_index(az, at)), signed)

    finish = None
    if epilogue is not None:

        def finish(fkb: KernelBuilder, value: SSAValue, row: SSAValue, col: SSAValue) -> SSAValue:
            return epilogue(fkb, value, [*unflatten(fkb, row, lead), col])

    operands = MatmulOperands(
        a=a,
        a_index=lambda akb, row, k: flat_index(ra, row, k, zero),
        a_signed=signed,
        a_zero=a_zero,
        packed=packed,
        terms=terms,
        depth=read_int(op.depth),
        row_sums=bool(read_int(op.row_sums, 1)),
    )
    gemm = Int8Gemm(
        m=product(kb, lead),
        n=kb.index(read_int(op.columns)),
        operands=operands,
        c=c,
        c_index=lambda ckb, row, col: flat_index(rc, row, col, zero),
        finish=finish,
        scratch=allocate_scratch(kb, tile) if epilogue is not None else None,
    )
    with kb.parallel_loop(panel_count(kb, gemm.n, tile)) as (p, body):
        emit_int8_panel(body, gemm, tile, p)


@lowers("quant.pack_panels")
def lower_pack_panels(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """``quant.pack_panels``: one parallel loop over the panels (``emit_pack_panel``)."""
    if not isinstance(op, PackPanelsOp):
        raise LoweringError(f"expected quant.pack_panels, got '{op.name}'")
    (b,) = ins
    packed, terms = outs
    tile = Int8Tile(int8_lanes())
    if read_int(op.width) != tile.cols:
        raise LoweringError(f"quant.pack_panels width {read_int(op.width)} is not this target's panel ({tile.cols} columns)")
    depth, columns = b.type.get_shape()  # type: ignore[attr-defined]
    with kb.parallel_loop(panel_count(kb, kb.index(columns), tile)) as (p, body):
        emit_pack_panel(body, b, packed, terms, p, (depth, columns), tile)


@lowers("quant.packed_conv")
def lower_packed_conv(
    kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], *, epilogue: Epilogue | None = None
) -> None:
    """``quant.packed_conv`` as one int8 GEMM per (image, group) (``int8_conv``); images,
    groups and column panels share the parallel loop."""
    if not isinstance(op, PackedConvOp):
        raise LoweringError(f"expected quant.packed_conv, got '{op.name}'")
    x, rows, terms, xz = ins
    (y,) = outs
    tile = Int8Tile(int8_lanes())
    strides, pads, dilations, group = op.window()
    kernel = read_ints(op.kernel_shape)
    depth = read_int(op.depth)
    geometry = ConvGeometry(
        channels=depth // (kernel[0] * kernel[1]), kernel=(kernel[0], kernel[1]), strides=strides, pads=pads,
        dilations=dilations, in_h=kb.dim(x, 2), in_w=kb.dim(x, 3), out_w=kb.dim(y, 3),
    )
    row_copy = set(strides) == {1} and (kernel[1] - 1) * dilations[1] == pads[1] + pads[3]
    padded_depth = rows.type.get_shape()[1]  # type: ignore[attr-defined]
    scratch = allocate_conv_scratch(kb, tile, padded_depth, geometry)
    planes = None if row_copy else allocate_phase_planes(kb, geometry)
    finish_scratch = allocate_scratch(kb, tile) if epilogue is not None else None
    flat = epilogue is not None and epilogue_reads_flat(kb, epilogue, i32, y)
    per_group_out = rows.type.get_shape()[0] // group  # type: ignore[attr-defined]
    positions = kb.muli(kb.dim(y, 2), kb.dim(y, 3))
    panels = panel_count(kb, positions, tile)
    zero = kb.index(0)
    work = kb.muli(kb.muli(kb.dim(y, 0), kb.index(group)), panels)
    first_of_part, _ = kb.partition_bounds(work)
    with kb.parallel_loop(work) as (iv, body):
        image_group = body.divsi(iv, panels)
        n, g = body.divsi(image_group, body.index(group)), body.remsi(image_group, body.index(group))
        first_out = body.muli(g, body.index(per_group_out))
        first_in = body.muli(g, body.index(geometry.channels))
        x_zero = body.load(xz, [zero] * _rank(xz))
        if planes is not None:
            # Each thread repacks the (image, group) of its first panel and of every
            # panel 0 it meets (its panels are consecutive).
            fresh = body.add(arith.OrIOp(body.cmpi(iv, first_of_part, "eq"), body.cmpi(body.remsi(iv, panels), zero, "eq")))
            with body.loop(body.select(fresh, body.index(1), zero)) as (_, repack):
                fill_phase_planes(repack, x, n, first_in, x_zero, geometry, planes)
        operands = ConvOperands(
            x=x, image=n, first_in=first_in, first_out=first_out,
            x_zero=x_zero, signed=not is_unsigned(op.input.type),  # type: ignore[arg-type]
            rows=rows, terms=terms, geometry=geometry, row_sums=bool(read_int(op.row_sums, 1)),
            scratch=scratch, planes=planes,
        )
        finish = None
        if epilogue is not None:

            def finish(fkb: KernelBuilder, value: SSAValue, m: SSAValue, p: SSAValue) -> SSAValue:
                # At the flat position where every tensor the epilogue reads allows it
                # (conv_gemm.epilogue_reads_flat): no div/rem per element, so it vectorises.
                position = [zero, p] if flat else unflatten(fkb, p, [kb.dim(y, 2), geometry.out_w])
                return epilogue(fkb, value, [n, fkb.addi(first_out, m), *position])

        gemm = Int8Gemm(
            m=body.index(per_group_out),
            n=positions,
            operands=operands,
            c=y,
            c_index=lambda ckb, m, p: [n, ckb.addi(first_out, m), zero, p],
            finish=finish,
            scratch=finish_scratch,
        )
        emit_int8_panel(body, gemm, tile, body.remsi(iv, panels))
    if planes is not None:
        kb.add(memref.DeallocOp.get(planes))


# ----------------------------------------------------------------------------------
# Dynamic quantization.


def _min_max(kb: KernelBuilder, x: SSAValue, dims: list[SSAValue], prefix: list[SSAValue], lo: SSAValue, hi: SSAValue) -> tuple[SSAValue, SSAValue]:
    """``(min(lo, x...), max(hi, x...))`` over the dims after ``prefix``, carried in registers."""
    if len(prefix) == len(dims):
        v = kb.load(x, prefix)
        return kb.add(arith.MinimumfOp(lo, v)), kb.add(arith.MaximumfOp(hi, v))
    with kb.reduction_loop(dims[len(prefix)], [lo, hi]) as (iv, carried, body, next_):
        next_.extend(_min_max(body, x, dims, [*prefix, iv], carried[0], carried[1]))
    return next_[0], next_[1]


@lowers("quant.dynamic_quantize")
def lower_dynamic_quantize(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    (x,) = ins
    y, scale_out, zero_out = outs
    if not isinstance(x.type, MemRefType) or not isinstance(x.type.element_type, Float32Type):
        raise LoweringError("'quant.dynamic_quantize' lowers f32 inputs only")
    dims = kb.dims(x)
    zero, one = kb.float_const(0.0, f32), kb.float_const(1.0, f32)
    lo, hi = _min_max(kb, x, dims, [], zero, zero)
    same = kb.add(arith.CmpfOp(hi, lo, "oeq"))
    span = kb.select(same, one, kb.add(arith.SubfOp(hi, lo)))
    scale = kb.add(arith.DivfOp(span, kb.float_const(255.0, f32)))
    initial = kb.add(arith.SubfOp(zero, kb.add(arith.DivfOp(lo, scale))))
    clipped = kb.add(arith.MinimumfOp(kb.add(arith.MaximumfOp(initial, zero)), kb.float_const(255.0, f32)))
    zp = kb.add(xmath.RoundEvenOp(clipped))
    storage = _result_element(op)
    # Every part finds the range itself (a replicated prologue: reading is cheap), one
    # stores the scale and zero point, and the parts quantize their slices in parallel.
    with kb.parallel_loop(kb.index(1)) as (_, once):
        once.store(scale, scale_out, [])
        once.store(saturate_to(once, zp, storage), zero_out, [])
    ivs, inner = kb.parallel_loop_nest(dims)
    ratio = inner.add(xmath.RoundEvenOp(inner.add(arith.DivfOp(inner.load(x, ivs), scale))))
    inner.store(saturate_to(inner, inner.add(arith.AddfOp(ratio, zp)), storage), y, ivs)
