"""Ragged fuzzing: random per-example programs over a ragged (n, D) input.

    python -m tests.fuzz.ragged --n 200 --seed 0 [--only I | --start I]

Program i is a chain of steps drawn by `random.Random(f"{seed}:{i}")` from ops the
batch-ragged pass covers (elementwise, x @ W, reductions, softmax, logsumexp, var,
x.T @ x, attention, x.shape[0] as a value, cumulative ops, reverse, sort / argsort /
top_k, x[-1] / x[0] / x[-2:], scans and fori loops over the rows, convolutions). Each runs as vmlir.vmap(fn, ragged=0) with
up to 3 buckets, and must (1) equal a Python loop calling fn on every example at its
true shape (rtol = atol = 1e-4), (2) give bit-identical outputs when the padding holds
NaN instead of zeros. Outcomes: ok, mismatch (either property fails), unsupported
(VmlirUnsupportedError: the generator should avoid these), crash (anything else). The
last line is `programs: N, mismatches: M, crashes: C, unsupported: U`; exit code 1 when
M or C is nonzero.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import vmlir
import vmlir.ragged
from vmlir.errors import VmlirUnsupportedError

D = 4

# step name -> (input kind, output kind, fn(value, w, n) with n = x.shape[0] of the input)
RAGGED_TO_RAGGED = {
    "tanh": lambda x, w: jnp.tanh(x),
    "gauss": lambda x, w: jnp.exp(-x * x),
    "scale": lambda x, w: 0.5 * x + 0.25,
    "matmul": lambda x, w: x @ w,
    "softmax0": lambda x, w: jax.nn.softmax(x, axis=0),
    "softmax1": lambda x, w: jax.nn.softmax(x, axis=1),
    "center": lambda x, w: x - jnp.mean(x, axis=0),
    "normalize": lambda x, w: x / (jnp.linalg.norm(x, axis=0) + 1.0),
    "attend": lambda x, w: x * jax.nn.softmax(x @ jnp.mean(x, axis=0)).reshape(-1, 1),
    "cumsum": lambda x, w: jnp.cumsum(x, axis=0),
    "cummax": lambda x, w: lax.cummax(x, axis=0),
    "rcumsum": lambda x, w: lax.cumsum(x, axis=0, reverse=True) / x.shape[0],
    "reverse": lambda x, w: x[::-1],
    "sort": lambda x, w: jnp.sort(x, axis=0),
    "argsort": lambda x, w: x + 0.1 * jnp.argsort(x, axis=0).astype(jnp.float32),
    "rnn": lambda x, w: lax.scan(lambda h, r: (jnp.tanh(h @ w + r),) * 2, jnp.zeros(D), x)[1],
    "conv": lambda x, w: lax.conv_general_dilated(x.T[None], jnp.stack([w, -w, w], axis=2), (1,), "SAME")[0].T,
}
RAGGED_TO_FIXED = {
    "sum": lambda x, w: jnp.sum(x, axis=0),
    "mean": lambda x, w: jnp.mean(x, axis=0),
    "max": lambda x, w: jnp.max(x, axis=0),
    "min": lambda x, w: jnp.min(x, axis=0),
    "var": lambda x, w: jnp.var(x, axis=0),
    "logsumexp": lambda x, w: jax.nn.logsumexp(x, axis=0),
    "gram": lambda x, w: jnp.mean(x.T @ x, axis=1) / x.shape[0],
    "pool_attention": lambda x, w: jax.nn.softmax(x @ w[0]) @ x,
    "argmax": lambda x, w: jnp.argmax(x, axis=0).astype(jnp.float32),
    "length": lambda x, w: jnp.full((D,), x.shape[0] - 1, jnp.float32) + jnp.mean(x),
    "last": lambda x, w: x[-1],
    "first": lambda x, w: x[0],
    "tail2": lambda x, w: jnp.sum(x[-2:], axis=0),
    "top2": lambda x, w: jnp.sum(lax.top_k(x.T, 2)[0], axis=1),
    "final_state": lambda x, w: lax.scan(lambda h, r: (jnp.tanh(h @ w + r), None), jnp.zeros(D), x)[0],
    "fori": lambda x, w: lax.fori_loop(0, x.shape[0], lambda i, c: c + x[i] * i, jnp.zeros(D)),
}
NEEDS_THREE_ROWS = {"tail2", "top2", "conv"}
"""Steps that take a fixed number of rows (the API refuses shorter examples)."""


@dataclass(frozen=True)
class Program:
    steps: tuple[str, ...]
    outputs: str  # "fixed", "ragged" or "both"

    def fn(self, x, w):
        fixed = jnp.zeros(D)
        for s in self.steps:
            if s in RAGGED_TO_RAGGED:
                x = RAGGED_TO_RAGGED[s](x, w)
            else:
                fixed = fixed + RAGGED_TO_FIXED[s](x, w)
        if self.outputs == "fixed":
            return fixed
        if self.outputs == "ragged":
            return x
        return fixed, x + fixed


def generate(key: str) -> Program:
    rng = random.Random(key)
    names = [*RAGGED_TO_RAGGED, *RAGGED_TO_FIXED]
    steps = tuple(rng.choice(names) for _ in range(rng.randint(2, 5)))
    if not any(s in RAGGED_TO_FIXED for s in steps):
        steps += (rng.choice(list(RAGGED_TO_FIXED)),)
    return Program(steps, rng.choice(["fixed", "ragged", "both"]))


def _inputs(seed: int, i: int, shortest: int = 1):
    rng = np.random.default_rng([seed, i])
    lengths = np.clip(rng.lognormal(1.5, 0.8, size=8).astype(int), shortest, 30)
    xs = [rng.normal(size=(int(n), D)).astype(np.float32) for n in lengths]
    w = (rng.normal(size=(D, D)) / 2).astype(np.float32)
    return xs, w


def _leaves(out):
    return jax.tree_util.tree_leaves(out, is_leaf=lambda v: isinstance(v, list))


def check(program: Program, seed: int, i: int) -> tuple[str, str]:
    """(outcome, detail) for one program."""
    # Free compiles: up to 3 buckets even for these short examples (one program would
    # be cheaper, and would leave the bucketing untested).
    kept, vmlir.ragged.PROGRAM_ROWS = vmlir.ragged.PROGRAM_ROWS, 0
    try:
        return _check(program, seed, i)
    finally:
        vmlir.ragged.PROGRAM_ROWS = kept


def _check(program: Program, seed: int, i: int) -> tuple[str, str]:
    xs, w = _inputs(seed, i, 3 if NEEDS_THREE_ROWS & set(program.steps) else 1)
    try:
        f = vmlir.vmap(program.fn, ragged=(0, None), in_axes=(0, None), max_buckets=3)
        zero = vmlir.Ragged.from_list(xs, padded_size=max(len(x) for x in xs) + 2)
        got = f(zero, w)
        values = np.array(zero.values)
        pos = np.arange(values.shape[1])[None, :, None]
        nan = vmlir.Ragged(np.where(pos < zero.lengths[:, None, None], values, np.nan), zero.lengths)
        got_nan = f(nan, w)
    except VmlirUnsupportedError as e:
        return "unsupported", str(e)
    except Exception as e:  # noqa: BLE001 - a fuzzer reports every failure
        return "crash", f"{type(e).__name__}: {e}"
    ref = [program.fn(jnp.asarray(x), w) for x in xs]
    for k, (a, b) in enumerate(zip(_leaves(got), _leaves(got_nan))):
        for e, (u, v) in enumerate(zip(a, b) if isinstance(a, list) else [(a, b)]):
            if not np.array_equal(np.asarray(u), np.asarray(v), equal_nan=True):
                return "mismatch", f"output {k} (example {e}) changes when the padding is NaN"
    for k, leaf in enumerate(_leaves(got)):
        for e, r in enumerate(ref):
            expected = np.asarray(jax.tree_util.tree_leaves(r)[k])
            if not np.allclose(np.asarray(leaf[e]), expected, rtol=1e-4, atol=1e-4, equal_nan=True):
                return "mismatch", f"output {k}, example {e}: {np.asarray(leaf[e])} != loop {expected}"
    return "ok", ""


def run(n: int, seed: int, start: int = 0, verbose: bool = False) -> Counter:
    counts: Counter = Counter()
    for i in range(start, start + n):
        program = generate(f"{seed}:{i}")
        outcome, detail = check(program, seed, i)
        counts[outcome] += 1
        if outcome != "ok" or verbose:
            print(f"program {i} {program}: {outcome} {detail}")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", type=int)
    ap.add_argument("--start", type=int, default=0, help="the first program's index")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    start, n = (args.only, 1) if args.only is not None else (args.start, args.n)
    c = run(n, args.seed, start, args.verbose)
    print(
        f"programs: {sum(c.values())}, mismatches: {c['mismatch']}, crashes: {c['crash']}, "
        f"unsupported: {c['unsupported']}"
    )
    sys.exit(1 if c["mismatch"] or c["crash"] else 0)


if __name__ == "__main__":
    main()
