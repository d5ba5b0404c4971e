"""Unary math and activation ``nn`` ops: rounding and sign, the transcendental
functions (``exp``, ``erf``, ``tanh`` ...) and the activations built from them, ``clip``
and ``prelu``.

They share the bases of ``elementwise.py`` (same type in and out, ``ELEMENTS`` checks
the element type), so ``fuse-elementwise`` treats them like any other elementwise op.
Float-only ops reject integer element types.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import FloatAttr, StringAttr
from xdsl.irdl import irdl_op_definition, opt_prop_def

from dynir.dialects.nn.base import NNOp, read_float, read_str
from dynir.dialects.nn.elementwise import BinaryElementwiseOp, ElementKind, UnaryElementwiseOp

SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x) if x.size else x.copy()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows.
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


# ----------------------------------------------------------------------------------
# Rounding, sign, and transcendental math.


@irdl_op_definition
class NegOp(UnaryElementwiseOp):
    """``-x`` (integers wrap around).

    ```mlir
    %y = nn.neg %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.neg"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.NUMERIC

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.negative(x)


@irdl_op_definition
class AbsOp(UnaryElementwiseOp):
    """``|x|``.

    ```mlir
    %y = nn.abs %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.abs"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.NUMERIC

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.abs(x)


@irdl_op_definition
class FloorOp(UnaryElementwiseOp):
    """Round toward minus infinity.

    ```mlir
    %y = nn.floor %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.floor"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.floor(x)


@irdl_op_definition
class CeilOp(UnaryElementwiseOp):
    """Round toward plus infinity.

    ```mlir
    %y = nn.ceil %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.ceil"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.ceil(x)


@irdl_op_definition
class RoundOp(UnaryElementwiseOp):
    """Round to nearest, halves to even (ONNX Round).

    ```mlir
    %y = nn.round %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.round"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.round(x)


@irdl_op_definition
class SignOp(UnaryElementwiseOp):
    """-1, 0 or 1 by the sign of ``x`` (NaN stays NaN).

    ```mlir
    %y = nn.sign %x : (tensor<?x8xi32>) -> tensor<?x8xi32>
    ```
    """

    name = "nn.sign"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.NUMERIC

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.sign(x)


@irdl_op_definition
class ExpOp(UnaryElementwiseOp):
    """``e ** x``.

    ```mlir
    %y = nn.exp %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.exp"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.exp(x)


@irdl_op_definition
class LogOp(UnaryElementwiseOp):
    """Natural logarithm (``-inf`` at 0, NaN below 0).

    ```mlir
    %y = nn.log %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.log"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.log(x)


@irdl_op_definition
class SqrtOp(UnaryElementwiseOp):
    """Square root (NaN below 0).

    ```mlir
    %y = nn.sqrt %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.sqrt"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(x)


@irdl_op_definition
class ReciprocalOp(UnaryElementwiseOp):
    """``1 / x``.

    ```mlir
    %y = nn.reciprocal %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.reciprocal"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.reciprocal(x)


@irdl_op_definition
class ErfOp(UnaryElementwiseOp):
    """The Gauss error function.

    ```mlir
    %y = nn.erf %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.erf"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return _erf(x)


@irdl_op_definition
class SinOp(UnaryElementwiseOp):
    """Sine (radians).

    ```mlir
    %y = nn.sin %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.sin"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.sin(x)


@irdl_op_definition
class CosOp(UnaryElementwiseOp):
    """Cosine (radians).

    ```mlir
    %y = nn.cos %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.cos"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.cos(x)


@irdl_op_definition
class TanhOp(UnaryElementwiseOp):
    """Hyperbolic tangent.

    ```mlir
    %y = nn.tanh %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.tanh"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)


@irdl_op_definition
class SigmoidOp(UnaryElementwiseOp):
    """``1 / (1 + exp(-x))``, without overflow for large ``|x|``.

    ```mlir
    %y = nn.sigmoid %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.sigmoid"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return _sigmoid(x)


@irdl_op_definition
class SiluOp(UnaryElementwiseOp):
    """``x * sigmoid(x)`` (swish).

    ```mlir
    %y = nn.silu %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.silu"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return x * _sigmoid(x)


@irdl_op_definition
class HardSwishOp(UnaryElementwiseOp):
    """``x * max(0, min(1, x / 6 + 1 / 2))``.

    ```mlir
    %y = nn.hard_swish %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.hard_swish"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return x * np.clip(x / 6 + 0.5, 0, 1)


@irdl_op_definition
class SoftplusOp(UnaryElementwiseOp):
    """``log(1 + exp(x))``, without overflow.

    ```mlir
    %y = nn.softplus %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.softplus"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.logaddexp(np.zeros((), x.dtype), x)


@irdl_op_definition
class SoftsignOp(UnaryElementwiseOp):
    """``x / (1 + |x|)``.

    ```mlir
    %y = nn.softsign %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.softsign"
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return x / (1 + np.abs(x))


# ----------------------------------------------------------------------------------
# Activations with properties.


@irdl_op_definition
class LeakyReluOp(UnaryElementwiseOp):
    """``x`` for ``x >= 0``, else ``alpha * x`` (``alpha`` defaults to 0.01).

    ```mlir
    %y = nn.leaky_relu %x {alpha = 1.000000e-01 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.leaky_relu"
    alpha = opt_prop_def(FloatAttr)
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.where(x >= 0, x, x * read_float(self.alpha, 0.01))


@irdl_op_definition
class GeluOp(UnaryElementwiseOp):
    """``x * Phi(x)``; ``approximate = "tanh"`` uses the tanh formula (ONNX Gelu).

    ```mlir
    %y = nn.gelu %x {approximate = "tanh"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.gelu"
    approximate = opt_prop_def(StringAttr)
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def check_properties(self) -> None:
        mode = read_str(self.approximate, "none")
        if mode not in ("none", "tanh"):
            raise ValueError(f"approximate must be \"none\" or \"tanh\", got \"{mode}\"")

    def compute(self, x: np.ndarray) -> np.ndarray:
        if read_str(self.approximate, "none") == "tanh":
            inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
            return 0.5 * x * (1 + np.tanh(inner))
        return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


@irdl_op_definition
class HardSigmoidOp(UnaryElementwiseOp):
    """``max(0, min(1, alpha * x + beta))`` (defaults 0.2 and 0.5).

    ```mlir
    %y = nn.hard_sigmoid %x {alpha = 2.000000e-01 : f64, beta = 5.000000e-01 : f64} : (tensor<8xf32>) -> tensor<8xf32>
    ```
    """

    name = "nn.hard_sigmoid"
    alpha = opt_prop_def(FloatAttr)
    beta = opt_prop_def(FloatAttr)
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        alpha, beta = read_float(self.alpha, 0.2), read_float(self.beta, 0.5)
        return np.clip(x * x.dtype.type(alpha) + x.dtype.type(beta), 0, 1)


@irdl_op_definition
class EluOp(UnaryElementwiseOp):
    """``x`` for ``x >= 0``, else ``alpha * (exp(x) - 1)`` (``alpha`` defaults to 1).

    ```mlir
    %y = nn.elu %x {alpha = 1.000000e+00 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.elu"
    alpha = opt_prop_def(FloatAttr)
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.where(x >= 0, x, read_float(self.alpha, 1.0) * np.expm1(np.minimum(x, 0)))


@irdl_op_definition
class SeluOp(UnaryElementwiseOp):
    """``gamma * x`` for ``x > 0``, else ``gamma * alpha * (exp(x) - 1)`` (ONNX defaults).

    ```mlir
    %y = nn.selu %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.selu"
    alpha = opt_prop_def(FloatAttr)
    gamma = opt_prop_def(FloatAttr)
    ELEMENTS: ClassVar[ElementKind] = ElementKind.FLOAT

    def compute(self, x: np.ndarray) -> np.ndarray:
        alpha, gamma = read_float(self.alpha, SELU_ALPHA), read_float(self.gamma, SELU_GAMMA)
        return gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


@irdl_op_definition
class ClipOp(UnaryElementwiseOp):
    """``min(max(x, min), max)``; a missing bound does not clip.

    ```mlir
    %y = nn.clip %x {min = 0.000000e+00 : f64, max = 6.000000e+00 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
    """

    name = "nn.clip"
    min = opt_prop_def(FloatAttr)
    max = opt_prop_def(FloatAttr)
    ELEMENTS: ClassVar[ElementKind] = ElementKind.NUMERIC

    def compute(self, x: np.ndarray) -> np.ndarray:
        if self.min is not None:
            x = np.maximum(x, np.asarray(read_float(self.min)).astype(x.dtype))
        if self.max is not None:
            x = np.minimum(x, np.asarray(read_float(self.max)).astype(x.dtype))
        return x


@irdl_op_definition
class PreluOp(BinaryElementwiseOp):
    """``x`` for ``x >= 0``, else ``slope * x``; ``slope`` broadcasts against ``x``.

    ```mlir
    %y = nn.prelu %x, %slope : (tensor<?x8x4x4xf32>, tensor<8x1x1xf32>) -> tensor<?x8x4x4xf32>
    ```
    """

    name = "nn.prelu"

    def compute(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.where(x < 0, x * y, x)


OPS: list[type[NNOp]] = [
    NegOp, AbsOp, FloorOp, CeilOp, RoundOp, SignOp, ExpOp, LogOp, SqrtOp, ReciprocalOp,
    ErfOp, SinOp, CosOp, TanhOp, SigmoidOp, SiluOp, HardSwishOp, SoftplusOp, SoftsignOp,
    LeakyReluOp, GeluOp, HardSigmoidOp, EluOp, SeluOp, ClipOp, PreluOp,
]  # fmt: skip
