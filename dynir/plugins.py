"""Third-party extensions through the ``dynir.plugins`` entry-point group.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."dynir.plugins"]
    mypkg = "mypkg.dynir_plugin:plugin"

where ``plugin`` is a ``Plugin`` (or a zero-argument callable returning one). Its
dialects are loaded into every dynir context and its passes join the registry, so
``dynir-opt -p my-pass`` finds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points

from xdsl.ir import Dialect
from xdsl.passes import ModulePass

ENTRY_POINT_GROUP = "dynir.plugins"


@dataclass(frozen=True)
class Plugin:
    dialects: list[Dialect] = field(default_factory=list[Dialect])
    passes: dict[str, Callable[[], type[ModulePass]]] = field(
        default_factory=dict[str, Callable[[], type[ModulePass]]]
    )


@cache
def installed_plugins() -> tuple[Plugin, ...]:
    found: list[Plugin] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        plugin = obj() if callable(obj) and not isinstance(obj, Plugin) else obj
        if not isinstance(plugin, Plugin):
            raise TypeError(f"entry point {ep.name!r} of group {ENTRY_POINT_GROUP} is not a dynir Plugin")
        found.append(plugin)
    return tuple(found)


def plugin_dialects() -> list[Dialect]:
    return [d for p in installed_plugins() for d in p.dialects]


def plugin_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return {name: factory for p in installed_plugins() for name, factory in p.passes.items()}
