"""Converters by op family; importing this package registers them all."""

from dynir.importers.onnx.ops import contraction, elementwise, normalization, pooling, reduction, shape  # noqa: F401
