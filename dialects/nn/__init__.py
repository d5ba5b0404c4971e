"""The ``nn`` dialect: tensor-level ops at the level of ONNX/TOSA.

Level: the top of dynir. The ONNX importer and the builder API produce it; the fusion
passes group it (``fusion.group``); bufferization and the loop lowering take it to
``memref``/``scf``/``arith``/``math``. Ops carry shape inference and numpy reference
semantics (see ``base.py``). One module per op family; ``NN`` collects them.
"""

from xdsl.ir import Dialect

from dynir.dialects.nn import (
    activation,
    constant,
    contraction,
    elementwise,
    indexing,
    layout,
    normalization,
    packed,
    pooling,
    reduction,
    resize,
    shape,
)
from dynir.dialects.nn.base import DIM_NAMES, NNOp

ALL_OPS = [
    *constant.OPS,
    *elementwise.OPS,
    *activation.OPS,
    *reduction.OPS,
    *normalization.OPS,
    *contraction.OPS,
    *packed.OPS,
    *pooling.OPS,
    *resize.OPS,
    *shape.OPS,
    *layout.OPS,
    *indexing.OPS,
]

NN = Dialect("nn", ALL_OPS, [])

__all__ = ["NN", "NNOp", "ALL_OPS", "DIM_NAMES"]
