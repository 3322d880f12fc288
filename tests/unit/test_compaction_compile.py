"""The compacted loop nest stays small for XLA to compile (docs/passes.md, "Compile time
of the compacted nest"): a top_k of the flags picks the lanes (no prefix sum, no
scatter of indices, no gather of the flags), the levels' loops carry their active
count (no second reduction before the conditional), at most `max_levels` loops when the
factor is chosen from the batch size, one gather per value and no write-back of carries
the body passes along. Results against jax.vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import vmlir
from difftest import assert_same
from vmlir.compiler import default_pipeline
from vmlir.passes.rules import strategy
from vmlir.passes.vectorize import VectorizeOptions
from vmlir.passes.rules.occupancy import compact_widths


def _escape(cr, ci):
    """Escape time: c is captured by the body and carried unchanged by JAX's loop."""

    def body(s):
        zr, zi, i = s
        return zr * zr - zi * zi + cr, 2.0 * zr * zi + ci, i + 1

    def cond(s):
        zr, zi, i = s
        return (zr * zr + zi * zi <= 4.0) & (i < 64)

    zero = jnp.zeros((), cr.dtype)
    return lax.while_loop(cond, body, (zero, zero, jnp.int32(0)))[2]


def _points(n, seed=0):
    """Most points escape at once; 2% (at the origin) never do."""
    rng = np.random.default_rng(seed)
    cr = rng.uniform(2.5, 3.0, n).astype(np.float32)
    ci = np.zeros(n, np.float32)
    cr[rng.random(n) < 0.02] = 0.0
    return cr, ci


def test_default_nest_has_two_loops_and_picks_lanes_with_top_k():
    """10000 lanes: the default pipeline compacts once (one stablehlo.if, 10000 -> 1250
    lanes), picks the lanes with one top_k of the flags (no prefix sum: no dot_general,
    no reduce_window), and matches jax.vmap exactly. Both loops count their lanes in
    their bodies: two reductions in all, none before the conditional."""
    args = _points(10_000)
    compiled = vmlir.compile(vmlir.vmap(_escape))
    assert_same(compiled(*args), jax.vmap(_escape)(*args))
    text = compiled.lower(*args).as_text("stablehlo", generic=True)
    assert text.count('"stablehlo.if"') == 1
    assert text.count('"chlo.top_k"') == 1
    assert "reduce_window" not in text and "dot_general" not in text
    assert "tensor<1250xf32>" in text
    assert text.count('"stablehlo.reduce"') == 2


def test_a_bucket_of_more_than_an_eighth_of_the_lanes_uses_prefix_sums():
    """4100 lanes shrink 5-fold (820): a top_k picking a fifth of the lanes would cost
    more than the prefix sums (compaction.select_lanes), so those give the slots (a
    blocked product with a triangular matrix: 4100 lanes, 65 block totals, 2 padded
    to 64); results as jax.vmap's."""
    args = _points(4100)
    compiled = vmlir.compile(vmlir.vmap(_escape))
    assert_same(compiled(*args), jax.vmap(_escape)(*args))
    text = compiled.lower(*args).as_text("stablehlo", generic=True)
    assert "tensor<820xf32>" in text and "top_k" not in text
    assert text.count('"stablehlo.dot_general"') == 3


def test_carries_passed_along_are_gathered_once_and_not_written_back():
    """cr and ci are captured by the body and carried unchanged: one gather each (with
    zr, zi and i: 5; the flags come with the top_k). The function returns only i, so
    only i is scattered back; returning zr too scatters zr too."""
    args = _points(10_000)
    compiled = vmlir.compile(vmlir.vmap(_escape))
    text = compiled.lower(*args).as_text("batch-vectorize", generic=True)
    assert text.count('"stablehlo.gather"') == 5
    assert text.count('"stablehlo.scatter"') == 1

    def escape_z(cr, ci):
        def body(s):
            zr, zi, i = s
            return zr * zr - zi * zi + cr, 2.0 * zr * zi + ci, i + 1

        zero = jnp.zeros((), cr.dtype)
        zr, _, i = lax.while_loop(lambda s: (s[0] * s[0] + s[1] * s[1] <= 4.0) & (s[2] < 64), body, (zero, zero, jnp.int32(0)))
        return zr, i

    both = vmlir.compile(vmlir.vmap(escape_z))
    assert_same(both(*args), jax.vmap(escape_z)(*args))
    assert both.lower(*args).as_text("batch-vectorize", generic=True).count('"stablehlo.scatter"') == 2


def test_levels_follow_max_levels_when_shrink_is_chosen():
    """100k lanes: the factor is sqrt(100000 / 128) = 27 and the nest stops after 2 loops
    (100000 -> 3703, raised to strategy.LIBRARY_SUM = 4096 lanes); with max_levels=3 the
    factor is the cube root and there are 3; an explicit shrink keeps going down to
    min_bucket. occupancy.compact_widths agrees."""
    trips = np.concatenate([np.ones(90_000, np.int64), np.full(9000, 10), np.full(1000, 50)])
    o = VectorizeOptions()
    assert strategy.shrink(o, 100_000) == 27
    assert strategy.next_bucket(o, 100_000) == strategy.LIBRARY_SUM == 4096
    assert strategy.next_bucket(o, 50_000) == 50_000 // 19  # 4096 would shrink it < 16-fold
    assert sorted(set(compact_widths(trips, 100_000, o))) == [4096, 100_000]
    three = VectorizeOptions(max_levels=3)
    assert strategy.shrink(three, 100_000) == 9
    assert sorted(set(compact_widths(trips, 100_000, three))) == [1234, 11111, 100_000]
    explicit = VectorizeOptions(shrink=4, min_bucket=1000)
    assert strategy.last_level(explicit, 5) is False
    # 10000 active fit 25000 lanes; 1000 fit 6250 and 1562 at once: 6250 runs one
    # iteration (a counted level runs its body at least once).
    assert sorted(set(compact_widths(trips, 100_000, explicit))) == [1562, 6250, 25000, 100_000]


def test_max_levels_three_matches_jax():
    """A three-loop nest (max_levels=3) on 4100 lanes gives jax.vmap's counts."""
    args = _points(4100, seed=1)
    pipeline = default_pipeline().replace("batch-vectorize", "batch-vectorize{max_levels=3}")
    compiled = vmlir.compile(vmlir.vmap(_escape), pipeline=pipeline)
    assert_same(compiled(*args), jax.vmap(_escape)(*args))
    assert compiled.lower(*args).as_text("stablehlo", generic=True).count('"stablehlo.if"') == 2
