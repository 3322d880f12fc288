"""Which divergence strategy a lane loop runs under, and the sizes each strategy uses.

A lane loop (a while whose predicate varies, masked by batch-mask-control-flow) can run as
- `mask`: one loop over all lanes while any is active (jax.vmap's way, with the active
  flag carried);
- `compact`: loops over fewer and fewer lanes, gathering the active ones whenever they
  fit the next bucket (passes/rules/compaction.py);
- `refill`: a fixed number of persistent lanes that take the next unstarted example as
  soon as theirs finishes (passes/rules/refill.py);
- `sequential`: refill with one lane: one example at a time.

The choice is per loop: a `batch.strategy` attribute already on the loop wins, then the
pass's `strategy` option; `auto` asks the cost model (docs/passes.md, "Divergence
strategies"). Every while a lane loop becomes carries `batch.strategy = "<name>"`.
"""

from __future__ import annotations

import math

from xdsl.dialects.builtin import StringAttr
from xdsl.ir import Operation

from vmlir.dialects.batch_collectives import COLLECTIVE_OPS
from vmlir.errors import VmlirError
from vmlir.passes.rules.context import where

STRATEGY_ATTR = "batch.strategy"
STRATEGIES = ("mask", "compact", "refill", "sequential")
CHOICES = ("auto", *STRATEGIES)


def check(name: str, what: str) -> None:
    if name not in CHOICES:
        raise VmlirError(f"{what}: unknown divergence strategy {name!r}; expected one of {', '.join(CHOICES)}")


def choose(options, axis_size: int, op: Operation) -> str:
    """The strategy of lane loop `op` on `axis_size` lanes."""
    attr = op.attributes.get(STRATEGY_ATTR)
    name = options.strategy
    if isinstance(attr, StringAttr):
        name = attr.data
        check(name, where(op))
    if name == "auto":
        name = auto(options, axis_size, op)
    if name != "mask" and any(isinstance(inner, COLLECTIVE_OPS) for inner in op.walk()):
        # Collectives see every lane, as under jax.vmap; compaction and refill would
        # hand them a subset of the examples.
        return "mask"
    if name == "compact" and next_bucket(options, axis_size) is None:
        return "mask"  # too few lanes to shrink: compaction is the masked loop
    if name == "refill" and refill_lanes(options, axis_size) >= axis_size:
        return "mask"  # as many lanes as examples: nothing to refill
    return name


def auto(options, axis_size: int, op: Operation | None = None) -> str:
    """The strategy the cost model (costmodel.py, docs/passes.md) prices lowest: on the
    loop's profiled trip counts when it has a profile (a `batch.trips` attribute), else
    on a prior distribution, so that the loop's static features (its body against each
    strategy's bookkeeping) and the batch size decide. Without a loop to look at:
    `refill` from `refill_min` examples on, else `compact`."""
    if not options.compact_lanes:
        return "mask"
    if op is not None:
        from vmlir.passes.rules import costmodel  # it replays these rules: imports this module

        trips = costmodel.profiled_trips(op, axis_size)
        if trips is not None:
            return costmodel.rank(trips, axis_size, costmodel.features(op), options)[0]
        return costmodel.prior_choice(axis_size, costmodel.features(op), options)
    if axis_size >= options.refill_min:
        return "refill"
    return "compact"


def shrink(options, axis_size: int) -> int:
    """The factor between compaction levels: `shrink` when set, else the one that takes
    `axis_size` down to `min_bucket` in `max_levels` steps, at least 4. The nest stops
    after `max_levels` loops (`last_level`), so its last bucket stays a factor above
    `min_bucket`: each level is a copy of the body plus the gathers and scatters for XLA
    to compile (~0.5 s per level at 100k lanes on XLA CPU), and a bucket of B/s^2 lanes
    saved no measurable runtime in the benchmark loops (docs/passes.md)."""
    if options.shrink:
        return options.shrink
    ratio = max(axis_size / options.min_bucket, 1.0)
    return max(4, math.floor(ratio ** (1.0 / max(options.max_levels, 1)) + 1e-9))


def last_level(options, level: int) -> bool:
    """Whether compaction level `level` (1: the loop over all lanes) is the nest's last:
    with `shrink` chosen from the batch size, the nest has at most `max_levels` loops."""
    return not options.shrink and level >= options.max_levels


LIBRARY_SUM = 4096
"""XLA CPU sums an f32 vector of at least this many elements with a library kernel
(~20 ms of compile at 100k lanes), a shorter one with three generated kernels (~80 ms)."""


def next_bucket(options, axis_size: int, factor: int = 0) -> int | None:
    """The lanes of the next compaction level below `axis_size` (shrinking by `factor`,
    by default the top level's), or None at the last one. With `shrink` chosen from the
    batch size, a bucket is at least LIBRARY_SUM lanes where that still shrinks the
    batch 16-fold: the bucket's loop counts its active lanes, and the count compiles
    cheaper from that size on (100k lanes: 3703 -> 4096; docs/passes.md, "Compile time
    of the compacted nest")."""
    keep = axis_size // (factor or shrink(options, axis_size))
    if not options.shrink and keep < LIBRARY_SUM <= axis_size // 16:
        keep = LIBRARY_SUM
    return keep if keep >= options.min_bucket else None


def refill_lanes(options, axis_size: int) -> int:
    """Refill's persistent lanes: `lanes` when set, else 1/64 of the batch within
    [1024, 8192] (wide enough to amortize a loop iteration, narrow enough that the last
    examples' tail costs little)."""
    if options.lanes:
        return min(options.lanes, axis_size)
    return min(axis_size, max(1024, min(8192, axis_size // 64)))
