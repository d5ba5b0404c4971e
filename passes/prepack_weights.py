"""``prepack-weights``: constant right-hand sides of matmul/gemm stored in the micro-kernel's
panel layout, once, at compile time.

Requires: host functions of ``nn`` ops, grouped or not (it runs after the fusion passes,
so it sees the final groups). Guarantees: every ``nn.matmul`` whose ``B`` is a 2-D float
constant becomes ``nn.packed_matmul``, and every such ``nn.gemm`` (``trans_b`` folded into
the packing) ``nn.packed_gemm``, reading a new constant in the layout of
``dynir.dialects.nn.packed`` (panels as wide as ``PANEL_VECTORS`` host vector registers). A
constant that reached a group as an input is replaced by the packed one in the group's
inputs; the original constant goes when nothing else uses it. Results are unchanged: the
packed ops' reference semantics unpack. An op left alone gets a remark saying why.

Before::

    %w = nn.constant ... : tensor<1024x4096xf32>
    %y = nn.matmul %x, %w : (tensor<?x1024xf32>, tensor<1024x4096xf32>) -> tensor<?x4096xf32>

After (16 f32 lanes, panels of 32 columns)::

    %wp = nn.constant ... : tensor<128x1024x32xf32>
    %y = nn.packed_matmul %x, %wp {columns = 4096 : i64} : (tensor<?x1024xf32>, tensor<128x1024x32xf32>) -> tensor<?x4096xf32>
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass

from dynir.dialects.fusion import GroupOp
from dynir.dialects.nn.base import int_attr, read_int
from dynir.dialects.nn.constant import ConstantOp
from dynir.ir.types import element_type
from dynir.dialects.nn.packed import PANEL_VECTORS, PackedGemmOp, PackedMatmulOp, pack_panels
from dynir.lowering.vector import lanes_for
from dynir.passes._fusion_utils import erase_if_dead, host_blocks, new_constant
from dynir.remarks import remark

PACKABLE = ("nn.matmul", "nn.gemm")


def _constant_input(value: SSAValue, group: GroupOp | None) -> ConstantOp | None:
    """The ``nn.constant`` behind ``value``: defined in place, or a group input."""
    owner = value.owner
    if isinstance(owner, ConstantOp):
        return owner
    if group is not None and isinstance(value, BlockArgument) and value.block is group.body.block:
        outer = group.inputs[value.index].owner
        return outer if isinstance(outer, ConstantOp) else None
    return None


def _why_not(op: Operation, weight: ConstantOp | None) -> str | None:
    if weight is None:
        return "not packed: B is not a constant"
    array = weight.array()
    if array.ndim != 2:
        return f"not packed: B has rank {array.ndim}, the panels need a 2-D B"
    if array.dtype not in (np.float32, np.float64):
        return f"not packed: B is {array.dtype}, the micro-kernel takes float32/float64"
    return None


def _packed_op(op: Operation, packed: SSAValue, columns: int) -> Operation:
    props: dict[str, Attribute] = {"columns": int_attr(columns)}
    if op.name == "nn.matmul":
        new: Operation = PackedMatmulOp.make([op.operands[0], packed], props)
    else:
        for name in ("alpha", "beta", "trans_a"):
            if name in op.properties:
                props[name] = op.properties[name]
        new = PackedGemmOp.make([op.operands[0], packed, op.operands[2]], props)
    new.attributes.update(op.attributes)
    return new


def _packed_value(op: Operation, weight: ConstantOp, group: GroupOp | None, array: np.ndarray) -> SSAValue:
    """The packed constant where ``op`` can use it: beside ``op``, or as a new input of
    ``group`` when the original constant came from outside it."""
    packed = new_constant(array, "packed_weight")
    if group is not None and weight.parent_block() is not op.parent_block():
        host = group.parent_block()
        assert host is not None
        host.insert_op_before(packed, group)
        block = group.body.block
        group.operands = [*group.operands, packed.output]
        return block.insert_arg(packed.output.type, len(block.args))
    block = op.parent_block()
    assert block is not None
    block.insert_op_before(packed, op)
    return packed.output


def _drop_unused_input(group: GroupOp, value: SSAValue) -> None:
    if isinstance(value, BlockArgument) and value.block is group.body.block and not value.uses:
        index = value.index
        group.operands = [v for i, v in enumerate(group.operands) if i != index]
        group.body.block.erase_arg(value)


def pack_op(op: Operation, group: GroupOp | None) -> Operation | None:
    """Rewrite ``op`` (an ``nn.matmul``/``nn.gemm``) to read pre-packed panels; the new op,
    or None (with a remark) when ``op`` does not qualify."""
    b = op.operands[1]
    weight = _constant_input(b, group)
    reason = _why_not(op, weight)
    if reason is not None or weight is None:
        remark(op, reason or "not packed")
        return None
    array = weight.array()
    if op.name == "nn.gemm" and read_int(op.properties.get("trans_b"), 0):
        array = array.T
    width = PANEL_VECTORS * lanes_for(element_type(array.dtype))
    k, n = array.shape
    packed = _packed_value(op, weight, group, pack_panels(array, width))
    new = _packed_op(op, packed, n)
    block = op.parent_block()
    assert block is not None
    block.insert_op_before(new, op)
    op.results[0].replace_all_uses_with(new.results[0])
    op.detach()
    op.erase()
    if group is not None:
        _drop_unused_input(group, b)
    erase_if_dead(weight.output)
    remark(new, f"packed B ({k}x{n}) into {-(-n // width)} panels of {width} columns")
    return new


def prepack_block(block: Block) -> None:
    for op in list(block.ops):
        if isinstance(op, GroupOp):
            for inner in list(op.body.block.ops):
                if inner.name in PACKABLE:
                    pack_op(inner, op)
        elif op.name in PACKABLE:
            pack_op(op, None)


@dataclass(frozen=True)
class PrepackWeightsPass(ModulePass):
    name = "prepack-weights"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for block in host_blocks(op):
            prepack_block(block)
