"""The ``quantize`` pass keeps a layer in float when int8 would be slower: the cost
model decides both ways, records ``quant.decision`` and a remark, the quantization
report shows the reason, and a mixed model still compiles to the interpreter's answer."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects.builtin import StringAttr
from xdsl.ir import Operation

import dynir
from dynir.ir.context import make_context
from dynir.passes.quantize import QuantizePass
from dynir.quantization import calibrate_module, cosine
from dynir.quantization.cost import KERNEL_MAC_TIMES, QUANTIZE_MAC_TIMES, layer_cost, speedup_of, why_float
from dynir.quantization.params import DECISION
from dynir.quantization.report import format_table, layer_report
from dynir.remarks import collect_remarks

RNG = np.random.default_rng(3)


def layer(text: str) -> Operation:
    module = dynir.parse(text)
    return next(op for op in module.walk() if op.name in ("nn.matmul", "nn.gemm", "nn.conv"))


def matmul(m: str, k: int, n: int) -> str:
    """A matmul layer with a constant weight (one of two activations costs its run-time
    quantization and packing too: ``test_activation_rhs_counts_its_quantization``)."""
    return f"""
func.func @main(%x: tensor<{m}x{k}xf32>) -> tensor<{m}x{n}xf32> {{
  %w = nn.constant {{value = dense<0.5> : tensor<{k}x{n}xf32>}} : tensor<{k}x{n}xf32>
  %y = nn.matmul %x, %w : (tensor<{m}x{k}xf32>, tensor<{k}x{n}xf32>) -> tensor<{m}x{n}xf32>
  func.return %y : tensor<{m}x{n}xf32>
}}"""


def conv(c_in: int, c_out: int, size: int, kernel: int, group: int = 1) -> str:
    x, w = f"1x{c_in}x{size}x{size}", f"{c_out}x{c_in // group}x{kernel}x{kernel}"
    out = f"1x{c_out}x{size - kernel + 1}x{size - kernel + 1}"
    return f"""
func.func @main(%x: tensor<{x}xf32>, %w: tensor<{w}xf32>, %b: tensor<{c_out}xf32>) -> tensor<{out}xf32> {{
  %y = nn.conv %x, %w, %b {{group = {group} : i64}} : (tensor<{x}xf32>, tensor<{w}xf32>, tensor<{c_out}xf32>) -> tensor<{out}xf32>
  func.return %y : tensor<{out}xf32>
}}"""


def test_costs_count_macs_and_activations() -> None:
    assert layer_cost(layer(matmul("64", 1024, 4096))) == layer_cost(layer(matmul("64", 1024, 4096)))
    big = layer_cost(layer(matmul("64", 1024, 4096)))
    assert (big.kind, big.macs, big.activations) == ("matmul", 64 * 1024 * 4096, 64 * 1024)
    dynamic = layer_cost(layer(matmul("?", 1024, 4096)))
    assert (dynamic.macs, dynamic.activations) == (1024 * 4096, 1024)  # a dynamic dim counts as 1
    c = layer_cost(layer(conv(64, 64, 58, 3)))
    assert (c.kind, c.macs, c.activations) == ("conv", 56 * 56 * 64 * 64 * 9, 64 * 58 * 58)
    assert layer_cost(layer(conv(64, 32, 8, 1))).kind == "conv1x1"
    assert layer_cost(layer(conv(32, 32, 8, 3, group=32))).kind == "grouped_conv"


def test_activation_rhs_counts_its_quantization() -> None:
    text = matmul("64", 1024, 4096).replace("%x: tensor<64x1024xf32>)", "%x: tensor<64x1024xf32>, %w: tensor<1024x4096xf32>)")
    text = "\n".join(line for line in text.splitlines() if "nn.constant" not in line)
    cost = layer_cost(layer(text))
    assert cost.activations == 64 * 1024 + 2 * 1024 * 4096  # A, then B quantized and packed


def test_big_matmul_is_int8_in_both_modes() -> None:
    op = layer(matmul("64", 1024, 4096))
    assert why_float(op, "dynamic") is None and why_float(op, "static") is None


def test_tiny_layer_stays_float_in_both_modes() -> None:
    op = layer(matmul("?", 16, 16))
    kernels = KERNEL_MAC_TIMES["dynamic"]
    saved = 256 * (1 - 1 / speedup_of("matmul"))
    assert why_float(op, "dynamic") == f"tiny layer: 256 MACs save ~{saved:.3g} MAC-times, less than the int8 kernels add ({kernels:.3g})"
    assert (why_float(op, "static") or "").startswith("tiny layer: 256 MACs")


def test_dynamic_activation_quantization_can_cost_more_than_it_saves() -> None:
    op = layer(conv(4, 4, 130, 3))  # ~36 MACs per input element: too few to pay for quantizing it at run time
    cost = layer_cost(op)
    speedup = speedup_of("conv")
    saved = cost.macs * (1 - 1 / speedup)
    assert saved < cost.activations * QUANTIZE_MAC_TIMES["dynamic"]
    assert why_float(op, "dynamic") == (
        f"dynamic int8 would be slower: quantizing {cost.activations} activations costs "
        f"~{cost.activations * QUANTIZE_MAC_TIMES['dynamic'] + KERNEL_MAC_TIMES['dynamic']:.3g} MAC-times, "
        f"int8 saves ~{saved:.3g} ({cost.macs} MACs at {speedup:g}x)"
    )
    assert why_float(op, "static") is None
    assert why_float(layer(conv(64, 64, 58, 3)), "dynamic") is None  # 576 MACs per input: worth it


def test_grouped_conv_has_no_faster_int8_kernel() -> None:
    assert why_float(layer(conv(32, 32, 64, 3, group=32)), "static") == (
        "the int8 grouped conv kernel is 0.05x float (no faster int8 kernel)")


TWO_LAYERS = """
func.func @main(%x: tensor<32x256xf32>) -> tensor<32x4xf32> {
  %w1 = nn.constant {value = dense<W1> : tensor<256x256xf32>} : tensor<256x256xf32>
  %w2 = nn.constant {value = dense<W2> : tensor<256x4xf32>} : tensor<256x4xf32>
  %h = nn.matmul %x, %w1 : (tensor<32x256xf32>, tensor<256x256xf32>) -> tensor<32x256xf32>
  %r = nn.relu %h : (tensor<32x256xf32>) -> tensor<32x256xf32>
  %y = nn.matmul %r, %w2 : (tensor<32x256xf32>, tensor<256x4xf32>) -> tensor<32x4xf32>
  func.return %y : tensor<32x4xf32>
}
"""


def two_layers() -> str:
    w1 = (RNG.normal(size=(256, 256)) / 16).astype(np.float32)
    w2 = (RNG.normal(size=(256, 4)) / 16).astype(np.float32)
    return TWO_LAYERS.replace("W1", str(w1.tolist())).replace("W2", str(w2.tolist()))


@pytest.fixture(scope="module")
def model_text() -> str:
    return two_layers()


def test_pass_records_the_decision_and_a_remark(model_text: str) -> None:
    module = dynir.parse(model_text)
    with collect_remarks() as remarks:
        QuantizePass(mode="dynamic").apply(make_context(), module)
    names = [op.name for op in module.walk()]
    assert names.count("quant.matmul") == 1 and names.count("nn.matmul") == 1  # the 256x256 layer is int8
    kept = next(op for op in module.walk() if op.name == "nn.matmul")
    decision = kept.attributes[DECISION]
    assert isinstance(decision, StringAttr) and decision.data.startswith("tiny layer: 32768 MACs")
    messages = [r.message for r in remarks]
    assert f"layer 'matmul_1' kept in float: {decision.data}" in messages
    assert "layer 'matmul_0' quantized to int8 (dynamic, weights per channel)" in messages
    off = dynir.parse(model_text)
    QuantizePass(mode="dynamic", keep_float=False).apply(make_context(), off)
    assert [op.name for op in off.walk()].count("quant.matmul") == 2


def test_mixed_model_compiles_and_reports_the_reason(model_text: str) -> None:
    module = dynir.parse(model_text)
    samples = [[RNG.normal(size=(32, 256)).astype(np.float32)] for _ in range(4)]
    quantized = calibrate_module(module, samples)
    names = [op.name for op in quantized.walk()]
    assert names.count("quant.matmul") == 1 and names.count("nn.matmul") == 1
    x = samples[0][0]
    want = dynir.interpret(quantized, x)[0]
    got = dynir.compile(quantized, cache_dir=False)(x)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert cosine(dynir.interpret(module, x)[0], got) > 0.999
    table = format_table(layer_report(module, quantized, samples[:2])).splitlines()
    kinds = {line.split()[0]: line.split()[1] for line in table[1:3]}
    assert kinds == {"matmul_0": "int8", "matmul_1": "float"}
    assert table[3].startswith("matmul_1: kept in float: tiny layer: 32768 MACs")
