"""FLOP estimates for ONNX models at given sizes of their symbolic dimensions.

Shapes come from ONNX shape inference on a weight-free copy of the graph (large
initializers become typed graph inputs, so a 100 MB model costs nothing to analyse).
Multiply-adds count as 2 FLOPs (``Conv``, ``MatMul``, ``Gemm``); other compute ops count
a small constant per element; data movement (``Reshape``, ``Concat``...) counts 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import helper, shape_inference

_SMALL_INITIALIZER = 64
"""Initializers up to this many elements stay (shape inference reads Reshape targets)."""

_DATA_MOVEMENT = frozenset(
    "Reshape Transpose Concat Split Flatten Identity Resize Shape Gather Unsqueeze Squeeze Cast Slice Expand "
    "Constant Pad Tile".split()
)
_PER_ELEMENT = {"BatchNormalization": 2, "LayerNormalization": 8, "Softmax": 5, "Erf": 4, "Sigmoid": 4, "Tanh": 4}


def count_flops(model: onnx.ModelProto, dims: Mapping[str, int]) -> int:
    """Estimated FLOPs of one run of ``model`` with symbolic dims set to ``dims``."""
    shapes = static_shapes(model, dims)
    return sum(node_flops(node, shapes) for node in model.graph.node)


def static_shapes(model: onnx.ModelProto, dims: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    """The shape of every value of ``model`` with symbolic dims bound to ``dims``."""
    graph = model.graph
    inputs = [_bind_dims(v, dims) for v in graph.input]
    kept = []
    for init in graph.initializer:
        if int(np.prod(init.dims)) <= _SMALL_INITIALIZER:
            kept.append(init)
        else:
            inputs.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    light = helper.make_graph(list(graph.node), graph.name, inputs, list(graph.output), initializer=kept)
    light_model = helper.make_model(light, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    inferred = shape_inference.infer_shapes(light_model, strict_mode=True, data_prop=True)
    shapes: dict[str, tuple[int, ...]] = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        shape = value.type.tensor_type.shape
        if all(d.HasField("dim_value") for d in shape.dim):
            shapes[value.name] = tuple(int(d.dim_value) for d in shape.dim)
    for init in kept:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    return shapes


def node_flops(node: onnx.NodeProto, shapes: Mapping[str, tuple[int, ...]]) -> int:
    """FLOPs of one node; 0 for data movement and for values of unknown shape."""
    if node.op_type in _DATA_MOVEMENT or not node.output or node.output[0] not in shapes:
        return 0
    out = shapes[node.output[0]]
    out_size = int(np.prod(out))
    first_input = shapes.get(node.input[0], ()) if node.input else ()
    if node.op_type == "Conv":
        weight = shapes[node.input[1]]
        return 2 * out_size * int(np.prod(weight[1:]))
    if node.op_type == "MatMul":
        return 2 * out_size * first_input[-1]
    if node.op_type == "Gemm":
        trans_a = any(a.name == "transA" and a.i for a in node.attribute)
        return 2 * out_size * first_input[0 if trans_a else 1]
    if node.op_type == "MaxPool":
        kernel = next(list(a.ints) for a in node.attribute if a.name == "kernel_shape")
        return out_size * int(np.prod(kernel))
    if node.op_type.startswith(("Reduce", "Global")) or node.op_type == "AveragePool":
        return int(np.prod(first_input))
    return out_size * _PER_ELEMENT.get(node.op_type, 1)


def _bind_dims(value: onnx.ValueInfoProto, dims: Mapping[str, int]) -> onnx.ValueInfoProto:
    tensor = value.type.tensor_type
    shape: list[int | str | None] = []
    for d in tensor.shape.dim:
        if d.HasField("dim_value"):
            shape.append(int(d.dim_value))
        elif d.dim_param in dims:
            shape.append(int(dims[d.dim_param]))
        else:
            raise ValueError(f"input '{value.name}': no size given for dimension '{d.dim_param}'")
    return helper.make_tensor_value_info(value.name, tensor.elem_type, shape)
