"""The model zoo: ONNX models generated with ``onnx.helper`` and seeded random weights.

Nothing is downloaded; every model is rebuilt bit for bit from its seed. ``MODELS`` maps
a name to its ``ModelSpec`` (builder, random inputs, FLOP estimate, description)::

    from dynir.models import MODELS, save
    spec = MODELS["resnet_tiny"]
    model = spec.build(seed=0)            # onnx.ModelProto
    feeds = spec.inputs(seed=1)           # {"x": float32[1, 3, 64, 64]}
    save(model, "resnet_tiny.onnx")

Each family module (``matmul``, ``mlp``, ``conv_block``, ``resnet``, ``bert``, ``yolo``,
``elementwise_chain``) has ``build(*, seed=0, opset=17, **size_options)`` and ends
with ``SPECS``.
"""

from __future__ import annotations

from dynir.models import bert, conv_block, elementwise_chain, matmul, mlp, resnet, yolo
from dynir.models.flops import count_flops
from dynir.models.spec import ModelSpec, save

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for module in (matmul, mlp, conv_block, resnet, bert, yolo, elementwise_chain)
    for spec in module.SPECS
}

__all__ = ["MODELS", "ModelSpec", "count_flops", "save"]
