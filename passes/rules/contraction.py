"""Contractions and reductions."""

from __future__ import annotations

from xdsl.dialects.builtin import ArrayAttr
from xdsl.ir import Operation

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import insert_axis
from vmlir.passes.rules import misc
from vmlir.passes.rules.context import (
    RuleContext,
    RuleResult,
    first_batched,
    i64_array,
    shift,
    tensor_type,
)


def dot_general_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """The batch axis of both operands becomes a new leading batching dimension; of one
    operand, a free dimension, so the product stays one GEMM (no broadcast of the other)."""
    dn = op.properties["dot_dimension_numbers"]
    assert isinstance(dn, hlo.DotDimensionNumbersAttr)
    lb, rb = list(dn.lhs_batching_dimensions), list(dn.rhs_batching_dimensions)
    lc, rc = list(dn.lhs_contracting_dimensions), list(dn.rhs_contracting_dimensions)
    (lhs, rhs), (a, b) = operands, axes
    lhs_rank, rhs_rank = (
        tensor_type(op.operands[0]).get_num_dims(),
        tensor_type(op.operands[1]).get_num_dims(),
    )
    if a is not None and b is not None:
        new_dn = hlo.DotDimensionNumbersAttr.make(
            [a] + [shift(d, a) for d in lb],
            [b] + [shift(d, b) for d in rb],
            [shift(d, a) for d in lc],
            [shift(d, b) for d in rc],
        )
        out_axis = 0
    elif a is not None:
        new_dn = hlo.DotDimensionNumbersAttr.make(
            [shift(d, a) for d in lb], rb, [shift(d, a) for d in lc], rc
        )
        lhs_free = [
            d for d in range(lhs_rank + 1) if d not in {shift(x, a) for x in lb + lc}
        ]
        out_axis = len(lb) + lhs_free.index(a)
    elif not _rhs_free(rhs_rank, rb, rc) and "algorithm" not in op.properties:
        # Only the rhs is batched and it has no other free dim (`W @ x` per example):
        # swapped, the batched operand is the lhs and the batch axis leads the result,
        # `X @ W^T`, the layout JAX's batching produces and XLA's CPU GEMMs prefer; with
        # the batch axis last, XLA's transpose folding can later make an lhs that
        # contracts along its major dim (`A^T B`, ~3x slower; docs/passes.md).
        assert b is not None
        new_dn = hlo.DotDimensionNumbersAttr.make(
            [shift(d, b) for d in rb], lb, [shift(d, b) for d in rc], lc
        )
        out_axis = len(lb)
        out = insert_axis(tensor_type(op.results[0]), out_axis, ctx.axis_size)
        props = {"dot_dimension_numbers": new_dn}
        precision = op.properties.get("precision_config")
        if isinstance(precision, ArrayAttr):
            props["precision_config"] = ArrayAttr(list(reversed(precision.data)))
        new = ctx.rebuild(op, [rhs, lhs], [out], **props)
        return new.results, [out_axis]
    else:
        assert b is not None
        new_dn = hlo.DotDimensionNumbersAttr.make(
            lb, [shift(d, b) for d in rb], lc, [shift(d, b) for d in rc]
        )
        lhs_free_count = lhs_rank - len(lb) - len(lc)
        rhs_free = [
            d for d in range(rhs_rank + 1) if d not in {shift(x, b) for x in rb + rc}
        ]
        out_axis = len(lb) + lhs_free_count + rhs_free.index(b)
    out = insert_axis(tensor_type(op.results[0]), out_axis, ctx.axis_size)
    new = ctx.rebuild(op, [lhs, rhs], [out], dot_dimension_numbers=new_dn)
    return new.results, [out_axis]


def _rhs_free(rank: int, batching: list[int], contracting: list[int]) -> list[int]:
    """The per-example rhs's free dims."""
    return [d for d in range(rank) if d not in batching and d not in contracting]


def reduce_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """Reduce the same dimensions (shifted); the batch axis stays at the first batched
    input's position, minus the reduced dims before it. Init values that differ between
    examples: `misc.reduce_with_batched_init` (correct for any reducer body)."""
    n = len(op.operands) // 2
    inputs, inits = operands[:n], operands[n:]
    in_axes, init_axes = axes[:n], axes[n:]
    if any(a is not None for a in init_axes):
        return misc.reduce_with_batched_init(ctx, op, operands, axes)
    k = first_batched(in_axes)
    moved = [ctx.to_axis(v, a, k) for v, a in zip(inputs, in_axes)]
    dims = list(op.properties["dimensions"].get_values())  # type: ignore[union-attr]
    out_axis = k - sum(1 for d in dims if d < k)
    result_types = [
        insert_axis(tensor_type(r), out_axis, ctx.axis_size) for r in op.results
    ]
    new = ctx.rebuild(
        op,
        moved + list(inits),
        result_types,
        dimensions=i64_array([shift(d, k) for d in dims]),
    )
    return new.results, [out_axis] * len(op.results)


RULES = {
    hlo.DotGeneralOp: dot_general_rule,
    hlo.ReduceOp: reduce_rule,
}
