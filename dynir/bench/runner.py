"""Measure one ``BenchCase``: compile it with dynir (cold, then warm), check its outputs
against onnxruntime on the same inputs, then time both side by side.

dynir compiles lazily (kernels are built at the first call of a shape), so a compile
time is ``dynir.compile`` plus the first call, less one median run. *Cold* compiles with
an empty kernel cache (a fresh temporary directory); *warm* compiles the same model
again with that cache filled, as a second process would.

An int8 variant (``int8-dynamic``/``int8-static``, see ``dynir.bench.int8``) quantizes
the model with both libraries first; the row then times dynir's int8 against
onnxruntime's int8 and reports each one's output cosine against the float model.

Each step that fails ends the row with its status and the first line of the error; the
other rows still run::

    result = run_case(case, Settings(threads=2), fuse=True)
    result.dynir_ms, result.ort_ms, result.ratio, result.max_abs_error
"""

from __future__ import annotations

import inspect
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import onnx
from xdsl.dialects.builtin import ModuleOp

from dynir.bench.int8 import INT8_VARIANTS, calibration_samples, dynir_int8_module, layer_counts, ort_int8_model, output_cosine
from dynir.bench.results import BenchResult
from dynir.bench.suite import BenchCase
from dynir.bench.timing import TimingPlan, median_ms, time_interleaved
from dynir.diagnostics import DynirError

T = TypeVar("T")

Progress = Callable[[str], None]
"""Told what a row is doing now (``"compiling"``, ``"timing 5/10"``)."""


@dataclass(frozen=True)
class Settings:
    threads: int = 1
    plan: TimingPlan = TimingPlan()


class StepFailed(Exception):
    def __init__(self, status: str, error: BaseException) -> None:
        lines = str(error).strip().splitlines()
        super().__init__(f"{type(error).__name__}: {lines[0] if lines else '(no message)'}")
        self.status = status


VARIANTS = ("fused", "unfused", *INT8_VARIANTS)
"""What a row compiles: with or without the fusion passes, or int8 (see ``dynir.bench.int8``)."""


def run_case(case: BenchCase, settings: Settings, *, fuse: bool = True, variant: str | None = None,
             progress: Progress | None = None) -> BenchResult:
    """Time ``case`` (see the module doc); never raises for a model that fails.
    ``variant`` (default: ``fused``, or ``unfused`` with ``fuse=False``) is one of ``VARIANTS``."""
    variant = variant or ("fused" if fuse else "unfused")
    if variant not in VARIANTS:
        raise DynirError(f"unknown bench variant '{variant}' (variants: {', '.join(VARIANTS)})")
    tell = progress or (lambda _: None)
    result = BenchResult(case.name, variant, case.description)
    try:
        tell("building")
        model, feeds = case.model(), case.feeds()
        result.flops = case.flops()
        result.min_bytes = case.weight_bytes() + sum(a.nbytes for a in feeds.values())
        session = _step("onnxruntime failed", lambda: ort_session(model, settings.threads))
        reference = _step("onnxruntime failed", lambda: session.run(None, feeds))
        result.min_bytes += sum(np.asarray(r).nbytes for r in reference)
        compilable: onnx.ModelProto | ModuleOp = model
        if variant in INT8_VARIANTS:
            compilable, session, reference = _int8_models(case, variant, model, feeds, reference, result, settings, tell)
        with tempfile.TemporaryDirectory(prefix="dynir-bench-cache-") as cache:
            tell("compiling (cold)")
            compiled, outputs, cold = _compile_and_call(compilable, feeds, variant != "unfused", cache, settings.threads)
            tell("compiling (warm)")
            compiled, _, warm = _compile_and_call(compilable, feeds, variant != "unfused", cache, settings.threads)
        tell("checking")
        result.max_abs_error, result.max_scaled_error = compare(outputs, [np.asarray(r) for r in reference])
        if result.float_outputs is not None:
            result.dynir_cosine = output_cosine(outputs, result.float_outputs)
    except StepFailed as failure:
        result.status, result.error = failure.status, str(failure)
        if result.status != "onnxruntime failed":  # onnxruntime's latency still says what dynir must reach
            _time(result, {"onnxruntime": lambda: session.run(None, feeds)}, settings.plan, tell)
        return result
    arrays = [feeds[spec.name] for spec in compiled.inputs]
    _time(result, {"dynir": lambda: compiled(*arrays), "onnxruntime": lambda: session.run(None, feeds)},
          settings.plan, tell)
    run_s = (result.dynir_ms or 0.0) / 1e3
    result.compile_cold_s, result.compile_warm_s = max(0.0, cold - run_s), max(0.0, warm - run_s)
    return result


def _int8_models(case: BenchCase, variant: str, model: onnx.ModelProto, feeds: dict[str, np.ndarray],
                 float_reference: list[Any], result: BenchResult, settings: Settings,
                 tell: Progress) -> tuple[ModuleOp, Any, list[Any]]:
    """(dynir's int8 module, onnxruntime's int8 session, its outputs); records the float
    outputs, onnxruntime's cosine against them and how many layers dynir made int8."""
    result.float_outputs = [np.asarray(r) for r in float_reference]
    samples = calibration_samples(case.samples) if variant == "int8-static" else []
    tell("quantizing (onnxruntime)")
    ort_model = _step("onnxruntime failed", lambda: ort_int8_model(model, variant, samples))
    session = _step("onnxruntime failed", lambda: ort_session(ort_model, settings.threads))
    reference = _step("onnxruntime failed", lambda: session.run(None, feeds))
    result.ort_cosine = output_cosine([np.asarray(r) for r in reference], result.float_outputs)
    tell("quantizing (dynir)")
    module = _step("quantize failed", lambda: dynir_int8_module(model, variant, samples))
    result.int8_layers = layer_counts(module)
    return module, session, reference


def _time(result: BenchResult, runners: dict[str, Callable[[], object]], plan: TimingPlan, tell: Progress) -> None:
    def on_block(name: str, done: int) -> None:
        tell(f"timing {name} {done}/{plan.runs}")

    samples = time_interleaved(runners, plan, on_block=on_block)
    if "dynir" in samples:
        result.dynir_samples_s, result.dynir_ms = samples["dynir"], median_ms(samples["dynir"])
    result.ort_samples_s, result.ort_ms = samples["onnxruntime"], median_ms(samples["onnxruntime"])


def ort_session(model: onnx.ModelProto, threads: int):  # type: ignore[no-untyped-def]
    """An onnxruntime CPU session on ``threads`` intra-op threads (one inter-op thread)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise DynirError("dynir bench and dynir demo compare with onnxruntime: pip install 'dynir[bench]'") from None

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def compare(outputs: list[np.ndarray], reference: list[np.ndarray]) -> tuple[float, float]:
    """(max absolute error, max absolute error / max |reference|) over all outputs;
    infinite when a shape differs or NaNs disagree."""
    worst_abs, worst_scaled = 0.0, 0.0
    if len(outputs) != len(reference):
        return float("inf"), float("inf")
    for got, want in zip(outputs, reference):
        if got.shape != want.shape:
            return float("inf"), float("inf")
        if got.size == 0:
            continue
        g, w = got.astype(np.float64), want.astype(np.float64)
        if not np.array_equal(np.isnan(g), np.isnan(w)):
            return float("inf"), float("inf")
        diff = np.abs(np.nan_to_num(g) - np.nan_to_num(w))
        err = float(diff.max())
        scale = float(np.abs(np.nan_to_num(w)).max())
        worst_abs = max(worst_abs, err)
        worst_scaled = max(worst_scaled, err / scale if scale > 0 else err)
    return worst_abs, worst_scaled


def _compile_and_call(model: onnx.ModelProto | ModuleOp, feeds: dict[str, np.ndarray], fuse: bool,
                      cache: str, threads: int) -> tuple[Any, list[np.ndarray], float]:
    """(compiled model, outputs of its first call, seconds of compile + first call);
    dynir runs on ``threads`` threads, as onnxruntime does."""
    import dynir

    options: dict[str, object] = {"fuse": fuse}
    parameters = inspect.signature(dynir.compile).parameters
    if "cache_dir" in parameters:
        options["cache_dir"] = cache
    if "threads" in parameters:
        options["threads"] = threads
    start = time.perf_counter()
    compiled = _step("compile failed", lambda: dynir.compile(model, **options))
    arrays = [feeds[spec.name] for spec in compiled.inputs]
    outputs = _step("run failed", lambda: compiled(*arrays))
    return compiled, [np.asarray(o) for o in outputs], time.perf_counter() - start


def _step(status: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except KeyboardInterrupt:
        raise
    except Exception as error:  # noqa: BLE001  (any failure of one model ends its row, not the run)
        raise StepFailed(status, error) from None
