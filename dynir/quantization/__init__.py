"""Post-training quantization: calibration (``calibrate.py``), parameter math
(``params.py``), op-by-op observation (``observe.py``) and per-layer reports
(``report.py``). The IR transformation itself is the ``quantize`` pass
(``passes/quantize.py``); ``dynir.quantize`` is ``calibrate.quantize``."""

from dynir.quantization.calibrate import calibrate_module, cosine, quantize, sqnr

__all__ = ["calibrate_module", "cosine", "quantize", "sqnr"]
