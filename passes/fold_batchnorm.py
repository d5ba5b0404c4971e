"""``fold-batchnorm``: an inference ``batch_norm`` after a conv or gemm is folded into
the producer's weights and bias.

Requires: host functions of ``nn`` ops. Guarantees: for ``y = batch_norm(p, g, b, m, v)``
where ``p`` is an ``nn.conv`` (or ``nn.gemm`` with ``alpha``/``beta`` folded in) with
constant weights and bias, used only by the batch_norm, and all batch_norm
parameters constant, ``y`` is replaced by the producer with per-output-channel
weights ``w * s`` and bias ``(bias - m) * s + b``, ``s = g / sqrt(v + eps)``. Otherwise a
remark says why the batch_norm stays.

Before::

    %c = nn.conv %x, %w, %bias ...
    %y = nn.batch_norm %c, %g, %b, %m, %v {epsilon = 1.0e-05 : f64} ...

After::

    %c = nn.conv %x, %w2, %bias2 ...      (%w2, %bias2: new nn.constant ops)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from dynir.dialects.nn.base import float_attr, int_attr, read_float, read_int
from dynir.dialects.nn.constant import ConstantOp
from dynir.passes._fusion_utils import erase_if_dead, host_blocks, new_constant, users
from dynir.remarks import remark


def _constant(value: SSAValue) -> np.ndarray | None:
    owner = value.owner
    return owner.array() if isinstance(owner, ConstantOp) else None


def _insert_constant(before: Operation, array: np.ndarray, name: str) -> SSAValue:
    op = new_constant(array, name)
    block = before.parent_block()
    assert block is not None
    block.insert_op_before(op, before)
    return op.output


def _why_not(bn: Operation) -> str | None:
    producer = bn.operands[0].owner
    if not isinstance(producer, Operation) or producer.name not in ("nn.conv", "nn.gemm"):
        name = producer.name if isinstance(producer, Operation) else "a function argument"
        return f"not folded: input comes from {name}, not a conv or gemm"
    n = len(users(producer.results[0]))
    if n != 1:
        return f"not folded: producer has {n} users"
    if any(_constant(v) is None for v in bn.operands[1:]):
        return "not folded: batch_norm parameters are not constants"
    if any(_constant(v) is None for v in producer.operands[1:]):
        return f"not folded: '{producer.name}' weights or bias are not constants"
    if producer.name == "nn.gemm" and read_int(producer.properties.get("trans_a"), 0) not in (0, 1):
        return "not folded: unsupported gemm"
    return None


def _fold(bn: Operation, producer: Operation) -> None:
    scale, shift, mean, var = (_constant(v) for v in bn.operands[1:])
    assert scale is not None and shift is not None and mean is not None and var is not None
    eps = read_float(bn.properties.get("epsilon"), 1e-5)
    factor = (scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps))
    weight = _constant(producer.operands[1])
    bias = _constant(producer.operands[2])
    assert weight is not None and bias is not None
    dtype = weight.dtype
    if producer.name == "nn.conv":
        new_w = weight * factor.reshape((-1,) + (1,) * (weight.ndim - 1))
        new_b = (bias - mean) * factor + shift
    else:
        alpha = read_float(producer.properties.get("alpha"), 1.0)
        beta = read_float(producer.properties.get("beta"), 1.0)
        trans_b = read_int(producer.properties.get("trans_b"), 0)
        new_w = weight * alpha * (factor.reshape(-1, 1) if trans_b else factor.reshape(1, -1))
        new_b = (beta * bias - mean) * factor + shift
        producer.properties["alpha"] = float_attr(1.0)
        producer.properties["beta"] = float_attr(1.0)
        producer.properties["trans_b"] = int_attr(trans_b)
    old = [producer.operands[1], producer.operands[2], *bn.operands[1:]]
    producer.operands[1] = _insert_constant(producer, new_w.astype(dtype), "folded_weight")  # type: ignore[index]
    producer.operands[2] = _insert_constant(producer, np.asarray(new_b, dtype=dtype), "folded_bias")  # type: ignore[index]
    bn.results[0].replace_all_uses_with(producer.results[0])
    bn.detach()
    bn.erase()
    for value in old:
        erase_if_dead(value)


def fold_batchnorm_block(block: Block) -> int:
    folded = 0
    for op in list(block.ops):
        if op.name != "nn.batch_norm":
            continue
        reason = _why_not(op)
        if reason is not None:
            remark(op, reason)
            continue
        producer = op.operands[0].owner
        assert isinstance(producer, Operation)
        _fold(op, producer)
        folded += 1
    return folded


@dataclass(frozen=True)
class FoldBatchnormPass(ModulePass):
    name = "fold-batchnorm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for block in host_blocks(op):
            fold_batchnorm_block(block)
