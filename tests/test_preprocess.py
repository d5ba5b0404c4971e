"""Preprocess: raw uint8 NHWC (or float NCHW) input -> the model's float NCHW input."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from dynir.builder import Graph
from dynir.dialects.nn.base import DIM_NAMES
from dynir.importers.onnx import import_onnx
from dynir.interpreter import interpret
from dynir.ir.text import parse, print_ir
from dynir.preprocess import Preprocess, PreprocessError
from tests.importers.onnx.graph_testlib import model, node, value_info

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
RNG = np.random.default_rng(3)


def passthrough(shape: tuple[int | None, ...], dim_names: tuple[str, ...] | None = None) -> ModuleOp:
    """``@main(x) -> x``: the function returns what preprocessing makes of the raw input."""
    g = Graph()
    g.output(g.input("input", shape, "float32", dim_names=dim_names))
    return g.module()


def main_of(module: ModuleOp) -> func.FuncOp:
    (f,) = [op for op in module.ops if isinstance(op, func.FuncOp)]
    return f


def body(module: ModuleOp) -> list[str]:
    return [op.name for op in main_of(module).body.block.ops]


def numpy_preprocess(raw: np.ndarray) -> np.ndarray:
    x = raw.transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1 / 255)
    return (x - np.array(MEAN, np.float32).reshape(3, 1, 1)) / np.array(STD, np.float32).reshape(3, 1, 1)


def test_uint8_nhwc_to_normalised_nchw() -> None:
    module = Preprocess(mean=MEAN, std=STD).apply(passthrough((None, 3, 8, 6), ("batch", "", "", "")))
    module.verify()
    f = main_of(module)
    assert [str(t) for t in f.function_type.inputs] == ["tensor<?x8x6x3xui8>"]
    assert body(module) == [
        "nn.transpose", "nn.cast", "nn.constant", "nn.mul", "nn.constant", "nn.sub", "nn.constant", "nn.div", "func.return",
    ]
    raw = RNG.integers(0, 256, (2, 8, 6, 3)).astype(np.uint8)
    (got,) = interpret(parse(print_ir(module)), raw)
    np.testing.assert_allclose(got, numpy_preprocess(raw), rtol=1e-6, atol=1e-6)


def test_dim_names_follow_the_layout() -> None:
    module = Preprocess().apply(passthrough((None, 3, None, None), ("batch", "c", "h", "w")))
    f = main_of(module)
    assert f.arg_attrs is not None
    names = [s.data for s in f.arg_attrs.data[0].data[DIM_NAMES].data]  # type: ignore[union-attr]
    assert names == ["batch", "h", "w", "c"]
    assert [str(t) for t in f.function_type.inputs] == ["tensor<?x?x?x3xui8>"]


def test_float_nchw_input_only_normalises() -> None:
    module = Preprocess(layout="NCHW", dtype="float32", scale=1.0, mean=[0.5], std=[2.0]).apply(passthrough((1, 3, 4, 4)))
    assert body(module) == ["nn.constant", "nn.sub", "nn.constant", "nn.div", "func.return"]
    x = RNG.standard_normal((1, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(interpret(module, x)[0], (x - 0.5) / 2.0, rtol=1e-6)


def test_resize_takes_any_raw_size() -> None:
    module = Preprocess(mean=MEAN, std=STD, resize_to=(8, 6)).apply(passthrough((1, 3, 8, 6)))
    module.verify()
    assert [str(t) for t in main_of(module).function_type.inputs] == ["tensor<1x?x?x3xui8>"]
    assert "nn.resize" in body(module)
    flat = np.full((1, 17, 23, 3), 128, np.uint8)  # a flat image stays flat under any resampling
    (got,) = interpret(module, flat)
    assert got.shape == (1, 3, 8, 6)
    np.testing.assert_allclose(got, np.broadcast_to(numpy_preprocess(flat[:, :1, :1]), (1, 3, 8, 6)), rtol=1e-5)


def test_import_onnx_with_preprocess_feeds_the_first_layer() -> None:
    m = model([node("Relu", ["image"], ["y"], "relu")], [value_info("image", ["n", 3, 4, 4])], ["y"])
    module = import_onnx(m, preprocess=Preprocess(mean=MEAN, std=STD))
    module.verify()
    text = print_ir(module)
    assert "func.func @main(%image: tensor<?x4x4x3xui8>" in text
    raw = RNG.integers(0, 256, (1, 4, 4, 3)).astype(np.uint8)
    np.testing.assert_allclose(interpret(parse(text), raw)[0], np.maximum(numpy_preprocess(raw), 0), rtol=1e-6, atol=1e-6)


def test_apply_to_a_named_input() -> None:
    g = Graph()
    a = g.input("mask", (2,), "float32")
    b = g.input("pixels", (1, 3, 2, 2), "float32")
    g.output(a)
    g.output(b)
    module = Preprocess().apply(g.module(), input_name="pixels")
    assert [str(t) for t in main_of(module).function_type.inputs] == ["tensor<2xf32>", "tensor<1x2x2x3xui8>"]


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: Preprocess(layout="HWC"), "preprocess layout 'HWC' is not one of NHWC, NCHW"),
        (lambda: Preprocess(dtype="text"), "preprocess dtype 'text' is not a tensor element type"),
        (lambda: Preprocess(std=[1.0, 0.0, 1.0]), "preprocess std [1.0, 0.0, 1.0] has a zero"),
        (lambda: Preprocess(resize_to=(0, 4)), "preprocess resize_to (0, 4) must be two positive sizes (H, W)"),
    ],
)
def test_bad_settings(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PreprocessError) as info:
        make()
    assert str(info.value) == message


@pytest.mark.parametrize(
    "shape,settings,message",
    [
        ((3, 4), {}, "preprocess needs a float NCHW model input, got tensor<3x4xf32>"),
        ((1, 3, 4, 4), {"mean": [0.1, 0.2]}, "preprocess mean has 2 values for 3 channels (tensor<1x3x4x4xf32>)"),
        ((1, 3, 4, 4), {"resize_to": (5, 4)}, "preprocess resize_to (5, 4) does not match the model input tensor<1x3x4x4xf32>"),
        ((None, 3, 4, 4), {"resize_to": (4, 4)}, "preprocess resize_to needs static batch and channel dims, got tensor<?x3x4x4xf32>"),
    ],
)
def test_settings_that_do_not_fit_the_model(shape: tuple[int | None, ...], settings: dict[str, object], message: str) -> None:
    with pytest.raises(PreprocessError) as info:
        Preprocess(**settings).apply(passthrough(shape))  # type: ignore[arg-type]
    assert str(info.value) == message


def test_unknown_input_name() -> None:
    with pytest.raises(PreprocessError) as info:
        Preprocess().apply(passthrough((1, 3, 2, 2)), input_name="pixels")
    assert str(info.value) == "preprocess input 'pixels' is not an input of @main (inputs: input)"
