"""dynir's passes, one per file; ``PASSES`` maps each flag name to its class.

A pass is an xDSL ``ModulePass`` (a frozen dataclass whose fields are its options).
Add a pass by writing ``passes/<name>.py`` and one line here; plugins add theirs
through the ``dynir.plugins`` entry points (see ``dynir/plugins.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass


def _lazy(module: str, cls: str) -> Callable[[], type[ModulePass]]:
    def load() -> type[ModulePass]:
        import importlib

        return getattr(importlib.import_module(f"dynir.passes.{module}"), cls)

    return load


PASSES: dict[str, Callable[[], type[ModulePass]]] = {
}
"""dynir's own passes by flag name (``fuse-elementwise`` -> ``FuseElementwisePass``)."""
