"""``CompileRecorder`` and ``run_pipeline``: a snapshot after every pass, times,
remarks, and the source ops behind each kernel; without a recorder the pipeline runs as
``PassPipeline.apply`` does."""

from __future__ import annotations

import numpy as np

import dynir
from dynir.ir.context import make_context
from dynir.report import CompileRecorder, run_pipeline, timed_stage
from dynir.runtime.compiled_model import CompiledModel

PROGRAM = """\
func.func @main(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = nn.constant {value = dense<1.5> : tensor<64x4xf32>} : tensor<64x4xf32>
  %0 = nn.relu %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %1 = nn.add %0, %x : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %1 : tensor<?x4xf32>
}
"""


def test_snapshots_times_remarks_and_kernels() -> None:
    module = dynir.parse(PROGRAM)
    recorder = CompileRecorder("prog")
    run_pipeline(make_context(), module, "canonicalize,lower-to-loops", recorder)
    assert [s.name for s in recorder.snapshots] == ["input", "canonicalize", "lower-to-loops"]
    assert [name for name, _ in recorder.timings] == ["canonicalize", "lower-to-loops"]
    assert recorder.snapshots[0].seconds is None
    assert all(s.seconds is not None and s.seconds >= 0 for s in recorder.snapshots[1:])
    assert "dense_resource<__elided__> : tensor<64x4xf32>" in recorder.snapshots[0].text
    assert "scf.for" in recorder.snapshots[-1].text and "scf.for" not in recorder.snapshots[0].text
    assert {r.pass_name for r in recorder.remarks} == {"lower-to-loops"}
    assert recorder.remarks and all(r.message.startswith("kernel @") for r in recorder.remarks)
    ops = [op for k in recorder.kernels for op, _ in k.ops]
    assert sorted(ops) == ["nn.add", "nn.relu"]
    locations = [loc for k in recorder.kernels for _, loc in k.ops]
    assert sorted(locations) == ["<string>:3:3", "<string>:4:3"]


def test_without_recorder_the_result_is_the_same() -> None:
    a, b = dynir.parse(PROGRAM), dynir.parse(PROGRAM)
    run_pipeline(make_context(), a, "lower-to-loops")
    run_pipeline(make_context(), b, "lower-to-loops", CompileRecorder())
    assert str(a) == str(b)


def test_stages_and_text_snapshots() -> None:
    recorder = CompileRecorder()
    with timed_stage(recorder, "llvm-jit"):
        pass
    with timed_stage(None, "ignored"):
        pass
    recorder.add_text("LLVM IR", "define void @k() {\n  ret void\n}")
    assert [name for name, _ in recorder.timings] == ["llvm-jit"]
    assert recorder.snapshots[-1].diff is False


def test_imported_model_kernels_name_onnx_nodes() -> None:
    from dynir.bench.suite import bundled_case

    case = bundled_case("mlp", dims={"batch": 2}, in_features=8, hidden=16, out_features=4)
    module = dynir.import_onnx(case.model())
    recorder = CompileRecorder()
    run_pipeline(make_context(), module, "lower-to-loops", recorder)
    sources = [loc for k in recorder.kernels for _, loc in k.ops]
    assert "node 'fc1.matmul' (MatMul)" in sources and "node 'fc2' (Gemm)" in sources


def test_recorded_pipeline_still_compiles() -> None:
    # the compiler will run its pipeline through run_pipeline(recorder): its result must run
    from dynir.compiler import compile_module

    compiled = compile_module(dynir.parse(PROGRAM))
    assert isinstance(compiled, CompiledModel)
    x = np.array([[-1.0, 2.0, -3.0, 4.0]], dtype=np.float32)
    np.testing.assert_allclose(compiled(x)[0], np.maximum(x, 0) + x)
