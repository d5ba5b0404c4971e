"""``dynir quant-report model.onnx --data samples.npz``: per-layer int8 accuracy.

    $ dynir quant-report model.onnx --data samples.npz
    layer         kind    SQNR dB     cosine  max |err|
    fc1           int8      38.21   0.999924  1.520e-02
    ...
    output        cosine 0.999871, SQNR 35.02 dB

Calibrates like ``dynir calibrate`` (same options), then runs the float and the int8
model on the samples and compares every layer's output, and the model's outputs.
"""

from __future__ import annotations

import argparse
import sys

from dynir.diagnostics import DynirError, error_text

NAME = "quant-report"
HELP = "per-layer SQNR, cosine and max error of the int8 model against the float one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dynir.cli.commands.calibrate import add_quantization_arguments

    parser.add_argument("model", help="an .onnx file")
    parser.add_argument("--data", required=True, metavar="NPZ", help="samples: one array per input, samples on axis 0")
    add_quantization_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from dynir.cli.commands.calibrate import calibrated
    from dynir.quantization.calibrate import cosine, input_names, sqnr
    from dynir.quantization.observe import run_watching, sample_arrays
    from dynir.quantization.report import format_table, layer_report

    try:
        module, quantized, samples = calibrated(args)
        arrays = [sample_arrays(s, input_names(module)) for s in samples]
    except (DynirError, ValueError) as error:
        print(error_text(DynirError(str(error))), file=sys.stderr)
        return 1
    print(format_table(layer_report(module, quantized, arrays)))
    want = [o for a in arrays for o in run_watching(module, a, lambda *_: None)]
    got = [o for a in arrays for o in run_watching(quantized, a, lambda *_: None)]
    worst_cos = min(cosine(w, g) for w, g in zip(want, got))
    worst_sqnr = min(sqnr(w, g) for w, g in zip(want, got))
    print(f"output: cosine {worst_cos:.6f}, SQNR {worst_sqnr:.2f} dB (worst sample)")
    return 0
