"""``dynir.quantize``: calibrate a float model on samples, quantize it, compile it.

    cm = dynir.quantize("model.onnx", samples, method="minmax", per_channel=True)
    cm = dynir.quantize(model, samples, exclude=["fc_out"], budget=0.999)

1. import the model (``nn``); fold batch_norm into its conv/gemm (``fold-batchnorm``,
   so the folded weights are the ones quantized); name its layers (``quant.layer``);
2. run the float model on every sample in the interpreter, watching each layer's input
   (and a matmul's right-hand side where that is not a constant), and record the ranges
   on the IR (``quant.input_range``, ``quant.rhs_range``);
3. with ``budget=`` (a minimum output cosine, or ``"sqnr:30"`` dB): if quantizing every
   layer misses it, keep the layers whose quantization alone hurts most in float until
   it is met; each such layer records ``quant.decision`` and a remark says why;
4. ``quantize{mode=static}`` (layers that int8 would make slower stay in float, see
   ``dynir.quantization.cost``), then ``dynir.compile`` with ``compile_options``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr

from dynir.cli.progress import track
from dynir.diagnostics import DynirError
from dynir.ir.context import make_context
from dynir.quantization.observe import Sample, observe_ranges, run_watching, sample_arrays
from dynir.quantization.params import DECISION, INPUT_RANGE, RHS_RANGE, layer_name, name_layers, set_input_range
from dynir.remarks import in_pass, remark
from dynir.runtime.compiled_model import CompiledModel


@dataclass(frozen=True)
class Budget:
    """The least accuracy the quantized model must keep on the calibration samples."""

    metric: str  # "cosine" or "sqnr"
    value: float

    @staticmethod
    def parse(spec: float | str) -> Budget:
        if isinstance(spec, int | float):
            return Budget("cosine", float(spec))
        metric, _, value = str(spec).partition(":")
        if metric not in ("cosine", "sqnr") or not value:
            raise DynirError(f"budget '{spec}': write a cosine (0.999), 'cosine:0.999' or 'sqnr:30' (dB)")
        return Budget(metric, float(value))

    def met(self, score: float) -> bool:
        return score >= self.value

    def score(self, reference: Sequence[np.ndarray], got: Sequence[np.ndarray]) -> float:
        pairs = list(zip(reference, got))
        return min(cosine(r, g) if self.metric == "cosine" else sqnr(r, g) for r, g in pairs)


def cosine(reference: np.ndarray, got: np.ndarray) -> float:
    a, b = np.asarray(reference, np.float64).ravel(), np.asarray(got, np.float64).ravel()
    denominator = np.linalg.norm(a) * np.linalg.norm(b)
    return 1.0 if denominator == 0 else float(np.dot(a, b) / denominator)


def sqnr(reference: np.ndarray, got: np.ndarray) -> float:
    """Signal to quantization noise, in dB."""
    a = np.asarray(reference, np.float64)
    noise = float(np.sum((a - np.asarray(got, np.float64)) ** 2))
    signal = float(np.sum(a**2))
    return float("inf") if noise == 0 else 10.0 * float(np.log10(max(signal, 1e-30) / noise))


def input_names(module: ModuleOp) -> list[str]:
    from dynir.compiler import _input_specs  # pyright: ignore[reportPrivateUsage]
    from dynir.interpreter import entry_function

    return [spec.name for spec in _input_specs(entry_function(module))]


def calibrate_module(
    module: ModuleOp,
    calibration_data: Iterable[Sample],
    *,
    method: str = "minmax",
    per_channel: bool = True,
    exclude: Sequence[str] = (),
    budget: float | str | None = None,
    keep_float: bool = True,
) -> ModuleOp:
    """The quantized ``nn`` module (``module`` is not changed): see the module doc.
    ``keep_float=False`` quantizes even the layers the cost model would keep in float
    (``dynir.quantization.cost``)."""
    from dynir.passes.fold_batchnorm import FoldBatchnormPass
    from dynir.passes.quantize import QuantizePass, candidates

    module = module.clone()
    with in_pass("fold-batchnorm"):  # quantize the folded conv weights, not conv + float batch_norm
        FoldBatchnormPass().apply(make_context(), module)
    names = input_names(module)
    samples = [sample_arrays(s, names) for s in track(list(calibration_data), "calibrating")]
    if not samples:
        raise DynirError("calibration needs at least one sample")
    layers = candidates(module)
    name_layers(layers)
    from dynir.passes.quantize import activation_rhs

    try:
        ranges = observe_ranges(module, layers, samples, method, {op: (0, 1) for op in layers if activation_rhs(op)})
    except ValueError as error:
        raise DynirError(str(error)) from None
    for (op, operand), (lo, hi) in ranges.items():
        set_input_range(op, lo, hi, RHS_RANGE if operand else INPUT_RANGE)
    with in_pass("quantize"):
        if budget is not None:
            keep_within_budget(module, samples[: min(len(samples), 4)], Budget.parse(budget), per_channel,
                               tuple(exclude), keep_float)
        QuantizePass(mode="static", per_channel=per_channel, exclude=tuple(exclude),
                     keep_float=keep_float).apply(make_context(), module)
    return module


def _quantized(module: ModuleOp, per_channel: bool, exclude: tuple[str, ...], keep_float: bool) -> ModuleOp:
    from dynir.passes.quantize import QuantizePass

    clone = module.clone()
    QuantizePass(mode="static", per_channel=per_channel, exclude=exclude, keep_float=keep_float).apply(make_context(), clone)
    return clone


def _outputs(module: ModuleOp, samples: Sequence[list[np.ndarray]]) -> list[np.ndarray]:
    outs: list[np.ndarray] = []
    for arrays in samples:
        outs += run_watching(module, arrays, lambda op, a, r: None)
    return outs


def keep_within_budget(
    module: ModuleOp, samples: Sequence[list[np.ndarray]], budget: Budget, per_channel: bool, exclude: tuple[str, ...],
    keep_float: bool = True,
) -> list[str]:
    """Mark the fewest most-damaging layers ``quant.decision`` so the quantized model
    meets ``budget``; returns their names (greedy by each layer's damage alone)."""
    from dynir.passes.quantize import candidates, why_not

    reference = _outputs(module, samples)
    score = budget.score(reference, _outputs(_quantized(module, per_channel, exclude, keep_float), samples))
    if budget.met(score):
        return []
    layers = [op for op in candidates(module) if why_not(op) is None]
    names = [layer_name(op) or "" for op in layers]
    damage: list[tuple[float, str]] = []
    for name in names:
        others = tuple(n for n in names if n != name) + exclude
        damage.append((budget.score(reference, _outputs(_quantized(module, per_channel, others, keep_float), samples)), name))
    kept: list[str] = []
    for _, name in sorted(damage):
        kept.append(name)
        score = budget.score(reference, _outputs(_quantized(module, per_channel, exclude + tuple(kept), keep_float), samples))
        if budget.met(score):
            break
    for op in layers:
        if layer_name(op) in kept:
            reason = f"budget: {budget.metric} >= {budget.value:g} needs this layer in float (then {score:.6g})"
            op.attributes[DECISION] = StringAttr(reason)
            remark(op, f"layer '{layer_name(op)}' kept in float: {reason}")
    return kept


def quantize(
    model: Any,
    calibration_data: Iterable[Sample],
    method: str = "minmax",
    per_channel: bool = True,
    *,
    exclude: Sequence[str] = (),
    budget: float | str | None = None,
    keep_float: bool = True,
    **compile_options: Any,
) -> CompiledModel:
    """Calibrate ``model`` on ``calibration_data``, quantize it statically and compile it.
    Layers that int8 would make slower stay in float unless ``keep_float=False``."""
    from dynir.compiler import compile as compile_model
    from dynir.compiler import to_module

    quantized = calibrate_module(
        to_module(model), calibration_data, method=method, per_channel=per_channel, exclude=exclude, budget=budget,
        keep_float=keep_float,
    )
    return compile_model(quantized, **compile_options)
