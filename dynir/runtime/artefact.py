"""``Artefact``: one compiled specialisation in a form that outlives the process, and
the JSON codecs that store it.

An artefact is
- the kernels' object code (what ``dynir.backends.llvm.jit.load_object`` links) and
  their ABI signatures;
- the host plan (``dynir.runtime.executable.HostPlan``): slot-indexed steps, and for
  steps with dynamic output shapes the group body's ``nn`` ops (class name, operand ids,
  properties as MLIR attribute text), which rebuild with ``make`` -- no MLIR parsing;
- the constants by content digest (``array_digest``): found again in the model, or,
  for constants the passes made, stored with the artefact.

Everything is JSON or raw bytes; nothing is pickled.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import Float16Type, Float32Type, Float64Type, IndexType, IntegerType
from xdsl.ir import Attribute
from xdsl.parser import Parser
from xdsl.printer import Printer

from dynir.backends.llvm.abi import Element, KernelSignature, MemrefArg, ScalarArg, element_of
from dynir.backends.llvm.translate import ExportedKernel
from dynir.diagnostics import DynirError
from dynir.dialects.nn.base import NNOp
from dynir.ir.context import make_context
from dynir.runtime.executable import HostPlan, PlanStep, ShapeOp, ShapeProgram, contiguous


class ArtefactError(DynirError):
    """A stored artefact that cannot be read back (treated as a corrupt cache entry)."""


@dataclass
class Artefact:
    """See module doc. ``extra_constants`` holds the constants not found in the model."""

    object_code: bytes
    exports: dict[str, ExportedKernel]
    plan: HostPlan
    constant_digests: list[str]
    extra_constants: dict[str, np.ndarray] = field(default_factory=dict[str, np.ndarray])


def array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes."""
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    h.update(contiguous(array).data)
    return h.hexdigest()


def make_artefact(
    object_code: bytes,
    exports: dict[str, ExportedKernel],
    plan: HostPlan,
    constants: list[np.ndarray],
    model_constants: Mapping[str, np.ndarray],
) -> Artefact:
    digests = [array_digest(v) for v in constants]
    extra = {d: v for d, v in zip(digests, constants) if d not in model_constants}
    return Artefact(object_code, exports, plan, digests, extra)


def constant_values(artefact: Artefact, model_constants: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    values: list[np.ndarray] = []
    for digest in artefact.constant_digests:
        value = model_constants.get(digest)
        if value is None:
            value = artefact.extra_constants.get(digest)
        if value is None:
            raise ArtefactError(f"constant {digest[:12]} is neither in the model nor in the entry")
        values.append(value)
    return values


# --------------------------------------------------------------------------------------
# Host plans as JSON.


def plan_to_json(plan: HostPlan) -> dict[str, Any]:
    return {
        "num_slots": plan.num_slots,
        "inputs": list(plan.input_slots),
        "constants": list(plan.constant_slots),
        "outputs": list(plan.output_slots),
        "steps": [
            {
                "kernel": s.kernel,
                "inputs": list(s.inputs),
                "outputs": list(s.outputs),
                "dtypes": [d.str for d in s.output_dtypes],
                "static_shapes": [None if t is None else list(t) for t in s.static_shapes],
                "shapes": None if s.shapes is None else _program_to_json(s.shapes),
                "sources": list(s.sources),
            }
            for s in plan.steps
        ],
    }


def _program_to_json(program: ShapeProgram) -> dict[str, Any]:
    return {
        "elements": [_attr_text(e) for e in program.input_elements],
        "ops": [
            {"op": o.op.name, "operands": list(o.operands), "num_results": o.num_results,
             "properties": {k: _attr_text(v) for k, v in o.properties.items()}}
            for o in program.ops
        ],
        "outputs": list(program.outputs),
    }


def plan_from_json(data: Any) -> HostPlan:
    try:
        steps = tuple(
            PlanStep(
                kernel=str(s["kernel"]),
                inputs=tuple(int(i) for i in s["inputs"]),
                outputs=tuple(int(i) for i in s["outputs"]),
                output_dtypes=tuple(np.dtype(d) for d in s["dtypes"]),
                static_shapes=tuple(None if t is None else tuple(int(d) for d in t) for t in s["static_shapes"]),
                shapes=None if s["shapes"] is None else _program_from_json(s["shapes"]),
                sources=tuple(str(n) for n in s.get("sources", ())),
            )
            for s in data["steps"]
        )
        return HostPlan(int(data["num_slots"]), tuple(data["inputs"]), tuple(data["constants"]), steps,
                        tuple(data["outputs"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ArtefactError(f"bad host plan: {error}") from None


def _program_from_json(data: Any) -> ShapeProgram:
    ctx = _context()
    ops: list[ShapeOp] = []
    for o in data["ops"]:
        op_class = ctx.get_optional_op(str(o["op"]))
        if op_class is None or not issubclass(op_class, NNOp):
            raise ArtefactError(f"unknown op '{o['op']}' in a host plan")
        props = {str(k): _parse_attr(str(v)) for k, v in o["properties"].items()}
        ops.append(ShapeOp(op_class, tuple(int(i) for i in o["operands"]), props, int(o["num_results"])))
    elements = tuple(_parse_attr(str(e)) for e in data["elements"])
    return ShapeProgram(elements, tuple(ops), tuple(int(i) for i in data["outputs"]))


@functools.cache
def _context() -> Context:
    return make_context()


def _attr_text(attr: Attribute) -> str:
    stream = io.StringIO()
    Printer(stream=stream).print_attribute(attr)
    return stream.getvalue()


def _parse_attr(text: str) -> Attribute:
    try:
        return Parser(_context(), text).parse_attribute()
    except Exception as error:  # noqa: BLE001  (any parse failure means a bad entry)
        raise ArtefactError(f"bad attribute '{text}' in a host plan: {error}") from None


# --------------------------------------------------------------------------------------
# Kernel signatures as JSON.

_ELEMENT_TYPES: dict[str, Attribute] = {
    "index": IndexType(),
    "i1": IntegerType(1),
    "i8": IntegerType(8),
    "i16": IntegerType(16),
    "i32": IntegerType(32),
    "i64": IntegerType(64),
    "f16": Float16Type(),
    "f32": Float32Type(),
    "f64": Float64Type(),
}


def exports_to_json(exports: Mapping[str, ExportedKernel]) -> dict[str, Any]:
    return {
        name: {
            "symbol": e.symbol,
            "args": [_arg_json(a) for a in e.signature.args],
            "results": [r.name for r in e.signature.results],
        }
        for name, e in exports.items()
    }


def _arg_json(arg: MemrefArg | ScalarArg) -> dict[str, Any]:
    if isinstance(arg, MemrefArg):
        return {"memref": list(arg.shape), "element": arg.element.name}
    return {"element": arg.element.name}


def exports_from_json(data: object) -> dict[str, ExportedKernel]:
    if not isinstance(data, dict):
        raise ArtefactError("'exports' is not an object")
    try:
        exports: dict[str, ExportedKernel] = {}
        for name, entry in data.items():
            args: list[MemrefArg | ScalarArg] = []
            for arg in entry["args"]:
                element = _element(arg["element"])
                if "memref" in arg:
                    args.append(MemrefArg(tuple(None if d is None else int(d) for d in arg["memref"]), element))
                else:
                    args.append(ScalarArg(element))
            results = tuple(_element(r) for r in entry["results"])
            exports[str(name)] = ExportedKernel(str(entry["symbol"]), KernelSignature(tuple(args), results))
        return exports
    except (KeyError, TypeError, ValueError) as error:
        raise ArtefactError(f"bad kernel signature in 'exports': {error}") from None


def _element(name: object) -> Element:
    attr = _ELEMENT_TYPES.get(str(name))
    element = element_of(attr) if attr is not None else None
    if element is None:
        raise ArtefactError(f"unknown element type {name!r}")
    return element
