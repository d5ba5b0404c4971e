"""``KernelBuilder``: appends loop-level IR (scf/memref/arith/math) to a block.

Loops are context managers, so kernels read like the loops they build::

    kb = KernelBuilder(func_body)
    with kb.loop(kb.dim(out, 0)) as (i, body):
        with body.loop(kb.dim(out, 1)) as (j, inner):
            inner.store(inner.load(x, [i, j]), out, [i, j])

Index arithmetic uses ``index``; boolean tensors live in memory as ``i8`` (numpy's
layout) and are ``i1`` in registers: ``load``/``store`` convert.

Multi-core: ``parallel_loop`` marks a kernel's outermost output-parallel loop. Such a
kernel is *partitioned*: it takes two trailing ``index`` parameters ``(part, parts)`` and
its parallel loops run over their share ``[upper*part/parts, upper*(part+1)/parts)``;
the runtime calls it once per thread (``dynir.runtime.parallel``). ``parallel_loop_nest``
(a ``loop_nest`` whose outer dims are split as one flat range) and ``parallel_nest`` (the
same as a context manager, for row-wise work) build on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    FloatAttr,
    FunctionType,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    TensorType,
    UnitAttr,
    i1,
    i8,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

INDEX = IndexType()


def memref_type(t: TensorType) -> MemRefType:
    """The buffer type of a tensor type: ``i1`` is stored as ``i8``, and unsigned
    integers as signless ones of the same width (arith ops are signless; a lowering
    that cares about signedness reads it from the op's tensor types)."""
    element = t.element_type
    if element == i1:
        element = i8
    elif isinstance(element, IntegerType) and element.signedness.data.name != "SIGNLESS":
        element = IntegerType(element.width.data)
    return MemRefType(element, t.get_shape())


@dataclass
class _Constants:
    """Constants live at the top of the kernel's entry block, so they dominate every
    use, and each (value, type) is made once."""

    entry: Block
    cache: dict[tuple[object, str], SSAValue] = field(default_factory=dict[tuple[object, str], SSAValue])
    partition: tuple[SSAValue, SSAValue] | None = None
    """The kernel's ``(part, parts)`` parameters, once a ``parallel_loop`` asked for them."""
    parallel_loops: list[scf.ForOp] = field(default_factory=list[scf.ForOp])

    def get(self, value: int | float, element: Attribute) -> SSAValue:
        key = (value, str(element))
        if key not in self.cache:
            attr = FloatAttr(float(value), element) if isinstance(value, float) else IntegerAttr(int(value), element)  # type: ignore[arg-type]
            op = arith.ConstantOp(attr)
            first = self.entry.first_op
            if first is None:
                self.entry.add_op(op)
            else:
                self.entry.insert_op_before(op, first)
            self.cache[key] = op.result
        return self.cache[key]


@dataclass
class KernelBuilder:
    block: Block
    constants: _Constants | None = None

    def __post_init__(self) -> None:
        if self.constants is None:
            self.constants = _Constants(self.block)

    def add(self, op: Operation) -> SSAValue:
        self.block.add_op(op)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def child(self, block: Block) -> KernelBuilder:
        return KernelBuilder(block, self.constants)

    # constants ------------------------------------------------------------------
    def index(self, value: int) -> SSAValue:
        assert self.constants is not None
        return self.constants.get(int(value), INDEX)

    def float_const(self, value: float, element: Attribute) -> SSAValue:
        assert self.constants is not None
        return self.constants.get(float(value), element)

    def int_const(self, value: int, element: Attribute) -> SSAValue:
        assert self.constants is not None
        return self.constants.get(int(value), element)

    # sizes ----------------------------------------------------------------------
    def dim(self, buffer: SSAValue, axis: int) -> SSAValue:
        t = buffer.type
        assert isinstance(t, MemRefType)
        size = t.get_shape()[axis]
        if size != DYNAMIC_INDEX:
            return self.index(size)
        return self.add(memref.DimOp(buffer, self.index(axis)))

    def dims(self, buffer: SSAValue) -> list[SSAValue]:
        t = buffer.type
        assert isinstance(t, MemRefType)
        return [self.dim(buffer, a) for a in range(t.get_num_dims())]

    # loops ----------------------------------------------------------------------
    @contextmanager
    def loop(
        self, upper: SSAValue, lower: SSAValue | None = None, step: SSAValue | None = None
    ) -> Iterator[tuple[SSAValue, KernelBuilder]]:
        """``for iv in range(lower, upper, step)`` without loop-carried values."""
        body = Block(arg_types=[INDEX])
        inner = self.child(body)
        yield body.args[0], inner
        body.add_op(scf.YieldOp())
        self.add(scf.ForOp(lower or self.index(0), upper, step or self.index(1), [], Region(body)))

    @contextmanager
    def parallel_loop(self, upper: SSAValue) -> Iterator[tuple[SSAValue, KernelBuilder]]:
        """``for iv in range(upper)``, split across threads: the kernel's outermost loop over
        independent output slices (rows, channels, elements), each iteration writing only
        its own slice and reading nothing another iteration writes.

        The kernel gains trailing ``(part: index, parts: index)`` parameters and this loop
        runs over ``[upper*part/parts, upper*(part+1)/parts)``; the runtime calls the kernel
        once per part, concurrently, or once with ``(0, 1)`` for small work. The split
        depends on ``upper`` alone, so the code is the same for every thread count.

        Use it on the kernel's top-level builder (the one ``new_kernel`` returned); called
        on a nested builder it is a plain ``loop``. Several parallel loops in one kernel
        are fine when each part's later loops read only what the same part wrote (same
        ``upper``, same slice) or what no loop writes. ``finish_kernel`` keeps the kernel
        partitioned only if *every* top-level loop, ``if`` and store is a parallel loop
        or a loop that writes no memory (every part runs it: a replicated prologue);
        otherwise it rebinds ``(part, parts)`` to ``(0, 1)`` and drops the parameters, so
        a kernel with serial work at the top can never run that work once per part.

        ```python
        kernel, kb, ins, outs = new_kernel("k", [t], [t])
        with kb.parallel_loop(kb.dim(outs[0], 0)) as (i, row):
            with row.loop(kb.dim(outs[0], 1)) as (j, body):
                body.store(body.load(ins[0], [i, j]), outs[0], [i, j])
        finish_kernel(kb)
        ```
        """
        assert self.constants is not None
        if self.block is not self.constants.entry:
            with self.loop(upper) as yielded:
                yield yielded
            return
        body = self._parallel_block(*self.partition_bounds(upper), [])
        yield body.args[0], self.child(body)
        body.add_op(scf.YieldOp())

    def _parallel_block(self, lower: SSAValue, end: SSAValue, init: Sequence[SSAValue]) -> Block:
        """Adds the ``scf.for`` of a parallel loop over ``[lower, end)`` carrying ``init``;
        returns its body block (the caller adds the ``scf.yield``)."""
        assert self.constants is not None
        body = Block(arg_types=[INDEX, *[v.type for v in init]])
        loop = scf.ForOp(lower, end, self.index(1), list(init), Region(body))
        self.add(loop)
        self.constants.parallel_loops.append(loop)
        return body

    def partition_bounds(self, upper: SSAValue) -> tuple[SSAValue, SSAValue]:
        """This part's share ``[upper*part/parts, upper*(part+1)/parts)`` of ``range(upper)``
        (adds the ``(part, parts)`` parameters). For loops that need their bounds before the
        loop (e.g. to start a multi-index); the loop itself must be a ``parallel_loop``."""
        part, parts = self._partition()
        lower = self.divsi(self.muli(upper, part), parts)
        end = self.divsi(self.muli(upper, self.addi(part, self.index(1))), parts)
        return lower, end

    def parallel_loop_nest(
        self, uppers: Sequence[SSAValue], *, split_all: bool = False
    ) -> tuple[list[SSAValue], KernelBuilder]:
        """``loop_nest(uppers)`` whose outer dims (all but the last) are split across
        threads as one flat range, so a leading dim of size 1 (batch 1) still splits.

        Each part walks its share of the outer dims' flat index with a multi-index it
        increments like an odometer (no division per row; one delinearisation per part),
        and the last dim is a plain inner loop (the vectorised one). For rank 1 the only
        loop is the parallel one. With ``split_all`` every dim is split (for nests whose
        body is itself row work: softmax or normalisation rows). Same contract as
        ``parallel_loop``: each output element is written by the iteration at its own
        indices and by no other.
        """
        constants = self.constants
        assert constants is not None
        if not uppers or self.block is not constants.entry:
            return self.loop_nest(uppers)
        ivs, body, close = self._flat_parallel(list(uppers) if split_all else list(uppers[:-1]) or list(uppers))
        close()
        first = body.first_op
        assert first is not None
        row = _InsertBefore(body, constants, first)
        if len(ivs) == len(uppers):
            return ivs, row
        inner_ivs, inner = row.loop_nest([uppers[-1]])
        return [*ivs, *inner_ivs], inner

    @contextmanager
    def parallel_nest(self, sizes: Sequence[SSAValue]) -> Iterator[tuple[list[SSAValue], KernelBuilder]]:
        """A nest over ``sizes`` split across threads as one flat range (like
        ``parallel_loop_nest``, but every dim is split and the body builder appends
        plainly, so ``reduction_loop`` works in it): for kernels whose per-element work is
        itself a loop, e.g. softmax rows. On a nested builder, a plain nest."""
        constants = self.constants
        assert constants is not None
        if not sizes or self.block is not constants.entry:
            with _plain_nest(self, sizes) as nest:
                yield nest
            return
        ivs, body, close = self._flat_parallel(list(sizes))
        yield ivs, self.child(body)
        close()

    def _flat_parallel(self, sizes: list[SSAValue]) -> tuple[list[SSAValue], Block, Callable[[], None]]:
        """The parallel loop over the flat range of ``sizes``: its multi-index, its body
        block and ``close()``, which appends the odometer step and the ``scf.yield``."""
        total = sizes[0]
        for size in sizes[1:]:
            total = self.muli(total, size)
        lower, end = self.partition_bounds(total)
        start = self._delinearize(lower, sizes) if len(sizes) > 1 else []
        body = self._parallel_block(lower, end, start)
        ivs = list(body.args[1:]) if len(sizes) > 1 else [body.args[0]]

        def close() -> None:
            row = self.child(body)
            row.add(scf.YieldOp(*_odometer(row, ivs, sizes)) if len(sizes) > 1 else scf.YieldOp())

        return ivs, body, close

    def _delinearize(self, flat: SSAValue, sizes: Sequence[SSAValue]) -> list[SSAValue]:
        """Row-major multi-index of ``flat`` in ``sizes`` (sizes of 0 read as 1: no division
        by zero; such a range is empty anyway)."""
        index: list[SSAValue] = []
        for size in reversed(sizes[1:]):
            safe = self.add(arith.MaxUIOp(size, self.index(1)))
            index.append(self.remsi(flat, safe))
            flat = self.divsi(flat, safe)
        index.append(flat)
        return index[::-1]

    def _partition(self) -> tuple[SSAValue, SSAValue]:
        assert self.constants is not None
        if self.constants.partition is None:
            entry = self.constants.entry
            part = entry.insert_arg(INDEX, len(entry.args))
            parts = entry.insert_arg(INDEX, len(entry.args))
            part.name_hint, parts.name_hint = "part", "parts"
            self.constants.partition = (part, parts)
        return self.constants.partition

    @contextmanager
    def reduction_loop(
        self, upper: SSAValue, init: Sequence[SSAValue], lower: SSAValue | None = None
    ) -> Iterator[tuple[SSAValue, list[SSAValue], KernelBuilder, list[SSAValue]]]:
        """A loop carrying ``init``; append the next values to the yielded list ``next_``.
        After the ``with`` block, ``results`` (the same list object, refilled) holds the
        loop's results."""
        body = Block(arg_types=[INDEX, *[v.type for v in init]])
        inner = self.child(body)
        next_: list[SSAValue] = []
        yield body.args[0], list(body.args[1:]), inner, next_
        if len(next_) != len(init):
            raise ValueError("reduction_loop: yield one value per carried value")
        body.add_op(scf.YieldOp(*next_))
        loop = scf.ForOp(lower or self.index(0), upper, self.index(1), list(init), Region(body))
        self.add(loop)
        next_[:] = list(loop.results)

    def loop_nest(self, uppers: Sequence[SSAValue]) -> tuple[list[SSAValue], KernelBuilder]:
        """Perfect nest over ``uppers`` (outermost first); returns the ivs and the
        innermost body's builder. The loops are closed when the kernel is finished."""
        ivs: list[SSAValue] = []
        kb: KernelBuilder = self
        for upper in uppers:
            body = Block(arg_types=[INDEX])
            loop = scf.ForOp(kb.index(0), upper, kb.index(1), [], Region(body))
            kb.add(loop)
            body.add_op(scf.YieldOp())
            ivs.append(body.args[0])
            kb = _BeforeTerminator(body, kb.constants)
        return ivs, kb

    # memory ---------------------------------------------------------------------
    def load(self, buffer: SSAValue, indices: Sequence[SSAValue], *, as_bool: bool = False) -> SSAValue:
        value = self.add(memref.LoadOp.get(buffer, list(indices)))
        if as_bool:
            zero = self.int_const(0, i8)
            value = self.add(arith.CmpiOp(value, zero, "ne"))
        return value

    def store(self, value: SSAValue, buffer: SSAValue, indices: Sequence[SSAValue]) -> None:
        if value.type == i1:
            value = self.add(arith.ExtUIOp(value, i8))
        self.add(memref.StoreOp.get(value, buffer, list(indices)))

    # index arithmetic -----------------------------------------------------------
    def addi(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(arith.AddiOp(a, b))

    def subi(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(arith.SubiOp(a, b))

    def muli(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(arith.MuliOp(a, b))

    def divsi(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(arith.DivSIOp(a, b))

    def remsi(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(arith.RemSIOp(a, b))

    def select(self, cond: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(arith.SelectOp(cond, a, b))

    def cmpi(self, a: SSAValue, b: SSAValue, predicate: str) -> SSAValue:
        return self.add(arith.CmpiOp(a, b, predicate))

    def broadcast_index(
        self, buffer: SSAValue, out_indices: Sequence[SSAValue], leading: int | None = None
    ) -> list[SSAValue]:
        """Indices into ``buffer`` for output position ``out_indices`` under numpy
        broadcasting (trailing alignment; size-1 dims read index 0). With ``leading``,
        only the first ``leading`` dims of ``buffer`` take part (batch dims of a matmul)."""
        t = buffer.type
        assert isinstance(t, MemRefType)
        shape = t.get_shape() if leading is None else t.get_shape()[:leading]
        offset = len(out_indices) - len(shape)
        indices: list[SSAValue] = []
        for axis, size in enumerate(shape):
            iv = out_indices[axis + offset]
            if size == 1:
                indices.append(self.index(0))
            elif size == DYNAMIC_INDEX:
                # A dynamic dim may be 1 at run time and broadcast: clamp to 0 then.
                is_one = self.cmpi(self.dim(buffer, axis), self.index(1), "eq")
                indices.append(self.select(is_one, self.index(0), iv))
            else:
                indices.append(iv)
        return indices


@contextmanager
def _plain_nest(kb: KernelBuilder, sizes: Sequence[SSAValue]) -> Iterator[tuple[list[SSAValue], KernelBuilder]]:
    """A nest over ``sizes`` whose innermost builder appends plainly."""
    ivs: list[SSAValue] = []
    blocks: list[Block] = []
    b = kb
    for size in sizes:
        body = Block(arg_types=[INDEX])
        b.add(scf.ForOp(b.index(0), size, b.index(1), [], Region(body)))
        ivs.append(body.args[0])
        blocks.append(body)
        b = b.child(body)
    yield ivs, b
    for body in blocks:
        body.add_op(scf.YieldOp())


def _odometer(kb: KernelBuilder, index: list[SSAValue], sizes: Sequence[SSAValue]) -> list[SSAValue]:
    """The multi-index after ``index`` in ``sizes`` (last dim fastest; the first dim may
    run past its size at the end of the range)."""
    carry: SSAValue | None = None
    after: list[SSAValue] = []
    for axis in range(len(index) - 1, -1, -1):
        bumped = kb.addi(index[axis], kb.index(1))
        if carry is not None:
            bumped = kb.select(carry, bumped, index[axis])
        if axis == 0:
            after.append(bumped)
            break
        wraps = kb.cmpi(bumped, sizes[axis], "eq")
        after.append(kb.select(wraps, kb.index(0), bumped))
        carry = wraps if carry is None else kb.add(arith.AndIOp(carry, wraps))
    return after[::-1]


class _InsertBefore(KernelBuilder):
    """A builder that inserts before ``anchor`` in its block."""

    def __init__(self, block: Block, constants: _Constants | None, anchor: Operation | None) -> None:
        super().__init__(block, constants)
        self.anchor = anchor

    def add(self, op: Operation) -> SSAValue:
        if self.anchor is None:
            self.block.add_op(op)
        else:
            self.block.insert_op_before(op, self.anchor)
        return op.results[0] if op.results else None  # type: ignore[return-value]


class _BeforeTerminator(KernelBuilder):
    """A builder that inserts before its block's terminator (for ``loop_nest``)."""

    def add(self, op: Operation) -> SSAValue:
        last = self.block.last_op
        assert last is not None
        self.block.insert_op_before(op, last)
        return op.results[0] if op.results else None  # type: ignore[return-value]



def new_kernel(
    name: str, input_types: Sequence[TensorType], output_types: Sequence[TensorType]
) -> tuple[func.FuncOp, KernelBuilder, list[SSAValue], list[SSAValue]]:
    """An empty kernel ``func.func @name(inputs..., outputs...)`` on memrefs, its body
    builder and its input/output buffers. Finish it with ``finish_kernel``."""
    arg_types = [memref_type(t) for t in [*input_types, *output_types]]
    body = Block(arg_types=arg_types)
    kernel = func.FuncOp(name, (arg_types, []), Region(body))
    args = list(body.args)
    n = len(input_types)
    return kernel, KernelBuilder(body), args[:n], args[n:]


def finish_kernel(kb: KernelBuilder) -> None:
    """Close the kernel; settle whether it stays partitioned (see ``parallel_loop``) and
    make its function type match its parameters."""
    constants = kb.constants
    assert constants is not None
    entry = constants.entry
    if constants.partition is not None and not _only_parallel_work(entry, constants.parallel_loops):
        for arg, value in zip(constants.partition, (0, 1)):
            arg.replace_all_uses_with(kb.index(value))
            entry.erase_arg(arg)  # type: ignore[arg-type]
        constants.partition = None
    entry.add_op(func.ReturnOp())
    kernel = entry.parent_op()
    if isinstance(kernel, func.FuncOp):
        kernel.function_type = FunctionType.from_lists(list(entry.arg_types), [])
        if constants.partition is not None:
            kernel.attributes[PARTITIONED_ATTR] = UnitAttr()


PARTITIONED_ATTR = "dynir.partitioned"
"""Unit attribute on a kernel whose last two parameters are ``(part, parts)``."""


def is_partitioned(kernel: func.FuncOp) -> bool:
    """Whether a finished kernel takes ``(part, parts)`` (it used ``parallel_loop``)."""
    return PARTITIONED_ATTR in kernel.attributes


_WRITES = frozenset({"memref.store", "vector.store", "vector.maskedstore", "memref.copy", "func.call",
                     "memref.alloc", "memref.dealloc"})


def _only_parallel_work(entry: Block, parallel: list[scf.ForOp]) -> bool:
    """No top-level op of ``entry`` writes outside the parallel loops. A top-level loop
    that writes nothing (a reduction into registers, e.g. dynamic quantization's
    min/max) is a *replicated prologue*: every part runs it and gets the same values."""
    for op in entry.ops:
        if op.regions and op not in parallel and any(inner.name in _WRITES for inner in op.walk()):
            return False
        if isinstance(op, memref.StoreOp):
            return False
    return True


def is_integer_type(element: Attribute) -> bool:
    return isinstance(element, IntegerType | IndexType)
