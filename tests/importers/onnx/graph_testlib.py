"""Shared by the graph-importer tests: tiny converters in a private domain ("test.dynir"),
so these tests depend on the importer core only, and builders for small models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from xdsl.ir import SSAValue

from dynir.dialects.nn.base import int_attr
from dynir.dialects.nn.elementwise import AddOp, ReluOp
from dynir.dialects.nn.indexing import GatherOp
from dynir.dialects.nn.layout import ConcatOp
from dynir.importers.onnx.registry import NodeContext, converter

TEST_DOMAIN = "test.dynir"
DEFAULT_OPSET = 17


@converter("Add", domain=TEST_DOMAIN)
def _add(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(AddOp, [ctx.input(0), ctx.input(1)])


@converter("Relu", domain=TEST_DOMAIN)
def _relu(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(ReluOp, [ctx.input(0)])


@converter("Gather", domain=TEST_DOMAIN)
def _gather(ctx: NodeContext) -> Sequence[SSAValue]:
    return ctx.emit(GatherOp, [ctx.input(0), ctx.input(1)], {"axis": int_attr(ctx.attr("axis", 0))})


@converter("Concat", domain=TEST_DOMAIN)
def _concat(ctx: NodeContext) -> Sequence[SSAValue]:
    operands = [ctx.input(i) for i in range(ctx.num_inputs)]
    return ctx.emit(ConcatOp, operands, {"axis": int_attr(ctx.attr("axis"))})


@converter("ReluWithMask", domain=TEST_DOMAIN)
def _relu_with_mask(ctx: NodeContext) -> Sequence[SSAValue]:
    """Has two outputs but produces only the first (like an optional output)."""
    return ctx.emit(ReluOp, [ctx.input(0)])


@converter("Refuse", domain=TEST_DOMAIN)
def _refuse(ctx: NodeContext) -> Sequence[SSAValue]:
    ctx.error(f"mode '{ctx.attr('mode')}' is not supported")


def node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str = "", **attrs: object) -> onnx.NodeProto:
    """A node of the test domain (``domain=""`` in attrs for a default-domain node)."""
    domain = str(attrs.pop("domain", TEST_DOMAIN))
    return helper.make_node(op_type, list(inputs), list(outputs), name=name or None, domain=domain, **attrs)


def value_info(name: str, dims: Sequence[int | str | None], elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, list(dims))


def model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto | str],
    initializers: Sequence[onnx.TensorProto] = (),
    *,
    opset: int = DEFAULT_OPSET,
    ir_version: int = 8,
) -> onnx.ModelProto:
    outs = [value_info(o, []) if isinstance(o, str) else o for o in outputs]
    graph = helper.make_graph(list(nodes), "g", list(inputs), outs, list(initializers))
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid(TEST_DOMAIN, 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=ir_version)


def initializer(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)
