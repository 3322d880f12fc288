"""Ragged fuzzing: random per-example programs over a ragged (n, D) input.

    python -m tests.fuzz.ragged --n 200 --seed 0 [--only I | --start I]

Program i is a chain of steps drawn by `random.Random(f"{seed}:{i}")` from ops the
batch-ragged pass covers (elementwise, x @ W, reductions, softmax, logsumexp, var,
x.T @ x, attention, x.shape[0] as a value, cumulative ops, reverse, sort / argsort /
top_k, x[-1] / x[0] / x[-2:], scans and fori loops over the rows, convolutions). Half
the programs use only the steps that map and reduce the ragged axis (FLAT_STEPS): those
must run packed (layout "flat", docs/ragged.md); the others mostly run in buckets. Each
runs as vmlir.vmap(fn, ragged=0) with up to 3 buckets, and must (1) equal a Python loop
calling fn on every example at its true shape (rtol = atol = 1e-4), (2) give
bit-identical outputs when the storage's padding holds NaN instead of zeros, and (3) for
a packed program, outputs equal to 1e-6 when the packed rows past the last example hold
NaN (the program's own rows: XLA's CPU vector code may move a neighbour's last bits,
docs/ragged.md, "Packed execution"). Outcomes: ok, mismatch
(either property fails, or a FLAT_STEPS program that did not run packed), unsupported
(VmlirUnsupportedError: the generator should avoid these), crash (anything else). The
last line is `programs: N (packed: F), mismatches: M, crashes: C, unsupported: U`; exit
code 1 when M or C is nonzero. `--layout refill`: every program has a scan over the
rows (SCAN_STEPS) and runs with layout="refill" (scans on persistent lanes).
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
import vmlir.ragged_flat
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
    "masked_mean": lambda x, w: jnp.sum(jnp.where(x > 0, x, 0.0), axis=0) / jnp.maximum(jnp.sum(x > 0, axis=0), 1),
    "prod": lambda x, w: jnp.prod(1.0 + 0.05 * jnp.tanh(x), axis=0),
    "all_any": lambda x, w: jnp.all(x > -2, axis=0) + 0.5 * jnp.any(x > 1, axis=0),
    "moments": lambda x, w: jnp.std(x, axis=0) + jnp.mean(x * x) - jnp.min(x),
}
RAGGED_TO_RAGGED.update({
    "per_example_dot": lambda x, w: x * jnp.tanh(x @ (jnp.max(x, axis=0) @ w))[:, None],
    "standardize": lambda x, w: (x - jnp.mean(x, axis=0)) / (jnp.std(x, axis=0) + 1.0),
    "scale_by_length": lambda x, w: 0.1 * x * jnp.float32(x.shape[0] + 1) - jnp.sum(x) / x.shape[0],
})
FLAT_STEPS = (
    "tanh", "gauss", "scale", "matmul", "softmax0", "softmax1", "center", "normalize", "attend",
    "per_example_dot", "standardize", "scale_by_length",
    "sum", "mean", "max", "min", "var", "logsumexp", "gram", "pool_attention", "length",
    "masked_mean", "prod", "all_any", "moments",
)
"""Steps that only map and reduce the ragged axis: a chain of them runs packed."""
NEEDS_THREE_ROWS = {"tail2", "top2", "conv"}
"""Steps that take a fixed number of rows (the API refuses shorter examples)."""


@dataclass(frozen=True)
class Program:
    steps: tuple[str, ...]
    outputs: str  # "fixed", "ragged" or "both"
    flat: bool = False  # drawn from FLAT_STEPS only: must run packed

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
    flat = rng.random() < 0.5
    names = list(FLAT_STEPS) if flat else [*RAGGED_TO_RAGGED, *RAGGED_TO_FIXED]
    steps = tuple(rng.choice(names) for _ in range(rng.randint(2, 5)))
    if not any(s in RAGGED_TO_FIXED for s in steps):
        steps += (rng.choice([s for s in names if s in RAGGED_TO_FIXED]),)
    return Program(steps, rng.choice(["fixed", "ragged", "both"]), flat)


SCAN_STEPS = ("rnn", "final_state", "fori")
"""Scans over the ragged axis: with `--layout refill`, every program has one (or more)
and runs them on persistent lanes (vmlir/ragged_refill.py)."""


def generate_scan(key: str) -> Program:
    """A program of `generate`'s kind with at least one scan step (never a packed one)."""
    rng = random.Random(key + ":scan")
    program = generate(key)
    steps = list(program.steps)
    if not set(SCAN_STEPS) & set(steps):
        steps.insert(rng.randint(0, len(steps)), rng.choice(SCAN_STEPS))
    return Program(tuple(steps), program.outputs, False)


def _inputs(seed: int, i: int, shortest: int = 1):
    rng = np.random.default_rng([seed, i])
    lengths = np.clip(rng.lognormal(1.5, 0.8, size=8).astype(int), shortest, 30)
    xs = [rng.normal(size=(int(n), D)).astype(np.float32) for n in lengths]
    w = (rng.normal(size=(D, D)) / 2).astype(np.float32)
    return xs, w


def _leaves(out):
    return jax.tree_util.tree_leaves(out, is_leaf=lambda v: isinstance(v, list))


def check(program: Program, seed: int, i: int, layout: str = "auto") -> tuple[str, str]:
    """(outcome, detail) for one program."""
    # Free compiles: up to 3 buckets even for these short examples (one program would
    # be cheaper, and would leave the bucketing untested).
    kept, vmlir.ragged.PROGRAM_ROWS_PER_OP = vmlir.ragged.PROGRAM_ROWS_PER_OP, 0
    try:
        return _check(program, seed, i, layout)
    finally:
        vmlir.ragged.PROGRAM_ROWS_PER_OP = kept


def _check(program: Program, seed: int, i: int, forced: str = "auto") -> tuple[str, str]:
    xs, w = _inputs(seed, i, 3 if NEEDS_THREE_ROWS & set(program.steps) else 1)
    try:
        f = vmlir.vmap(program.fn, ragged=(0, None), in_axes=(0, None), max_buckets=3, layout=forced)
        zero = vmlir.Ragged.from_list(xs, padded_size=max(len(x) for x in xs) + 2)
        got = f(zero, w)
        layout = f.work(zero, w)["layout"]
        if program.flat and layout != "flat":
            return "mismatch", f"a chain of FLAT_STEPS ran in {layout}"
        if forced == "refill" and layout != "refill":
            return "mismatch", f"layout='refill' ran in {layout}"
        values = np.array(zero.values)
        pos = np.arange(values.shape[1])[None, :, None]
        nan = vmlir.Ragged(np.where(pos < zero.lengths[:, None, None], values, np.nan), zero.lengths)
        got_nan = f(nan, w)
        got_rows = None
        if layout == "flat":  # a fresh runner, whose packed rows past the examples hold NaN
            kept, vmlir.ragged_flat.PAD_ROWS_FILL = vmlir.ragged_flat.PAD_ROWS_FILL, np.nan
            try:
                f = vmlir.vmap(program.fn, ragged=(0, None), in_axes=(0, None), max_buckets=3)
                got_rows = f(zero, w)
            finally:
                vmlir.ragged_flat.PAD_ROWS_FILL = kept
    except VmlirUnsupportedError as e:
        return "unsupported", str(e)
    except Exception as e:  # noqa: BLE001 - a fuzzer reports every failure
        return "crash", f"{type(e).__name__}: {e}"
    ref = [program.fn(jnp.asarray(x), w) for x in xs]
    for k, (a, b) in enumerate(zip(_leaves(got), _leaves(got_nan))):
        for e, (u, v) in enumerate(zip(a, b) if isinstance(a, list) else [(a, b)]):
            if not np.array_equal(np.asarray(u), np.asarray(v), equal_nan=True):
                return "mismatch", f"output {k} (example {e}) changes when the padding is NaN"
    # The packed rows past the examples are the program's own (zeros outside this hook):
    # NaN there must not reach a result. Not bit for bit: XLA's CPU vector code takes
    # another path for a whole vector when one lane is special, which moves the last
    # bits of its neighbours (docs/ragged.md, "Packed execution").
    for k, (a, b) in enumerate(zip(_leaves(got), _leaves(got_rows)) if got_rows is not None else ()):
        for e, (u, v) in enumerate(zip(a, b) if isinstance(a, list) else [(a, b)]):
            if not np.allclose(np.asarray(u), np.asarray(v), rtol=1e-6, atol=1e-6, equal_nan=True):
                return "mismatch", f"output {k} (example {e}) changes when the packed rows past the examples are NaN"
    for k, leaf in enumerate(_leaves(got)):
        for e, r in enumerate(ref):
            expected = np.asarray(jax.tree_util.tree_leaves(r)[k])
            if not np.allclose(np.asarray(leaf[e]), expected, rtol=1e-4, atol=1e-4, equal_nan=True):
                return "mismatch", f"output {k}, example {e}: {np.asarray(leaf[e])} != loop {expected}"
    return "ok", ""


def run(n: int, seed: int, start: int = 0, verbose: bool = False, layout: str = "auto") -> Counter:
    """Outcome counts; "packed" counts the FLAT_STEPS programs (checked to run packed).
    layout="refill": programs with a scan, run on persistent lanes."""
    counts: Counter = Counter()
    for i in range(start, start + n):
        program = generate_scan(f"{seed}:{i}") if layout == "refill" else generate(f"{seed}:{i}")
        outcome, detail = check(program, seed, i, layout)
        counts[outcome] += 1
        counts["packed"] += program.flat and outcome == "ok"
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
    ap.add_argument("--layout", choices=("auto", "refill"), default="auto", help="refill: programs with a scan, on lanes")
    args = ap.parse_args()
    start, n = (args.only, 1) if args.only is not None else (args.start, args.n)
    c = run(n, args.seed, start, args.verbose, args.layout)
    print(
        f"programs: {sum(c.values()) - c['packed']} (packed: {c['packed']}), mismatches: {c['mismatch']}, crashes: {c['crash']}, "
        f"unsupported: {c['unsupported']}"
    )
    sys.exit(1 if c["mismatch"] or c["crash"] else 0)


if __name__ == "__main__":
    main()
