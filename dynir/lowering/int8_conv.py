"""``quant.packed_conv`` on the int8 micro-kernel: an implicit GEMM with a packed X_col.

Per image ``n`` and group ``g`` the output is ``Y[m, p] = sum_k W'[m, k] X_col'[k, p]``
plus corrections (``dynir.dialects.quant.packed``), rows = output channels, columns =
flattened output positions (contiguous in memory). The roles of the matmul kernel swap:
the constant weight rows are the broadcast operand (4 signed bytes per row and step), and
X_col is the vector operand, copied per column panel into a stack scratch in the VNNI
layout ``[K/4][NR][4]`` (u8: ``x' = x + 128`` for signed input, the zero point in the
padding, zeros past K)::

    scratch[k4, j, q] = X_col'[4 k4 + q, first_col + j]

How the scratch is filled (X_col row ``(c, kh, kw)`` over 16 consecutive positions is
always one masked 16-byte load, the masked-off lanes reading the zero point; 4 rows are
interleaved by two shuffles into one 64-byte store). ``k = c * taps + tap`` repeats its tap
pattern every ``lcm(4, taps)`` k's, so that period is unrolled (taps, shifts and masks
static) inside a loop over channels. The masks depend on the tap and the panel only: per
panel, the ``(oh, ow)`` of its columns (one division) give each tap's lane mask by
``vecx.in_range`` compares, computed before the channel loop.
- *row copy*, when every stride is 1 and the output row is as wide as the input row
  (1x1 convs, "same"-padded 3x3 ...): the 16 bytes are consecutive input bytes shifted
  by ``(kh - pad) * W + (kw - pad)``; a lane reads where ``(oh + kh - pad, ow + kw - pad)``
  is inside the input;
- *phase planes* otherwise (strides, dilations, "valid" windows, the 7x7 stem): once
  per (image, group) and thread the input is repacked into one plane per
  ``(c, kw, ih % stride)``, ``OW`` bytes a row, padding stored as the zero point::

      planes[(c * KW + kw) * SH + by, r * OW + ow] = x[c, r * SH + by, ow * SW + kw * DW - pad_left]

  so tap ``(c, kh, kw)`` at output ``(oh, ow)`` is byte ``(oh + ay) * OW + ow`` of plane
  ``(c, kw, by)`` with ``kh * DH - pad_top = ay * SH + by``: consecutive positions read
  consecutive bytes; a lane reads where row ``oh + ay`` is inside the plane.
Each column's sum of X_col' is needed only with non-zero weight zero points: a dot4 of
the scratch with ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.dialects import arith, memref, vector
from xdsl.dialects.builtin import DYNAMIC_INDEX, VectorType, i1, i8, i32, i64
from xdsl.ir import SSAValue

from dynir.dialects.quant.packed import DOT_GROUP
from dynir.dialects.vecx import Dot4Op, InRangeOp
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.int8_microkernel import ONES, Int8Tile, Panel, broadcast_word, interleave_rows, splat


@dataclass(frozen=True)
class ConvGeometry:
    """The static window of a 2-D conv and the (maybe dynamic) sizes the fill needs."""

    channels: int
    kernel: tuple[int, int]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    in_h: SSAValue
    in_w: SSAValue
    out_w: SSAValue

    @property
    def taps(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def depth(self) -> int:
        return self.channels * self.taps


@dataclass(frozen=True)
class ConvScratch:
    """Stack buffers of the X_col panel, allocated once per kernel call at its top level."""

    panel: SSAValue
    """The panel in the VNNI layout ``[K/4][NR][4]``."""
    places: SSAValue
    """``(oh, ow)`` of each column of the panel (i64)."""


def allocate_conv_scratch(kb: KernelBuilder, tile: Int8Tile, padded_depth: int, geometry: ConvGeometry) -> ConvScratch:
    panel = kb.add(memref.AllocaOp.get(i8, 64, [padded_depth // DOT_GROUP, tile.cols, DOT_GROUP]))
    places = kb.add(memref.AllocaOp.get(i64, 64, [2, tile.cols]))
    return ConvScratch(panel, places)


def allocate_phase_planes(kb: KernelBuilder, geometry: ConvGeometry) -> SSAValue:
    """The phase planes of one (image, group) (see the module doc) on the heap, once per
    kernel call (so once per thread); free them with ``memref.dealloc`` after the loop."""
    g = geometry
    rows = g.channels * g.kernel[1] * g.strides[0]
    plane = kb.muli(phase_rows(kb, g), g.out_w)
    return kb.add(memref.AllocOp.get(i8, 64, [rows, DYNAMIC_INDEX], [plane]))


def phase_rows(kb: KernelBuilder, geometry: ConvGeometry) -> SSAValue:
    """Rows of one phase plane: ``ceil(H / SH)``."""
    return kb.add(arith.CeilDivSIOp(geometry.in_h, kb.index(geometry.strides[0])))


def fill_phase_planes(
    kb: KernelBuilder, x: SSAValue, image: SSAValue, first_in: SSAValue, x_zero: SSAValue, geometry: ConvGeometry,
    planes: SSAValue,
) -> None:
    """Repack channels ``first_in ...`` of image ``image`` into ``planes``; each row is three
    runs (left padding, input bytes ``stride`` apart, right padding)."""
    g = geometry
    (sh, sw), dw = g.strides[:2], g.dilations[1]
    rows = phase_rows(kb, g)
    with kb.loop(kb.index(g.channels)) as (c, per_channel):
        channel = per_channel.addi(first_in, c)
        with per_channel.loop(per_channel.index(g.kernel[1])) as (kw, per_tap):
            offset = per_tap.subi(per_tap.muli(kw, per_tap.index(dw)), per_tap.index(g.pads[1]))
            first = _clamp(per_tap, per_tap.add(arith.CeilDivSIOp(per_tap.subi(per_tap.index(0), offset), per_tap.index(sw))), g.out_w)
            end = _clamp(per_tap, per_tap.add(arith.CeilDivSIOp(per_tap.subi(g.in_w, offset), per_tap.index(sw))), g.out_w)
            end = per_tap.add(arith.MaxSIOp(first, end))
            with per_tap.loop(per_tap.index(sh)) as (by, phase):
                plane = phase.addi(phase.muli(phase.addi(phase.muli(c, phase.index(g.kernel[1])), kw), phase.index(sh)), by)
                inside = _clamp(phase, phase.add(arith.CeilDivSIOp(phase.subi(g.in_h, by), phase.index(sh))), rows)
                with phase.loop(inside) as (r, row):
                    ih = row.addi(row.muli(r, row.index(sh)), by)
                    base = row.muli(r, g.out_w)
                    _fill(row, planes, plane, base, row.index(0), first, x_zero)
                    with row.loop(end, first) as (ow, copy):
                        iw = copy.addi(copy.muli(ow, copy.index(sw)), offset)
                        copy.store(copy.load(x, [image, channel, ih, iw]), planes, [plane, copy.addi(base, ow)])
                    _fill(row, planes, plane, base, end, g.out_w, x_zero)
                with phase.loop(rows, inside) as (r, row):
                    _fill(row, planes, plane, row.muli(r, g.out_w), row.index(0), g.out_w, x_zero)


def _clamp(kb: KernelBuilder, value: SSAValue, upper: SSAValue) -> SSAValue:
    """``value`` clamped to ``[0, upper]``."""
    return kb.add(arith.MinSIOp(kb.add(arith.MaxSIOp(value, kb.index(0))), upper))


def _fill(kb: KernelBuilder, planes: SSAValue, plane: SSAValue, base: SSAValue, first: SSAValue, end: SSAValue, byte: SSAValue) -> None:
    with kb.loop(end, first) as (ow, body):
        body.store(byte, planes, [plane, body.addi(base, ow)])


@dataclass(frozen=True)
class _Reads:
    """What the X_col copy of one panel reads, per tap and vector (see ``_copy_rows``)."""

    columns: list[list[SSAValue]]
    """The last source index of the first lane: the panel's column plus the tap's shift."""
    masks: list[list[SSAValue]]
    zero_point: SSAValue
    flip: SSAValue
    zeros: SSAValue


@dataclass(frozen=True)
class ConvOperands:
    """The operands of one (image, group) GEMM of a packed conv (see the module doc)."""

    x: SSAValue
    image: SSAValue
    first_in: SSAValue
    first_out: SSAValue
    x_zero: SSAValue
    """The input zero point as stored (i8), before any shift."""
    signed: bool
    rows: SSAValue
    terms: SSAValue
    geometry: ConvGeometry
    row_sums: bool
    scratch: ConvScratch
    planes: SSAValue | None
    """The phase planes (filled by the caller); None for the row copy."""
    broadcast_unsigned: bool = False
    tail: int = 0

    @property
    def groups(self) -> int:
        return -(-self.geometry.depth // DOT_GROUP)

    def vector(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel, group: SSAValue, v: int) -> SSAValue:
        return kb.add(vector.LoadOp(self.scratch.panel, [group, kb.index(v * tile.lanes), kb.index(0)], tile.bytes_type))

    def word(self, kb: KernelBuilder, tile: Int8Tile, row: SSAValue, group: SSAValue, tail: bool) -> SSAValue:
        index = [kb.addi(self.first_out, row), kb.muli(group, kb.index(DOT_GROUP))]
        return broadcast_word(kb, self.rows, index, tile, False)

    def correct(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel, row: SSAValue, accs: list[SSAValue]) -> list[SSAValue]:
        """``acc - zx' * terms[0][m] - terms[1][m] * colsum(X_col') + terms[2][m]``."""
        m = kb.addi(self.first_out, row)
        t0, t1, t2 = (kb.load(self.terms, [kb.index(t), m]) for t in range(3))
        base = splat(kb, kb.subi(kb.muli(self._zero_shifted(kb), t0), t2), tile.acc_type)
        out = [kb.subi(acc, base) for acc in accs]
        if self.row_sums:
            weight_zero = splat(kb, t1, tile.acc_type)
            out = [kb.subi(value, kb.muli(weight_zero, panel.state["colsum"][v])) for v, value in enumerate(out)]
        return out

    def _zero_shifted(self, kb: KernelBuilder) -> SSAValue:
        if self.signed:
            return kb.addi(kb.add(arith.ExtSIOp(self.x_zero, i32)), kb.int_const(128, i32))
        return kb.add(arith.ExtUIOp(self.x_zero, i32))

    # -- the scratch ---------------------------------------------------------------

    def begin(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> None:
        self._copy_rows(kb, tile, panel)
        if self.row_sums:
            self._column_sums(kb, tile, panel)

    def _tap(self, tap: int) -> tuple[int, int]:
        """``(kh * dh - pad_top, kw * dw - pad_left)``: where tap ``tap`` reads, relative to
        the output position (times the strides)."""
        g = self.geometry
        kh, kw = divmod(tap, g.kernel[1])
        return kh * g.dilations[0] - g.pads[0], kw * g.dilations[1] - g.pads[1]

    def _phase(self, tap: int) -> tuple[int, int]:
        """``(ay, by)`` of tap ``tap``'s row offset ``dy = ay * SH + by`` (``0 <= by < SH``):
        the phase plane's row shift and phase."""
        return divmod(self._tap(tap)[0], self.geometry.strides[0])

    def _masks(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> list[list[SSAValue]]:
        """``masks[tap][v]``: the lanes of vector ``v`` of the panel that read the input
        under ``tap`` (the rest read the zero point): a few vector compares per tap, from
        the ``(oh, ow)`` of the panel's columns (one division per panel)."""
        g = self.geometry
        places = self.scratch.places
        start = [kb.divsi(panel.first_col, g.out_w), kb.remsi(panel.first_col, g.out_w)]
        with kb.reduction_loop(kb.index(tile.cols), start) as (j, carried, body, next_):
            oh, ow = carried
            for axis, value in enumerate(carried):
                body.store(body.add(arith.IndexCastOp(value, i64)), places, [body.index(axis), j])
            ow_next = body.addi(ow, body.index(1))
            wrap = body.cmpi(ow_next, g.out_w, "eq")
            next_ += [body.select(wrap, body.addi(oh, body.index(1)), oh), body.select(wrap, body.index(0), ow_next)]
        lanes_type = VectorType(i64, [tile.lanes])
        rows = g.in_h if self.planes is None else phase_rows(kb, g)
        masks: list[list[SSAValue]] = [[] for _ in range(g.taps)]
        for v in range(tile.vectors):
            oh, ow = (kb.add(vector.LoadOp(places, [kb.index(axis), kb.index(v * tile.lanes)], lanes_type)) for axis in (0, 1))
            live = kb.add(vector.CreateMaskOp([kb.subi(panel.left, kb.index(v * tile.lanes))], VectorType(i1, [tile.lanes])))
            for tap in range(g.taps):
                if self.planes is None:  # stride 1: the input row and column themselves
                    dy, dx = self._tap(tap)
                    inside = kb.add(arith.AndIOp(_in_range(kb, oh, dy, rows), _in_range(kb, ow, dx, g.in_w)))
                else:  # the phase plane's row; its columns are the output's
                    inside = _in_range(kb, oh, self._phase(tap)[0], rows)
                masks[tap].append(kb.add(arith.AndIOp(inside, live)))
        return masks

    def _copy_rows(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> None:
        """The scratch, 4 X_col rows at a time. ``k = c * taps + tap`` repeats its tap
        pattern every ``lcm(4, taps)`` k's (at most 4 channels), so that period is unrolled
        (every tap, mask and column static) and the loop runs over periods; the channels
        left over and the zero rows past K follow, unrolled. What depends on the tap only
        (columns, masks) is computed before the loop, what depends on the channel once
        per channel."""
        g = self.geometry
        period = math.lcm(DOT_GROUP, g.taps)
        channels, groups = period // g.taps, period // DOT_GROUP
        periods = g.channels // channels
        reads = self._reads(kb, tile, panel)
        with kb.loop(kb.index(periods)) as (p, body):
            first = body.muli(p, body.index(channels))
            bases = [self._channel_base(body, body.addi(first, body.index(c))) for c in range(channels)]
            for q in range(groups):
                rows = [(bases[k // g.taps], k % g.taps) for k in range(q * DOT_GROUP, (q + 1) * DOT_GROUP)]
                self._store_group(body, tile, body.addi(body.muli(p, body.index(groups)), body.index(q)), rows, reads)
        tail = range(periods * groups * DOT_GROUP, g.depth)
        bases = {c: self._channel_base(kb, kb.index(c)) for c in sorted({k // g.taps for k in tail})}
        for group in range(periods * groups, self.groups):
            ks = range(group * DOT_GROUP, (group + 1) * DOT_GROUP)
            rows = [(bases[k // g.taps], k % g.taps) if k < g.depth else None for k in ks]
            self._store_group(kb, tile, kb.index(group), rows, reads)

    def _reads(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> _Reads:
        g = self.geometry
        row_type = VectorType(i8, [tile.lanes])
        columns: list[list[SSAValue]] = []
        for tap in range(g.taps):
            if self.planes is None:
                dy, dx = self._tap(tap)
                shift = kb.addi(kb.muli(kb.index(dy), g.in_w), kb.index(dx))
            else:
                shift = kb.muli(kb.index(self._phase(tap)[0]), g.out_w)
            columns.append([kb.addi(kb.addi(panel.first_col, kb.index(v * tile.lanes)), shift) for v in range(tile.vectors)])
        return _Reads(columns, self._masks(kb, tile, panel), splat(kb, self.x_zero, row_type), splat(kb, kb.int_const(-128, i8), row_type),
                      splat(kb, kb.int_const(0, i8), row_type))

    def _channel_base(self, kb: KernelBuilder, channel: SSAValue) -> SSAValue:
        """What a row's source index needs of its channel: the input channel (row copy),
        or the first phase plane of the channel."""
        g = self.geometry
        if self.planes is None:
            return kb.addi(self.first_in, channel)
        return kb.muli(channel, kb.index(g.kernel[1] * g.strides[0]))

    def _store_group(
        self, kb: KernelBuilder, tile: Int8Tile, group: SSAValue, rows: list[tuple[SSAValue, int] | None], reads: _Reads,
    ) -> None:
        """X_col rows ``(channel base, tap)`` (None: a zero row past K) interleaved into
        ``panel[group]``."""
        g = self.geometry
        for v in range(tile.vectors):
            values: list[SSAValue] = []
            for row in rows:
                if row is None:
                    values.append(reads.zeros)
                    continue
                base, tap = row
                if self.planes is None:
                    source, index = self.x, [self.image, base, kb.index(0)]
                else:  # plane (c, kw, by) of the channel's first: c * KW * SH + kw * SH + by
                    source, index = self.planes, [kb.addi(base, kb.index(tap % g.kernel[1] * g.strides[0] + self._phase(tap)[1]))]
                value = kb.add(vector.MaskedLoadOp(source, [*index, reads.columns[tap][v]], reads.masks[tap][v], reads.zero_point))
                values.append(kb.add(arith.XOrIOp(value, reads.flip)) if self.signed else value)
            kb.add(vector.StoreOp(interleave_rows(kb, values, tile.lanes), self.scratch.panel, [group, kb.index(v * tile.lanes), kb.index(0)]))

    def _column_sums(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> None:
        ones = kb.add(vector.BitcastOp(splat(kb, kb.int_const(ONES, i32), tile.acc_type), tile.bytes_type))
        init = [splat(kb, kb.int_const(0, i32), tile.acc_type)] * tile.vectors
        with kb.reduction_loop(kb.index(self.groups), init) as (k4, carried, body, next_):
            for v in range(tile.vectors):
                data = body.add(vector.LoadOp(self.scratch.panel, [k4, body.index(v * tile.lanes), body.index(0)], tile.bytes_type))
                next_.append(body.add(Dot4Op(carried[v], data, ones)))
        panel.state["colsum"] = list(next_)


def _in_range(kb: KernelBuilder, lanes: SSAValue, offset: int, bound: SSAValue) -> SSAValue:
    """Lanes with ``0 <= lanes + offset < bound``."""
    if offset:
        lanes = kb.addi(lanes, splat(kb, kb.int_const(offset, i64), lanes.type))  # type: ignore[arg-type]
    return kb.add(InRangeOp(lanes, bound))
