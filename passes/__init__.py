"""dynir's passes, one per file; ``PASSES`` maps each flag name to its class.

A pass is an xDSL ``ModulePass`` (a frozen dataclass whose fields are its options).
Add a pass by writing ``passes/<name>.py`` and one line in ``PASSES``; code outside
dynir calls ``register_pass`` (in-process) or ships a plugin through the
``dynir.plugins`` entry points (see ``dynir/plugins.py`` and ``docs/pass-authoring.md``).
``dynir.pipeline.pass_registry()`` joins these with xDSL's passes.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass


def _lazy(module: str, cls: str) -> Callable[[], type[ModulePass]]:
    def load() -> type[ModulePass]:
        import importlib

        pass_class: type[ModulePass] = getattr(importlib.import_module(f"dynir.passes.{module}"), cls)
        return pass_class

    return load


PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "lower-to-loops": _lazy("lower_to_loops", "LowerToLoopsPass"),
    "quantize": _lazy("quantize", "QuantizePass"),
    "fold-batchnorm": _lazy("fold_batchnorm", "FoldBatchnormPass"),
    "fold-qdq": _lazy("fold_qdq", "FoldQdqPass"),
    "qdq-to-int8": _lazy("qdq_to_int8", "QdqToInt8Pass"),
    "fuse-horizontal": _lazy("fuse_horizontal", "FuseHorizontalPass"),
    "fuse-epilogue": _lazy("fuse_epilogue", "FuseEpiloguePass"),
    "fuse-reduction": _lazy("fuse_reduction", "FuseReductionPass"),
    "fuse-elementwise": _lazy("fuse_elementwise", "FuseElementwisePass"),
    "prepack-weights": _lazy("prepack_weights", "PrepackWeightsPass"),
}
"""dynir's own passes by flag name (``fuse-elementwise`` -> ``FuseElementwisePass``)."""


def register_pass(pass_class: type[ModulePass]) -> type[ModulePass]:
    """Register ``pass_class`` under its ``name`` for this process; usable as a decorator.

    Raises ``ValueError`` when the name is taken: passes are never silently replaced.
    """
    if pass_class.name in PASSES:
        raise ValueError(f"a pass named '{pass_class.name}' is already registered")
    PASSES[pass_class.name] = lambda: pass_class
    return pass_class


def unregister_pass(name: str) -> None:
    """Remove an in-process registration (tests use it to clean up)."""
    PASSES.pop(name, None)
