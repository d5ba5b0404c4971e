"""``nn.conv`` as an implicit GEMM on the register-tiled micro-kernel.

Per image ``n`` and group ``g``, the NC... output is a matrix: rows are the group's output
channels, columns the flattened output positions (contiguous in memory, so the
micro-kernel's vectors run along them), and::

    Y[m, p] = sum_k W[m, k] * X_col[k, p] + bias[m],   k = (c, tap...) flattened

``W`` is read in place (its (C/G, kernel...) dims are already the flattened k). ``X_col``
is never materialised: each KC x NR block the micro-kernel needs is copied into its stack
scratch, straight from rows of ``x`` for a 1x1, stride-1, unpadded conv (a plain GEMM),
else a vector at a time by ``conv_window.WindowPanels`` (masked loads of shifted rows, or
gathers; zeros in the padding). The bias and the fused epilogue are applied per panel
while it is in cache: at the flat output position (no per-element index arithmetic, so
the finish vectorises) when every tensor the epilogue reads is laid out like the output
or constant over the spatial dims, else at the unflattened position. Images, groups,
chunks of output channels (``chunk_rows``: split only when the image has too few panels
to keep every thread busy) and panels share the kernel's parallel loop.

Depthwise-like convs (fewer than ``GEMM_MIN_CHANNELS`` output channels per group) and
non-float elements keep the direct loops of ``convolution.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import DYNAMIC_INDEX, IndexType, MemRefType
from xdsl.ir import Attribute, Block, Operation, SSAValue

from dynir.dialects.nn.contraction import ConvOp
from dynir.lowering import vector as vec
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.families.contraction import product, vector_tile
from dynir.lowering.families.conv_window import WindowPanels, conv_window, fits_lanes
from dynir.lowering.kernels import Epilogue
from dynir.lowering.microkernel import (
    TILE_ROWS,
    Gemm,
    Panel,
    PanelSource,
    ScratchPanels,
    Tile,
    emit_panel,
    panel_count,
    unflatten,
)

GEMM_MIN_CHANNELS = TILE_ROWS // 2
"""Output channels per group below which the direct loops win (depthwise convs)."""


def _static_dim(buffer: SSAValue, axis: int) -> int | None:
    t = buffer.type
    assert isinstance(t, MemRefType)
    size = t.get_shape()[axis]
    return None if size == DYNAMIC_INDEX else size


def conv_as_gemm(
    kb: KernelBuilder, op: ConvOp, ins: list[SSAValue], outs: list[SSAValue], epilogue: Epilogue | None
) -> bool:
    """Emit ``op`` as an implicit GEMM; False (nothing emitted) when it does not fit."""
    x, w, b = ins
    (y,) = outs
    t = y.type
    assert isinstance(t, MemRefType)
    tile = vector_tile(t.element_type)
    spatial = t.get_num_dims() - 2
    strides, pads, dilations, group = op.window(spatial)
    out_channels = _static_dim(w, 0)
    if tile is None or out_channels is None or out_channels // group < GEMM_MIN_CHANNELS or not fits_lanes(x, y):
        return False
    plain = all(_static_dim(w, 2 + i) == 1 for i in range(spatial)) and set(strides) == {1} and not any(pads)
    window = conv_window(kb, x, w, y, (strides, pads, dilations))
    positions = product(kb, window.out_sizes)
    packing_cost = CHUNK_MIN_ROWS if plain or window.shifted else GATHER_CHUNK_MIN_ROWS
    split = _WorkSplit(kb, kb.dim(y, 0), group, out_channels // group,
                       chunk_rows(out_channels // group, _static_positions(y), tile, packing_cost), panel_count(kb, positions, tile))
    scratch = ScratchPanels(tile, positions)
    scratch.allocate(kb)
    assert scratch.scratch is not None
    flat = epilogue is None or epilogue_reads_flat(kb, epilogue, t.element_type, y)
    with kb.parallel_loop(split.work) as (iv, body):
        item = split.item(body, iv)
        first_in = body.muli(item.group, window.per_group_in)
        zeros = [body.index(0)] * spatial
        n = item.image

        def channel(kb2: KernelBuilder, m: SSAValue) -> SSAValue:
            return m if item.first_out is None else kb2.addi(item.first_out, m)

        source: PanelSource
        if plain:
            source = ScratchPanels(tile, positions, rows=_x_rows(x, n, first_in, spatial, tile), scratch=scratch.scratch)
        else:
            source = WindowPanels(window, n, first_in, scratch.scratch)

        def finish(fkb: KernelBuilder, value: SSAValue, m: SSAValue, p: SSAValue) -> SSAValue:
            channel_m = channel(fkb, m)
            value = fkb.add(arith.AddfOp(value, fkb.load(b, [channel_m])))
            if epilogue is None:
                return value
            position = [*zeros[1:], p] if flat else unflatten(fkb, p, window.out_sizes)
            return epilogue(fkb, value, [n, channel_m, *position])

        gemm = Gemm(
            m=item.channels,
            n=positions,
            k=product(body, [window.per_group_in, *window.kernel]),
            a_at=lambda akb, m, k: akb.load(w, [channel(akb, m), *zeros, k]),
            source=source,
            c=y,
            c_index=lambda ckb, m, p: [n, channel(ckb, m), *zeros[1:], p],
            finish=finish,
        )
        emit_panel(body, gemm, tile, item.panel)
    return True


@dataclass(frozen=True)
class _WorkItem:
    image: SSAValue
    group: SSAValue
    first_out: SSAValue | None
    """The first output channel of the item's chunk (None: channel 0, one group and chunk)."""
    channels: SSAValue
    """How many output channels the chunk has (the last one may be short)."""
    panel: SSAValue


@dataclass(frozen=True)
class _WorkSplit:
    """The parallel loop's items: (image, group, chunk of output channels, panel), panels fastest."""

    kb: KernelBuilder
    images: SSAValue
    groups: int
    per_group_out: int
    rows: int
    panels: SSAValue

    @property
    def chunks(self) -> int:
        return -(-self.per_group_out // self.rows)

    @property
    def work(self) -> SSAValue:
        kb = self.kb
        return kb.muli(kb.muli(kb.muli(self.images, kb.index(self.groups)), kb.index(self.chunks)), self.panels)

    def item(self, kb: KernelBuilder, iv: SSAValue) -> _WorkItem:
        per_image_group = kb.muli(kb.index(self.chunks), self.panels)
        image_group = kb.divsi(iv, per_image_group)
        chunk_panel = kb.remsi(iv, per_image_group)
        group = kb.remsi(image_group, kb.index(self.groups))
        first_in_group = kb.muli(kb.divsi(chunk_panel, self.panels), kb.index(self.rows))
        left = kb.subi(kb.index(self.per_group_out), first_in_group)
        single = self.groups == 1 and self.chunks == 1
        return _WorkItem(
            image=kb.divsi(image_group, kb.index(self.groups)),
            group=group,
            first_out=None if single else kb.addi(kb.muli(group, kb.index(self.per_group_out)), first_in_group),
            channels=kb.add(arith.MinSIOp(kb.index(self.rows), left)),
            panel=kb.remsi(chunk_panel, self.panels),
        )


PARALLEL_ITEMS = 16
"""Work items the parallel loop should offer at least (two per thread on eight threads)."""

CHUNK_MIN_ROWS = 64
"""Fewest output channels per work item when they are split: each item packs its own
panel, which costs a masked load per vector and row of ``X_col`` (a tile row's FMAs are 2)."""

GATHER_CHUNK_MIN_ROWS = 256
"""The same where the panel is gathered: a gather costs about as much as 16 rows of FMAs."""


def chunk_rows(channels: int, positions: int | None, tile: Tile, min_rows: int = CHUNK_MIN_ROWS) -> int:
    """Output channels per work item. Few panels (small images) leave threads idle or
    unbalanced (7 panels on 2 threads: 4 + 3), so the channels are split into chunks of
    whole register tiles, at least ``min_rows`` each, until there are ``PARALLEL_ITEMS``
    items, at the price of each chunk packing its panel again."""
    if positions is None:
        return channels
    panels = max(1, -(-positions // tile.cols))
    chunks = min(-(-PARALLEL_ITEMS // panels), channels // min_rows)
    if chunks <= 1:
        return channels
    per_chunk = -(-channels // chunks)
    return -(-per_chunk // tile.rows) * tile.rows


def _static_positions(y: SSAValue) -> int | None:
    shape = y.type.get_shape()[2:]  # type: ignore[attr-defined]
    if DYNAMIC_INDEX in shape:
        return None
    total = 1
    for size in shape:
        total *= size
    return total


def epilogue_reads_flat(kb: KernelBuilder, epilogue: Epilogue, element: Attribute, y: SSAValue) -> bool:
    """Whether ``epilogue`` gives the same values at indices ``[n, m, 0, ..., p]`` (``p`` the
    flat spatial position) as at ``[n, m, unflatten(p)...]``: true when every load it does
    either ignores the spatial indices or takes them, unchanged and last, from a buffer
    whose spatial sizes are the output's (static), since the backend linearises indices
    row-major. Decided on a probe: the epilogue is built once in a detached block on
    symbolic indices, inspected, and erased."""
    shape = y.type.get_shape()  # type: ignore[attr-defined]
    spatial = list(shape[2:])
    if DYNAMIC_INDEX in spatial:
        return False
    probe = Block(arg_types=[element, *[IndexType()] * len(shape)])
    value, *indices = probe.args
    epilogue(kb.child(probe), value, list(indices))
    positions: list[SSAValue] = list(indices[2:])
    flat = all(_reads_flat(op, positions, spatial) for op in probe.walk())
    for op in reversed(list(probe.ops)):
        probe.erase_op(op, safe_erase=False)
    return flat


def _reads_flat(op: Operation, positions: list[SSAValue], spatial: list[int]) -> bool:
    uses = [o for o in op.operands if o in positions]
    if not uses:
        return True
    if not isinstance(op, memref.LoadOp):
        return False
    indices = list(op.indices)
    shape = list(op.memref.type.get_shape())  # type: ignore[attr-defined]
    count = len(positions)
    return (
        len(indices) >= count
        and indices[-count:] == positions
        and not any(i in positions for i in indices[:-count])
        and shape[-count:] == spatial
    )


def _x_rows(x: SSAValue, n: SSAValue, first_in: SSAValue, spatial: int, tile: Tile):  # type: ignore[no-untyped-def]
    """Row k of X_col for a 1x1 stride-1 unpadded conv: channel k's flattened plane."""

    def rows(kb: KernelBuilder, k: SSAValue, panel: Panel) -> list[SSAValue]:
        zero = vec.zeros(kb, tile.vector_type)
        c = kb.addi(first_in, k)
        lead = [kb.index(0)] * (spatial - 1)
        values: list[SSAValue] = []
        for v in range(tile.vectors):
            p = kb.addi(panel.first_col, kb.index(v * tile.lanes))
            values.append(vec.masked_load(kb, x, [n, c, *lead, p], panel.masks[v], zero))
        return values

    return rows
