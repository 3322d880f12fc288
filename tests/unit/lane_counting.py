"""Step-by-step lane counts shared by the occupancy and cost-model tests."""

from __future__ import annotations

from vmlir.passes.rules.occupancy import REFILL_FRACTION, tail_widths


def refill_step_by_step(trips, lanes):
    """Refill one iteration at a time: the rule of passes/rules/refill.py spelled out.
    (iterations, executed lane-iterations): a loop on fewer lanes takes over once the
    queue is empty and the running examples fit it."""
    widths = [lanes, *tail_widths(lanes)]
    queue = [t for t in trips if t > 0]
    remaining = queue[:lanes] + [0] * max(0, lanes - len(queue))
    nxt, iterations, executed, level = min(lanes, len(queue)), 0, 0, 0
    while any(remaining) or nxt < len(queue):
        while level + 1 < len(widths) and nxt >= len(queue) and sum(r > 0 for r in remaining) <= widths[level + 1]:
            level += 1
        if any(remaining):
            iterations += 1
            executed += widths[level]
            remaining = [max(r - 1, 0) for r in remaining]
        free = [i for i, r in enumerate(remaining) if r == 0]
        if len(free) >= max(1, lanes // REFILL_FRACTION) or not any(remaining):
            for i in free:
                if nxt < len(queue):
                    remaining[i], nxt = queue[nxt], nxt + 1
    return iterations, executed
