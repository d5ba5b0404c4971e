"""``Executable``: the host program of one compiled specialisation.

After ``lower-to-loops``, a host function is a list of ``fusion.group`` steps, each
naming its kernel. The executable turns that list into slot-indexed steps once; a call
fills the input slots, allocates each step's outputs and calls its kernel. Output
shapes come from the types when static, else from the group body's shape inference on
the call's concrete shapes (one plan per distinct input shape signature, cached).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Block, SSAValue

from dynir.dialects.fusion import GroupOp, YieldOp
from dynir.dialects.nn.base import NNOp
from dynir.dialects.nn.constant import ConstantOp
from dynir.diagnostics import DynirError
from dynir.ir.types import is_static, numpy_dtype, shape_of, tensor_type

Kernel = Callable[..., object]
ShapeKey = tuple[tuple[int, ...], ...]


@dataclass
class Step:
    kernel: Kernel
    kernel_name: str
    inputs: list[int]
    outputs: list[int]
    group: GroupOp
    output_dtypes: list[np.dtype]
    static_shapes: list[tuple[int, ...] | None]


@dataclass
class Executable:
    """Runs one host function (see module doc)."""

    num_slots: int
    input_slots: list[int]
    output_slots: list[int]
    constants: dict[int, np.ndarray]
    steps: list[Step]
    _plans: dict[ShapeKey, list[list[tuple[int, ...]]]] = field(default_factory=dict)

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        slots: list[np.ndarray | None] = [None] * self.num_slots
        for slot, array in self.constants.items():
            slots[slot] = array
        for slot, array in zip(self.input_slots, arrays):
            slots[slot] = array
        plan = self._plan(arrays)
        for step, shapes in zip(self.steps, plan):
            outs = [np.empty(s, dtype=d) for s, d in zip(shapes, step.output_dtypes)]
            ins = [slots[i] for i in step.inputs]
            step.kernel(*[_abi(a) for a in ins], *[_abi(o) for o in outs])  # type: ignore[arg-type]
            for slot, out in zip(step.outputs, outs):
                slots[slot] = out
        return [slots[i] for i in self.output_slots]  # type: ignore[misc]

    def _plan(self, arrays: Sequence[np.ndarray]) -> list[list[tuple[int, ...]]]:
        key = tuple(a.shape for a in arrays)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._infer_plan(arrays)
            self._plans[key] = plan
        return plan

    def _infer_plan(self, arrays: Sequence[np.ndarray]) -> list[list[tuple[int, ...]]]:
        if all(s is not None for step in self.steps for s in step.static_shapes):
            return [[s for s in step.static_shapes if s is not None] for step in self.steps]
        shapes: dict[int, tuple[int, ...]] = {slot: a.shape for slot, a in zip(self.input_slots, arrays)}
        shapes.update({slot: a.shape for slot, a in self.constants.items()})
        plan: list[list[tuple[int, ...]]] = []
        for step in self.steps:
            outs = concrete_output_shapes(step.group, [shapes[i] for i in step.inputs])
            for slot, s in zip(step.outputs, outs):
                shapes[slot] = s
            plan.append(outs)
        return plan


def _abi(array: np.ndarray) -> np.ndarray:
    # Booleans live in memory as i8 (see dynir.lowering.builder); kernels need contiguity.
    if array.dtype == np.bool_:
        array = array.view(np.int8)
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def concrete_output_shapes(group: GroupOp, input_shapes: Sequence[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The group's output shapes for concrete input shapes, by re-running the shape
    inference of its body on concrete types."""
    block = group.body.block
    concrete_args = Block(
        arg_types=[tensor_type(s, _tensor(a.type).element_type) for a, s in zip(block.args, input_shapes)]
    )
    env: dict[SSAValue, SSAValue] = dict(zip(block.args, concrete_args.args))
    for op in block.ops:
        if isinstance(op, YieldOp):
            return [tuple(int(d) for d in shape_of(env[v].type)) for v in op.values]  # type: ignore[misc]
        if isinstance(op, ConstantOp):
            env[op.output] = op.output
            continue
        if not isinstance(op, NNOp):
            raise DynirError(f"cannot infer shapes through '{op.name}'")
        operands = [env[v] for v in op.operands]
        clone = type(op).make(operands, dict(op.properties), num_results=len(op.results))
        for old, new in zip(op.results, clone.results):
            env[old] = new
        clone.drop_all_references()
    raise DynirError("fusion.group without a terminator")


def _tensor(t: object) -> TensorType:
    assert isinstance(t, TensorType)
    return t


def build_executable(host: func.FuncOp, kernels: dict[str, Kernel]) -> Executable:
    """Slot-index the host function ``host`` whose groups name kernels in ``kernels``."""
    slots: dict[SSAValue, int] = {}

    def slot(v: SSAValue) -> int:
        if v not in slots:
            slots[v] = len(slots)
        return slots[v]

    block = host.body.block
    input_slots = [slot(a) for a in block.args]
    constants: dict[int, np.ndarray] = {}
    steps: list[Step] = []
    output_slots: list[int] = []
    for op in block.ops:
        if isinstance(op, ConstantOp):
            value = op.array()
            constants[slot(op.output)] = value if value.flags.c_contiguous else np.ascontiguousarray(value)
        elif isinstance(op, GroupOp):
            assert op.kernel is not None, "lower-to-loops must run first"
            name = op.kernel.root_reference.data
            types = [_tensor(r.type) for r in op.outputs]
            steps.append(
                Step(
                    kernel=kernels[name],
                    kernel_name=name,
                    inputs=[slot(v) for v in op.inputs],
                    outputs=[slot(r) for r in op.outputs],
                    group=op,
                    output_dtypes=[numpy_dtype(t.element_type) for t in types],
                    static_shapes=[
                        tuple(int(d) for d in shape_of(t)) if is_static(shape_of(t)) else None  # type: ignore[misc]
                        for t in types
                    ],
                )
            )
        elif isinstance(op, func.ReturnOp):
            output_slots = [slot(v) for v in op.arguments]
        else:
            raise DynirError(f"'{op.name}' cannot run on the host: lower it into a kernel first")
    return Executable(len(slots), input_slots, output_slots, constants, steps)
