"""The results of ``dynir bench``: one ``BenchResult`` per row, one ``BenchRun`` per
invocation, and their JSON form (``--json out.json``).

A row is *compute-bound* when its FLOPs per byte of minimum memory traffic (weights,
inputs and outputs, each touched once) reach the machine's balance point
(peak FLOP/s / bandwidth); its speed is then shown in GFLOP/s against the FLOP peak,
else in GB/s against the memory bandwidth.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from dynir.bench.machine import Machine, Peak
from dynir.diagnostics import DynirError

DEFAULT_BALANCE = 10.0
"""FLOPs per byte that count as compute-bound when the machine was not measured."""

MISMATCH_TOLERANCE = 1e-3
"""A row whose max error exceeds this fraction of the largest reference value is flagged."""

INT8_MIN_COSINE = 0.99
"""An int8 row whose output cosine against the float model falls below this is flagged."""


@dataclass
class BenchResult:
    """One model (one variant) timed against onnxruntime."""

    model: str
    variant: str
    description: str
    status: str = "ok"
    """``ok``, or the step that failed: ``onnxruntime failed``, ``compile failed``, ``run failed``."""
    error: str | None = None
    flops: int = 0
    min_bytes: int = 0
    compile_cold_s: float | None = None
    compile_warm_s: float | None = None
    max_abs_error: float | None = None
    max_scaled_error: float | None = None
    """max |dynir - ort| / max |ort| over all outputs."""
    dynir_samples_s: list[float] = field(default_factory=list[float])
    ort_samples_s: list[float] = field(default_factory=list[float])
    dynir_ms: float | None = None
    ort_ms: float | None = None
    dynir_cosine: float | None = None
    """int8 rows: cosine of dynir's int8 outputs against the float model's."""
    ort_cosine: float | None = None
    """int8 rows: cosine of onnxruntime's int8 outputs against the float model's."""
    int8_layers: tuple[int, int] | None = None
    """int8 rows: (layers dynir quantized, quantizable layers); the rest stayed in float."""
    float_outputs: list[np.ndarray] | None = field(default=None, repr=False, compare=False)
    """int8 rows: the float model's outputs (onnxruntime), for the cosines; not saved."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def int8(self) -> bool:
        return self.variant.startswith("int8")

    @property
    def mismatch(self) -> bool:
        """Outputs off: float rows against onnxruntime's, int8 rows against the float model's
        (two int8 quantizations differ from each other by design)."""
        if self.int8:
            return self.dynir_cosine is not None and not self.dynir_cosine >= INT8_MIN_COSINE
        return self.max_scaled_error is not None and not self.max_scaled_error <= MISMATCH_TOLERANCE

    @property
    def ratio(self) -> float | None:
        """dynir latency / onnxruntime latency (below 1: dynir is faster)."""
        if self.dynir_ms is None or not self.ort_ms:
            return None
        return self.dynir_ms / self.ort_ms

    def compute_bound(self, peak: Peak | None) -> bool:
        balance = peak.balance if peak is not None else DEFAULT_BALANCE
        return self.min_bytes > 0 and self.flops / self.min_bytes >= balance

    def throughput(self, ms: float | None, peak: Peak | None) -> tuple[float, str, float | None] | None:
        """(value, unit, fraction of the machine's limit or None) at latency ``ms``."""
        if ms is None or ms <= 0 or math.isnan(ms):
            return None
        if self.compute_bound(peak):
            gflops = self.flops / (ms * 1e-3) / 1e9
            return gflops, "GFLOP/s", (gflops / peak.gflops if peak else None)
        gbs = self.min_bytes / (ms * 1e-3) / 1e9
        return gbs, "GB/s", (gbs / peak.bandwidth_gbs if peak else None)

    def to_json(self, peak: Peak | None) -> dict[str, object]:
        data = asdict(replace(self, float_outputs=None))
        data.pop("float_outputs")
        data["ratio"] = self.ratio
        data["bound"] = "compute" if self.compute_bound(peak) else "memory"
        for who, ms in (("dynir", self.dynir_ms), ("ort", self.ort_ms)):
            speed = self.throughput(ms, peak)
            data[f"{who}_throughput"] = None if speed is None else {"value": speed[0], "unit": speed[1], "fraction_of_peak": speed[2]}
        return data


@dataclass
class BenchRun:
    """Everything one ``dynir bench`` invocation measured, and how."""

    command: str
    machine: Machine
    versions: dict[str, str]
    threads: int
    runs: int
    peak: Peak | None = None
    results: list[BenchResult] = field(default_factory=list[BenchResult])
    notes: list[str] = field(default_factory=list[str])

    def to_json(self) -> dict[str, object]:
        return {
            "command": self.command,
            "machine": asdict(self.machine),
            "versions": self.versions,
            "threads": self.threads,
            "runs": self.runs,
            "peak": None if self.peak is None else self.peak.to_json(),
            "notes": self.notes,
            "results": [r.to_json(self.peak) for r in self.results],
        }

    def write_json(self, path: str | Path) -> Path:
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(_finite(self.to_json()), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        except OSError as error:
            raise DynirError(f"cannot write '{path}': {error.strerror}") from None
        return target


def _finite(value: object) -> object:
    """``value`` with every non-finite float written as a string (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}  # type: ignore[misc]
    if isinstance(value, list):
        return [_finite(v) for v in value]  # type: ignore[misc]
    return value
