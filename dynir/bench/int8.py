"""The int8 rows of ``dynir bench`` (``--variant int8-dynamic`` / ``int8-static``): dynir's
own quantization of a model next to onnxruntime's quantization of the same ONNX model.

- ``int8-dynamic``: dynir's ``quantize{mode=dynamic}``; onnxruntime's
  ``quantize_dynamic`` (its defaults: int8 weights, uint8 activations).
- ``int8-static``: ``dynir.quantization.calibrate_module`` on ``CALIBRATION_SEEDS``
  samples from the case's input maker; onnxruntime's ``quantize_static`` in QDQ format,
  per channel, on the same samples through a ``CalibrationDataReader``.

Both libraries' outputs are compared with the float model's (onnxruntime float on the
same inputs) by cosine similarity: that, not the difference between two different
quantizations, is the accuracy a row reports. ``onnxruntime.quantization`` is imported
here only (the ``bench`` extra), never by the compiler or its runtime.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
from xdsl.dialects.builtin import ModuleOp

from dynir.diagnostics import DynirError

INT8_VARIANTS = ("int8-dynamic", "int8-static")

CALIBRATION_SEEDS = range(100, 116)
"""Seeds of the static calibration samples (16 of them), for both libraries."""

SampleMaker = Callable[[int], dict[str, np.ndarray]]


def calibration_samples(make: SampleMaker) -> list[dict[str, np.ndarray]]:
    return [make(seed) for seed in CALIBRATION_SEEDS]


def dynir_int8_module(model: onnx.ModelProto, variant: str, samples: Sequence[dict[str, np.ndarray]]) -> ModuleOp:
    """``model`` imported and quantized the way ``variant`` says (layers that int8 would
    slow down stay in float: see ``dynir.quantization.cost``)."""
    from dynir.importers.onnx import import_onnx
    from dynir.ir.context import make_context
    from dynir.passes.quantize import QuantizePass
    from dynir.quantization import calibrate_module

    module = import_onnx(model)
    if variant == "int8-static":
        return calibrate_module(module, list(samples))
    QuantizePass(mode="dynamic").apply(make_context(), module)
    return module


def layer_counts(module: ModuleOp) -> tuple[int, int]:
    """(int8 layers, all quantizable layers) of a quantized module."""
    from dynir.quantization.params import LAYER

    int8, kept = 0, 0
    for op in module.walk():
        if LAYER not in op.attributes:
            continue
        if op.name in ("nn.matmul", "nn.gemm", "nn.conv"):
            kept += 1  # kept in float (with or without a recorded decision)
        else:
            int8 += 1  # the last op of a quantized layer's replacement
    return int8, int8 + kept


def ort_int8_model(model: onnx.ModelProto, variant: str, samples: Sequence[dict[str, np.ndarray]]) -> onnx.ModelProto:
    """onnxruntime's own int8 version of ``model`` (see the module doc)."""
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            QuantFormat,
            QuantType,
            quantize_dynamic,
            quantize_static,
        )
    except ImportError:
        raise DynirError("dynir bench --variant int8-*: pip install 'dynir[bench]' (onnxruntime)") from None

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.items: Iterator[dict[str, np.ndarray]] = iter(samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    with tempfile.TemporaryDirectory(prefix="dynir-bench-int8-") as tmp, _quiet():
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(source))
        if variant == "int8-static":
            quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        else:
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        return onnx.load(str(target))


class _quiet:
    """Silence onnxruntime.quantization's advice to pre-process (logged at WARNING)."""

    def __enter__(self) -> None:
        self.level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().setLevel(self.level)


def output_cosine(got: Sequence[np.ndarray], float_reference: Sequence[np.ndarray]) -> float:
    """The worst cosine similarity over the outputs (0 when a shape differs)."""
    from dynir.quantization import cosine

    if len(got) != len(float_reference):
        return 0.0
    worst = 1.0
    for g, w in zip(got, float_reference):
        if np.shape(g) != np.shape(w):
            return 0.0
        worst = min(worst, cosine(np.asarray(w), np.asarray(g)))
    return worst
