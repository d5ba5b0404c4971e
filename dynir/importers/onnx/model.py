"""Loading an ONNX model and checking it before conversion: the file decodes, it has a
graph, its opsets are ones dynir reads, every operator has a converter, every value is
defined before use and every graph output is produced.

All checks report through ``OnnxImportError`` with one message of the form
``model.onnx: error: <what>: <why>``; the unsupported-operator check lists every
unsupported operator at once, before anything is converted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnx.defs

from dynir.diagnostics import render
from dynir.importers.onnx.registry import OnnxImportError, lookup

MIN_OPSET = 7
"""The oldest default-domain opset dynir reads."""

MAX_LISTED_NODES = 5
"""The unsupported-operator error names at most this many nodes per operator."""


@dataclass(frozen=True)
class LoadedModel:
    proto: onnx.ModelProto
    file: str | None
    """The path the model came from, as given (None for an in-memory ModelProto)."""
    folder: Path | None
    """Where its external data files may live."""

    def diagnostic(self, message: str) -> str:
        """``model.onnx: error: message`` (``error: message`` without a file)."""
        return render(self.file or "", message)

    def fail(self, message: str) -> OnnxImportError:
        return OnnxImportError(self.diagnostic(message))


def load_model(model: str | os.PathLike[str] | onnx.ModelProto) -> LoadedModel:
    """Decode ``model`` (a path or a ModelProto) without its external data."""
    if isinstance(model, onnx.ModelProto):
        loaded = LoadedModel(model, None, None)
    else:
        path = Path(os.fspath(model))
        loaded = LoadedModel(onnx.ModelProto(), os.fspath(model), path.parent)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise loaded.fail(f"cannot read the file: {e.strerror or e}") from None
        try:
            proto = onnx.load_model_from_string(data)
        except Exception:  # protobuf's DecodeError and friends; their text varies by version
            raise loaded.fail("not an ONNX model, or a truncated or corrupted one (it does not decode)") from None
        loaded = LoadedModel(proto, loaded.file, loaded.folder)
    if not loaded.proto.HasField("graph"):
        raise loaded.fail("not an ONNX model (it has no graph)")
    return loaded


def node_label(node: onnx.NodeProto, index: int) -> str:
    """``node 'Conv_12'``, or ``node #12`` when the node has no name."""
    return f"node '{node.name}'" if node.name else f"node #{index}"


def op_label(node: onnx.NodeProto) -> str:
    """The op type, qualified by its domain outside the default one."""
    domain = normal_domain(node.domain)
    return f"{domain}.{node.op_type}" if domain else node.op_type


def normal_domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


def opsets_of(loaded: LoadedModel) -> dict[str, int]:
    """The opset version of each domain the model imports; checks the default one."""
    opsets: dict[str, int] = {}
    for entry in loaded.proto.opset_import:
        opsets[normal_domain(entry.domain)] = int(entry.version)
    newest = onnx.defs.onnx_opset_version()
    default = opsets.get("")
    if default is not None and not MIN_OPSET <= default <= newest:
        raise loaded.fail(f"opset {default} is not supported (dynir reads opsets {MIN_OPSET} to {newest})")
    return opsets


def check_operators(loaded: LoadedModel, opsets: dict[str, int]) -> None:
    """Raise one error listing every operator (type, opset, nodes) that has no converter."""
    graph = loaded.proto.graph
    for index, node in enumerate(graph.node):
        domain = normal_domain(node.domain)
        if domain not in opsets:
            raise loaded.fail(
                f"{node_label(node, index)} ({op_label(node)}) uses domain '{domain or 'ai.onnx'}', "
                f"which the model does not import (opset_import)"
            )
    missing: dict[tuple[str, int], list[str]] = {}
    for index, node in enumerate(graph.node):
        opset = opsets[normal_domain(node.domain)]
        if lookup(node.op_type, node.domain, opset) is None:
            missing.setdefault((op_label(node), opset), []).append(node_label(node, index).removeprefix("node "))
    if not missing:
        return
    listed = [f"{op} (opset {opset}; {_nodes(names)})" for (op, opset), names in missing.items()]
    count = len(missing)
    raise loaded.fail(
        f"{count} unsupported operator{'s' if count > 1 else ''}: {', '.join(listed)}"
    )


def _nodes(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED_NODES])
    more = len(names) - MAX_LISTED_NODES
    word = "node" if len(names) == 1 else "nodes"
    return f"{word} {shown}" + (f" and {more} more" if more > 0 else "")


def check_values(loaded: LoadedModel, defined: set[str]) -> None:
    """Every node input is defined before use and every graph output is produced.

    ``defined`` holds the graph inputs and initializers."""
    graph = loaded.proto.graph
    producers = {out: i for i, node in enumerate(graph.node) for out in node.output if out}
    known = set(defined)
    for index, node in enumerate(graph.node):
        for name in _used_inputs(node):
            if name in known:
                continue
            where = f"{node_label(node, index)} ({op_label(node)})"
            later = producers.get(name)
            if later is not None and later >= index:
                raise loaded.fail(
                    f"{where} uses '{name}' before {node_label(graph.node[later], later)} "
                    f"defines it (nodes must be in topological order)"
                )
            raise loaded.fail(f"{where} uses '{name}', which no graph input, initializer or node defines")
        known.update(out for out in node.output if out)
    for output in graph.output:
        if output.name not in known:
            raise loaded.fail(f"graph output '{output.name}' is not produced by any node, input or initializer")


def _used_inputs(node: onnx.NodeProto) -> Iterator[str]:
    return (name for name in node.input if name)
