"""Lane occupancy of a divergent loop under each strategy, from its trip counts.

Given the number of iterations each example's loop runs (`trips`, one per example), the
active lanes per iteration and the executed lane-iterations of every strategy follow
from the strategy's rules (passes/rules/strategy.py, compaction.py, refill.py), with the
same sizes the compiler would pick:
- `mask`: every lane runs until the slowest example finishes: n * max(trips);
- `compact`: each level runs at its width while more lanes are active than the next
  bucket holds, then continues on the bucket;
- `refill`: L lanes; free lanes take queued examples once L/8 are free or none is active.
useful / executed is the fraction of lane-iterations that did an example's work (1.0 is
perfect). The cost model (costmodel.py) prices these counts; vmlir/lanes.py reports and
plots them for the user.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vmlir.passes.rules import strategy

REFILL_FRACTION = 8
"""Free lanes take new examples once 1/REFILL_FRACTION of them are free (refill.py): the
gathers a refill costs are paid once per that many finished examples, and at most that
fraction of the lanes idles."""


def _options(options: Any) -> Any:
    if options is None:
        from vmlir.passes.vectorize import VectorizeOptions  # imports the rules, this one too

        return VectorizeOptions()
    return options


def active_counts(trips: np.ndarray) -> np.ndarray:
    """c[t] = examples still running at iteration t (0-based), t < max(trips)."""
    top = int(trips.max(initial=0))
    sorted_trips = np.sort(trips)
    return len(trips) - np.searchsorted(sorted_trips, np.arange(top), side="right")


def compact_widths(trips: np.ndarray, n: int, options: Any = None) -> np.ndarray:
    """The number of lanes compaction runs at each iteration."""
    options = _options(options)
    counts = active_counts(trips)
    widths = np.zeros(len(counts), np.int64)
    width, factor, t, level = n, strategy.shrink(options, n), 0, 1
    while t < len(counts):
        keep = strategy.next_bucket(options, width, factor)
        if keep is None or strategy.last_level(options, level):
            widths[t:] = width
            break
        # The level's loop runs while more than `keep` lanes are active.
        below = np.nonzero(counts[t:] <= keep)[0]
        stop = t + (int(below[0]) if len(below) else len(counts) - t)
        widths[t:stop] = width
        t, width, level = stop, keep, level + 1
    return widths


def refill_trace(trips: np.ndarray, lanes: int) -> tuple[int, np.ndarray]:
    """(iterations, active lanes at each iteration) of refill on `lanes` lanes."""
    queue = trips[trips > 0].astype(np.int64)
    remaining = np.zeros(lanes, np.int64)
    take = min(lanes, len(queue))
    remaining[:take] = queue[:take]
    nxt, threshold = take, max(1, lanes // REFILL_FRACTION)
    active_per_iteration: list[np.ndarray] = []
    while remaining.any() or nxt < len(queue):
        running = remaining > 0
        if running.any():
            # Jump to the iteration at which a refill is due: `threshold` lanes free, or
            # none active.
            free_now = lanes - int(running.sum())
            need = max(threshold - free_now, 1)
            left = np.sort(remaining[running])
            steps = int(left[min(need, len(left)) - 1])
            counts = (left[None, :] > np.arange(steps)[:, None]).sum(axis=1)
            active_per_iteration.append(counts)
            remaining = np.maximum(remaining - steps, 0)
        free = np.nonzero(remaining == 0)[0]
        if nxt < len(queue):
            k = min(len(free), len(queue) - nxt)
            remaining[free[:k]] = queue[nxt : nxt + k]
            nxt += k
    active = np.concatenate(active_per_iteration) if active_per_iteration else np.zeros(0, np.int64)
    return len(active), active


def occupancy(trips: Any, n: int | None = None, options: Any = None) -> dict[str, float]:
    """useful / executed lane-iterations of mask, compact and refill for these trip counts."""
    options = _options(options)
    trips = np.asarray(trips, np.int64).reshape(-1)
    n = len(trips) if n is None else n
    useful = float(trips.sum())
    if useful == 0:
        return {"mask": 1.0, "compact": 1.0, "refill": 1.0}
    lanes = strategy.refill_lanes(options, n)
    iterations, _ = refill_trace(trips, lanes)
    return {
        "mask": useful / (n * float(trips.max())),
        "compact": useful / float(compact_widths(trips, n, options).sum()),
        "refill": useful / float(iterations * lanes),
    }
