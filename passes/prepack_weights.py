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

Integer layers get the same treatment: ``quant.matmul`` with a 2-D constant ``B`` and
constant zero point, and ``quant.gemm`` (no ``trans_a``; ``trans_b`` folded, a constant
bias ``c`` of one value per column folded into the column terms) become
``quant.packed_matmul`` on VNNI panels (``dynir.dialects.quant.packed``): B in signed
bytes, 4 k's per 32-bit lane, its zero points and column sums precomputed. A
``quant.matmul`` whose ``B`` is an activation (static 2-D ``i8``, zero point 0) gets
``quant.pack_panels`` instead, which packs it at run time in a kernel of its own.

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
from xdsl.dialects.builtin import ModuleOp, i8
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass

from dynir.dialects.fusion import GroupOp
from dynir.dialects.nn.base import int_attr, ints_attr, read_int
from dynir.dialects.nn.constant import ConstantOp
from dynir.dialects.quant.packed import PackedMatmulOp as Int8PackedMatmulOp
from dynir.dialects.quant.packed import PackedConvOp, PackPanelsOp, pack_int8_conv_weights, pack_int8_weights
from dynir.ir.types import element_of, element_type, numpy_dtype, shape_of
from dynir.lowering.int8_microkernel import INT8_PANEL_VECTORS, int8_lanes
from dynir.dialects.nn.packed import PANEL_VECTORS, PackedGemmOp, PackedMatmulOp, pack_panels
from dynir.lowering.vector import lanes_for
from dynir.passes._fusion_utils import erase_if_dead, host_blocks, new_constant
from dynir.remarks import remark

PACKABLE = ("nn.matmul", "nn.gemm")
INT8_PACKABLE = ("quant.matmul", "quant.gemm", "quant.conv")


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
    _replace(op, new, group, [b], [weight])
    remark(new, f"packed B ({k}x{n}) into {-(-n // width)} panels of {width} columns")
    return new


# ----------------------------------------------------------------------------------
# Integer layers: VNNI panels.


def _column_vector(array: np.ndarray, shape: tuple[int, int], columns_axis: int) -> np.ndarray | None:
    """``array`` broadcast to ``shape`` as one value per column (None when it varies
    along the other axis, or does not broadcast)."""
    target = (max(shape[0], 1), shape[1]) if columns_axis == 1 else (shape[0], max(shape[1], 1))
    try:
        full = np.broadcast_to(array, target)
    except ValueError:
        return None
    along = full if columns_axis == 1 else full.T
    line = along[0, :]
    return line if bool(np.all(along == line)) else None


def int8_operands(op: Operation, group: GroupOp | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """``(B as K x N, zero point per column, bias per column)`` or why ``op`` is not packed."""
    is_gemm = op.name == "quant.gemm"
    a, b = op.operands[0], op.operands[1]
    bz = op.operands[4] if is_gemm else op.operands[3]
    weight, zero = _constant_input(b, group), _constant_input(bz, group)
    if weight is None or zero is None:
        return "not packed: B or its zero point is not a constant"
    array = weight.array()
    if array.ndim != 2 or array.dtype not in (np.int8, np.uint8):
        return f"not packed: B is {array.dtype} of rank {array.ndim}, the VNNI panels take 2-D int8/uint8"
    if len(shape_of(a.type)) < 2 or numpy_dtype(element_of(a.type)).itemsize != 1:
        return f"not packed: A {a.type} is not an 8-bit matrix"
    a_zero_shape = shape_of(op.operands[3 if is_gemm else 2].type)
    if a_zero_shape and a_zero_shape[-1] != 1:
        return "not packed: A's zero point varies along K"
    if is_gemm and read_int(op.properties.get("trans_a"), 0):
        return "not packed: gemm with trans_a"
    trans_b = is_gemm and bool(read_int(op.properties.get("trans_b"), 0))
    zero_column = _column_vector(zero.array(), array.shape, 0 if trans_b else 1)
    if zero_column is None:
        return "not packed: B's zero point varies along K"
    matrix = array.T if trans_b else array
    bias = np.zeros(matrix.shape[1], np.int32)
    if is_gemm:
        c = _constant_input(op.operands[2], group)
        c_array = None if c is None else c.array()
        if c_array is None or c_array.ndim > 2 or (c_array.ndim == 2 and c_array.shape[0] != 1):
            return "not packed: the bias c is not a constant with one value per column"
        bias = np.broadcast_to(c_array.reshape(c_array.shape[-1:]), (matrix.shape[1],))
    return matrix, zero_column, bias


def activation_rhs_why_not(op: Operation, group: GroupOp | None) -> str | None:
    """Why ``pack_int8_activation_rhs`` would leave the ``quant.matmul`` ``op`` (None: it packs it)."""
    a, b, az, bz = op.operands
    zero = _constant_input(bz, group)
    shape = shape_of(b.type)
    if zero is None or np.any(zero.array()) or element_of(b.type) != i8 or len(shape) != 2 or None in shape:
        return "not packed: a run-time B must be static 2-D i8 with zero point 0"
    if len(shape_of(a.type)) < 2 or numpy_dtype(element_of(a.type)).itemsize != 1 or (shape_of(az.type) or (1,))[-1] != 1:
        return f"not packed: A {a.type} is not an 8-bit matrix with one zero point per row"
    if group is not None and not (isinstance(b, BlockArgument) and b.block is group.body.block):
        return "not packed: B is computed inside the kernel's group"
    return None


def pack_int8_activation_rhs(op: Operation, group: GroupOp | None) -> Operation | None:
    """A ``quant.matmul`` whose ``B`` is computed at run time (static 2-D ``i8``, zero point
    0: a matmul of two activations): ``quant.pack_panels`` packs it in a kernel of its own,
    before the group, for ``quant.packed_matmul``; None (with a remark) where not."""
    reason = activation_rhs_why_not(op, group)
    if reason is not None:
        remark(op, reason)
        return None
    a, b, az, bz = op.operands
    zero = _constant_input(bz, group)
    outer = group.inputs[b.index] if group is not None and isinstance(b, BlockArgument) and b.block is group.body.block else b
    k, n = shape_of(b.type)
    assert k is not None and n is not None and zero is not None
    width = INT8_PANEL_VECTORS * int8_lanes()
    pack = PackPanelsOp.make([outer], {"width": int_attr(width)}, num_results=2)
    pack.location = op.location
    values: list[SSAValue] = list(pack.results)
    if group is not None:
        host = group.parent_block()
        assert host is not None
        host.insert_op_before(pack, group)
        group.operands = [*group.operands, *pack.results]
        block = group.body.block
        values = [block.insert_arg(r.type, len(block.args)) for r in pack.results]
    else:
        block = op.parent_block()
        assert block is not None
        block.insert_op_before(pack, op)
    props: dict[str, Attribute] = {"columns": int_attr(n), "depth": int_attr(k), "row_sums": int_attr(0)}
    new = Int8PackedMatmulOp.make([a, *values, az], props)
    _replace(op, new, group, [b, bz], [None, zero])
    remark(new, f"packs int8 B ({k}x{n}) at run time into {-(-n // width)} VNNI panels of {width} columns")
    return new


def pack_int8_op(op: Operation, group: GroupOp | None) -> Operation | None:
    """Rewrite ``op`` (``quant.matmul``/``quant.gemm``) as ``quant.packed_matmul``; the new
    op, or None (with a remark) when ``op`` does not qualify."""
    if op.name == "quant.matmul" and _constant_input(op.operands[1], group) is None:
        return pack_int8_activation_rhs(op, group)
    found = int8_operands(op, group)
    if isinstance(found, str):
        remark(op, found)
        return None
    matrix, zero, bias = found
    width = INT8_PANEL_VECTORS * int8_lanes()
    weights = pack_int8_weights(matrix, zero, bias, width)
    is_gemm = op.name == "quant.gemm"
    old = [op.operands[i] for i in ((1, 2, 4) if is_gemm else (1, 3))]
    constants = [_constant_input(v, group) for v in old]
    weight = constants[0]
    assert weight is not None
    panels = _packed_value(op, weight, group, weights.panels)
    terms = _packed_value(op, weight, group, weights.terms)
    k, n = matrix.shape
    props: dict[str, Attribute] = {"columns": int_attr(n), "depth": int_attr(k), "row_sums": int_attr(int(weights.row_sums))}
    new = Int8PackedMatmulOp.make([op.operands[0], panels, terms, op.operands[3 if is_gemm else 2]], props)
    _replace(op, new, group, old, constants)
    remark(new, f"packed int8 B ({k}x{n}) into {-(-n // width)} VNNI panels of {width} columns")
    return new


def int8_conv_operands(op: Operation, group: GroupOp | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """``(W, zero point per output channel, bias)`` of a ``quant.conv``, or why not packed."""
    x, w, b, xz, wz = (_constant_input(v, group) if i in (1, 2, 4) else v for i, v in enumerate(op.operands))
    if not isinstance(w, ConstantOp) or not isinstance(b, ConstantOp) or not isinstance(wz, ConstantOp):
        return "not packed: the weight, its zero point or the bias is not a constant"
    weight = w.array()
    if weight.ndim != 4 or weight.dtype not in (np.int8, np.uint8) or len(shape_of(x.type)) != 4:  # type: ignore[union-attr]
        return "not packed: the VNNI conv takes 2-D convolutions of int8/uint8"
    if numpy_dtype(element_of(x.type)).itemsize != 1 or any(d != 1 for d in shape_of(xz.type)):  # type: ignore[union-attr]
        return "not packed: the input is not 8-bit with one zero point"
    try:
        zero = np.broadcast_to(wz.array(), weight.shape)
    except ValueError:
        return "not packed: the weight zero point does not broadcast"
    per_channel = zero.reshape(weight.shape[0], -1)
    if not bool(np.all(per_channel == per_channel[:, :1])):
        return "not packed: the weight zero point varies within an output channel"
    return weight, per_channel[:, 0], b.array()


def pack_int8_conv(op: Operation, group: GroupOp | None) -> Operation | None:
    """Rewrite a ``quant.conv`` as ``quant.packed_conv`` (weights as packed signed rows)."""
    found = int8_conv_operands(op, group)
    if isinstance(found, str):
        remark(op, found)
        return None
    weight_array, zero, bias = found
    packed = pack_int8_conv_weights(weight_array, zero, bias)
    old = [op.operands[i] for i in (1, 2, 4)]
    constants = [_constant_input(v, group) for v in old]
    weight = constants[0]
    assert weight is not None
    rows = _packed_value(op, weight, group, packed.panels)
    terms = _packed_value(op, weight, group, packed.terms)
    props: dict[str, Attribute] = {
        "kernel_shape": ints_attr(weight_array.shape[2:]),
        "depth": int_attr(int(np.prod(weight_array.shape[1:]))),
        "row_sums": int_attr(int(packed.row_sums)),
    }
    props.update({k: v for k in ("strides", "pads", "dilations", "group") if (v := op.properties.get(k)) is not None})
    new = PackedConvOp.make([op.operands[0], rows, terms, op.operands[3]], props)
    _replace(op, new, group, old, constants)
    remark(new, f"packed int8 conv weight {weight_array.shape} into {packed.panels.shape[0]} rows of {packed.panels.shape[1]} bytes")
    return new


def _replace(op: Operation, new: Operation, group: GroupOp | None, old: list[SSAValue], constants: list[ConstantOp | None]) -> None:
    new.attributes.update(op.attributes)
    new.location = op.location  # profiles and reports name the ONNX node
    block = op.parent_block()
    assert block is not None
    block.insert_op_before(new, op)
    op.results[0].replace_all_uses_with(new.results[0])
    op.detach()
    op.erase()
    for value, constant in zip(old, constants):
        if group is not None:
            _drop_unused_input(group, value)
        if constant is not None:
            erase_if_dead(constant.output)


def _pack_any(op: Operation, group: GroupOp | None) -> None:
    if op.name in PACKABLE:
        pack_op(op, group)
    elif op.name == "quant.conv":
        pack_int8_conv(op, group)
    elif op.name in INT8_PACKABLE:
        pack_int8_op(op, group)


def prepack_block(block: Block) -> None:
    for op in list(block.ops):
        if isinstance(op, GroupOp):
            for inner in list(op.body.block.ops):
                _pack_any(inner, op)
        else:
            _pack_any(op, None)


@dataclass(frozen=True)
class PrepackWeightsPass(ModulePass):
    name = "prepack-weights"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for block in host_blocks(op):
            prepack_block(block)
