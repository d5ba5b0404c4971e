"""``CompiledModel``: what ``dynir.compile`` returns, a guarded set of specialisations.

``model(*arrays)`` returns a list of numpy arrays in the graph's output order;
``model.run({"name": array})`` takes and returns names. Every call is guarded on its
inputs' dtypes and shapes:

1. fast path: one dict lookup on ``((dtype, shape), ...)``; a hit runs the specialisation
   that served those shapes before;
2. slow path: the full check (count, dtype, rank, static dims, tied dims, declared
   bounds, each error naming the input), then the most specific compiled specialisation
   that covers the call, else a new one chosen by the policy (``specialize.SpecPolicy``),
   compiled or loaded from the disk cache, and recorded in the ledger with the guard that
   failed. Past ``recompile_limit`` specialisations the model falls back to the most
   generic one and warns once, naming the dim that keeps changing.

``model.stats`` counts calls, compiles, disk hits and in-memory hits; ``model.explain()``
returns the ledger as text.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from dynir.ir.types import format_shape
from dynir.runtime.executable import Executable
from dynir.runtime.profile import Profile, profile_executable
from dynir.runtime.ledger import GuardFailure, Ledger, Reason, RuntimeStats, Source
from dynir.runtime.specialize import (
    DynamicOption,
    InputError,
    ModelInput,
    Spec,
    SpecPolicy,
    build_symbols,
    covers,
    static_dims,
)

__all__ = ["CompiledModel", "InputError", "InputSpec", "RecompileWarning", "Built", "Builder"]

DISPATCH_LIMIT = 65536
"""Distinct call shapes remembered by the fast path before it starts over."""

InputSpec = ModelInput


class RecompileWarning(UserWarning):
    """A model reached its recompile limit."""


@dataclass(frozen=True)
class Built:
    """A specialisation as the builder returns it."""

    executable: Executable
    source: Source
    key: str
    seconds: float


Builder = Callable[[Spec, str], Built]
"""``(spec, description) -> Built``: compiles (or loads) one specialisation."""


@dataclass(frozen=True)
class Specialisation:
    spec: Spec
    executable: Executable
    key: str


ShapeKey = tuple[tuple[np.dtype, tuple[int, ...]], ...]


class CompiledModel:
    def __init__(
        self,
        module: ModuleOp,
        inputs: Sequence[ModelInput],
        output_names: Sequence[str],
        build: Builder,
        *,
        dynamic: DynamicOption = None,
        recompile_limit: int | None = 8,
        threads: int = 1,
    ) -> None:
        self.module = module
        self.threads = threads
        """Threads the partitioned kernels run on (``dynir.compile(threads=)``)."""
        self.inputs = list(inputs)
        self.output_names = list(output_names)
        self.symbols = build_symbols(self.inputs, dynamic)
        self.policy = SpecPolicy(self.symbols, dynamic)
        self.recompile_limit = recompile_limit
        self.ledger = Ledger()
        self._build = build
        self._lock = threading.RLock()
        self._dispatch: dict[ShapeKey, Executable] = {}
        self._specialisations: list[Specialisation] = []
        self._calls = 0
        self._building_calls = 0
        self._warned = False

    # calls -------------------------------------------------------------------------------
    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        try:
            executable = self._dispatch[tuple([(a.dtype, a.shape) for a in arrays])]
        except (KeyError, AttributeError):
            return self._call_slow(arrays)
        self._calls += 1
        return executable.run(arrays)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [i.name for i in self.inputs if i.name not in feeds]
        if missing:
            raise InputError(f"missing input(s): {', '.join(missing)}")
        unknown = sorted(set(feeds) - {i.name for i in self.inputs})
        if unknown:
            raise InputError(f"unknown input(s): {', '.join(unknown)}; the model takes {self._signature()}")
        outputs = self(*[feeds[i.name] for i in self.inputs])
        return dict(zip(self.output_names, outputs))

    def profile(self, *arrays: np.ndarray, runs: int = 10) -> Profile:
        """Per-kernel times of ``runs`` calls on ``arrays`` (see ``dynir.runtime.profile``);
        compiles first if these shapes need a new specialisation."""
        self(*arrays)
        checked = self.check_inputs(arrays)
        executable = self._dispatch[tuple([(a.dtype, a.shape) for a in checked])]
        return profile_executable(executable, checked, runs=runs)

    def _call_slow(self, arrays: Sequence[object]) -> list[np.ndarray]:
        checked = self.check_inputs(arrays)
        shapes = [a.shape for a in checked]
        values = self.symbols.values(shapes)
        with self._lock:
            specialisation = self._covering(shapes)
            if specialisation is None:
                specialisation = self._specialise_call(values, shapes)
                self._building_calls += 1
            if len(self._dispatch) >= DISPATCH_LIMIT:
                self._dispatch.clear()
            self._dispatch[tuple([(a.dtype, a.shape) for a in checked])] = specialisation.executable
            self._calls += 1
        return specialisation.executable.run(checked)

    def check_inputs(self, arrays: Sequence[object]) -> list[np.ndarray]:
        """The inputs as arrays, checked for count, dtype, rank and static dims."""
        if len(arrays) != len(self.inputs):
            raise InputError(f"expected {len(self.inputs)} inputs ({self._signature()}), got {len(arrays)}")
        checked: list[np.ndarray] = []
        for spec, value in zip(self.inputs, arrays):
            array = np.asarray(value)
            if array.dtype != spec.dtype:
                raise InputError(f"input '{spec.name}' must have dtype {spec.dtype}, got {array.dtype}")
            if array.ndim != len(spec.shape):
                raise InputError(
                    f"input '{spec.name}' must have rank {len(spec.shape)} ({format_shape(spec.shape)}), "
                    f"got shape {array.shape}"
                )
            for axis, (want, got) in enumerate(zip(spec.shape, array.shape)):
                if want is not None and want != got:
                    raise InputError(
                        f"input '{spec.name}' dim {axis} must be {want} ({format_shape(spec.shape)}), "
                        f"got shape {array.shape}"
                    )
            checked.append(array)
        return checked

    # specialisations ---------------------------------------------------------------------
    def _covering(self, shapes: Sequence[tuple[int, ...]]) -> Specialisation | None:
        best: Specialisation | None = None
        for s in self._specialisations:
            if covers(s.spec, shapes) and (best is None or static_dims(s.spec) > static_dims(best.spec)):
                best = s
        return best

    def _specialise_call(self, values: Sequence[int], shapes: Sequence[tuple[int, ...]]) -> Specialisation:
        failures = self._closest_failures(shapes)
        reason: Reason = "guard" if self._specialisations else "first call"
        limit = self.recompile_limit
        if limit is not None and len(self._specialisations) >= limit:
            spec = self.policy.generic()
            existing = next((s for s in self._specialisations if s.spec == spec), None)
            specialisation = existing or self._add(spec, "recompile limit", failures)
            self._warn_limit(failures)
            return specialisation
        return self._add(self.policy.choose(values), reason, failures)

    def _closest_failures(self, shapes: Sequence[tuple[int, ...]]) -> list[GuardFailure]:
        candidates = [self.symbols.failures(s.spec, shapes) for s in self._specialisations]
        return min(candidates, key=len) if candidates else []

    def _add(self, spec: Spec, reason: Reason, failures: list[GuardFailure]) -> Specialisation:
        for existing in self._specialisations:
            if existing.spec == spec:
                return existing
        built = self._build(spec, self.symbols.describe_spec(spec))
        self.ledger.add(reason, failures, self.symbols.describe_spec(spec), built.source, built.seconds, built.key)
        specialisation = Specialisation(spec, built.executable, built.key)
        self._specialisations.append(specialisation)
        return specialisation

    def _warn_limit(self, failures: list[GuardFailure]) -> None:
        if self._warned:
            return
        self._warned = True
        dim = self.ledger.most_changing_dim() or (failures[0].describe() if failures else "an input dim")
        warnings.warn(
            f"dynir: recompile limit ({self.recompile_limit}) reached; using the most generic specialisation "
            f"from now on ({dim} keeps changing)",
            RecompileWarning,
            stacklevel=4,
        )

    def specialise(self, spec: Spec) -> Executable:
        """The executable of ``spec`` (one shape per input, ``None`` = symbolic), built if new."""
        if len(spec) != len(self.inputs) or any(len(s) != len(i.shape) for s, i in zip(spec, self.inputs)):
            raise InputError(f"a specialisation needs one shape per input ({self._signature()})")
        with self._lock:
            return self._add(tuple(tuple(s) for s in spec), "requested", []).executable

    @property
    def executable(self) -> Executable:
        """The specialisation for the model's declared types (dynamic dims symbolic)."""
        return self.specialise(tuple(i.shape for i in self.inputs))

    @property
    def specs(self) -> list[Spec]:
        return [s.spec for s in self._specialisations]

    # reporting ---------------------------------------------------------------------------
    @property
    def stats(self) -> RuntimeStats:
        return RuntimeStats(
            calls=self._calls,
            compiles=self.ledger.compiles,
            disk_hits=self.ledger.disk_hits,
            cache_hits=self._calls - self._building_calls,
        )

    def explain(self) -> str:
        """The recompile ledger: why each specialisation was made (see ``ledger.py``)."""
        return self.ledger.explain(self.stats)

    def _signature(self) -> str:
        return ", ".join(f"{i.name}: {format_shape(i.shape)} {i.dtype}" for i in self.inputs)

    def __repr__(self) -> str:
        return f"CompiledModel({self._signature()} -> {', '.join(self.output_names)})"

