"""Fusion never changes results: random graphs and the model families compiled fused
and unfused agree with the interpreter / onnxruntime; fusion at least halves the
number of kernels of the ResNet-50-class and BERT models."""

from __future__ import annotations

import itertools

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xdsl.passes import PassPipeline

import dynir
from dynir.builder import Graph
from dynir.dialects.fusion import GroupOp
from dynir.importers.onnx import import_onnx
from dynir.interpreter import entry_function, interpret
from dynir.ir.context import make_context
from dynir.models import MODELS
from dynir.pipeline import compile_pipeline, pass_registry

COLS = 6
UNARY = ["relu", "tanh", "sigmoid", "neg", "abs", "gelu", "silu"]
BINARY = ["add", "sub", "mul", "max"]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["unary", "binary", "bias", "scalar", "matmul", "softmax", "reduce", "layer_norm"]),
        st.integers(0, 1000),
    ),
    min_size=2,
    max_size=9,
)


def random_graph(steps: list[tuple[str, int]], seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    names = itertools.count()
    g = Graph()
    x = g.input("x", (None, COLS), "float32")
    values = [x]

    def const(*shape: int) -> object:
        return g.constant((rng.standard_normal(shape) * 0.5).astype(np.float32), name=f"c{next(names)}")

    for kind, pick in steps:
        v = values[pick % len(values)]
        if kind == "unary":
            v = getattr(g, UNARY[pick % len(UNARY)])(v)
        elif kind == "binary":
            v = getattr(g, BINARY[pick % len(BINARY)])(v, values[(pick // 7) % len(values)])
        elif kind == "bias":
            v = g.add(v, const(COLS))
        elif kind == "scalar":
            v = g.mul(v, const())
        elif kind == "matmul":
            v = g.matmul(v, const(COLS, COLS))
        elif kind == "softmax":
            v = g.softmax(v, axis=-1)
        elif kind == "reduce":
            v = g.sub(v, g.reduce_mean(v, axes=[1], keepdims=1))
        else:
            v = g.layer_norm(v, const(COLS), const(COLS), axis=-1)
        values.append(v)
    g.output(values[-1])
    if len(values) > 2:
        g.output(values[len(values) // 2])  # a second output: a multi-use value
    return g


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, seed=st.integers(0, 2**16), rows=st.sampled_from([1, 3]))
def test_random_graphs_fused_equals_unfused_equals_interpreter(steps: list[tuple[str, int]], seed: int, rows: int) -> None:
    module = random_graph(steps, seed).module()
    x = np.random.default_rng(seed).standard_normal((rows, COLS)).astype(np.float32)
    want = interpret(module, x)
    fused = dynir.compile(module, fuse=True)(x)
    unfused = dynir.compile(module, fuse=False)(x)
    for f, u, w in zip(fused, unfused, want):
        np.testing.assert_allclose(f, w, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(u, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["conv_block", "resnet_tiny", "bert_tiny", "mlp"])
def test_models_fused_equal_unfused_and_onnxruntime(name: str) -> None:
    spec = MODELS[name]
    model = spec.build(seed=0)
    feeds = spec.inputs(seed=1)
    want = ort.InferenceSession(model.SerializeToString()).run(None, feeds)
    module = import_onnx(model)
    fused = dynir.compile(module, fuse=True)(*feeds.values())
    unfused = dynir.compile(module, fuse=False)(*feeds.values())
    for f, u, w in zip(fused, unfused, want):
        np.testing.assert_allclose(f, w, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(f, u, rtol=1e-4, atol=1e-5)


def kernel_count(name: str, fuse: bool) -> int:
    module = import_onnx(MODELS[name].build(seed=0))
    PassPipeline.parse_spec(pass_registry(), compile_pipeline(fuse=fuse)).apply(make_context(), module)
    return sum(1 for op in entry_function(module).body.block.ops if isinstance(op, GroupOp))


@pytest.mark.parametrize(("name", "unfused", "fused"), [("resnet_tiny", 175, 57), ("bert_tiny", 34, 13)])
def test_fusion_halves_kernel_count(name: str, unfused: int, fused: int) -> None:
    assert (kernel_count(name, False), kernel_count(name, True)) == (unfused, fused)
    assert unfused >= 2 * fused
