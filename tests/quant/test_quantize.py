"""The ``quantize`` pass, calibration (``dynir.quantize``), mixed precision and accuracy
of static int8 models against their float originals."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects.builtin import StringAttr

import dynir
from dynir.diagnostics import DynirError
from dynir.ir.context import make_context
from dynir.models import MODELS
from dynir.passes.quantize import QuantizePass
from dynir.quantization import calibrate_module, cosine
from dynir.quantization.params import DECISION
from dynir.remarks import collect_remarks

MATMULS = """
func.func @main(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {
  %w1 = nn.constant {value = dense<W1> : tensor<8x8xf32>} : tensor<8x8xf32>
  %w2 = nn.constant {value = dense<W2> : tensor<8x4xf32>} : tensor<8x4xf32>
  %h = nn.matmul %x, %w1 : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %r = nn.relu %h : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %y = nn.matmul %r, %w2 : (tensor<?x8xf32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  func.return %y : tensor<?x4xf32>
}
"""
RNG = np.random.default_rng(0)


def two_layers(outlier: float = 1.0) -> str:
    w1 = RNG.normal(size=(8, 8)).astype(np.float32)
    w1[0, 0] *= outlier  # one huge weight: per-tensor scales then crush the others
    w2 = RNG.normal(size=(8, 4)).astype(np.float32)
    return MATMULS.replace("W1", str(w1.tolist())).replace("W2", str(w2.tolist()))


def samples(n: int, rows: int = 4) -> list[list[np.ndarray]]:
    return [[RNG.normal(size=(rows, 8)).astype(np.float32)] for _ in range(n)]


def test_dynamic_mode_needs_no_calibration_and_compiles_bit_exact() -> None:
    module = dynir.parse(two_layers())
    QuantizePass(keep_float=False).apply(make_context(), module)
    names = [op.name for op in module.walk()]
    assert "nn.matmul" not in names and names.count("quant.matmul") == 2
    x = samples(1, rows=5)[0]
    want = dynir.interpret(module, *x)[0]
    np.testing.assert_array_equal(dynir.compile(module, fuse=False, cache_dir=False)(*x)[0], want)


def test_static_mode_without_range_names_the_layer() -> None:
    module = dynir.parse(two_layers())
    with pytest.raises(DynirError, match=r"'nn.matmul' layer 'matmul_0' has no calibrated range"):
        QuantizePass(mode="static", keep_float=False).apply(make_context(), module)


def test_exclusion_by_name_and_op_type_is_a_remark() -> None:
    module = dynir.parse(two_layers())
    with collect_remarks() as remarks:
        QuantizePass(exclude=("matmul_1",), keep_float=False).apply(make_context(), module)
    messages = [r.message for r in remarks]
    assert "layer 'matmul_1' kept in float: excluded by name or op type" in messages
    assert "layer 'matmul_0' quantized to int8 (dynamic, weights per channel)" in messages
    module = dynir.parse(two_layers())
    QuantizePass(exclude=("matmul",), keep_float=False).apply(make_context(), module)
    assert not any(op.name.startswith("quant.") for op in module.walk())


def test_weight_only_matches_float_with_rounded_weights() -> None:
    text = two_layers()
    module = dynir.parse(text)
    QuantizePass(mode="weight-only").apply(make_context(), module)
    assert [op.name for op in module.walk()].count("nn.matmul") == 2
    x = samples(1)[0]
    assert cosine(dynir.interpret(dynir.parse(text), *x)[0], dynir.interpret(module, *x)[0]) > 0.9999


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_calibration_records_ranges(method: str) -> None:
    data = samples(4)
    module = calibrate_module(dynir.parse(two_layers()), data, method=method, keep_float=False)
    quantizes = [op for op in module.walk() if op.name == "quant.quantize"]
    assert len(quantizes) == 2
    lo = min(float(s[0].min()) for s in data)
    hi = max(float(s[0].max()) for s in data)
    scale = float(quantizes[0].operands[1].owner.array())  # type: ignore[union-attr]
    if method == "minmax":
        assert scale == pytest.approx((hi - lo) / 255, rel=1e-6)
    else:
        assert 0 < scale <= (hi - lo) / 255 * (1 + 1e-6)


def test_budget_keeps_the_most_damaging_layer_in_float() -> None:
    text = two_layers(outlier=300.0)
    data = samples(4)
    float_module = dynir.parse(text)

    def score(exclude: tuple[str, ...]) -> float:
        quantized = calibrate_module(float_module, data, per_channel=False, exclude=exclude, keep_float=False)
        return min(cosine(dynir.interpret(float_module, *s)[0], dynir.interpret(quantized, *s)[0]) for s in data)

    all_int8, first_in_float = score(()), score(("matmul_0",))
    assert all_int8 < first_in_float
    budget = (all_int8 + first_in_float) / 2  # met once the outlier layer stays in float
    with collect_remarks() as remarks:
        mixed = calibrate_module(float_module, data, per_channel=False, budget=budget, keep_float=False)
    kept = [op for op in mixed.walk() if isinstance(op.attributes.get(DECISION), StringAttr)]
    assert [op.name for op in kept] == ["nn.matmul"]
    assert any("kept in float: budget: cosine >=" in r.message and "matmul_0" in r.message for r in remarks)
    score = min(cosine(dynir.interpret(float_module, *s)[0], dynir.interpret(mixed, *s)[0]) for s in data)
    assert score >= budget


def test_dynir_quantize_takes_named_samples_and_returns_a_compiled_model() -> None:
    spec = MODELS["mlp"]
    model = spec.build(seed=0)
    calibration = [spec.inputs(seed=10 + i) for i in range(4)]
    compiled = dynir.quantize(model, calibration, method="minmax", cache_dir=False)
    assert isinstance(compiled, dynir.CompiledModel)
    feeds = spec.inputs(seed=1)
    got = compiled(*feeds.values())[0]
    want = dynir.interpret(dynir.import_onnx(model), *feeds.values())[0]
    assert cosine(want, got) >= 0.999


@pytest.mark.parametrize(("name", "least"), [("mlp", 0.999), ("bert_tiny", 0.999), ("resnet_tiny", 0.99)])
def test_static_accuracy_with_16_calibration_samples(name: str, least: float) -> None:
    spec = MODELS[name]
    float_module = dynir.import_onnx(spec.build(seed=0))
    quantized = calibrate_module(float_module, [spec.inputs(seed=100 + i) for i in range(16)], keep_float=False)
    assert any(op.name == "quant.quantize" for op in quantized.walk())
    feeds = list(spec.inputs(seed=1).values())
    want, got = dynir.interpret(float_module, *feeds), dynir.interpret(quantized, *feeds)
    assert min(cosine(w, g) for w, g in zip(want, got)) >= least
