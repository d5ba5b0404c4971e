"""500 recompilations of different shapes in one process: no crash, every result right,
and resident memory grows by less than 200 MB (engines and kernels are freed or small)."""

from __future__ import annotations

import numpy as np

import dynir
from dynir.builder import Graph


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def test_500_recompilations_stay_within_200_mb() -> None:
    g = Graph()
    x = g.input("x", (None, 8), "float32")
    g.output(g.relu(x) + g.constant(np.arange(8, dtype=np.float32), name="b"), name="y")
    model = dynir.compile(g, dynamic=False, recompile_limit=None, cache_dir=False)
    for n in range(1, 11):  # warm up allocators and the JIT before measuring
        model(np.ones((n, 8), np.float32))
    before = resident_mib()
    for n in range(11, 511):
        x_value = np.full((n, 8), -1.0 + (n % 3), np.float32)
        (y,) = model(x_value)
        np.testing.assert_array_equal(y, np.maximum(x_value, 0) + np.arange(8, dtype=np.float32))
    growth = resident_mib() - before
    assert model.stats.compiles == 510
    assert growth < 200, f"resident memory grew by {growth:.0f} MiB over 500 recompilations"
