"""Lowerings of contractions: ``nn.matmul``, ``nn.gemm`` and their pre-packed forms.

Float contractions run on the register-tiled micro-kernel (``dynir.lowering.microkernel``),
one column panel of the output per iteration of the kernel's parallel loop:

- ``nn.packed_matmul``/``nn.packed_gemm`` (weights packed at compile time by
  ``prepack-weights``) read B's panels in place;
- ``nn.matmul``/``nn.gemm`` with a B computed at run time copy each KC x NR block of B
  into a stack scratch first (from rows of B, or columns when ``trans_b``);
- a matmul whose B is 2-D flattens A's leading dims into rows (one big GEMM); a batched
  B loops over the broadcast batch, the batch and the panels sharing the parallel loop.

Alpha, beta * C and the fused ``epilogue`` (see ``dynir.lowering.kernels``) are applied
to each panel once its reduction is done, while it is in cache. Integer/f16 elements
and 1-D operands keep the scalar i-k-j loops of ``contraction_loops.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith
from xdsl.dialects.builtin import Float32Type, Float64Type, MemRefType
from xdsl.ir import Attribute, Operation, SSAValue

from dynir.dialects.nn.base import read_float, read_int
from dynir.lowering import vector as vec
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.families.contraction_loops import gemm_loops, matmul_loops
from dynir.lowering.families.convolution import require_float
from dynir.lowering.kernels import Epilogue, lowers
from dynir.lowering.microkernel import (
    Finish,
    Gemm,
    Panel,
    PanelSource,
    PrepackedPanels,
    RowVectors,
    ScratchPanels,
    Tile,
    emit_panel,
    flat_index,
    panel_count,
    rank_of,
    unflatten,
)
from dynir.dialects.nn.packed import PANEL_VECTORS
from dynir.lowering.scalar import LoweringError


def element_of(buffer: SSAValue) -> Attribute:
    t = buffer.type
    assert isinstance(t, MemRefType)
    element: Attribute = t.element_type
    return element


def vector_tile(element: Attribute, panel_width: int | None = None) -> Tile | None:
    """The micro-kernel's tile for ``element`` (None: no vector kernel for it). A packed
    operand fixes the panel width; one register otherwise holds ``lanes`` of it."""
    if not isinstance(element, Float32Type | Float64Type):
        return None
    lanes = vec.lanes_for(element)
    if panel_width is None:
        return Tile(element, lanes, PANEL_VECTORS)
    if panel_width % lanes:
        return Tile(element, panel_width, 1)
    return Tile(element, lanes, panel_width // lanes)


def product(kb: KernelBuilder, sizes: Sequence[SSAValue]) -> SSAValue:
    total = kb.index(1)
    for size in sizes:
        total = size if total is kb.index(1) else kb.muli(total, size)
    return total


def matrix_index(kb: KernelBuilder, rank: int, row: SSAValue, col: SSAValue) -> list[SSAValue]:
    """Element (row, col) of a buffer seen as a matrix (a 1-D buffer is one row)."""
    return [col] if rank == 1 else flat_index(rank, row, col, kb.index(0))


def row_vectors(b: SSAValue, lead: Sequence[SSAValue], tile: Tile) -> RowVectors:
    """Row k of a row-major B (``b[*lead, k, :]``) over a panel: masked vector loads."""

    def rows(kb: KernelBuilder, k: SSAValue, panel: Panel) -> list[SSAValue]:
        zero = vec.zeros(kb, tile.vector_type)
        values: list[SSAValue] = []
        for v in range(tile.vectors):
            col = kb.addi(panel.first_col, kb.index(v * tile.lanes))
            values.append(vec.masked_load(kb, b, [*lead, k, col], panel.masks[v], zero))
        return values

    return rows


def _flat_gemm(
    kb: KernelBuilder,
    a: SSAValue,
    c: SSAValue,
    k: SSAValue,
    source: PanelSource,
    tile: Tile,
    epilogue: Epilogue | None,
) -> None:
    """``c[..., :] = a[..., :] @ B``: A's leading dims flattened into the rows of one GEMM."""
    ra, rc = rank_of(a), rank_of(c)
    out_dims = kb.dims(c)
    lead, n = out_dims[:-1], out_dims[-1]
    finish: Finish | None = None
    if epilogue is not None:

        def finish(fkb: KernelBuilder, value: SSAValue, row: SSAValue, col: SSAValue) -> SSAValue:
            return epilogue(fkb, value, [*unflatten(fkb, row, lead), col])

    gemm = Gemm(
        m=product(kb, lead),
        n=n,
        k=k,
        a_at=lambda akb, row, kk: akb.load(a, matrix_index(akb, ra, row, kk)),
        source=source,
        c=c,
        c_index=lambda ckb, row, col: matrix_index(ckb, rc, row, col),
        finish=finish,
    )
    with kb.parallel_loop(panel_count(kb, n, tile)) as (p, body):
        emit_panel(body, gemm, tile, p)


def _batched_gemm(kb: KernelBuilder, a: SSAValue, b: SSAValue, c: SSAValue, tile: Tile, epilogue: Epilogue | None) -> None:
    """A batched B: one GEMM per (broadcast) batch index; batch x panels run in parallel."""
    ra, rb = rank_of(a), rank_of(b)
    out_dims = kb.dims(c)
    batch, m, n = out_dims[:-2], out_dims[-2], out_dims[-1]
    k = kb.dim(a, ra - 1)
    panels = panel_count(kb, n, tile)
    scratch = ScratchPanels(tile, n)
    scratch.allocate(kb)
    with kb.parallel_loop(kb.muli(product(kb, batch), panels)) as (iv, body):
        ivs = unflatten(body, body.divsi(iv, panels), batch)
        a_lead = body.broadcast_index(a, ivs, leading=ra - 2)
        b_lead = body.broadcast_index(b, ivs, leading=rb - 2)
        source = ScratchPanels(tile, n, rows=row_vectors(b, b_lead, tile), scratch=scratch.scratch)
        finish: Finish | None = None
        if epilogue is not None:

            def finish(fkb: KernelBuilder, value: SSAValue, row: SSAValue, col: SSAValue) -> SSAValue:
                return epilogue(fkb, value, [*ivs, row, col])

        gemm = Gemm(
            m=m,
            n=n,
            k=k,
            a_at=lambda akb, row, kk: akb.load(a, [*a_lead, row, kk]),
            source=source,
            c=c,
            c_index=lambda ckb, row, col: [*ivs, row, col],
            finish=finish,
        )
        emit_panel(body, gemm, tile, body.remsi(iv, panels))


@lowers("nn.matmul")
def lower_matmul(
    kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], *, epilogue: Epilogue | None = None
) -> None:
    a, b = ins
    (c,) = outs
    tile = vector_tile(require_float(op, c))
    ra, rb = rank_of(a), rank_of(b)
    if tile is None or ra < 2 or rb < 2:
        matmul_loops(kb, op, ins, outs, epilogue=epilogue)
        return
    if rb > 2:
        _batched_gemm(kb, a, b, c, tile, epilogue)
        return
    n = kb.dim(b, 1)
    source = ScratchPanels(tile, n, rows=row_vectors(b, [], tile))
    source.allocate(kb)
    _flat_gemm(kb, a, c, kb.dim(a, ra - 1), source, tile, epilogue)


@lowers("nn.packed_matmul")
def lower_packed_matmul(
    kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], *, epilogue: Epilogue | None = None
) -> None:
    a, packed = ins
    (c,) = outs
    tile = _packed_tile(op, packed)
    _flat_gemm(kb, a, c, kb.dim(packed, 1), PrepackedPanels(packed), tile, epilogue)


def _packed_tile(op: Operation, packed: SSAValue) -> Tile:
    width = packed.type.get_shape()[2]  # type: ignore[attr-defined]
    tile = vector_tile(element_of(packed), width if width > 0 else None)
    if tile is None or width <= 0:
        raise LoweringError(f"'{op.name}' needs a float operand packed in static-width panels, got {packed.type}")
    return tile


def _gemm_finish(
    op: Operation, c_in: SSAValue, element: Attribute, epilogue: Epilogue | None
) -> Finish | None:
    """``alpha * acc + beta * c``, then the fused epilogue (None when all are identities)."""
    alpha = read_float(getattr(op, "alpha", None), 1.0)
    beta = read_float(getattr(op, "beta", None), 1.0)
    if alpha == 1.0 and beta == 0.0 and epilogue is None:
        return None

    def finish(kb: KernelBuilder, value: SSAValue, row: SSAValue, col: SSAValue) -> SSAValue:
        if alpha != 1.0:
            value = kb.add(arith.MulfOp(value, kb.float_const(alpha, element)))
        if beta != 0.0:
            c_val = kb.load(c_in, kb.broadcast_index(c_in, [row, col]))
            if beta != 1.0:
                c_val = kb.add(arith.MulfOp(c_val, kb.float_const(beta, element)))
            value = kb.add(arith.AddfOp(value, c_val))
        return value if epilogue is None else epilogue(kb, value, [row, col])

    return finish


def _gemm(
    kb: KernelBuilder, op: Operation, a: SSAValue, c_in: SSAValue, y: SSAValue, source: PanelSource, tile: Tile,
    k: SSAValue, epilogue: Epilogue | None,
) -> None:
    trans_a = read_int(getattr(op, "trans_a", None), 0)
    n = kb.dim(y, 1)
    gemm = Gemm(
        m=kb.dim(y, 0),
        n=n,
        k=k,
        a_at=lambda akb, row, kk: akb.load(a, [kk, row] if trans_a else [row, kk]),
        source=source,
        c=y,
        c_index=lambda _kb, row, col: [row, col],
        finish=_gemm_finish(op, c_in, tile.element, epilogue),
    )
    with kb.parallel_loop(panel_count(kb, n, tile)) as (p, body):
        emit_panel(body, gemm, tile, p)


@lowers("nn.gemm")
def lower_gemm(
    kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], *, epilogue: Epilogue | None = None
) -> None:
    a, b, c_in = ins
    (y,) = outs
    tile = vector_tile(require_float(op, y))
    if tile is None:
        gemm_loops(kb, op, ins, outs, epilogue=epilogue)
        return
    trans_a = read_int(getattr(op, "trans_a", None), 0)
    trans_b = read_int(getattr(op, "trans_b", None), 0)
    n = kb.dim(y, 1)
    if trans_b:
        source = ScratchPanels(tile, n, element_at=lambda bkb, k, col: bkb.load(b, [col, k]))
    else:
        source = ScratchPanels(tile, n, rows=row_vectors(b, [], tile))
    source.allocate(kb)
    _gemm(kb, op, a, c_in, y, source, tile, kb.dim(a, 0 if trans_a else 1), epilogue)


@lowers("nn.packed_gemm")
def lower_packed_gemm(
    kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], *, epilogue: Epilogue | None = None
) -> None:
    a, packed, c_in = ins
    (y,) = outs
    tile = _packed_tile(op, packed)
    _gemm(kb, op, a, c_in, y, PrepackedPanels(packed), tile, kb.dim(packed, 1), epilogue)
