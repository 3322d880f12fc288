"""The seed programs vmlir grew from (vmap basics, vmap performance, kernel matrices).

Each entry: the per-example function, how to vmap it, and a maker of random inputs.
The demo, the tests and the benchmarks all use these same definitions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def sum_of_squares(vector):
    return jnp.sum(vector**2)


def predict(params, input_vector):
    w, b = params
    return jnp.tanh(jnp.dot(w, input_vector) + b)


def dist(x, y):
    return jnp.sqrt(jnp.dot(x, x) - 2.0 * jnp.dot(x, y) + jnp.dot(y, y))


def rbf(gamma, x, y):
    return jnp.exp(-gamma * jnp.sum((x - y) ** 2))


def kernel(x, y):
    return jnp.exp(-jnp.sum((x - y) ** 2))


def loss(w, x, y):
    return jnp.mean((jnp.tanh(w @ x) - y) ** 2)


@dataclass(frozen=True)
class Seed:
    name: str
    per_example: Callable[..., Any]
    batch: Callable[[Callable[..., Any]], Callable[..., Any]]
    """Applies a vmap implementation (vmlir.vmap or jax.vmap) the way this seed needs."""
    inputs: Callable[..., tuple[Any, ...]]
    """inputs(rng, n, d): random inputs for batch size n and feature size d."""
    nested: bool = False
    """Two nested maps (over pairs of examples) rather than one."""


def escape_time(c):
    """Escape-time (Mandelbrot) count of the point c = (re, im), at most 64 iterations: a
    divergent while loop, the sharding tests' and benchmark's workload."""

    def cond(s):
        a, b, i = s
        return (a * a + b * b < 4.0) & (i < 64)

    def body(s):
        a, b, i = s
        return a * a - b * b + c[0], 2 * a * b + c[1], i + 1

    return jax.lax.while_loop(cond, body, (0.0, 0.0, 0))[2]


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


SEEDS: list[Seed] = [
    Seed(
        "sum_of_squares",
        sum_of_squares,
        lambda vmap: vmap(sum_of_squares),
        lambda rng, n, d=3: (_f32(rng, n, d),),
    ),
    Seed(
        "predict",
        predict,
        lambda vmap: vmap(predict, in_axes=(None, 0)),
        lambda rng, n, d=3: ((_f32(rng, 5, d), _f32(rng, 5)), _f32(rng, n, d)),
    ),
    Seed(
        "pairwise_distances",
        dist,
        lambda vmap: vmap(vmap(dist, in_axes=(None, 0)), in_axes=(0, None)),
        # x·x - 2x·y + y·y cancels badly near 0; keep points apart so sqrt is stable.
        lambda rng, n, d=4: (_f32(rng, n, d) * 3.0, _f32(rng, n + 1, d) * 3.0 + 10.0),
        nested=True,
    ),
    Seed(
        "rbf_gram",
        rbf,
        lambda vmap: vmap(vmap(rbf, in_axes=(None, None, 0)), in_axes=(None, 0, None)),
        lambda rng, n, d=4: (np.float32(0.1), _f32(rng, n, d), _f32(rng, n + 2, d)),
        nested=True,
    ),
    Seed(
        "covariance_matrix",
        kernel,
        lambda vmap: vmap(
            lambda x, y: vmap(kernel, in_axes=(0, None), out_axes=0)(x, y),
            in_axes=(None, 0),
            out_axes=1,
        ),
        lambda rng, n, d=4: (_f32(rng, n, d), _f32(rng, n + 3, d)),
        nested=True,
    ),
    Seed(
        "per_example_grads",
        jax.grad(loss),
        lambda vmap: vmap(jax.grad(loss), in_axes=(None, 0, 0)),
        lambda rng, n, d=3: (_f32(rng, 2, d), _f32(rng, n, d), _f32(rng, n, 2)),
    ),
]


def skew_orders(cost: np.ndarray, shards: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Orders of a batch (permutations of its examples) that load `shards` devices
    unevenly, from each example's cost (its loop's iteration count):

    - "sorted": by cost, so the slowest examples share the last shard;
    - "slow first": the slowest 1/shards of the examples first (all on the first shard);
    - "random": a random permutation;
    - "slow every k-th": the slowest 1/shards at positions 0, k, 2k, ... (k = shards),
      the layout a round-robin deal puts on one device."""
    n = len(cost)
    rng = np.random.default_rng(seed)
    by_cost = np.lexsort((rng.random(n), cost))  # ties in random order
    slow, fast = by_cost[n - n // shards :], by_cost[: n - n // shards]
    slow_set = np.zeros(n, bool)
    slow_set[slow] = True
    every = np.empty(n, np.int64)
    every[::shards] = np.flatnonzero(slow_set)[: len(every[::shards])]
    rest = np.ones(n, bool)
    rest[::shards] = False
    every[rest] = np.flatnonzero(~slow_set)
    return {
        "sorted": by_cost,
        "slow first": np.concatenate([np.flatnonzero(slow_set), np.flatnonzero(~slow_set)]),
        "random": rng.permutation(n),
        "slow every k-th": every,
    }
