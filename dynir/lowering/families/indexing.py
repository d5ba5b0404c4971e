"""Loop lowerings of the indexing ops: ``slice``, ``gather``, ``gather_elements``,
``scatter_elements`` and ``topk``.

Data-dependent indices (``i32``/``i64``) are sign-extended to ``index``; a negative one
counts from the end (``idx < 0 ? idx + dim : idx``). The reference raises on indices
outside ``[-dim, dim)``; a kernel cannot report that, so it clamps them into the dim
(memory safety: never a read or write outside the buffer).

```mlir
// nn.gather %table, %ids {axis = 0 : i64} : (tensor<100x8xf32>, tensor<?xi64>) -> tensor<?x8xf32>
scf.for %i = %c0 to %n step %c1 {
  %raw = memref.load %ids[%i] : memref<?xi64>        // one index load per row
  %idx = ... arith.index_cast, arith.select (wrap), clamp ...
  scf.for %j = %c0 to %c8 step %c1 {
    %v = memref.load %table[%idx, %j] : memref<100x8xf32>
    memref.store %v, %out[%i, %j] : memref<?x8xf32>
  }
}
```
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.dialects import arith, scf
from xdsl.dialects.builtin import IntegerType, TensorType, i1, i64
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from dynir.dialects.nn.base import read_int, read_str
from dynir.dialects.nn.indexing import SliceOp, slice_bounds
from dynir.ir.types import normalize_axis
from dynir.lowering.builder import KernelBuilder, is_integer_type
from dynir.lowering.families.shape import (
    copy_mapped,
    element,
    maxsi,
    minsi,
    rank,
    require_arithmetic,
    static_dim,
    to_index,
)
from dynir.lowering.kernels import lowers
from dynir.lowering.scalar import LoweringError


def wrapped_index(kb: KernelBuilder, raw: SSAValue, buffer: SSAValue, axis: int) -> SSAValue:
    """A loaded index as an ``index`` into dim ``axis`` of ``buffer``: negatives count
    from the end, out-of-range values are clamped (see module doc)."""
    size = kb.dim(buffer, axis)
    static = static_dim(buffer, axis)
    last = kb.index(static - 1) if static is not None else kb.subi(size, kb.index(1))
    idx = to_index(kb, raw)
    idx = kb.select(kb.cmpi(idx, kb.index(0), "slt"), kb.addi(idx, size), idx)
    return minsi(kb, maxsi(kb, idx, kb.index(0)), last)


def _replace(ivs: list[SSAValue], axis: int, value: SSAValue) -> list[SSAValue]:
    index = list(ivs)
    index[axis] = value
    return index


@lowers("nn.slice")
def lower_slice(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """``out[.., i, ..] = in[.., start + i * step, ..]`` with ``start`` clamped the ONNX
    way: in Python for a static dim, in the kernel (from ``memref.dim``) for a ``?``."""
    (x,), (y,) = ins, outs
    if not isinstance(op, SliceOp):
        raise LoweringError(f"'{op.name}' is not an nn.slice")
    starts: dict[int, tuple[SSAValue, int]] = {}
    for axis, start, end, step in op.per_axis(rank(x)):
        size = static_dim(x, axis)
        if size is not None:
            starts[axis] = (kb.index(slice_bounds(size, start, end, step)[0]), step)
            continue
        dim = kb.dim(x, axis)
        first = kb.addi(kb.index(start), dim) if start < 0 else kb.index(start)
        upper = dim if step > 0 else kb.subi(dim, kb.index(1))
        starts[axis] = (minsi(kb, maxsi(kb, first, kb.index(0)), upper), step)

    def src_index(b: KernelBuilder, ivs: list[SSAValue]) -> list[SSAValue]:
        index = list(ivs)
        for axis, (first, step) in starts.items():
            offset = ivs[axis] if step == 1 else b.muli(ivs[axis], b.index(step))
            index[axis] = b.addi(first, offset)
        return index

    copy_mapped(kb, x, y, src_index)


@lowers("nn.gather")
def lower_gather(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """The nest walks the output (``data[:axis] + indices + data[axis+1:]``); each index
    is loaded once, outside the loops over the trailing data dims."""
    (data, indices), (y,) = ins, outs
    axis = normalize_axis(read_int(getattr(op, "axis", None), 0), rank(data))
    q = rank(indices)
    out_dims = kb.dims(y)
    outer, body = kb.parallel_loop_nest(out_dims[: axis + q], split_all=True)
    idx = wrapped_index(body, body.load(indices, outer[axis:]), data, axis)
    inner, row = body.loop_nest(out_dims[axis + q :])
    row.store(row.load(data, [*outer[:axis], idx, *inner]), y, [*outer, *inner])


@lowers("nn.gather_elements")
def lower_gather_elements(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    (data, indices), (y,) = ins, outs
    axis = normalize_axis(read_int(getattr(op, "axis", None), 0), rank(data))

    def src_index(b: KernelBuilder, ivs: list[SSAValue]) -> list[SSAValue]:
        return _replace(ivs, axis, wrapped_index(b, b.load(indices, ivs), data, axis))

    copy_mapped(kb, data, y, src_index)


@lowers("nn.scatter_elements")
def lower_scatter_elements(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """Copy ``data``, then walk ``indices`` in row-major order (so with ``none`` the
    last duplicate wins, like numpy) and store or combine each update."""
    (data, indices, updates), (y,) = ins, outs
    axis = normalize_axis(read_int(getattr(op, "axis", None), 0), rank(data))
    reduction = read_str(getattr(op, "reduction", None), "none")
    t = element(y)
    if reduction != "none":
        if _result_element(op) == i1:
            raise LoweringError(f"'nn.scatter_elements' reduction '{reduction}' on i1 has no loop lowering")
        require_arithmetic(op, t)
    combine = _COMBINERS.get(reduction) if reduction != "none" else None
    if reduction != "none" and combine is None:
        raise LoweringError(f"'nn.scatter_elements' reduction '{reduction}' has no loop lowering")
    copy_mapped(kb, data, y, lambda b, ivs: ivs)
    ivs, body = kb.loop_nest(kb.dims(indices))
    dst = _replace(ivs, axis, wrapped_index(body, body.load(indices, ivs), y, axis))
    value = body.load(updates, ivs)
    if combine is not None:
        value = combine(body, body.load(y, dst), value)
    body.store(value, y, dst)


Combine = Callable[[KernelBuilder, SSAValue, SSAValue], SSAValue]


def _combiner(
    float_op: Callable[[SSAValue, SSAValue], Operation], int_op: Callable[[SSAValue, SSAValue], Operation]
) -> Combine:
    def combine(b: KernelBuilder, old: SSAValue, new: SSAValue) -> SSAValue:
        make = int_op if is_integer_type(old.type) else float_op
        return b.add(make(old, new))

    return combine


_COMBINERS = {
    "add": _combiner(arith.AddfOp, arith.AddiOp),
    "mul": _combiner(arith.MulfOp, arith.MuliOp),
    "max": _combiner(arith.MaximumfOp, arith.MaxSIOp),
    "min": _combiner(arith.MinimumfOp, arith.MinSIOp),
}


def _result_element(op: Operation) -> Attribute:
    t = op.results[0].type
    assert isinstance(t, TensorType)
    result_element: Attribute = t.element_type
    return result_element


@lowers("nn.topk")
def lower_topk(kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """Per row, insertion into the sorted output: element ``j`` goes after the ``p``
    kept entries that rank ahead of it (ties: the earlier index stays ahead), the tail
    shifts down one place and the k-th falls off. O(n * k) per row. NaN ranks as the
    largest value, like the reference's sort."""
    (x,), (values, indices) = ins, outs
    axis = normalize_axis(read_int(getattr(op, "axis", None), -1), rank(x))
    k = read_int(getattr(op, "k", None))
    largest = bool(read_int(getattr(op, "largest", None), 1))
    if _result_element(op) == i1:
        raise LoweringError("'nn.topk' on i1 has no loop lowering")
    require_arithmetic(op, element(x))
    if k == 0:
        return
    dims = kb.dims(x)
    outer, body = kb.parallel_loop_nest([d for a, d in enumerate(dims) if a != axis], split_all=True)

    def at(position: SSAValue) -> list[SSAValue]:
        return [*outer[:axis], position, *outer[axis:]]

    kk = body.index(k)
    with body.loop(dims[axis]) as (j, step):
        v = step.load(x, at(j))
        filled = minsi(step, j, kk)
        with step.reduction_loop(filled, [step.index(0)]) as (i, (count,), scan, next_):
            ahead = _ranks_ahead(scan, scan.load(values, at(i)), v, largest, _is_unsigned(op))
            next_.append(scan.addi(count, scan.select(ahead, scan.index(1), scan.index(0))))
        (place,) = next_
        last = minsi(step, filled, step.index(k - 1))
        with step.loop(last, lower=place) as (t, shift):
            dst = shift.subi(shift.addi(last, place), t)
            src = shift.subi(dst, shift.index(1))
            shift.store(shift.load(values, at(src)), values, at(dst))
            shift.store(shift.load(indices, at(src)), indices, at(dst))
        then = Block()
        insert = step.child(then)
        insert.store(v, values, at(place))
        insert.store(insert.add(arith.IndexCastOp(j, i64)), indices, at(place))
        then.add_op(scf.YieldOp())
        step.add(scf.IfOp(step.cmpi(place, kk, "slt"), [], Region(then)))


def _is_unsigned(op: Operation) -> bool:
    element = _result_element(op)
    return isinstance(element, IntegerType) and element.signedness.data.name == "UNSIGNED"


def _ranks_ahead(b: KernelBuilder, kept: SSAValue, v: SSAValue, largest: bool, unsigned: bool) -> SSAValue:
    """Whether the already-kept ``kept`` (an earlier index) stays ahead of ``v``."""
    if is_integer_type(v.type):
        if unsigned:
            return b.cmpi(kept, v, "uge" if largest else "ule")
        return b.cmpi(kept, v, "sge" if largest else "sle")
    if largest:
        kept_nan = b.add(arith.CmpfOp(kept, kept, "uno"))
        return b.add(arith.OrIOp(kept_nan, b.add(arith.CmpfOp(kept, v, "oge"))))
    v_nan = b.add(arith.CmpfOp(v, v, "uno"))
    return b.add(arith.OrIOp(v_nan, b.add(arith.CmpfOp(kept, v, "ole"))))
