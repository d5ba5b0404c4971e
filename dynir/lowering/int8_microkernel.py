"""The register-tiled int8 GEMM micro-kernel: ``vecx.dot4`` (AVX-512 VNNI ``vpdpbusd``).

``C (M x N, i32) = A' (M x K, u8) . B' (K x N, s8)`` plus zero-point corrections, one
column panel of NR = vectors x lanes columns at a time (``emit_int8_panel``; callers loop
over panels, in parallel)::

    for i0 in range(0, M - M % MR, MR):                   register tile: MR x vectors
      acc[r][v] = 0                                        i32 accumulators (16 lanes each)
      for k4 in range(K // 4):                             4 k's per step
        b[v] = packed[panel, k4, v*16 : v*16+16, 0:4]      one 64-byte load per vector
        a = splat(A'[i0 + r, 4*k4 : 4*k4 + 4] as one i32)  4 bytes in every 32-bit lane
        acc[r][v] = dot4(acc[r][v], a, b[v])               64 products per instruction
      the K % 4 tail: the same step once, its missing bytes zero (B' is zero there too)
      C[i0 + r, cols] = acc - za'[row] * terms[0] - rowsum(A'[row]) * terms[1] + terms[2]
    the M % MR leftover rows: the same with a one-row tile

B' comes pre-packed in VNNI panels with its column terms (``dynir.dialects.quant.packed``:
``terms[0] = colsum(B') - K zb'``, ``terms[1] = zb'``, ``terms[2]`` the bias), so
``sum (a - za)(b - zb)`` costs the products plus one multiply-add per output. Signed
activations are shifted to unsigned on the fly (xor 0x80 per byte: ``a + 128``), as
``vpdpbusd`` multiplies u8 by s8. The row sums of A' are computed only when some
``zb'`` is non-zero (``row_sums``). Columns past N are masked off at the store; K needs
no blocking (a panel's K/4 x 128 bytes stream from L2 while 8 rows reuse them).

Where the bytes come from is an ``Int8Operands``: ``MatmulOperands`` here (activations
broadcast, weights in panels), ``int8_conv.ConvOperands`` for convolutions (weights
broadcast, an X_col panel copied per panel).

A fused ``finish`` (dequantize, bias, activation, requantize: the epilogue) receives each
corrected ``i32`` value with its (row, col) and returns the value to store: the tile's
values go through a small stack scratch, then a scalar loop applies it while in cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from xdsl.dialects import arith, memref, vector
from xdsl.dialects.builtin import DenseArrayBase, IntegerType, VectorType, i1, i8, i32, i64
from xdsl.ir import Attribute, SSAValue

from dynir.backends.llvm.target import host_target
from dynir.dialects.quant.packed import DOT_GROUP, SIGN_SHIFT
from dynir.dialects.vecx import Dot4Op
from dynir.lowering.builder import KernelBuilder

INT8_PANEL_VECTORS = 2
"""Vector registers per panel row: NR = 2 x 16 = 32 columns on AVX-512."""

INT8_TILE_ROWS = 8
"""MR: rows of the register tile (8 x 2 accumulators, 2 B vectors, 1 A splat)."""

ONES = 0x01010101
"""Four bytes of 1: a dot4 against it sums 4 bytes per lane (column sums)."""

SIGN_FLIP = -0x7F7F7F80
"""0x80808080 as i32: xor flips the sign bit of every byte (``a + 128`` for s8 ``a``)."""

Indices = Callable[[KernelBuilder, SSAValue, SSAValue], list[SSAValue]]
"""``(kb, row, col) -> indices`` of element (row, col) in a buffer."""

RowValue = Callable[[KernelBuilder, SSAValue], SSAValue]
"""``(kb, row) -> i32``: a per-row scalar (the activation zero point of the row)."""

Finish = Callable[[KernelBuilder, SSAValue, SSAValue, SSAValue], SSAValue]
"""``(kb, i32 value, row, col) -> value``: the epilogue of one finished element."""


def int8_lanes() -> int:
    """i32 lanes of one host vector register (16 on AVX-512)."""
    return max(4, host_target().vector_width_bits // 32)


@dataclass(frozen=True)
class Int8Tile:
    lanes: int
    vectors: int = INT8_PANEL_VECTORS
    rows: int = INT8_TILE_ROWS

    @property
    def cols(self) -> int:
        return self.lanes * self.vectors

    @property
    def acc_type(self) -> VectorType[Attribute]:
        return VectorType(i32, [self.lanes])

    @property
    def bytes_type(self) -> VectorType[Attribute]:
        return VectorType(i8, [DOT_GROUP * self.lanes])


class Int8Operands(Protocol):
    """Where a GEMM's bytes come from and how its accumulators are corrected.

    ``broadcast`` is the operand read as one 4-byte word per row (splat over the lanes),
    ``vector`` the one read 64 bytes (16 columns x 4 k's) at a time; ``dot4`` takes the
    unsigned one first (``broadcast_unsigned`` says which that is)."""

    @property
    def broadcast_unsigned(self) -> bool: ...

    @property
    def groups(self) -> int:
        """Full 4-k groups of the reduction; ``tail`` more k's (< 4) follow."""
        ...

    @property
    def tail(self) -> int: ...

    def begin(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> None: ...

    def vector(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel, group: SSAValue, v: int) -> SSAValue: ...

    def word(self, kb: KernelBuilder, tile: Int8Tile, row: SSAValue, group: SSAValue, tail: bool) -> SSAValue: ...

    def correct(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel, row: SSAValue, accs: list[SSAValue]) -> list[SSAValue]: ...


@dataclass
class Panel:
    """One column panel during emission; ``state`` holds what ``begin`` computed."""

    index: SSAValue
    first_col: SSAValue
    left: SSAValue
    masks: list[SSAValue]
    state: dict[str, list[SSAValue]] = field(default_factory=dict[str, list[SSAValue]])


@dataclass(frozen=True)
class Int8Gemm:
    """One GEMM: M rows, N columns, the operands, and where C goes."""

    m: SSAValue
    n: SSAValue
    operands: Int8Operands
    c: SSAValue
    c_index: Indices
    finish: Finish | None = None
    scratch: SSAValue | None = None
    """An ``MR x NR`` i32 stack buffer (``allocate_scratch``), needed with ``finish``."""


def allocate_scratch(kb: KernelBuilder, tile: Int8Tile) -> SSAValue:
    """The finish scratch, allocated once per kernel call at the kernel's top level."""
    return kb.add(memref.AllocaOp.get(i32, 64, [tile.rows, tile.cols]))


def panel_count(kb: KernelBuilder, n: SSAValue, tile: Int8Tile) -> SSAValue:
    return kb.add(arith.CeilDivSIOp(n, kb.index(tile.cols)))


def splat(kb: KernelBuilder, scalar: SSAValue, vt: VectorType[Attribute]) -> SSAValue:
    return kb.add(vector.BroadcastOp(scalar, vt))


def emit_int8_panel(kb: KernelBuilder, gemm: Int8Gemm, tile: Int8Tile, panel_index: SSAValue) -> None:
    """Compute (and finish) the C columns of panel ``panel_index`` for every row."""
    first_col = kb.muli(panel_index, kb.index(tile.cols))
    left = kb.subi(gemm.n, first_col)
    masks = [
        kb.add(vector.CreateMaskOp([kb.subi(left, kb.index(v * tile.lanes))], VectorType(i1, [tile.lanes])))
        for v in range(tile.vectors)
    ]
    panel = Panel(panel_index, first_col, left, masks)
    gemm.operands.begin(kb, tile, panel)
    full_rows = kb.subi(gemm.m, kb.remsi(gemm.m, kb.index(tile.rows)))
    with kb.loop(full_rows, kb.index(0), kb.index(tile.rows)) as (i0, rows):
        _tile(rows, gemm, tile, panel, i0, tile.rows)
    with kb.loop(gemm.m, full_rows) as (i, row):
        _tile(row, gemm, tile, panel, i, 1)


def broadcast_word(kb: KernelBuilder, buffer: SSAValue, index: list[SSAValue], tile: Int8Tile, flip: bool) -> SSAValue:
    """The 4 bytes at ``buffer[index]`` as one i32 in every lane, viewed as bytes (their
    sign bits flipped with ``flip``: ``a + 128`` for signed ``a``)."""
    word_vec = kb.add(vector.LoadOp(buffer, index, VectorType(i8, [DOT_GROUP])))
    one = kb.add(vector.BitcastOp(word_vec, VectorType(i32, [1])))
    lanes = kb.add(vector.ShuffleOp(one, one, DenseArrayBase.from_list(i64, [0] * tile.lanes), result_type=tile.acc_type))
    if flip:
        lanes = kb.add(arith.XOrIOp(lanes, splat(kb, kb.int_const(SIGN_FLIP, i32), tile.acc_type)))
    return kb.add(vector.BitcastOp(lanes, tile.bytes_type))


def _step(
    kb: KernelBuilder, gemm: Int8Gemm, tile: Int8Tile, panel: Panel, rows: list[SSAValue], group: SSAValue,
    accs: list[SSAValue], tail: bool,
) -> list[SSAValue]:
    """One k-group (4 k's) of the tile: the vectors, then a splat and dot4s per row."""
    ops = gemm.operands
    b = [ops.vector(kb, tile, panel, group, v) for v in range(tile.vectors)]
    out: list[SSAValue] = []
    for r, row in enumerate(rows):
        a = ops.word(kb, tile, row, group, tail)
        for v in range(tile.vectors):
            lhs, rhs = (a, b[v]) if ops.broadcast_unsigned else (b[v], a)
            out.append(kb.add(Dot4Op(accs[r * tile.vectors + v], lhs, rhs)))
    return out


def _tile(kb: KernelBuilder, gemm: Int8Gemm, tile: Int8Tile, panel: Panel, first_row: SSAValue, count: int) -> None:
    zero = splat(kb, kb.int_const(0, i32), tile.acc_type)
    rows = [first_row if r == 0 else kb.addi(first_row, kb.index(r)) for r in range(count)]
    ops = gemm.operands
    with kb.reduction_loop(kb.index(ops.groups), [zero] * (count * tile.vectors)) as (g, carried, body, next_):
        next_ += _step(body, gemm, tile, panel, rows, g, carried, False)
    accs = list(next_)
    if ops.tail:
        accs = _step(kb, gemm, tile, panel, rows, kb.index(ops.groups), accs, True)
    for r, row in enumerate(rows):
        values = ops.correct(kb, tile, panel, row, accs[r * tile.vectors : (r + 1) * tile.vectors])
        for v, value in enumerate(values):
            col = kb.addi(panel.first_col, kb.index(v * tile.lanes))
            if gemm.finish is None:
                kb.add(vector.MaskedStoreOp(gemm.c, gemm.c_index(kb, row, col), panel.masks[v], value))
            else:
                assert gemm.scratch is not None
                kb.add(vector.StoreOp(value, gemm.scratch, [kb.index(r), kb.index(v * tile.lanes)]))
    if gemm.finish is not None:
        _finish_tile(kb, gemm, tile, panel, rows)


def _finish_tile(kb: KernelBuilder, gemm: Int8Gemm, tile: Int8Tile, panel: Panel, rows: list[SSAValue]) -> None:
    assert gemm.finish is not None and gemm.scratch is not None
    cols = kb.add(arith.MinSIOp(panel.left, kb.index(tile.cols)))
    for r, row in enumerate(rows):
        with kb.loop(cols) as (jj, inner):
            col = inner.addi(panel.first_col, jj)
            value = inner.load(gemm.scratch, [inner.index(r), jj])
            index = gemm.c_index(inner, row, col)
            inner.store(gemm.finish(inner, value, row, col), gemm.c, index)


def interleave_rows(kb: KernelBuilder, rows: list[SSAValue], lanes: int) -> SSAValue:
    """Four rows of ``lanes`` bytes (k, k+1, k+2, k+3 of ``lanes`` columns) as the VNNI
    layout's ``lanes x 4`` bytes: two byte interleaves, then one of byte pairs."""
    pairs = [_interleave(kb, rows[0], rows[1], lanes, 1), _interleave(kb, rows[2], rows[3], lanes, 1)]
    return _interleave(kb, pairs[0], pairs[1], 2 * lanes, 2)


def _interleave(kb: KernelBuilder, a: SSAValue, b: SSAValue, lanes: int, width: int) -> SSAValue:
    """``a`` and ``b`` (``lanes`` bytes each) interleaved ``width`` bytes at a time."""
    mask: list[int] = []
    for j in range(lanes // width):
        mask += [j * width + i for i in range(width)] + [lanes + j * width + i for i in range(width)]
    result = VectorType(i8, [2 * lanes])
    return kb.add(vector.ShuffleOp(a, b, DenseArrayBase.from_list(i64, mask), result_type=result))


def emit_pack_panel(
    kb: KernelBuilder, b: SSAValue, packed: SSAValue, terms: SSAValue, panel: SSAValue, shape: tuple[int, int], tile: Int8Tile,
) -> None:
    """Panel ``panel`` of ``quant.pack_panels``: ``B`` (K x N ``i8``) rows 4 at a time,
    16 columns a masked load each (zeros past N and K), interleaved into the panel, and
    the column sums as dot4s of the packed bytes with ones."""
    depth, columns = shape
    lanes = tile.lanes
    first = kb.muli(panel, kb.index(tile.cols))
    row_type = VectorType(i8, [lanes])
    zeros = splat(kb, kb.int_const(0, i8), row_type)
    masks = [kb.add(vector.CreateMaskOp([kb.subi(kb.index(columns), kb.addi(first, kb.index(v * lanes)))], VectorType(i1, [lanes])))
             for v in range(tile.vectors)]
    ones = kb.add(vector.BitcastOp(splat(kb, kb.int_const(ONES, i32), tile.acc_type), tile.bytes_type))
    start = [splat(kb, kb.int_const(0, i32), tile.acc_type)] * tile.vectors
    with kb.reduction_loop(kb.index(-(-depth // DOT_GROUP)), start) as (k4, carried, body, next_):
        for v in range(tile.vectors):
            col = body.addi(first, body.index(v * lanes))
            rows = []
            for q in range(DOT_GROUP):
                k = body.addi(body.muli(k4, body.index(DOT_GROUP)), body.index(q))
                safe = body.add(arith.MinSIOp(k, body.index(max(depth - 1, 0))))
                row = body.add(vector.MaskedLoadOp(b, [safe, col], masks[v], zeros))
                rows.append(body.select(body.cmpi(k, body.index(depth), "slt"), row, zeros))
            data = interleave_rows(body, rows, lanes)
            body.add(vector.StoreOp(data, packed, [panel, k4, body.index(v * lanes), body.index(0)]))
            next_.append(body.add(Dot4Op(carried[v], ones, data)))
    zero = splat(kb, kb.int_const(0, i32), tile.acc_type)
    for v in range(tile.vectors):
        col = kb.addi(first, kb.index(v * lanes))
        for row, value in enumerate((next_[v], zero, zero)):
            kb.add(vector.StoreOp(value, terms, [kb.index(row), col]))


# ----------------------------------------------------------------------------------
# The matmul operands: A (activations) broadcast, B (constant) in VNNI panels.


@dataclass(frozen=True)
class MatmulOperands:
    """``A`` row-major bytes (u8, or s8 flipped to u8), ``B'`` packed (P, K4, NR, 4) with
    its column terms (see ``dynir.dialects.quant.packed``)."""

    a: SSAValue
    a_index: Indices
    a_signed: bool
    a_zero: RowValue
    packed: SSAValue
    terms: SSAValue
    depth: int
    row_sums: bool
    broadcast_unsigned: bool = True

    @property
    def groups(self) -> int:
        return self.depth // DOT_GROUP

    @property
    def tail(self) -> int:
        return self.depth % DOT_GROUP

    def begin(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel) -> None:
        for t in range(3):
            panel.state[f"terms{t}"] = [
                kb.add(vector.LoadOp(self.terms, [kb.index(t), kb.addi(panel.first_col, kb.index(v * tile.lanes))], tile.acc_type))
                for v in range(tile.vectors)
            ]

    def vector(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel, group: SSAValue, v: int) -> SSAValue:
        return kb.add(vector.LoadOp(self.packed, [panel.index, group, kb.index(v * tile.lanes), kb.index(0)], tile.bytes_type))

    def word(self, kb: KernelBuilder, tile: Int8Tile, row: SSAValue, group: SSAValue, tail: bool) -> SSAValue:
        k = kb.muli(group, kb.index(DOT_GROUP))
        if not tail:
            return broadcast_word(kb, self.a, self.a_index(kb, row, k), tile, self.a_signed)
        # The last depth % 4 k's: the bytes past K are zero (they meet zero bytes of B'),
        # and nothing past K is read.
        word = kb.int_const(0, i32)
        for q in range(self.tail):
            byte = kb.add(arith.ExtUIOp(kb.load(self.a, self.a_index(kb, row, kb.addi(k, kb.index(q)))), i32))
            word = kb.add(arith.OrIOp(word, byte if q == 0 else kb.add(arith.ShLIOp(byte, kb.int_const(8 * q, i32)))))
        if self.a_signed:
            word = kb.add(arith.XOrIOp(word, kb.int_const(SIGN_FLIP, i32)))
        return kb.add(vector.BitcastOp(splat(kb, word, tile.acc_type), tile.bytes_type))

    def correct(self, kb: KernelBuilder, tile: Int8Tile, panel: Panel, row: SSAValue, accs: list[SSAValue]) -> list[SSAValue]:
        """``acc - za' * terms[0] - rowsum(A') * terms[1] + terms[2]``."""
        zero_point = splat(kb, self.a_zero(kb, row), tile.acc_type)
        sums = splat(kb, self._row_sum(kb, row), tile.acc_type) if self.row_sums else None
        out: list[SSAValue] = []
        for v, acc in enumerate(accs):
            value = kb.subi(acc, kb.muli(zero_point, panel.state["terms0"][v]))
            if sums is not None:
                value = kb.subi(value, kb.muli(sums, panel.state["terms1"][v]))
            out.append(kb.addi(value, panel.state["terms2"][v]))
        return out

    def _row_sum(self, kb: KernelBuilder, row: SSAValue) -> SSAValue:
        """``sum_k A'[row, k]`` in i32 (a plain loop: LLVM vectorises integer sums)."""
        with kb.reduction_loop(kb.index(self.depth), [kb.int_const(0, i32)]) as (k, carried, body, next_):
            byte = body.load(self.a, self.a_index(body, row, k))
            wide = body.add(arith.ExtSIOp(byte, i32) if self.a_signed else arith.ExtUIOp(byte, i32))
            next_.append(body.addi(carried[0], wide))
        total = next_[0]
        if self.a_signed:
            total = kb.addi(total, kb.int_const(SIGN_SHIFT * self.depth, i32))
        return total


def widen_zero_point(kb: KernelBuilder, value: SSAValue, signed: bool) -> SSAValue:
    """A zero point byte as ``za'`` in i32 (``+ 128`` for signed storage)."""
    t = value.type
    if isinstance(t, IntegerType) and t.width.data == 32:
        return value
    if signed:
        return kb.addi(kb.add(arith.ExtSIOp(value, i32)), kb.int_const(SIGN_SHIFT, i32))
    return kb.add(arith.ExtUIOp(value, i32))
