"""The ONNX graph importer: one ``ModelProto`` in, one ``func.func @main`` of ``nn`` ops out.

Steps, in order: load and check the model (``model.py``: decodes, opsets, every
operator supported, values defined before use), read every initializer (``tensors.py``),
make the function arguments from the graph inputs that are neither initializers nor
pinned by ``known_inputs``, convert the nodes one by one through their converters
(``registry.py``), return the graph outputs. Constants (initializers, pinned inputs)
are emitted where first used; ops whose operands are all constant are folded
(``FunctionBuilder.emit``), which turns ``Shape -> Gather -> Concat -> Reshape`` chains
on static shapes into one reshape by a constant shape.

Every op carries a location naming its node, printed as
``model.onnx: node 'Conv_12' (Conv)``:

```mlir
%y = nn.relu %x : (tensor<?x4xf32>) -> tensor<?x4xf32> loc("node 'Relu_0' (Relu)"("model.onnx":0:0))
```
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import onnx
from xdsl.dialects.builtin import FileLineColLoc, IntAttr, ModuleOp, NameLoc, NoneAttr, StringAttr, TensorType
from xdsl.ir import Attribute, SSAValue

from dynir.builder.function import FunctionBuilder, value_name
from dynir.builder.symbolic import MAX_SYMBOLIC_ELEMENTS, as_symbolic
from dynir.dialects.nn.base import NNOp
from dynir.importers.onnx.model import (
    LoadedModel,
    check_operators,
    check_values,
    node_label,
    op_label,
    opsets_of,
)
from dynir.importers.onnx.registry import NodeContext, ValueProvider, lookup
from dynir.importers.onnx.tensors import (
    MAX_BYTES,
    MAX_ELEMENTS,
    TensorDataError,
    numpy_dtype_of,
    tensor_array,
)
from dynir.ir.types import dims_compatible, format_shape, numpy_dtype, shape_of, tensor_type


class GraphImporter(ValueProvider):
    """Converts the main graph of one loaded model (see module doc)."""

    def __init__(self, loaded: LoadedModel, known_inputs: Mapping[str, np.ndarray] | None = None) -> None:
        self.loaded = loaded
        self.graph = loaded.proto.graph
        self.opsets = opsets_of(loaded)
        self.builder = FunctionBuilder("main")
        self._values: dict[str, SSAValue] = {}
        self._constants: dict[str, np.ndarray] = {}
        self._missing: dict[str, str] = {}  # node outputs no converter produced -> producer
        self._nodes = list(self.graph.node)  # kept: ``_indices`` is keyed by object identity
        self._indices = {id(node): i for i, node in enumerate(self._nodes)}
        self._known_inputs = dict(known_inputs or {})
        self._current: onnx.NodeProto | None = None  # the node being converted

    # the steps --------------------------------------------------------------------------
    def run(self) -> ModuleOp:
        check_operators(self.loaded, self.opsets)
        self._read_initializers()
        check_values(self.loaded, {i.name for i in self.graph.input} | set(self._constants))
        self._add_inputs()
        for node in self._nodes:
            self._convert(node)
        outputs = [self._graph_output(o.name) for o in self.graph.output]
        file_loc = self._file_loc()
        return self.builder.finish(
            outputs,
            location=None if isinstance(file_loc, NoneAttr) else file_loc,
            output_names=[o.name for o in self.graph.output],
        )

    def _read_initializers(self) -> None:
        if len(self.graph.sparse_initializer):
            raise self.loaded.fail(f"sparse initializer '{self.graph.sparse_initializer[0].values.name}' is not supported")
        for tensor in self.graph.initializer:
            try:
                self._constants[tensor.name] = tensor_array(tensor, self.loaded.folder)
            except TensorDataError as e:
                raise self.loaded.fail(f"initializer '{tensor.name}': {e}") from None

    def _add_inputs(self) -> None:
        names = [i.name for i in self.graph.input]
        for name in self._known_inputs:
            if name not in names:
                raise self.loaded.fail(
                    f"known_inputs names '{name}', which is not a graph input (inputs: {', '.join(names)})"
                )
        for value_info in self.graph.input:
            name = value_info.name
            if name in self._known_inputs:
                t, _ = self._input_type(value_info)
                self._constants[name] = self._pinned(name, t, self._known_inputs[name])
            elif name not in self._constants:
                t, dim_names = self._input_type(value_info)
                self._values[name] = self.builder.add_input(t, name=name, dim_names=dim_names)

    def _input_type(self, value_info: onnx.ValueInfoProto) -> tuple[TensorType, list[str]]:
        """The type of a graph input and the names of its dims ("" = unnamed)."""
        name = value_info.name
        if not value_info.type.HasField("tensor_type"):
            kind = value_info.type.WhichOneof("value") or "untyped"
            raise self.loaded.fail(f"graph input '{name}' is a {kind} value; only tensors are supported")
        tensor = value_info.type.tensor_type
        try:
            dtype = numpy_dtype_of(tensor.elem_type)
        except TensorDataError as e:
            raise self.loaded.fail(f"graph input '{name}': {e}") from None
        if not tensor.HasField("shape"):
            raise self.loaded.fail(f"graph input '{name}' has no shape (unknown rank is not supported)")
        dims: list[int | None] = []
        dim_names: list[str] = []
        for dim in tensor.shape.dim:
            static = dim.dim_value if dim.HasField("dim_value") else None
            if static is not None and static < 0:
                raise self.loaded.fail(f"graph input '{name}' has negative dim {static}")
            dims.append(static)
            dim_names.append(dim.dim_param if static is None else "")
        elements = math.prod(d for d in dims if d is not None)
        if elements > MAX_ELEMENTS or elements * dtype.itemsize > MAX_BYTES:
            raise self.loaded.fail(
                f"graph input '{name}' has shape {format_shape(dims)}, more than any model dynir can run"
            )
        return tensor_type(dims, dtype), dim_names

    def _pinned(self, name: str, t: TensorType, value: np.ndarray) -> np.ndarray:
        array = np.asarray(value)
        dtype = numpy_dtype(t.element_type)
        if array.dtype != dtype:
            if not np.can_cast(array.dtype, dtype, casting="same_kind"):
                raise self.loaded.fail(f"known input '{name}' has dtype {array.dtype}, but the graph input is {t}")
            array = array.astype(dtype)
        if not dims_compatible(tuple(array.shape), shape_of(t)):
            raise self.loaded.fail(
                f"known input '{name}' has shape {format_shape(array.shape)}, but the graph input is {t}"
            )
        return array

    # converting nodes -----------------------------------------------------------------------
    def _convert(self, node: onnx.NodeProto) -> None:
        opset = self.opsets[node.domain if node.domain != "ai.onnx" else ""]
        fn = lookup(node.op_type, node.domain, opset)
        if fn is None:  # check_operators ran first; a converter cannot vanish
            raise RuntimeError(f"no converter for {node.op_type}")
        self._current = node
        results = list(fn(NodeContext(node, opset, self)))
        self._current = None
        for i, name in enumerate(node.output):
            if not name:
                continue
            if i < len(results):
                self._values[name] = results[i]
                if results[i].name_hint is None:
                    results[i].name_hint = value_name(name)
            else:
                self._missing[name] = f"output #{i} of {self._describe(node)}"

    def _graph_output(self, name: str) -> SSAValue:
        if name in self._missing:
            raise self.loaded.fail(f"graph output '{name}' is {self._missing[name]}, which dynir does not produce")
        return self.value(name)

    # ValueProvider ---------------------------------------------------------------------------
    def value(self, name: str) -> SSAValue:
        found = self._values.get(name)
        if found is not None:
            return found
        array = self._constants.get(name)
        if array is not None:
            kind = "graph input" if name in self._known_inputs else "initializer"
            constant = self.builder.constant(array, name, self._loc(f"{kind} '{name}'"))
            self._values[name] = constant
            return constant
        if name in self._missing:
            problem = f"input '{name}' is {self._missing[name]}, which dynir does not produce"
            if self._current is not None:
                self.error(self._current, problem)
            raise self.loaded.fail(problem)
        raise self.loaded.fail(f"value '{name}' is not defined")  # check_values makes this unreachable

    def known_value(self, name: str) -> np.ndarray | None:
        if name in self._constants:
            return self._constants[name]
        found = self._values.get(name)
        return None if found is None else self.builder.known_value(found)

    def symbolic_value(self, name: str) -> np.ndarray | None:
        if name in self._constants:
            array = self._constants[name]
            return as_symbolic(array) if array.dtype.kind in "iu" and array.size <= MAX_SYMBOLIC_ELEMENTS else None
        found = self._values.get(name)
        return None if found is None else self.builder.symbolic_value(found)

    def dim_exprs(self, value: SSAValue) -> list[Any]:
        return list(self.builder.dim_exprs(value))

    def emit(
        self,
        node: onnx.NodeProto,
        op_class: type,
        operands: Sequence[SSAValue],
        props: Mapping[str, Attribute] | None,
        num_results: int,
    ) -> list[SSAValue]:
        if not issubclass(op_class, NNOp):
            raise TypeError(f"{op_class.__name__} is not an nn op")
        blob_name = next((o for o in node.output if o), node.name or "folded")
        try:
            return self.builder.emit(
                op_class, operands, props, num_results=num_results, location=self._node_loc(node), name=blob_name
            )
        except ValueError as e:
            self.error(node, str(e))

    def constant(self, node: onnx.NodeProto, array: np.ndarray, name: str) -> SSAValue:
        prefix = node.name or next((o for o in node.output if o), "")
        return self.builder.constant(array, f"{prefix}.{name}" if prefix else name, self._node_loc(node))

    def error(self, node: onnx.NodeProto, message: str) -> NoReturn:
        raise self.loaded.fail(f"{self._describe(node, with_opset=True)}: {message}")

    # locations ---------------------------------------------------------------------------------
    def _describe(self, node: onnx.NodeProto, *, with_opset: bool = False) -> str:
        """``node 'Conv_12' (Resize, opset 13)``."""
        label = node_label(node, self._indices.get(id(node), -1))
        if not with_opset:
            return f"{label} ({op_label(node)})"
        opset = self.opsets.get(node.domain if node.domain != "ai.onnx" else "", 0)
        return f"{label} ({op_label(node)}, opset {opset})"

    def _node_loc(self, node: onnx.NodeProto) -> NameLoc:
        return self._loc(self._describe(node))

    def _loc(self, desc: str) -> NameLoc:
        return NameLoc(StringAttr(desc), self._file_loc())

    def _file_loc(self) -> FileLineColLoc | NoneAttr:
        if self.loaded.file is None:
            return NoneAttr()
        return FileLineColLoc(StringAttr(self.loaded.file), IntAttr(0), IntAttr(0))
