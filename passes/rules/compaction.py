"""Lane compaction (strategy `compact`) for while loops whose predicate varies between
examples.

A masked while (batch-mask-control-flow) runs until its slowest example finishes, on
every lane: with 1% slow examples, 99% of the work is discarded. Compaction runs the loop
on all B lanes only while more than B/s are active (s = `shrink`), then gathers the
active lanes into a buffer of B/s lanes (a static size: XLA needs static shapes),
continues there (shrinking again, recursively, down to `min_bucket` lanes, or until the
nest has `max_levels` loops when s is chosen from the batch size), and scatters the
results back. The work then tracks the number of active examples, not the slowest
one.

The trigger is adaptive: each level's loop counts its active lanes (every few
iterations, control.counted_while) and stops as soon as they fit the next bucket,
whenever that happens; the count it carries out says whether to compact at all. One
loop and one conditional per level; the number of levels is bounded (`max_levels`),
which bounds XLA's compile time: every level is a copy of the loop body plus the top_k,
gathers and scatters that move the lanes, each a kernel for XLA to compile
(docs/passes.md, "Compile time of the compacted nest").

Correctness does not depend on which lanes are picked: the masked loop keeps an inactive
lane's carries unchanged, so an inactive lane that fills a spare slot of the smaller
buffer just rides along, and a lane left behind was already finished. Every slot holds a
distinct lane, so writing back is a plain scatter.
"""

from __future__ import annotations

from xdsl.dialects.builtin import (
    ArrayAttr,
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
from vmlir.dialects.chlo import TopKOp
from vmlir.passes.builder import Builder, scalar_body
from vmlir.passes.rules import costmodel, occupancy, strategy
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


def count_type(n: int) -> TensorType:
    """The scalar type `active_count` counts n lanes in."""
    return TensorType(i32 if n > _EXACT_F32_COUNT else f32, [])


def active_count(b: Builder, active: SSAValue) -> SSAValue:
    """The number of true lanes of a (B,) i1 tensor, as a scalar of `count_type(B)`.

    Counted in f32 where that is exact: XLA's CPU backend vectorizes an f32 sum of the
    converted flags, not an i32 one, and a loop that tests this every iteration (a
    compaction stage) ran ~5% slower with the i32 count (docs/passes.md)."""
    n = tensor_type(active).get_shape()[0]
    if n > _EXACT_F32_COUNT:
        return count_active(b, active)
    ones = b.unary(hlo.ConvertOp, active, TensorType(f32, [n]))
    return b.reduce(ones, b.constant(TensorType(f32, []), 0.0), [0], hlo.AddOp)


def count_above(b: Builder, count: SSAValue, limit: int) -> SSAValue:
    """Whether an `active_count` is above `limit` (a tensor<i1>)."""
    t = tensor_type(count)
    return b.compare(count, b.constant(t, limit if t.element_type == i32 else float(limit)), "GT")


def more_active_than(b: Builder, active: SSAValue, limit: int) -> SSAValue:
    """Whether more than `limit` lanes of a (B,) i1 tensor are true (a tensor<i1>)."""
    return count_above(b, active_count(b, active), limit)


_SCAN_BLOCK = 64
"""Lanes per block of the blocked prefix sum (a (B/64, 64) x (64, 64) product)."""


def prefix_sum(b: Builder, ints: SSAValue) -> SSAValue:
    """The inclusive prefix sum of a (n,) i32 tensor of 0/1 flags.

    Up to 2**24 lanes (where f32 counts are exact) it is a blocked product with a
    triangular matrix of ones: XLA CPU compiles a dot_general in a fraction of the time it
    needs for a reduce_window over the whole axis (0.4 s at 100k lanes, per compaction
    level), and runs it faster (docs/passes.md, "Compile time of the compacted nest").
    Above that, a reduce_window."""
    t = tensor_type(ints)
    n = t.get_shape()[0]
    if n > _EXACT_F32_COUNT:
        return _window_prefix_sum(b, ints)
    flags = b.unary(hlo.ConvertOp, ints, TensorType(f32, [n]))
    return b.unary(hlo.ConvertOp, _blocked_prefix_sum(b, flags), t)


def _upper_ones(b: Builder, k: int) -> SSAValue:
    """The (k, k) f32 matrix with ones on and above the diagonal."""
    shape = TensorType(i32, [k, k])
    rows, cols = (
        b.emit(hlo.IotaOp.create(properties={"iota_dimension": IntegerAttr(d, i64)}, result_types=[shape]))
        for d in (0, 1)
    )
    return b.unary(hlo.ConvertOp, b.compare(rows, cols, "LE"), TensorType(f32, [k, k]))


def _dot(b: Builder, x: SSAValue, tri: SSAValue, contract: int) -> SSAValue:
    shape = tensor_type(x).get_shape()
    # HIGHEST: a TPU's default would round the block totals (up to B) to bf16.
    highest = ArrayAttr([hlo.PrecisionAttr(hlo.Precision.HIGHEST)] * 2)
    return b.emit(
        hlo.DotGeneralOp(
            x,
            tri,
            hlo.DotDimensionNumbersAttr.make([], [], [contract], [0]),
            TensorType(f32, shape),
            highest,
        )
    )


def _blocked_prefix_sum(b: Builder, v: SSAValue, tri: SSAValue | None = None) -> SSAValue:
    """Inclusive prefix sum of a (n,) f32 tensor of small integers: within blocks of
    _SCAN_BLOCK by a triangular product, plus the (recursive) prefix of the block totals.
    Every level pads to whole blocks and reuses one triangular matrix (one kernel)."""
    n = tensor_type(v).get_shape()[0]
    k = _SCAN_BLOCK
    if n <= k and tri is None:
        return _dot(b, v, _upper_ones(b, n), 0)  # one block: no padding, no totals
    tri = tri if tri is not None else _upper_ones(b, k)
    m = -(-n // k)
    if m * k != n:
        v = b.emit(
            hlo.PadOp.create(
                operands=[v, b.constant(TensorType(f32, []), 0.0)],
                result_types=[TensorType(f32, [m * k])],
                properties={
                    "edge_padding_low": i64_array([0]),
                    "edge_padding_high": i64_array([m * k - n]),
                    "interior_padding": i64_array([0]),
                },
            )
        )
    inner = _dot(b, b.unary(hlo.ReshapeOp, v, TensorType(f32, [m, k])), tri, 1)
    if m > 1:
        totals = b.unary(hlo.ReshapeOp, _slice(b, inner, [0, k - 1], [m, k]), TensorType(f32, [m]))
        before = b.binary(hlo.SubtractOp, _blocked_prefix_sum(b, totals, tri), totals)
        spread = b.emit(
            hlo.BroadcastInDimOp.create(
                operands=[before],
                result_types=[TensorType(f32, [m, k])],
                properties={"broadcast_dimensions": i64_array([0])},
            )
        )
        inner = b.binary(hlo.AddOp, inner, spread)
    flat = b.unary(hlo.ReshapeOp, inner, TensorType(f32, [m * k]))
    return flat if m * k == n else _slice(b, flat, [0], [n])


def _slice(b: Builder, x: SSAValue, start: list[int], limit: list[int]) -> SSAValue:
    t = tensor_type(x)
    return b.emit(
        hlo.SliceOp.create(
            operands=[x],
            result_types=[TensorType(t.element_type, [hi - lo for lo, hi in zip(start, limit)])],
            properties={
                "start_indices": i64_array(start),
                "limit_indices": i64_array(limit),
                "strides": i64_array([1] * len(start)),
            },
        )
    )


def _window_prefix_sum(b: Builder, ints: SSAValue) -> SSAValue:
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


_TOP_K_MOST = 8
"""select_lanes picks at most 1/_TOP_K_MOST of the lanes with a top_k: its heap of k
lanes costs O(B log k) comparisons, and picking half the lanes (refill's first tail
loop) ran ~0.3 ms slower per call than the prefix sum at 1562 lanes."""


def select_lanes(b: Builder, active: SSAValue, keep: int) -> tuple[SSAValue, SSAValue | None]:
    """Indices (keep, 1) of distinct lanes: the first `keep` active lanes in lane order,
    then (when fewer are active) inactive lanes filling the remaining slots; and, when
    they come from a top_k, the flags of the lanes they pick ((keep,) i1: the top_k's
    values, so the flags need no gather). Spare slots must hold INACTIVE lanes: a copy
    of an active lane would count as active and keep the smaller loop running.

    Fewer slots than lanes (compaction's buckets, refill's tail): `chlo.top_k` of the
    flags as f32, whose ties keep the lower index first, so it returns the active lanes
    in order, then the lowest inactive ones. XLA CPU compiles it as one library call
    (~0.05 s), where the prefix sum and the scatter that turns ranks into indices were
    ~10 kernels (~0.35 s of XLA compile per compaction, at 100k lanes), and it runs in
    about the prefix sum's time (a heap of `keep` lanes, O(B log keep)). As many slots as
    lanes (refill's queue: every lane, ordered) would make it a full sort: there prefix
    sums give every lane its slot, O(B) (docs/passes.md, "Compile time of the compacted
    nest")."""
    n = tensor_type(active).get_shape()[0]
    if keep * _TOP_K_MOST <= n:
        flags = b.unary(hlo.ConvertOp, active, TensorType(f32, [n]))
        top = TopKOp(flags, keep)
        b.emit(top)
        idx = b.unary(hlo.ReshapeOp, top.indices, TensorType(i32, [keep, 1]))
        picked = b.compare(top.values, b.constant(TensorType(f32, [keep]), 0.5), "GT")
        return idx, picked
    return ranked_lanes(b, active, keep)[0], None


def ranked_lanes(b: Builder, active: SSAValue, keep: int) -> tuple[SSAValue, SSAValue]:
    """`select_lanes`'s indices by prefix sums, and the active count (a tensor<i32>: the last
    prefix, so no reduction): every lane's rank among the active (or inactive) ones
    gives its slot, and a scatter of the lane numbers into the slots the indices;
    inactive lanes fill the remaining slots from the end."""
    n = tensor_type(active).get_shape()[0]
    vec_i32, scalar = TensorType(i32, [n]), TensorType(i32, [])

    def splat(value: int) -> SSAValue:
        return b.constant(vec_i32, value)

    prefix = prefix_sum(b, b.unary(hlo.ConvertOp, active, vec_i32))
    lanes = b.emit(
        hlo.IotaOp.create(properties={"iota_dimension": IntegerAttr(0, i64)}, result_types=[vec_i32])
    )
    # The last inclusive rank is the active count: no second reduction over the lanes.
    last = b.unary(hlo.ReshapeOp, _slice(b, prefix, [n - 1], [n]), scalar)
    total = b.broadcast(last, vec_i32)
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
    return b.unary(hlo.ReshapeOp, idx, TensorType(i32, [keep, 1])), last


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


def invariant_carries(op: hlo.WhileOp) -> set[int]:
    """The carries of `op` its body returns unchanged (values a loop reads, passed along)."""
    block = op.body.block
    term = block.last_op
    assert term is not None
    return {i for i, v in enumerate(term.operands) if v is block.args[i]}


def unused_results(op: hlo.WhileOp) -> set[int]:
    """The results of `op` nothing reads (a carry the function drops, such as a key):
    the narrower loops need not write them back."""
    return {i for i, r in enumerate(op.results) if not r.uses}


def never_compacts(op: Operation, axis_size: int, options) -> bool:
    """Whether lane loop `op` has a profile (costmodel.TRIPS_ATTR) on whose trip counts
    compaction, replayed (occupancy.compact_trace), never moves lanes to a bucket."""
    trips = costmodel.profiled_trips(op, axis_size)
    return trips is not None and not occupancy.compact_trace(trips, axis_size, options).moved


def compact(
    ctx: RuleContext, op: hlo.WhileOp, operands, axes, build_while, counted_while, factor: int = 0, level: int = 1
) -> RuleResult:
    """The lane loop `op` on ctx.axis_size lanes, compacted (module doc): a loop that runs
    while more lanes are active than the next bucket holds, then, if any lane is still
    active, a `stablehlo.if` that gathers them into the bucket, finishes there (the same
    construction, one level down) and scatters the results back."""
    vec = ctx.vectorizer
    factor = factor or strategy.shrink(vec.options, ctx.axis_size)
    keep = strategy.next_bucket(vec.options, ctx.axis_size, factor)
    if level == 1 and keep is not None and never_compacts(op, ctx.axis_size, vec.options):
        # The profile says the loop never gets down to the bucket: the nest would only
        # cost compile time (~0.1 s of XLA and of our passes at 100k lanes, a third of
        # the first call of a cheap loop). The level counts its lanes as the last level
        # does, and runs on all of them until none is active.
        results, result_axes, _ = counted_while(ctx, op, operands, axes, 0, "compact")
        return results, result_axes
    if keep is None or strategy.last_level(vec.options, level):
        if level == 1:
            return build_while(ctx, op, operands, axes, strategy_name="compact")
        # The last bucket counts its lanes as the levels above do (every check_every
        # iterations, an f32 sum), not with an any-lane test every iteration: one
        # reduction for XLA to compile either way, run less often.
        results, result_axes, _ = counted_while(ctx, op, operands, axes, 0, "compact")
        return results, result_axes
    rest, carry_axes, count = counted_while(ctx, op, operands, axes, keep, "compact")
    active = rest[-1]
    b = ctx.builder()
    go = more_active_than(b, active, 0) if count is None else count_above(b, count, 0)
    done = Block()
    done.add_op(hlo.ReturnOp(*rest))
    narrow = Block()
    here = ctx.at(InsertPoint.at_end(narrow))
    idx, picked = select_lanes(here.builder(), active, keep)
    child = vec.child(keep)
    # One gather per distinct value: a value both captured by the body and carried
    # unchanged (escape time's c) is taken once, and the flags come with the indices.
    # Every gather and scatter is a kernel for XLA to compile (docs/passes.md, "Compile
    # time of the compacted nest").
    taken: dict[SSAValue, SSAValue] = {} if picked is None else {active: picked}

    def take(value: SSAValue) -> SSAValue:
        if value not in taken:
            taken[value] = take_rows(here, value, idx)
        return taken[value]

    for v in captured(op):
        value, a = vec.lookup(v)
        child.bind(v, value if a is None else take(here.move_axis(value, a, 0)), None if a is None else 0)
    small_ctx = RuleContext(keep, here.insertion_point, child)
    kept, dropped = invariant_carries(op), unused_results(op)
    sources = [operands[i] if i in kept and axes[i] == carry_axes[i] else r for i, r in enumerate(rest)]
    small_inits = [v if a is None else take(v) for v, a in zip(sources, carry_axes)]
    small, small_axes = compact(
        small_ctx, op, small_inits, list(carry_axes), build_while, counted_while, factor, level + 1
    )
    outs = []
    for i, (full, part, a, pa) in enumerate(zip(rest[:-1], small[:-1], carry_axes[:-1], small_axes[:-1])):
        if a is None:
            outs.append(part)  # a carry uniform in both: the body never changes it
        elif i in kept or i in dropped:
            outs.append(full)  # unchanged by the body, or never read: nothing to write back
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
