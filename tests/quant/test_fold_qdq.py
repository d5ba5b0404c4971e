"""``fold-qdq``: dequantize/quantize around data movement folds into integer ops that
give bit-identical results (interpreter before = interpreter after = compiled), a pair
with different parameters becomes one requantize (within one step), and an ONNX QDQ
model from onnxruntime's ``quantize_static`` moves int8 data through its max-pool."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.bench.int8 import ort_int8_model
from dynir.ir.context import make_context
from dynir.passes.fold_qdq import FoldQdqPass
from dynir.quantization import cosine
from dynir.remarks import collect_remarks, in_pass

RNG = np.random.default_rng(7)


def folded(module: ModuleOp) -> tuple[ModuleOp, list[str]]:
    out = module.clone()
    with collect_remarks() as remarks, in_pass("fold-qdq"):
        FoldQdqPass().apply(make_context(), out)
    out.verify()
    return out, [r.message for r in remarks]


def op_names(module: ModuleOp) -> list[str]:
    return [op.name for op in module.walk() if op.name.startswith(("nn.", "quant.")) and op.name != "nn.constant"]


def check_exact(module: ModuleOp, *inputs: np.ndarray) -> ModuleOp:
    """Fold ``module``; the interpreter before and after and the compiled module agree bit for bit."""
    after, _ = folded(module)
    want = dynir.interpret(module, *inputs)
    got = dynir.interpret(after, *inputs)
    compiled = dynir.compile(after, cache_dir=False)(*inputs)
    for w, g, c in zip(want, got, compiled):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(c, w)
    return after


SANDWICH = """
func.func @main(%q: tensor<?x3x7x7xui8>, %a: tensor<?x3x7x7xui8>) -> (tensor<?x3x4x4xui8>, tensor<?x6x7x7xui8>, tensor<?x147xui8>) {
  %s = nn.constant {value = dense<0.043> : tensor<f32>} : tensor<f32>
  %z = nn.constant {value = dense<119> : tensor<ui8>} : tensor<ui8>
  %d = quant.dequantize %q, %s, %z : (tensor<?x3x7x7xui8>, tensor<f32>, tensor<ui8>) -> tensor<?x3x7x7xf32>
  %r = nn.relu %d : (tensor<?x3x7x7xf32>) -> tensor<?x3x7x7xf32>
  %p = nn.max_pool %r {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>} : (tensor<?x3x7x7xf32>) -> tensor<?x3x4x4xf32>
  %y0 = quant.quantize %p, %s, %z : (tensor<?x3x4x4xf32>, tensor<f32>, tensor<ui8>) -> tensor<?x3x4x4xui8>
  %da = quant.dequantize %a, %s, %z : (tensor<?x3x7x7xui8>, tensor<f32>, tensor<ui8>) -> tensor<?x3x7x7xf32>
  %c = nn.concat %d, %da {axis = 1 : i64} : (tensor<?x3x7x7xf32>, tensor<?x3x7x7xf32>) -> tensor<?x6x7x7xf32>
  %y1 = quant.quantize %c, %s, %z : (tensor<?x6x7x7xf32>, tensor<f32>, tensor<ui8>) -> tensor<?x6x7x7xui8>
  %t = nn.transpose %da {perm = array<i64: 0, 2, 3, 1>} : (tensor<?x3x7x7xf32>) -> tensor<?x7x7x3xf32>
  %f = nn.flatten %t {axis = 1 : i64} : (tensor<?x7x7x3xf32>) -> tensor<?x147xf32>
  %y2 = quant.quantize %f, %s, %z : (tensor<?x147xf32>, tensor<f32>, tensor<ui8>) -> tensor<?x147xui8>
  func.return %y0, %y1, %y2 : tensor<?x3x4x4xui8>, tensor<?x6x7x7xui8>, tensor<?x147xui8>
}
"""


def test_sandwiches_become_integer_ops_bit_exact() -> None:
    module = dynir.parse(SANDWICH)
    q, a = (RNG.integers(0, 256, (2, 3, 7, 7)).astype(np.uint8) for _ in range(2))
    after = check_exact(module, q, a)
    assert not [n for n in op_names(after) if n.startswith("quant.")]
    assert sorted(op_names(after)) == ["nn.concat", "nn.flatten", "nn.max", "nn.max_pool", "nn.transpose"]


def test_hoisting_quantize_over_float_relu_and_pool_is_exact() -> None:
    module = dynir.parse("""
func.func @main(%x: tensor<1x4x6x6xf32>) -> tensor<1x4x3x3xi8> {
  %s = nn.constant {value = dense<0.02> : tensor<f32>} : tensor<f32>
  %z = nn.constant {value = dense<-20> : tensor<i8>} : tensor<i8>
  %r = nn.relu %x : (tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  %p = nn.max_pool %r {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x4x6x6xf32>) -> tensor<1x4x3x3xf32>
  %y = quant.quantize %p, %s, %z : (tensor<1x4x3x3xf32>, tensor<f32>, tensor<i8>) -> tensor<1x4x3x3xi8>
  func.return %y : tensor<1x4x3x3xi8>
}""")
    x = (RNG.normal(size=(1, 4, 6, 6)) * 3).astype(np.float32)
    after = check_exact(module, x)
    assert op_names(after) == ["quant.quantize", "nn.max", "nn.max_pool"]


def test_different_parameters_requantize_within_one_step() -> None:
    module = dynir.parse("""
func.func @main(%q: tensor<?x16xi8>, %acc: tensor<?x3xi32>) -> (tensor<?x16xui8>, tensor<?x3xi8>) {
  %s = nn.constant {value = dense<0.031> : tensor<f32>} : tensor<f32>
  %z = nn.constant {value = dense<5> : tensor<i8>} : tensor<i8>
  %t = nn.constant {value = dense<0.017> : tensor<f32>} : tensor<f32>
  %zt = nn.constant {value = dense<131> : tensor<ui8>} : tensor<ui8>
  %d = quant.dequantize %q, %s, %z : (tensor<?x16xi8>, tensor<f32>, tensor<i8>) -> tensor<?x16xf32>
  %y = quant.quantize %d, %t, %zt : (tensor<?x16xf32>, tensor<f32>, tensor<ui8>) -> tensor<?x16xui8>
  %as = nn.constant {value = dense<[1.0e-03, 2.5e-04, 7.0e-04]> : tensor<3xf32>} : tensor<3xf32>
  %az = nn.constant {value = dense<0> : tensor<i32>} : tensor<i32>
  %ad = quant.dequantize %acc, %as, %az : (tensor<?x3xi32>, tensor<3xf32>, tensor<i32>) -> tensor<?x3xf32>
  %ay = quant.quantize %ad, %t, %z : (tensor<?x3xf32>, tensor<f32>, tensor<i8>) -> tensor<?x3xi8>
  func.return %y, %ay : tensor<?x16xui8>, tensor<?x3xi8>
}""")
    after, remarks = folded(module)
    assert op_names(after).count("quant.requantize") == 2 and "quant.dequantize" not in op_names(after)
    assert remarks.count("dequantize -> quantize with different parameters: one quant.requantize") == 2
    q = RNG.integers(-128, 128, (5, 16)).astype(np.int8)
    acc = RNG.integers(-40000, 40000, (5, 3)).astype(np.int32)
    want = dynir.interpret(module, q, acc)
    got = dynir.interpret(after, q, acc)
    compiled = dynir.compile(after, cache_dir=False)(q, acc)
    for w, g, c in zip(want, got, compiled):
        assert np.max(np.abs(g.astype(int) - w.astype(int))) <= 1
        np.testing.assert_array_equal(c, g)


def test_refusals_are_remarks_and_change_nothing() -> None:
    module = dynir.parse("""
func.func @main(%q: tensor<4x8xui8>, %s: tensor<f32>, %z: tensor<ui8>) -> (tensor<8x4xui8>, tensor<8x4xf32>) {
  %d = quant.dequantize %q, %s, %z : (tensor<4x8xui8>, tensor<f32>, tensor<ui8>) -> tensor<4x8xf32>
  %e = nn.exp %d : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %t = nn.transpose %e {perm = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  %y = quant.quantize %t, %s, %z : (tensor<8x4xf32>, tensor<f32>, tensor<ui8>) -> tensor<8x4xui8>
  func.return %y, %t : tensor<8x4xui8>, tensor<8x4xf32>
}""")
    after, remarks = folded(module)
    assert op_names(after) == op_names(module)
    assert remarks == ["not folded: 'nn.transpose' result has other users"]


def _qdq_model() -> tuple[onnx.ModelProto, list[dict[str, np.ndarray]]]:
    """Conv -> Relu -> MaxPool -> Flatten -> Gemm, quantized by onnxruntime (QDQ)."""
    rng = np.random.default_rng(0)
    inits = [
        helper.make_tensor("w", TensorProto.FLOAT, [8, 3, 3, 3], rng.normal(size=216).astype(np.float32)),
        helper.make_tensor("b", TensorProto.FLOAT, [8], rng.normal(size=8).astype(np.float32)),
        helper.make_tensor("fw", TensorProto.FLOAT, [10, 8 * 4 * 4], rng.normal(size=1280).astype(np.float32) * 0.1),
        helper.make_tensor("fb", TensorProto.FLOAT, [10], rng.normal(size=10).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    feeds = [{"x": rng.normal(size=(1, 3, 8, 8)).astype(np.float32)} for _ in range(4)]
    return ort_int8_model(model, "int8-static", feeds), feeds  # onnxruntime's quantize_static, QDQ


def test_onnxruntime_qdq_model_moves_int8_data() -> None:
    qmodel, feeds = _qdq_model()
    module = dynir.import_onnx(qmodel)
    after, remarks = folded(module)
    pools = [op for op in after.walk() if op.name == "nn.max_pool"]
    assert [str(op.results[0].type) for op in pools] == ["tensor<1x8x4x4xui8>"]
    flatten = [op for op in after.walk() if op.name == "nn.flatten"]
    assert [str(op.results[0].type) for op in flatten] == ["tensor<1x128xui8>"]
    assert "dequantize -> quantize with equal parameters folded away" in remarks
    x = feeds[0]["x"]
    want = dynir.interpret(module, x)[0]
    np.testing.assert_array_equal(dynir.interpret(after, x)[0], want)
    got = dynir.compile(module, cache_dir=False)(x)[0]
    ort_out = ort.InferenceSession(qmodel.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert cosine(ort_out, got) > 0.999
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
