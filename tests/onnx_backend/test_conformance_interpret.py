"""The ONNX conformance suite through dynir's importer and reference interpreter."""

import dynir.onnx_backend
from tests.onnx_backend.conformance import backend_test_cases

globals().update(backend_test_cases(dynir.onnx_backend, __name__, "interpret"))
