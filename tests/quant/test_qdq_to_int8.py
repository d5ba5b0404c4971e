"""``qdq-to-int8``: models quantized by onnxruntime's ``quantize_static`` (QDQ format,
per-channel and per-tensor) compute their convs/matmuls/gemms in int8 after dynir's
pipeline, and their outputs match onnxruntime's (which runs them as QLinear* ops) within
one quantization step; the float path of the rewrite stays within the accumulator's step;
the folded float weights give back onnxruntime's exact int8 values and scales."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.cli.commands.emit import emit
from dynir.ir.context import make_context
from dynir.models import MODELS
from dynir.passes.qdq_to_int8 import QdqToInt8Pass, weight_from_float
from dynir.pipeline import build_pipeline, compile_pipeline
from dynir.remarks import Remark, collect_remarks, in_pass

logging.getLogger().setLevel(logging.ERROR)  # quantize_static's pre-processing advice
RNG = np.random.default_rng(23)
Feeds = dict[str, np.ndarray]


# ----------------------------------------------------------------------------------
# Helpers: quantize with onnxruntime, run both, compare in quantization steps.


class _Samples(CalibrationDataReader):
    def __init__(self, feeds: Sequence[Feeds]) -> None:
        self.items = iter(feeds)

    def get_next(self) -> Feeds | None:
        return next(self.items, None)


def quantize_qdq(model: onnx.ModelProto, samples: Sequence[Feeds], folder: Path, *, per_channel: bool,
                 activations: QuantType = QuantType.QUInt8, exclude: Sequence[str] = ()) -> onnx.ModelProto:
    onnx.save(model, folder / "float.onnx")
    quantize_static(str(folder / "float.onnx"), str(folder / "qdq.onnx"), _Samples(samples), quant_format=QuantFormat.QDQ,
                    activation_type=activations, weight_type=QuantType.QInt8, per_channel=per_channel,
                    nodes_to_exclude=list(exclude))
    return onnx.load(str(folder / "qdq.onnx"))


def onnxruntime_run(model: onnx.ModelProto, feeds: Feeds) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return list(session.run(None, feeds))


def output_steps(model: onnx.ModelProto) -> list[float]:
    """The quantization step of every graph output (the scale of its DequantizeLinear)."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    scales = {n.output[0]: n.input[1] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return [float(inits[scales[o.name]]) for o in model.graph.output]


def assert_within_one_step(got: Sequence[np.ndarray], want: Sequence[np.ndarray], steps: Sequence[float]) -> None:
    """Every output element within one step of onnxruntime's, almost all equal."""
    for g, w, step in zip(got, want, steps, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        off = np.abs(g.astype(np.float64) - w.astype(np.float64)) / step
        assert off.max() <= 1.0 + 1e-4, f"{off.max():.3f} steps off"
        assert np.mean(off > 0.5) <= 0.01


def fused_module(model: onnx.ModelProto) -> tuple[ModuleOp, list[Remark]]:
    """The model after the compile pipeline up to the kernels (``dynir emit --target fused``)."""
    module = dynir.import_onnx(model)
    stages = compile_pipeline(fuse=True).split(",")
    with collect_remarks() as remarks:
        for p in build_pipeline(",".join(stages[: stages.index("lower-to-loops")])):
            with in_pass(p.name):
                p.apply(make_context(), module)
    module.verify()
    return module, remarks


def op_names(module: ModuleOp) -> list[str]:
    return [op.name for op in module.walk() if op.name.startswith(("nn.", "quant.")) and op.name != "nn.constant"]


def int8_remarks(remarks: Sequence[Remark]) -> list[str]:
    return [r.message for r in remarks if r.pass_name == "qdq-to-int8"]


# ----------------------------------------------------------------------------------
# Small float models.


def _init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(array.astype(np.float32), name)


def conv_model() -> onnx.ModelProto:
    """Conv(+bias) -> Relu -> MaxPool -> grouped strided Conv (no bias), batch dim symbolic."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2], group=2),
    ]
    inits = [_init("w1", RNG.normal(size=(8, 3, 3, 3))), _init("b1", RNG.normal(size=8)),
             _init("w2", RNG.normal(size=(6, 4, 3, 3)) * 0.3)]
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 6, 3, 3])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def matmul_residual_model() -> onnx.ModelProto:
    """MatMul -> Relu -> MatMul -> Add(residual) -> Gemm(transB)."""
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["r1"]),
        helper.make_node("MatMul", ["r1", "w2"], ["h2"]),
        helper.make_node("Add", ["h2", "x"], ["s"]),
        helper.make_node("Gemm", ["s", "w3", "b3"], ["y"], transB=1, name="head"),
    ]
    inits = [_init("w1", RNG.normal(size=(32, 48)) / 6), _init("w2", RNG.normal(size=(48, 32)) / 7),
             _init("w3", RNG.normal(size=(10, 32)) / 6), _init("b3", RNG.normal(size=10))]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def samples(shape: tuple[int, ...], n: int = 4) -> list[Feeds]:
    return [{"x": RNG.normal(size=shape).astype(np.float32)} for _ in range(n)]


# ----------------------------------------------------------------------------------
# Tests.


@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
def test_conv_relu_pool_conv_runs_in_int8_like_onnxruntime(per_channel: bool, tmp_path: Path) -> None:
    qdq = quantize_qdq(conv_model(), samples((2, 3, 12, 12)), tmp_path, per_channel=per_channel)
    module, remarks = fused_module(qdq)
    names = op_names(module)
    assert "nn.conv" not in names and names.count("quant.packed_conv") == 2
    scales = "per channel (8 scales)" if per_channel else "per tensor"
    assert int8_remarks(remarks)[0] == (
        f"computes in int8 as 'quant.conv' (weights {scales}, scales recovered from the folded float weight); "
        "requantized for 1 quantize user(s)"
    )
    compiled = dynir.compile(qdq, cache_dir=False)
    for batch in (1, 3):
        x = RNG.normal(size=(batch, 3, 12, 12)).astype(np.float32)
        assert_within_one_step(compiled(x), onnxruntime_run(qdq, {"x": x}), output_steps(qdq))


def test_matmul_chain_with_residual_and_an_excluded_gemm(tmp_path: Path) -> None:
    """int8 activations, per-tensor weights; the Gemm left in float by onnxruntime keeps
    its float weight and says why; the residual add stays a float elementwise op."""
    qdq = quantize_qdq(matmul_residual_model(), samples((8, 32)), tmp_path, per_channel=False,
                       activations=QuantType.QInt8, exclude=["head"])
    module, remarks = fused_module(qdq)
    names = op_names(module)
    assert names.count("quant.packed_matmul") == 2 and "nn.matmul" not in names and "nn.packed_gemm" in names
    assert int8_remarks(remarks)[-1] == (
        "kept in float: weight is a float constant that no int8 tensor with per-channel scales dequantizes to"
    )
    x = RNG.normal(size=(5, 32)).astype(np.float32)
    got = dynir.compile(qdq, cache_dir=False)(x)
    want = onnxruntime_run(qdq, {"x": x})
    # The float Gemm's output is not quantized: within float rounding of onnxruntime's.
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-4)


def test_mlp_and_bert_tiny_run_in_int8_like_onnxruntime(tmp_path: Path) -> None:
    for name, int8_ops in (("mlp", 2), ("bert_tiny", 8)):
        spec = MODELS[name]
        folder = tmp_path / name
        folder.mkdir()
        qdq = quantize_qdq(spec.build(seed=0), [spec.inputs(seed=s) for s in range(3)], folder, per_channel=True)
        with collect_remarks() as remarks:
            compiled = dynir.compile(qdq, cache_dir=False)
        assert sum(r.message.startswith("computes in int8") for r in remarks) == int8_ops
        feeds = spec.inputs(seed=7)
        assert_within_one_step(compiled(*feeds.values()), onnxruntime_run(qdq, feeds), output_steps(qdq))


@pytest.fixture(scope="module")
def resnet_qdq(tmp_path_factory: pytest.TempPathFactory) -> onnx.ModelProto:
    spec = MODELS["resnet_tiny"]
    return quantize_qdq(spec.build(seed=0), [spec.inputs(seed=s) for s in range(2)], tmp_path_factory.mktemp("resnet"),
                        per_channel=True)


def test_resnet_tiny_convs_are_int8_and_match_onnxruntime(resnet_qdq: onnx.ModelProto) -> None:
    """Every conv packed for the VNNI kernel; the fused IR (the kernels' reference
    semantics: compiling all 53 int8 kernels takes ~20 s) matches onnxruntime."""
    module, remarks = fused_module(resnet_qdq)
    names = op_names(module)
    assert "nn.conv" not in names and names.count("quant.packed_conv") == 53
    assert names.count("quant.packed_matmul") == 1  # the classifier Gemm
    assert len(int8_remarks(remarks)) == 54
    feeds = MODELS["resnet_tiny"].inputs(seed=5)
    assert_within_one_step(dynir.interpret(module, feeds["x"]), onnxruntime_run(resnet_qdq, feeds), output_steps(resnet_qdq))


def test_folded_weights_give_back_onnxruntimes_int8_values_and_scales(resnet_qdq: onnx.ModelProto) -> None:
    inits = {i.name: numpy_helper.to_array(i) for i in resnet_qdq.graph.initializer}
    checked = 0
    for node in resnet_qdq.graph.node:
        stored = inits.get(node.input[0])
        if node.op_type != "DequantizeLinear" or stored is None or stored.dtype != np.int8 or stored.ndim != 4:
            continue
        scale = inits[node.input[1]]
        folded = (stored.astype(np.float32) * scale.reshape(-1, 1, 1, 1)).astype(np.float32)  # as the importer folds it
        weight = weight_from_float(folded, 0)
        assert not isinstance(weight, str)
        np.testing.assert_array_equal(weight.values, stored)
        np.testing.assert_array_equal(weight.scales, scale)
        checked += 1
    assert checked == 53


def test_emit_fused_shows_the_int8_layers(tmp_path: Path) -> None:
    qdq = quantize_qdq(conv_model(), samples((1, 3, 12, 12)), tmp_path, per_channel=True)
    onnx.save(qdq, tmp_path / "m.onnx")
    text = emit(str(tmp_path / "m.onnx"), "fused", fuse=True, elide=16)
    assert text.count("quant.packed_conv") == 2 and "nn.conv " not in text
    assert "quant.requantize" in text


FLOAT_AND_RELU_USERS = """
func.func @main(%xq: tensor<?x24xui8>) -> (tensor<?x16xf32>, tensor<?x16xui8>, tensor<?x16xi8>) {
  %sx = nn.constant {value = dense<0.037> : tensor<f32>} : tensor<f32>
  %zx = nn.constant {value = dense<121> : tensor<ui8>} : tensor<ui8>
  %x = quant.dequantize %xq, %sx, %zx : (tensor<?x24xui8>, tensor<f32>, tensor<ui8>) -> tensor<?x24xf32>
  %wq = nn.constant {value = dense<WQ> : tensor<24x16xi8>} : tensor<24x16xi8>
  %sw = nn.constant {value = dense<SW> : tensor<16xf32>} : tensor<16xf32>
  %zw = nn.constant {value = dense<0> : tensor<16xi8>} : tensor<16xi8>
  %w = quant.dequantize %wq, %sw, %zw : (tensor<24x16xi8>, tensor<16xf32>, tensor<16xi8>) -> tensor<24x16xf32>
  %y = nn.matmul %x, %w : (tensor<?x24xf32>, tensor<24x16xf32>) -> tensor<?x16xf32>
  %r = nn.relu %y : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %sy = nn.constant {value = dense<0.043> : tensor<f32>} : tensor<f32>
  %zy = nn.constant {value = dense<17> : tensor<ui8>} : tensor<ui8>
  %q = quant.quantize %r, %sy, %zy : (tensor<?x16xf32>, tensor<f32>, tensor<ui8>) -> tensor<?x16xui8>
  %s2 = nn.constant {value = dense<0.021> : tensor<f32>} : tensor<f32>
  %z2 = nn.constant {value = dense<-5> : tensor<i8>} : tensor<i8>
  %q2 = quant.quantize %r, %s2, %z2 : (tensor<?x16xf32>, tensor<f32>, tensor<i8>) -> tensor<?x16xi8>
  func.return %y, %q, %q2 : tensor<?x16xf32>, tensor<?x16xui8>, tensor<?x16xi8>
}
"""


def test_float_users_within_the_accumulator_step_and_relu_clips_at_the_zero_point() -> None:
    """``y`` (a float output) is dequantized from the accumulator: float rounding apart,
    the float model's value; each ``quantize(relu(y))`` is a requantize clipped at its
    zero point, within one step of the float model's (``relu`` has two users: fold-qdq
    leaves it)."""
    values = {"WQ": RNG.integers(-127, 128, (24, 16)).tolist(), "SW": (RNG.uniform(0.5, 2.0, 16) / 100).tolist()}
    text = FLOAT_AND_RELU_USERS
    for key, value in values.items():
        text = text.replace(key, str(value))
    module = dynir.parse(text)
    after = module.clone()
    with collect_remarks() as remarks, in_pass("qdq-to-int8"):
        QdqToInt8Pass().apply(make_context(), after)
    after.verify()
    assert int8_remarks(remarks) == [
        "computes in int8 as 'quant.matmul' (weights per channel (16 scales)); requantized for 2 quantize user(s) "
        "and dequantized for float users"
    ]
    names = op_names(after)
    assert names.count("quant.matmul") == 1 and names.count("quant.requantize") == 2 and names.count("nn.max") == 2
    assert "nn.matmul" not in names and "nn.relu" not in names
    xq = RNG.integers(0, 256, (9, 24)).astype(np.uint8)
    want = dynir.interpret(module, xq)
    got = dynir.compile(after, cache_dir=False)(xq)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
    for g, w, zero in zip(got[1:], want[1:], (17, -5)):
        assert g.dtype == w.dtype and g.min() >= zero
        assert np.abs(g.astype(int) - w.astype(int)).max() <= 1
