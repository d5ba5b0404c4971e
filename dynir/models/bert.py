"""``bert_layer`` and ``bert_tiny``: one BERT encoder layer as exporters write it.

Inputs ``hidden[batch, seq, H]`` and, optionally, an additive ``attention_mask[batch, 1,
1, seq]`` (0 for tokens, -10000 for padding). ``Reshape`` targets use ONNX's 0 (= copy
that dim), so ``batch`` and ``seq`` stay symbolic::

    q/k/v = MatMul + Add -> Reshape [0, 0, heads, head_dim] -> Transpose
    probs = Softmax(MatMul(q, k^T) / sqrt(head_dim) + mask, axis=-1)
    ctx   = MatMul(probs, v) -> Transpose -> Reshape [0, 0, H] -> MatMul + Add
    h     = LayerNorm(hidden + ctx)
    out   = LayerNorm(h + MatMul(GELU(MatMul(h, W1) + b1), W2) + b2)

GELU is Erf-based: ``x * 0.5 * (1 + erf(x / sqrt 2))`` (Div, Erf, Add, Mul, Mul).
LayerNorm is the ``LayerNormalization`` node from opset 17 on; at opset 13-16 it is
decomposed into ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add, as older exporters do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import onnx

from dynir.models.graph_builder import GraphBuilder
from dynir.models.spec import ModelSpec, make_config

MIN_OPSET = 13
LAYER_NORM_OPSET = 17
MASKED = -10000.0
"""The additive mask value BERT exporters use for padding positions."""


@dataclass(frozen=True)
class BertConfig:
    hidden: int = 768
    heads: int = 12
    ffn: int = 3072
    with_mask: bool = True
    eps: float = 1e-12


def linear(g: GraphBuilder, x: str, c_in: int, c_out: int, name: str, *, bias_first: bool = False) -> str:
    """MatMul + Add with BERT's init (std 0.02); ``bias_first`` writes ``Add(b, y)``."""
    w = g.weight(f"{name}.weight", g.normal((c_in, c_out), 0.02))
    b = g.weight(f"{name}.bias", g.normal((c_out,), 0.02))
    y = g.node("MatMul", [x, w], name=f"{name}.matmul")
    return g.node("Add", [b, y] if bias_first else [y, b], name=f"{name}.add")


def layer_norm(
    g: GraphBuilder, x: str, cfg: BertConfig, opset: int, name: str, output_name: str | None = None
) -> str:
    gamma = g.weight(f"{name}.weight", g.normal((cfg.hidden,), 0.05, mean=1.0))
    beta = g.weight(f"{name}.bias", g.normal((cfg.hidden,), 0.05))
    if opset >= LAYER_NORM_OPSET:
        return g.node(
            "LayerNormalization", [x, gamma, beta], name=name, output_name=output_name, axis=-1, epsilon=cfg.eps
        )
    mean = g.node("ReduceMean", [x], name=f"{name}.mean", axes=[-1], keepdims=1)
    centered = g.node("Sub", [x, mean], name=f"{name}.sub")
    squared = g.node("Pow", [centered, g.scalar(f"{name}.two", 2.0)], name=f"{name}.pow")
    var = g.node("ReduceMean", [squared], name=f"{name}.var", axes=[-1], keepdims=1)
    var = g.node("Add", [var, g.scalar(f"{name}.eps", cfg.eps)], name=f"{name}.add_eps")
    std = g.node("Sqrt", [var], name=f"{name}.sqrt")
    normed = g.node("Div", [centered, std], name=f"{name}.div")
    scaled = g.node("Mul", [normed, gamma], name=f"{name}.mul")
    return g.node("Add", [scaled, beta], name=f"{name}.add", output_name=output_name)


def gelu(g: GraphBuilder, x: str, name: str) -> str:
    scaled = g.node("Div", [x, g.scalar(f"{name}.sqrt2", float(np.sqrt(2.0)))], name=f"{name}.div")
    erf = g.node("Erf", [scaled], name=f"{name}.erf")
    one_plus = g.node("Add", [erf, g.scalar(f"{name}.one", 1.0)], name=f"{name}.add")
    gated = g.node("Mul", [x, one_plus], name=f"{name}.mul")
    return g.node("Mul", [gated, g.scalar(f"{name}.half", 0.5)], name=f"{name}.mul_half")


def attention(g: GraphBuilder, x: str, mask: str | None, cfg: BertConfig) -> str:
    head_dim = cfg.hidden // cfg.heads
    split_heads = g.ints("attention.split_heads_shape", [0, 0, cfg.heads, head_dim])
    heads = {}
    for proj, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3])):
        y = linear(g, x, cfg.hidden, cfg.hidden, f"attention.{proj}")
        y = g.node("Reshape", [y, split_heads], name=f"attention.{proj}.reshape")
        heads[proj] = g.node("Transpose", [y], name=f"attention.{proj}.transpose", perm=perm)
    scores = g.node("MatMul", [heads["query"], heads["key"]], name="attention.scores")
    divisor = g.scalar("attention.scale.divisor", float(np.sqrt(head_dim)))
    scores = g.node("Div", [scores, divisor], name="attention.scale")
    if mask is not None:
        scores = g.node("Add", [scores, mask], name="attention.mask")
    probs = g.node("Softmax", [scores], name="attention.softmax", axis=-1)
    context = g.node("MatMul", [probs, heads["value"]], name="attention.context")
    context = g.node("Transpose", [context], name="attention.context.transpose", perm=[0, 2, 1, 3])
    merge_heads = g.ints("attention.merge_heads_shape", [0, 0, cfg.hidden])
    context = g.node("Reshape", [context, merge_heads], name="attention.context.reshape")
    return linear(g, context, cfg.hidden, cfg.hidden, "attention.output", bias_first=True)


def build(*, seed: int = 0, opset: int = 17, **size_options: object) -> onnx.ModelProto:
    cfg = make_config(BertConfig, size_options)
    if opset < MIN_OPSET:
        raise ValueError(f"bert: opset {opset} is not supported (needs >= {MIN_OPSET})")
    if cfg.hidden % cfg.heads:
        raise ValueError(f"bert: hidden {cfg.hidden} is not a multiple of heads {cfg.heads}")
    g = GraphBuilder("bert_layer", seed)
    x = g.input("hidden", ["batch", "seq", cfg.hidden])
    mask = g.input("attention_mask", ["batch", 1, 1, "seq"]) if cfg.with_mask else None
    h = g.node("Add", [x, attention(g, x, mask, cfg)], name="attention.residual")
    h = layer_norm(g, h, cfg, opset, "attention.layer_norm")
    ffn = gelu(g, linear(g, h, cfg.hidden, cfg.ffn, "intermediate"), "intermediate.gelu")
    ffn = linear(g, ffn, cfg.ffn, cfg.hidden, "output")
    out = g.node("Add", [ffn, h], name="output.residual")
    out = layer_norm(g, out, cfg, opset, "output.layer_norm", output_name="output")
    g.output(out, ["batch", "seq", cfg.hidden])
    return g.model(opset, f"BERT encoder layer, hidden {cfg.hidden}, {cfg.heads} heads, FFN {cfg.ffn}")


def make_inputs(seed: int, dims: Mapping[str, int], **size_options: object) -> dict[str, np.ndarray]:
    """``hidden`` ~ N(0, 1); the mask pads each sequence after a random length >= seq/2."""
    cfg = make_config(BertConfig, size_options)
    rng = np.random.default_rng(seed)
    batch, seq = dims["batch"], dims["seq"]
    feeds = {"hidden": rng.standard_normal((batch, seq, cfg.hidden)).astype(np.float32)}
    if cfg.with_mask:
        lengths = rng.integers((seq + 1) // 2, seq + 1, size=batch)
        mask = np.where(np.arange(seq)[None, :] < lengths[:, None], 0.0, MASKED).astype(np.float32)
        feeds["attention_mask"] = mask.reshape(batch, 1, 1, seq)
    return feeds


TINY = {"hidden": 64, "heads": 4, "ffn": 128}

SPECS = [
    ModelSpec(
        "bert_layer",
        partial(build),
        partial(make_inputs),
        "BERT-base encoder layer at 1x128x768 (12 heads, FFN 3072, Erf GELU), batch and seq symbolic",
        {"batch": 1, "seq": 128},
    ),
    ModelSpec(
        "bert_tiny",
        partial(build, **TINY),
        partial(make_inputs, **TINY),
        "BERT encoder layer, hidden 64, 4 heads, FFN 128, for fast tests",
        {"batch": 1, "seq": 32},
    ),
]
