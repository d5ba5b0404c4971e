"""Timing two libraries side by side in one process, fairly.

On a small machine the worker threads of onnxruntime and OpenBLAS keep spinning for a
while after each call, and slow down whatever runs next. Calling the two libraries in
turn, call by call, measures that interference rather than either library. So
``time_interleaved`` runs them in alternating blocks::

    pause 0.3 s | dynir (warm-up, discarded) dynir dynir dynir dynir dynir
    pause 0.3 s | ort   (warm-up, discarded) ort   ort   ort   ort   ort
    pause 0.3 s | dynir ...

and reports every timed call; ``median`` of them is what tables print.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_BLOCK = 5
"""Timed calls per block (after the discarded first call)."""

DEFAULT_PAUSE_S = 0.3
"""Idle time before each block, so the other library's threads go back to sleep."""

MIN_RUNS = 3
"""Calls per library that a time budget never cuts below."""


@dataclass(frozen=True)
class TimingPlan:
    """How many calls to time, in which blocks, and when to stop early."""

    runs: int = 10
    block: int = DEFAULT_BLOCK
    pause_s: float = DEFAULT_PAUSE_S
    budget_s: float | None = None
    """Stop after this many seconds once every library has ``MIN_RUNS`` timed calls."""


def median_ms(samples: list[float]) -> float:
    """The median of ``samples`` (seconds) in milliseconds; NaN when there are none."""
    return statistics.median(samples) * 1e3 if samples else float("nan")


def time_interleaved(
    runners: Mapping[str, Callable[[], object]],
    plan: TimingPlan = TimingPlan(),
    *,
    on_block: Callable[[str, int], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, list[float]]:
    """Seconds of each timed call of each runner, measured in alternating blocks.

    ``on_block(name, timed_so_far)`` is called after each block (progress bars).
    """
    samples: dict[str, list[float]] = {name: [] for name in runners}
    start = clock()
    while any(len(s) < plan.runs for s in samples.values()):
        if plan.budget_s is not None and clock() - start > plan.budget_s and all(
            len(s) >= min(MIN_RUNS, plan.runs) for s in samples.values()
        ):
            break
        for name, call in runners.items():
            todo = min(plan.block, plan.runs - len(samples[name]))
            if todo <= 0:
                continue
            sleep(plan.pause_s)
            call()  # the block's first call: caches and thread pools wake up
            for _ in range(todo):
                t0 = clock()
                call()
                samples[name].append(clock() - t0)
            if on_block is not None:
                on_block(name, len(samples[name]))
    return samples
