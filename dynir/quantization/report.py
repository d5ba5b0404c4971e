"""Per-layer accuracy of a quantized model against its float original.

Each layer is paired by its ``quant.layer`` name: the float op's result against the
quantized replacement's last op (the dequantized accumulator, bias added), both models
run on the same samples, so the numbers include the error carried in from earlier
layers, as the output sees it.

    layer                     kind   SQNR dB   cosine     max |err|
    fc1                       int8     38.21   0.999924   1.52e-02
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Operation

from dynir.quantization.calibrate import cosine, sqnr
from dynir.quantization.observe import run_watching
from dynir.quantization.params import DECISION, layer_name, name_layers


@dataclass(frozen=True)
class LayerStats:
    layer: str
    kind: str  # "int8", or "float (<reason>)"
    sqnr_db: float
    cosine: float
    max_error: float


def _layer_values(module: ModuleOp, samples: Sequence[list[np.ndarray]]) -> dict[str, list[np.ndarray]]:
    values: dict[str, list[np.ndarray]] = {}

    def watch(op: Operation, operands: list[np.ndarray], results: list[np.ndarray]) -> None:
        name = layer_name(op)
        if name is not None and results:
            values.setdefault(name, []).append(results[0])

    for arrays in samples:
        run_watching(module, arrays, watch)
    return values


def layer_report(float_module: ModuleOp, quantized: ModuleOp, samples: Sequence[list[np.ndarray]]) -> list[LayerStats]:
    """Per-layer SQNR, cosine and max error of ``quantized`` against ``float_module``."""
    from dynir.passes.quantize import candidates

    float_module = float_module.clone()
    name_layers(candidates(float_module))
    want = _layer_values(float_module, samples)
    got = _layer_values(quantized, samples)
    kinds: dict[str, str] = {}
    for op in quantized.walk():
        name = layer_name(op)
        if name is None:
            continue
        decision = op.attributes.get(DECISION)
        kinds[name] = "int8" if op.name.startswith(("quant.", "nn.add")) and decision is None else (
            f"float ({decision.data})" if isinstance(decision, StringAttr) else "float"
        )
    stats: list[LayerStats] = []
    for name, reference in want.items():
        if name not in got:
            continue
        ref = np.concatenate([r.ravel() for r in reference]).astype(np.float64)
        out = np.concatenate([g.ravel() for g in got[name]]).astype(np.float64)
        error = float(np.max(np.abs(ref - out))) if ref.size else 0.0
        stats.append(LayerStats(name, kinds.get(name, "float"), sqnr(ref, out), cosine(ref, out), error))
    return stats


def format_table(stats: Sequence[LayerStats]) -> str:
    """The per-layer table; layers kept in float say why below it."""
    width = max([len("layer"), *(len(s.layer) for s in stats)])
    lines = [f"{'layer':<{width}}  {'kind':<6} {'SQNR dB':>8} {'cosine':>10} {'max |err|':>10}"]
    reasons: list[str] = []
    for s in stats:
        kind = s.kind if len(s.kind) <= 6 else "float"
        lines.append(f"{s.layer:<{width}}  {kind:<6} {s.sqnr_db:>8.2f} {s.cosine:>10.6f} {s.max_error:>10.3e}")
        if s.kind.startswith("float (") and s.kind.endswith(")"):
            reasons.append(f"{s.layer}: kept in float: {s.kind[len('float ('):-1]}")
    return "\n".join(lines + reasons)
