"""``CompiledModel``: guards, the specialisation policies, the recompile limit, the
ledger and the counters. Every result is checked against numpy."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import dynir
from dynir.runtime.compiled_model import InputError, RecompileWarning
from tests.runtime.runtime_testlib import inputs, tied_expected, tied_model, unnamed_model


def compile_tied(tmp_path: Path, **options: object) -> dynir.CompiledModel:
    return dynir.compile(tied_model(), cache_dir=tmp_path / "cache", **options)  # type: ignore[arg-type]


def run_checked(model: dynir.CompiledModel, batch: int, seq: int, seed: int = 0) -> None:
    x, z = inputs(batch, seq, seed)
    (y,) = model(x, z)
    np.testing.assert_allclose(y, tied_expected(x, z), rtol=1e-6, atol=1e-6)


def test_default_policy_specialises_then_goes_symbolic(tmp_path: Path) -> None:
    model = compile_tied(tmp_path)
    for seq in (5, 5, 9, 1, 0, 33, 9):
        run_checked(model, 2, seq)
    assert model.specs == [((2, 5, 8), (2, 5, 8)), ((2, None, 8), (2, None, 8))]
    assert model.stats.as_dict() == {"calls": 7, "compiles": 2, "disk_hits": 0, "cache_hits": 5}
    run_checked(model, 3, 4)  # batch changes: symbolic too, seq stays symbolic
    assert model.specs[-1] == ((None, None, 8), (None, None, 8))
    lines = model.explain().splitlines()
    assert lines[0] == "3 specialisations for 8 calls (3 compiled, 0 from the disk cache, 5 in-memory hits)"
    assert lines[1].startswith("#1 compiled in ") and lines[1].endswith(" s: first call")
    assert lines[2] == "   -> x: 2x5x8 float32, z: 2x5x8 float32"
    assert lines[3].endswith(" s: input 'x' dim 1 ('seq') was 5, now 9; input 'z' dim 1 ('seq') was 5, now 9")
    assert lines[4] == "   -> x: 2x?x8 float32, z: 2x?x8 float32"
    assert lines[5].endswith(" s: input 'x' dim 0 ('batch') was 2, now 3; input 'z' dim 0 ('batch') was 2, now 3")
    assert lines[6] == "   -> x: ?x?x8 float32, z: ?x?x8 float32"


def test_exact_sizes_are_preferred_when_compiled(tmp_path: Path) -> None:
    model = compile_tied(tmp_path)
    run_checked(model, 2, 5)
    run_checked(model, 2, 6)
    exact, symbolic = model._specialisations  # noqa: SLF001
    x, z = inputs(2, 5)
    assert model._dispatch[((x.dtype, x.shape), (z.dtype, z.shape))] is exact.executable  # noqa: SLF001
    x, z = inputs(2, 6)
    assert model._dispatch[((x.dtype, x.shape), (z.dtype, z.shape))] is symbolic.executable  # noqa: SLF001


def test_dynamic_false_compiles_once_per_shape(tmp_path: Path) -> None:
    model = compile_tied(tmp_path, dynamic=False, recompile_limit=None)
    for seq in (3, 4, 3, 5, 4):
        run_checked(model, 1, seq)
    assert model.specs == [((1, n, 8), (1, n, 8)) for n in (3, 4, 5)]
    assert model.stats.as_dict() == {"calls": 5, "compiles": 3, "disk_hits": 0, "cache_hits": 2}


def test_dynamic_true_compiles_once(tmp_path: Path) -> None:
    model = compile_tied(tmp_path, dynamic=True)
    for batch, seq in ((1, 3), (2, 7), (4, 0)):
        run_checked(model, batch, seq)
    assert model.specs == [((None, None, 8), (None, None, 8))]
    assert model.stats.compiles == 1


def test_declared_dims_and_bounds(tmp_path: Path) -> None:
    model = compile_tied(tmp_path, dynamic={"x": {1: ("seq", 1, 16)}})
    run_checked(model, 1, 4)
    run_checked(model, 1, 16)
    assert model.specs == [((1, None, 8), (1, None, 8))]
    x, z = inputs(1, 17)
    with pytest.raises(InputError) as error:
        model(x, z)
    assert str(error.value) == "input 'x' dim 1 ('seq') is 17, outside the declared bounds [1, 16]"
    assert model.stats.calls == 2


def test_recompile_limit_falls_back_to_the_generic_specialisation(tmp_path: Path) -> None:
    model = compile_tied(tmp_path, dynamic=False, recompile_limit=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for seq in (1, 2, 3, 4, 5):
            run_checked(model, 1, seq)
    messages = [str(w.message) for w in caught if issubclass(w.category, RecompileWarning)]
    assert messages == [
        "dynir: recompile limit (2) reached; using the most generic specialisation from now on "
        "(input 'x' dim 1 ('seq') keeps changing)"
    ]
    assert model.specs[-1] == ((None, None, 8), (None, None, 8))
    assert model.stats.compiles == 3
    assert "recompile limit reached: using the most generic specialisation" in model.explain()


def test_guard_errors_name_the_input(tmp_path: Path) -> None:
    model = compile_tied(tmp_path)
    x, z = inputs(2, 3)
    cases = [
        ((x,), "expected 2 inputs (x: ?x?x8 float32, z: ?x?x8 float32), got 1"),
        ((x, z.astype(np.float64)), "input 'z' must have dtype float32, got float64"),
        ((x, z[0]), "input 'z' must have rank 3 (?x?x8), got shape (3, 8)"),
        ((x, np.ones((2, 3, 4), np.float32)), "input 'z' dim 2 must be 8 (?x?x8), got shape (2, 3, 4)"),
        ((x, np.ones((2, 4, 8), np.float32)),
         "input 'x' dim 1 and input 'z' dim 1 are both 'seq' but have sizes 3 and 4"),
    ]
    for args, message in cases:
        with pytest.raises(InputError) as error:
            model(*args)
        assert str(error.value) == message
    assert model.stats.calls == 0


def test_lists_and_non_contiguous_arrays_take_the_slow_path(tmp_path: Path) -> None:
    model = dynir.compile(unnamed_model(), cache_dir=tmp_path)
    wide = np.arange(24, dtype=np.float32).reshape(4, 6)
    (y,) = model(wide[:, ::2])
    np.testing.assert_array_equal(y, wide[:, ::2] + 1)
    (y,) = model(wide[:, ::2])  # the fast path with a strided array
    np.testing.assert_array_equal(y, wide[:, ::2] + 1)
    with pytest.raises(InputError, match="input 'x' must have dtype float32, got float64"):
        model([[1.0, 2.0]])
    (y,) = model(np.float32([[1.0, 2.0]]))
    np.testing.assert_array_equal(y, [[2.0, 3.0]])


def test_guard_and_dispatch_cost_on_a_cached_specialisation(tmp_path: Path) -> None:
    """Measures (does not assert) the per-call cost of guard + dispatch; speed is
    checked by ``dynir bench``. Prints microseconds per call."""
    model = compile_tied(tmp_path)
    x, z = inputs(1, 4)
    model(x, z)
    key = ((x.dtype, x.shape), (z.dtype, z.shape))
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        executable = model._dispatch[tuple([(a.dtype, a.shape) for a in (x, z)])]  # noqa: SLF001
    guard_us = (time.perf_counter() - start) / n * 1e6
    assert executable is model._dispatch[key]  # noqa: SLF001
    start = time.perf_counter()
    for _ in range(2000):
        model(x, z)
    call_us = (time.perf_counter() - start) / 2000 * 1e6
    print(f"\nguard + dispatch: {guard_us:.2f} us/call; whole call (1 kernel): {call_us:.1f} us")


def test_the_executable_property_compiles_the_declared_types(tmp_path: Path) -> None:
    model = compile_tied(tmp_path)
    steps = model.executable.steps
    assert [s.kernel_name for s in steps] == [s.kernel_name for s in model.executable.steps]
    assert model.specs == [((None, None, 8), (None, None, 8))]
    assert model.explain().splitlines()[1].endswith(" s: requested")
    run_checked(model, 2, 3)  # covered by the declared-types specialisation
    assert model.stats.as_dict() == {"calls": 1, "compiles": 1, "disk_hits": 0, "cache_hits": 1}
