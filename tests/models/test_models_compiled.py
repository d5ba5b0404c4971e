"""The full-size model families, compiled for the CPU (fused), match onnxruntime within
rtol 1e-3, atol 1e-4: ResNet-50 at 1x3x224x224, the BERT-base layer at two sequence
lengths through one symbolic-sequence compilation, and the YOLO-style detector."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import dynir
from dynir.models import MODELS

RTOL, ATOL = 1e-3, 1e-4


def onnxruntime_outputs(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_matches(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "yolo"])
def test_cnn_families_compiled(name: str) -> None:
    model = MODELS[name].build(seed=0)
    feeds = MODELS[name].inputs(seed=1)
    compiled = dynir.compile(model, cache_dir=False)
    assert_matches(compiled(*feeds.values()), onnxruntime_outputs(model, feeds))


@pytest.mark.slow
def test_bert_layer_compiled_with_symbolic_sequence() -> None:
    model = MODELS["bert_layer"].build(seed=0)
    compiled = dynir.compile(model, dynamic=True, cache_dir=False)
    for seq in (128, 37):
        feeds = MODELS["bert_layer"].inputs(seed=seq, seq=seq)
        assert_matches(compiled(*feeds.values()), onnxruntime_outputs(model, feeds))
    assert compiled.stats.compiles == 1
