"""The pass registry and dynir's named pipelines, top to bottom.

``pass_registry()`` is every pass a pipeline string may name: xDSL's, dynir's
(``dynir.passes.PASSES``) and plugins'. ``NAMED_PIPELINES`` are the flags of
``dynir-opt`` (``--fuse`` ...): each is a textual pipeline, listed in the order a full
compilation runs them, with the reason it sits there. ``build_pipeline`` turns a
pipeline string into pass instances, or a ``DynirError`` that names the unknown pass
(with close names) or the bad option (with the type it expects).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import get_type_hints

from xdsl.passes import ModulePass, get_pass_option_infos
from xdsl.universe import Universe
from xdsl.utils.arg_spec import ArgSpec, parse_pipeline
from xdsl.utils.exceptions import ArgSpecParseError

from dynir.diagnostics import DynirError, close_names

PassFactory = Callable[[], type[ModulePass]]

FUSION_PIPELINE = ",".join(
    [
        "canonicalize",  # fold constants and dead ops first: fewer, simpler candidates
        "cse",  # one op per repeated computation (Q/K/V's three quantizations of one input)
        "fold-batchnorm",  # before any grouping: the batch_norm vanishes into conv/gemm weights
        "fuse-horizontal",  # before epilogues: the merged matmul takes the merged bias add
        "fuse-epilogue",  # contractions claim their elementwise consumers first (applied at the store)
        "fuse-reduction",  # then reductions take their cheap producers and their consumers
        "fuse-elementwise",  # what is left: elementwise/view trees, one loop nest each
    ]
)
"""``dynir-opt --fuse`` and ``dynir.compile(fuse=True)``: the fusion passes in their
fixed order (each comment says why a pass sits where it does)."""

NAMED_PIPELINES: dict[str, tuple[str, str]] = {
    # flag: (pipeline, what it is for). Only pipelines whose passes exist are listed;
    # each becomes a ``dynir-opt --<flag>`` applied in command-line order.
    "fuse": (
        FUSION_PIPELINE,
        "form fusion groups: canonicalize, cse, fold batch_norm into conv/gemm, merge sibling matmuls, "
        "then contraction epilogues, reductions with their producers/consumers, elementwise trees",
    ),
    "lower-to-loops": ("lower-to-loops", "turn every fusion group (or lone nn op) into one scf/memref/arith/math kernel"),
    "quantize": ("quantize", "int8 matmul/gemm/conv with constant weights (dynamic activation scales; see passes/quantize.py)"),
}


def pass_registry() -> dict[str, PassFactory]:
    """Every registered pass by name: xDSL's, then dynir's, then plugins'."""
    from dynir.passes import PASSES
    from dynir.plugins import plugin_passes

    registry: dict[str, PassFactory] = dict(Universe.get_multiverse().all_passes)
    registry.update(PASSES)
    for name, factory in plugin_passes().items():
        if name in registry:
            raise DynirError(f"plugin pass '{name}' clashes with a registered pass of the same name")
        registry[name] = factory
    return registry


def build_pipeline(spec: str, registry: Mapping[str, PassFactory] | None = None) -> list[ModulePass]:
    """The passes of the textual pipeline ``spec`` (``"a,b{opt=1}"``)."""
    registry = pass_registry() if registry is None else registry
    try:
        specs = list(parse_pipeline(spec))
    except ArgSpecParseError as error:
        raise DynirError(f"bad pass pipeline '{spec}':\n{str(error).partition(chr(10))[2]}") from None
    return [_instantiate(s, registry) for s in specs]


def pass_spec_text(p: ModulePass) -> str:
    """``p`` as it would be written in a pipeline string, options included."""
    return str(p.spec())


def _instantiate(spec: ArgSpec, registry: Mapping[str, PassFactory]) -> ModulePass:
    if spec.name not in registry:
        raise DynirError(f"unknown pass '{spec.name}'{close_names(spec.name, list(registry))}")
    cls = registry[spec.name]()
    try:
        return cls.from_spec(spec)
    except (ValueError, TypeError) as error:
        raise DynirError(_explain_bad_options(cls, spec) or f"pass '{spec.name}': {error}") from None


def _explain_bad_options(cls: type[ModulePass], spec: ArgSpec) -> str | None:
    """Which option of ``spec`` is wrong, and what it expects."""
    from xdsl.utils.arg_spec import _convert_arg_to_type  # pyright: ignore[reportPrivateUsage]

    infos = {info.name: info for info in get_pass_option_infos(cls)}
    described = ", ".join(f"{n.replace('_', '-')}: {i.expected_type}" for n, i in infos.items()) or "none"
    hints = get_type_hints(cls)
    given = spec.normalize_parameter_names().parameters
    for name, value in given.items():
        option = name.replace("_", "-")
        if name not in infos:
            return f"pass '{spec.name}' has no option '{option}' (its options: {described})"
        try:
            _convert_arg_to_type(value, hints[name])
        except ValueError:
            shown = ",".join(str(v) for v in value) or "<nothing>"
            return f"option '{option}' of pass '{spec.name}' expects {infos[name].expected_type}, got '{shown}'"
    missing = [f.name for f in dataclasses.fields(cls) if f.name in cls.required_fields() and f.name not in given]
    if missing:
        return f"pass '{spec.name}' requires option '{missing[0].replace('_', '-')}' ({infos[missing[0]].expected_type})"
    return None


# ----------------------------------------------------------------------------------
# The compilation pipeline of ``dynir.compile``, top to bottom.


def compile_pipeline(*, fuse: bool) -> str:
    """The textual pipeline ``dynir.compile`` runs on an imported ``nn`` module."""
    stages: list[str] = []
    # Quantized graphs (after ``quantize``, or imported QDQ models) move int8 data:
    # dequantize/quantize pairs around views, pools, relu and concat fold away before
    # fusion decides the kernels (a float model has none: the pass does nothing).
    stages.append("fold-qdq")
    # Then the float conv/matmul/gemm between those dequantizes and quantizes compute in
    # int8 (QLinearConv semantics), so int8 flows from layer to layer; before fusion, so
    # the epilogue groups form around the new integer ops.
    stages.append("qdq-to-int8")
    if fuse:
        # The fusion passes form the groups that become one kernel each.
        stages.append(FUSION_PIPELINE)
    # Constant matmul/gemm weights go to the micro-kernel's panel layout once, here:
    # after fusion (the groups are final), before the kernels that read the panels.
    stages.append("prepack-weights")
    # Every group (and every op left alone) becomes one loop-nest kernel.
    stages.append("lower-to-loops")
    return ",".join(stages)
