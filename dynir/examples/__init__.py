"""Bundled example programs: ``dynir-opt example:conv_block`` reads ``conv_block.mlir``.

``names()`` lists them; ``path(name)`` is the file of one (``.mlir`` may be left out).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from dynir.diagnostics import DynirError, close_names


def names() -> list[str]:
    """Every bundled example, without its suffix."""
    folder = resources.files(__name__)
    return sorted(Path(entry.name).stem for entry in folder.iterdir() if entry.name.endswith((".mlir", ".onnx")))


def path(name: str) -> Path:
    """The file of example ``name`` (``conv_block`` or ``conv_block.mlir``)."""
    folder = Path(str(resources.files(__name__)))
    for candidate in (folder / name, folder / f"{name}.mlir", folder / f"{name}.onnx"):
        if candidate.is_file() and candidate.suffix in (".mlir", ".onnx"):
            return candidate
    available = ", ".join(names()) or "none"
    raise DynirError(f"no bundled example '{name}'{close_names(name, names())} (available: {available})")
