"""Lane refill (strategies `refill` and `sequential`): persistent lanes for a while loop
whose predicate varies between examples.

Compaction (compaction.py) still runs every example from the first iteration, on all B
lanes, and its work follows the active count down through buckets; refill keeps the
width fixed. L lanes (L < B) run in one XLA while loop; each lane holds one example.
When a lane's example finishes, its carries are written (a scatter) to the example's
slot of the B-sized results, and the lane is free; once at least L/8 lanes are free (or
none is active), free lanes take the next unstarted examples: an inclusive prefix sum
over the free lanes gives each its position in the queue of examples that have work
(those whose predicate holds at the start, found once with a prefix sum). The work then
tracks the sum of the trip counts, not B times the largest; the loop's state is O(L)
besides the results. `sequential` is refill with one lane: one example at a time, for
huge bodies on small batches.

The tail: once the queue is empty, the last examples would keep all L lanes running
until the slowest of them finishes (on heavy-tailed trip counts, most of refill's work
at 1M examples). So the refilling loop stops when the queue is empty and at most L/2
examples are still running; their lanes are gathered (a prefix sum, as compaction's)
into a loop on L/2 lanes, which runs until at most L/8 are running, then L/8 lanes until
L/64, and a last loop on L/64 lanes finishes them (occupancy.TAIL_DIVISORS). Each tail
loop is one more copy of the body for XLA to compile, without the refill, so with a profile
only those whose saved lane-iterations pay for that compile are built
(costmodel.refill_tails; without one, all); the
loop before a dropped one runs on until the next built one's width, or to the end.

A lane that is not active (finished, or not holding an example) keeps its carries: the
masked body selects the old values, exactly as in the masked loop.
"""

from __future__ import annotations

from xdsl.dialects.builtin import IntegerAttr, StringAttr, TensorType, i1, i32, i64
from xdsl.ir import Block, Region, SSAValue
from xdsl.rewriter import InsertPoint

from vmlir.dialects import stablehlo as hlo
from vmlir.passes.builder import Builder, i64_array
from vmlir.passes.rules.compaction import (
    active_count,
    captured,
    invariant_carries,
    more_active_than,
    prefix_sum,
    put_rows,
    ranked_lanes,
    select_lanes,
    take_rows,
    unused_results,
)
from vmlir.passes.rules.context import Axis, RuleContext, RuleResult, tensor_type
from vmlir.passes.rules import costmodel
from vmlir.passes.rules.occupancy import REFILL_FRACTION
from vmlir.passes.rules.strategy import STRATEGY_ATTR


def _rows_where(b: Builder, pred: SSAValue, x: SSAValue, y: SSAValue) -> SSAValue:
    """Row i of x where pred[i], else of y (pred (L,) i1; x, y (L, ...))."""
    shape = tensor_type(x).get_shape()
    if len(shape) > 1:
        pred = b.emit(
            hlo.BroadcastInDimOp.create(
                operands=[pred],
                result_types=[TensorType(i1, shape)],
                properties={"broadcast_dimensions": i64_array([0])},
            )
        )
    return b.select(pred, x, y)


def _any(b: Builder, flags: SSAValue) -> SSAValue:
    return b.reduce(flags, b.constant(TensorType(i1, []), False), [0], hlo.OrOp)


def _column(b: Builder, v: SSAValue) -> SSAValue:
    """(L,) i32 -> (L, 1): gather/scatter indices."""
    n = tensor_type(v).get_shape()[0]
    return b.unary(hlo.ReshapeOp, v, TensorType(i32, [n, 1]))


def refill(ctx: RuleContext, op: hlo.WhileOp, operands, axes, lanes: int, name: str, carry_axes_of) -> RuleResult:
    """The lane loop `op` over ctx.axis_size examples on `lanes` persistent lanes, then
    its tail on fewer lanes (module doc)."""
    vec = ctx.vectorizer
    n, width = ctx.axis_size, lanes
    throwaway, _, carry_axes = carry_axes_of(ctx, op, axes)
    throwaway.drop_all_references()  # only the carries' axes were wanted
    varying = [a is not None for a in carry_axes]
    assert varying[-1], "a lane loop's active flag varies"
    b = ctx.builder()
    full = [v if want is None else ctx.to_axis(v, a, want) for v, a, want in zip(operands, axes, carry_axes)]
    vec_n, vec_l, scalar = TensorType(i32, [n]), TensorType(i32, [width]), TensorType(i32, [])
    # The queue: examples with work first (in order), the others after.
    if axes[-1] is None:
        # Every example starts alike (a predicate of uniform initial values): the queue
        # is every example or none, and a prefix sum of a constant would only cost XLA
        # time to fold.
        order = b.emit(hlo.IotaOp.create(properties={"iota_dimension": IntegerAttr(0, i64)}, result_types=[vec_n]))
        n_work = b.select(operands[-1], b.constant(scalar, n), b.constant(scalar, 0))
    else:
        ranked, n_work = ranked_lanes(b, full[-1], n)  # the count is the last rank
        order = b.unary(hlo.ReshapeOp, ranked, vec_n)
    first = b.emit(
        hlo.SliceOp.create(
            operands=[order],
            result_types=[vec_l],
            properties={
                "start_indices": i64_array([0]),
                "limit_indices": i64_array([width]),
                "strides": i64_array([1]),
            },
        )
    )
    lane_no = b.emit(hlo.IotaOp.create(properties={"iota_dimension": IntegerAttr(0, i64)}, result_types=[vec_l]))
    holds = b.compare(lane_no, b.broadcast(n_work, vec_l), "LT")
    idx0 = b.select(holds, first, b.constant(vec_l, n))
    first_col = _column(b, first)
    lane0 = [take_rows(ctx, v, first_col) if m else v for v, m in zip(full, varying)]
    caps = []  # (per-example value, full-width value on axis 0) of batched captures
    for v in captured(op):
        value, a = vec.lookup(v)
        if a is not None:
            caps.append((v, ctx.move_axis(value, a, 0)))
    caps0 = [take_rows(ctx, full_cap, first_col) for _, full_cap in caps]
    # Results written back as examples finish: the varying carries but those the body
    # passes along unchanged (their result is their input) and those nothing reads.
    kept, dropped = invariant_carries(op), unused_results(op)
    writes = [m and i not in kept and i not in dropped for i, m in enumerate(varying[:-1])]
    outs0 = [v for v, w in zip(full[:-1], writes) if w]
    loop = _Loop(ctx, op, carry_axes, varying, writes, caps, full, order, n, n_work, name)
    tail = costmodel.loop_tails(op, n, width, vec.options)
    # The refilling loop carries its active count: the lanes that hold an example (every
    # queued example has work).
    busy0 = b.binary(hlo.MinimumOp, b.constant(scalar, width), n_work)
    state = loop.emit(width, [*lane0, *caps0, idx0, b.constant(scalar, width), *outs0, busy0], tail[0] if tail else 0, True)
    state = state[:-1]
    nc, ncap = len(lane0), len(caps0)
    for k, w in enumerate(tail):
        # The queue is empty and at most w examples are still running: on to w lanes.
        tb = ctx.builder()
        rows, flags = select_lanes(tb, state[nc - 1], w)
        moved = [take_rows(ctx, v, rows) if m else v for v, m in zip(state[: nc - 1], varying)]
        moved.append(take_rows(ctx, state[nc - 1], rows) if flags is None else flags)
        moved += [take_rows(ctx, v, rows) for v in state[nc : nc + ncap]]
        moved.append(take_rows(ctx, state[nc + ncap], rows))
        state = loop.emit(w, [*moved, *state[nc + ncap + 1 :]], tail[k + 1] if k + 1 < len(tail) else 0, False)
    results: list[SSAValue] = []
    final_outs = iter(state[nc + ncap + 2 :])
    for value, m, w, start in zip(state[: nc - 1], varying[:-1], writes, full):
        results.append(next(final_outs) if w else start if m else value)
    results.append(ctx.builder().constant(tensor_type(full[-1]), False))
    result_axes: list[Axis] = list(carry_axes)
    return results, result_axes


class _Loop:
    """Builds the while loops of one refilled lane loop: the state is (carries, batched
    captures, each lane's example index (n: none), the queue's next position, the
    results); finished examples are scattered to their slots every iteration."""

    def __init__(self, ctx: RuleContext, op: hlo.WhileOp, carry_axes, varying, writes, caps, full, order, n: int, n_work, name: str):
        self.ctx, self.op, self.carry_axes, self.varying, self.writes = ctx, op, carry_axes, varying, writes
        self.caps, self.full, self.order, self.n, self.n_work, self.name = caps, full, order, n, n_work, name

    def emit(self, width: int, inits: list[SSAValue], exit_at: int, refills: bool) -> list[SSAValue]:
        """A loop on `width` lanes that runs while more than `exit_at` lanes are active
        (or, when it `refills`, while examples are queued too); its results."""
        ctx, op, n, n_work = self.ctx, self.op, self.n, self.n_work
        vec = ctx.vectorizer
        vec_l, scalar = TensorType(i32, [width]), TensorType(i32, [])
        types = [v.type for v in inits]
        nc, ncap = len(self.carry_axes), len(self.caps)

        cond = Block(arg_types=types)
        cb = Builder(InsertPoint.at_end(cond))
        if refills:
            # The active count the body carried: no reduction in the cond.
            busy = cb.compare(cond.args[-1], cb.constant(scalar, exit_at), "GT")
            busy = cb.binary(hlo.OrOp, busy, cb.compare(cond.args[nc + ncap + 1], n_work, "LT"))
        else:
            busy = more_active_than(cb, cond.args[nc - 1], exit_at) if exit_at else _any(cb, cond.args[nc - 1])
        cond.add_op(hlo.ReturnOp(busy))

        body = Block(arg_types=types)
        carries = list(body.args[:nc])
        lane_caps = list(body.args[nc : nc + ncap])
        lane_idx, nxt = body.args[nc + ncap], body.args[nc + ncap + 1]
        outs = list(body.args[nc + ncap + 2 : len(body.args) - (1 if refills else 0)])
        here = ctx.at(InsertPoint.at_end(body))
        child = vec.child(width)
        for v in captured(op):
            value, a = vec.lookup(v)
            if a is None:
                child.bind(v, value, None)
        for (v, _), lane_cap in zip(self.caps, lane_caps):
            child.bind(v, lane_cap, 0)
        per_example = op.body.block
        for arg, value, a in zip(per_example.args, carries, self.carry_axes):
            child.bind(arg, value, a)
        term = per_example.last_op
        assert term is not None
        child.run([o for o in per_example.ops if o is not term], here.insertion_point)
        new = []
        for v, want in zip(term.operands, self.carry_axes):
            value, a = child.lookup(v)
            new.append(value if want is None else here.to_axis(value, a, want))
        bb = here.builder()
        active = new[-1]
        # Finished examples go to their slots; the lanes they leave are free (index n).
        done = bb.binary(hlo.AndOp, bb.not_(active), bb.compare(lane_idx, bb.constant(vec_l, n), "LT"))
        target = _column(bb, bb.select(done, lane_idx, bb.constant(vec_l, n)))
        written = []
        k = 0
        for value, w in zip(new[:-1], self.writes):
            if w:
                written.append(put_rows(here, outs[k], target, value, unique=False))
                k += 1
        lane_idx = bb.select(done, bb.constant(vec_l, n), lane_idx)
        keep = [*new, *lane_caps, lane_idx, nxt]
        if not refills:
            body.add_op(hlo.ReturnOp(*keep, *written))
            return list(self._while(inits, cond, body).results)
        free = bb.compare(lane_idx, bb.constant(vec_l, n), "EQ")
        # A lane is free exactly when it is not active (a finished lane was just freed,
        # a free one never turns active): one count gives the free lanes and whether
        # none is active, where a count of the free lanes and an any-lane test were two
        # reductions for XLA to compile.
        busy = bb.unary(hlo.ConvertOp, active_count(bb, active), scalar)
        n_free = bb.binary(hlo.SubtractOp, bb.constant(scalar, width), busy)
        enough = bb.compare(n_free, bb.constant(scalar, max(1, width // REFILL_FRACTION)), "GE")
        want = bb.binary(hlo.OrOp, enough, bb.compare(n_free, bb.constant(scalar, width), "EQ"))
        go = bb.binary(hlo.AndOp, want, bb.compare(nxt, n_work, "LT"))
        # After a refill, every free lane holds a queued example while there are any.
        taken = bb.binary(hlo.MinimumOp, n_free, bb.binary(hlo.SubtractOp, n_work, nxt))
        busy_next = bb.select(go, bb.binary(hlo.AddOp, busy, taken), busy)

        stay = Block()
        stay.add_op(hlo.ReturnOp(*keep))
        take = Block()
        tb = Builder(InsertPoint.at_end(take))
        there = ctx.at(InsertPoint.at_end(take))
        pos = tb.binary(
            hlo.SubtractOp,
            tb.binary(hlo.AddOp, tb.broadcast(nxt, vec_l), prefix_sum(tb, tb.unary(hlo.ConvertOp, free, vec_l))),
            tb.constant(vec_l, 1),
        )
        takes = tb.binary(hlo.AndOp, free, tb.compare(pos, tb.broadcast(n_work, vec_l), "LT"))
        slot = _column(tb, tb.select(takes, pos, tb.constant(vec_l, 0)))
        example = take_rows(there, self.order, slot)
        example_col = _column(tb, example)
        taken = [
            _rows_where(tb, takes, take_rows(there, full_v, example_col), value) if m else value
            for full_v, value, m in zip(self.full[:-1], new[:-1], self.varying[:-1])
        ]
        taken.append(tb.binary(hlo.OrOp, takes, active))  # a queued example has work
        taken += [
            _rows_where(tb, takes, take_rows(there, full_cap, example_col), lane_cap)
            for (_, full_cap), lane_cap in zip(self.caps, lane_caps)
        ]
        taken += [tb.select(takes, example, lane_idx), tb.binary(hlo.AddOp, nxt, n_free)]
        take.add_op(hlo.ReturnOp(*taken))
        step = hlo.IfOp.create(operands=[go], result_types=[v.type for v in keep], regions=[Region(take), Region(stay)])
        here.emit(step)
        body.add_op(hlo.ReturnOp(*step.results, *written, busy_next))
        return list(self._while(inits, cond, body).results)

    def _while(self, inits: list[SSAValue], cond: Block, body: Block) -> hlo.WhileOp:
        loop = hlo.WhileOp.create(
            operands=inits,
            result_types=[v.type for v in inits],
            regions=[Region(cond), Region(body)],
            attributes={STRATEGY_ATTR: StringAttr(self.name)},
            location=self.op.location,
        )
        self.ctx.emit(loop)
        return loop
