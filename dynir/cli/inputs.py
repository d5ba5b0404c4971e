"""Random inputs for a compiled model (``dynir run``, ``dynir bench``): fixed seed,
dynamic dims sized by name (``--dim seq=128``) or 1."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from dynir.diagnostics import DynirError


def parse_dims(items: Sequence[str]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for item in items:
        name, sep, size = item.partition("=")
        if not sep or not size.isdigit():
            raise DynirError(f"--dim expects NAME=SIZE, got '{item}'")
        dims[name] = int(size)
    return dims


def random_inputs(model: object, dims: Mapping[str, int], *, seed: int = 0) -> dict[str, np.ndarray]:
    """One random array per model input; floats ~ N(0, 1), integers in [0, 10)."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for spec in model.inputs:  # type: ignore[attr-defined]
        names = getattr(spec, "dim_names", ()) or ("",) * len(spec.shape)
        shape = tuple(d if d is not None else dims.get(n, 1) for d, n in zip(spec.shape, names))
        if spec.dtype.kind == "f":
            feeds[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
        elif spec.dtype.kind in "iu":
            feeds[spec.name] = rng.integers(0, 10, size=shape).astype(spec.dtype)
        elif spec.dtype.kind == "b":
            feeds[spec.name] = rng.random(shape) < 0.5
        else:
            raise DynirError(f"cannot make random values for input '{spec.name}' of dtype {spec.dtype}")
    return feeds
