"""``Executable``: the host program of one compiled specialisation.

After ``lower-to-loops``, a host function is a list of ``fusion.group`` steps, each
naming its kernel. ``host_plan`` turns it once into a ``HostPlan``: slot-indexed steps,
the constants' slots, and for each step whose output shapes are not static a
``ShapeProgram`` (the group body's ``nn`` ops, re-run on concrete shapes). A plan holds
no IR, so it can be stored as JSON (``dynir.runtime.artefact``) and rebuilt without
parsing MLIR. A call fills the input slots, allocates each step's outputs (shapes from
the types, or the shape programs, once per distinct input shapes) and calls its kernel.
A partitioned kernel (one with a ``parallel_loop``) runs on ``threads`` cores when its
buffers are big enough (``dynir.runtime.parallel``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import TensorType
from xdsl.dialects.builtin import NameLoc
from xdsl.ir import Attribute, Block, SSAValue

from dynir.diagnostics import DynirError, format_loc_attr
from dynir.dialects.fusion import GroupOp, YieldOp
from dynir.dialects.nn.base import NNOp
from dynir.dialects.nn.constant import ConstantOp
from dynir.ir.types import is_static, numpy_dtype, shape_of, tensor_type
from dynir.runtime import replay as replay_module
from dynir.runtime.arena import ArenaPlan, BufferPool, plan_arena
from dynir.runtime.parallel import is_partitioned, partitioned_call
from dynir.runtime.pointers import data_pointer
from dynir.runtime.replay import Replay, record

Kernel = Callable[..., object]
ShapeKey = tuple[tuple[int, ...], ...]
Shapes = list[tuple[int, ...]]


@dataclass(frozen=True)
class ShapeOp:
    """One ``nn`` op of a group body: its class, operand value ids, properties, result count."""

    op: type[NNOp]
    operands: tuple[int, ...]
    properties: Mapping[str, Attribute]
    num_results: int


@dataclass(frozen=True)
class ShapeProgram:
    """A group's output shapes from its input shapes. Values are numbered: the inputs
    ``0..n-1``, then each op's results in order; ``outputs`` are the yielded ids."""

    input_elements: tuple[Attribute, ...]
    ops: tuple[ShapeOp, ...]
    outputs: tuple[int, ...]

    @staticmethod
    def of_group(group: GroupOp) -> ShapeProgram:
        block = group.body.block
        ids: dict[SSAValue, int] = {a: i for i, a in enumerate(block.args)}
        ops: list[ShapeOp] = []
        outputs: tuple[int, ...] = ()
        for op in block.ops:
            if isinstance(op, YieldOp):
                outputs = tuple(ids[v] for v in op.values)
                break
            if not isinstance(op, NNOp) or isinstance(op, ConstantOp):
                raise DynirError(f"cannot infer shapes through '{op.name}' in a fusion group")
            ops.append(ShapeOp(type(op), tuple(ids[v] for v in op.operands), dict(op.properties), len(op.results)))
            for r in op.results:
                ids[r] = len(ids)
        return ShapeProgram(tuple(_tensor(a.type).element_type for a in block.args), tuple(ops), outputs)

    def evaluate(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The group's outputs computed on the host by each op's numpy ``reference``: the
        fallback for a group whose output shapes depend on values (``nn.range`` of
        run-time operands), like onnxruntime's CPU fallback."""
        values: list[np.ndarray] = list(arrays)
        elements: list[Attribute] = list(self.input_elements)
        for op in self.ops:
            operands = [values[i] for i in op.operands]
            block = Block(arg_types=[tensor_type(a.shape, elements[i]) for a, i in zip(operands, op.operands)])
            made = op.op.make(list(block.args), dict(op.properties), num_results=op.num_results)
            try:
                results = made.reference(*operands)
                for result, r in zip(made.results, results, strict=True):
                    element = _tensor(result.type).element_type
                    values.append(np.asarray(r, dtype=numpy_dtype(element)))
                    elements.append(element)
            except ValueError as error:
                raise DynirError(f"'{made.name}' failed on the host: {error}") from None
            finally:
                made.drop_all_references()
        return [values[i] for i in self.outputs]

    def __call__(self, input_shapes: Sequence[tuple[int, ...]]) -> Shapes:
        """The output shapes; ``ValueDependentShape`` when one needs the inputs' values."""
        block = Block(arg_types=[tensor_type(s, e) for s, e in zip(input_shapes, self.input_elements)])
        values: list[SSAValue] = list(block.args)
        made: list[NNOp] = []
        try:
            for op in self.ops:
                new = op.op.make([values[i] for i in op.operands], dict(op.properties), num_results=op.num_results)
                made.append(new)
                values.extend(new.results)
            return [_concrete(shape_of(values[i].type)) for i in self.outputs]
        except ValueError as error:
            raise DynirError(f"shape inference failed at run time: {error}") from None
        finally:
            for new in made:
                new.drop_all_references()


@dataclass(frozen=True)
class PlanStep:
    kernel: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    output_dtypes: tuple[np.dtype, ...]
    static_shapes: tuple[tuple[int, ...] | None, ...]
    shapes: ShapeProgram | None  # None when every output shape is static
    sources: tuple[str, ...] = ()
    """Where the group's ops came from (ONNX node names, file:line:col), for profiles."""


@dataclass(frozen=True)
class HostPlan:
    """A host function as slots and steps (see module doc)."""

    num_slots: int
    input_slots: tuple[int, ...]
    constant_slots: tuple[int, ...]
    steps: tuple[PlanStep, ...]
    output_slots: tuple[int, ...]


def host_plan(host: func.FuncOp) -> tuple[HostPlan, list[np.ndarray]]:
    """The plan of a lowered host function, and its constants' values (in slot order)."""
    slots: dict[SSAValue, int] = {}

    def slot(v: SSAValue) -> int:
        return slots.setdefault(v, len(slots))

    block = host.body.block
    input_slots = tuple(slot(a) for a in block.args)
    constant_slots: list[int] = []
    constants: list[np.ndarray] = []
    steps: list[PlanStep] = []
    output_slots: tuple[int, ...] = ()
    for op in block.ops:
        if isinstance(op, ConstantOp):
            constant_slots.append(slot(op.output))
            constants.append(contiguous(op.array()))
        elif isinstance(op, GroupOp):
            if op.kernel is None:
                raise DynirError("a fusion.group without a kernel: run lower-to-loops first")
            types = [_tensor(r.type) for r in op.outputs]
            static = tuple(_static(t) for t in types)
            steps.append(PlanStep(
                kernel=op.kernel.root_reference.data,
                inputs=tuple(slot(v) for v in op.inputs),
                outputs=tuple(slot(r) for r in op.outputs),
                output_dtypes=tuple(numpy_dtype(t.element_type) for t in types),
                static_shapes=static,
                shapes=None if all(s is not None for s in static) else ShapeProgram.of_group(op),
                sources=group_sources(op),
            ))
        elif isinstance(op, func.ReturnOp):
            output_slots = tuple(slot(v) for v in op.arguments)
        else:
            raise DynirError(f"'{op.name}' cannot run on the host: lower it into a kernel first")
    return HostPlan(len(slots), input_slots, tuple(constant_slots), tuple(steps), output_slots), constants


def group_sources(group: GroupOp) -> tuple[str, ...]:
    """The distinct source names of a group's ops, in program order: an ONNX node's name
    (the importer's ``NameLoc``), else the op's ``file:line:col``."""
    names: dict[str, None] = {}
    for op in group.body.block.ops:
        loc = op.location
        name = loc.desc.data if isinstance(loc, NameLoc) else format_loc_attr(loc)
        if name:
            names.setdefault(name)
    return tuple(names)


def _static(t: TensorType) -> tuple[int, ...] | None:
    shape = shape_of(t)
    return _concrete(shape) if is_static(shape) else None


class ValueDependentShape(DynirError):
    """An output size that the inputs' shapes do not determine (their values do)."""


def _concrete(shape: Sequence[int | None]) -> tuple[int, ...]:
    if any(d is None for d in shape):
        raise ValueDependentShape(f"shape inference left a dynamic dim at run time: {shape}")
    return tuple(int(d) for d in shape if d is not None)


@dataclass
class Step:
    kernel: Kernel
    kernel_name: str
    inputs: list[int]
    outputs: list[int]
    output_dtypes: list[np.dtype]
    static_shapes: list[tuple[int, ...] | None]
    shapes: ShapeProgram | None
    launch: Callable[[Sequence[np.ndarray]], object]
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallPlan:
    """A call's output shapes per step, and where its intermediates live."""

    shapes: list[Shapes]
    arena: ArenaPlan


@dataclass
class Executable:
    """Runs one host plan (see module doc)."""

    num_slots: int
    input_slots: list[int]
    output_slots: list[int]
    constants: dict[int, np.ndarray]
    steps: list[Step]
    _plans: dict[ShapeKey, CallPlan | None] = field(default_factory=dict[ShapeKey, "CallPlan | None"])
    """Per input shapes, each step's output shapes; None when some depend on values."""
    template: list[Any] = field(default_factory=list[Any])
    """The slots a call starts from: the constants in place, the rest None."""
    buffer_pool: BufferPool = field(default_factory=BufferPool)
    """Intermediate buffers kept between calls (``dynir.runtime.arena``)."""
    threads: int = 1
    _replay: Replay | None = None
    """The static plan recorded for ``dynir.runtime.replay`` (on its second call)."""
    _static_calls: int = 0

    def __post_init__(self) -> None:
        self.template = [None] * self.num_slots
        for slot, array in self.constants.items():
            self.template[slot] = array
        if all(s.shapes is None for s in self.steps):
            static = [[s for s in step.static_shapes if s is not None] for step in self.steps]
            self._static_plan: CallPlan | None = self._call_plan(static)
        else:
            self._static_plan = None

    def _call_plan(self, shapes: list[Shapes]) -> CallPlan:
        arena = plan_arena([s.inputs for s in self.steps], [s.outputs for s in self.steps],
                           [s.output_dtypes for s in self.steps], shapes, self.output_slots)
        return CallPlan(shapes, arena)

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self._static_plan is not None:
            replayed = self._replayed(self._static_plan, arrays)
            if replayed is not None:
                return replayed
        slots = self.template.copy()
        for slot, array in zip(self.input_slots, arrays):
            slots[slot] = array
        plan = self._static_plan or self._plan(arrays)
        if plan is None:
            return self.run_timed(arrays, None)[0]
        buffers = self.buffer_pool.take(plan.arena.sizes)
        try:
            for index, (step, shapes) in enumerate(zip(self.steps, plan.shapes)):
                outs = plan.arena.outputs(index, shapes, step.output_dtypes, buffers)
                step.launch([slots[i] for i in step.inputs] + outs)
                for slot, out in zip(step.outputs, outs):
                    slots[slot] = out
            return [slots[i] for i in self.output_slots]
        finally:
            self.buffer_pool.give(buffers)

    def _replayed(self, plan: CallPlan, arrays: Sequence[np.ndarray]) -> list[np.ndarray] | None:
        """The call through the recording of the static plan (recorded on the second call:
        a model called once pays nothing for it); None to run the Python loop."""
        if self._replay is not None and self._replay.stale:  # a forked child
            self._replay, self._static_calls = None, 1
        if self._replay is None:
            self._static_calls += 1
            if self._static_calls != 2 or not replay_module.ENABLED:
                return None
            self._replay = record(self, plan, arrays, self.threads)
            if self._replay is None:
                return None
        return self._replay.run(arrays)

    def run_timed(
        self, arrays: Sequence[np.ndarray], clock: Callable[[], float] | None
    ) -> tuple[list[np.ndarray], list[float], list[Shapes]]:
        """``run`` step by step with each step's output shapes from the actual inputs; a
        step whose shapes depend on values runs on the host (``ShapeProgram.evaluate``).
        With a ``clock``, also each step's seconds (allocation included), and each step's
        output shapes: what ``dynir.runtime.profile`` measures. The plain ``run`` avoids
        this loop's work."""
        slots = self.template.copy()
        for slot, array in zip(self.input_slots, arrays):
            slots[slot] = array
        seconds: list[float] = []
        shapes_seen: list[Shapes] = []
        plan = self._static_plan or self._plan(arrays)  # None: some step's shapes need values
        buffers = self.buffer_pool.take(plan.arena.sizes) if plan is not None else []
        for index, step in enumerate(self.steps):
            start = clock() if clock is not None else 0.0
            inputs = [slots[i] for i in step.inputs]
            try:
                if plan is not None:
                    shapes = plan.shapes[index]
                elif step.shapes is None:
                    shapes = [s for s in step.static_shapes if s is not None]
                else:
                    shapes = step.shapes([a.shape for a in inputs])
            except ValueDependentShape:
                assert step.shapes is not None
                outs = step.shapes.evaluate(inputs)
            else:
                if plan is not None:
                    outs = plan.arena.outputs(index, shapes, step.output_dtypes, buffers)
                else:
                    outs = [np.empty(s, dtype=d) for s, d in zip(shapes, step.output_dtypes)]
                step.launch(inputs + outs)
            if clock is not None:
                seconds.append(clock() - start)
            shapes_seen.append([tuple(o.shape) for o in outs])
            for slot, out in zip(step.outputs, outs):
                slots[slot] = out
        self.buffer_pool.give(buffers)
        return [slots[i] for i in self.output_slots], seconds, shapes_seen

    def _plan(self, arrays: Sequence[np.ndarray]) -> CallPlan | None:
        key = tuple([a.shape for a in arrays])
        try:
            return self._plans[key]
        except KeyError:
            plan = self._plans[key] = self._infer_plan(key)
            return plan

    def _infer_plan(self, input_shapes: ShapeKey) -> CallPlan | None:
        shapes: dict[int, tuple[int, ...]] = dict(zip(self.input_slots, input_shapes))
        shapes.update({slot: a.shape for slot, a in self.constants.items()})
        plan: list[Shapes] = []
        for step in self.steps:
            if step.shapes is None:
                outs = [s for s in step.static_shapes if s is not None]
            else:
                try:
                    outs = step.shapes([shapes[i] for i in step.inputs])
                except ValueDependentShape:
                    return None  # every call with these shapes goes step by step (run_timed)
            shapes.update(zip(step.outputs, outs))
            plan.append(outs)
        return self._call_plan(plan)


def executable_from_plan(
    plan: HostPlan, kernels: Mapping[str, Kernel], constants: Sequence[np.ndarray], *, threads: int = 1
) -> Executable:
    """The executable of ``plan``; partitioned kernels run on up to ``threads`` threads."""
    if len(constants) != len(plan.constant_slots):
        raise DynirError(f"the host plan has {len(plan.constant_slots)} constants, got {len(constants)} values")
    steps = [
        Step(_whole(kernels[s.kernel]), s.kernel, list(s.inputs), list(s.outputs), list(s.output_dtypes),
             list(s.static_shapes), s.shapes, _launcher(kernels[s.kernel], threads), s.sources)
        for s in plan.steps
    ]
    return Executable(plan.num_slots, list(plan.input_slots), list(plan.output_slots),
                      dict(zip(plan.constant_slots, constants)), steps, threads=threads)


def build_executable(host: func.FuncOp, kernels: Mapping[str, Kernel], *, threads: int = 1) -> Executable:
    """Slot-index the host function ``host`` whose groups name kernels in ``kernels``."""
    plan, constants = host_plan(host)
    return executable_from_plan(plan, kernels, constants, threads=threads)


def _launcher(kernel: Kernel, threads: int = 1) -> Callable[[Sequence[np.ndarray]], object]:
    """Calls ``kernel`` on arrays. For a JIT kernel (``CompiledKernel``) the arguments'
    dtypes and shapes were guarded already, so the launcher passes data pointers and
    dynamic sizes straight to the machine code; any other callable gets the arrays."""
    function = getattr(kernel, "function", None)
    signature = getattr(kernel, "signature", None)
    if function is not None and signature is not None and is_partitioned(signature):
        return _partitioned_launcher(function, [arg.dynamic_dims for arg in signature.args[:-2]], threads,
                                     getattr(kernel, "address", None))
    dynamic = [getattr(arg, "dynamic_dims", None) for arg in getattr(signature, "args", ())]
    if function is None or signature is None or any(d is None for d in dynamic):
        return lambda arrays: kernel(*[_abi(a) for a in arrays])
    if not any(dynamic):
        def launch_static(arrays: Sequence[np.ndarray]) -> object:
            held = [contiguous(a) for a in arrays]  # copies of strided inputs live through the call
            return function(*[data_pointer(a) for a in held])

        return launch_static

    def launch(arrays: Sequence[np.ndarray]) -> object:
        held = [contiguous(a) for a in arrays]
        flat: list[object] = []
        for array, dims in zip(held, dynamic):
            flat.append(data_pointer(array))
            flat.extend([array.shape[d] for d in dims])  # type: ignore[union-attr]
        return function(*flat)

    return launch


class WholeKernel:
    """A partitioned kernel called with arrays only: it runs as the single part ``(0, 1)``
    (``Step.kernel`` is always callable with the step's input and output arrays)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.signature = getattr(kernel, "signature", None)
        self.name = getattr(kernel, "name", "")

    def __call__(self, *arrays: object) -> object:
        return self.kernel(*arrays, 0, 1)


def _whole(kernel: Kernel) -> Kernel:
    signature = getattr(kernel, "signature", None)
    return WholeKernel(kernel) if signature is not None and is_partitioned(signature) else kernel


def _partitioned_launcher(
    function: Callable[..., object], dynamic: list[tuple[int, ...]], threads: int, address: int | None = None
) -> Callable[[Sequence[np.ndarray]], object]:
    """Launches a partitioned kernel: flat arguments, then ``(part, parts)`` from the pool;
    the work estimate is the number of elements in all its buffers."""
    call = partitioned_call(function, threads, address)

    def launch(arrays: Sequence[np.ndarray]) -> object:
        held = [contiguous(a) for a in arrays]
        flat: list[int] = []
        work = 0
        for array, dims in zip(held, dynamic):
            flat.append(data_pointer(array))
            flat.extend([array.shape[d] for d in dims])
            work += array.size
        return call(flat, work)

    return launch


def contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` in C order, keeping its rank (``np.ascontiguousarray`` makes 0-d arrays 1-d)."""
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _abi(array: np.ndarray) -> np.ndarray:
    # Booleans live in memory as i8 (see dynir.lowering.builder); kernels need contiguity.
    if array.dtype == np.bool_:
        array = array.view(np.int8)
    return contiguous(array)


def concrete_output_shapes(group: GroupOp, input_shapes: Sequence[tuple[int, ...]]) -> Shapes:
    """The group's output shapes for concrete input shapes (its body's shape inference)."""
    return ShapeProgram.of_group(group)(input_shapes)


def _tensor(t: object) -> TensorType:
    if not isinstance(t, TensorType):
        raise DynirError(f"expected a tensor type, got {t}")
    return t
