"""Elementwise ops (every subclass of stablehlo.ElementwiseOp)."""

from __future__ import annotations

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, SSAValue

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import insert_axis
from vmlir.passes.rules.context import (
    RuleContext,
    RuleResult,
    first_batched,
    i64_array,
    tensor_type,
)


def elementwise_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """All full-rank operands meet at the first batched operand's axis; scalar operands
    that StableHLO allows (select's predicate, clamp's bounds) stay scalar when uniform."""
    k = first_batched(axes)
    out_rank = tensor_type(op.results[0]).get_num_dims()
    full_shape = insert_axis(tensor_type(op.results[0]), k, ctx.axis_size).get_shape()
    new_operands: list[SSAValue] = []
    for v, a, orig in zip(operands, axes, op.operands):
        per_rank = tensor_type(orig).get_num_dims()
        if per_rank == out_rank:
            new_operands.append(ctx.to_axis(v, a, k))
        elif a is None:
            new_operands.append(
                v
            )  # a uniform scalar operand StableHLO broadcasts itself
        else:
            # A batched scalar next to full-rank operands: give it the full shape.
            t = tensor_type(v)
            target = TensorType(t.element_type, full_shape)
            new_operands.append(
                ctx.emit(
                    hlo.BroadcastInDimOp.create(
                        operands=[v],
                        result_types=[target],
                        properties={"broadcast_dimensions": i64_array([k])},
                    )
                ).results[0]
            )
    result_types = [insert_axis(tensor_type(r), k, ctx.axis_size) for r in op.results]
    new = ctx.rebuild(op, new_operands, result_types)
    return new.results, [k] * len(op.results)
