"""Loop lowerings of the data-movement ops: ``transpose``, ``tile``, ``pad``, ``concat``,
``split``, ``depth_to_space`` and ``space_to_depth``.

Each kernel is one loop nest over the destination (its last dim innermost) that reads
each element from a computed source index, except ``concat`` (one nest per input,
writing its slab), ``split`` (one nest per output) and constant ``pad`` (fill, then copy
the kept input block). Every size is read at run time, so ``?`` dims and empty tensors
work.

```mlir
// nn.transpose %x {perm = array<i64: 1, 0>} : (tensor<?x?xf32>) -> tensor<?x?xf32>
scf.for %i = %c0 to %d0 step %c1 {
  scf.for %j = %c0 to %d1 step %c1 {
    %v = memref.load %x[%j, %i] : memref<?x?xf32>
    memref.store %v, %out[%i, %j] : memref<?x?xf32>
  }
}
```
"""

from __future__ import annotations

import numpy as np

from xdsl.dialects.builtin import IntegerType, TensorType, i1, i8
from xdsl.ir import Attribute, Operation, SSAValue

from dynir.dialects.nn.base import read_float, read_int, read_ints, read_str
from dynir.ir.types import normalize_axis, numpy_dtype
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.families.shape import (
    copy_mapped,
    divui,
    maxsi,
    minsi,
    rank,
    remui,
    static_dim,
)
from dynir.lowering.kernels import Epilogue, lowers
from dynir.lowering.scalar import LoweringError


@lowers("nn.transpose")
def lower_transpose(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """Output dim ``i`` is input dim ``perm[i]``: the nest walks the output."""
    (x,), (y,) = ins, outs
    perm = read_ints(getattr(op, "perm", None))

    def src_index(b: KernelBuilder, ivs: list[SSAValue]) -> list[SSAValue]:
        index = list(ivs)
        for out_axis, in_axis in enumerate(perm):
            index[in_axis] = ivs[out_axis]
        return index

    copy_mapped(kb, x, y, src_index)


@lowers("nn.tile")
def lower_tile(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """A repeat loop outside each repeated dim's loop (``out = rep * dim + i``): no
    modulo, and the innermost loop is contiguous on both sides."""
    (x,), (y,) = ins, outs
    repeats = read_ints(getattr(op, "repeats", None))
    uppers: list[SSAValue] = []
    for axis, count in enumerate(repeats):
        if count != 1:
            uppers.append(kb.index(count))
        uppers.append(kb.dim(x, axis))
    ivs, body = kb.parallel_loop_nest(uppers)
    position = iter(ivs)
    src: list[SSAValue] = []
    dst: list[SSAValue] = []
    for axis, count in enumerate(repeats):
        rep = next(position) if count != 1 else None
        i = next(position)
        src.append(i)
        dst.append(i if rep is None else body.addi(body.muli(rep, body.dim(x, axis)), i))
    body.store(body.load(x, src), y, dst)


@lowers("nn.pad")
def lower_pad(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """Negative pads crop: input coordinate ``c = out - begin``. The kept block has
    size ``out_dim - max(begin, 0) - max(end, 0)`` on each dim."""
    (x,), (y,) = ins, outs
    r = rank(x)
    pads = read_ints(getattr(op, "pads", None))
    begins, ends = pads[:r], pads[r:]
    mode = read_str(getattr(op, "mode", None), "constant")
    if mode == "constant":
        _pad_constant(kb, op, x, y, begins, ends)
        return
    if mode not in ("reflect", "edge", "wrap"):
        raise LoweringError(f"'nn.pad' mode '{mode}' has no loop lowering")
    kept = [
        _kept_size(kb, y, axis, b, e) if b > 0 or e > 0 else None for axis, (b, e) in enumerate(zip(begins, ends))
    ]

    def src_index(k: KernelBuilder, ivs: list[SSAValue]) -> list[SSAValue]:
        index: list[SSAValue] = []
        for axis, iv in enumerate(ivs):
            size = kept[axis]
            if size is not None:
                iv = _pad_coordinate(k, mode, k.subi(iv, k.index(max(begins[axis], 0))), size)
            crop = max(-begins[axis], 0)
            index.append(k.addi(iv, k.index(crop)) if crop else iv)
        return index

    copy_mapped(kb, x, y, src_index)


def _kept_size(kb: KernelBuilder, y: SSAValue, axis: int, begin: int, end: int) -> SSAValue:
    """The size of the input block that survives on ``axis``: the output dim minus the
    padding added at both ends."""
    added = max(begin, 0) + max(end, 0)
    size = static_dim(y, axis)
    if size is not None:
        return kb.index(size - added)
    return kb.subi(kb.dim(y, axis), kb.index(added)) if added else kb.dim(y, axis)


def _pad_coordinate(b: KernelBuilder, mode: str, coord: SSAValue, size: SSAValue) -> SSAValue:
    """``coord`` (any integer) folded into ``[0, size)`` the way numpy's ``np.pad``
    modes extend a dim of ``size`` elements (``size >= 1``)."""
    zero, one = b.index(0), b.index(1)
    if mode == "edge":
        return minsi(b, maxsi(b, coord, zero), b.subi(size, one))
    if mode == "wrap":
        return _positive_mod(b, coord, size)
    # reflect: period 2 * (size - 1), mirrored in its second half; a size-1 dim repeats.
    period = maxsi(b, b.muli(b.subi(size, one), b.index(2)), one)
    phase = _positive_mod(b, coord, period)
    return b.select(b.cmpi(phase, size, "sge"), b.subi(period, phase), phase)


def _positive_mod(b: KernelBuilder, a: SSAValue, n: SSAValue) -> SSAValue:
    rem = b.remsi(a, n)
    return b.select(b.cmpi(rem, b.index(0), "slt"), b.addi(rem, n), rem)


def _pad_constant(
    kb: KernelBuilder, op: Operation, x: SSAValue, y: SSAValue, begins: tuple[int, ...], ends: tuple[int, ...]
) -> None:
    fill = _fill_value(kb, op, read_float(getattr(op, "value", None), 0.0))
    ivs, body = kb.loop_nest(kb.dims(y))
    body.store(fill, y, ivs)
    kept = [_kept_size(kb, y, axis, b, e) for axis, (b, e) in enumerate(zip(begins, ends))]
    ivs, body = kb.loop_nest(kept)
    src = [body.addi(iv, body.index(max(-b, 0))) for iv, b in zip(ivs, begins)]
    dst = [body.addi(iv, body.index(max(b, 0))) for iv, b in zip(ivs, begins)]
    body.store(body.load(x, src), y, dst)


def _fill_value(kb: KernelBuilder, op: Operation, value: float) -> SSAValue:
    """``value`` converted like ``np.array(value).astype(dtype)`` (bools are ``i8``)."""
    t = op.results[0].type
    assert isinstance(t, TensorType)
    result_element: Attribute = t.element_type
    if result_element == i1:
        return kb.int_const(int(value != 0), i8)
    if isinstance(result_element, IntegerType):
        # Kernel buffers are signless (dynir.lowering.builder.memref_type): store the
        # unsigned value's bit pattern as the signless integer of the same width.
        width = result_element.width.data
        bits = int(np.array(value).astype(numpy_dtype(result_element)).view(f"i{width // 8}"))
        return kb.int_const(bits, IntegerType(width))
    return kb.float_const(value, result_element)


@lowers("nn.concat")
def lower_concat(
    kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], epilogue: Epilogue | None = None
) -> None:
    """One nest per input, writing its slab at the running offset along ``axis``; an
    epilogue (``quantize(concat(...))`` in int8 CNNs) applies to each element at its store,
    and may change the element type: the output is written once, never read back."""
    (y,) = outs
    axis = normalize_axis(read_int(getattr(op, "axis", None)), rank(y))
    offset: int | SSAValue = 0
    for position, x in enumerate(ins):
        ivs, body = kb.parallel_loop_nest(kb.dims(x))  # inputs write disjoint slabs
        index = _shifted(body, ivs, axis, offset)
        value = body.load(x, ivs)
        body.store(value if epilogue is None else epilogue(body, value, index), y, index)
        if position + 1 < len(ins):
            offset = _advance(kb, offset, x, axis)


def _shifted(kb: KernelBuilder, ivs: list[SSAValue], axis: int, offset: int | SSAValue) -> list[SSAValue]:
    """``ivs`` with ``offset`` added on ``axis``."""
    index = list(ivs)
    if not isinstance(offset, int):
        index[axis] = kb.addi(ivs[axis], offset)
    elif offset:
        index[axis] = kb.addi(ivs[axis], kb.index(offset))
    return index


def _advance(kb: KernelBuilder, offset: int | SSAValue, buffer: SSAValue, axis: int) -> int | SSAValue:
    """``offset + dim(buffer, axis)``, kept a Python int while every size is static."""
    size = static_dim(buffer, axis)
    if isinstance(offset, int) and size is not None:
        return offset + size
    as_value = kb.index(offset) if isinstance(offset, int) else offset
    return kb.addi(as_value, kb.dim(buffer, axis))


@lowers("nn.split")
def lower_split(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """One nest per output, reading its slab at the running offset along ``axis``."""
    (x,) = ins
    axis = normalize_axis(read_int(getattr(op, "axis", None)), rank(x))
    offset: int | SSAValue = 0
    for position, y in enumerate(outs):
        start = offset
        copy_mapped(kb, x, y, lambda k, ivs, start=start: _shifted(k, ivs, axis, start))  # type: ignore[misc]
        if position + 1 < len(outs):
            offset = _advance(kb, offset, y, axis)


def _blocksize(op: Operation) -> tuple[int, str]:
    return read_int(getattr(op, "blocksize", None)), read_str(getattr(op, "mode", None), "DCR")


@lowers("nn.depth_to_space")
def lower_depth_to_space(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """``out[n, c, y, x] = in[n, channel(c, y % b, x % b), y / b, x / b]``."""
    (x,), (y,) = ins, outs
    b, mode = _blocksize(op)
    out_channels = kb.dim(y, 1)

    def src_index(k: KernelBuilder, ivs: list[SSAValue]) -> list[SSAValue]:
        n, c, oy, ox = ivs
        bs = k.index(b)
        block = k.addi(k.muli(remui(k, oy, bs), bs), remui(k, ox, bs))
        if mode == "DCR":
            channel = k.addi(k.muli(block, out_channels), c)
        else:
            channel = k.addi(k.muli(c, k.index(b * b)), block)
        return [n, channel, divui(k, oy, bs), divui(k, ox, bs)]

    copy_mapped(kb, x, y, src_index)


@lowers("nn.space_to_depth")
def lower_space_to_depth(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """``out[n, oc, y, x] = in[n, c, y * b + b1, x * b + b2]`` with ``(b1, b2, c)`` (DCR)
    or ``(c, b1, b2)`` (CRD) the digits of ``oc``."""
    (x,), (y,) = ins, outs
    b, mode = _blocksize(op)
    in_channels = kb.dim(x, 1)

    def src_index(k: KernelBuilder, ivs: list[SSAValue]) -> list[SSAValue]:
        n, oc, oy, ox = ivs
        bs, bb = k.index(b), k.index(b * b)
        if mode == "DCR":
            block, c = divui(k, oc, in_channels), remui(k, oc, in_channels)
        else:
            block, c = remui(k, oc, bb), divui(k, oc, bb)
        row = k.addi(k.muli(oy, bs), divui(k, block, bs))
        col = k.addi(k.muli(ox, bs), remui(k, block, bs))
        return [n, c, row, col]

    copy_mapped(kb, x, y, src_index)
