"""Running a module op by op on samples and watching values: the range observers of
calibration and the per-layer comparison of quantization reports.

Observers see each watched op's operand #0 (its activation) on every sample:
``minmax`` keeps the extremes, ``percentile`` the 0.01% / 99.99% quantiles, ``entropy``
the clipping threshold that minimises the KL divergence between the value histogram
and its 8-bit quantization (TensorRT's method), both over a bounded random subsample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.traits import IsTerminator

from dynir.interpreter import entry_function, run_op

METHODS = ("minmax", "percentile", "entropy")
SUBSAMPLE = 1 << 16

Sample = Sequence[np.ndarray] | Mapping[str, np.ndarray]
Watcher = Callable[[Operation, list[np.ndarray], list[np.ndarray]], None]


def run_watching(module: ModuleOp, arrays: Sequence[np.ndarray], watch: Watcher) -> list[np.ndarray]:
    """Interpret ``@main``; ``watch(op, operands, results)`` sees every op of its body."""
    block = entry_function(module).body.block
    env = dict(zip(block.args, [np.asarray(a) for a in arrays]))
    for op in block.ops:
        operands = [env[v] for v in op.operands]
        if op.has_trait(IsTerminator):
            return operands
        results = [np.asarray(r) for r in run_op(op, operands)]
        watch(op, operands, results)
        env.update(zip(op.results, results))
    return []


def sample_arrays(sample: Sample, names: Sequence[str]) -> list[np.ndarray]:
    """A sample as arrays in graph order (a dict is read by input name)."""
    if isinstance(sample, Mapping):
        missing = [n for n in names if n not in sample]
        if missing:
            raise ValueError(f"calibration sample lacks input(s) {', '.join(missing)} (has {', '.join(sample)})")
        return [np.asarray(sample[n]) for n in names]
    arrays = [np.asarray(a) for a in sample]
    if len(arrays) != len(names):
        raise ValueError(f"calibration sample has {len(arrays)} arrays, the model takes {len(names)}")
    return arrays


@dataclass
class RangeObserver:
    method: str
    lo: float = np.inf
    hi: float = -np.inf
    kept: list[np.ndarray] = field(default_factory=list[np.ndarray])
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def see(self, x: np.ndarray) -> None:
        flat = np.asarray(x, np.float32).ravel()
        if flat.size == 0:
            return
        self.lo, self.hi = min(self.lo, float(flat.min())), max(self.hi, float(flat.max()))
        if self.method != "minmax":
            self.kept.append(flat if flat.size <= SUBSAMPLE else self.rng.choice(flat, SUBSAMPLE, replace=False))

    def range(self) -> tuple[float, float]:
        if not np.isfinite(self.lo):
            return 0.0, 0.0
        if self.method == "minmax" or not self.kept:
            return self.lo, self.hi
        values = np.concatenate(self.kept)
        if self.method == "percentile":
            return float(np.percentile(values, 0.01)), float(np.percentile(values, 99.99))
        threshold = entropy_threshold(values)
        return max(self.lo, -threshold), min(self.hi, threshold)


def entropy_threshold(values: np.ndarray, bins: int = 2048, levels: int = 128) -> float:
    """The ``|x|`` clipping threshold with the least KL divergence after quantization."""
    magnitudes = np.abs(values)
    top = float(magnitudes.max())
    if top == 0.0:
        return 0.0
    hist, edges = np.histogram(magnitudes, bins=bins, range=(0.0, top))
    hist = hist.astype(np.float64)
    best, best_kl = top, np.inf
    for stop in range(levels, bins + 1, 16):
        p = hist[:stop].copy()
        p[-1] += hist[stop:].sum()
        chunks = np.array_split(hist[:stop], levels)
        q = np.concatenate([np.where(c > 0, c.sum() / max(np.count_nonzero(c), 1), 0.0) for c in chunks])
        mask = p > 0
        if not np.any(q[mask] > 0):
            continue
        ps, qs = p / p.sum(), q / max(q.sum(), 1e-30)
        kl = float(np.sum(ps[mask] * np.log(ps[mask] / np.maximum(qs[mask], 1e-12))))
        if kl < best_kl:
            best, best_kl = float(edges[stop]), kl
    return best


def observe_ranges(
    module: ModuleOp, layers: Sequence[Operation], samples: Iterable[list[np.ndarray]], method: str,
    operands: Mapping[Operation, Sequence[int]] | None = None,
) -> dict[tuple[Operation, int], tuple[float, float]]:
    """The range of each ``(op, operand)`` over ``samples`` by ``method``: operand 0 of
    every op of ``layers``, and the operands ``operands`` names for an op (all in one
    pass over the samples)."""
    if method not in METHODS:
        raise ValueError(f"calibration method '{method}' is not one of {', '.join(METHODS)}")
    watched = {op: tuple((operands or {}).get(op, (0,))) for op in layers}
    observers = {(op, i): RangeObserver(method) for op, indices in watched.items() for i in indices}

    def watch(op: Operation, values: list[np.ndarray], results: list[np.ndarray]) -> None:
        for i in watched.get(op, ()):
            observers[(op, i)].see(values[i])

    for arrays in samples:
        run_watching(module, arrays, watch)
    return {key: obs.range() for key, obs in observers.items()}
