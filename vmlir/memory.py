"""Choosing a chunk size from XLA's memory analysis (`vmlir.compile(..., memory_limit_bytes=m)`).

A vectorized program holds the intermediates of the whole batch at once; chunked
(batch-chunk), it holds those of one chunk. Which chunk size fits a memory budget is a
question XLA answers without running anything: compile the program for a chunk size and
read `temp_size_in_bytes` from the executable's memory analysis (the scratch memory the
program needs beyond its arguments and results).

`choose_chunk_size` searches the chunk sizes; `temp_bytes` is the measurement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax

from vmlir.errors import VmlirError
from vmlir.runtime import xla


def chunk_candidates(batch: int, below: int | None = None) -> list[int]:
    """The chunk sizes worth trying, ascending: the divisors of `batch` (no remainder
    chunk) and the powers of two, all smaller than `below` (default: `batch`)."""
    below = batch if below is None else min(below, batch)
    divisors = {d for d in range(1, below) if batch % d == 0}
    powers = {1 << p for p in range(below.bit_length()) if 1 << p < below}
    return sorted(divisors | powers)


def choose_chunk_size(
    temp_bytes: Callable[[int | None], int],
    batch: int,
    limit: int,
    max_chunk: int | None = None,
) -> int | None:
    """The largest chunk size whose program needs at most `limit` bytes of temporary
    memory, `temp_bytes(chunk)` being that need (`chunk=None`: no chunking).

    No chunking (or `max_chunk`, the chunk size asked for by the user) is tried first and
    returned if it fits. Otherwise a binary search over `chunk_candidates` below it, which
    assumes memory grows with the chunk size; the answer was measured to fit either way.
    Raises VmlirError if even chunk size 1 does not fit.
    """
    first = max_chunk if max_chunk is not None and max_chunk < batch else None
    measured: dict[int | None, int] = {}

    def fits(chunk: int | None) -> bool:
        measured[chunk] = temp_bytes(chunk)
        return measured[chunk] <= limit

    if fits(first):
        return first
    candidates = chunk_candidates(batch, first)
    best: int | None = None
    lo, hi = 0, len(candidates) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(candidates[mid]):
            best, lo = candidates[mid], mid + 1
        else:
            hi = mid - 1
    if best is None:
        chunk, need = min(measured.items(), key=lambda kv: kv[1])
        raise VmlirError(
            f"memory_limit_bytes={limit} is too small: even chunk_size=1 does not fit; the "
            f"smallest temporary memory XLA reports is {need} bytes "
            f"(chunk_size={chunk if chunk is not None else batch})"
        )
    return best


def temp_bytes(text: str, in_avals: Sequence[Any], out_avals: Sequence[Any]) -> int:
    """XLA's temporary memory (bytes) for the final StableHLO `text` called on arguments
    of `in_avals`: compiled for the default backend, never run."""
    args = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in in_avals]
    outs = tuple(out_avals)

    def call(*xs: Any) -> Any:
        return xla.call(text, list(xs), outs)

    stats = jax.jit(call).lower(*args).compile().memory_analysis()
    if stats is None:
        raise VmlirError(
            "memory_limit_bytes needs XLA's memory analysis, which this backend does not give"
        )
    return int(stats.temp_size_in_bytes)
