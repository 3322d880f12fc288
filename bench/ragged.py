"""Ragged workloads: `python -m bench.ragged [--rounds N] [--batch B]`.

Lengths are drawn from a log-normal distribution (long tail). Every contender starts from
the same padded storage (a vmlir.Ragged) and returns one result per example:
- vmlir ragged (`max_buckets=4`);
- pad + mask by hand + jax.jit(jax.vmap) at the longest length (what a careful user writes);
- a Python loop of jax.jit(fn) per example at its true shape (one compile per distinct
  length, counted: the first call includes them);
- lax.map of the masked function over the padded data.
Prints one table; timings on a shared CPU are noisy, rounds alternate between contenders.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import vmlir

D = 32


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


WORKLOADS = {"pooled_mlp": (pooled_mlp, pooled_mlp_masked), "attention": (attention, attention_masked)}


def _time(fn, rounds_out: list[float]) -> None:
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    rounds_out.append(time.perf_counter() - t0)


def run(batch: int, rounds: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(3.0, 0.7, size=batch).astype(int), 1, 400)
    xs = [rng.normal(size=(int(n), D)).astype(np.float32) for n in lengths]
    w = rng.normal(size=(D, D)).astype(np.float32) / np.sqrt(D)
    stored = vmlir.Ragged.from_list(xs)
    values, lens = jnp.asarray(stored.values), jnp.asarray(stored.lengths)
    padded = vmlir.Ragged(values, lens)  # on the device, as the others' inputs are
    rows = []
    for name, (fn, masked) in WORKLOADS.items():
        ours = vmlir.vmap(fn, ragged=(0, None), in_axes=(0, None), max_buckets=4)
        hand = jax.jit(jax.vmap(masked, in_axes=(0, 0, None)))
        mapped = jax.jit(lambda v, n, w, masked=masked: jax.lax.map(lambda a: masked(a[0], a[1], w), (v, n)))
        one = jax.jit(fn)
        contenders = {
            "vmlir ragged": lambda: ours(padded, w),
            "pad+mask jax.vmap": lambda: hand(values, lens, w),
            "lax.map": lambda: mapped(values, lens, w),
            "per-example jit loop": lambda: [one(x, w) for x in xs],
        }
        first, first_s = {}, {}
        for k, f in contenders.items():  # the first call compiles (the loop: per length)
            t0 = time.perf_counter()
            first[k] = jax.block_until_ready(f())
            first_s[k] = time.perf_counter() - t0
        ref = np.stack([np.asarray(r) for r in first["per-example jit loop"]])
        errors = {k: float(np.abs(np.asarray(v) - ref).max()) for k, v in first.items() if k != "per-example jit loop"}
        times: dict[str, list[float]] = {k: [] for k in contenders}
        order = list(contenders)
        for r in range(rounds):
            for k in order if r % 2 == 0 else order[::-1]:
                _time(contenders[k], times[k])
        med = {k: statistics.median(v) for k, v in times.items()}
        sizes = vmlir.ragged.choose_buckets(lengths, 4)
        work = int(np.asarray(sizes)[np.searchsorted(sizes, lengths)].sum())
        rows.append(
            {
                "workload": name,
                "median_s": med,
                "max_abs_err_vs_loop": errors,
                "padded_work_over_true": work / int(lengths.sum()),
                "buckets": sizes,
                "distinct_lengths": len(set(lengths.tolist())),
                "first_call_s": first_s,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    for row in run(args.batch, args.rounds):
        med = row["median_s"]
        print(f"## {row['workload']}  (buckets {row['buckets']}, padded/true work "
              f"{row['padded_work_over_true']:.2f}, {row['distinct_lengths']} distinct lengths)")
        for k, t in med.items():
            print(f"  {k:22s} {t * 1e3:9.2f} ms   its time / vmlir ragged {t / med['vmlir ragged']:.2f}x"
                  f"   first call (compiles) {row['first_call_s'][k]:6.2f} s"
                  f"   max|err| vs loop {row['max_abs_err_vs_loop'].get(k, 0.0):.1e}")


if __name__ == "__main__":
    main()
