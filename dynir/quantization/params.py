"""Quantization parameters from numbers: weights (symmetric int8, per channel or per
tensor) and activation ranges (asymmetric uint8), and the IR attributes that carry
calibrated ranges and layer names between calibration, the ``quantize`` pass and reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, NameLoc, StringAttr, f64
from xdsl.ir import Operation

INPUT_RANGE = "quant.input_range"
"""Op attribute set by calibration: ``array<f64: lo, hi>``, the range of operand #0."""

RHS_RANGE = "quant.rhs_range"
"""Op attribute set by calibration on a matmul whose right-hand side is not a constant
(activation x activation): ``array<f64: lo, hi>``, the range of operand #1."""

LAYER = "quant.layer"
"""Op attribute naming a quantizable layer (the ONNX node name, else ``<op>_<n>``); the
quantized replacement's last op carries the same name, so reports can pair them."""

DECISION = "quant.decision"
"""Op attribute recording why a layer stays in float (``excluded``, ``budget``, ...)."""

WEIGHT_MAX = 127


@dataclass(frozen=True)
class QuantizedWeight:
    values: np.ndarray  # int8, the weight's shape
    scales: np.ndarray  # float32, one per channel (or one)


def quantize_weight(weight: np.ndarray, axis: int | None) -> QuantizedWeight:
    """Symmetric int8 (zero point 0) with one scale per index of ``axis`` (None: one
    scale): ``scale = max|w| / 127``, values rounded half to even."""
    w = np.asarray(weight, np.float32)
    if axis is None:
        peak = np.array([np.max(np.abs(w))]) if w.size else np.zeros(1)
        shaped = peak.reshape(())
    else:
        others = tuple(i for i in range(w.ndim) if i != axis)
        peak = np.max(np.abs(w), axis=others) if w.size else np.zeros(w.shape[axis])
        shape = [1] * w.ndim
        shape[axis] = -1
        shaped = peak.reshape(shape)
    scales = np.where(peak > 0, peak / WEIGHT_MAX, 1.0).astype(np.float32)
    divisor = np.where(shaped > 0, shaped / WEIGHT_MAX, 1.0).astype(np.float32)
    values = np.clip(np.rint(w / divisor), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    return QuantizedWeight(values, scales.reshape(-1))


def symmetric_scale(lo: float, hi: float) -> float:
    """The scale of symmetric int8 (zero point 0) covering ``[lo, hi]``."""
    peak = max(abs(float(lo)), abs(float(hi)))
    return float(np.float32(peak / WEIGHT_MAX)) if peak > 0 else 1.0


def activation_params(lo: float, hi: float) -> tuple[float, int]:
    """``(scale, zero_point)`` of uint8 covering ``[lo, hi]`` widened to include 0."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zero = int(np.clip(np.rint(-lo / scale), 0, 255))
    return float(np.float32(scale)), zero


def set_input_range(op: Operation, lo: float, hi: float, attribute: str = INPUT_RANGE) -> None:
    op.attributes[attribute] = DenseArrayBase.from_list(f64, [float(lo), float(hi)])


def input_range(op: Operation, attribute: str = INPUT_RANGE) -> tuple[float, float] | None:
    """The calibrated range of operand #0 (``RHS_RANGE``: of operand #1), if recorded."""
    attr = op.attributes.get(attribute)
    if not isinstance(attr, DenseArrayBase):
        return None
    values = [float(v) for v in attr.get_values()]
    return (values[0], values[1]) if len(values) == 2 else None


def layer_name(op: Operation) -> str | None:
    attr = op.attributes.get(LAYER)
    return attr.data if isinstance(attr, StringAttr) else None


def node_name(op: Operation) -> str | None:
    """The ONNX node name in an imported op's location (``node 'fc1' (MatMul)``)."""
    loc = op.location
    if isinstance(loc, NameLoc):
        found = re.match(r"node '([^']+)'", loc.desc.data)
        if found:
            return found.group(1)
    return None


def name_layers(ops: list[Operation]) -> None:
    """Give every op of ``ops`` a unique ``quant.layer`` name (kept when it has one)."""
    taken: set[str] = set()
    for i, op in enumerate(ops):
        name = layer_name(op) or node_name(op) or f"{op.name.removeprefix('nn.')}_{i}"
        while name in taken:
            name = f"{name}_{i}"
        taken.add(name)
        op.attributes[LAYER] = StringAttr(name)
