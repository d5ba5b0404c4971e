"""The ``X_col`` panels of an implicit-GEMM conv (``conv_gemm.py``), packed a vector at a time.

``X_col[k, p]`` is the input under tap ``k = (c, t...)`` of the window at output position
``p = (o...)``: ``x[n, c, o * stride - pad + t * dilation ...]``, zero in the padding. The
micro-kernel needs it one KC x NR block at a time in a stack scratch; ``WindowPanels``
fills that block with whole vectors, never element by element::

    per panel:  low_v = unflatten(first_col + v * lanes + <0..lanes-1>) * stride - pad
    per row k:  c, t  = unflatten(k)                                  (scalars, once per row)
                pos_v = low_v + t * dilation                          (each spatial axis)
                keep_v = all ones where 0 <= pos_v < in_size on every axis, else 0
                shifted: v = masked load of x[n, c] at first_col + v * lanes + shift(t)
                         (lanes outside the plane masked off: they are padding)
                else:    v = gather of x[n, c] at linear(pos_v) & keep_v (padding lanes read
                         the plane's first element)
                scratch[k, v] = bits(v) & keep_v                      (zeros in the padding)

The *shifted* form applies when every stride is 1 and the input rows are as long as the
output's (each axis but the first: "same" padding, e.g. a 3x3 with pad 1): then tap ``t``
reads the output's flat positions shifted by one constant, so a lane run is contiguous in
``x`` and one masked load replaces the gather. ``keep`` is integer arithmetic (the sign
of ``pos | (size - 1 - pos)``), not a compare: xDSL 0.74's ``arith.cmpi`` has no vector
form. Lanes past N hold whatever they read (the micro-kernel never stores those columns).
Positions and offsets use lanes of the element's width (i32 for f32), so a plane holds at
most 2^31 - 1 elements (``fits_lanes``).

```mlir
// per row k of a 3x3 stride-2 conv: %oh, %ow (per panel) are vector<16xi32>
%ih = arith.addi %oh_low, %kh_splat : vector<16xi32>
%out_h = arith.ori %ih, (arith.subi %h_minus_1, %ih) : vector<16xi32>    // negative: outside
%keep = arith.xori (arith.shrsi (arith.ori %out_h, %out_w), %c31), %ones : vector<16xi32>
%offsets = arith.andi (arith.addi (arith.muli %ih, %w_splat), %iw), %keep : vector<16xi32>
%xs = vecx.gather %x[%n, %c, %c0, %c0], %offsets, %tail, %zero : ... -> vector<16xf32>
%bits = arith.andi (arith.bitcast %xs : vector<16xf32> to vector<16xi32>), %keep
vector.store (arith.bitcast %bits), %scratch[%kk, %c0] : memref<256x32xf32>, vector<16xf32>
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects import arith
from xdsl.dialects.builtin import DYNAMIC_INDEX, MemRefType, VectorType
from xdsl.ir import Attribute, SSAValue

from dynir.lowering import vector as vec
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.microkernel import Panel, Tile, unflatten

@dataclass(frozen=True)
class ConvWindow:
    """Where the taps of each output position read ``x`` (sizes are run-time values)."""

    x: SSAValue
    strides: Sequence[int]
    pads: Sequence[int]
    dilations: Sequence[int]
    in_sizes: list[SSAValue]
    out_sizes: list[SSAValue]
    kernel: list[SSAValue]
    per_group_in: SSAValue
    shifted: bool
    """Stride 1 and input rows as long as the output's: a tap is a shift of the flat positions."""
    plane: SSAValue
    """Elements of one input channel plane."""


def conv_window(
    kb: KernelBuilder, x: SSAValue, w: SSAValue, y: SSAValue, window: tuple[Sequence[int], Sequence[int], Sequence[int]]
) -> ConvWindow:
    strides, pads, dilations = window
    spatial = _rank(y) - 2
    x_shape, y_shape = _shape(x)[2:], _shape(y)[2:]
    same_rows = all(a == b != DYNAMIC_INDEX for a, b in zip(x_shape[1:], y_shape[1:]))
    in_sizes = [kb.dim(x, 2 + i) for i in range(spatial)]
    plane = kb.index(1)
    for size in in_sizes:
        plane = kb.muli(plane, size)
    return ConvWindow(
        x=x,
        strides=strides,
        pads=pads[:spatial],
        dilations=dilations,
        in_sizes=in_sizes,
        out_sizes=[kb.dim(y, 2 + i) for i in range(spatial)],
        kernel=[kb.dim(w, 2 + i) for i in range(spatial)],
        per_group_in=kb.dim(w, 1),
        shifted=set(strides) == {1} and same_rows,
        plane=plane,
    )


def fits_lanes(x: SSAValue, y: SSAValue) -> bool:
    """Whether positions and offsets fit integer lanes of the element's width (static
    planes below 2^31 elements for f32; dynamic planes are assumed to)."""
    t = x.type
    assert isinstance(t, MemRefType)
    bits = t.element_type.bitwidth  # type: ignore[attr-defined]
    limit = 2 ** (bits - 1) - 1
    return all(DYNAMIC_INDEX in shape or _product(shape) * 2 < limit for shape in (_shape(x)[2:], _shape(y)[2:]))


@dataclass(frozen=True)
class WindowPanels:
    """A ``PanelSource``: each KC x NR block of ``X_col`` for image ``n`` and the group whose
    first input channel is ``first_in``, packed into ``scratch`` (zero in the padding; lanes past
    N hold whatever they read, the micro-kernel never stores those columns)."""

    window: ConvWindow
    n: SSAValue
    first_in: SSAValue
    scratch: SSAValue

    def begin(self, kb: KernelBuilder, tile: Tile, panel: Panel, k0: SSAValue, k1: SSAValue) -> None:
        """Rows ``[k0, k1)`` of the panel, tap by tap: a tap's lane masks and offsets are the
        same for every channel, so they are computed once per tap, then each channel whose
        row lies in the block is one load (or gather), one ``and`` and one store per vector."""
        window = self.window
        bits = tile.vector_type.element_type.bitwidth  # type: ignore[attr-defined]
        lanes_type = vec.int_vector_type(tile.lanes, bits)
        lows = [self._lowest_taps(kb, tile, panel, v, lanes_type) for v in range(tile.vectors)]
        taps = product_of(kb, window.kernel)
        with kb.loop(taps) as (t, per_tap):
            tap = unflatten(per_tap, t, window.kernel)
            reach = [vec.splat_index(per_tap, _times(per_tap, i, d), lanes_type) for i, d in zip(tap, window.dilations)]
            shift = self._shift(per_tap, tap) if window.shifted else None
            reads = [self._tap_read(per_tap, tile, panel, v, [_add(per_tap, low, r) for low, r in zip(lows[v], reach)], shift)
                     for v in range(tile.vectors)]
            first = per_tap.add(arith.MaxSIOp(per_tap.add(arith.CeilDivSIOp(per_tap.subi(k0, t), taps)), kb.index(0)))
            end = per_tap.add(arith.MinSIOp(per_tap.add(arith.CeilDivSIOp(per_tap.subi(k1, t), taps)), window.per_group_in))
            with per_tap.loop(end, first) as (c, body):
                kk = body.subi(body.addi(body.muli(c, taps), t), k0)
                channel = body.addi(self.first_in, c)
                for v, read in enumerate(reads):
                    value = read.value(body, window.x, self.n, channel, len(tap))
                    kept = body.add(arith.AndIOp(vec.bitcast(body, value, lanes_type), read.keep))
                    vec.store(body, vec.bitcast(body, kept, tile.vector_type), self.scratch, [kk, body.index(v * tile.lanes)])

    def _tap_read(
        self, kb: KernelBuilder, tile: Tile, panel: Panel, v: int, positions: list[SSAValue], shift: SSAValue | None
    ) -> _TapRead:
        """How vector ``v`` of a tap reads a channel plane, whose input indices are ``positions``."""
        window = self.window
        lanes_type = positions[0].type
        assert isinstance(lanes_type, VectorType)
        bits = lanes_type.element_type.bitwidth  # type: ignore[attr-defined]
        outside: SSAValue | None = None
        for position, size in zip(positions, window.in_sizes):
            last = vec.splat_index(kb, kb.subi(size, kb.index(1)), lanes_type)
            out = kb.add(arith.OrIOp(position, kb.add(arith.SubiOp(last, position))))
            outside = out if outside is None else kb.add(arith.OrIOp(outside, out))
        assert outside is not None
        sign = kb.add(arith.ShRSIOp(outside, vec.splat_index(kb, kb.index(bits - 1), lanes_type)))
        keep = kb.add(arith.XOrIOp(sign, vec.broadcast(kb, kb.int_const(-1, lanes_type.element_type), lanes_type)))
        zero = vec.zeros(kb, tile.vector_type)
        if shift is not None:
            start = kb.addi(kb.addi(panel.first_col, kb.index(v * tile.lanes)), shift)
            in_plane = vec.range_mask(kb, kb.subi(kb.index(0), start), kb.subi(window.plane, start), tile.lanes)
            return _TapRead(keep, zero, in_plane, start=start)
        offsets = kb.add(arith.AndIOp(_linear(kb, positions, window, lanes_type), keep))
        return _TapRead(keep, zero, panel.masks[v], offsets=offsets)

    def row(self, kb: KernelBuilder, tile: Tile, panel: Panel, k: SSAValue, k0: SSAValue, v: int) -> SSAValue:
        return vec.load(kb, self.scratch, [kb.subi(k, k0), kb.index(v * tile.lanes)], tile.vector_type)

    def _lowest_taps(self, kb: KernelBuilder, tile: Tile, panel: Panel, v: int, lanes_type: VectorType[Attribute]) -> list[SSAValue]:
        """Per spatial axis, the input index of tap 0 (``o * stride - pad``) for the lanes of vector ``v``."""
        window = self.window
        first = kb.addi(panel.first_col, kb.index(v * tile.lanes))
        positions = kb.add(arith.AddiOp(vec.splat_index(kb, first, lanes_type), vec.iota(kb, lanes_type)))
        sizes = [vec.splat_index(kb, size, lanes_type) for size in window.out_sizes]
        coords: list[SSAValue] = []
        rest = positions
        for size in reversed(sizes[1:]):
            coords.append(kb.add(arith.RemUIOp(rest, size)))
            rest = kb.add(arith.DivUIOp(rest, size))
        coords.append(rest)
        lows: list[SSAValue] = []
        for o, stride, pad in zip(reversed(coords), window.strides, window.pads):
            low = o if stride == 1 else kb.add(arith.MuliOp(o, vec.splat_index(kb, kb.index(stride), lanes_type)))
            if pad:
                low = kb.add(arith.SubiOp(low, vec.splat_index(kb, kb.index(pad), lanes_type)))
            lows.append(low)
        return lows

    def _shift(self, kb: KernelBuilder, taps: Sequence[SSAValue]) -> SSAValue:
        """The flat offset of a tap in the shifted form: ``sum (t * d - pad) * row_stride``."""
        window = self.window
        shift = kb.index(0)
        for axis, tap in enumerate(taps):
            term = kb.subi(_times(kb, tap, window.dilations[axis]), kb.index(window.pads[axis]))
            for size in window.in_sizes[axis + 1 :]:
                term = kb.muli(term, size)
            shift = kb.addi(shift, term)
        return shift


@dataclass(frozen=True)
class _TapRead:
    """One vector of a tap, for any channel: a masked load at ``start`` in the plane
    (shifted form) or a gather at ``offsets``; ``keep`` zeroes the padding lanes."""

    keep: SSAValue
    zero: SSAValue
    mask: SSAValue
    start: SSAValue | None = None
    offsets: SSAValue | None = None

    def value(self, kb: KernelBuilder, x: SSAValue, n: SSAValue, channel: SSAValue, spatial: int) -> SSAValue:
        origin = [kb.index(0)] * spatial
        if self.start is not None:
            return vec.masked_load(kb, x, [n, channel, *origin[:-1], self.start], self.mask, self.zero)
        assert self.offsets is not None
        return vec.gather(kb, x, [n, channel, *origin], self.offsets, self.mask, self.zero)


def product_of(kb: KernelBuilder, sizes: Sequence[SSAValue]) -> SSAValue:
    total = kb.index(1)
    for size in sizes:
        total = kb.muli(total, size)
    return total


def _add(kb: KernelBuilder, a: SSAValue, b: SSAValue) -> SSAValue:
    return kb.add(arith.AddiOp(a, b))


def _linear(kb: KernelBuilder, positions: Sequence[SSAValue], window: ConvWindow, lanes_type: VectorType[Attribute]) -> SSAValue:
    """Row-major offset of the multi-index ``positions`` (vectors) in the input plane."""
    linear = positions[0]
    for position, size in zip(positions[1:], window.in_sizes[1:]):
        scaled = kb.add(arith.MuliOp(linear, vec.splat_index(kb, size, lanes_type)))
        linear = kb.add(arith.AddiOp(scaled, position))
    return linear


def _times(kb: KernelBuilder, value: SSAValue, factor: int) -> SSAValue:
    return value if factor == 1 else kb.muli(value, kb.index(factor))


def _rank(buffer: SSAValue) -> int:
    t = buffer.type
    assert isinstance(t, MemRefType)
    return t.get_num_dims()


def _shape(buffer: SSAValue) -> tuple[int, ...]:
    t = buffer.type
    assert isinstance(t, MemRefType)
    return tuple(t.get_shape())


def _product(sizes: Sequence[int]) -> int:
    total = 1
    for size in sizes:
        total *= size
    return total
