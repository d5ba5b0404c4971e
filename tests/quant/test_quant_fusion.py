"""Epilogue fusion of integer contractions: ``quant.matmul/gemm -> dequantize -> bias ->
relu -> quantize`` is one group where the kernel builder lowers it (probed), the
dynamic quantization of the next layer never joins, and every quantized model compiles
to the interpreter's answer whether or not the groups form."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.dialects.fusion import GroupOp
from dynir.interpreter import entry_function
from dynir.ir.context import make_context
from dynir.passes import _fusion_utils
from dynir.passes.fuse_epilogue import FuseEpiloguePass
from dynir.passes.quantize import QuantizePass
from dynir.quantization import calibrate_module
from dynir.remarks import collect_remarks, in_pass

RNG = np.random.default_rng(11)
LAYERS = """
func.func @main(%x: tensor<?x64xf32>) -> tensor<?x32xf32> {
  %w1 = nn.constant {value = dense<W1> : tensor<64x128xf32>} : tensor<64x128xf32>
  %b1 = nn.constant {value = dense<B1> : tensor<128xf32>} : tensor<128xf32>
  %w2 = nn.constant {value = dense<W2> : tensor<32x128xf32>} : tensor<32x128xf32>
  %b2 = nn.constant {value = dense<B2> : tensor<32xf32>} : tensor<32xf32>
  %h = nn.matmul %x, %w1 : (tensor<?x64xf32>, tensor<64x128xf32>) -> tensor<?x128xf32>
  %a = nn.add %h, %b1 : (tensor<?x128xf32>, tensor<128xf32>) -> tensor<?x128xf32>
  %r = nn.relu %a : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %y = nn.gemm %r, %w2, %b2 {trans_b = 1 : i64} : (tensor<?x128xf32>, tensor<32x128xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  func.return %y : tensor<?x32xf32>
}
"""


def _text() -> str:
    values = {
        "W1": RNG.normal(size=(64, 128)) / 8, "B1": RNG.normal(size=128),
        "W2": RNG.normal(size=(32, 128)) / 8, "B2": RNG.normal(size=32),
    }
    text = LAYERS
    for name, array in values.items():
        text = text.replace(name, str(array.astype(np.float32).tolist()))
    return text


@pytest.fixture(scope="module")
def static_module() -> ModuleOp:
    samples = [[RNG.normal(size=(16, 64)).astype(np.float32)] for _ in range(4)]
    return calibrate_module(dynir.parse(_text()), samples, keep_float=False)


@pytest.fixture(scope="module")
def dynamic_module() -> ModuleOp:
    module = dynir.parse(_text())
    QuantizePass(mode="dynamic", keep_float=False).apply(make_context(), module)
    return module


def fused(module: ModuleOp, mode: str) -> tuple[list[list[str]], list[str]]:
    """The epilogue groups' op names, and the remarks, after ``fuse-epilogue``."""
    out = module.clone()
    with collect_remarks() as remarks, in_pass("fuse-epilogue"):
        FuseEpiloguePass(int8_epilogues=mode).apply(make_context(), out)
    out.verify()
    groups = [op for op in entry_function(out).body.block.ops if isinstance(op, GroupOp)]
    body = [[op.name for op in g.body.block.ops if op.name != "fusion.yield"] for g in groups]
    return body, [r.message for r in remarks]


def test_static_chain_is_one_group_up_to_the_next_quantize(static_module: ModuleOp) -> None:
    groups, _ = fused(static_module, "always")
    assert groups[0] == ["quant.matmul", "quant.dequantize", "nn.add", "nn.relu", "quant.quantize"]
    assert groups[1] == ["quant.gemm", "quant.dequantize", "nn.add"]


def test_dynamic_quantize_is_never_an_epilogue(dynamic_module: ModuleOp) -> None:
    groups, _ = fused(dynamic_module, "always")
    assert groups[0] == ["quant.matmul", "quant.dequantize", "nn.add", "nn.relu"]
    assert all("quant.dynamic_quantize" not in g for g in groups)


def test_never_and_unsupported_say_why(static_module: ModuleOp, monkeypatch: pytest.MonkeyPatch) -> None:
    groups, remarks = fused(static_module, "never")
    assert groups == [] and remarks.count("no epilogue: int8 epilogues are off (int8-epilogues=never)") == 2
    monkeypatch.setattr(_fusion_utils, "retyping_epilogue_lowers", lambda: False)
    groups, remarks = fused(static_module, "auto")
    assert groups == []
    assert remarks.count("no epilogue: the kernel builder does not lower type-changing epilogues yet") == 2


@pytest.mark.parametrize("which", ["static", "dynamic"])
def test_compiled_matches_interpreter(which: str, static_module: ModuleOp, dynamic_module: ModuleOp) -> None:
    """Whatever the probe finds, the compiled model is the interpreter's (fused or not)."""
    module = static_module if which == "static" else dynamic_module
    groups, _ = fused(module, "auto")
    assert (len(groups) == 2) == _fusion_utils.retyping_epilogue_lowers()
    for rows in (1, 7):
        x = RNG.normal(size=(rows, 64)).astype(np.float32)
        want = dynir.interpret(module, x)[0]
        got = dynir.compile(module, cache_dir=False)(x)[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


CONV = """
func.func @main(%x: tensor<?x8x10x10xf32>) -> tensor<?x16x10x10xf32> {
  %w = nn.constant {value = dense<W> : tensor<16x8x3x3xf32>} : tensor<16x8x3x3xf32>
  %b = nn.constant {value = dense<B> : tensor<16xf32>} : tensor<16xf32>
  %c = nn.conv %x, %w, %b {pads = array<i64: 1, 1, 1, 1>} : (tensor<?x8x10x10xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<?x16x10x10xf32>
  %r = nn.relu %c : (tensor<?x16x10x10xf32>) -> tensor<?x16x10x10xf32>
  func.return %r : tensor<?x16x10x10xf32>
}
"""


def test_int8_conv_takes_its_epilogue() -> None:
    text = CONV.replace("W", str((RNG.normal(size=(16, 8, 3, 3)) / 8).astype(np.float32).tolist()))
    text = text.replace("B", str(RNG.normal(size=16).astype(np.float32).tolist()))
    samples = [[RNG.normal(size=(2, 8, 10, 10)).astype(np.float32)] for _ in range(3)]
    module = calibrate_module(dynir.parse(text), samples, keep_float=False)
    groups, _ = fused(module, "always")
    assert groups and groups[0][:2] == ["quant.conv", "quant.dequantize"]
    x = RNG.normal(size=(2, 8, 10, 10)).astype(np.float32)
    got = dynir.compile(module, cache_dir=False)(x)[0]
    np.testing.assert_allclose(got, dynir.interpret(module, x)[0], rtol=1e-5, atol=1e-5)
