"""Lane occupancy of a divergent loop under each strategy, from its trip counts.

Given the number of iterations each example's loop runs (`trips`, one per example), the
active lanes per iteration and the executed lane-iterations of every strategy follow
from the strategy's rules (passes/rules/strategy.py, compaction.py, refill.py), with the
same sizes the compiler would pick:
- `mask`: every lane runs until the slowest example finishes: n * max(trips);
- `compact`: each level runs at its width while more lanes are active than the next
  bucket holds, then continues on the bucket;
- `refill`: L lanes; free lanes take queued examples once L/8 are free or none is active;
  once the queue is empty, the tail runs on the tail loops refill builds (of L/2, L/8,
  L/64 lanes: costmodel.loop_tails).
useful / executed is the fraction of lane-iterations that did an example's work (1.0 is
perfect). The cost model (costmodel.py) prices these counts; vmlir/lanes.py reports and
plots them for the user.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
    """The number of lanes compaction runs at each iteration (its overrun included)."""
    return compact_trace(trips, n, options).widths


@dataclass(frozen=True)
class CompactTrace:
    """What compaction executes on some trip counts (compaction.py, control.counted_while)."""

    widths: np.ndarray
    """The lanes run at each iteration, the iterations a level runs past its stop (up
    to its last chunk's end) included."""
    counts: int
    """Lanes counted: the sum of the widths of every active count the levels take."""
    tests: int
    """Lanes tested by an any-lane test (a level that tests its cond every iteration:
    the masked loop of a batch too small to shrink, or check_every=1)."""
    moved: list[tuple[int, int]]
    """(width, bucket) of each compaction that ran: a top_k over `width` lanes, gathers
    and scatters of `bucket` lanes."""


def count_chunks(check_every: int) -> Iterator[int]:
    """The iterations a counted level runs between its counts: 1, 2, 4, ... up to
    check_every, then check_every (control._checked_every)."""
    step = 1
    while True:
        yield step
        step = min(2 * step, max(check_every, 1))


def compact_trace(trips: np.ndarray, n: int, options: Any = None) -> CompactTrace:
    """Compaction replayed on these trip counts with the sizes the compiler picks: each
    level runs chunks of iterations (count_chunks) and counts its active lanes after
    each; it stops once they fit the next bucket (the last level: once none is
    active), so it runs up to a chunk past that point."""
    options = _options(options)
    trips = np.asarray(trips, np.int64).reshape(-1)
    counts = active_counts(trips)
    top = len(counts)

    def active(t: int) -> int:
        return int(counts[t]) if t < top else 0

    widths: list[int] = []
    counted = tested = 0
    moved: list[tuple[int, int]] = []
    width, factor, t, level = n, strategy.shrink(options, n), 0, 1
    while True:
        keep = None if strategy.last_level(options, level) else strategy.next_bucket(options, width, factor)
        if keep is None and level == 1 or options.check_every <= 1:
            # A cond tested every iteration: stops exactly.
            stop = 0 if keep is None else keep
            run = t
            while run < top and active(run) > stop:
                run += 1
            widths += [width] * (run - t)
            tested += width * (run - t + 1)
            t = run
        else:
            stop = 0 if keep is None else keep
            chunks = count_chunks(options.check_every)
            while True:  # the body runs at least once
                step = next(chunks)
                widths += [width] * step
                t += step
                counted += width
                if active(t) <= stop:
                    break
        if keep is None or active(t) == 0:
            break
        moved.append((width, keep))
        width, level = keep, level + 1
    return CompactTrace(np.asarray(widths, np.int64), counted, tested, moved)


TAIL_DIVISORS = (2, 8, 64)
"""Refill's tail loops (refill.py) run on L/2, L/8, then L/64 lanes, each once the queue
is empty and that few examples are still running. Halving first matters: when the queue
runs dry, the lanes still hold many long examples (at 1M examples of the bench's
Mandelbrot, 60% of the lanes hold one of its 1% stragglers), and a first tail loop of
L/8 lanes only starts once they are mostly done. Replayed on the suite's heavy-tailed
kernels at 1M examples, useful / executed: 0.88-0.91 with these three loops, 0.78-0.85
with L/8 and L/64, 0.28-0.74 without a tail. Each loop is one more copy of the body to
compile: these are the candidates; on a profile, costmodel.refill_tails picks those that pay
for it."""


def tail_widths(lanes: int) -> list[int]:
    """The lanes of refill's tail loops after its refilling loop on `lanes` lanes."""
    return [lanes // d for d in TAIL_DIVISORS if lanes // d >= 2]


def refill_trace(trips: np.ndarray, lanes: int, tails: list[int] | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """(iterations, active lanes at each iteration, lanes run at each iteration) of refill
    on `lanes` lanes: the refilling loop's, then the tail loops' (`tails`, widest first;
    by default all of tail_widths)."""
    active, emptied = refill_active(trips, lanes)
    widths = np.full(len(active), lanes, np.int64)
    widths[emptied:] = tail_run(active[emptied:], lanes, tail_widths(lanes) if tails is None else tails)
    return len(active), active, widths


def refill_active(trips: np.ndarray, lanes: int) -> tuple[np.ndarray, int]:
    """The active lanes at each iteration of refill on `lanes` lanes, and the iteration
    from which the queue is empty."""
    queue = trips[trips > 0].astype(np.int64)
    remaining = np.zeros(lanes, np.int64)
    take = min(lanes, len(queue))
    remaining[:take] = queue[:take]
    nxt, threshold = take, max(1, lanes // REFILL_FRACTION)
    active_per_iteration: list[np.ndarray] = []
    emptied = 0  # the iteration from which the queue is empty
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
            emptied = sum(len(a) for a in active_per_iteration)
    active = np.concatenate(active_per_iteration) if active_per_iteration else np.zeros(0, np.int64)
    return active, emptied


def tail_run(active: np.ndarray, lanes: int, tails: list[int]) -> np.ndarray:
    """The lanes run at each iteration after the queue is empty (`active`: the active
    lanes then), with tail loops of `tails` lanes (widest first). The active count only
    falls: each iteration runs on the narrowest loop that holds its active lanes (a loop
    ends when they fit the next)."""
    widths = np.full(len(active), lanes, np.int64)
    for w in tails:
        widths[active <= w] = w
    return widths


def occupancy(trips: Any, n: int | None = None, options: Any = None, tails: list[int] | None = None) -> dict[str, float]:
    """useful / executed lane-iterations of mask, compact and refill (with the tail loops
    `tails`, by default all of tail_widths) for these trip counts."""
    options = _options(options)
    trips = np.asarray(trips, np.int64).reshape(-1)
    n = len(trips) if n is None else n
    useful = float(trips.sum())
    if useful == 0:
        return {"mask": 1.0, "compact": 1.0, "refill": 1.0}
    lanes = strategy.refill_lanes(options, n)
    _, _, widths = refill_trace(trips, lanes, tails)
    return {
        "mask": useful / (n * float(trips.max())),
        "compact": useful / float(compact_widths(trips, n, options).sum()),
        "refill": useful / float(widths.sum()),
    }
