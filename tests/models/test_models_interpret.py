"""Every model family imports into ``nn``, survives print -> parse, and the reference
interpreter reproduces onnxruntime's outputs (rtol 1e-3, atol 1e-4).

One imported module serves several input sizes where the model has symbolic dims: the
importer must keep ``batch``/``seq`` dynamic, not specialise on the first run.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from xdsl.dialects.builtin import ModuleOp

import dynir
from dynir.models import MODELS, bert

RTOL, ATOL = 1e-3, 1e-4


@cache
def model(name: str, opset: int = 17) -> onnx.ModelProto:
    if opset != 17:
        return bert.build(seed=0, opset=opset, **bert.TINY)
    return MODELS[name].build(seed=0)


@cache
def reparsed_module(name: str, opset: int = 17) -> ModuleOp:
    """Import, print, parse back: the module every test interprets."""
    text = dynir.print_ir(dynir.import_onnx(model(name, opset)))
    return dynir.parse(text)


def check_against_onnxruntime(name: str, feeds: dict[str, np.ndarray], opset: int = 17) -> None:
    session = ort.InferenceSession(model(name, opset).SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, feeds)
    got = dynir.interpret(reparsed_module(name, opset), *feeds.values())
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


def function_signature(name: str) -> str:
    text = dynir.print_ir(reparsed_module(name))
    return next(line for line in text.splitlines() if "func.func" in line)


@pytest.mark.parametrize("batch", [1, 3])
def test_mlp(batch: int) -> None:
    check_against_onnxruntime("mlp", MODELS["mlp"].inputs(seed=1, batch=batch))
    assert "tensor<?x1024xf32>" in function_signature("mlp")


def test_conv_block() -> None:
    check_against_onnxruntime("conv_block", MODELS["conv_block"].inputs(seed=1))


def test_elementwise_chain() -> None:
    check_against_onnxruntime("elementwise_chain", MODELS["elementwise_chain"].inputs(seed=1, batch=1))


@pytest.mark.parametrize("batch", [1, 2])
def test_resnet_tiny(batch: int) -> None:
    check_against_onnxruntime("resnet_tiny", MODELS["resnet_tiny"].inputs(seed=1, batch=batch))


@pytest.mark.parametrize(("batch", "seq"), [(1, 32), (2, 13)])
def test_bert_tiny_symbolic_batch_and_seq(batch: int, seq: int) -> None:
    check_against_onnxruntime("bert_tiny", MODELS["bert_tiny"].inputs(seed=1, batch=batch, seq=seq))
    assert "tensor<?x?x64xf32>" in function_signature("bert_tiny")


@pytest.mark.parametrize("seq", [32, 9])
def test_bert_tiny_opset13_decomposed_layer_norm(seq: int) -> None:
    check_against_onnxruntime("bert_tiny", MODELS["bert_tiny"].inputs(seed=1, seq=seq), opset=13)


def test_yolo_tiny() -> None:
    check_against_onnxruntime("yolo_tiny", MODELS["yolo_tiny"].inputs(seed=1))


@pytest.mark.slow
@pytest.mark.parametrize("seq", [128, 50])
def test_bert_layer_full_size(seq: int) -> None:
    check_against_onnxruntime("bert_layer", MODELS["bert_layer"].inputs(seed=1, seq=seq))
    assert "tensor<?x?x768xf32>" in function_signature("bert_layer")


@pytest.mark.slow
def test_yolo_full_size() -> None:
    check_against_onnxruntime("yolo", MODELS["yolo"].inputs(seed=1))


@pytest.mark.slow
def test_resnet50_full_size() -> None:
    check_against_onnxruntime("resnet50", MODELS["resnet50"].inputs(seed=1))
