"""Divergence strategies for varying while loops (mask, compact, refill, sequential),
forced by the pass option, against jax.vmap on the same inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from difftest import assert_same
from vmlir.errors import VmlirError
from vmlir.passes.rules import strategy
from vmlir.passes.rules.occupancy import tail_widths
from vmlir.passes.vectorize import VectorizeOptions

PIPELINE = "batch-propagate-axes,batch-mask-control-flow,batch-vectorize{%s},batch-fuse,batch-lower"
FORCED = {
    "mask": "strategy=mask",
    "compact": "strategy=compact min_bucket=8",
    "refill": "strategy=refill lanes=37 tail_copy=0",  # every tail loop built
    "sequential": "strategy=sequential",
}


def _heavy_tailed(n, scale, w):
    """A trip count from a per-example integer, a rank-1 carry and a batched capture."""

    def body(s):
        i, v, acc = s
        return i + 1, v * 0.99 + w[0], acc + v * w

    return lax.while_loop(lambda s: s[0] < n * scale, body, (jnp.int32(0), jnp.float32(1.0), jnp.zeros(3)))


def _inputs(size, seed=0, idle=0.0):
    rng = np.random.default_rng(seed)
    n = np.minimum(rng.pareto(1.2, size) * 3, 200).astype(np.int32)
    n[rng.random(size) < idle] = 0
    return n, np.int32(2), rng.normal(size=(size, 3)).astype(np.float32)


def _run(fn, options, args, in_axes=0):
    compiled = vmlir.compile(vmlir.vmap(fn, in_axes=in_axes), pipeline=PIPELINE % options)
    return compiled, compiled(*args)


@pytest.mark.parametrize("name", list(FORCED))
def test_forced_strategy_matches_jax(name):
    """Every strategy gives jax.vmap's results on heavy-tailed trip counts (a uniform
    scale, a rank-1 carry, a batched capture read inside the body)."""
    args = _inputs(300)
    in_axes = (0, None, 0)
    want = jax.vmap(_heavy_tailed, in_axes=in_axes)(*args)
    compiled, got = _run(_heavy_tailed, FORCED[name], args, in_axes)
    assert_same(got, want, rtol=1e-5)
    text = compiled.lower(*args).as_text("batch-vectorize")
    assert f'batch.strategy = "{name}"' in text


@pytest.mark.parametrize("idle", [0.0, 0.9, 1.0])
def test_refill_with_few_or_no_examples_to_run(idle):
    """Refill when most or all examples have no iteration to run (fewer queued examples
    than lanes, or none), and when all have."""
    args = _inputs(200, seed=3, idle=idle)
    want = jax.vmap(_heavy_tailed, in_axes=(0, None, 0))(*args)
    _, got = _run(_heavy_tailed, "strategy=refill lanes=64", args, (0, None, 0))
    assert_same(got, want, rtol=1e-5)


def test_refill_of_nested_loops_under_a_varying_branch():
    """A varying while in a varying while, under a varying cond: the inner loop runs on
    the outer loop's refill lanes and picks its own strategy there (nested compaction:
    test_control_flow.py)."""

    def f(n, x):
        def outer(state):
            i, total = state
            _, acc = lax.while_loop(
                lambda s: s[0] < (n + i) % 5, lambda s: (s[0] + 1, s[1] + x * s[0]), (jnp.int32(0), jnp.float32(0))
            )
            return i + 1, total + acc

        looped = lambda v: lax.while_loop(lambda s: s[0] < n % 7, outer, (jnp.int32(0), v))[1]  # noqa: E731
        return lax.cond(x > 0, looped, lambda v: v * 2.0, x)

    rng = np.random.default_rng(11)
    args = (rng.integers(0, 40, 160).astype(np.int32), rng.normal(size=160).astype(np.float32))
    _, got = _run(f, "strategy=refill lanes=16", args)
    assert_same(got, jax.vmap(f)(*args), rtol=1e-5)


def test_refill_of_a_loop_with_a_matrix_carry():
    """Refill selects and gathers whole rows of a rank-2 per-example carry."""

    def f(m, k):
        return lax.while_loop(lambda s: s[0] < k, lambda s: (s[0] + 1, s[1] @ m * 0.5 + 1.0), (jnp.int32(0), m))[1]

    rng = np.random.default_rng(5)
    args = (rng.normal(size=(90, 3, 3)).astype(np.float32), rng.integers(0, 30, 90).astype(np.int32))
    _, got = _run(f, "strategy=refill lanes=8", args)
    assert_same(got, jax.vmap(f)(*args), rtol=1e-4)


def test_auto_choice_follows_the_batch_size():
    """Without a loop to price (strategy.auto with no op): compact, refill from
    refill_min on; compact_lanes=false means mask. (With a loop, the cost model
    decides: tests/unit/test_lanes.py.)"""
    o = VectorizeOptions()
    assert strategy.auto(o, 1 << 20) == "refill"
    assert strategy.auto(o, 100_000) == "compact"
    assert strategy.auto(VectorizeOptions(compact_lanes=False), 100_000) == "mask"
    shrink = strategy.shrink(o, 100_000)
    assert 100_000 // shrink // shrink >= o.min_bucket > 100_000 // shrink // shrink // shrink


def test_unknown_strategy_is_refused():
    """A misspelt strategy name is an error naming the choices."""
    with pytest.raises(VmlirError, match="unknown divergence strategy 'masked'; expected one of auto, mask"):
        _run(_heavy_tailed, "strategy=masked", _inputs(8), (0, None, 0))


def test_refill_when_every_example_starts_alike():
    """The loop's predicate holds for every example at the start (it reads only uniform
    initial values): the queue is every example, no prefix sum; results as jax.vmap's."""

    def f(x):
        step = lambda s: (s[0] + jnp.abs(x) + 0.01, s[1] + 1)  # noqa: E731
        return lax.while_loop(lambda s: (s[0] < 5.0) & (s[1] < 300), step, (jnp.float32(0), jnp.int32(0)))

    x = np.random.default_rng(0).normal(size=300).astype(np.float32)
    compiled, got = _run(f, "strategy=refill lanes=32 tail_copy=0", (x,))
    assert_same(got, jax.vmap(f)(x))
    # A prefix sum for the free lanes (in the loop) and one per tail loop's gather
    # (16 and 4 lanes: more than 1/8 of the lanes, so no top_k, compaction.select_lanes),
    # none for the queue. Over at most 32 lanes each is one product with a triangular
    # matrix (compaction.prefix_sum).
    text = compiled.lower(x).as_text("batch-vectorize", generic=True)
    assert text.count('"stablehlo.dot_general"') == 1 + len(tail_widths(32)) == 3
    assert "top_k" not in text


def test_refill_builds_the_tail_loops_that_pay_for_their_compile():
    """With a profile, refill builds only the tail loops whose saved lane-iterations pay
    for one more copy of the body (costmodel.refill_tails): on 300 examples and 37 lanes,
    none; without one, every candidate. The results are jax.vmap's either way."""
    args = _inputs(300, seed=5)
    in_axes = (0, None, 0)
    want = jax.vmap(_heavy_tailed, in_axes=in_axes)(*args)
    every = 1 + len(tail_widths(37))
    for profile, loops in ((True, 1), (False, every)):
        compiled = vmlir.compile(
            vmlir.vmap(_heavy_tailed, in_axes=in_axes), pipeline=PIPELINE % "strategy=refill lanes=37", profile=profile
        )
        assert_same(compiled(*args), want, rtol=1e-5)
        text = compiled.lower(*args).as_text("batch-vectorize", generic=True)
        assert text.count('"stablehlo.while"') == loops, profile


def test_negative_tail_copy_is_refused():
    with pytest.raises(VmlirError) as err:
        _run(_heavy_tailed, "strategy=refill tail_copy=-2", _inputs(8), (0, None, 0))
    assert str(err.value) == "batch-vectorize needs tail_copy >= 0 (or -1: the cost model's), got -2"
