"""Keep a layer in float when int8 would be slower: the ``quantize`` pass's cost model.

Int8 pays off when the compute it saves exceeds what it adds. Both sides are counted
in *MAC-times*, the time of one float multiply-add in dynir's float kernels:

    saved = macs * (1 - 1 / INT8_SPEEDUP[kind])
    added = activations * QUANTIZE_MAC_TIMES[mode] + KERNEL_MAC_TIMES[mode]

``activations`` is the size of the layer's input: in ``dynamic`` mode it is quantized
at run time (``quant.dynamic_quantize``: a min/max pass over the whole tensor, then a
quantizing pass, as its own kernel since the range of the whole tensor is needed before
the first element can be written); in ``static`` mode the quantization is one more
elementwise op in its producer's kernel. A layer with ``saved <= added`` stays in float;
``why_float`` gives the reason (``tiny layer: ...`` or ``int8 would be slower: ...``)
that the pass records as ``quant.decision`` and as a remark.

Dynamic dims count as ``DYNAMIC_DIM_ESTIMATE`` (the decision is made once, for every
shape the compiled model will see). The constants are estimates of this CPU backend
(AVX-512 VNNI int8 kernels vs AVX-512 fp32 micro-kernels, ~2-4 us per kernel launch
from the host program); revisit them when the kernels change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from math import prod

from xdsl.ir import Operation

from dynir.dialects.nn.base import read_int
from dynir.ir.types import shape_of

INT8_SPEEDUP: Mapping[str, float] = {
    # Measured on the 2-core Zen 4 (1 thread, machine shared, so rounded down): static int8
    # over float was ~8x for a 64x1024x4096 matmul, ~4.7x for a 3x3 conv 64->64 at 56x56,
    # ~2.5-3x for a 1x1 conv 256->64 at 56x56, 0.04x for a depthwise 3x3 conv (K = 9 per
    # group: the 4-way dot runs mostly on padding). Float kernels are still improving.
    "matmul": 2.5,
    "gemm": 2.5,
    "conv1x1": 2.0,
    "conv": 2.0,
    "grouped_conv": 0.05,
}
"""Expected int8 kernel throughput over float, per layer kind, where the int8 kernel
uses the 4-way int8 dot (``vecx.dot4``: AVX-512 VNNI); see ``int8_kernel_vectorised``."""

LOOP_SPEEDUP = 0.1
"""Int8 throughput over float where the int8 kernel is plain i32 loops (no ``vecx.dot4``):
the float micro-kernels are an order of magnitude faster."""

QUANTIZE_MAC_TIMES: Mapping[str, float] = {
    "dynamic": 32.0,  # read f32 twice (min/max, then quantize) and write u8: ~9 bytes at ~40 GB/s
    "static": 2.0,  # one more elementwise op in the producer's loop
}
"""Cost of quantizing one input element, in MAC-times."""

KERNEL_MAC_TIMES: Mapping[str, float] = {
    "dynamic": float(1 << 18),  # the dynamic_quantize kernel: one more launch (~5 us)
    "static": float(1 << 18),  # the dequantize as its own kernel where no epilogue takes it
    "static-fused": float(1 << 16),  # the dequantize in the contraction's epilogue
}
"""Fixed cost of the kernels int8 adds to a layer, in MAC-times (a kernel launch from
the host program costs ~5 us, about 2^18 float MACs)."""

DYNAMIC_DIM_ESTIMATE = 1
"""Size assumed for a dynamic dim (batch 1: a latency-bound call)."""


@dataclass(frozen=True)
class LayerCost:
    kind: str
    macs: int
    activations: int


def _size(shape: tuple[int | None, ...]) -> int:
    return prod(DYNAMIC_DIM_ESTIMATE if d is None else d for d in shape)


def layer_cost(op: Operation) -> LayerCost:
    """MACs and input size of a float matmul/gemm/conv (dynamic dims estimated)."""
    x_shape = shape_of(op.operands[0].type)
    out_shape = shape_of(op.results[0].type)
    w_shape = shape_of(op.operands[1].type)
    activations = _size(x_shape)
    if op.name == "nn.conv":
        group = read_int(op.properties.get("group"), 1)
        kernel = w_shape[2:]
        per_output = _size(w_shape[1:])  # in channels per group x kernel taps
        kind = "grouped_conv" if group > 1 else "conv1x1" if all(k == 1 for k in kernel) else "conv"
        return LayerCost(kind, _size(out_shape) * per_output, activations)
    if op.name == "nn.gemm":
        trans_a = read_int(op.properties.get("trans_a"), 0)
        depth = x_shape[0] if trans_a else x_shape[-1]
        return LayerCost("gemm", _size(out_shape) * _size((depth,)), activations)
    from dynir.dialects.nn.constant import ConstantOp

    if not isinstance(op.operands[1].owner, ConstantOp):  # quantized and packed at run time too
        activations += 2 * _size(w_shape)
    return LayerCost("matmul", _size(out_shape) * _size(x_shape[-1:]), activations)


_PROBES: Mapping[str, str] = {
    "matmul": "nn.matmul %x, %w : (tensor<4x64xf32>, tensor<64x32xf32>) -> tensor<4x32xf32>",
    "gemm": "nn.gemm %x, %w, %b {trans_b = 1 : i64} : (tensor<4x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<4x32xf32>",
    "conv1x1": "nn.conv %x, %w, %b : (tensor<1x64x4x4xf32>, tensor<32x64x1x1xf32>, tensor<32xf32>) -> tensor<1x32x4x4xf32>",
    "conv": "nn.conv %x, %w, %b : (tensor<1x64x6x6xf32>, tensor<32x64x3x3xf32>, tensor<32xf32>) -> tensor<1x32x4x4xf32>",
    "grouped_conv": "nn.conv %x, %w, %b {group = 64 : i64} : (tensor<1x64x6x6xf32>, tensor<64x1x3x3xf32>, tensor<64xf32>) -> tensor<1x64x4x4xf32>",
}
"""One small float layer of each kind, quantized and lowered by ``int8_kernel_vectorised``."""


@cache
def int8_kernel_vectorised(kind: str) -> bool:
    """Whether this build lowers an int8 layer of ``kind`` with the 4-way int8 dot:
    probed once per process by quantizing a small layer (dynamic mode) and running the
    compile pipeline on it, so the answer follows the kernels as they are."""
    from dynir.remarks import collect_remarks

    layer = _PROBES[kind]
    types = layer.rpartition(" : (")[2].split(") -> ")
    args = types[0].split(", ")
    names = ["%x", "%w", "%b"][: len(args)]
    text = (f"func.func @main({names[0]}: {args[0]}) -> {types[1]} {{\n"
            + "".join(f"  {n} = nn.constant {{value = dense<0.5> : {t}}} : {t}\n" for n, t in zip(names[1:], args[1:]))
            + f"  %y = {layer}\n  func.return %y : {types[1]}\n}}")
    with collect_remarks():  # the probe's own remarks are not the user's
        return _lowers_with_dot4(text)


def _lowers_with_dot4(text: str) -> bool:
    import numpy as np

    from dynir.dialects.nn.constant import ConstantOp
    from dynir.ir.context import make_context
    from dynir.ir.text import parse
    from dynir.passes.quantize import QuantizePass
    from dynir.pipeline import build_pipeline, compile_pipeline

    try:
        module = parse(text)
        for op in module.walk():  # non-splat weights, as real layers have
            if isinstance(op, ConstantOp):
                shape = op.array().shape
                op.attributes.pop("value", None)
                op.properties.pop("value", None)
                fresh = ConstantOp.from_array(np.linspace(-1, 1, int(np.prod(shape)), dtype=np.float32).reshape(shape), "probe")
                op.output.replace_all_uses_with(fresh.output)
                op.parent_block().insert_op_before(fresh, op)  # type: ignore[union-attr]
                op.detach()
                op.erase()
        QuantizePass(mode="dynamic", keep_float=False).apply(make_context(), module)
        for p in build_pipeline(compile_pipeline(fuse=True)):
            p.apply(make_context(), module)
    except Exception:  # noqa: BLE001  (a layer this build cannot lower is not vectorised)
        return False
    return any(op.name == "vecx.dot4" for op in module.walk())


def speedup_of(kind: str) -> float:
    """Expected int8 / float throughput of a layer of ``kind`` in this build."""
    return INT8_SPEEDUP[kind] if int8_kernel_vectorised(kind) else LOOP_SPEEDUP


def _kernels_key(mode: str) -> str:
    if mode != "static":
        return mode
    from dynir.passes._fusion_utils import retyping_epilogue_lowers

    return "static-fused" if retyping_epilogue_lowers() else "static"


def why_float(op: Operation, mode: str) -> str | None:
    """Why int8 would make ``op`` slower in ``mode`` (None when it pays off)."""
    if mode not in QUANTIZE_MAC_TIMES:
        return None  # weight-only: compute stays float, nothing to win or lose here
    cost = layer_cost(op)
    speedup = speedup_of(cost.kind)
    saved = cost.macs * (1.0 - 1.0 / speedup)
    kernels = KERNEL_MAC_TIMES[_kernels_key(mode)]
    quantizing = cost.activations * QUANTIZE_MAC_TIMES[mode]
    if saved > kernels + quantizing:
        return None
    if speedup <= 1.0:
        what = "plain i32 loops, no 4-way int8 dot" if speedup == LOOP_SPEEDUP else "no faster int8 kernel"
        return f"the int8 {cost.kind.replace('_', ' ')} kernel is {speedup:g}x float ({what})"
    if saved <= kernels:
        return (f"tiny layer: {cost.macs} MACs save ~{saved:.3g} MAC-times, "
                f"less than the int8 kernels add ({kernels:.3g})")
    return (f"{mode} int8 would be slower: quantizing {cost.activations} activations costs "
            f"~{quantizing + kernels:.3g} MAC-times, int8 saves ~{saved:.3g} ({cost.macs} MACs at {speedup:g}x)")
