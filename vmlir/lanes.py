"""Lanes of divergent loops, for the user and for the compiler: `vmlir.profile(compiled,
*args)` reports, per while loop, the active lanes per iteration and the useful /
executed lane-iterations of each divergence strategy, and plots them; `vmlir.compile(f,
profile=True)` (or a profile file) records the loops' trip counts on the first call and
compiles with them, so that `batch-vectorize{strategy=auto}` picks each loop's strategy
from its measured distribution (passes/rules/costmodel.py).

Trip counts come from the per-example function itself, evaluated on the arguments (a
sample of the batch) with counting loops (vmlir/frontend/trips.py); the executed work of
each strategy from replaying its rules on them (passes/rules/occupancy.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLE = 8192
"""Examples a profile runs (evenly spaced over the batch): enough for the percentiles
the cost model reads, cheap next to the batch itself."""


Sites = list[tuple[str, int] | None]


def trip_counts(
    compiled: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None, sample: int = 0
) -> tuple[list[np.ndarray | None], Sites]:
    """Per while loop of the per-example program (pre-order), each example's iterations
    (None for a loop nested in a cond or scan), and each loop's (file, line)
    (vmlir/frontend/trips.py: loop_sites). `sample`: at most that many examples, evenly
    spaced over the batch (0: all)."""
    import jax

    from vmlir.frontend.axes import flatten_args
    from vmlir.frontend.pycontrol_calls import convert
    from vmlir.frontend.trips import loop_trips

    v = compiled.vmapped
    fn, args, in_axes = v.with_kwargs(args, kwargs or {})
    flat, in_tree, leaves = flatten_args(args, in_axes, v.axis_size)
    fn, in_tree = flat.bind_static(convert(fn), in_tree)

    def on_leaves(*xs: Any) -> Any:
        return jax.tree_util.tree_leaves(fn(*jax.tree_util.tree_unflatten(in_tree, xs)))

    n = flat.axis_size
    if sample and n > sample:
        idx = np.linspace(0, n - 1, sample).astype(np.int64)
        leaves = [x if a is None else np.take(np.asarray(x), idx, axis=a) for x, a in zip(leaves, flat.in_axes)]
    return loop_trips(on_leaves, flat.per_example, leaves, flat.in_axes)


def load(path: str) -> tuple[list[list[int] | None], Sites | None]:
    """A profile file: per loop, the percentiles of its trip counts, and the (file, line)
    each loop came from (None in files written before sites were recorded)."""
    with open(path) as f:
        data = json.load(f)
    sites = data.get("sites")
    return data["loops"], None if sites is None else [None if s is None else (s[0], s[1]) for s in sites]


def save(path: str, percentiles: list[list[int] | None], sites: Sites | None = None) -> None:
    with open(path, "w") as f:
        json.dump({"loops": percentiles, "sites": sites}, f)


def record(
    compiled: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[list[list[int] | None], Sites | None]:
    """The profile `vmlir.compile(f, profile=...)` compiles with: loaded from the profile
    file when it exists, else measured on these arguments (and saved to the file)."""
    from vmlir.passes.rules.costmodel import percentiles

    path = compiled.profile if isinstance(compiled.profile, (str, os.PathLike)) else None
    if path is not None and os.path.exists(path):
        return load(path)
    trips, sites = trip_counts(compiled, args, kwargs, SAMPLE)
    out = [None if t is None else percentiles(t) for t in trips]
    if path is not None:
        save(path, out, sites)
    return out, sites


def annotate(module: Any, loops: list[list[int] | None], sites: Sites | None = None) -> None:
    """Put each loop's profiled percentiles on its while (match_whiles) as `batch.trips`."""
    from xdsl.dialects.builtin import DenseArrayBase, i64

    from vmlir.dialects import stablehlo as hlo
    from vmlir.passes.rules.costmodel import TRIPS_ATTR

    whiles = [op for op in module.walk() if isinstance(op, hlo.WhileOp)]
    for op, q in zip(match_whiles(whiles, len(loops), sites), loops):
        if op is not None and q is not None:
            op.attributes[TRIPS_ATTR] = DenseArrayBase.from_list(i64, q)


def match_whiles(whiles: list[Any], n_loops: int, sites: Sites | None) -> list[Any]:
    """The while op of each of the `n_loops` profiled loops (None where unknown): the k-th
    while (pre-order) when the program has as many whiles as loops; else, by `sites`,
    the whiles at the loop's (file, line), where that line has as many whiles as
    profiled loops (a primitive's lowering may add whiles of its own: jax.random's
    rolled threefry on CPU). A profile of another function matches nothing."""
    from xdsl.dialects.builtin import FileLineColLoc

    if len(whiles) == n_loops:
        return list(whiles)
    out: list[Any] = [None] * n_loops
    if sites is None or len(sites) != n_loops:
        return out

    def site_of(op: Any) -> tuple[str, int] | None:
        loc = op.location
        return (loc.filename.data, loc.line.data) if isinstance(loc, FileLineColLoc) else None

    at: dict[Any, list[Any]] = {}
    for op in whiles:
        at.setdefault(site_of(op), []).append(op)
    loops_at: dict[Any, list[int]] = {}
    for k, site in enumerate(sites):
        loops_at.setdefault(site, []).append(k)
    for site, ks in loops_at.items():
        ops = at.get(site, [])
        if site is not None and len(ops) == len(ks):
            for k, op in zip(ks, ops):
                out[k] = op
    return out


@dataclass
class LoopProfile:
    """One while loop's lanes under each strategy."""

    index: int
    """Its position among the program's while loops (pre-order)."""
    location: str
    trips: np.ndarray
    """Each example's iterations."""
    active: np.ndarray
    """Examples still running at each iteration."""
    executed: dict[str, float] = field(default_factory=dict)
    """Lane-iterations each strategy runs (useful ones: trips.sum())."""
    occupancy: dict[str, float] = field(default_factory=dict)
    """useful / executed."""
    cost: dict[str, float] = field(default_factory=dict)
    """The cost model's estimate (lane-op units)."""
    choice: str = ""
    """The strategy the cost model picks for these trip counts."""

    def summary(self) -> str:
        t = self.trips
        occ = ", ".join(f"{s} {v:.2f}" for s, v in self.occupancy.items())
        return (
            f"loop {self.index} ({self.location}): {len(t)} examples, trips mean {t.mean():.1f} / "
            f"max {t.max(initial=0)}; useful/executed: {occ}; model picks {self.choice}"
        )


def profile(compiled: Any, *args: Any, **kwargs: Any) -> list[LoopProfile]:
    """Per while loop of `compiled` (what vmlir.compile returns) on these arguments: the
    active lanes per iteration and each strategy's executed work (see LoopProfile)."""
    from vmlir.dialects import stablehlo as hlo
    from vmlir.ir import make_context, parse_module
    from vmlir.passes.rules import costmodel, occupancy
    from vmlir.passes.rules.context import where
    from vmlir.passes.vectorize import VectorizeOptions

    trips, sites = trip_counts(compiled, args, kwargs)
    text = compiled.lower(*args, **kwargs).as_text("batch-mask-control-flow", generic=True)
    module = parse_module(text, make_context(allow_unregistered=True))
    whiles = match_whiles([op for op in module.walk() if isinstance(op, hlo.WhileOp)], len(trips), sites)
    options = VectorizeOptions()
    out = []
    for i, t in enumerate(trips):
        if t is None:
            continue
        t = np.asarray(t, np.int64).reshape(-1)
        n = len(t)
        op = whiles[i]
        feats = costmodel.features(op) if op is not None else costmodel.LoopFeatures(1.0, 1.0)
        est = costmodel.estimate(t, n, feats, options)
        useful = float(t.sum())
        # The loop's Python line, from the jaxpr (the IR text read back here has no
        # locations); else the op as an error would name it.
        site = sites[i] if sites is not None and i < len(sites) else None
        location = f"{site[0]}:{site[1]}" if site else where(op) if op is not None else "?"
        lp = LoopProfile(i, location, t, occupancy.active_counts(t))
        lp.executed = {s: w.lane_iterations for s, w in est.items()}
        lp.occupancy = {s: (useful / w.lane_iterations if w.lane_iterations else 1.0) for s, w in est.items()}
        lp.cost = {s: w.cost for s, w in est.items()}
        lp.choice = min(costmodel.priced(n, options), key=lambda s: est[s].cost)
        out.append(lp)
    return out


def plot(loop: LoopProfile, path: str, title: str = "") -> None:
    """Active lanes per iteration and the lanes each strategy runs, saved to `path`."""
    import matplotlib  # the `bench` extra: only plotting needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vmlir.passes.rules import occupancy, strategy
    from vmlir.passes.vectorize import VectorizeOptions

    options = VectorizeOptions()
    t, n = loop.trips, len(loop.trips)
    lanes = strategy.refill_lanes(options, n)
    _, refill_active, refill_widths = occupancy.refill_trace(t, lanes)
    occ = loop.occupancy
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(loop.active, label=f"active examples (mask runs {n} lanes; useful {occ['mask']:.2f})")
    compact = occupancy.compact_widths(t, n, options)  # past the end: its last chunk
    ax.step(np.arange(len(compact)), compact, where="post",
            label=f"compact: lanes run (useful {occ['compact']:.2f})")
    ax.plot(refill_active, label="refill: active lanes")
    ax.step(np.arange(len(refill_widths)), refill_widths, where="post",
            label=f"refill: lanes run ({lanes}, then the tail's; useful {occ['refill']:.2f})")
    ax.set_yscale("log")
    ax.set_xlabel("loop iteration")
    ax.set_ylabel("lanes")
    ax.set_title(title or f"lane occupancy, loop {loop.index} ({loop.location}); model picks {loop.choice}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
