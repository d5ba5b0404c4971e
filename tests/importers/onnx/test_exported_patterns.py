"""A BERT-embeddings-and-attention graph written the way ``torch.onnx.export`` writes it
with dynamic axes: sizes read with ``Shape``/``Gather``, position ids from ``Range`` of
the sequence length, ``view`` targets built with ``Concat``. It must import with its
dims symbolic and run like onnxruntime for every batch and sequence length."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import dynir

VOCAB, MAX_POS, HIDDEN, HEADS = 50, 64, 32, 4
HEAD = HIDDEN // HEADS


def _exported_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    consts = {
        "word": rng.standard_normal((VOCAB, HIDDEN)).astype(np.float32),
        "pos": rng.standard_normal((MAX_POS, HIDDEN)).astype(np.float32),
        "gamma": np.ones(HIDDEN, np.float32), "beta": np.zeros(HIDDEN, np.float32),
        "wq": rng.standard_normal((HIDDEN, HIDDEN)).astype(np.float32) / 6,
        "zero": np.array(0, np.int64), "one": np.array(1, np.int64), "axis0": np.array([0], np.int64),
        "heads": np.array([HEADS, HEAD], np.int64), "minus1": np.array([-1], np.int64),
        "hidden": np.array([HIDDEN], np.int64), "scale": np.array(HEAD ** -0.5, np.float32),
    }
    n = helper.make_node
    nodes = [
        n("Shape", ["input_ids"], ["ids_shape"], name="/Shape"),
        n("Gather", ["ids_shape", "one"], ["seq"], name="/Gather_1", axis=0),
        n("Range", ["zero", "seq", "one"], ["position_ids"], name="/Range"),
        n("Unsqueeze", ["position_ids", "axis0"], ["position_ids_2d"], name="/Unsqueeze"),
        n("Gather", ["word", "input_ids"], ["words"], name="/word_embeddings/Gather"),
        n("Gather", ["pos", "position_ids_2d"], ["positions"], name="/position_embeddings/Gather"),
        n("Add", ["words", "positions"], ["embedded"], name="/Add"),
        n("LayerNormalization", ["embedded", "gamma", "beta"], ["hidden_states"], name="/LayerNorm", axis=-1),
        n("MatMul", ["hidden_states", "wq"], ["q"], name="/query/MatMul"),
        # q.view(q.size()[:-1] + (heads, head)).permute(0, 2, 1, 3)
        n("Shape", ["q"], ["q_shape"], name="/Shape_2"),
        n("Slice", ["q_shape", "zero_1d", "minus1"], ["q_lead"], name="/Slice"),
        n("Concat", ["q_lead", "heads"], ["q_view"], name="/Concat", axis=0),
        n("Reshape", ["q", "q_view"], ["q4"], name="/Reshape"),
        n("Transpose", ["q4"], ["qh"], name="/Transpose", perm=[0, 2, 1, 3]),
        n("Transpose", ["q4"], ["kt"], name="/Transpose_1", perm=[0, 2, 3, 1]),
        n("MatMul", ["qh", "kt"], ["scores"], name="/MatMul_1"),
        n("Mul", ["scores", "scale"], ["scaled"], name="/Mul"),
        n("Softmax", ["scaled"], ["probs"], name="/Softmax", axis=-1),
        n("MatMul", ["probs", "qh"], ["context"], name="/MatMul_2"),
        n("Transpose", ["context"], ["context_t"], name="/Transpose_2", perm=[0, 2, 1, 3]),
        # context.view(context.size()[:-2] + (hidden,))
        n("Shape", ["context_t"], ["c_shape"], name="/Shape_3"),
        n("Slice", ["c_shape", "zero_1d", "minus2"], ["c_lead"], name="/Slice_1"),
        n("Concat", ["c_lead", "hidden"], ["c_view"], name="/Concat_1", axis=0),
        n("Reshape", ["context_t", "c_view"], ["output"], name="/Reshape_1"),
    ]
    consts.update({"zero_1d": np.array([0], np.int64), "minus2": np.array([-2], np.int64)})
    graph = helper.make_graph(
        nodes, "exported",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", "sequence", HIDDEN])],
        [numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_exported_attention_block_runs_like_onnxruntime_for_every_size() -> None:
    model = _exported_model()
    onnx.checker.check_model(model)
    module = dynir.import_onnx(model)
    reshapes = [op for op in module.walk() if op.name == "nn.reshape"]
    assert [list(op.shape.get_values()) for op in reshapes] == [[0, 0, HEADS, HEAD], [0, 0, HIDDEN]]  # type: ignore[attr-defined]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    compiled = dynir.compile(model)
    rng = np.random.default_rng(1)
    for batch, seq in [(2, 5), (1, 9), (3, 5), (2, 17), (1, 1)]:
        ids = rng.integers(0, VOCAB, (batch, seq)).astype(np.int64)
        (want,) = session.run(None, {"input_ids": ids})
        np.testing.assert_allclose(compiled(ids)[0], want, rtol=1e-4, atol=1e-5)
    assert compiled.stats.compiles <= 3  # exact shapes first, then symbolic dims
