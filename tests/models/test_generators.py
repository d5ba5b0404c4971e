"""The model zoo: every generated model passes the ONNX checker, runs in onnxruntime,
is reproducible from its seed, and computes what its docstring says."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from math import erf

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from dynir.models import MODELS, ModelSpec, save
from dynir.models import bert, elementwise_chain, mlp, resnet, yolo

ALL = sorted(MODELS)


@cache
def built(name: str) -> onnx.ModelProto:
    return MODELS[name].build(seed=0)


@cache
def session(name: str) -> ort.InferenceSession:
    return ort.InferenceSession(built(name).SerializeToString(), providers=["CPUExecutionProvider"])


def run(name: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(o) for o in session(name).run(None, feeds)]


def initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}


def test_registry_names() -> None:
    families = "matmul mlp conv_block resnet50 resnet_tiny bert_layer bert_tiny yolo yolo_tiny elementwise_chain"
    assert ALL == sorted(families.split())
    assert all(isinstance(spec, ModelSpec) and spec.description for spec in MODELS.values())


@pytest.mark.parametrize("name", ALL)
def test_model_checks_and_runs(name: str) -> None:
    model = built(name)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17
    feeds = MODELS[name].inputs(seed=1)
    assert list(feeds) == [i.name for i in model.graph.input]
    (out,) = run(name, feeds)
    output_dims = model.graph.output[0].type.tensor_type.shape.dim
    declared = [d.dim_value or MODELS[name].dims[d.dim_param] for d in output_dims]
    assert list(out.shape) == declared
    assert np.isfinite(out).all()
    assert 1e-2 < float(out.std()) < 1e2


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("resnet50", "mlp")])
def test_same_seed_same_bytes(name: str) -> None:
    spec = MODELS[name]
    assert spec.build(seed=3).SerializeToString() == spec.build(seed=3).SerializeToString()
    if spec.build(seed=3).graph.initializer:  # a model without weights is the same for every seed
        assert spec.build(seed=4).SerializeToString() != spec.build(seed=3).SerializeToString()
    assert all((a == b).all() for a, b in zip(spec.inputs(seed=5).values(), spec.inputs(seed=5).values()))


def test_resnet50_is_deterministic_and_has_resnet50_topology() -> None:
    model = built("resnet50")
    assert resnet.build(seed=0).SerializeToString() == model.SerializeToString()
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 53  # 1 stem + 16 blocks x 3 + 4 projections
    assert ops.count("BatchNormalization") == 53
    assert ops.count("Add") == 16 and ops.count("MaxPool") == 1
    assert ops[-3:] == ["GlobalAveragePool", "Flatten", "Gemm"]
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer if "running" not in t.name)
    assert params == 25_557_032  # torchvision resnet50: weights + BN affine
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_resnet_batch_is_symbolic() -> None:
    (out,) = run("resnet_tiny", MODELS["resnet_tiny"].inputs(seed=2, batch=3))
    assert out.shape == (3, 1000)


def test_bn_statistics_are_sane() -> None:
    weights = initializers(built("resnet_tiny"))
    variances = [v for k, v in weights.items() if k.endswith("running_var")]
    assert len(variances) == 53 and min(float(v.min()) for v in variances) > 0.5


def test_mlp_matches_numpy() -> None:
    w = initializers(built("mlp"))
    feeds = MODELS["mlp"].inputs(seed=1, batch=5)
    x = feeds["x"].astype(np.float64)
    hidden = np.maximum(x @ w["fc1.weight"] + w["fc1.bias"], 0.0)
    expected = hidden @ w["fc2.weight"].T + w["fc2.bias"]
    (out,) = run("mlp", feeds)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3)
    assert [n.op_type for n in built("mlp").graph.node] == ["MatMul", "Add", "Relu", "Gemm"]


def test_elementwise_chain_matches_numpy() -> None:
    model = elementwise_chain.build(seed=0, rows=8, cols=16)
    w = initializers(model)
    x = np.random.default_rng(0).standard_normal((2, 8, 16)).astype(np.float32)
    h = np.maximum(x * 1.5 + w["bias"], 0.0)
    h = np.abs(np.tanh(1.0 / (1.0 + np.exp(-h)) * x - 0.25))
    expected = (h + x) * 0.5
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], expected, rtol=1e-5, atol=1e-6)
    assert len(model.graph.node) == 10
    assert MODELS["elementwise_chain"].inputs()["x"].size == 4 * 1024 * 1024


def bert_numpy(w: dict[str, np.ndarray], x: np.ndarray, mask: np.ndarray, heads: int) -> np.ndarray:
    def linear(h: np.ndarray, name: str) -> np.ndarray:
        return h @ w[f"{name}.weight"] + w[f"{name}.bias"]

    def layer_norm(h: np.ndarray, name: str) -> np.ndarray:
        mean, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
        return (h - mean) / np.sqrt(var + 1e-12) * w[f"{name}.weight"] + w[f"{name}.bias"]

    b, s, hidden = x.shape
    q, k, v = (
        linear(x, f"attention.{p}").reshape(b, s, heads, -1).transpose(0, 2, 1, 3) for p in ("query", "key", "value")
    )
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hidden // heads) + mask
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(b, s, hidden)
    h = layer_norm(x + linear(context, "attention.output"), "attention.layer_norm")
    inner = linear(h, "intermediate")
    gelu = inner * 0.5 * (1.0 + np.vectorize(erf)(inner / np.sqrt(2.0)))
    return layer_norm(h + linear(gelu, "output"), "output.layer_norm")


@pytest.mark.parametrize("seq", [32, 19])
def test_bert_tiny_matches_numpy_at_any_seq(seq: int) -> None:
    feeds = MODELS["bert_tiny"].inputs(seed=1, batch=2, seq=seq)
    hidden = feeds["hidden"].astype(np.float64)
    expected = bert_numpy(initializers(built("bert_tiny")), hidden, feeds["attention_mask"], heads=4)
    (out,) = run("bert_tiny", feeds)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-4)


def test_bert_mask_hides_padding() -> None:
    feeds = MODELS["bert_tiny"].inputs(seed=1, seq=24)
    padded = feeds["attention_mask"][0, 0, 0] < 0
    assert padded.any() and not padded.all()
    changed = dict(feeds, hidden=feeds["hidden"].copy())
    changed["hidden"][0, padded] += 5.0
    kept = ~padded
    np.testing.assert_allclose(run("bert_tiny", changed)[0][0, kept], run("bert_tiny", feeds)[0][0, kept], atol=1e-5)


def test_bert_layer_full_size_ops_and_symbolic_seq() -> None:
    model = built("bert_layer")
    ops = {n.op_type for n in model.graph.node}
    assert {"LayerNormalization", "Erf", "Softmax", "Transpose", "Reshape", "Div"} <= ops
    shapes = {t.name: onnx.numpy_helper.to_array(t).tolist() for t in model.graph.initializer if "shape" in t.name}
    assert shapes == {"attention.split_heads_shape": [0, 0, 12, 64], "attention.merge_heads_shape": [0, 0, 768]}
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim[:2]]
    assert dims == ["batch", "seq"]
    (out,) = run("bert_layer", MODELS["bert_layer"].inputs(seed=1, seq=77))
    assert out.shape == (1, 77, 768) and abs(float(out.std()) - 1.0) < 0.2


def test_bert_opset13_decomposes_layer_norm_with_same_numerics() -> None:
    old = bert.build(seed=0, opset=13, **bert.TINY)
    onnx.checker.check_model(old, full_check=True)
    ops = [n.op_type for n in old.graph.node]
    assert "LayerNormalization" not in ops and ops.count("ReduceMean") == 4 and ops.count("Sqrt") == 2
    feeds = MODELS["bert_tiny"].inputs(seed=1)
    old_session = ort.InferenceSession(old.SerializeToString(), providers=["CPUExecutionProvider"])
    old_out = old_session.run(None, feeds)[0]
    np.testing.assert_allclose(old_out, run("bert_tiny", feeds)[0], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="opset 12 is not supported"):
        bert.build(opset=12)


def test_bert_without_mask() -> None:
    model = bert.build(seed=0, with_mask=False, **bert.TINY)
    assert [i.name for i in model.graph.input] == ["hidden"]
    onnx.checker.check_model(model, full_check=True)


def test_yolo_structure() -> None:
    model = built("yolo")
    nodes = model.graph.node
    ops = {n.op_type for n in nodes}
    assert {"Split", "Concat", "Resize", "MaxPool", "Sigmoid", "Mul", "Transpose", "Softmax", "Reshape"} <= ops
    convs = [n for n in nodes if n.op_type == "Conv" and "dfl" not in n.name]
    assert "BatchNormalization" not in ops and all(len(n.input) == 3 for n in convs)  # BN folded into a bias
    resizes = [n for n in nodes if n.op_type == "Resize"]
    assert len(resizes) == 2 and all(n.input[1] == "" for n in resizes)
    assert initializers(model)[resizes[0].input[2]].tolist() == [1.0, 1.0, 2.0, 2.0]
    pools = [n for n in nodes if n.op_type == "MaxPool"]
    assert len(pools) == 3
    sppf_window = {"kernel_shape": [5, 5], "strides": [1, 1], "pads": [2, 2, 2, 2]}
    assert all({a.name: list(a.ints) for a in p.attribute} == sppf_window for p in pools)


@pytest.mark.parametrize("name", ["yolo", "yolo_tiny"])
def test_yolo_decodes_boxes_in_the_image(name: str) -> None:
    (out,) = run(name, MODELS[name].inputs(seed=1, batch=2))
    size = 320 if name == "yolo" else 64
    anchors = sum((size // s) ** 2 for s in (8, 16, 32))
    assert out.shape[0] == 2 and out.shape[2] == anchors
    centres, sizes, scores = out[:, :2], out[:, 2:4], out[:, 4:]
    assert (sizes >= 0).all() and (sizes <= 2 * 15 * 32).all()
    assert (centres > -15 * 32).all() and (centres < size + 15 * 32).all()
    assert ((scores >= 0) & (scores <= 1)).all() and 0.01 < float(scores.std())


def test_flops_estimates() -> None:
    assert abs(MODELS["resnet50"].flops(built("resnet50")) / 8.2e9 - 1) < 0.05  # 4.1 GMACs
    assert abs(MODELS["yolo"].flops(built("yolo")) / 2.2e9 - 1) < 0.05  # YOLOv8n 8.7 GFLOPs at 640
    mlp_flops = MODELS["mlp"].flops(built("mlp"), batch=8)
    assert 2 * 8 * 2 * 1024 * 4096 <= mlp_flops < 2 * 8 * 2 * 1024 * 4096 * 1.01
    bert_spec = MODELS["bert_tiny"]
    assert bert_spec.flops(seq=64) > 2 * bert_spec.flops(seq=32)  # attention is quadratic in seq


def test_size_option_and_dim_errors() -> None:
    options = "blocks, image_size, num_classes, width"
    with pytest.raises(ValueError, match=re.escape(f"ResNetConfig: unknown size option 'depth' (options: {options})")):
        resnet.build(depth=3)
    with pytest.raises(ValueError, match="model 'mlp' has no dimension 'seq'"):
        MODELS["mlp"].inputs(seq=3)
    with pytest.raises(ValueError, match="image_size 100 is not a multiple of 32"):
        yolo.build(image_size=100)


def test_save_round_trip(tmp_path: Path) -> None:
    model = mlp.build(seed=0, in_features=8, hidden=16, out_features=4)
    path = save(model, tmp_path / "zoo" / "mlp.onnx")
    assert onnx.load(str(path)).SerializeToString() == model.SerializeToString()
