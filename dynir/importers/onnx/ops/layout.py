"""Converters for ONNX data-movement ops: Transpose, Tile, Pad, Concat, Split,
DepthToSpace and SpaceToDepth (parameter inputs must be known at import time)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import Attribute, SSAValue

from dynir.dialects.nn.base import float_attr, int_attr, ints_attr, str_attr
from dynir.dialects.nn.layout import (
    PAD_MODES,
    ConcatOp,
    DepthToSpaceOp,
    PadOp,
    SpaceToDepthOp,
    SplitOp,
    TileOp,
    TransposeOp,
)
from dynir.importers.onnx.ops.shape import int_list
from dynir.importers.onnx.registry import NodeContext, converter
from dynir.ir.types import shape_of


@converter("Transpose")
def transpose(ctx: NodeContext) -> Sequence[SSAValue]:
    rank = len(shape_of(ctx.input_type(0)))
    perm = ctx.attr("perm", list(reversed(range(rank))))
    return ctx.emit(TransposeOp, [ctx.input(0)], {"perm": ints_attr(perm)})


@converter("Tile", since=6)
def tile(ctx: NodeContext) -> Sequence[SSAValue]:
    repeats = int_list(ctx.require_const_input(1, "repeats"))
    return ctx.emit(TileOp, [ctx.input(0)], {"repeats": ints_attr(repeats)})


def _pad(ctx: NodeContext, pads: list[int], value: float) -> Sequence[SSAValue]:
    mode = ctx.attr("mode", "constant")
    if mode not in PAD_MODES:
        ctx.error(f"mode '{mode}' is not supported")
    props: dict[str, Attribute] = {"pads": ints_attr(pads), "mode": str_attr(mode)}
    if mode == "constant" and value != 0.0:
        props["value"] = float_attr(value)
    return ctx.emit(PadOp, [ctx.input(0)], props)


@converter("Pad", since=2)
def pad_v2(ctx: NodeContext) -> Sequence[SSAValue]:
    return _pad(ctx, ctx.attr("pads", []), ctx.attr("value", 0.0))


@converter("Pad", since=11)
def pad_v11(ctx: NodeContext) -> Sequence[SSAValue]:
    pads = int_list(ctx.require_const_input(1, "pads"))
    value = 0.0
    if ctx.has_input(2):
        fill = np.asarray(ctx.require_const_input(2, "constant_value")).reshape(-1)
        value = float(fill[0]) if fill.size else 0.0
    if ctx.has_input(3):
        rank = len(shape_of(ctx.input_type(0)))
        axes = int_list(ctx.require_const_input(3, "axes"))
        if len(pads) != 2 * len(axes):
            ctx.error(f"pads {pads} must hold 2 values per axis of {axes}")
        full = [0] * (2 * rank)
        for i, axis in enumerate(axes):
            if not -rank <= axis < rank:
                ctx.error(f"axes {axes} out of range for rank {rank}")
            axis %= rank
            full[axis], full[rank + axis] = pads[i], pads[len(axes) + i]
        pads = full
    return _pad(ctx, pads, value)


@converter("Concat")
def concat(ctx: NodeContext) -> Sequence[SSAValue]:
    inputs = [ctx.input(i) for i in range(ctx.num_inputs) if ctx.has_input(i)]
    return ctx.emit(ConcatOp, inputs, {"axis": int_attr(ctx.attr("axis", 1))})


def _split(ctx: NodeContext, sizes: list[int] | None) -> Sequence[SSAValue]:
    props: dict[str, Attribute] = {"axis": int_attr(ctx.attr("axis", 0))}
    if sizes is not None:
        props["sizes"] = ints_attr(sizes)
    else:
        shape = shape_of(ctx.input_type(0))
        rank = len(shape)
        axis = ctx.attr("axis", 0)
        dim = shape[axis % rank] if -rank <= axis < rank else None
        if ctx.opset < 18 and dim is not None and dim % ctx.num_outputs:
            ctx.error(f"dim {dim} does not split evenly into {ctx.num_outputs} outputs")
    return ctx.emit(SplitOp, [ctx.input(0)], props, num_results=ctx.num_outputs)


@converter("Split")
def split_v1(ctx: NodeContext) -> Sequence[SSAValue]:
    if ctx.has_input(1):
        return _split(ctx, int_list(ctx.require_const_input(1, "split")))
    return _split(ctx, ctx.attr("split"))


@converter("Split", since=13)
def split_v13(ctx: NodeContext) -> Sequence[SSAValue]:
    sizes = int_list(ctx.require_const_input(1, "split")) if ctx.has_input(1) else None
    if sizes is None and ctx.has_attr("num_outputs") and ctx.attr("num_outputs") != ctx.num_outputs:
        ctx.error(f"num_outputs {ctx.attr('num_outputs')} differs from the {ctx.num_outputs} outputs")
    return _split(ctx, sizes)


@converter("DepthToSpace")
def depth_to_space(ctx: NodeContext) -> Sequence[SSAValue]:
    props = {"blocksize": int_attr(ctx.attr("blocksize", 0)), "mode": str_attr(ctx.attr("mode", "DCR"))}
    return ctx.emit(DepthToSpaceOp, [ctx.input(0)], props)


@converter("SpaceToDepth")
def space_to_depth(ctx: NodeContext) -> Sequence[SSAValue]:
    props = {"blocksize": int_attr(ctx.attr("blocksize", 0))}
    if ctx.has_attr("mode"):  # opset 28
        props["mode"] = str_attr(ctx.attr("mode"))
    return ctx.emit(SpaceToDepthOp, [ctx.input(0)], props)
