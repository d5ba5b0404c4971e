"""The register-tiled GEMM micro-kernel every contraction lowering shares.

``C (M x N) = A (M x K) @ B (K x N)``, computed one *column panel* of NR = vectors x lanes
columns at a time (``emit_panel``; callers loop over panels, in parallel where they can)::

    for k0 in range(0, K, KC):                      cache block: the panel's KC x NR slice of B
      source.begin(k0, k1)                          stays in L1 (packed into a scratch if needed)
      for i0 in range(0, M - M % MR, MR):           register tile: MR x vectors accumulators,
        acc[r][v] = 0 if k0 == 0 else C[i0 + r, j0 + v*lanes : ...]      carried through the k loop
        for k in range(k0, k1):
          b[v] = B panel row k                      (vector loads)
          acc[r][v] = fma(broadcast(A[i0 + r, k]), b[v], acc[r][v])
        C[...] = acc                                (masked stores: N need not divide NR)
      the M % MR leftover rows: the same with one row
    finish(C[i, j]) over the panel                  alpha/beta/bias/activation epilogue, in cache;
                                                    runs of ``lanes`` columns are loops of exactly
                                                    ``lanes`` iterations: one vector op each after
                                                    LLVM, when the finish is affine in j

The columns past N are never stored (lane masks); the rows past M are handled by the
one-row tile, so every size (0 and 1 included, dynamic or static) takes the same code.
``B`` comes from a ``PanelSource``: panels pre-packed at compile time
(``PrepackedPanels``, see ``dynir.dialects.nn.packed``) or copied per block into a stack
scratch (``ScratchPanels``) from a row-major matrix, a transposed one, or an im2col view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import MemRefType, VectorType
from xdsl.ir import Attribute, SSAValue

from dynir.lowering import vector as vec
from dynir.lowering.builder import KernelBuilder

DEPTH_BLOCK = 256
"""KC: rows of a B panel per cache block (256 x 32 f32 = 32 KiB, half of L1)."""

TILE_ROWS = 8
"""MR: rows of the register tile (MR x vectors accumulators)."""

ScalarAt = Callable[[KernelBuilder, SSAValue, SSAValue], SSAValue]
"""``(kb, row, col) -> scalar``: an element of a matrix operand."""

Indices = Callable[[KernelBuilder, SSAValue, SSAValue], list[SSAValue]]
"""``(kb, row, col) -> indices`` of C's element (row, col) in the output buffer."""

Finish = Callable[[KernelBuilder, SSAValue, SSAValue, SSAValue], SSAValue]
"""``(kb, value, row, col) -> value``: applied to each finished element before its last store."""


@dataclass(frozen=True)
class Tile:
    """The register tile: ``rows`` x ``vectors`` accumulators of ``lanes`` elements."""

    element: Attribute
    lanes: int
    vectors: int
    rows: int = TILE_ROWS
    depth: int = DEPTH_BLOCK

    @property
    def cols(self) -> int:
        return self.vectors * self.lanes

    @property
    def vector_type(self) -> VectorType[Attribute]:
        return vec.vector_type(self.element, self.lanes)


@dataclass
class Panel:
    """One column panel during emission: its index, first column and lane masks."""

    index: SSAValue
    first_col: SSAValue
    masks: list[SSAValue]


class PanelSource(Protocol):
    def begin(self, kb: KernelBuilder, tile: Tile, panel: Panel, k0: SSAValue, k1: SSAValue) -> None: ...

    def row(self, kb: KernelBuilder, tile: Tile, panel: Panel, k: SSAValue, k0: SSAValue, v: int) -> SSAValue: ...


@dataclass(frozen=True)
class PrepackedPanels:
    """B pre-packed as ``(panels, K, NR)`` (``dynir.dialects.nn.packed``): rows are read in place."""

    packed: SSAValue

    def begin(self, kb: KernelBuilder, tile: Tile, panel: Panel, k0: SSAValue, k1: SSAValue) -> None:
        return None

    def row(self, kb: KernelBuilder, tile: Tile, panel: Panel, k: SSAValue, k0: SSAValue, v: int) -> SSAValue:
        return vec.load(kb, self.packed, [panel.index, k, kb.index(v * tile.lanes)], tile.vector_type)


RowVectors = Callable[[KernelBuilder, SSAValue, Panel], list[SSAValue]]
"""``(kb, k, panel) -> vectors``: row k of B over the panel's columns, zero past N."""


@dataclass
class ScratchPanels:
    """B copied, one KC x NR block at a time, into a stack scratch the tile loops read.

    ``rows`` gives B's row k over the panel as vectors (masked loads of a row-major B);
    ``element_at`` gives one element (a transposed B, an im2col view), zero past N."""

    tile: Tile
    n: SSAValue
    rows: RowVectors | None = None
    element_at: ScalarAt | None = None
    scratch: SSAValue | None = field(default=None)

    def allocate(self, kb: KernelBuilder) -> None:
        """The scratch, allocated once per kernel call (per thread) at the top level."""
        shape = [self.tile.depth, self.tile.cols]
        self.scratch = kb.add(memref.AllocaOp.get(self.tile.element, 64, shape))

    def begin(self, kb: KernelBuilder, tile: Tile, panel: Panel, k0: SSAValue, k1: SSAValue) -> None:
        scratch = self.scratch
        assert scratch is not None
        with kb.loop(k1, k0) as (k, body):
            kk = body.subi(k, k0)
            if self.rows is not None:
                for v, value in enumerate(self.rows(body, k, panel)):
                    vec.store(body, value, scratch, [kk, body.index(v * tile.lanes)])
            else:
                self._copy_elements(body, tile, panel, k, kk)

    def _copy_elements(self, kb: KernelBuilder, tile: Tile, panel: Panel, k: SSAValue, kk: SSAValue) -> None:
        """Scratch row ``kk`` element by element (zero past N; reads clamped inside B)."""
        assert self.element_at is not None and self.scratch is not None
        last = kb.subi(self.n, kb.index(1))
        zero = kb.float_const(0.0, tile.element)
        with kb.loop(kb.index(tile.cols)) as (jj, inner):
            col = inner.addi(panel.first_col, jj)
            inside = inner.cmpi(col, self.n, "slt")
            value = self.element_at(inner, k, inner.add(arith.MinSIOp(col, last)))
            inner.store(inner.select(inside, value, zero), self.scratch, [kk, jj])

    def row(self, kb: KernelBuilder, tile: Tile, panel: Panel, k: SSAValue, k0: SSAValue, v: int) -> SSAValue:
        assert self.scratch is not None
        return vec.load(kb, self.scratch, [kb.subi(k, k0), kb.index(v * tile.lanes)], tile.vector_type)


@dataclass(frozen=True)
class Gemm:
    """One ``C = A @ B`` problem: sizes, how to read A and B, where C goes."""

    m: SSAValue
    n: SSAValue
    k: SSAValue
    a_at: ScalarAt
    source: PanelSource
    c: SSAValue
    c_index: Indices
    finish: Finish | None = None


def panel_count(kb: KernelBuilder, n: SSAValue, tile: Tile) -> SSAValue:
    return kb.add(arith.CeilDivSIOp(n, kb.index(tile.cols)))


def emit_panel(kb: KernelBuilder, gemm: Gemm, tile: Tile, panel_index: SSAValue) -> None:
    """Compute (and finish) the C columns of panel ``panel_index`` for every row."""
    first_col = kb.muli(panel_index, kb.index(tile.cols))
    left = kb.subi(gemm.n, first_col)
    masks = [vec.mask(kb, kb.subi(left, kb.index(v * tile.lanes)), tile.lanes) for v in range(tile.vectors)]
    panel = Panel(panel_index, first_col, masks)
    full_rows = kb.subi(gemm.m, kb.remsi(gemm.m, kb.index(tile.rows)))
    depth = kb.add(arith.MaxSIOp(gemm.k, kb.index(1)))  # K = 0 still stores zeros once
    with kb.loop(depth, kb.index(0), kb.index(tile.depth)) as (k0, block):
        k1 = block.add(arith.MinSIOp(block.addi(k0, block.index(tile.depth)), gemm.k))
        first = block.cmpi(k0, block.index(0), "eq")
        gemm.source.begin(block, tile, panel, k0, k1)
        with block.loop(full_rows, block.index(0), block.index(tile.rows)) as (i0, rows):
            _tile(rows, gemm, tile, panel, i0, tile.rows, (k0, k1, first))
        with block.loop(gemm.m, full_rows) as (i, row):
            _tile(row, gemm, tile, panel, i, 1, (k0, k1, first))
    if gemm.finish is not None:
        _finish_panel(kb, gemm, tile, first_col, kb.add(arith.MinSIOp(left, kb.index(tile.cols))))


def _finish_panel(kb: KernelBuilder, gemm: Gemm, tile: Tile, first_col: SSAValue, cols: SSAValue) -> None:
    """``C = finish(C)`` over the panel's ``cols`` columns, row by row. Whole vectors of
    columns run in loops of exactly ``lanes`` iterations (LLVM turns each into one vector
    operation when the finish is affine in the column), the tail column by column."""
    assert gemm.finish is not None
    finish = gemm.finish
    lanes = kb.index(tile.lanes)
    full = kb.subi(cols, kb.remsi(cols, lanes))

    def element(ekb: KernelBuilder, i: SSAValue, jj: SSAValue) -> None:
        j = ekb.addi(first_col, jj)
        index = gemm.c_index(ekb, i, j)
        ekb.store(finish(ekb, ekb.load(gemm.c, index), i, j), gemm.c, index)

    with kb.loop(gemm.m) as (i, row):
        with row.loop(full, row.index(0), lanes) as (j0, vector_cols):
            with vector_cols.loop(lanes) as (lane, inner):
                element(inner, i, inner.addi(j0, lane))
        with row.loop(cols, full) as (jj, tail):
            element(tail, i, jj)


def _tile(
    kb: KernelBuilder,
    gemm: Gemm,
    tile: Tile,
    panel: Panel,
    first_row: SSAValue,
    rows: int,
    block: tuple[SSAValue, SSAValue, SSAValue],
) -> None:
    k0, k1, first = block
    vt = tile.vector_type
    zero = vec.zeros(kb, vt)
    row_ids = [first_row if r == 0 else kb.addi(first_row, kb.index(r)) for r in range(rows)]
    c_at: list[list[SSAValue]] = []
    init: list[SSAValue] = []
    for row_id in row_ids:
        for v in range(tile.vectors):
            index = gemm.c_index(kb, row_id, kb.addi(panel.first_col, kb.index(v * tile.lanes)))
            c_at.append(index)
            earlier = vec.masked_load(kb, gemm.c, index, panel.masks[v], zero)
            init.append(vec.select(kb, first, zero, earlier))
    with kb.reduction_loop(k1, init, k0) as (k, carried, body, next_):
        b_rows = [gemm.source.row(body, tile, panel, k, k0, v) for v in range(tile.vectors)]
        for r, row_id in enumerate(row_ids):
            a = vec.broadcast(body, gemm.a_at(body, row_id, k), vt)
            for v in range(tile.vectors):
                next_.append(vec.fma(body, a, b_rows[v], carried[r * tile.vectors + v]))
    for position, value in enumerate(next_):
        vec.masked_store(kb, value, gemm.c, c_at[position], panel.masks[position % tile.vectors])


def rank_of(buffer: SSAValue) -> int:
    t = buffer.type
    assert isinstance(t, MemRefType)
    return t.get_num_dims()


def flat_index(rank: int, row: SSAValue, col: SSAValue, zero: SSAValue) -> list[SSAValue]:
    """Indices of element (row, col) of a rank-``rank`` row-major buffer seen as a matrix of
    its leading dims flattened into rows: ``[0, ..., 0, row, col]``. The backend linearises
    indices row-major, so this is row * cols + col whatever the leading sizes."""
    return [*([zero] * (rank - 2)), row, col]


def unflatten(kb: KernelBuilder, flat: SSAValue, sizes: Sequence[SSAValue]) -> list[SSAValue]:
    """The multi-index of ``flat`` over ``sizes`` (row-major)."""
    if not sizes:
        return []
    indices: list[SSAValue] = []
    rest = flat
    for size in reversed(sizes[1:]):
        indices.append(kb.remsi(rest, size))
        rest = kb.divsi(rest, size)
    indices.append(rest)
    return list(reversed(indices))
