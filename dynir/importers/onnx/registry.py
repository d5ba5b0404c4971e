"""The converter registry of the ONNX importer and the ``NodeContext`` converters see.

A converter turns one ONNX node into ``nn`` ops::

    @converter("Relu")
    def relu(ctx: NodeContext) -> list[SSAValue]:
        return ctx.emit(ReluOp, [ctx.input(0)])

Opset moves are separate converters: ``@converter("Clip", since=11)`` handles opsets
>= 11 and the plain one the older opsets; the importer picks the newest ``since`` that
is <= the model's opset for the node's domain. Converters raise through
``ctx.error(...)`` (an ``OnnxImportError`` naming the node), never ``assert``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import onnx
from onnx import helper, numpy_helper
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute, SSAValue

from dynir.diagnostics import DynirError

Converter = Callable[["NodeContext"], Sequence[SSAValue]]


class OnnxImportError(DynirError):
    """A model the importer cannot take; the message names the file and node.

    ``unknown_value`` names the value a converter needed at import time, when that was
    the problem (see ``NodeContext.require_const_input``)."""

    unknown_value: str | None = None


@dataclass(frozen=True)
class ConverterEntry:
    op_type: str
    domain: str
    since: int
    fn: Converter


_CONVERTERS: dict[tuple[str, str], list[ConverterEntry]] = {}


def converter(op_type: str, *, since: int = 1, domain: str = "") -> Callable[[Converter], Converter]:
    """Register ``fn`` for ``op_type`` from opset ``since`` on (see module doc)."""

    def wrap(fn: Converter) -> Converter:
        entries = _CONVERTERS.setdefault((domain, op_type), [])
        entries.append(ConverterEntry(op_type, domain, since, fn))
        entries.sort(key=lambda e: e.since)
        return fn

    return wrap


def lookup(op_type: str, domain: str, opset: int) -> Converter | None:
    """The converter for ``op_type`` at ``opset``, or None if unsupported."""
    _load_all()
    domain = "" if domain == "ai.onnx" else domain
    best: Converter | None = None
    for entry in _CONVERTERS.get((domain, op_type), []):
        if entry.since <= opset:
            best = entry.fn
    return best


def supported_op_types() -> list[str]:
    _load_all()
    return sorted(op for (_, op) in _CONVERTERS)


def _load_all() -> None:
    # Importing the family modules registers their converters.
    from dynir.importers.onnx import ops  # noqa: F401


# ----------------------------------------------------------------------------------


class ValueProvider:
    """What a ``NodeContext`` needs from the graph importer (implemented in graph.py)."""

    def value(self, name: str) -> SSAValue:
        raise NotImplementedError

    def known_value(self, name: str) -> np.ndarray | None:
        raise NotImplementedError

    def symbolic_value(self, name: str) -> np.ndarray | None:
        raise NotImplementedError

    def dim_exprs(self, value: SSAValue) -> list[Any]:
        raise NotImplementedError

    def emit(
        self,
        node: onnx.NodeProto,
        op_class: type,
        operands: Sequence[SSAValue],
        props: Mapping[str, Attribute] | None,
        num_results: int,
    ) -> list[SSAValue]:
        raise NotImplementedError

    def constant(self, node: onnx.NodeProto, array: np.ndarray, name: str) -> SSAValue:
        raise NotImplementedError

    def error(self, node: onnx.NodeProto, message: str) -> NoReturn:
        raise NotImplementedError


@dataclass
class NodeContext:
    """One ONNX node as its converter sees it."""

    node: onnx.NodeProto
    opset: int
    graph: ValueProvider
    _attrs: dict[str, Any] = field(default_factory=dict[str, Any])

    def __post_init__(self) -> None:
        for a in self.node.attribute:
            self._attrs[a.name] = helper.get_attribute_value(a)

    # inputs -----------------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        return len(self.node.input)

    @property
    def num_outputs(self) -> int:
        return len(self.node.output)

    def has_input(self, i: int) -> bool:
        """True when input ``i`` is present (optional inputs may be missing or ``""``)."""
        return i < len(self.node.input) and self.node.input[i] != ""

    def input(self, i: int) -> SSAValue:
        if not self.has_input(i):
            self.error(f"input #{i} is required")
        return self.graph.value(self.node.input[i])

    def input_type(self, i: int) -> TensorType:
        t = self.input(i).type
        assert isinstance(t, TensorType)
        return t

    def const_input(self, i: int) -> np.ndarray | None:
        """The value of input ``i`` when known at import time (initializer, Constant,
        folded subgraph, or an input the caller pinned), else None."""
        if not self.has_input(i):
            return None
        return self.graph.known_value(self.node.input[i])

    def symbolic_input(self, i: int) -> np.ndarray | None:
        """Input ``i`` as an object array of ints and ``DimExpr``s when it is a small
        integer tensor computed from shapes (``dynir.builder.symbolic``), else None."""
        if not self.has_input(i):
            return None
        return self.graph.symbolic_value(self.node.input[i])

    def dim_exprs(self, i: int) -> list[Any]:
        """Input ``i``'s dims: ints where static, else their symbols."""
        return self.graph.dim_exprs(self.input(i))

    def require_const_input(self, i: int, what: str) -> np.ndarray:
        value = self.const_input(i)
        if value is None:
            try:
                self.error(f"{what} (input #{i}) must be known at import time")
            except OnnxImportError as e:
                # Lets callers that can supply values (the ONNX backend's value
                # specialisation) see which value was missing.
                e.unknown_value = self.node.input[i]
                raise
        return value

    def has_output(self, i: int) -> bool:
        return i < len(self.node.output) and self.node.output[i] != ""

    # attributes ---------------------------------------------------------------------
    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def attr(self, name: str, default: Any = None) -> Any:
        """The attribute as a Python value: int, float, str (decoded), list of those,
        or a numpy array for tensor attributes; ``default`` when absent."""
        if name not in self._attrs:
            return default
        value = self._attrs[name]
        if isinstance(value, bytes):
            return value.decode("utf-8")
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return [v.decode("utf-8") for v in value]
        if isinstance(value, onnx.TensorProto):
            return numpy_helper.to_array(value)
        return value

    # building -----------------------------------------------------------------------
    def emit(
        self,
        op_class: type,
        operands: Sequence[SSAValue],
        props: Mapping[str, Attribute] | None = None,
        *,
        num_results: int = 1,
    ) -> list[SSAValue]:
        """Append ``op_class.make(operands, props)`` located at this node; folds it to a
        constant when every operand is known. Returns its results."""
        return self.graph.emit(self.node, op_class, operands, props, num_results)

    def constant(self, array: np.ndarray, name: str = "cst") -> SSAValue:
        return self.graph.constant(self.node, np.asarray(array), name)

    def error(self, message: str) -> NoReturn:
        self.graph.error(self.node, message)
