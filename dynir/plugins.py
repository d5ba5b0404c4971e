"""Third-party extensions through the ``dynir.plugins`` entry-point group.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."dynir.plugins"]
    mypkg = "mypkg.dynir_plugin:plugin"

where ``plugin`` is a ``Plugin`` (or a zero-argument callable returning one). Its
dialects are loaded into every dynir context and its passes join the registry, so
``dynir-opt -p my-pass`` finds them. ``docs/pass-authoring.md`` walks through one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points

from xdsl.ir import Dialect
from xdsl.passes import ModulePass

from dynir.diagnostics import DynirError

ENTRY_POINT_GROUP = "dynir.plugins"


@dataclass(frozen=True)
class Plugin:
    """What a plugin adds: dialects, and passes by pipeline name (lazy class factories)."""

    dialects: list[Dialect] = field(default_factory=list[Dialect])
    passes: dict[str, Callable[[], type[ModulePass]]] = field(
        default_factory=dict[str, Callable[[], type[ModulePass]]]
    )


@cache
def installed_plugins() -> tuple[Plugin, ...]:
    """Every plugin of the installed distributions, loaded once per process."""
    found: list[Plugin] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            plugin = obj() if callable(obj) and not isinstance(obj, Plugin) else obj
        except Exception as error:  # a broken plugin is the user's environment, not a dynir bug
            raise DynirError(f"plugin '{ep.name}' ({ep.value}) failed to load: {type(error).__name__}: {error}") from None
        if not isinstance(plugin, Plugin):
            raise DynirError(f"plugin '{ep.name}' ({ep.value}) is not a dynir.plugins.Plugin")
        found.append(plugin)
    return tuple(found)


def plugin_dialects() -> list[Dialect]:
    return [d for p in installed_plugins() for d in p.dialects]


def plugin_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return {name: factory for p in installed_plugins() for name, factory in p.passes.items()}
