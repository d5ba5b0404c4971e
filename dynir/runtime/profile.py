"""Per-kernel time of a compiled model: where a call's time goes.

``model.profile(*arrays, runs=10)`` (or ``dynir run model.onnx --profile``) calls the
model ``runs`` times after one warm-up call, timing every kernel launch (output
allocation included) with ``time.perf_counter``, and reports per kernel the median time,
its share of the call, and the source ops it computes (ONNX node names)::

    >>> print(model.profile(x, runs=20).table(limit=3))
    kernel                      ms      %  outputs          sources
    fused_conv_relu_0        5.209   5.1%  1x64x112x112     conv1, relu1
    fused_conv_relu_10       4.388   4.3%  1x64x56x56       layer1.1.conv2, layer1.1.relu2
    ...
    total 102.4 ms per call (median of 20), 57 kernels, 99.9 ms in kernels

The numbers are the same kind as onnxruntime's ``enable_profiling`` node times: wall
time of each step as the runtime executes it, on the model's own thread count.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dynir.runtime.executable import Executable


@dataclass(frozen=True)
class KernelTime:
    """One kernel of the profiled call."""

    kernel: str
    sources: tuple[str, ...]
    output_shapes: tuple[tuple[int, ...], ...]
    median_ms: float


@dataclass(frozen=True)
class Profile:
    """Kernel times in program order, and the whole call's median."""

    runs: int
    call_ms: float
    kernels: tuple[KernelTime, ...]

    @property
    def kernel_ms(self) -> float:
        return sum(k.median_ms for k in self.kernels)

    def slowest(self, limit: int | None = None) -> list[KernelTime]:
        ranked = sorted(self.kernels, key=lambda k: -k.median_ms)
        return ranked if limit is None else ranked[:limit]

    def table(self, limit: int | None = 20) -> str:
        """The slowest ``limit`` kernels (all with None) as a text table, and a total line."""
        rows = self.slowest(limit)
        width = max([len("kernel"), *(len(k.kernel) for k in rows)])
        lines = [f"{'kernel':<{width}} {'ms':>9} {'%':>6}  {'outputs':<18} sources"]
        for k in rows:
            share = 100.0 * k.median_ms / self.call_ms if self.call_ms > 0 else 0.0
            outputs = ", ".join("x".join(str(d) for d in s) or "scalar" for s in k.output_shapes)
            lines.append(f"{k.kernel:<{width}} {k.median_ms:>9.3f} {share:>5.1f}%  {outputs:<18} {', '.join(k.sources)}")
        if limit is not None and len(self.kernels) > limit:
            lines.append(f"... {len(self.kernels) - limit} faster kernels not shown")
        lines.append(
            f"total {self.call_ms:.3f} ms per call (median of {self.runs}), {len(self.kernels)} kernels, "
            f"{self.kernel_ms:.3f} ms in kernels"
        )
        return "\n".join(lines)


def profile_executable(
    executable: Executable, arrays: Sequence[np.ndarray], *, runs: int = 10,
    clock: Callable[[], float] = time.perf_counter,
) -> Profile:
    """Profile ``executable`` on ``arrays`` (already checked against its specialisation)."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    outputs, _, step_shapes = executable.run_timed(arrays, clock)  # warm-up: caches, thread pool, page faults
    del outputs
    per_step: list[list[float]] = [[] for _ in executable.steps]
    calls: list[float] = []
    for _ in range(runs):
        start = clock()
        outputs, seconds, _ = executable.run_timed(arrays, clock)
        calls.append(clock() - start)
        for samples, value in zip(per_step, seconds):
            samples.append(value)
        del outputs
    shapes = [tuple(tuple(s) for s in step) for step in step_shapes]
    kernels = tuple(
        KernelTime(step.kernel_name, step.sources, shapes[i], statistics.median(per_step[i]) * 1e3)
        for i, step in enumerate(executable.steps)
    )
    return Profile(runs, statistics.median(calls) * 1e3, kernels)
