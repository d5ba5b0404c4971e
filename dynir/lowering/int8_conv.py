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
always one masked 16-byte load, then 4 rows are interleaved by two shuffles into one
64-byte store):
- *row copy*, when every stride is 1 and the output row is as wide as the input row
  (1x1 convs, "same"-padded 3x3 ...): the 16 bytes are consecutive input bytes shifted
  by ``(kh - pad) * W + (kw - pad)``, the load masked to the input plane and blended
  with the zero point where a per-panel byte table says the lane is padding;
- *phase planes* otherwise (strides, dilations, "valid" windows, the 7x7 stride-2 stem):
  once per (image, group) and thread the input is repacked into one plane per
  ``(c, kw, ih % stride)``, ``OW`` bytes a row, padding stored as the zero point::

      planes[(c * KW + kw) * SH + by, r * OW + ow] = x[c, r * SH + by, ow * SW + kw * DW - pad_left]

  so tap ``(c, kh, kw)`` at output ``(oh, ow)`` is byte ``(oh + ay) * OW + ow`` of plane
  ``(c, kw, by)`` with ``kh * DH - pad_top = ay * SH + by``: consecutive positions read
  consecutive bytes, rows outside the plane are masked to the zero point. No table.
Each column's sum of X_col' is needed only with non-zero weight zero points: a dot4 of
the scratch with ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import arith, memref, vector
from xdsl.dialects.builtin import DYNAMIC_INDEX, DenseArrayBase, VectorType, i1, i8, i32, i64
from xdsl.ir import SSAValue

from dynir.dialects.quant.packed import DOT_GROUP
from dynir.dialects.vecx import Dot4Op
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.int8_microkernel import Int8Tile, Panel, broadcast_word, splat

ONES = 0x01010101
"""Four bytes of 1: a dot4 against it sums 4 bytes per lane."""


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


def allocate_conv_scratch(
    kb: KernelBuilder, tile: Int8Tile, padded_depth: int, geometry: ConvGeometry, row_copy: bool
) -> tuple[SSAValue, SSAValue | None]:
    """The X_col panel scratch and, for the row copy, its per-tap lane table (bytes), once
    per kernel call at the kernel's top level."""
    scratch = kb.add(memref.AllocaOp.get(i8, 64, [padded_depth // DOT_GROUP, tile.cols, DOT_GROUP]))
    if row_copy:
        return scratch, kb.add(memref.AllocaOp.get(i8, 64, [geometry.taps, tile.cols]))
    return scratch, None


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
    scratch: SSAValue
    table: SSAValue | None
    """The row copy's per-tap lane table; None with phase planes."""
    planes: SSAValue | None
    """The phase planes (filled by the caller); None for the row copy."""
    broadcast_unsigned: bool = False
    tail: int = 0

    @property
    def groups(self) -> int:
        return -(-self.geometry.depth // DOT_GROUP)

    def vector(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel, group: SSAValue, v: int) -> SSAValue:
        return kb.add(vector.LoadOp(self.scratch, [group, kb.index(v * tile.lanes), kb.index(0)], tile.bytes_type))

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
        if self.table is not None:
            self._fill_table(kb, tile, panel, self.table)
        self._copy_rows(kb, tile, panel)
        if self.row_sums:
            self._column_sums(kb, tile, panel)

    def _tap_offsets(self, kb: KernelBuilder, tap: SSAValue) -> tuple[SSAValue, SSAValue]:
        """``(kh * dh - pad_top, kw * dw - pad_left)`` of tap number ``tap``."""
        g = self.geometry
        kh, kw = kb.divsi(tap, kb.index(g.kernel[1])), kb.remsi(tap, kb.index(g.kernel[1]))
        dy = kb.subi(kb.muli(kh, kb.index(g.dilations[0])), kb.index(g.pads[0]))
        dx = kb.subi(kb.muli(kw, kb.index(g.dilations[1])), kb.index(g.pads[1]))
        return dy, dx

    def _source(self, kb: KernelBuilder, position: SSAValue, tap: SSAValue) -> tuple[SSAValue, SSAValue, SSAValue]:
        """``(inside, row, col)`` in the input plane of tap ``tap`` at output ``position``."""
        g = self.geometry
        oh, ow = kb.divsi(position, g.out_w), kb.remsi(position, g.out_w)
        dy, dx = self._tap_offsets(kb, tap)
        ih = kb.addi(kb.muli(oh, kb.index(g.strides[0])), dy)
        iw = kb.addi(kb.muli(ow, kb.index(g.strides[1])), dx)
        inside = kb.add(arith.AndIOp(kb.cmpi(ih, g.in_h, "ult"), kb.cmpi(iw, g.in_w, "ult")))
        return inside, ih, iw

    def _fill_table(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel, table: SSAValue) -> None:
        """``table[tap, j]``: whether column ``j``'s input under ``tap`` lies in the input."""
        with kb.loop(kb.index(self.geometry.taps)) as (tap, taps):
            with taps.loop(taps.index(tile.cols)) as (j, body):
                position = body.addi(panel.first_col, j)
                inside, _, _ = self._source(body, position, tap)
                inside = body.add(arith.AndIOp(inside, body.cmpi(j, panel.left, "slt")))
                body.store(body.select(inside, body.int_const(-1, i8), body.int_const(0, i8)), table, [tap, j])

    def _copy_rows(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> None:
        """The scratch, 4 X_col rows at a time; ``(c, kh, kw)`` of k walks like an odometer
        (no divisions)."""
        g = self.geometry
        lanes = tile.lanes
        row_type = VectorType(i8, [lanes])
        zero_point = splat(kb, self.x_zero, row_type)
        zeros = splat(kb, kb.int_const(0, i8), row_type)
        flip = splat(kb, kb.int_const(-128, i8), row_type)
        ones = splat(kb, kb.int_const(-1, i8), row_type)
        start = [kb.index(0)] * 3
        with kb.reduction_loop(kb.index(self.groups), start) as (k4, carried, body, next_):
            rows: list[list[SSAValue]] = [[] for _ in range(tile.vectors)]
            state = list(carried)
            for q in range(DOT_GROUP):
                real = body.cmpi(body.addi(body.muli(k4, body.index(DOT_GROUP)), body.index(q)), body.index(g.depth), "slt")
                source, plane, shift, keep = self._row_source(body, state)
                for v in range(tile.vectors):
                    col = body.addi(body.addi(panel.first_col, body.index(v * lanes)), shift)
                    mask = _in_plane(body, col, plane, lanes)
                    row = body.add(vector.MaskedLoadOp(source[0], [*source[1:], col], mask, zero_point))
                    if keep is not None:
                        row = _blend(body, body.add(vector.LoadOp(keep[0], [keep[1], body.index(v * lanes)], row_type)), row, zero_point, ones)
                    if self.signed:
                        row = body.add(arith.XOrIOp(row, flip))
                    rows[v].append(body.select(real, row, zeros))
                state = self._advance(body, state)
            for v in range(tile.vectors):
                pairs = [_interleave(body, rows[v][0], rows[v][1], lanes, 1), _interleave(body, rows[v][2], rows[v][3], lanes, 1)]
                packed = _interleave(body, pairs[0], pairs[1], 2 * lanes, 2)
                body.add(vector.StoreOp(packed, self.scratch, [k4, body.index(v * lanes), body.index(0)]))
            next_ += state

    def _row_source(
        self, kb: KernelBuilder, state: list[SSAValue]
    ) -> tuple[list[SSAValue], SSAValue, SSAValue, tuple[SSAValue, SSAValue] | None]:
        """Where X_col row ``(c, kh, kw)`` lies: (buffer and the indices before the last
        one, the size of the plane it is read from, the shift of the position within it,
        the lane table and its row for the row copy)."""
        g = self.geometry
        c, kh, kw = state
        c = kb.add(arith.MinSIOp(c, kb.index(g.channels - 1)))  # past K (the zero tail): any row
        if self.planes is None:
            assert self.table is not None
            dy = kb.subi(kb.muli(kh, kb.index(g.dilations[0])), kb.index(g.pads[0]))
            dx = kb.subi(kb.muli(kw, kb.index(g.dilations[1])), kb.index(g.pads[1]))
            tap = kb.add(arith.MinSIOp(kb.addi(kb.muli(kh, kb.index(g.kernel[1])), kw), kb.index(g.taps - 1)))
            source = [self.x, self.image, kb.addi(self.first_in, c), kb.index(0)]
            return source, kb.muli(g.in_h, g.in_w), kb.addi(kb.muli(dy, g.in_w), dx), (self.table, tap)
        sh = g.strides[0]
        lift = -(-g.pads[0] // sh)  # kh * DH - pad_top + SH * lift >= 0
        above = kb.addi(kb.muli(kh, kb.index(g.dilations[0])), kb.index(sh * lift - g.pads[0]))
        ay = kb.subi(kb.divsi(above, kb.index(sh)), kb.index(lift))
        by = kb.remsi(above, kb.index(sh))
        plane = kb.addi(kb.muli(kb.addi(kb.muli(c, kb.index(g.kernel[1])), kw), kb.index(sh)), by)
        return [self.planes, plane], kb.dim(self.planes, 1), kb.muli(ay, g.out_w), None

    def _advance(self, kb: KernelBuilder, state: list[SSAValue]) -> list[SSAValue]:
        """``(c, kh, kw)`` of the next k."""
        c, kh, kw = state
        kernel = self.geometry.kernel
        kw1 = kb.addi(kw, kb.index(1))
        wrap_w = kb.cmpi(kw1, kb.index(kernel[1]), "eq")
        kh1 = kb.select(wrap_w, kb.addi(kh, kb.index(1)), kh)
        wrap_h = kb.cmpi(kh1, kb.index(kernel[0]), "eq")
        return [kb.select(wrap_h, kb.addi(c, kb.index(1)), c), kb.select(wrap_h, kb.index(0), kh1), kb.select(wrap_w, kb.index(0), kw1)]

    def _column_sums(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> None:
        ones = kb.add(vector.BitcastOp(splat(kb, kb.int_const(ONES, i32), tile.acc_type), tile.bytes_type))
        init = [splat(kb, kb.int_const(0, i32), tile.acc_type)] * tile.vectors
        with kb.reduction_loop(kb.index(self.groups), init) as (k4, carried, body, next_):
            for v in range(tile.vectors):
                data = body.add(vector.LoadOp(self.scratch, [k4, body.index(v * tile.lanes), body.index(0)], tile.bytes_type))
                next_.append(body.add(Dot4Op(carried[v], data, ones)))
        panel.state["colsum"] = list(next_)


def _in_plane(kb: KernelBuilder, first: SSAValue, plane: SSAValue, lanes: int) -> SSAValue:
    """Lanes ``i`` with ``0 <= first + i < plane``: the part of a row segment inside the
    input plane (the rest is padding and must not be read)."""
    mask_type = VectorType(i1, [lanes])
    below = kb.add(vector.CreateMaskOp([kb.subi(kb.index(0), first)], mask_type))
    before_end = kb.add(vector.CreateMaskOp([kb.subi(plane, first)], mask_type))
    every = kb.add(vector.CreateMaskOp([kb.index(lanes)], mask_type))
    return kb.add(arith.AndIOp(before_end, kb.add(arith.XOrIOp(below, every))))


def _blend(kb: KernelBuilder, keep: SSAValue, value: SSAValue, other: SSAValue, ones: SSAValue) -> SSAValue:
    """``value`` where the bytes of ``keep`` are 0xFF, ``other`` where they are 0."""
    kept = kb.add(arith.AndIOp(value, keep))
    return kb.add(arith.OrIOp(kept, kb.add(arith.AndIOp(other, kb.add(arith.XOrIOp(keep, ones))))))


def _interleave(kb: KernelBuilder, a: SSAValue, b: SSAValue, lanes: int, width: int) -> SSAValue:
    """``a`` and ``b`` (``lanes`` bytes each) interleaved ``width`` bytes at a time."""
    mask: list[int] = []
    for j in range(lanes // width):
        mask += [j * width + i for i in range(width)] + [lanes + j * width + i for i in range(width)]
    result = VectorType(i8, [2 * lanes])
    return kb.add(vector.ShuffleOp(a, b, DenseArrayBase.from_list(i64, mask), result_type=result))
