"""Control flow: stablehlo.case / if / while with a uniform index or predicate, and the
batch ops control-flow masking introduces (batch.masked, batch.any, batch.all).

A varying index or predicate never reaches these rules: batch-mask-control-flow
linearizes it first (batch-vectorize runs it on every vmap before vectorizing it). What
is left is real control flow whose branches or body read varying values: the control
flow stays, its regions are vectorized, and results the regions make varying come out
batched on axis 0 (every region must agree on one axis per result).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import StringAttr, TensorType, i1, i32
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import ACROSS_SHARDS_ATTR, AllOp, AnyOp, MaskedOp, insert_axis
from vmlir.errors import VmlirError
from vmlir.passes.mask_control_flow import LANE_LOOP_ATTR
from vmlir.passes.rules import strategy
from vmlir.passes.rules.strategy import STRATEGY_ATTR
from vmlir.passes.rules.context import Axis, RuleContext, RuleResult, tensor_type, where
from vmlir.passes.rules.cross_shard import all_reduce, shards_of


def _batched_types(op: Operation, axes: Sequence[Axis], size: int) -> list[Attribute]:
    return [
        r.type if a is None else insert_axis(tensor_type(r), a, size)
        for r, a in zip(op.results, axes)
    ]


def _finish(ctx: RuleContext, block: Block, values: Sequence[tuple[SSAValue, Axis]], axes: Sequence[Axis]) -> Region:
    """Terminate `block` with its values on the agreed axes (uniform ones broadcast)."""
    at_end = ctx.at(InsertPoint.at_end(block))
    outs = [v if want is None else at_end.to_axis(v, a, want) for (v, a), want in zip(values, axes)]
    block.add_op(hlo.ReturnOp(*outs))
    return Region(block)


def _rebuild_with_regions(ctx: RuleContext, op: Operation, operands, regions, result_types) -> Operation:
    new = op.create(
        operands=list(operands),
        result_types=list(result_types),
        properties=dict(op.properties),
        attributes={k: v for k, v in op.attributes.items() if not k.startswith("batch.")},
        regions=regions,
        location=op.location,
    )
    return ctx.emit(new)


def branches_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """case/if with a uniform selector whose branches read varying values."""
    if axes[0] is not None:
        raise VmlirError(
            f"{where(op)}: the branch selector varies between examples; run "
            "batch-mask-control-flow before batch-vectorize"
        )
    built = [ctx.vectorizer.vectorize_block(r.block, [], []) for r in op.regions]
    out_axes: list[Axis] = [
        None if all(yields[j][1] is None for _, yields in built) else 0
        for j in range(len(op.results))
    ]
    regions = [_finish(ctx, block, yields, out_axes) for block, yields in built]
    new = _rebuild_with_regions(ctx, op, operands, regions, _batched_types(op, out_axes, ctx.axis_size))
    return new.results, out_axes


def while_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """A while with a uniform predicate: carries are batched (on axis 0) when their initial
    value is or the body makes them vary (a fixpoint, as JAX does); others stay uniform.
    A masked lane loop (batch-mask-control-flow) runs under a divergence strategy, chosen
    per loop (passes/rules/strategy.py) and recorded on the loops it becomes as
    `batch.strategy`: see passes/rules/compaction.py and passes/rules/refill.py."""
    assert isinstance(op, hlo.WhileOp)
    if LANE_LOOP_ATTR not in op.attributes:
        return build_while(ctx, op, operands, axes)
    chosen = strategy.choose(ctx.vectorizer.options, ctx.axis_size, op)
    # compaction and refill (and the cost model they load) are imported by the loops that
    # use them: a program without a lane loop does not pay for importing them.
    if chosen == "compact":
        from vmlir.passes.rules import compaction

        return compaction.compact(ctx, op, operands, axes, build_while, counted_while)
    if chosen in ("refill", "sequential"):
        from vmlir.passes.rules import refill

        lanes = 1 if chosen == "sequential" else strategy.refill_lanes(ctx.vectorizer.options, ctx.axis_size)
        return refill.refill(ctx, op, operands, axes, lanes, chosen, carry_axes)
    return build_while(ctx, op, operands, axes, strategy_name="mask")


def carry_axes(ctx: RuleContext, op: hlo.WhileOp, axes) -> tuple[Block, list[tuple[SSAValue, Axis]], list[Axis]]:
    """The vectorized body block and the carries' axes: a carry is batched (on axis 0) when
    its initial value is or the body makes it vary (a fixpoint, as JAX does)."""
    vec = ctx.vectorizer
    per_example = [v.type for v in op.operands]
    carried = [a is not None for a in axes]
    while True:
        axes_now: list[Axis] = [0 if c else None for c in carried]
        body, body_yields = vec.vectorize_block(op.body.block, per_example, axes_now)
        grown = [c or a is not None for c, (_, a) in zip(carried, body_yields)]
        if grown == carried:
            return body, body_yields, axes_now
        body.drop_all_references()  # discard this attempt; it read values it must not keep
        carried = grown


def build_while(
    ctx: RuleContext,
    op: hlo.WhileOp,
    operands,
    axes,
    strategy_name: str | None = None,
) -> tuple[Sequence[SSAValue], list[Axis]]:
    """The vectorized while, on its own (vectorized) predicate; a lane loop that stops
    at an active count is `counted_while`'s. `strategy_name` is recorded as
    `batch.strategy` on the loop."""
    vec = ctx.vectorizer
    per_example = [v.type for v in op.operands]
    body, body_yields, axes_now = carry_axes(ctx, op, axes)
    cond, cond_yields = vec.vectorize_block(op.cond.block, per_example, axes_now)
    if cond_yields[0][1] is not None:
        raise VmlirError(
            f"{where(op)}: the loop predicate varies between examples; run "
            "batch-mask-control-flow before batch-vectorize"
        )
    cond.add_op(hlo.ReturnOp(cond_yields[0][0]))
    inits = [v if want is None else ctx.to_axis(v, a, want) for v, a, want in zip(operands, axes, axes_now)]
    body_region = _finish(ctx, body, body_yields, axes_now)
    new = _rebuild_with_regions(ctx, op, inits, [Region(cond), body_region], _batched_types(op, axes_now, ctx.axis_size))
    if strategy_name is not None:
        new.attributes[STRATEGY_ATTR] = StringAttr(strategy_name)
    return new.results, axes_now


def counted_while(
    ctx: RuleContext, op: hlo.WhileOp, operands, axes, stop_at: int, strategy_name: str | None
) -> tuple[Sequence[SSAValue], list[Axis], SSAValue | None]:
    """The vectorized lane loop `op` (its last carry is the active flags), run while
    more than `stop_at` lanes are active, and the active count it ended on (a scalar of
    `compaction.count_type`), or None when it counts every iteration in its cond
    (`check_every=1`). Otherwise it counts between runs of the body (`_checked_every`),
    and carries the count: its cond only compares it, and whoever runs after the loop
    reads the count instead of reducing the flags again (each reduction is kernels for
    XLA to compile). The count starts above `stop_at`, so the body runs at least once
    (harmless: a masked body leaves finished lanes unchanged)."""
    from vmlir.passes.rules import compaction  # see while_rule

    per_example = [v.type for v in op.operands]
    body, body_yields, axes_now = carry_axes(ctx, op, axes)
    assert axes_now[-1] == 0, "a lane loop's active flag varies"
    inits = [v if want is None else ctx.to_axis(v, a, want) for v, a, want in zip(operands, axes, axes_now)]
    result_types = _batched_types(op, axes_now, ctx.axis_size)
    body_region = _finish(ctx, body, body_yields, axes_now)
    most = ctx.vectorizer.options.check_every
    cond = Block(arg_types=result_types)
    cb = ctx.at(InsertPoint.at_end(cond)).builder()
    if most <= 1:
        cond.add_op(hlo.ReturnOp(compaction.more_active_than(cb, cond.args[-1], stop_at)))
        new = _rebuild_with_regions(ctx, op, inits, [Region(cond), body_region], result_types)
        if strategy_name is not None:
            new.attributes[STRATEGY_ATTR] = StringAttr(strategy_name)
        return new.results, axes_now, None
    count_t = compaction.count_type(ctx.axis_size)
    body_region = _checked_every(ctx, body_region, most, strategy_name, count_t)
    b = ctx.builder()
    inits = [*inits, b.constant(_I32, 1), b.constant(count_t, stop_at + 1)]
    cond.insert_arg(_I32, len(cond.args))
    count = cond.insert_arg(count_t, len(cond.args))
    cond.add_op(hlo.ReturnOp(compaction.count_above(cb, count, stop_at)))
    new = _rebuild_with_regions(ctx, op, inits, [Region(cond), body_region], [*result_types, _I32, count_t])
    if strategy_name is not None:
        new.attributes[STRATEGY_ATTR] = StringAttr(strategy_name)
    return new.results[:-2], axes_now, new.results[-1]


_I32 = TensorType(i32, [])


def _checked_every(ctx: RuleContext, body: Region, most: int, strategy_name: str | None, count_t: TensorType) -> Region:
    """The body of a loop that counts its active lanes only between runs of `steps`
    iterations: an inner while runs the lane loop's body `steps` times (a masked body
    leaves finished lanes unchanged, so running it past the end is harmless), and
    `steps` doubles from 1 up to `most`; then the count of the flags is carried out.
    Counting the active lanes costs an O(B) reduction (on XLA CPU, a convert and a sum,
    more than the any-lane test); counted after iterations 1, 3, 7, 15, ... then every
    `most`, a loop that should stop early still does (escape time: after a few
    iterations), and a long one pays the count once per `most` iterations, for at most
    `most` - 1 extra iterations at the end."""
    from vmlir.passes.rules import compaction  # see while_rule

    inner_body = body.block
    types = [a.type for a in inner_body.args]
    step = inner_body.insert_arg(_I32, len(inner_body.args))
    ret = inner_body.last_op
    assert ret is not None
    ib = ctx.at(InsertPoint.before(ret)).builder()
    next_step = ib.binary(hlo.AddOp, step, ib.constant(_I32, 1))
    inner_body.erase_op(ret)
    inner_body.add_op(hlo.ReturnOp(*ret.operands, next_step))
    outer = Block(arg_types=[*types, _I32, count_t])
    steps = outer.args[-2]
    inner_cond = Block(arg_types=[*types, _I32])
    cb = ctx.at(InsertPoint.at_end(inner_cond)).builder()
    inner_cond.add_op(hlo.ReturnOp(cb.compare(inner_cond.args[-1], steps, "LT")))
    ob = ctx.at(InsertPoint.at_end(outer)).builder()
    inner = hlo.WhileOp.create(
        operands=[*outer.args[:-2], ob.constant(_I32, 0)],
        result_types=[*types, _I32],
        regions=[Region(inner_cond), body],
    )
    if strategy_name is not None:
        inner.attributes[STRATEGY_ATTR] = StringAttr(strategy_name)
    ob.emit(inner)
    doubled = ob.binary(hlo.MinimumOp, ob.binary(hlo.AddOp, steps, steps), ob.constant(_I32, most))
    count = compaction.active_count(ob, inner.results[len(types) - 1])
    outer.add_op(hlo.ReturnOp(*inner.results[:-1], doubled, count))
    return Region(outer)


def masked_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """batch.masked: the region runs for every example (the others' results are discarded
    by the select that follows), so its ops are vectorized in place."""
    assert isinstance(op, MaskedOp)
    block = op.body.block
    term = block.last_op
    assert term is not None
    ctx.vectorizer.run([o for o in block.ops if o is not term], ctx.insertion_point)
    looked = [ctx.vectorizer.lookup(v) for v in term.operands]
    return [v for v, _ in looked], [a for _, a in looked]


def _lane_reduce(ctx: RuleContext, op: Operation, operands, axes, combine: type[Operation], init: bool) -> RuleResult:
    (x,), (a,) = operands, axes
    if a is None:
        return [x], [None]  # every example has the same value
    b = ctx.builder()
    return [b.reduce(x, b.constant(TensorType(i1, []), init), [a], combine)], [None]


def any_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """batch.any: an `or` reduction over the batch axis; the result is uniform. Marked
    across_shards (a loop holding a collective) on a sharded batch: over every shard."""
    results, result_axes = _lane_reduce(ctx, op, operands, axes, hlo.OrOp, False)
    if ACROSS_SHARDS_ATTR in op.attributes and shards_of(ctx) is not None:
        b = ctx.builder()
        scalar = TensorType(i32, [])
        count = all_reduce(ctx, b.unary(hlo.ConvertOp, results[0], scalar), hlo.MaximumOp)
        results = [b.compare(count, b.constant(scalar, 0), "NE")]
    return results, result_axes


def all_rule(ctx: RuleContext, op: Operation, operands, axes) -> RuleResult:
    """batch.all: an `and` reduction over the batch axis; the result is uniform."""
    return _lane_reduce(ctx, op, operands, axes, hlo.AndOp, True)


RULES = {
    hlo.CaseOp: branches_rule,
    hlo.IfOp: branches_rule,
    hlo.WhileOp: while_rule,
    MaskedOp: masked_rule,
    AnyOp: any_rule,
    AllOp: all_rule,
}
