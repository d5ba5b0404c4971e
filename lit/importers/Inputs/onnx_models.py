"""Writes the small ONNX models the importer lit tests read: ``onnx_models.py NAME OUT``."""

from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def shape_chain() -> onnx.ModelProto:
    """PyTorch's flatten export: Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape"),
    ]
    consts = [
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array([0], np.int64), "axes"),
        numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], consts), opset_imports=[helper.make_opsetid("", 17)])


def named_dims() -> onnx.ModelProto:
    """Two inputs sharing the ``batch`` dim, a transpose, a weight big enough to be a blob."""
    w = np.arange(64 * 8, dtype=np.float32).reshape(64, 8)
    nodes = [
        helper.make_node("Transpose", ["a"], ["t"], name="transpose", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["t", "encoder.weight"], ["y"], name="matmul"),
    ]
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 64, "seq"])
    b = helper.make_tensor_value_info("b", TensorProto.INT64, ["batch"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [a, b], [y, helper.make_tensor_value_info("b", TensorProto.INT64, None)],
                              [numpy_helper.from_array(w, "encoder.weight")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


if __name__ == "__main__":
    onnx.save({"shape_chain": shape_chain, "named_dims": named_dims}[sys.argv[1]](), sys.argv[2])
