"""A small helper that writes ONNX graphs node by node, with seeded random weights.

Every generator in ``dynir.models`` uses it so that names, initializers and the model
header (opset, IR version, producer) come out the same way::

    g = GraphBuilder("mlp", seed=0)
    x = g.input("x", ["batch", 1024])
    w = g.weight("fc.weight", g.he_normal((1024, 4096), fan_in=1024))
    y = g.node("MatMul", [x, w], name="fc", output_name="y")
    g.output(y, ["batch", 4096])
    model = g.model(opset=17)

Output names are derived from node names (``fc`` -> ``fc_out``) unless given, and a name
claimed twice is an error, so a generator run twice with one seed gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Dim = int | str | None
"""A graph input/output dimension: a size, a symbolic name (``"batch"``) or unknown."""

PRODUCER = "dynir.models"


class GraphBuilder:
    """Collects nodes, initializers, inputs and outputs of one ONNX graph."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._used_names: set[str] = set()

    # names ----------------------------------------------------------------------------
    def unique(self, name: str) -> str:
        """Claim ``name`` for one value, node or initializer; a second claim is a bug in
        the generator (names are part of the model and must say what a thing is)."""
        if name in self._used_names:
            raise ValueError(f"{self.name}: name '{name}' is used twice")
        self._used_names.add(name)
        return name

    # graph interface ------------------------------------------------------------------
    def input(self, name: str, shape: Sequence[Dim], dtype: int = TensorProto.FLOAT) -> str:
        name = self.unique(name)
        self.inputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        return name

    def output(self, value: str, shape: Sequence[Dim], dtype: int = TensorProto.FLOAT) -> str:
        """Declare ``value`` (a node output or graph input) a graph output."""
        self.outputs.append(helper.make_tensor_value_info(value, dtype, list(shape)))
        return value

    def weight(self, name: str, array: np.ndarray) -> str:
        """Add ``array`` as an initializer; returns its (unique) name."""
        name = self.unique(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def scalar(self, name: str, value: float) -> str:
        """A float32 scalar initializer (exporters write rank-0 constants)."""
        return self.weight(name, np.array(value, dtype=np.float32))

    def ints(self, name: str, values: Sequence[int]) -> str:
        """An int64 vector initializer (shapes, axes, split sizes)."""
        return self.weight(name, np.array(list(values), dtype=np.int64))

    def node(
        self, op_type: str, inputs: Sequence[str], *, name: str, output_name: str | None = None, **attrs: object
    ) -> str:
        """Append a one-output node named ``name``; returns its output's name (``output_name``
        when given, else ``<name>_out``)."""
        outputs = [self.unique(output_name)] if output_name else None
        return self.multi_node(op_type, inputs, 1, name=name, outputs=outputs, **attrs)[0]

    def multi_node(
        self,
        op_type: str,
        inputs: Sequence[str],
        num_outputs: int,
        *,
        name: str,
        outputs: Sequence[str] | None = None,
        **attrs: object,
    ) -> list[str]:
        """Append a node with ``num_outputs`` outputs; returns their names."""
        name = self.unique(name)
        if outputs is None:
            suffixes = ["_out"] if num_outputs == 1 else [f"_out{i}" for i in range(num_outputs)]
            outputs = [self.unique(name + suffix) for suffix in suffixes]
        self.nodes.append(helper.make_node(op_type, list(inputs), list(outputs), name=name, **attrs))
        return list(outputs)

    # random weights -------------------------------------------------------------------
    def normal(self, shape: Sequence[int], std: float, mean: float = 0.0) -> np.ndarray:
        return (mean + std * self.rng.standard_normal(tuple(shape))).astype(np.float32)

    def uniform(self, shape: Sequence[int], low: float, high: float) -> np.ndarray:
        return self.rng.uniform(low, high, tuple(shape)).astype(np.float32)

    def he_normal(self, shape: Sequence[int], fan_in: int, gain: float = 1.0) -> np.ndarray:
        """He (Kaiming) normal init: std ``gain * sqrt(2 / fan_in)``, keeps ReLU nets stable."""
        return self.normal(shape, gain * float(np.sqrt(2.0 / fan_in)))

    # result ---------------------------------------------------------------------------
    def model(self, opset: int, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs, self.outputs, initializer=self.initializers, doc_string=doc
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", opset)],
            producer_name=PRODUCER,
            ir_version=ir_version_for(opset),
        )
        return model


def ir_version_for(opset: int) -> int:
    """The oldest IR version that allows ``opset``: what an exporter of that time wrote,
    and what older runtimes accept."""
    for _release, ir_version, ai_onnx, *_ in helper.VERSION_TABLE:
        if ai_onnx >= opset:
            return int(ir_version)
    return int(onnx.IR_VERSION)
