"""vmlir.profile, vmlir.compile(profile=...) and the divergence cost model: trip counts
against per-example Python loops, the profiled choice, and the model's ranking against
lane-iterations counted by a step-by-step simulation of each strategy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from difftest import assert_same
from jax import lax
from lane_counting import refill_step_by_step

import vmlir
from vmlir import lanes
from vmlir.passes.rules import costmodel, strategy
from vmlir.passes.vectorize import VectorizeOptions


def _collatz_and_triangle(n):
    """Two loops: Collatz steps of n, then an outer loop over k = n % 5 down to 1 whose
    body runs an inner loop of k iterations."""

    def step(s):
        x, i = s
        return jnp.where(x % 2 == 0, x // 2, 3 * x + 1), i + 1

    steps = lax.while_loop(lambda s: s[0] > 1, step, (n, jnp.int32(0)))[1]

    def outer(s):
        k, acc = s
        inner = lax.while_loop(lambda t: t[0] < k, lambda t: (t[0] + 1, t[1] + t[0]), (jnp.int32(0), acc))[1]
        return k - 1, inner

    return steps, lax.while_loop(lambda s: s[0] > 0, outer, (n % 5, jnp.int32(0)))[1]


def _python_trips(n):
    x, steps = int(n), 0
    while x > 1:
        x, steps = (x // 2 if x % 2 == 0 else 3 * x + 1), steps + 1
    k = int(n) % 5
    return steps, k, k * (k + 1) // 2  # Collatz, outer loop, inner loop summed over the outer


def test_profile_counts_each_loops_trips(tmp_path):
    """vmlir.profile's trips, active lanes and mask's executed work, per loop, against
    per-example Python loops; the plot is drawn."""
    n = np.random.default_rng(0).integers(1, 3000, 300).astype(np.int32)
    compiled = vmlir.compile(vmlir.vmap(_collatz_and_triangle))
    loops = vmlir.profile(compiled, n)
    want = np.array([_python_trips(x) for x in n])
    assert [lp.index for lp in loops] == [0, 1, 2]
    src, first = __file__, _collatz_and_triangle.__code__.co_firstlineno
    # Collatz's while_loop, the outer loop's, then the inner one (pre-order, as traced).
    assert [lp.location for lp in loops] == [f"{src}:{first + 8}", f"{src}:{first + 15}", f"{src}:{first + 12}"]
    for lp, col in zip(loops, want.T):
        np.testing.assert_array_equal(lp.trips, col)
        assert lp.executed["mask"] == len(n) * col.max()
        np.testing.assert_array_equal(lp.active, [(col > t).sum() for t in range(col.max())])
        assert lp.occupancy["mask"] == pytest.approx(col.sum() / (len(n) * col.max()))
        assert lp.choice in ("mask", "compact", "refill")
    try:
        import matplotlib  # noqa: F401  (the `bench` extra)
    except ImportError:
        return
    lanes.plot(loops[0], str(tmp_path / "lanes.png"))
    assert (tmp_path / "lanes.png").stat().st_size > 0


def _escape(c):
    """A heavy-tailed loop: most examples stop at once, a few run 400 iterations."""
    return lax.while_loop(lambda s: (s[0] < 400) & (s[1] > 0.5), lambda s: (s[0] + 1, s[1] * 0.999), (jnp.int32(0), c))[0]


def test_profiled_compile_records_trips_and_matches_jax(tmp_path):
    """The first call records the trip counts onto the loop (`batch.trips`), the
    results equal jax.vmap's; a profile file is read back by the next compile instead
    of measuring again."""
    rng = np.random.default_rng(1)
    c = np.where(rng.random(600) < 0.02, 1.0, 0.1).astype(np.float32)
    path = tmp_path / "profile.json"
    first = vmlir.compile(vmlir.vmap(_escape), profile=str(path))
    assert_same(first(c), jax.vmap(_escape)(c))
    trips = np.asarray(jax.vmap(_escape)(c))
    assert first.loops == [costmodel.percentiles(trips)]
    assert "batch.trips = array<i64: 0," in first.lower(c).as_text("batch")
    second = vmlir.compile(vmlir.vmap(_escape), profile=str(path))
    measured = lanes.trip_counts
    try:
        lanes.trip_counts = None  # the file is there: nothing is measured
        assert_same(second(c), jax.vmap(_escape)(c))
    finally:
        lanes.trip_counts = measured
    assert second.loops == first.loops


def _keyed_walk(k):
    """A loop whose body draws with jax.random: on CPU jax lowers each draw's threefry as
    a while of its own, so the program has more whiles than the function has loops."""

    def body(s):
        k, x, n = s
        k, sub = jax.random.split(k)
        return k, x + jax.random.normal(sub), n + 1

    return lax.while_loop(lambda s: (jnp.abs(s[1]) < 2.0) & (s[2] < 300), body, (k, jnp.float32(0), 0))[1:]


def test_profile_finds_its_loop_among_the_whiles_of_jax_random():
    """The profile's one loop lands on the user's while (matched by its file:line), not
    on the threefry whiles around it (then the profile was dropped); results as jax.vmap."""
    keys = jax.random.split(jax.random.PRNGKey(3), 300)
    c = vmlir.compile(vmlir.vmap(_keyed_walk), profile=True)
    assert_same(c(keys), jax.vmap(_keyed_walk)(keys))
    text = c.lower(keys).as_text("batch-mask-control-flow")
    assert text.count("stablehlo.while") > 1
    assert text.count("batch.trips") == 1
    assert len(c.loops) == 1 and c.loop_sites[0][0] == __file__
    whiles = [line for line in text.splitlines() if "stablehlo.while" in line]
    assert "batch.trips" in whiles[0]  # the user's loop; the threefry whiles are in its body


def test_match_whiles_by_site():
    """More whiles than profiled loops: each loop takes the whiles at its own file:line
    when that line holds as many; an ambiguous or unknown line matches nothing."""
    from xdsl.dialects.builtin import FileLineColLoc, IntAttr, StringAttr

    class Op:
        def __init__(self, line):
            self.location = FileLineColLoc(StringAttr("f.py"), IntAttr(line), IntAttr(1))

    a, b, c, d = Op(10), Op(7), Op(7), Op(12)
    assert lanes.match_whiles([a, b, c, d], 2, [("f.py", 10), ("f.py", 12)]) == [a, d]
    assert lanes.match_whiles([a, b, c, d], 2, [("f.py", 7), ("f.py", 10)]) == [None, a]
    assert lanes.match_whiles([a, b, c, d], 2, [("g.py", 10), None]) == [None, None]
    assert lanes.match_whiles([a, b], 2, None) == [a, b]
    assert lanes.match_whiles([a, b, c], 2, None) == [None, None]


def _lane_iterations(trips, n, options):
    """Executed lane-iterations of mask, compact and refill, one iteration at a time
    (the rules of passes/rules/compaction.py and refill.py spelled out)."""
    trips = [int(t) for t in trips]
    mask = n * max(trips)
    # compact: a level runs chunks of 1, 2, 4, ... up to check_every iterations at its
    # width, counting its active lanes after each, until they fit the next bucket; the
    # last level (max_levels) until none is active.
    width, factor, left, compact, level = n, strategy.shrink(options, n), list(trips), 0, 1
    while True:
        keep = None if strategy.last_level(options, level) else strategy.next_bucket(options, width, factor)
        step = 1
        while True:
            for _ in range(step):
                compact += width
                left = [max(t - 1, 0) for t in left]
            step = min(2 * step, options.check_every)
            if sum(t > 0 for t in left) <= (keep or 0):
                break
        if keep is None or not any(left):
            break
        width, level = keep, level + 1
    lanes_ = strategy.refill_lanes(options, n)
    return {"mask": mask, "compact": compact, "refill": refill_step_by_step(trips, lanes_)[1]}


@pytest.mark.parametrize("shape", ["uniform", "stragglers", "heavy", "spread"])
def test_cost_model_ranks_like_counted_work(shape):
    """With a body so costly that lane-iterations dominate every other term, the model
    orders mask, compact and refill as the lane-iterations they execute, counted by a
    step-by-step simulation (strategies within 1% of each other are a tie)."""
    rng = np.random.default_rng(2)
    n = 3000
    trips = {
        "uniform": np.full(n, 20),
        "stragglers": np.where(rng.random(n) < 0.01, 300, rng.integers(1, 4, n)),
        "heavy": np.minimum(1 + rng.pareto(1.0, n) * 3, 500).astype(np.int64),
        "spread": rng.integers(1, 200, n),
    }[shape]
    # Every tail loop built, as the step-by-step simulation runs them.
    options = VectorizeOptions(min_bucket=16, lanes=64, tail_copy=0)
    counted = _lane_iterations(trips, n, options)
    est = costmodel.estimate(trips, n, costmodel.LoopFeatures(body=1e7, carries=1.0), options)
    for s in counted:
        assert est[s].lane_iterations == counted[s]
    pairs = [(a, b) for a in counted for b in counted if counted[a] < 0.99 * counted[b]]
    assert pairs or shape == "uniform"
    for a, b in pairs:  # a strategy that executes clearly less work costs less
        assert est[a].cost < est[b].cost, (a, b, counted)


def test_profiled_choice_follows_the_distribution():
    """Every example running as long: masking wastes nothing, the model never pays
    refill's bookkeeping for it; 1% stragglers: never the masked loop."""
    o = VectorizeOptions()
    f = costmodel.LoopFeatures(body=50.0, carries=4.0)
    assert costmodel.rank(np.full(100_000, 64), 100_000, f, o)[0] in ("mask", "compact")
    rng = np.random.default_rng(3)
    stragglers = np.where(rng.random(100_000) < 0.01, 256, 2)
    assert costmodel.rank(stragglers, 100_000, f, o)[-1] == "mask"


def test_prior_refill_estimate_tracks_the_replay():
    """The prior is priced with an estimate of refill's iterations and lane-iterations,
    not a replay: within 15% of the replay on geometric trip counts."""
    from vmlir.passes.rules.occupancy import refill_trace, tail_widths

    trips = np.random.default_rng(4).geometric(1 / 32, 50_000)
    for lanes_ in (512, 1024):
        tails = tail_widths(lanes_)
        iterations, _, widths = refill_trace(trips, lanes_, tails)
        it, li = costmodel.refill_estimate(trips, lanes_, tails)
        assert abs(it - iterations) <= 0.15 * iterations
        assert abs(li - widths.sum()) <= 0.15 * widths.sum()


def _tail_cost(active, lanes, kept, f, copy):
    """The tail's lane-ops per call plus the compile price of its loops, spelled out."""
    from vmlir.passes.rules.occupancy import tail_run

    lane = f.body + f.carries + 1.0 + costmodel.REFILL_LANE
    return float(tail_run(active, lanes, kept).sum()) * lane + copy * (f.body + costmodel.TAIL_LOOP) * len(kept)


@pytest.mark.parametrize("body", [4.0, 300.0, 3000.0])
@pytest.mark.parametrize("n", [2048, 100_000, 1_000_000])
def test_refill_tails_pay_for_their_compile(body, n):
    """The tail loops refill builds on a profile (costmodel.refill_tails), for small and
    large bodies and batches, on the prior's geometric trips: the kept loops cost least,
    lane-ops per call plus TAIL_COPY x (body + TAIL_LOOP) per loop, of every choice of
    loops; a compile that costs nothing keeps them all."""
    from itertools import combinations

    from vmlir.passes.rules.occupancy import refill_active, tail_widths

    lanes_ = strategy.refill_lanes(VectorizeOptions(), n)
    trips = np.random.default_rng(0).permutation(costmodel.prior_trips(min(n, costmodel.TAIL_SAMPLE * lanes_)))
    f = costmodel.LoopFeatures(body, 4.0)
    active, emptied = refill_active(trips, lanes_)
    after = active[emptied:]
    every = tail_widths(lanes_)
    kept = costmodel.refill_tails(trips, lanes_, f)
    assert kept == [w for w in every if w in kept]  # widest first
    best = _tail_cost(after, lanes_, kept, f, costmodel.TAIL_COPY)
    for r in range(len(every) + 1):
        for other in combinations(every, r):
            assert best <= _tail_cost(after, lanes_, list(other), f, costmodel.TAIL_COPY)
    assert costmodel.refill_tails(trips, lanes_, f, copy=0.0) == every
    if n == 1_000_000:
        # A million examples: every tail loop pays (the bench's 1M refill rows).
        assert kept == every
    if n == 2048:
        # 1024 lanes: their last examples' tail is too short to pay for three copies.
        assert len(kept) < len(every)


def test_refill_tails_cost_no_full_replay():
    """The tail loops are priced on the last examples only (costmodel.tail_sample): the
    choice at a million examples is that of its last ones, which are fewer than the
    batch, but enough for the lanes' longest loops to have started among them."""
    lanes_ = 8192
    trips = np.random.default_rng(1).geometric(1 / 20, 1_000_000)
    f = costmodel.LoopFeatures(50.0, 4.0)
    m = costmodel.tail_sample(trips, lanes_)
    assert costmodel.TAIL_SAMPLE * lanes_ + trips.max() / trips.mean() * lanes_ <= m < len(trips)
    assert costmodel.refill_tails(trips, lanes_, f) == costmodel.refill_tails(trips[-m:], lanes_, f)


def test_tail_sample_holds_a_heavy_tails_stragglers():
    """A heavy tail (geometric trips with 1% of the examples 300x longer): the sample
    reaches back as far as the longest loop, and the tail loops priced on it are those
    priced on the whole batch."""
    rng = np.random.default_rng(7)
    n, lanes_ = 100_000, 1562
    trips = np.where(rng.random(n) < 0.01, rng.integers(300, 1300, n), rng.geometric(0.5, n))
    f = costmodel.LoopFeatures(63.0, 5.0)
    assert costmodel.tail_sample(trips, lanes_) == n
    assert costmodel.refill_tails(trips, lanes_, f) != costmodel.refill_tails(trips[-costmodel.TAIL_SAMPLE * lanes_ :], lanes_, f)
