"""Lane compaction (strategy `compact`) for while loops whose predicate varies between
examples.

A masked while (batch-mask-control-flow) runs until its slowest example finishes, on
every lane: with 1% slow examples, 99% of the work is discarded. Compaction runs the loop
on all B lanes only while more than B/s are active (s = `shrink`), then gathers the
active lanes into a buffer of B/s lanes (a static size: XLA needs static shapes),
continues there (shrinking again, recursively, down to `min_bucket` lanes), and scatters
the results back. The work then tracks the number of active examples, not the slowest
one.

The trigger is adaptive: each level's loop counts its active lanes every iteration (the
count replaces the any-lane test of the masked loop, so it costs nothing extra) and
stops as soon as they fit the next bucket, whenever that happens. One loop and one
conditional per level; the number of levels is bounded (`max_levels`), which bounds
XLA's compile time (every level is a copy of the loop body, plus gathers and scatters).

Correctness does not depend on which lanes are picked: the masked loop keeps an inactive
lane's carries unchanged, so an inactive lane that fills a spare slot of the smaller
buffer just rides along, and a lane left behind was already finished. Every slot holds a
distinct lane, so writing back is a plain scatter.
"""

from __future__ import annotations

from xdsl.dialects.builtin import (
    BoolAttr,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    TensorType,
    f32,
    i32,
    i64,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint

from vmlir.dialects import stablehlo as hlo
from vmlir.passes.builder import Builder, scalar_body
from vmlir.passes.rules import strategy
from vmlir.passes.rules.context import (
    RuleContext,
    RuleResult,
    i64_array,
    tensor_type,
)

def count_active(b: Builder, active: SSAValue) -> SSAValue:
    """The number of true lanes of a (B,) i1 tensor, as a tensor<i32>."""
    n = tensor_type(active).get_shape()[0]
    ints = b.unary(hlo.ConvertOp, active, TensorType(i32, [n]))
    return b.reduce(ints, b.constant(TensorType(i32, []), 0), [0], hlo.AddOp)


_EXACT_F32_COUNT = 2**24
"""Counts up to this are exact in f32."""


def more_active_than(b: Builder, active: SSAValue, limit: int) -> SSAValue:
    """Whether more than `limit` lanes of a (B,) i1 tensor are true (a tensor<i1>).

    Counted in f32 where that is exact: XLA's CPU backend vectorizes an f32 sum of the
    converted flags, not an i32 one, and a loop that tests this every iteration (a
    compaction stage) ran ~5% slower with the i32 count (docs/passes.md)."""
    n = tensor_type(active).get_shape()[0]
    if n > _EXACT_F32_COUNT:
        return b.compare(count_active(b, active), b.constant(TensorType(i32, []), limit), "GT")
    ones = b.unary(hlo.ConvertOp, active, TensorType(f32, [n]))
    count = b.reduce(ones, b.constant(TensorType(f32, []), 0.0), [0], hlo.AddOp)
    return b.compare(count, b.constant(TensorType(f32, []), float(limit)), "GT")


def prefix_sum(b: Builder, ints: SSAValue) -> SSAValue:
    """The inclusive prefix sum of a (n,) i32 tensor (a reduce_window)."""
    t = tensor_type(ints)
    n = t.get_shape()[0]
    scalar = TensorType(t.element_type, [])
    return b.emit(
        hlo.ReduceWindowOp.create(
            operands=[ints, b.constant(scalar, 0)],
            result_types=[t],
            properties={
                "window_dimensions": i64_array([n]),
                "window_strides": i64_array([1]),
                "padding": DenseIntOrFPElementsAttr.from_list(TensorType(i64, [1, 2]), [n - 1, 0]),
            },
            regions=[scalar_body(scalar, hlo.AddOp)],
        )
    )


def active_first(b: Builder, active: SSAValue, keep: int) -> SSAValue:
    """Indices (keep, 1) of distinct lanes: the first `keep` active lanes in lane order,
    then (when fewer are active) inactive lanes filling the remaining slots from the end.
    Spare slots must hold INACTIVE lanes: a copy of an active lane would count as active
    and keep the smaller loop running. Prefix sums give every lane its slot: O(B), where
    a sort costs O(B log B) and was 10x slower on XLA CPU at 100k lanes."""
    n = tensor_type(active).get_shape()[0]
    vec_i32, scalar = TensorType(i32, [n]), TensorType(i32, [])

    def splat(value: int) -> SSAValue:
        return b.constant(vec_i32, value)

    prefix = prefix_sum(b, b.unary(hlo.ConvertOp, active, vec_i32))
    lanes = b.emit(
        hlo.IotaOp.create(properties={"iota_dimension": IntegerAttr(0, i64)}, result_types=[vec_i32])
    )
    total = b.broadcast(count_active(b, active), vec_i32)
    # An active lane of inclusive rank p goes to slot p - 1 (if < keep).
    active_slot = b.binary(hlo.SubtractOp, prefix, splat(1))
    active_ok = b.binary(hlo.AndOp, active, b.compare(active_slot, splat(keep), "LT"))
    # An inactive lane of inclusive rank q goes to slot keep - q (if >= the active count).
    inactive_rank = b.binary(hlo.SubtractOp, b.binary(hlo.AddOp, lanes, splat(1)), prefix)
    inactive_slot = b.binary(hlo.SubtractOp, splat(keep), inactive_rank)
    inactive_ok = b.binary(hlo.AndOp, b.not_(active), b.compare(inactive_slot, total, "GE"))
    # Lanes taken nowhere aim past the end: the scatter drops them.
    target = b.select(active_ok, active_slot, b.select(inactive_ok, inactive_slot, splat(keep)))
    target = b.unary(hlo.ReshapeOp, target, TensorType(i32, [n, 1]))
    idx = b.emit(
        hlo.ScatterOp.create(
            operands=[b.constant(TensorType(i32, [keep]), 0), target, lanes],
            result_types=[TensorType(i32, [keep])],
            properties={
                "indices_are_sorted": BoolAttr.from_bool(False),
                "scatter_dimension_numbers": hlo.ScatterDimensionNumbersAttr.make([], [0], [0], 1),
                "unique_indices": BoolAttr.from_bool(False),
            },
            regions=[scalar_body(scalar, None)],
        )
    )
    return b.unary(hlo.ReshapeOp, idx, TensorType(i32, [keep, 1]))


def take_rows(ctx: RuleContext, x: SSAValue, idx: SSAValue) -> SSAValue:
    """x[idx[:, 0]] along axis 0."""
    t = tensor_type(x)
    shape = t.get_shape()
    keep = tensor_type(idx).get_shape()[0]
    rank = len(shape)
    dn = hlo.GatherDimensionNumbersAttr.make(list(range(1, rank)), [0], [0], 1)
    gather = hlo.GatherOp.create(
        operands=[x, idx],
        result_types=[TensorType(t.element_type, [keep, *shape[1:]])],
        properties={
            "dimension_numbers": dn,
            "indices_are_sorted": BoolAttr.from_bool(False),
            "slice_sizes": i64_array([1, *shape[1:]]),
        },
    )
    return ctx.emit(gather).results[0]


def put_rows(ctx: RuleContext, x: SSAValue, idx: SSAValue, rows: SSAValue, unique: bool = True) -> SSAValue:
    """x with x[idx[:, 0]] = rows along axis 0 (indices out of bounds are dropped;
    `unique`: the others are distinct)."""
    t = tensor_type(x)
    rank = t.get_num_dims()
    dn = hlo.ScatterDimensionNumbersAttr.make(list(range(1, rank)), [0], [0], 1)
    scatter = hlo.ScatterOp.create(
        operands=[x, idx, rows],
        result_types=[t],
        properties={
            "indices_are_sorted": BoolAttr.from_bool(False),
            "scatter_dimension_numbers": dn,
            "unique_indices": BoolAttr.from_bool(unique),
        },
        regions=[scalar_body(TensorType(t.element_type, []), None)],
    )
    return ctx.emit(scatter).results[0]


def captured(op: Operation) -> list[SSAValue]:
    """Values used inside `op`'s regions but defined outside it, in a stable order."""
    inside: set[SSAValue] = set()
    for region in op.regions:
        for inner in region.walk():
            inside.update(inner.results)
            for r in inner.regions:
                for b in r.blocks:
                    inside.update(b.args)
        for block in region.blocks:
            inside.update(block.args)
    seen: dict[SSAValue, None] = {}
    for region in op.regions:
        for inner in region.walk():
            for v in inner.operands:
                if v not in inside:
                    seen.setdefault(v, None)
    return list(seen)


def compact(ctx: RuleContext, op: hlo.WhileOp, operands, axes, build_while, factor: int = 0) -> RuleResult:
    """The lane loop `op` on ctx.axis_size lanes, compacted (module doc): a loop that runs
    while more lanes are active than the next bucket holds, then, if any lane is still
    active, a `stablehlo.if` that gathers them into the bucket, finishes there (the same
    construction, one level down) and scatters the results back."""
    vec = ctx.vectorizer
    factor = factor or strategy.shrink(vec.options, ctx.axis_size)
    keep = strategy.next_bucket(vec.options, ctx.axis_size, factor)
    if keep is None:
        return build_while(ctx, op, operands, axes, strategy_name="compact")
    rest, carry_axes = build_while(ctx, op, operands, axes, stop_at=keep, strategy_name="compact")
    active = rest[-1]
    b = ctx.builder()
    go = more_active_than(b, active, 0)
    done = Block()
    done.add_op(hlo.ReturnOp(*rest))
    narrow = Block()
    here = ctx.at(InsertPoint.at_end(narrow))
    idx = active_first(here.builder(), active, keep)
    child = vec.child(keep)
    for v in captured(op):
        value, a = vec.lookup(v)
        child.bind(v, value if a is None else take_rows(here, here.move_axis(value, a, 0), idx), None if a is None else 0)
    small_ctx = RuleContext(keep, here.insertion_point, child)
    small_inits = [v if a is None else take_rows(here, v, idx) for v, a in zip(rest, carry_axes)]
    small, small_axes = compact(small_ctx, op, small_inits, list(carry_axes), build_while, factor)
    outs = []
    for full, part, a, pa in zip(rest[:-1], small[:-1], carry_axes[:-1], small_axes[:-1]):
        if a is None:
            outs.append(part)  # a carry uniform in both: the body never changes it
        else:
            outs.append(put_rows(here, full, idx, small_ctx.to_axis(part, pa, 0)))
    # Every lane is finished once the nest returns: the flags need no scatter.
    outs.append(here.builder().constant(tensor_type(active), False))
    narrow.add_op(hlo.ReturnOp(*outs))
    branch = hlo.IfOp.create(
        operands=[go],
        result_types=[r.type for r in rest],
        regions=[Region(narrow), Region(done)],
    )
    return ctx.emit(branch).results, list(carry_axes)
