"""Derivatives through vmlir in `make bench`: jax.grad and a jitted training step.

The same MLP per-example loss (4096 examples), batched by `vmlir.compile(vmlir.vmap(...))`
and by `jax.vmap`, differentiated by JAX around it:

- grad: `jax.jit(jax.grad(lambda w: mean(batched(w, X, Y))))`, the gradient with respect
  to the weights (in_axes=None: their per-example cotangents are summed over the batch
  inside vmlir's program);
- train step: a jitted SGD step returning the loss and the new weights
  (`jax.value_and_grad`).

Rounds alternate the two contenders; the ratio is jax's time / vmlir's, per round, and
the median is reported. Results are checked against jax.vmap's, and XLA's optimized
programs are compared: the same program (or the same instructions in another order) means
a ratio away from 1 is the machine's noise.

    python -m bench.autodiff --rounds 11
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import vmlir
from bench.measure import normalized_hlo

BATCH, D_IN, HIDDEN, D_OUT = 4096, 64, 256, 10
LR = 0.1


def mlp_loss(w: dict[str, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    """Cross-entropy of a two-layer MLP on one example."""
    h = jnp.tanh(x @ w["W1"] + w["b1"])
    logits = h @ w["W2"] + w["b2"]
    return -jnp.sum(y * jax.nn.log_softmax(logits))


def _inputs(batch: int) -> tuple[dict[str, jax.Array], jax.Array, jax.Array]:
    rng = np.random.default_rng(0)
    w = {
        "W1": rng.normal(size=(D_IN, HIDDEN)) / np.sqrt(D_IN),
        "b1": np.zeros(HIDDEN),
        "W2": rng.normal(size=(HIDDEN, D_OUT)) / np.sqrt(HIDDEN),
        "b2": np.zeros(D_OUT),
    }
    x = rng.normal(size=(batch, D_IN))
    y = jax.nn.one_hot(rng.integers(0, D_OUT, batch), D_OUT)
    put = lambda a: jax.device_put(np.asarray(a, np.float32))  # noqa: E731
    return jax.tree.map(put, w), put(x), put(y)


def _programs(batched: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    def mean_loss(w, x, y):
        return jnp.mean(batched(w, x, y))

    @jax.jit
    def train_step(w, x, y):
        loss, g = jax.value_and_grad(mean_loss)(w, x, y)
        return loss, jax.tree.map(lambda p, d: p - LR * d, w, g)

    return {"grad": jax.jit(jax.grad(mean_loss)), "train step": train_step}


def _sample(fn: Callable[..., Any], args: tuple[Any, ...], min_time: float) -> float:
    reps, t = 0, 0.0
    t0 = time.perf_counter()
    while True:
        jax.block_until_ready(fn(*args))
        reps += 1
        t = time.perf_counter() - t0
        if t >= min_time:
            return t / reps


def bench_autodiff(
    rounds: int = 11, scale: float = 1.0, min_time: float = 0.05
) -> list[dict[str, Any]]:
    """One row per program: median times and the median per-round ratio jax/vmlir."""
    batch = max(8, int(BATCH * scale))
    args = _inputs(batch)
    ours = _programs(vmlir.compile(vmlir.vmap(mlp_loss, in_axes=(None, 0, 0))))
    theirs = _programs(jax.vmap(mlp_loss, in_axes=(None, 0, 0)))
    rows = []
    for name in ours:
        a, b = ours[name], theirs[name]
        got, want = jax.block_until_ready(a(*args)), jax.block_until_ready(b(*args))
        programs = [normalized_hlo(f.lower(*args).compile().as_text()) for f in (a, b)]
        same = all(
            np.allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-5)
            for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want))
        )
        t_ours, t_theirs, ratios = [], [], []
        for r in range(rounds):
            pair = [(a, t_ours), (b, t_theirs)]
            for fn, times in pair if r % 2 == 0 else pair[::-1]:
                times.append(_sample(fn, args, min_time))
            ratios.append(t_theirs[-1] / t_ours[-1])
        rows.append(
            {
                "name": f"{name}: MLP {D_IN}-{HIDDEN}-{D_OUT}, {batch} examples",
                "vmlir": statistics.median(t_ours),
                "jax": statistics.median(t_theirs),
                "ratio": statistics.median(ratios),
                "same": same,
                "program": _program_note(*programs),
            }
        )
    return rows


def _program_note(ours: str, theirs: str) -> str:
    """Whether XLA runs the same program for both: equal texts, or the same instructions
    (names aside) in another order: a schedule that runs the same work."""
    if ours == theirs:
        return "same as jax"
    unnamed = [sorted(re.sub(r"%v\d+", "%v", t).splitlines()) for t in (ours, theirs)]
    return "same instructions, other order" if unnamed[0] == unnamed[1] else "differs"


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "## Derivatives through vmlir (jax.grad of a mean per-example loss)",
        "",
        "Same per-example MLP loss, batched by vmlir or by jax.vmap, differentiated by JAX "
        "around it (bench/autodiff.py); ratio = jax / vmlir, median over alternating rounds. "
        "XLA program: whether XLA's optimized HLO is the same for both (bench.measure.normalized_hlo); "
        "where it is, a ratio away from 1 is the machine's noise.",
        "",
        "| program | vmlir | jax.vmap | jax/vmlir | XLA program | results |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['vmlir'] * 1e3:.2f} ms | {r['jax'] * 1e3:.2f} ms | "
            f"{r['ratio']:.2f}x | {r['program']} | {'same' if r['same'] else 'DIFFER'} |"
        )
    return "\n".join(lines) + "\n"


def section(args: argparse.Namespace) -> str:
    """The section of `make bench` (bench/sections.py)."""
    # The two programs are XLA's same work (the table says so), so the ratio measures
    # only the machine's noise: samples of a quarter second each keep it to about 1%,
    # where the tables' 50 ms samples left 5% on these 8-12 ms steps (8 s in all).
    min_time = max(args.min_time, 0.25)
    return render(bench_autodiff(rounds=max(1, args.rounds // 2), scale=args.scale, min_time=min_time))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.autodiff", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--min-time", type=float, default=0.05)
    a = p.parse_args(argv)
    rows = bench_autodiff(a.rounds, a.scale, a.min_time)
    print(render(rows))
    return 0 if all(r["same"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
