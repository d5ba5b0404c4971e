"""Property test: random well-typed ONNX graphs (elementwise ops with numpy broadcasting,
reductions, transposes, matmul, concat; dims of size 0 and 1 included) give the same
results in onnxruntime, dynir's interpreter and dynir's compiled code."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

import dynir

DIMS = st.sampled_from([0, 1, 2, 3, 5])
UNARY = ["Relu", "Neg", "Abs", "Sigmoid", "Tanh", "Exp", "Floor"]
BINARY = ["Add", "Sub", "Mul", "Max", "Min"]


@st.composite
def graphs(draw: st.DrawFn) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    shape = tuple(draw(st.lists(DIMS, min_size=1, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    inputs = {"x": rng.standard_normal(shape).astype(np.float32)}
    value_infos = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))]
    nodes: list[onnx.NodeProto] = []
    shapes = {"x": shape}
    for i in range(draw(st.integers(1, 6))):
        src = draw(st.sampled_from(sorted(shapes)))
        out = f"v{i}"
        kind = draw(st.sampled_from(["unary", "binary", "reduce", "transpose", "concat", "matmul"]))
        s = shapes[src]
        if kind == "unary":
            nodes.append(helper.make_node(draw(st.sampled_from(UNARY)), [src], [out]))
            shapes[out] = s
        elif kind == "binary":
            # The other operand broadcasts: some dims set to 1, maybe fewer leading dims.
            other_shape = tuple(1 if draw(st.booleans()) else d for d in s)[draw(st.integers(0, len(s))):]
            name = f"y{i}"
            inputs[name] = rng.standard_normal(other_shape).astype(np.float32)
            value_infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(other_shape)))
            operands = [src, name] if draw(st.booleans()) else [name, src]
            nodes.append(helper.make_node(draw(st.sampled_from(BINARY)), operands, [out]))
            shapes[out] = tuple(np.broadcast_shapes(s, other_shape))
        elif kind == "reduce":
            axis = draw(st.integers(0, len(s) - 1))
            op = draw(st.sampled_from(["ReduceSum", "ReduceMean", "ReduceMax"]))
            if op != "ReduceSum" and s[axis] == 0:
                op = "ReduceSum"  # max/mean of nothing are not numbers onnxruntime agrees on
            axes = helper.make_tensor(f"axes{i}", TensorProto.INT64, [1], [axis])
            nodes.append(helper.make_node("Constant", [], [f"axes{i}"], value=axes))
            nodes.append(helper.make_node(op, [src, f"axes{i}"], [out], keepdims=1))
            shapes[out] = tuple(1 if a == axis else d for a, d in enumerate(s))
        elif kind == "transpose":
            perm = draw(st.permutations(range(len(s))))
            nodes.append(helper.make_node("Transpose", [src], [out], perm=list(perm)))
            shapes[out] = tuple(s[p] for p in perm)
        elif kind == "concat":
            axis = draw(st.integers(0, len(s) - 1))
            nodes.append(helper.make_node("Concat", [src, src], [out], axis=axis))
            shapes[out] = tuple(2 * d if a == axis else d for a, d in enumerate(s))
        else:
            cols = draw(st.sampled_from([1, 4]))
            name = f"w{i}"
            inputs[name] = rng.standard_normal((s[-1], cols)).astype(np.float32)
            value_infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [s[-1], cols]))
            nodes.append(helper.make_node("MatMul", [src, name], [out]))
            shapes[out] = (*s[:-1], cols)
    last = nodes[-1].output[0]
    outputs = [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)]
    graph = helper.make_graph(nodes, "random", value_infos, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    return model, inputs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=graphs())
def test_onnxruntime_interpreter_and_compiled_code_agree(case: tuple[onnx.ModelProto, dict[str, np.ndarray]]) -> None:
    model, inputs = case
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, inputs)
    module = dynir.import_onnx(model)
    (interpreted,) = dynir.interpret(module, *inputs.values())
    (compiled,) = dynir.compile(module, cache_dir=False)(*inputs.values())
    for got in (interpreted, compiled):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
