"""How ``dynir-opt`` prints IR: like ``dynir.ir.text.print_ir`` (the ``dialect_resources``
section of ``dense_resource`` blobs included, so ``dynir import m.onnx | dynir-opt`` keeps
the weights), plus the display options of the command line.

``--elide-constants N`` prints every dense constant with more than ``N`` elements as
MLIR's placeholder, for reading only (the output no longer holds the data)::

    %w = nn.constant {value = dense_resource<__elided__> : tensor<64x3x7x7xf32>} : tensor<64x3x7x7xf32>
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass

from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, DenseResourceAttr, ModuleOp, TensorType
from xdsl.ir import Attribute, Dialect
from xdsl.printer import Printer

ELIDED = "dense_resource<__elided__>"


class ElidingPrinter(Printer):
    """A printer that shows dense constants above a size as ``dense_resource<__elided__>``."""

    elide_above: int | None = None

    def print_attribute(self, attribute: Attribute) -> None:
        if self.elide_above is not None and isinstance(attribute, DenseIntOrFPElementsAttr | DenseResourceAttr):
            t = attribute.get_type()
            if isinstance(t, TensorType) and math.prod(t.get_shape()) > self.elide_above:
                self.print_string(f"{ELIDED} : ")
                super().print_attribute(t)
                return
        super().print_attribute(attribute)


@dataclass(frozen=True)
class PrintOptions:
    elide_above: int | None = None
    generic: bool = False
    debuginfo: bool = False


def print_module(module: ModuleOp, dialects: Iterable[Dialect], options: PrintOptions = PrintOptions()) -> str:
    """``module`` as MLIR text followed by its resource blobs."""
    stream = io.StringIO()
    printer = ElidingPrinter(stream=stream, print_generic_format=options.generic, print_debuginfo=options.debuginfo)
    printer.elide_above = options.elide_above
    printer.print_op(module)
    printer.print_metadata(dialects)
    stream.write("\n")
    return stream.getvalue()
