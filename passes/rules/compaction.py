"""Lane compaction for while loops whose predicate varies between examples.

A masked while (batch-mask-control-flow) runs until its slowest example finishes, on
every lane: with 1% slow examples, 99% of the work is discarded. Compaction runs the loop
on all B lanes only while more than B/s are active (s = `shrink`, 4 by default), then
gathers the active lanes into a buffer of B/s lanes (a static size: XLA needs static
shapes), continues there (shrinking again, recursively, down to `min_bucket` lanes), and
scatters the results back. The work then tracks the number of active examples, not the
slowest one. Each level costs a few O(B) ops (a prefix sum, gathers, a scatter); s = 4
rather than 2 halves the number of levels, which is what those costs are paid per.

Correctness does not depend on which lanes are picked: the masked loop keeps an inactive
lane's carries unchanged, so an inactive lane that fills a spare slot of the smaller
buffer (when fewer than B/2 are active) just rides along, and a lane left behind was
already finished. Every slot holds a distinct lane, so writing back is a plain scatter.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from vmlir.dialects.batch import AnyOp
from vmlir.dialects.batch_collectives import COLLECTIVE_OPS
from vmlir.passes.builder import Builder, scalar_body
from vmlir.passes.rules.context import (
    Axis,
    RuleContext,
    RuleResult,
    i64_array,
    tensor_type,
)

LANE_LOOP_ATTR = "batch.lane_loop"


def applies(ctx: RuleContext, op: Operation) -> bool:
    vec = ctx.vectorizer
    return (
        LANE_LOOP_ATTR in op.attributes
        and vec.options.compact_lanes
        and ctx.axis_size // vec.options.shrink >= vec.options.min_bucket
        # Collectives see every lane, as under jax.vmap; compaction would drop some.
        and not any(isinstance(inner, COLLECTIVE_OPS) for inner in op.walk())
    )


def active_lanes(op: hlo.WhileOp) -> SSAValue:
    """The per-example `active` flag of a lane loop: the operand of its cond's batch.any."""
    any_op = op.cond.block.last_op.operands[0].owner  # type: ignore[union-attr]
    assert isinstance(any_op, AnyOp), "a lane loop's predicate is batch.any(active)"
    return any_op.operand


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


def _active_first(b: Builder, active: SSAValue, keep: int) -> SSAValue:
    """Indices (keep, 1) of distinct lanes: the first `keep` active lanes in lane order,
    then (when fewer are active) inactive lanes filling the remaining slots from the end.
    Spare slots must hold INACTIVE lanes: a copy of an active lane would count as active
    and keep the smaller loop running. Prefix sums give every lane its slot: O(B), where
    a sort costs O(B log B) and was 10x slower on XLA CPU at 100k lanes."""
    n = tensor_type(active).get_shape()[0]
    vec_i32, scalar = TensorType(i32, [n]), TensorType(i32, [])

    def splat(value: int) -> SSAValue:
        return b.constant(vec_i32, value)

    prefix = b.emit(  # inclusive prefix sum of the active flags
        hlo.ReduceWindowOp.create(
            operands=[b.unary(hlo.ConvertOp, active, vec_i32), b.constant(scalar, 0)],
            result_types=[vec_i32],
            properties={
                "window_dimensions": i64_array([n]),
                "window_strides": i64_array([1]),
                "padding": DenseIntOrFPElementsAttr.from_list(TensorType(i64, [1, 2]), [n - 1, 0]),
            },
            regions=[scalar_body(scalar, hlo.AddOp)],
        )
    )
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


def put_rows(ctx: RuleContext, x: SSAValue, idx: SSAValue, rows: SSAValue) -> SSAValue:
    """x with x[idx[:, 0]] = rows along axis 0."""
    t = tensor_type(x)
    rank = t.get_num_dims()
    dn = hlo.ScatterDimensionNumbersAttr.make(list(range(1, rank)), [0], [0], 1)
    scatter = hlo.ScatterOp.create(
        operands=[x, idx, rows],
        result_types=[t],
        properties={
            "indices_are_sorted": BoolAttr.from_bool(False),
            "scatter_dimension_numbers": dn,
            # Every slot holds a distinct lane.
            "unique_indices": BoolAttr.from_bool(True),
        },
        regions=[scalar_body(TensorType(t.element_type, []), None)],
    )
    return ctx.emit(scatter).results[0]


def _captured(op: Operation) -> list[SSAValue]:
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


def compact(
    ctx: RuleContext,
    op: hlo.WhileOp,
    results: Sequence[SSAValue],
    carry_axes: Sequence[Axis],
    while_rule,
    build_while,
) -> RuleResult:
    """After a first stage of at most `quick_stage` iterations at B lanes (`results`):
    - if more than B/shrink lanes are still active, the examples finish at steadily
      spread times (Newton-like), where gathering pays less than it costs: a second loop
      at full width finishes them (guarded: it runs no iteration otherwise);
    - else, if any lane is active (most examples finished fast, a few remain:
      escape-time-like), a `stablehlo.if` gathers the active lanes into B/shrink lanes,
      finishes there (recursively compacted) and scatters the results back.
    The active lanes are counted once, after the first stage: counting them every
    iteration (to stop a stage as soon as few are left) cost Newton ~50% once its loop
    carried the active flag, since XLA's CPU reductions cost as much as the loop body
    (docs/passes.md)."""
    vec = ctx.vectorizer
    keep = ctx.axis_size // vec.options.shrink
    # The active flags after the first stage: the lane loop carries them.
    cond = op.cond.block
    for arg, value, axis in zip(cond.args, results, carry_axes):
        vec.bind(arg, value, axis)
    vec.run([o for o in cond.ops if o is not cond.last_op], ctx.insertion_point)
    active, axis = vec.lookup(active_lanes(op))
    assert axis is not None, "a lane loop's active flag varies"
    active = ctx.move_axis(active, axis, 0)
    any_left, _ = vec.lookup(cond.last_op.operands[0])  # type: ignore[union-attr]
    b = ctx.builder()
    many = more_active_than(b, active, keep)
    rest, _ = build_while(ctx, op, results, list(carry_axes), guard=many)
    b = ctx.builder()
    go = b.binary(hlo.AndOp, b.not_(many), any_left)

    done = Block()
    done.add_op(hlo.ReturnOp(*rest))
    # When `go` holds the loop above ran no iteration: `rest` is `results`, and
    # `active` its flags.
    narrow = Block()
    here = ctx.at(InsertPoint.at_end(narrow))
    idx = _active_first(here.builder(), active, keep)
    child = vec.child(keep)
    for v in _captured(op):
        value, a = vec.lookup(v)
        child.bind(v, value if a is None else take_rows(here, here.move_axis(value, a, 0), idx), None if a is None else 0)
    small_ctx = RuleContext(keep, here.insertion_point, child)
    small_inits = [v if a is None else take_rows(here, v, idx) for v, a in zip(rest, carry_axes)]
    small, small_axes = while_rule(small_ctx, op, small_inits, list(carry_axes))
    outs = []
    for full, part, a, pa in zip(rest, small, carry_axes, small_axes):
        if a is None:
            outs.append(part)  # a carry uniform in both: the body never changes it
        else:
            outs.append(put_rows(here, full, idx, small_ctx.to_axis(part, pa, 0)))
    narrow.add_op(hlo.ReturnOp(*outs))
    branch = hlo.IfOp.create(
        operands=[go],
        result_types=[r.type for r in rest],
        regions=[Region(narrow), Region(done)],
    )
    return ctx.emit(branch).results, list(carry_axes)
