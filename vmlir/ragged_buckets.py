"""Which padded sizes a ragged call's examples are grouped into (docs/ragged.md, "Buckets")."""

from __future__ import annotations

import numpy as np


def choose_buckets(lengths: np.ndarray, max_buckets: int, program_rows: float = 0) -> list[int]:
    """The padded sizes (at most `max_buckets`, the largest = the longest length) that
    minimize `padded work + program_rows * number of buckets`, where the padded work is
    sum(padded size of each example): each bucket holds a run of consecutive lengths and
    is padded to its longest. Exact, by dynamic programming over the distinct lengths
    (O(max_buckets * distinct^2), vectorized): the least padded work for each number of
    buckets, then the number that minimizes the sum."""
    sizes, counts = np.unique(np.maximum(np.asarray(lengths, np.int64), 1), return_counts=True)
    m = len(sizes)
    before = np.concatenate([[0], np.cumsum(counts)])  # examples shorter than sizes[i]
    # cost[i, j]: lengths i..j in one bucket padded to sizes[j] (inf when i > j)
    cost = sizes[None, :] * (before[None, 1:] - before[:-1, None]).astype(np.float64)
    cost[np.tril_indices(m, -1)] = np.inf
    best = cost[0].copy()  # best[j]: lengths 0..j in the buckets so far
    cuts: list[np.ndarray] = []
    total_with = [best[-1] + program_rows]  # [k - 1]: least work with at most k buckets, plus their cost
    for _ in range(1, min(max_buckets, m)):
        # a new last bucket i..j after the best split of 0..i-1
        total = np.concatenate([[np.inf], best[:-1]])[:, None] + cost
        cut = np.argmin(total, axis=0)
        improved = total[cut, np.arange(m)] < best
        best = np.where(improved, total[cut, np.arange(m)], best)
        cuts.append(np.where(improved, cut, -1))
        total_with.append(best[-1] + program_rows * (len(cuts) + 1))
    # the fewest buckets among equals: a program costs something even when program_rows is 0
    cuts = cuts[: int(np.argmin(total_with))]
    chosen, j = [], m - 1
    for cut in reversed(cuts):
        if j < 0:
            break
        if cut[j] > 0:
            chosen.append(int(sizes[j]))
            j = int(cut[j]) - 1
    if j >= 0:
        chosen.append(int(sizes[j]))
    return sorted(chosen)
