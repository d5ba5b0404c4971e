"""``ModelSpec``: what ``dynir bench``/``dynir demo`` and the tests need to know about one
generated model, and ``save`` to write a model to disk.

A spec binds a generator's size options (``resnet_tiny`` is ``resnet.build`` with widths
divided by 8), says how to make random inputs for it, and estimates its FLOPs::

    spec = MODELS["bert_tiny"]
    model = spec.build(seed=0)
    feeds = spec.inputs(seed=1, seq=48)        # {"hidden": ..., "attention_mask": ...}
    spec.flops(model, seq=48)                  # multiply-adds count as 2
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import onnx

from dynir.models.flops import count_flops


class ModelBuilder(Protocol):
    def __call__(self, *, seed: int = 0, opset: int = 17) -> onnx.ModelProto: ...


ConfigT = TypeVar("ConfigT")

InputMaker = Callable[[int, Mapping[str, int]], dict[str, np.ndarray]]
"""``(seed, dims) -> {input name: array}``; ``dims`` gives every symbolic dimension."""


@dataclass(frozen=True)
class ModelSpec:
    """One entry of ``dynir.models.MODELS``."""

    name: str
    build: ModelBuilder
    make_inputs: InputMaker
    description: str
    dims: Mapping[str, int] = field(default_factory=dict[str, int])
    """Default sizes of the model's symbolic dimensions (``batch``, ``seq``)."""

    def inputs(self, seed: int = 0, **dims: int) -> dict[str, np.ndarray]:
        """Random inputs in graph-input order; ``dims`` overrides the default sizes."""
        return self.make_inputs(seed, self.resolve_dims(dims))

    def flops(self, model: onnx.ModelProto | None = None, **dims: int) -> int:
        """Estimated FLOPs of one run at ``dims`` (builds the model when not given)."""
        return count_flops(model if model is not None else self.build(), self.resolve_dims(dims))

    def resolve_dims(self, dims: Mapping[str, int]) -> dict[str, int]:
        unknown = sorted(set(dims) - set(self.dims))
        if unknown:
            raise ValueError(f"model '{self.name}' has no dimension {unknown[0]!r} (has {sorted(self.dims)})")
        return {**self.dims, **dims}


def save(model: onnx.ModelProto, path: str | Path) -> Path:
    """Write ``model`` to ``path`` as one ``.onnx`` file (weights inline); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path


def make_config(config_class: type[ConfigT], size_options: Mapping[str, object]) -> ConfigT:
    """``config_class(**size_options)``; an unknown option is a ``ValueError`` naming the
    options the generator has."""
    allowed = {f.name for f in fields(config_class)}  # type: ignore[arg-type]
    unknown = sorted(set(size_options) - allowed)
    if unknown:
        raise ValueError(
            f"{config_class.__name__}: unknown size option {unknown[0]!r} (options: {', '.join(sorted(allowed))})"
        )
    return config_class(**size_options)
