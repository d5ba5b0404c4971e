"""Converters by op family; importing this package registers them all."""

from dynir.importers.onnx.ops import (  # noqa: F401
    contraction,
    elementwise,
    indexing,
    layout,
    normalization,
    pooling,
    quant,
    reduction,
    resize,
    shape,
)
