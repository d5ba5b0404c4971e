"""The ONNX importer: ``import_onnx(model) -> ModuleOp`` with one ``func.func @main``.

Converters for each operator family live in ``ops/`` and register through
``registry.py``; the graph walk is ``graph.py``; loading and model-level checks are
``model.py``; reading tensor data (external files included) is ``tensors.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import onnx
from xdsl.dialects.builtin import ModuleOp

from dynir.importers.onnx.graph import GraphImporter
from dynir.importers.onnx.model import load_model
from dynir.importers.onnx.registry import NodeContext, OnnxImportError, converter, lookup

if TYPE_CHECKING:
    from dynir.preprocess import Preprocess


def import_onnx(
    model: str | os.PathLike[str] | onnx.ModelProto,
    *,
    known_inputs: Mapping[str, np.ndarray] | None = None,
    preprocess: Preprocess | None = None,
) -> ModuleOp:
    """Convert an ONNX model (a path or a ``ModelProto``) into ``func.func @main``.

    Its arguments are the graph inputs that are not initializers, in order, except those
    ``known_inputs`` pins to values (they become constants); its results are the graph
    outputs, in order. ``preprocess`` inserts raw-input preprocessing in front of the
    first argument. Raises ``OnnxImportError`` (one message, no traceback) when the model
    cannot be imported.
    """
    module = GraphImporter(load_model(model), known_inputs).run()
    if preprocess is not None:
        preprocess.apply(module)
    return module


__all__ = ["import_onnx", "OnnxImportError", "NodeContext", "converter", "lookup"]
