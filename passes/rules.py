"""Batching rules: how each per-example op becomes one batched op.

One table, keyed by op type, in JAX's shape:

    rule(ctx, op, operands, batch_axes) -> (results, result_axes)

`operands` are the already-batched replacements of `op`'s operands; `batch_axes[i]` is
where operand i carries the batch axis, or None when it is uniform (the same for every
example, shaped as in the per-example program). A rule is only called when at least one
operand is batched. It builds new ops through `ctx.emit` (inserted before the
`batch.vmap` being vectorized) and returns one value and one axis per result of `op`.
Rules keep the batch axis where it is when they can, so no transpose is paid for nothing;
they move it (`batch.move_axis`) only where the op's semantics need a fixed position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, TensorType, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import BroadcastOp, MoveAxisOp, insert_axis
from vmlir.errors import VmlirUnsupportedError

Axis = int | None
RuleResult = tuple[Sequence[SSAValue], Sequence[Axis]]
Rule = Callable[["RuleContext", Operation, Sequence[SSAValue], Sequence[Axis]], RuleResult]


def where(op: Operation) -> str:
    """`op`'s name and, when the importer recorded one, the Python source location."""
    loc = op.attributes.get("vmlir.loc")
    return f"'{op.name}'" + (f" (from {loc.data})" if loc is not None else "")  # type: ignore[union-attr]


@dataclass
class RuleContext:
    """What a rule may use: the batch size and a place to put new ops."""

    axis_size: int
    insertion_point: InsertPoint

    def emit(self, op: Operation) -> Operation:
        Rewriter.insert_op(op, self.insertion_point)
        return op

    def move_axis(self, value: SSAValue, src: int, dst: int) -> SSAValue:
        if src == dst:
            return value
        return self.emit(MoveAxisOp(value, src, dst)).results[0]

    def broadcast(self, value: SSAValue, axis: int) -> SSAValue:
        """A uniform value with a batch axis inserted at `axis` (every example equal)."""
        return self.emit(BroadcastOp(value, axis, self.axis_size)).results[0]

    def to_axis(self, value: SSAValue, axis: Axis, dst: int) -> SSAValue:
        """`value` batched at `dst`, whether it was batched elsewhere or uniform."""
        if axis is None:
            return self.broadcast(value, dst)
        return self.move_axis(value, axis, dst)

    def rebuild(
        self,
        op: Operation,
        operands: Sequence[SSAValue],
        result_types: Sequence[Attribute],
        **properties: Attribute,
    ) -> Operation:
        """`op` again with new operands, result types and (some) properties; regions cloned."""
        props = dict(op.properties)
        props.update(properties)
        attrs = {k: v for k, v in op.attributes.items() if not k.startswith("batch.")}
        new = op.create(
            operands=list(operands),
            result_types=list(result_types),
            properties=props,
            attributes=attrs,
            regions=[r.clone() for r in op.regions],
        )
        return self.emit(new)


def _tensor(v: SSAValue) -> TensorType:
    t = v.type
    assert isinstance(t, TensorType), f"expected a tensor, got {t}"
    return t


def _i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, list(values))


def _shift(d: int, axis: int) -> int:
    """Per-example dimension `d` in a value batched at `axis`."""
    return d if d < axis else d + 1


def _first_batched(axes: Sequence[Axis]) -> int:
    return next(a for a in axes if a is not None)


# --- elementwise -------------------------------------------------------------------


def elementwise_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """All full-rank operands meet at the first batched operand's axis; scalar operands
    that StableHLO allows (select's predicate, clamp's bounds) stay scalar when uniform."""
    k = _first_batched(axes)
    out_rank = _tensor(op.results[0]).get_num_dims()
    full_shape = insert_axis(_tensor(op.results[0]), k, ctx.axis_size).get_shape()
    new_operands: list[SSAValue] = []
    for v, a, orig in zip(operands, axes, op.operands):
        per_rank = _tensor(orig).get_num_dims()
        if per_rank == out_rank:
            new_operands.append(ctx.to_axis(v, a, k))
        elif a is None:
            new_operands.append(v)  # a uniform scalar operand StableHLO broadcasts itself
        else:
            # A batched scalar next to full-rank operands: give it the full shape.
            t = _tensor(v)
            target = TensorType(t.element_type, full_shape)
            new_operands.append(
                ctx.emit(
                    hlo.BroadcastInDimOp.create(
                        operands=[v],
                        result_types=[target],
                        properties={"broadcast_dimensions": _i64_array([k])},
                    )
                ).results[0]
            )
    result_types = [insert_axis(_tensor(r), k, ctx.axis_size) for r in op.results]
    new = ctx.rebuild(op, new_operands, result_types)
    return new.results, [k] * len(op.results)


# --- shape ops -----------------------------------------------------------------------


def broadcast_in_dim_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    (x,), (a,) = operands, axes
    dims = list(op.properties["broadcast_dimensions"].get_values())  # type: ignore[union-attr]
    new_dims = [d + 1 for d in dims]
    new_dims.insert(a, 0)  # the operand's batch axis becomes the result's axis 0
    out = insert_axis(_tensor(op.results[0]), 0, ctx.axis_size)
    new = ctx.rebuild(op, [x], [out], broadcast_dimensions=_i64_array(new_dims))
    return new.results, [0]


def reshape_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    x = ctx.move_axis(operands[0], axes[0], 0)
    out = insert_axis(_tensor(op.results[0]), 0, ctx.axis_size)
    return ctx.rebuild(op, [x], [out]).results, [0]


def transpose_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    (x,), (a,) = operands, axes
    perm = list(op.properties["permutation"].get_values())  # type: ignore[union-attr]
    new_perm = [a] + [_shift(p, a) for p in perm]
    out = insert_axis(_tensor(op.results[0]), 0, ctx.axis_size)
    return ctx.rebuild(op, [x], [out], permutation=_i64_array(new_perm)).results, [0]


def slice_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    (x,), (a,) = operands, axes

    def widened(name: str, value: int) -> DenseArrayBase:
        vals = list(op.properties[name].get_values())  # type: ignore[union-attr]
        vals.insert(a, value)
        return _i64_array(vals)

    out = insert_axis(_tensor(op.results[0]), a, ctx.axis_size)
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
    out = insert_axis(_tensor(op.results[0]), 0, ctx.axis_size)
    new = ctx.rebuild(op, moved, [out], dimension=IntegerAttr(dim + 1, i64))
    return new.results, [0]


# --- contractions and reductions -----------------------------------------------------


def dot_general_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """The batch axis of both operands becomes a new leading batching dimension; of one
    operand, a free dimension, so the product stays one GEMM (no broadcast of the other)."""
    dn = op.properties["dot_dimension_numbers"]
    assert isinstance(dn, hlo.DotDimensionNumbersAttr)
    lb, rb = list(dn.lhs_batching_dimensions), list(dn.rhs_batching_dimensions)
    lc, rc = list(dn.lhs_contracting_dimensions), list(dn.rhs_contracting_dimensions)
    (lhs, rhs), (a, b) = operands, axes
    lhs_rank, rhs_rank = _tensor(op.operands[0]).get_num_dims(), _tensor(op.operands[1]).get_num_dims()
    if a is not None and b is not None:
        new_dn = hlo.DotDimensionNumbersAttr.make(
            [a] + [_shift(d, a) for d in lb],
            [b] + [_shift(d, b) for d in rb],
            [_shift(d, a) for d in lc],
            [_shift(d, b) for d in rc],
        )
        out_axis = 0
    elif a is not None:
        new_dn = hlo.DotDimensionNumbersAttr.make(
            [_shift(d, a) for d in lb], rb, [_shift(d, a) for d in lc], rc
        )
        lhs_free = [d for d in range(lhs_rank + 1) if d not in {_shift(x, a) for x in lb + lc}]
        out_axis = len(lb) + lhs_free.index(a)
    else:
        assert b is not None
        new_dn = hlo.DotDimensionNumbersAttr.make(
            lb, [_shift(d, b) for d in rb], lc, [_shift(d, b) for d in rc]
        )
        lhs_free_count = lhs_rank - len(lb) - len(lc)
        rhs_free = [d for d in range(rhs_rank + 1) if d not in {_shift(x, b) for x in rb + rc}]
        out_axis = len(lb) + lhs_free_count + rhs_free.index(b)
    out = insert_axis(_tensor(op.results[0]), out_axis, ctx.axis_size)
    new = ctx.rebuild(op, [lhs, rhs], [out], dot_dimension_numbers=new_dn)
    return new.results, [out_axis]


def reduce_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    n = len(op.operands) // 2
    inputs, inits = operands[:n], operands[n:]
    in_axes, init_axes = axes[:n], axes[n:]
    if any(a is not None for a in init_axes):
        raise VmlirUnsupportedError(
            f"{where(op)}: a reduction whose initial value differs between examples has no "
            "batching rule yet"
        )
    k = _first_batched(in_axes)
    moved = [ctx.to_axis(v, a, k) for v, a in zip(inputs, in_axes)]
    dims = list(op.properties["dimensions"].get_values())  # type: ignore[union-attr]
    out_axis = k - sum(1 for d in dims if d < k)
    result_types = [insert_axis(_tensor(r), out_axis, ctx.axis_size) for r in op.results]
    new = ctx.rebuild(
        op, moved + list(inits), result_types, dimensions=_i64_array([_shift(d, k) for d in dims])
    )
    return new.results, [out_axis] * len(op.results)


# --- batch ops (left by a nested batch.vmap already vectorized) ----------------------


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


RULES: dict[type[Operation], Rule] = {
    hlo.BroadcastInDimOp: broadcast_in_dim_rule,
    hlo.ReshapeOp: reshape_rule,
    hlo.TransposeOp: transpose_rule,
    hlo.SliceOp: slice_rule,
    hlo.ConcatenateOp: concatenate_rule,
    hlo.DotGeneralOp: dot_general_rule,
    hlo.ReduceOp: reduce_rule,
    MoveAxisOp: move_axis_rule,
    BroadcastOp: broadcast_rule,
}


def rule_for(op: Operation) -> Rule:
    """The batching rule of `op`, or a VmlirUnsupportedError naming it."""
    if isinstance(op, hlo.ElementwiseOp):
        return elementwise_rule
    rule = RULES.get(type(op))
    if rule is None:
        raise VmlirUnsupportedError(f"no batching rule for {where(op)}")
    return rule
