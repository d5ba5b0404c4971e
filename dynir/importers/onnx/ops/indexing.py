"""Converters for ONNX indexing ops: Slice, Gather, GatherElements, ScatterElements and
TopK (slice bounds and ``k`` must be known at import time). A Slice bound computed from
the input's own dynamic dim (``x[:, : x.size(1) - 1]``) is known relative to that dim:
it becomes a negative index, or ``INT64_MAX`` for the dim itself or beyond."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.ir import Attribute, SSAValue

from dynir.builder.symbolic import DimExpr
from dynir.dialects.nn.base import int_attr, ints_attr, str_attr
from dynir.dialects.nn.indexing import GatherElementsOp, GatherOp, ScatterElementsOp, SliceOp, TopKOp
from dynir.importers.onnx.ops.shape import int_list
from dynir.importers.onnx.registry import NodeContext, converter


def _slice(
    ctx: NodeContext, starts: list[int], ends: list[int], axes: list[int] | None, steps: list[int] | None
) -> Sequence[SSAValue]:
    props: dict[str, Attribute] = {"starts": ints_attr(starts), "ends": ints_attr(ends)}
    if axes is not None:
        props["axes"] = ints_attr(axes)
    if steps is not None:
        props["steps"] = ints_attr(steps)
    return ctx.emit(SliceOp, [ctx.input(0)], props)


@converter("Slice")
def slice_v1(ctx: NodeContext) -> Sequence[SSAValue]:
    return _slice(ctx, ctx.attr("starts", []), ctx.attr("ends", []), ctx.attr("axes"), None)


@converter("Slice", since=10)
def slice_v10(ctx: NodeContext) -> Sequence[SSAValue]:
    axes = int_list(ctx.require_const_input(3, "axes")) if ctx.has_input(3) else None
    steps = int_list(ctx.require_const_input(4, "steps")) if ctx.has_input(4) else None
    starts = _bounds(ctx, 1, "starts", axes)
    ends = _bounds(ctx, 2, "ends", axes)
    return _slice(ctx, starts, ends, axes, steps)


INT64_MAX = 2**63 - 1


def _bounds(ctx: NodeContext, i: int, what: str, axes: list[int] | None) -> list[int]:
    """Slice bounds: constants, or symbolic ones relative to the input's own dims."""
    known = ctx.const_input(i)
    if known is not None:
        return int_list(known)
    symbolic = ctx.symbolic_input(i)
    if symbolic is None or symbolic.ndim != 1:
        return int_list(ctx.require_const_input(i, what))  # raises, naming the input
    dims = ctx.dim_exprs(0)
    rank = len(dims)
    bounds: list[int] = []
    for k, element in enumerate(symbolic):
        if not isinstance(element, DimExpr):
            bounds.append(int(element))
            continue
        axis = axes[k] if axes is not None else k
        axis = axis + rank if axis < 0 else axis
        offset = element - dims[axis] if 0 <= axis < rank else None
        if not isinstance(offset, int):
            ctx.error(
                f"{what} (input #{i}) element {k} is {element} at run time, which is not the input's "
                "own dim plus a constant, so a static slice cannot express it"
            )
        bounds.append(offset if offset < 0 else INT64_MAX)
    return bounds


@converter("Gather")
def gather(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(GatherOp, [ctx.input(0), ctx.input(1)], {"axis": int_attr(ctx.attr("axis", 0))})


@converter("GatherElements", since=11)
def gather_elements(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(GatherElementsOp, [ctx.input(0), ctx.input(1)], {"axis": int_attr(ctx.attr("axis", 0))})


@converter("ScatterElements", since=11)
def scatter_elements(ctx: NodeContext) -> Sequence[SSAValue]:
    props: dict[str, Attribute] = {"axis": int_attr(ctx.attr("axis", 0))}
    reduction = ctx.attr("reduction", "none")
    if reduction != "none":
        props["reduction"] = str_attr(reduction)
    return ctx.emit(ScatterElementsOp, [ctx.input(0), ctx.input(1), ctx.input(2)], props)


def _topk(ctx: NodeContext, k: int) -> Sequence[SSAValue]:
    props: dict[str, Attribute] = {"k": int_attr(k), "axis": int_attr(ctx.attr("axis", -1))}
    for name in ("largest", "sorted"):
        if ctx.has_attr(name):
            props[name] = int_attr(ctx.attr(name))
    return ctx.emit(TopKOp, [ctx.input(0)], props, num_results=2)


@converter("TopK")
def topk_v1(ctx: NodeContext) -> Sequence[SSAValue]:
    return _topk(ctx, ctx.attr("k", 0))


@converter("TopK", since=10)
def topk_v10(ctx: NodeContext) -> Sequence[SSAValue]:
    k = int_list(ctx.require_const_input(1, "k"))
    if len(k) != 1:
        ctx.error(f"k must hold one value, got {len(k)}")
    return _topk(ctx, k[0])
