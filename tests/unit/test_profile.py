"""passes/rules/occupancy.py: lanes' occupancy of each divergence strategy from trip counts,
against a direct iteration-by-iteration simulation of the same rules."""

from __future__ import annotations

import numpy as np
import pytest
from lane_counting import refill_step_by_step

from vmlir.passes.rules import strategy
from vmlir.passes.rules.occupancy import compact_widths, occupancy, refill_trace
from vmlir.passes.vectorize import VectorizeOptions

_refill_step_by_step = refill_step_by_step


@pytest.mark.parametrize("seed", range(2))
def test_refill_trace_matches_a_step_by_step_simulation(seed):
    """The event-jumping trace counts the iterations refill runs, and the lanes it runs
    them on (the tail loops' included), lane by lane."""
    rng = np.random.default_rng(seed)
    trips = np.minimum(rng.pareto(1.0, 300) * 4, 400).astype(np.int64)
    trips[rng.random(300) < 0.2] = 0
    iterations, active, widths = refill_trace(trips, 64)
    assert (iterations, widths.sum()) == _refill_step_by_step(list(trips), 64)
    assert active.sum() == trips.sum()  # every useful lane-iteration is run once
    assert (widths >= active).all() and widths.min() < 64  # the tail ran narrower


def test_refill_tail_keeps_lanes_busy_on_heavy_tails():
    """On heavy-tailed trips the tail loops lift useful / executed above what L lanes
    running to the slowest last example allow (sum / (L x max))."""
    rng = np.random.default_rng(5)
    trips = np.where(rng.random(200_000) < 0.05, rng.geometric(1 / 150, 200_000), rng.geometric(0.6, 200_000))
    lanes_ = 2048
    bound = trips.sum() / (lanes_ * (trips.sum() / lanes_ + trips.max()))
    occ = occupancy(trips)["refill"]
    assert occ > 0.8 > bound


def test_occupancy_of_mask_and_compact():
    """mask executes n * max lane-iterations; compaction's widths follow the buckets the
    compiler picks and never drop below the active count."""
    rng = np.random.default_rng(1)
    trips = np.where(rng.random(100_000) < 0.01, 256, rng.integers(1, 4, 100_000))
    occ = occupancy(trips)
    assert occ["mask"] == pytest.approx(trips.sum() / (100_000 * 256))
    widths = compact_widths(trips, 100_000)
    active = np.array([(trips > t).sum() for t in range(256)])
    # Counted every few iterations, a level may run up to a chunk past its stop.
    assert 256 <= len(widths) < 256 + VectorizeOptions().check_every
    assert (widths[:256] >= active).all()
    o = VectorizeOptions()
    buckets = {100_000}
    w = 100_000
    while (w := strategy.next_bucket(o, w, strategy.shrink(o, 100_000))) is not None:
        buckets.add(w)
    assert set(np.unique(widths)) <= buckets
    assert occ["compact"] > 5 * occ["mask"]


def test_uniform_trips_occupy_every_lane():
    """When every example runs as long, nothing is wasted by mask or compact; refill
    runs ceil(n / L) rounds of 7 iterations on its L = 1024 lanes."""
    occ = occupancy(np.full(5000, 7))
    assert occ["mask"] == 1.0 and occ["compact"] == 1.0
    assert occ["refill"] == pytest.approx(5000 / (5 * 1024))
