"""The ONNX conformance suite on the compiled CPU path (LLVM JIT)."""

import dynir.onnx_backend
from tests.onnx_backend.conformance import backend_test_cases

globals().update(backend_test_cases(dynir.onnx_backend.CompiledBackend, __name__, "cpu"))
