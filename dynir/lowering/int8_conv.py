"""``quant.packed_conv`` on the int8 micro-kernel: an implicit GEMM with a packed X_col.

Per image ``n`` and group ``g`` the output is ``Y[m, p] = sum_k W'[m, k] X_col'[k, p]``
plus corrections (``dynir.dialects.quant.packed``), rows = output channels, columns =
flattened output positions (contiguous in memory). The roles of the matmul kernel swap:
the constant weight rows are the broadcast operand (4 signed bytes per row and step), and
X_col is the vector operand, copied per column panel into a stack scratch in the VNNI
layout ``[K/4][NR][4]`` (u8: ``x' = x + 128`` for signed input, the zero point in the
padding, zeros past K)::

    scratch[k4, j, q] = X_col'[4 k4 + q, first_col + j]

How the scratch is filled:
- *row copy*, when every stride is 1 and the output row is as wide as the input row
  (1x1 convs, "same"-padded 3x3 ...): X_col row ``(c, kh, kw)`` over 16 positions is
  16 consecutive input bytes shifted by ``(kh - pad) * W + (kw - pad)``: one load
  (masked to the input plane), blended with the zero point where a per-panel byte
  table says the lane is padding, then 4 rows interleaved by two shuffles into one
  64-byte store;
- *element copy* otherwise (strided windows): one byte at a time.
Each column's sum of X_col' is needed only with non-zero weight zero points: a dot4 of
the scratch with ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import arith, memref, vector
from xdsl.dialects.builtin import DenseArrayBase, IndexType, VectorType, i1, i8, i32, i64
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
) -> tuple[SSAValue, SSAValue]:
    """The X_col panel scratch and, once per kernel call, the row copy's per-tap lane
    table (bytes) or the element copy's window origins (row 0: ih0, row 1: iw0)."""
    scratch = kb.add(memref.AllocaOp.get(i8, 64, [padded_depth // DOT_GROUP, tile.cols, DOT_GROUP]))
    if row_copy:
        return scratch, kb.add(memref.AllocaOp.get(i8, 64, [geometry.taps, tile.cols]))
    return scratch, kb.add(memref.AllocaOp.get(IndexType(), 64, [2, tile.cols]))


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
    table: SSAValue
    row_copy: bool
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
        if self.row_copy:
            self._fill_table(kb, tile, panel)
            self._copy_rows(kb, tile, panel)
        else:
            self._copy_elements(kb, tile, panel)
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

    def _fill_table(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> None:
        """``table[tap, j]``: whether column ``j``'s input under ``tap`` lies in the input."""
        with kb.loop(kb.index(self.geometry.taps)) as (tap, taps):
            with taps.loop(taps.index(tile.cols)) as (j, body):
                position = body.addi(panel.first_col, j)
                inside, _, _ = self._source(body, position, tap)
                inside = body.add(arith.AndIOp(inside, body.cmpi(j, panel.left, "slt")))
                body.store(body.select(inside, body.int_const(-1, i8), body.int_const(0, i8)), self.table, [tap, j])

    def _copy_rows(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> None:
        """The row copy; ``(c, kh, kw)`` of k walks like an odometer (no divisions)."""
        g = self.geometry
        lanes = tile.lanes
        row_type = VectorType(i8, [lanes])
        zero_point = splat(kb, self.x_zero, row_type)
        zeros = splat(kb, kb.int_const(0, i8), row_type)
        flip = splat(kb, kb.int_const(-128, i8), row_type)
        ones = splat(kb, kb.int_const(-1, i8), row_type)
        plane = kb.muli(g.in_h, g.in_w)
        start = [kb.index(0)] * 3
        with kb.reduction_loop(kb.index(self.groups), start) as (k4, carried, body, next_):
            rows: list[list[SSAValue]] = [[] for _ in range(tile.vectors)]
            state = list(carried)
            for q in range(DOT_GROUP):
                real = body.cmpi(body.addi(body.muli(k4, body.index(DOT_GROUP)), body.index(q)), body.index(g.depth), "slt")
                c, kh, kw = state
                channel = body.addi(self.first_in, body.add(arith.MinSIOp(c, body.index(g.channels - 1))))
                dy = body.subi(body.muli(kh, body.index(g.dilations[0])), body.index(g.pads[0]))
                dx = body.subi(body.muli(kw, body.index(g.dilations[1])), body.index(g.pads[1]))
                shift = body.addi(body.muli(dy, g.in_w), dx)
                tap = body.add(arith.MinSIOp(body.addi(body.muli(kh, body.index(g.kernel[1])), kw), body.index(g.taps - 1)))
                for v in range(tile.vectors):
                    col = body.addi(body.addi(panel.first_col, body.index(v * lanes)), shift)
                    keep = body.add(vector.LoadOp(self.table, [tap, body.index(v * lanes)], row_type))
                    index = [self.image, channel, body.index(0), col]
                    loaded = body.add(vector.MaskedLoadOp(self.x, index, _in_plane(body, col, plane, lanes), zero_point))
                    row = _blend(body, keep, loaded, zero_point, ones)
                    if self.signed:
                        row = body.add(arith.XOrIOp(row, flip))
                    rows[v].append(body.select(real, row, zeros))
                state = self._advance(body, state)
            for v in range(tile.vectors):
                pairs = [_interleave(body, rows[v][0], rows[v][1], lanes, 1), _interleave(body, rows[v][2], rows[v][3], lanes, 1)]
                packed = _interleave(body, pairs[0], pairs[1], 2 * lanes, 2)
                body.add(vector.StoreOp(packed, self.scratch, [k4, body.index(v * lanes), body.index(0)]))
            next_ += state

    def _advance(self, kb: KernelBuilder, state: list[SSAValue]) -> list[SSAValue]:
        """``(c, kh, kw)`` of the next k."""
        c, kh, kw = state
        kernel = self.geometry.kernel
        kw1 = kb.addi(kw, kb.index(1))
        wrap_w = kb.cmpi(kw1, kb.index(kernel[1]), "eq")
        kh1 = kb.select(wrap_w, kb.addi(kh, kb.index(1)), kh)
        wrap_h = kb.cmpi(kh1, kb.index(kernel[0]), "eq")
        return [kb.select(wrap_h, kb.addi(c, kb.index(1)), c), kb.select(wrap_h, kb.index(0), kh1), kb.select(wrap_w, kb.index(0), kw1)]

    def _copy_elements(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> None:
        """The element copy; each column's window origin is computed once per panel."""
        g = self.geometry
        origins = self.table
        with kb.loop(kb.index(tile.cols)) as (j, body):
            position = body.addi(panel.first_col, j)
            oh, ow = body.divsi(position, g.out_w), body.remsi(position, g.out_w)
            body.store(body.subi(body.muli(oh, body.index(g.strides[0])), body.index(g.pads[0])), origins, [body.index(0), j])
            body.store(body.subi(body.muli(ow, body.index(g.strides[1])), body.index(g.pads[1])), origins, [body.index(1), j])
        flip = kb.int_const(-128 if self.signed else 0, i8)
        zero = kb.int_const(0, i8)
        last_h, last_w = kb.subi(g.in_h, kb.index(1)), kb.subi(g.in_w, kb.index(1))
        with kb.loop(kb.index(self.groups * DOT_GROUP)) as (k, body):
            real = body.cmpi(k, body.index(g.depth), "slt")
            k_safe = body.add(arith.MinSIOp(k, body.index(g.depth - 1)))
            c, tap = body.divsi(k_safe, body.index(g.taps)), body.remsi(k_safe, body.index(g.taps))
            channel = body.addi(self.first_in, c)
            k4, q = body.divsi(k, body.index(DOT_GROUP)), body.remsi(k, body.index(DOT_GROUP))
            kh, kw = body.divsi(tap, body.index(g.kernel[1])), body.remsi(tap, body.index(g.kernel[1]))
            dy, dx = body.muli(kh, body.index(g.dilations[0])), body.muli(kw, body.index(g.dilations[1]))
            with body.loop(body.index(tile.cols)) as (j, inner):
                ih = inner.addi(inner.load(origins, [inner.index(0), j]), dy)
                iw = inner.addi(inner.load(origins, [inner.index(1), j]), dx)
                inside = inner.add(arith.AndIOp(inner.cmpi(ih, g.in_h, "ult"), inner.cmpi(iw, g.in_w, "ult")))
                inside = inner.add(arith.AndIOp(inside, real))
                ih = inner.add(arith.MaxSIOp(inner.index(0), inner.add(arith.MinSIOp(ih, last_h))))
                iw = inner.add(arith.MaxSIOp(inner.index(0), inner.add(arith.MinSIOp(iw, last_w))))
                value = inner.add(arith.XOrIOp(inner.load(self.x, [self.image, channel, ih, iw]), flip))
                padding = inner.select(real, inner.add(arith.XOrIOp(self.x_zero, flip)), zero)
                inner.store(inner.select(inside, value, padding), self.scratch, [k4, j, q])

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
