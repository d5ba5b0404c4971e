"""Shared by the converter tests of the elementwise, reduction and normalization
families: one-node models over graph inputs, run by onnxruntime and by dynir."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

import dynir


def node_model(
    op_type: str,
    inputs: Mapping[str, np.ndarray | None],
    outputs: int | Sequence[str] = 1,
    *,
    opset: int,
    dynamic: Sequence[str] = (),
    **attrs: object,
) -> onnx.ModelProto:
    """A one-node model over graph inputs named like ``inputs``; a ``None`` value leaves
    that optional input out (``""``); inputs in ``dynamic`` get a symbolic first dim.
    ``outputs`` is a count, or names where ``""`` leaves an optional output out."""
    infos = []
    for name, array in inputs.items():
        if array is None:
            continue
        shape: list[int | str] = list(array.shape)
        if name in dynamic:
            shape[0] = "batch"
        infos.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(array.dtype), shape))
    names = [f"y{i}" for i in range(outputs)] if isinstance(outputs, int) else list(outputs)
    node_inputs = [name if array is not None else "" for name, array in inputs.items()]
    node = helper.make_node(op_type, node_inputs, names, name=f"{op_type}_0", **attrs)
    graph_outputs = [onnx.ValueInfoProto(name=o) for o in names if o]
    graph = helper.make_graph([node], "g", infos, graph_outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def check(
    op_type: str,
    inputs: Mapping[str, np.ndarray | None],
    outputs: int | Sequence[str] = 1,
    *,
    opset: int,
    params: Sequence[str] = (),
    dynamic: Sequence[str] = (),
    rtol: float = 1e-5,
    atol: float = 1e-6,
    **attrs: object,
) -> list[np.ndarray]:
    """Run the node with onnxruntime and with dynir (``params`` pinned as known inputs);
    assert equal dtypes and shapes and close values. Returns dynir's results."""
    model = node_model(op_type, inputs, outputs, opset=opset, dynamic=dynamic, **attrs)
    feeds = {name: array for name, array in inputs.items() if array is not None}
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, feeds)
    module = dynir.import_onnx(model, known_inputs={p: feeds[p] for p in params})
    got = dynir.interpret(module, *[a for name, a in feeds.items() if name not in params])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got


def import_text(
    op_type: str, inputs: Mapping[str, np.ndarray | None], *, opset: int, params: Sequence[str] = (), **attrs: object
) -> str:
    """The imported module's text (no resource blobs)."""
    model = node_model(op_type, inputs, opset=opset, **attrs)
    feeds = {name: array for name, array in inputs.items() if array is not None}
    module = dynir.import_onnx(model, known_inputs={p: feeds[p] for p in params})
    return dynir.print_ir(module, resources=False)
