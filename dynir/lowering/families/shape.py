"""Loop lowerings of the shape ops: ``reshape``, ``flatten``, ``squeeze``, ``unsqueeze``
(copies that keep the row-major element order), ``expand`` (a broadcast copy) and the
shape queries ``shape``, ``size`` and ``range``.

Also the copy helpers the layout and indexing families share: ``copy_mapped`` (one
nest over the destination, each element read from a computed source index),
``copy_row_major`` (same element order, any two shapes) and ``linearize`` /
``delinearize`` on ``index`` values. Every size comes from ``memref.dim`` (or the
static shape), so the kernels are shape-generic; aliasing instead of copying is later
buffer-planning work.

```mlir
// nn.reshape %x {shape = array<i64: 0, 0, 12, 64>} : (tensor<?x128x768xf32>) -> tensor<?x128x12x64xf32>
scf.for %b ... { scf.for %s ... { scf.for %h ... {          // output rows
  %row = ... (linear index of [%b, %s, %h, 0]) ...
  %q = arith.divui %row, %c768 ...                           // input index of the row, once
  scf.for %j = %c0 to %c64 step %c1 {                         // contiguous on both sides
    %v = memref.load %x[...]  memref.store %v, %out[%b, %s, %h, %j]
}}}}
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import arith
from xdsl.dialects.builtin import DYNAMIC_INDEX, IndexType, IntegerType, MemRefType, Signedness, i64
from xdsl.ir import Attribute, Operation, SSAValue

from dynir.dialects.nn.base import read_int, read_ints
from dynir.dialects.nn.shape import normalize_axes
from dynir.lowering.builder import KernelBuilder, is_integer_type
from dynir.lowering.kernels import lowers
from dynir.lowering.scalar import LoweringError

IndexMap = Callable[[KernelBuilder, list[SSAValue]], list[SSAValue]]
"""Destination loop ivs -> source indices (built in the innermost loop body)."""


# -- buffer facts ------------------------------------------------------------------------


def memref_of(v: SSAValue) -> MemRefType[Attribute]:
    t = v.type
    if not isinstance(t, MemRefType):
        raise LoweringError(f"expected a memref, got {t}")
    return t


def rank(v: SSAValue) -> int:
    return memref_of(v).get_num_dims()


def element(v: SSAValue) -> Attribute:
    return memref_of(v).element_type


def static_dim(v: SSAValue, axis: int) -> int | None:
    size = memref_of(v).get_shape()[axis]
    return None if size == DYNAMIC_INDEX else size


def is_signless_integer(t: Attribute) -> bool:
    return isinstance(t, IntegerType) and t.signedness.data == Signedness.SIGNLESS


def require_arithmetic(op: Operation, t: Attribute) -> None:
    """Ops that compare or combine values support floats and signless integers."""
    if is_integer_type(t) and not is_signless_integer(t):
        raise LoweringError(f"'{op.name}' on {t} elements has no loop lowering (signless ints and floats only)")


# -- index arithmetic --------------------------------------------------------------------


def divui(kb: KernelBuilder, a: SSAValue, b: SSAValue) -> SSAValue:
    return kb.add(arith.DivUIOp(a, b))


def remui(kb: KernelBuilder, a: SSAValue, b: SSAValue) -> SSAValue:
    return kb.add(arith.RemUIOp(a, b))


def maxsi(kb: KernelBuilder, a: SSAValue, b: SSAValue) -> SSAValue:
    return kb.add(arith.MaxSIOp(a, b))


def minsi(kb: KernelBuilder, a: SSAValue, b: SSAValue) -> SSAValue:
    return kb.add(arith.MinSIOp(a, b))


def to_index(kb: KernelBuilder, value: SSAValue) -> SSAValue:
    """An integer tensor element as an ``index`` (sign-extended)."""
    if isinstance(value.type, IndexType):
        return value
    return kb.add(arith.IndexCastOp(value, IndexType()))


def linearize(kb: KernelBuilder, indices: Sequence[SSAValue], sizes: Sequence[SSAValue]) -> SSAValue:
    """Row-major linear index ``((i0 * s1 + i1) * s2 + i2) ...``; 0 for no indices."""
    if not indices:
        return kb.index(0)
    linear = indices[0]
    for index, size in zip(indices[1:], sizes[1:]):
        linear = kb.addi(kb.muli(linear, size), index)
    return linear


def delinearize(kb: KernelBuilder, linear: SSAValue, buffer: SSAValue) -> list[SSAValue]:
    """The indices of row-major position ``linear`` in ``buffer`` (static size-1 dims
    take no division). Only valid where ``buffer`` holds an element: every dim > 0."""
    r = rank(buffer)
    indices: list[SSAValue] = [kb.index(0)] * r
    for axis in range(r - 1, 0, -1):
        if static_dim(buffer, axis) == 1:
            continue
        size = kb.dim(buffer, axis)
        indices[axis] = remui(kb, linear, size)
        linear = divui(kb, linear, size)
    if r:
        indices[0] = linear
    return indices


# -- copies ------------------------------------------------------------------------------


def copy_mapped(kb: KernelBuilder, src: SSAValue, dst: SSAValue, src_index: IndexMap) -> None:
    """``dst[ivs] = src[src_index(ivs)]`` over all of ``dst`` (its last dim innermost)."""
    ivs, body = kb.parallel_loop_nest(kb.dims(dst))
    body.store(body.load(src, src_index(body, ivs)), dst, ivs)


def copy_row_major(kb: KernelBuilder, src: SSAValue, dst: SSAValue) -> None:
    """Copy ``src`` into ``dst`` element by element in row-major order (same element
    count, any shapes). The nest walks one side; the other side's index of each row is
    computed once per row when its last dim is a static multiple of the walked last dim
    (``768 -> 12x64``), else once per element."""
    walk_dst = _row_divides(dst, src) or not _row_divides(src, dst)
    walk, other = (dst, src) if walk_dst else (src, dst)

    def move(b: KernelBuilder, walk_idx: list[SSAValue], other_idx: list[SSAValue]) -> None:
        if walk_dst:
            b.store(b.load(other, other_idx), walk, walk_idx)
        else:
            b.store(b.load(walk, walk_idx), other, other_idx)

    if rank(walk) == 0:
        move(kb, [], [kb.index(0)] * rank(other))
        return
    sizes = kb.dims(walk)
    ivs, body = kb.parallel_loop_nest(sizes[:-1], split_all=True)
    row = body.muli(linearize(body, ivs, sizes[:-1]), sizes[-1])
    if _row_divides(walk, other):
        base = delinearize(body, row, other)
        with body.loop(sizes[-1]) as (j, inner):
            move(inner, [*ivs, j], [*base[:-1], inner.addi(base[-1], j)])
    else:
        with body.loop(sizes[-1]) as (j, inner):
            move(inner, [*ivs, j], delinearize(inner, inner.addi(row, j), other))


def _row_divides(walk: SSAValue, other: SSAValue) -> bool:
    """Whether each row of ``walk`` lies inside one row of ``other`` (static sizes)."""
    if rank(walk) == 0 or rank(other) == 0:
        return False
    w, o = static_dim(walk, rank(walk) - 1), static_dim(other, rank(other) - 1)
    return w is not None and o is not None and w > 0 and o % w == 0


# -- lowerings ---------------------------------------------------------------------------


@lowers("nn.reshape")
def lower_reshape(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    copy_row_major(kb, ins[0], outs[0])


@lowers("nn.flatten")
def lower_flatten(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """Walk the input; the output index is (linear index of the dims before ``axis``,
    linear index of the rest): no divisions."""
    (x,), (y,) = ins, outs
    r = rank(x)
    axis = read_int(getattr(op, "axis", None), 1)
    axis = axis + r if axis < 0 else axis
    sizes = kb.dims(x)
    ivs, body = kb.parallel_loop_nest(sizes)
    rows = linearize(body, ivs[:axis], sizes[:axis])
    cols = linearize(body, ivs[axis:], sizes[axis:])
    body.store(body.load(x, ivs), y, [rows, cols])


@lowers("nn.squeeze")
def lower_squeeze(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    (x,), (y,) = ins, outs
    squeezed = set(normalize_axes(read_ints(getattr(op, "axes", None)), rank(x)))

    def src_index(b: KernelBuilder, ivs: list[SSAValue]) -> list[SSAValue]:
        rest = iter(ivs)
        return [b.index(0) if axis in squeezed else next(rest) for axis in range(rank(x))]

    copy_mapped(kb, x, y, src_index)


@lowers("nn.unsqueeze")
def lower_unsqueeze(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    (x,), (y,) = ins, outs
    inserted = set(normalize_axes(read_ints(getattr(op, "axes", None)), rank(y)))
    copy_mapped(kb, x, y, lambda b, ivs: [iv for axis, iv in enumerate(ivs) if axis not in inserted])


@lowers("nn.expand")
def lower_expand(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    (x,), (y,) = ins, outs
    copy_mapped(kb, x, y, lambda b, ivs: b.broadcast_index(x, ivs))


@lowers("nn.shape")
def lower_shape(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """``out[i] = dim(x, start + i)`` as ``i64``, one store per dim (the rank is static)."""
    (x,), (y,) = ins, outs
    r = rank(x)

    def clamp(v: int) -> int:
        return min(max(v + r if v < 0 else v, 0), r)

    start = clamp(read_int(getattr(op, "start", None), 0))
    end = max(start, clamp(read_int(getattr(op, "end", None), r)))
    for position, axis in enumerate(range(start, end)):
        static = static_dim(x, axis)
        size = kb.int_const(static, i64) if static is not None else kb.add(arith.IndexCastOp(kb.dim(x, axis), i64))
        kb.store(size, y, [kb.index(position)])


@lowers("nn.size")
def lower_size(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    (x,), (y,) = ins, outs
    count = kb.index(1)
    for size in kb.dims(x):
        count = kb.muli(count, size)
    kb.store(kb.add(arith.IndexCastOp(count, i64)), y, [])


@lowers("nn.range")
def lower_range(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """``out[i] = start + i * delta``; the length is the output buffer's (the runtime
    sized it from the operands)."""
    start_buf, _, delta_buf = ins
    (y,) = outs
    t = element(y)
    require_arithmetic(op, t)
    start, delta = kb.load(start_buf, []), kb.load(delta_buf, [])
    with kb.parallel_loop(kb.dim(y, 0)) as (i, body):
        if is_integer_type(t):
            step = body.muli(body.add(arith.IndexCastOp(i, t)), delta)
            value = body.addi(start, step)
        else:
            count = body.add(arith.SIToFPOp(body.add(arith.IndexCastOp(i, i64)), t))  # type: ignore[arg-type]
            value = body.add(arith.AddfOp(start, body.add(arith.MulfOp(count, delta))))
        body.store(value, y, [i])
