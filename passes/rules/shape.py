"""Shape and data-movement ops, and the batch ops a nested vmap leaves behind."""

from __future__ import annotations

from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, i64
from xdsl.ir import Operation

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import BroadcastOp, MoveAxisOp, insert_axis
from vmlir.passes.rules.context import (
    RuleContext,
    RuleResult,
    i64_array,
    shift,
    tensor_type,
)


def broadcast_in_dim_rule(
    ctx: RuleContext, op: Operation, operands, axes
) -> RuleResult:
    (x,), (a,) = operands, axes
    dims = list(op.properties["broadcast_dimensions"].get_values())  # type: ignore[union-attr]
    new_dims = [d + 1 for d in dims]
    new_dims.insert(a, 0)  # the operand's batch axis becomes the result's axis 0
    out = insert_axis(tensor_type(op.results[0]), 0, ctx.axis_size)
    new = ctx.rebuild(op, [x], [out], broadcast_dimensions=i64_array(new_dims))
    return new.results, [0]


def reshape_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    x = ctx.move_axis(operands[0], axes[0], 0)
    out = insert_axis(tensor_type(op.results[0]), 0, ctx.axis_size)
    return ctx.rebuild(op, [x], [out]).results, [0]


def transpose_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    (x,), (a,) = operands, axes
    perm = list(op.properties["permutation"].get_values())  # type: ignore[union-attr]
    new_perm = [a] + [shift(p, a) for p in perm]
    out = insert_axis(tensor_type(op.results[0]), 0, ctx.axis_size)
    return ctx.rebuild(op, [x], [out], permutation=i64_array(new_perm)).results, [0]


def slice_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    (x,), (a,) = operands, axes

    def widened(name: str, value: int) -> DenseArrayBase:
        vals = list(op.properties[name].get_values())  # type: ignore[union-attr]
        vals.insert(a, value)
        return i64_array(vals)

    out = insert_axis(tensor_type(op.results[0]), a, ctx.axis_size)
    new = ctx.rebuild(
        op,
        [x],
        [out],
        start_indices=widened("start_indices", 0),
        limit_indices=widened("limit_indices", ctx.axis_size),
        strides=widened("strides", 1),
    )
    return new.results, [a]


def concatenate_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    moved = [ctx.to_axis(v, a, 0) for v, a in zip(operands, axes)]
    dim = op.properties["dimension"].value.data  # type: ignore[union-attr]
    out = insert_axis(tensor_type(op.results[0]), 0, ctx.axis_size)
    new = ctx.rebuild(op, moved, [out], dimension=IntegerAttr(dim + 1, i64))
    return new.results, [0]


def move_axis_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    assert isinstance(op, MoveAxisOp)
    x = ctx.move_axis(operands[0], axes[0], 0)
    src, dst = op.source.value.data, op.destination.value.data
    return [ctx.move_axis(x, src + 1, dst + 1)], [0]


def broadcast_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    assert isinstance(op, BroadcastOp)
    x = ctx.move_axis(operands[0], axes[0], 0)
    new = ctx.emit(BroadcastOp(x, op.axis.value.data + 1, op.size.value.data))
    return new.results, [0]


RULES = {
    hlo.BroadcastInDimOp: broadcast_in_dim_rule,
    hlo.ReshapeOp: reshape_rule,
    hlo.TransposeOp: transpose_rule,
    hlo.SliceOp: slice_rule,
    hlo.ConcatenateOp: concatenate_rule,
    MoveAxisOp: move_axis_rule,
    BroadcastOp: broadcast_rule,
}
