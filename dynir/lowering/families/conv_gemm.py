"""``nn.conv`` as an implicit GEMM on the register-tiled micro-kernel.

Per image ``n`` and group ``g``, the NC... output is a matrix: rows are the group's output
channels, columns the flattened output positions (contiguous in memory, so the
micro-kernel's vectors run along them), and::

    Y[m, p] = sum_k W[m, k] * X_col[k, p] + bias[m],   k = (c, tap...) flattened

``W`` is read in place (its (C/G, kernel...) dims are already the flattened k). ``X_col``
is never materialised: each KC x NR block the micro-kernel needs is copied into its stack
scratch, straight from rows of ``x`` for a 1x1, stride-1, unpadded conv (a plain GEMM),
else element by element with the window arithmetic (zeros in the padding). The bias and
the fused epilogue are applied per panel while it is in cache. Images, groups and panels
share the kernel's parallel loop.

Depthwise-like convs (fewer than ``GEMM_MIN_CHANNELS`` output channels per group) and
non-float elements keep the direct loops of ``convolution.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith
from xdsl.dialects.builtin import DYNAMIC_INDEX, MemRefType
from xdsl.ir import SSAValue

from dynir.dialects.nn.contraction import ConvOp
from dynir.lowering import vector as vec
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.families.contraction import product, vector_tile
from dynir.lowering.kernels import Epilogue
from dynir.lowering.microkernel import (
    TILE_ROWS,
    Gemm,
    Panel,
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
    if tile is None or out_channels is None or out_channels // group < GEMM_MIN_CHANNELS:
        return False
    plain = all(_static_dim(w, 2 + i) == 1 for i in range(spatial)) and set(strides) == {1} and not any(pads)
    per_group_out = kb.index(out_channels // group)
    per_group_in = kb.dim(w, 1)
    kernel = [kb.dim(w, 2 + i) for i in range(spatial)]
    out_sizes = [kb.dim(y, 2 + i) for i in range(spatial)]
    positions = product(kb, out_sizes)
    depth = product(kb, [per_group_in, *kernel])
    panels = panel_count(kb, positions, tile)
    scratch = ScratchPanels(tile, positions)
    scratch.allocate(kb)
    work = kb.muli(kb.muli(kb.dim(y, 0), kb.index(group)), panels)
    with kb.parallel_loop(work) as (iv, body):
        image_group = body.divsi(iv, panels)
        n = body.divsi(image_group, body.index(group))
        g = body.remsi(image_group, body.index(group))
        first_in = body.muli(g, per_group_in)
        first_out = body.muli(g, per_group_out)
        zeros = [body.index(0)] * spatial

        def channel(kb2: KernelBuilder, m: SSAValue) -> SSAValue:
            return m if group == 1 else kb2.addi(first_out, m)

        if plain:
            source = ScratchPanels(tile, positions, rows=_x_rows(x, n, first_in, spatial, tile), scratch=scratch.scratch)
        else:
            window = _Window(x, n, first_in, per_group_in, kernel, out_sizes, strides, pads, dilations)
            source = ScratchPanels(tile, positions, element_at=window.element, scratch=scratch.scratch)

        def finish(fkb: KernelBuilder, value: SSAValue, m: SSAValue, p: SSAValue) -> SSAValue:
            channel_m = channel(fkb, m)
            value = fkb.add(arith.AddfOp(value, fkb.load(b, [channel_m])))
            if epilogue is None:
                return value
            return epilogue(fkb, value, [n, channel_m, *unflatten(fkb, p, out_sizes)])

        gemm = Gemm(
            m=per_group_out,
            n=positions,
            k=depth,
            a_at=lambda akb, m, k: akb.load(w, [channel(akb, m), *zeros, k]),
            source=source,
            c=y,
            c_index=lambda ckb, m, p: [n, channel(ckb, m), *zeros[1:], p],
            finish=finish,
        )
        emit_panel(body, gemm, tile, body.remsi(iv, panels))
    return True


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


class _Window:
    """``X_col[k, p]``: the input under tap ``k`` of the window at output position ``p``
    (zero in the padding)."""

    def __init__(
        self,
        x: SSAValue,
        n: SSAValue,
        first_in: SSAValue,
        per_group_in: SSAValue,
        kernel: Sequence[SSAValue],
        out_sizes: Sequence[SSAValue],
        strides: Sequence[int],
        pads: Sequence[int],
        dilations: Sequence[int],
    ) -> None:
        self.x, self.n, self.first_in = x, n, first_in
        self.per_group_in, self.kernel, self.out_sizes = per_group_in, list(kernel), list(out_sizes)
        self.strides, self.pads, self.dilations = strides, pads, dilations

    def element(self, kb: KernelBuilder, k: SSAValue, p: SSAValue) -> SSAValue:
        c, *taps = unflatten(kb, k, [self.per_group_in, *self.kernel])
        outs = unflatten(kb, p, self.out_sizes)
        zero_i, one = kb.index(0), kb.index(1)
        inside: SSAValue | None = None
        indices: list[SSAValue] = []
        for axis, (o, tap) in enumerate(zip(outs, taps)):
            pos = kb.addi(kb.muli(o, kb.index(self.strides[axis])), kb.muli(tap, kb.index(self.dilations[axis])))
            pos = kb.subi(pos, kb.index(self.pads[axis]))
            size = kb.dim(self.x, 2 + axis)
            ok = kb.add(arith.AndIOp(kb.cmpi(pos, zero_i, "sge"), kb.cmpi(pos, size, "slt")))
            inside = ok if inside is None else kb.add(arith.AndIOp(inside, ok))
            clamped = kb.add(arith.MaxSIOp(zero_i, kb.add(arith.MinSIOp(pos, kb.subi(size, one)))))
            indices.append(clamped)
        value = kb.load(self.x, [self.n, kb.addi(self.first_in, c), *indices])
        assert inside is not None
        element = self.x.type.element_type  # type: ignore[attr-defined]
        return kb.select(inside, value, kb.float_const(0.0, element))
