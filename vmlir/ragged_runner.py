"""Running a ragged call's bucket programs (vmlir/ragged.py decides what they are).

A call sorts the examples by length, gives each bucket its examples (cut to the bucket's
padded size), runs the bucket's program, runs the size-free tail once over all the
examples when the body was split (vmlir/frontend/ragged_split.py), and puts the stacked
outputs back in the examples' order. Ragged outputs stay per bucket (cut on the host).

All of it is one `jax.jit` (`runner`): inside a user's trace it becomes part of the
user's program; on arrays it is compiled once per argument shapes with `xla_options`.
One executable rather than one per bucket: XLA runs the buckets' independent programs
concurrently inside it, and separate executables run one after the other (docs/ragged.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vmlir.runtime import xla

XLA_OPTIONS = {"xla_backend_optimization_level": 1}
"""XLA options of a ragged call's executables on CPU. A first call compiles one program per
bucket, and on CPU (jaxlib 0.10) XLA's default level took ~4x longer to compile masked
reductions than level 1, whose code ran as fast or faster (docs/ragged.md)."""

NO_FUSION_EMITTERS = {"xla_cpu_use_fusion_emitters": False}
"""Added when no bucket program has a loop: XLA's CPU fusion emitters took 35-45% of the
compile of the bench's loop-free bucket programs and their code ran no faster. A scan over
the ragged axis ran 2-7x slower without them (the GRU), so a bucket program with a while
loop keeps them. The tail (run once, after the ragged axis is gone) does not decide: the
least-squares fit's LU pivoting loop ran as fast either way (docs/ragged.md)."""


@dataclass(frozen=True)
class Runner:
    """The jitted function that runs a call (its buckets, or its packed program), and the
    XLA options of its executable on arrays (its programs choose them)."""

    jitted: Callable[..., Any]
    options: dict[str, Any]


@dataclass(frozen=True)
class Bucket:
    """One bucket's program: `count` examples, padded to `padded`, starting at `start` in
    the length order."""

    count: int
    start: int
    padded: int
    text: str
    out_avals: tuple[Any, ...]


@dataclass(frozen=True)
class Layout:
    """What every bucket shares: the arguments' axes, each output's ragged dimensions and
    where it comes from (("head", k): bucket output k; ("tail", k): tail output k), and
    the tail (split plan, text, avals) or None."""

    in_axes: tuple[Any, ...]
    ragged: tuple[Any, ...]
    length_dtype: Any
    out_ragged_dims: tuple[tuple[int, ...], ...]
    where: tuple[tuple[str, int], ...]
    tail: tuple[Any, str, tuple[Any, ...]] | None = None


def _bucket_args(
    b: Bucket, layout: Layout, leaves: Sequence[Any], lengths: Any, order: Any
) -> list[Any]:
    """Bucket `b`'s arguments: its examples (cut or padded to its size) and lengths."""
    idx = order[b.start : b.start + b.count]
    args = []
    for x, ax, r in zip(leaves, layout.in_axes, layout.ragged):
        if r is None:
            args.append(x if ax is None else jnp.take(x, idx, axis=0))
            continue
        # cut to the bucket's size before gathering its examples: the gather then moves
        # the bucket's padded work, not the longest example's
        x = jax.lax.slice_in_dim(x, 0, min(b.padded, x.shape[r + 1]), axis=r + 1)
        x = jnp.take(x, idx, axis=0)
        if x.shape[r + 1] < b.padded:
            # Padded up to the traced size; what is added is never read.
            pad = [(0, 0)] * x.ndim
            pad[r + 1] = (0, b.padded - x.shape[r + 1])
            x = jnp.pad(x, pad)
        args.append(x)
    args.append(jnp.take(lengths, idx).astype(layout.length_dtype))
    return args


def _run_bucket(b: Bucket, layout: Layout, *xs: Any) -> list[Any]:
    *leaves, lengths, order = xs
    return xla.call(b.text, _bucket_args(b, layout, leaves, lengths, order), b.out_avals)


def _run_tail(layout: Layout, frontiers: Sequence[Sequence[Any]], *xs: Any) -> list[Any]:
    """The tail over every example (length order); `frontiers[b]`: bucket b's values the
    tail reads."""
    *leaves, lengths, order = xs
    cut, tail_text, tail_avals = layout.tail
    frontier = [jnp.concatenate([f[j] for f in frontiers]) for j in range(len(cut.frontier))]
    sorted_args = []
    for a in cut.tail_args:
        if a == len(leaves):  # the length
            sorted_args.append(jnp.take(lengths, order).astype(layout.length_dtype))
        else:
            x = leaves[a]
            sorted_args.append(x if layout.in_axes[a] is None else jnp.take(x, order, axis=0))
    return xla.call(tail_text, [*frontier, *sorted_args], tail_avals)


def _n_head(layout: Layout) -> int:
    return sum(w == "head" for w, _ in layout.where)


def _stacked(
    layout: Layout, outs_per_bucket: Sequence[Sequence[Any]], tail_outs: Sequence[Any], order: Any
) -> list[Any]:
    """The outputs without a ragged dimension, in the examples' order (None for the
    others)."""
    inverse = jnp.argsort(order)
    stacked = []
    for dims, (w, j) in zip(layout.out_ragged_dims, layout.where):
        if w == "tail":
            stacked.append(jnp.take(tail_outs[j], inverse, axis=0))
        elif dims:
            stacked.append(None)
        else:
            joined = jnp.concatenate([o[j] for o in outs_per_bucket])
            stacked.append(jnp.take(joined, inverse, axis=0))
    return stacked


def _ragged(layout: Layout, outs_per_bucket: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Per output, its value in each bucket (None where it is stacked)."""
    return [
        [o[j] for o in outs_per_bucket] if w == "head" and dims else [None] * len(outs_per_bucket)
        for dims, (w, j) in zip(layout.out_ragged_dims, layout.where)
    ]


def runner(buckets: Sequence[Bucket], layout: Layout) -> Callable[..., Any]:
    """One jax.jit for the whole call: (*leaves, lengths, order) -> (stacked, ragged)."""

    def run(*xs: Any) -> Any:
        order = xs[-1]
        outs = [_run_bucket(b, layout, *xs) for b in buckets]
        tail_outs: list[Any] = []
        if layout.tail is not None:
            n = _n_head(layout)
            tail_outs = _run_tail(layout, [o[n:] for o in outs], *xs)
        return _stacked(layout, outs, tail_outs, order), _ragged(layout, outs)

    return jax.jit(run)


def xla_options(bucket_texts: Sequence[str]) -> dict[str, Any]:
    """The compile options of an executable running the bucket programs `bucket_texts`
    (and maybe a tail), measured on CPU only: elsewhere XLA's defaults stand."""
    if jax.default_backend() != "cpu":
        return {}
    if any("stablehlo.while" in t for t in bucket_texts):
        return dict(XLA_OPTIONS)
    return {**XLA_OPTIONS, **NO_FUSION_EMITTERS}


def avals_of(xs: Sequence[Any]) -> list[jax.ShapeDtypeStruct]:
    # .dtype where there is one: np.result_type of a jax array is deprecated
    return [
        jax.ShapeDtypeStruct(np.shape(x), x.dtype if hasattr(x, "dtype") else np.result_type(x))
        for x in xs
    ]
