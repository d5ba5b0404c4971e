"""The pass registry and dynir's named pipelines, top to bottom.

``pass_registry()`` is every pass a pipeline string may name: xDSL's, dynir's
(``dynir.passes.PASSES``) and plugins'. ``NAMED_PIPELINES`` are the flags of
``dynir-opt`` (``--fuse`` ...): each is a textual pipeline, listed in the order a full
compilation runs them, with the reason it sits there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from xdsl.passes import ModulePass
from xdsl.universe import Universe


@cache
def pass_registry() -> dict[str, Callable[[], type[ModulePass]]]:
    from dynir.passes import PASSES
    from dynir.plugins import plugin_passes

    registry: dict[str, Callable[[], type[ModulePass]]] = dict(Universe.get_multiverse().all_passes)
    registry.update(PASSES)
    registry.update(plugin_passes())
    return registry


NAMED_PIPELINES: dict[str, tuple[str, str]] = {
    # flag: (pipeline, what it is for). Only pipelines whose passes exist are listed.
}
