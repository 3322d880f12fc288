"""Ragged workloads: `python -m bench.ragged [--rounds N] [--batch B]`, or the section
`section(args)` of `make bench`.

Lengths are drawn from a log-normal distribution (long tail). Every contender starts from
the same padded storage on the device (a vmlir.Ragged) and returns one result per example:
- vmlir ragged (`max_buckets=6`, layout "auto": programs whose ragged axis is only mapped
  and reduced run packed, all examples' rows in one array; the others are masked,
  bucketed and cut, with fewer buckets when a program's compile costs more than the
  padded work it saves);
- vmlir with layout="buckets" forced (the bucketed path, for comparison);
- pad + mask by hand + jax.jit(jax.vmap) at the longest length (what a careful user writes);
- a Python loop of jax.jit(fn) per example at its true shape (one compile per distinct
  length: its first call includes them, and that is the time the table compares);
- lax.map of the masked function over the padded data.
Timings on a shared CPU are noisy: rounds alternate the contenders' order and the table
shows medians. Every contender's results are compared with the per-example loop's.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import vmlir

D = 32
DEGREE = 3
MAX_BUCKETS = 6


def pooled_mlp(x, w):
    return jnp.mean(jnp.tanh(x @ w), axis=0)


def pooled_mlp_masked(x, n, w):
    valid = (jnp.arange(x.shape[0]) < n)[:, None]
    h = jnp.where(valid, jnp.tanh(jnp.where(valid, x, 0.0) @ w), 0.0)
    return jnp.sum(h, axis=0) / n


def attention(x, w):
    q = jnp.mean(x, axis=0) @ w
    p = jax.nn.softmax(x @ w @ q / np.sqrt(D))
    return p @ x


def attention_masked(x, n, w):
    valid = jnp.arange(x.shape[0]) < n
    x = jnp.where(valid[:, None], x, 0.0)
    q = (jnp.sum(x, axis=0) / n) @ w
    s = jnp.where(valid, x @ w @ q / np.sqrt(D), -jnp.inf)
    return jax.nn.softmax(s) @ x


def _cell(h, xt, w):
    z = jax.nn.sigmoid(xt @ w + h)
    return (1 - z) * h + z * jnp.tanh(xt + h @ w)


def gru(x, w):
    """A GRU-like recurrence over the sequence; its final state."""
    h, _ = lax.scan(lambda h, xt: (_cell(h, xt, w), None), jnp.zeros(D, x.dtype), x)
    return h


def gru_masked(x, n, w):
    def step(h, a):
        t, xt = a
        return jnp.where(t < n, _cell(h, xt, w), h), None

    h, _ = lax.scan(step, jnp.zeros(D, x.dtype), (jnp.arange(x.shape[0]), x))
    return h


def polyfit(p, w):
    """Least-squares cubic through the example's points (t, y) = p[:, 0], p[:, 1]."""
    del w
    v = p[:, :1] ** jnp.arange(DEGREE + 1, dtype=p.dtype)
    return jnp.linalg.solve(v.T @ v + 1e-3 * jnp.eye(DEGREE + 1), v.T @ p[:, 1])


def polyfit_masked(p, n, w):
    del w
    valid = (jnp.arange(p.shape[0]) < n)[:, None]
    v = jnp.where(valid, p[:, :1] ** jnp.arange(DEGREE + 1, dtype=p.dtype), 0.0)
    y = jnp.where(valid[:, 0], p[:, 1], 0.0)
    return jnp.linalg.solve(v.T @ v + 1e-3 * jnp.eye(DEGREE + 1), v.T @ y)


WORKLOADS: dict[str, tuple[Callable, Callable, int]] = {
    # name: (per-example fn, hand-masked fn, feature width of an example)
    "mean-pooled MLP": (pooled_mlp, pooled_mlp_masked, D),
    "GRU via lax.scan": (gru, gru_masked, D),
    "attention": (attention, attention_masked, D),
    "polynomial fit": (polyfit, polyfit_masked, 2),
}

VMLIR, BUCKETS, HAND, LOOP, MAP = (
    "vmlir ragged", "vmlir buckets", "pad+mask jax.vmap", "per-example jit loop", "lax.map padded"
)


def _examples(rng, lengths, width: int) -> list[np.ndarray]:
    if width == 2:  # points of a noisy cubic on [-1, 1]
        out = []
        for n in lengths:
            t = rng.uniform(-1, 1, size=int(n))
            y = 0.5 - t + 2 * t**3 + 0.05 * rng.normal(size=int(n))
            out.append(np.stack([t, y], axis=1).astype(np.float32))
        return out
    return [rng.normal(size=(int(n), width)).astype(np.float32) for n in lengths]


def run(batch: int, rounds: int, seed: int = 0, only: set[str] | None = None) -> list[dict]:
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(3.0, 0.7, size=batch).astype(int), 2, 400)
    w = jnp.asarray(rng.normal(size=(D, D)).astype(np.float32) / np.sqrt(D))
    rows = []
    for name, (fn, masked, width) in WORKLOADS.items():
        if only and name not in only:
            continue
        xs = _examples(rng, lengths, width)
        stored = vmlir.Ragged.from_list(xs)
        values, lens = jnp.asarray(stored.values), jnp.asarray(stored.lengths)
        padded = vmlir.Ragged(values, lens)
        on_device = [jnp.asarray(x) for x in xs]
        ours = vmlir.vmap(fn, ragged=(0, None), in_axes=(0, None), max_buckets=MAX_BUCKETS)
        bucketed = vmlir.vmap(fn, ragged=(0, None), in_axes=(0, None), max_buckets=MAX_BUCKETS, layout="buckets")
        hand = jax.jit(jax.vmap(masked, in_axes=(0, 0, None)))
        mapped = jax.jit(lambda v, n, w, masked=masked: lax.map(lambda a: masked(a[0], a[1], w), (v, n)))
        one = jax.jit(fn)
        contenders = {
            VMLIR: lambda: ours(padded, w),
            BUCKETS: lambda: bucketed(padded, w),
            HAND: lambda: hand(values, lens, w),
            LOOP: lambda: [one(x, w) for x in on_device],
            MAP: lambda: mapped(values, lens, w),
        }
        first, first_s = {}, {}
        for k, f in contenders.items():  # the first call compiles (the loop: per length)
            t0 = time.perf_counter()
            first[k] = jax.block_until_ready(f())
            first_s[k] = time.perf_counter() - t0
        ref = np.stack([np.asarray(r) for r in first[LOOP]])
        scale = max(1.0, float(np.abs(ref).max()))
        errors = {k: float(np.abs(np.asarray(v) - ref).max()) / scale for k, v in first.items()}
        times: dict[str, list[float]] = {k: [] for k in contenders}
        order = list(contenders)
        for r in range(rounds):
            for k in order if r % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                jax.block_until_ready(contenders[k]())
                times[k].append(time.perf_counter() - t0)
        # the rows each vmlir call computes along the ragged axis (packed rows, or each
        # example's padded bucket size), over the true rows
        work, work_b = ours.work(padded, w), bucketed.work(padded, w)
        # the least padded work any MAX_BUCKETS buckets of consecutive lengths give
        least = vmlir.ragged.choose_buckets(lengths, MAX_BUCKETS)
        least_work = int(np.asarray(least)[np.searchsorted(least, lengths)].sum())
        rows.append(
            {
                "workload": name,
                "median_s": {k: statistics.median(v) for k, v in times.items()},
                "first_call_s": first_s,
                "rel_err_vs_loop": errors,
                "layout": work["layout"],
                "padded_work_over_true": work["rows"] / work["true_rows"],
                "bucket_padded_work_over_true": work_b["rows"] / work_b["true_rows"],
                "least_padded_work_over_true": least_work / int(lengths.sum()),
                "hand_padded_work_over_true": int(lengths.max()) * batch / int(lengths.sum()),
                "buckets": work_b["buckets"],
                "distinct_lengths": len(set(lengths.tolist())),
                "batch": batch,
            }
        )
    return rows


def render(rows: list[dict], rounds: int) -> str:
    if not rows:
        return ""
    r0 = rows[0]
    out = [
        "## Ragged vmap (examples of different lengths)",
        "",
        f"{r0['batch']} examples, lengths log-normal(3.0, 0.7) clipped to [2, 400] "
        f"({r0['distinct_lengths']} distinct lengths); median of {rounds} alternating rounds, "
        "shared CPU (noisy). `x (y)`: steady time (first call, compiles included). Ratios: "
        "the contender's time over vmlir ragged's (> 1: vmlir is faster); against the "
        "per-example loop, its first call (one compile per distinct length) over vmlir's "
        "first call. vmlir ragged runs packed (layout flat: every example's rows in one "
        "array) where the ragged axis is only mapped and reduced, in buckets otherwise; "
        "vmlir buckets forces the buckets. Padded work: rows computed along the ragged axis "
        "over the true rows, for vmlir ragged [its layout], vmlir buckets (padded rows plus "
        "`vmlir.ragged.PROGRAM_ROWS_PER_OP` x the program's ops per program, minimized, "
        f"at most {MAX_BUCKETS} buckets; "
        "its sizes in the buckets column), the least "
        f"any {MAX_BUCKETS} buckets of consecutive lengths give, and the hand-written code's. "
        "Error: max |result - per-example loop| / max(1, max |loop|) over every contender.",
        "",
        f"| workload | {VMLIR} | {BUCKETS} | {HAND} | {MAP} | {LOOP} | hand / vmlir | buckets / vmlir | map / vmlir | "
        f"loop (compiles) / vmlir | padded work / true: vmlir [layout] (buckets; least with {MAX_BUCKETS}; hand) | "
        "buckets | max error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        med, first = r["median_s"], r["first_call_s"]

        def cell(k: str) -> str:
            return f"{med[k] * 1e3:.2f} ms ({first[k]:.2f} s)"

        out.append(
            f"| {r['workload']} | {cell(VMLIR)} | {cell(BUCKETS)} | {cell(HAND)} | {cell(MAP)} | {cell(LOOP)} | "
            f"{med[HAND] / med[VMLIR]:.2f}x | {med[BUCKETS] / med[VMLIR]:.2f}x | {med[MAP] / med[VMLIR]:.2f}x | "
            f"{first[LOOP] / first[VMLIR]:.1f}x (steady {med[LOOP] / med[VMLIR]:.1f}x) | "
            f"{r['padded_work_over_true']:.3f} [{r['layout']}] ({r['bucket_padded_work_over_true']:.2f}; "
            f"{r['least_padded_work_over_true']:.2f}; {r['hand_padded_work_over_true']:.2f}) | "
            f"{len(r['buckets'])}: {r['buckets']} | {max(r['rel_err_vs_loop'].values()):.1e} |"
        )
    return "\n".join(out) + "\n"


def section(args: argparse.Namespace) -> str:
    """The ragged section of `make bench` (markdown)."""
    rounds = max(3, min(int(getattr(args, "rounds", 7)), 11))
    batch = max(64, int(512 * float(getattr(args, "scale", 1.0))))
    return render(run(batch, rounds), rounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", help="comma-separated workload names")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    print(render(run(args.batch, args.rounds, only=only), args.rounds))


if __name__ == "__main__":
    main()
