"""The cost model behind `batch-vectorize{strategy=auto}` (docs/passes.md, "The cost
model"): the time of each divergence strategy for one lane loop, in lane-op units (one
elementwise op on one lane), from static features of the loop and, when a profile
gave one, the loop's trip-count distribution.

cost(strategy) = executed lane-iterations x (body + the strategy's per-lane bookkeeping)
               + loop iterations x a fixed cost per iteration
               + the masked loop's tests / compaction's counts, top_k, gathers and
                 scatters / refill's cost per example.
The counted quantities come from occupancy.py, which replays each strategy's rules on
the trip counts with the sizes the compiler picks (compaction's count schedule and
overrun included); the body's cost counts its ops weighted by their elements
(transcendentals count more). The cost is linear in the module's constants (terms()),
which bench/fit_costmodel.py fits to the times bench/divergent.py measured
(bench/costmodel_fit.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, IntegerType, TensorType
from xdsl.ir import Operation, SSAValue

from vmlir.dialects import stablehlo as hlo
from vmlir.passes.rules import occupancy, strategy

TRIPS_ATTR = "batch.trips"
"""A profiled loop's trip-count distribution: its 0th, 1st, ..., 100th percentiles
(array<i64: ...>), set by `vmlir.compile(f, profile=...)` (vmlir/lanes.py)."""

PERCENTILES = 101

_TRANSCENDENTAL = (
    hlo.LogOp, hlo.LogPlusOneOp, hlo.ExponentialOp, hlo.ExponentialMinusOneOp, hlo.CosineOp,
    hlo.SineOp, hlo.TanOp, hlo.TanhOp, hlo.SqrtOp, hlo.RsqrtOp, hlo.CbrtOp, hlo.PowerOp,
    hlo.Atan2Op, hlo.LogisticOp, hlo.DivideOp, hlo.RemainderOp,
)
TRANSCENDENTAL_WEIGHT = 8.0
"""A transcendental (or a division) costs about this many adds per element on a CPU."""

# The constants below are in lane-ops, fitted (the smallest squared error of the logs of
# the predicted time ratios of every pair of strategies) to the times of mask, compact
# and refill on the 10 kernels of bench/divergent.py at 100k examples on XLA CPU, with
# the nest of compaction.py as it is now (docs/passes.md, "The cost model"); ITERATION
# and MOVE are fixed, not fitted: every kernel compacts from 100k lanes to the same
# bucket, so the per-compaction costs are one term to the fit.
ITERATION = 10_000.0
"""The fixed cost of one iteration of the masked or compacted loop (XLA's while: the
condition, buffer bookkeeping, launching the body's fused kernels)."""
ANY_LANE = 6.88
"""The masked loop's any-lane test, per lane and iteration: a boolean reduction over the
batch whose cond XLA cannot fuse with the body (a cheap body runs ~30% slower masked
than counted every few iterations: the control kernel, bisection)."""
COUNT_LANE = 0.0
"""A counted level's count of its active lanes, per lane counted (the fit puts it at
nothing: an f32 sum XLA vectorizes, taken once per check_every iterations)."""
TOP_K_LANE = 270.0
"""A compaction's pick of the lanes (chlo.top_k of the flags) and the conditional
around the next level, per lane of the level it leaves."""
MOVE = 4.0
"""A compaction's gather and scatter, per element moved."""
REFILL_LANE = 85.0
"""Refill's per-lane bookkeeping each iteration: the done / free flags, the slot index,
the scatter of every lane's carries into the results."""
REFILL_ITERATION = 0.0
"""Refill's fixed cost per iteration beyond ITERATION, every loop's (the fit puts it at
nothing)."""
REFILL_EXAMPLE = 1159.0
"""Refill's cost per example: the queue (a prefix sum over the batch), the gathers of
its inputs at every refill and the scatter of its results."""


@dataclass(frozen=True)
class LoopFeatures:
    body: float
    """Lane-ops of one iteration of the per-example body."""
    carries: float
    """Elements each lane carries (masking selects them; refill scatters them)."""


def _elements(t: Any) -> int:
    return int(np.prod(t.get_shape())) if isinstance(t, TensorType) else 1


def _constant(v: SSAValue, depth: int = 8) -> bool:
    """Whether `v` is computed from constants only (XLA folds it to one)."""
    owner = v.owner
    if isinstance(owner, hlo.ConstantOp):
        return True
    if not isinstance(owner, Operation) or owner.regions or not owner.operands or depth == 0:
        return False
    return all(_constant(x, depth - 1) for x in owner.operands)


def _weight(op: Operation) -> float:
    """Lane-ops per element of `op`'s results. An integer division or remainder by a
    constant compiles to shifts and multiplies (Collatz's x // 2, x % 2): one op."""
    if not isinstance(op, _TRANSCENDENTAL):
        return 1.0
    if isinstance(op, (hlo.DivideOp, hlo.RemainderOp)) and len(op.operands) == 2:
        t = op.operands[1].type
        if isinstance(t, TensorType) and isinstance(t.element_type, IntegerType) and _constant(op.operands[1]):
            return 1.0
    return TRANSCENDENTAL_WEIGHT


def features(op: Operation) -> LoopFeatures:
    body = 0.0
    for inner in op.walk():
        if inner is op or isinstance(inner, (hlo.ConstantOp, hlo.ReturnOp)) or not inner.results:
            continue
        weight = _weight(inner)
        body += weight * sum(_elements(r.type) for r in inner.results)
    return LoopFeatures(max(body, 1.0), float(sum(_elements(v.type) for v in op.operands)))


def profiled_trips(op: Operation, axis_size: int) -> np.ndarray | None:
    """`axis_size` trip counts with the profiled distribution of `op`, if it has one."""
    attr = op.attributes.get(TRIPS_ATTR)
    if not isinstance(attr, DenseArrayBase):
        return None
    return expand(np.asarray(attr.get_values(), np.float64), axis_size)


def expand(q: np.ndarray, n: int) -> np.ndarray:
    """`n` trip counts with percentiles `q`, in no particular order (the queue order
    matters to refill: the examples arrive shuffled). Between two percentiles they are
    spread geometrically, not linearly: the top percent of a heavy tail (rejection
    sampling: p99 84, max 1332) holds mostly short loops and a few long ones, and a
    linear spread made its stragglers ~2x longer, which misled the choice of tail
    loops."""
    grid = (np.arange(n) + 0.5) / n * (len(q) - 1)
    trips = np.round(np.expm1(np.interp(grid, np.arange(len(q)), np.log1p(np.maximum(q, 0.0))))).astype(np.int64)
    return np.random.default_rng(0).permutation(trips)


PRIOR_STOP = 1.0 / 64.0
"""Without a profile, the model prices the strategies on a prior: every example stops
after each iteration with this probability (geometric trip counts, mean 64), so that
the choice follows the loop's static features (its body against each strategy's
bookkeeping) and the batch size. The mean sets what a long tail is worth to refill:
at 64, the suite's heavy bodies get refill and its cheap ones compaction (at 32 the
ODE's steps got compaction, 4x slower than refill)."""


PRIOR_REFILL_MARGIN = 0.95
"""On the prior, refill is picked only when it is priced at most this fraction of
compaction's cost: a wrong refill costs most (its bookkeeping, least well modelled on
cheap bodies, measured 5x a compaction's time on Collatz), a wrong compaction on a
heavy body ~2-3x refill's."""


def prior_choice(axis_size: int, f: LoopFeatures, options: Any) -> str:
    """The strategy for a loop without a profile."""
    est = estimate(prior_trips(axis_size), axis_size, f, options, priced(axis_size, options), exact=False)
    best = min(("mask", "compact"), key=lambda s: est[s].cost)
    return "refill" if "refill" in est and est["refill"].cost <= PRIOR_REFILL_MARGIN * est[best].cost else best


def prior_trips(axis_size: int) -> np.ndarray:
    """The prior's trip counts: the geometric distribution's quantiles, one per example
    (in order: the prior is only priced with the order-free refill estimate)."""
    u = (np.arange(axis_size) + 0.5) / axis_size
    return np.ceil(np.log1p(-u) / np.log1p(-PRIOR_STOP)).astype(np.int64)


def percentiles(trips: np.ndarray) -> list[int]:
    """What TRIPS_ATTR holds for these trip counts."""
    return [int(round(v)) for v in np.percentile(np.asarray(trips, np.float64), np.linspace(0, 100, PERCENTILES))]


@dataclass(frozen=True)
class Work:
    lane_iterations: float
    iterations: float
    moved: float
    """Elements gathered or scattered (beyond the body's own)."""
    cost: float


def estimate(
    trips: np.ndarray, n: int, f: LoopFeatures, options: Any,
    strategies: tuple[str, ...] = ("mask", "compact", "refill"), exact: bool = True,
) -> dict[str, Work]:
    """The counted work and the modelled cost of each strategy on these trip counts
    (`exact=False`: refill's iterations estimated, not replayed)."""
    out: dict[str, Work] = {}
    for s, (work, coefficients) in _counted(trips, n, f, options, strategies, exact).items():
        cost = sum(x * (1.0 if c == LANE_OPS else globals()[c]) for c, x in coefficients.items())
        out[s] = Work(work.lane_iterations, work.iterations, work.moved, cost)
    return out


LANE_OPS = "LANE_OPS"
"""terms()'s key for the lane-ops the body and selects execute (no constant)."""


def terms(
    trips: np.ndarray, n: int, f: LoopFeatures, options: Any,
    strategies: tuple[str, ...] = ("mask", "compact", "refill"),
) -> dict[str, dict[str, float]]:
    """Each strategy's cost as a sum of counted quantities times the module's constants:
    {strategy: {constant's name (LANE_OPS: none): its coefficient}}. The cost is linear in
    the constants, which bench/fit_costmodel.py fits to measured times."""
    return {s: c for s, (_, c) in _counted(trips, n, f, options, strategies, True).items()}


def _counted(
    trips: np.ndarray, n: int, f: LoopFeatures, options: Any, strategies: tuple[str, ...], exact: bool,
) -> dict[str, tuple[Work, dict[str, float]]]:
    trips = np.asarray(trips, np.int64).reshape(-1)
    top = float(trips.max(initial=0))
    lane = f.body + f.carries + 1.0  # the body and masking's selects
    out: dict[str, tuple[Work, dict[str, float]]] = {}
    for s in strategies:
        if s == "mask":
            li, it, moved = n * top, top, 0.0
            c = {LANE_OPS: li * lane, "ANY_LANE": n * (top + 1), "ITERATION": it}
        elif s == "compact":
            trace = occupancy.compact_trace(trips, n, options)
            li, it = float(trace.widths.sum()), float(len(trace.widths))
            moved = 2.0 * f.carries * float(sum(k for _, k in trace.moved))
            c = {
                LANE_OPS: li * lane, "ITERATION": it, "ANY_LANE": float(trace.tests),
                "COUNT_LANE": float(trace.counts), "TOP_K_LANE": float(sum(w for w, _ in trace.moved)), "MOVE": moved,
            }
        else:
            lanes = 1 if s == "sequential" else strategy.refill_lanes(options, n)
            # The tail loops the compiler builds: priced on profiled trips, all on the prior's.
            tails = refill_tails(trips, lanes, f, tail_copy(options)) if exact else occupancy.tail_widths(lanes)
            if exact:
                it, _, widths = occupancy.refill_trace(trips, lanes, tails)
                li = float(widths.sum())
            else:
                it, li = refill_estimate(trips, lanes, tails)
            moved = 2.0 * f.carries * float((trips > 0).sum())
            c = {
                LANE_OPS: li * lane, "REFILL_LANE": li, "ITERATION": float(it), "REFILL_ITERATION": float(it),
                "REFILL_EXAMPLE": float(n),
            }
        out[s] = (Work(li, float(it), moved, 0.0), c)
    return out


def refill_estimate(trips: np.ndarray, lanes: int, tails: list[int]) -> tuple[int, float]:
    """Refill's iterations and executed lane-iterations without replaying it: the lanes
    are busy but for the 1/(2 REFILL_FRACTION) that wait for a refill on average, until
    the last examples' tail (about the longest of the last `lanes` examples), which runs
    on the tail loops' fewer lanes (taken as the first one's, `tails[0]`). Within ~10% of the replay's
    iterations on geometric trip counts; used for the prior, which must cost no compile
    time."""
    t = trips[trips > 0]
    if len(t) <= lanes:
        top = int(t.max(initial=0))
        return top, float(lanes * top)
    busy = 1 - 1 / (2 * occupancy.REFILL_FRACTION)
    main = t.sum() / (lanes * busy)
    tail = 0.5 * np.quantile(t, 1 - 1 / lanes)
    narrow = (tails or [lanes])[0]
    return int(np.ceil(main + tail)), float(main * lanes + tail * narrow)


def rank(trips: np.ndarray, n: int, f: LoopFeatures, options: Any, exact: bool = True) -> list[str]:
    """The strategies, cheapest first."""
    est = estimate(trips, n, f, options, priced(n, options), exact=exact)
    return sorted(est, key=lambda s: est[s].cost)


def priced(n: int, options: Any) -> tuple[str, ...]:
    """The strategies to price on n lanes: refill only with fewer lanes than examples
    (else strategy.choose runs it as the masked loop)."""
    return ("mask", "compact", "refill") if strategy.refill_lanes(options, n) < n else ("mask", "compact")


TAIL_COPY = 30_000.0
"""What one more of refill's tail loops must save per call, in lane-ops, for each lane-op
it adds to the program (its copy of the body plus TAIL_LOOP), to be worth compiling (as
vmlir/ragged.py's PROGRAM_ROWS_PER_OP for a bucket program). Measured on XLA CPU: a tail loop
compiles in ~4 ms per lane-op of the body plus ~0.4 s (0.5 s for the bench's 24-op
bodies at 100k examples, ~1.7 s for a 329-op body of jax.random calls), and a lane-op
runs in ~0.3 ns, so a loop that saves this much pays its compile back in ~400 calls.
0: compiles are free, every tail loop is kept."""

TAIL_LOOP = 100.0
"""A tail loop's own ops (the gather of the lanes into it, the scatters of finished
examples, its active count), in body lane-ops of compile time."""

TAIL_SAMPLE = 4
"""The tail loops are chosen by replaying refill on the last examples of the queue only
(tail_sample): what the lanes hold when the queue empties hardly depends on the
examples before, and a replay of the whole batch costs compile time (0.16 s at 100k
examples)."""


def tail_sample(trips: np.ndarray, lanes: int) -> int:
    """How many of the last examples tail_loops replays: TAIL_SAMPLE x L, plus the
    examples the lanes start during the longest trip count (max / mean x L): a lane
    that holds the longest example when the queue empties took it that long before.
    With fewer, a heavy tail's stragglers are missing from the replay (rejection
    sampling, max 1332 iterations at mean 4: on the last 4 L examples the L/2 tail loop
    looked useless and dropping it made refill 17% slower)."""
    t = trips[trips > 0]
    if not len(t):
        return 0
    longest = int(np.ceil(float(t.max()) / float(t.mean())))
    return min(len(trips), lanes * (TAIL_SAMPLE + longest))


def tail_copy(options: Any) -> float:
    """The pass's `tail_copy`, TAIL_COPY by default."""
    return TAIL_COPY if options.tail_copy < 0 else float(options.tail_copy)


def refill_tails(trips: np.ndarray, lanes: int, f: LoopFeatures, copy: float = TAIL_COPY) -> list[int]:
    """Which of refill's tail loops (occupancy.tail_widths(lanes), widest first) to build
    for a loop with these features: the subset that minimizes the lane-ops the tail runs
    per call plus `copy` x (body + TAIL_LOOP) per loop, replayed on the last examples of `trips`
    (TAIL_SAMPLE). Ties keep fewer loops."""
    widths = occupancy.tail_widths(lanes)
    if not widths:
        return []
    trips = np.asarray(trips, np.int64).reshape(-1)
    active, emptied = occupancy.refill_active(trips[-tail_sample(trips, lanes) :], lanes)
    after = active[emptied:]
    lane = f.body + f.carries + 1.0 + REFILL_LANE
    best: tuple[float, list[int]] | None = None
    for mask in range(1 << len(widths)):
        kept = [w for i, w in enumerate(widths) if mask >> i & 1]
        cost = float(occupancy.tail_run(after, lanes, kept).sum()) * lane + copy * (f.body + TAIL_LOOP) * len(kept)
        if best is None or (cost, len(kept)) < (best[0], len(best[1])):
            best = (cost, kept)
    assert best is not None
    return best[1]


def loop_tails(op: Operation, axis_size: int, lanes: int, options: Any) -> list[int]:
    """The tail loops refill builds for lane loop `op` on `lanes` lanes: priced on its
    profiled trip counts when it has them, else every candidate (tail_copy=0 aside).
    The prior's trip counts cannot stand in here: what a tail loop saves grows with the
    length of the last examples' loops, which the prior (mean 64) cannot tell from a
    loop of 6 iterations or of 5000 (bench/divergent.py's adaptive ODE at 20k examples,
    without a profile: dropping the L/2 and L/64 loops saved 1.7 s of compile and cost
    0.24 s, 20%, on every call)."""
    trips = profiled_trips(op, axis_size)
    if trips is None:
        return occupancy.tail_widths(lanes)
    return refill_tails(trips, lanes, features(op), tail_copy(options))
