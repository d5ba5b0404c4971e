"""``dynir calibrate`` / ``dynir quant-report``, the quant types' text form, and ONNX
quantized graphs (com.microsoft QLinearAdd, a QDQ model) against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import dynir
from dynir.bench.int8 import ort_int8_model
from dynir.cli.main import main
from dynir.dialects.quant import UniformQuantizedType, u8
from dynir.models import MODELS
from dynir.quantization import cosine
from xdsl.dialects.builtin import f32, i8


@pytest.fixture(scope="module")
def mlp_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("quant")
    spec = MODELS["mlp"]
    onnx.save(spec.build(seed=0), root / "mlp.onnx")
    np.savez(root / "samples.npz", x=np.stack([spec.inputs(seed=i)["x"] for i in range(4)]))
    return root / "mlp.onnx", root / "samples.npz"


def test_calibrate_writes_static_int8_ir(mlp_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, data = mlp_files
    out = tmp_path / "mlp.q.mlir"
    assert main(["calibrate", str(model), "--data", str(data), "-o", str(out), "--exclude", "fc2"]) == 0
    err = capsys.readouterr().err
    assert "remark: [quantize] layer 'fc2' kept in float: excluded by name or op type" in err
    assert "layer 'fc1.matmul' quantized to int8 (static, weights per channel)" in err
    module = dynir.parse(out.read_text())
    assert [op.name for op in module.walk()].count("quant.matmul") == 1
    x = np.load(data)["x"][0]
    want = dynir.interpret(dynir.import_onnx(str(model)), x)[0]
    assert cosine(want, dynir.compile(module, cache_dir=False)(x)[0]) >= 0.999


def test_quant_report_table(mlp_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    model, data = mlp_files
    assert main(["quant-report", str(model), "--data", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["layer", "kind", "SQNR", "dB", "cosine", "max", "|err|"]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert set(rows) == {"fc1.matmul", "fc2"} and all(r[1] == "int8" for r in rows.values())
    assert all(float(r[2]) > 25 and float(r[3]) > 0.999 for r in rows.values())
    assert lines[-1].startswith("output: cosine 0.99")


def test_calibrate_reports_a_bad_samples_file(mlp_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    model, _ = mlp_files
    assert main(["calibrate", str(model), "--data", "missing.npz"]) == 1
    assert capsys.readouterr().err.strip() == "error: cannot open 'missing.npz': no such file"


def test_uniform_type_text_round_trips() -> None:
    per_tensor = UniformQuantizedType.make(i8, f32, 0.0123456789, -3)
    per_axis = UniformQuantizedType.make(u8, f32, [0.25, 1e-7], [128, 0], axis=1)
    assert str(per_axis) == "!quant.uniform<u8:f32:1, {2.500000e-01:128, 1.000000e-07:0}>"
    ctx = dynir.make_context()
    from xdsl.parser import Parser

    for t in (per_tensor, per_axis):
        assert Parser(ctx, str(t)).parse_type() == t


def _ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def test_qlinear_add_matches_onnxruntime_within_one_step() -> None:
    inputs = [helper.make_tensor_value_info(n, TensorProto.UINT8, [2, 8]) for n in ("a", "b")]
    inits = [
        helper.make_tensor("sa", TensorProto.FLOAT, [], [0.05]), helper.make_tensor("za", TensorProto.UINT8, [], [120]),
        helper.make_tensor("sb", TensorProto.FLOAT, [], [0.02]), helper.make_tensor("zb", TensorProto.UINT8, [], [3]),
        helper.make_tensor("sc", TensorProto.FLOAT, [], [0.06]), helper.make_tensor("zc", TensorProto.UINT8, [], [100]),
    ]
    node = helper.make_node("QLinearAdd", ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["c"], domain="com.microsoft")
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("c", TensorProto.UINT8, [2, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    rng = np.random.default_rng(0)
    feeds = {n: rng.integers(0, 256, (2, 8)).astype(np.uint8) for n in ("a", "b")}
    want = _ort(model, feeds)[0]
    module = dynir.import_onnx(model)
    got = dynir.interpret(module, feeds["a"], feeds["b"])[0]
    assert got.dtype == np.uint8
    assert np.max(np.abs(got.astype(int) - want.astype(int))) <= 1
    np.testing.assert_array_equal(dynir.compile(module, cache_dir=False)(feeds["a"], feeds["b"])[0], got)


def test_onnxruntime_qdq_model_runs_in_int8() -> None:
    spec = MODELS["conv_block"]
    feeds = [spec.inputs(seed=i) for i in range(2)]
    qmodel = ort_int8_model(spec.build(seed=0), "int8-static", feeds)  # onnxruntime's quantize_static, QDQ
    module = dynir.import_onnx(qmodel)
    names = [op.name for op in module.walk()]
    assert "quant.quantize" in names and "quant.dequantize" in names
    x = feeds[0]
    got = dynir.interpret(module, *x.values())[0]
    want = _ort(qmodel, x)[0]
    assert cosine(want, got) > 0.999
