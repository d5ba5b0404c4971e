"""The ``quant`` dialect: integer (8-bit) inference.

Level: ``nn`` (tensors). The ONNX importer produces it from QuantizeLinear,
DequantizeLinear, QLinearConv, QLinearMatMul, MatMulInteger, ConvInteger,
DynamicQuantizeLinear and QLinearAdd; the ``quantize`` pass produces it from float
``nn.matmul``/``nn.gemm``/``nn.conv``. It lowers with the other ``nn`` ops: conversions
are elementwise (they fuse and lower through ``dynir/lowering/scalar.py``), contractions
to i-k-j loops that widen to ``i32`` (``dynir/lowering/families/quant.py``).

Representation: tensors hold plain storage integers (``tensor<?x64xi8>``, ``ui8``,
``i32`` accumulators) and every scale and zero point is an operand (ONNX's QDQ form),
rather than MLIR's ``tensor<?x64x!quant.uniform<i8:f32, 0.1:3>>`` element types. Why:
- ONNX models carry scales as tensors, and some exist only at run time
  (DynamicQuantizeLinear, the ``dynamic`` mode of the ``quantize`` pass, QLinearMatMul
  with scale inputs); a type can only hold compile-time constants.
- The numpy semantics stay one line each on int8/uint8 arrays, the runtime and the
  kernel ABI already pass integer buffers, and the loop lowering reads a scale with one
  ``memref.load`` like any other operand (scalars and per-axis vectors alike, by numpy
  broadcasting), so quantize/dequantize fuse into their neighbours' loops.
The ``!quant.uniform`` types (``types.py``) still name a quantization when it is
constant: ``quant.quantize`` records it as ``qtype``, and reports print it.
"""

from xdsl.ir import Dialect

from dynir.dialects.quant import ops, types
from dynir.dialects.quant.ops import (
    ConvOp,
    DequantizeOp,
    DynamicQuantizeOp,
    GemmOp,
    MatmulOp,
    QuantizeOp,
    RequantizeOp,
)
from dynir.dialects.quant.types import UniformQuantizedType, storage_range, u8

Quant = Dialect("quant", ops.OPS, types.TYPES)

__all__ = [
    "Quant",
    "ConvOp",
    "DequantizeOp",
    "DynamicQuantizeOp",
    "GemmOp",
    "MatmulOp",
    "QuantizeOp",
    "RequantizeOp",
    "UniformQuantizedType",
    "storage_range",
    "u8",
]
