"""Model importers: ONNX (``dynir.importers.onnx``); the builder API lives in ``dynir.builder``."""
