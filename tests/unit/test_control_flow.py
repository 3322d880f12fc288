"""lax control flow under vmlir.vmap, against jax.vmap on the same inputs."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from difftest import check

RNG = np.random.default_rng(42)
X = RNG.normal(size=(6, 3)).astype(np.float32)
P = np.array([1.0, -1.0, 2.0, -0.5, 0.0, 3.0], np.float32)


def _cond(p, x):
    return lax.cond(p > 0, lambda v: jnp.sin(v) * 2.0, lambda v: jnp.cos(v) - 1.0, x)


def test_cond_batched_predicate():
    """lax.cond whose predicate differs per example: both branches masked, merged by select."""
    check(_cond, (P, X))


def test_cond_unbatched_predicate():
    """lax.cond with a shared predicate: stays a branch, only the operand is batched."""
    check(_cond, (np.float32(1.0), X), in_axes=(None, 0))
    check(_cond, (np.float32(-1.0), X), in_axes=(None, 0))


def test_cond_uniform_predicate_is_a_branch_in_the_ir():
    """The final StableHLO of a cond with an unbatched predicate still has a case, no select."""
    lowered = vmlir.compile(vmlir.vmap(_cond, in_axes=(None, 0))).lower(np.float32(1.0), X)
    text = lowered.as_text(generic=True)
    assert '"stablehlo.case"' in text
    assert '"stablehlo.select"' not in text


def _switch(i, x):
    return lax.switch(i, [jnp.sin, jnp.cos, lambda v: v * v], x)


def test_switch_batched_and_unbatched_index():
    """lax.switch with a per-example index (incl. out-of-range, clamped by JAX) and a shared one."""
    idx = np.array([0, 1, 2, 5, -3, 1], np.int32)
    check(_switch, (idx, X))
    check(_switch, (np.int32(2), X), in_axes=(None, 0))


def _newton(a):
    def cond(c):
        x, _ = c
        return jnp.abs(x * x - a) > 1e-5 * a

    def body(c):
        x, n = c
        return (x + a / x) / 2.0, n + 1

    return lax.while_loop(cond, body, (a, 0))


def test_newton_sqrt_batched_while_with_counter():
    """Newton's sqrt: per-example iteration counts differ; values and counts match jax.vmap."""
    a = RNG.uniform(0.5, 1000.0, size=16).astype(np.float32)
    check(_newton, (a,))


def test_fori_loop_static_bounds():
    """fori_loop with static bounds (a scan-like while with a uniform counter)."""
    check(lambda x: lax.fori_loop(0, 5, lambda i, c: c * 0.5 + jnp.sin(c) + i, x), (X,))


def test_fori_loop_batched_bounds():
    """fori_loop whose upper bound is batched: a while with a varying predicate."""
    n = np.array([0, 1, 3, 2, 7, 4], np.int32)
    check(lambda k, x: lax.fori_loop(0, k, lambda i, c: c * 1.5 + i, x), (n, X))


def test_scan_batched_xs_uniform_carry_init():
    """scan over batched xs from a shared initial carry; the carry becomes batched."""
    xs = RNG.normal(size=(6, 5, 2)).astype(np.float32)

    def f(c0, xs):
        return lax.scan(lambda c, x: (c + x, c * x), c0, xs)

    check(f, (np.zeros(2, np.float32), xs), in_axes=(None, 0))


def _escape_time(c, max_iter=64):
    def cond(s):
        z, k = s
        return (k < max_iter) & (jnp.abs(z) <= 2.0)

    def body(s):
        z, k = s
        return z * z + c, k + 1

    return lax.while_loop(cond, body, (jnp.zeros_like(c), 0))[1]


def test_mandelbrot_escape_time():
    """Escape-time counts over a grid: identical integer counts to jax.vmap."""
    re, im = np.meshgrid(np.linspace(-2, 0.6, 12), np.linspace(-1.2, 1.2, 9))
    c = (re + 1j * im).astype(np.complex64).ravel()
    check(_escape_time, (c,))


def test_inactive_lanes_may_divide_by_zero():
    """A branch that divides by zero on the examples that do not take it: their results
    come from the other branch, untouched."""

    def f(x):
        return lax.cond(x != 0, lambda v: 1.0 / v, lambda v: v - 1.0, x)

    check(f, (np.array([0.0, 2.0, 0.0, -4.0], np.float32),))


def test_inactive_lanes_cannot_hang_a_loop():
    """A while inside a branch that would loop forever on the examples that do not take
    the branch (x <= 0 never reaches 100): the loop is masked by the branch's mask.

    jax.vmap itself hangs here (it runs the loop on every lane), so the reference is
    the function run on each example alone."""

    def f(x):
        def grow(v):
            return lax.while_loop(lambda u: u < 100.0, lambda u: u * 2.0, v)

        return lax.cond(x > 0, grow, lambda v: v, x)

    x = np.array([1.0, -1.0, 3.0, 0.0], np.float32)
    got = vmlir.compile(vmlir.vmap(f))(x)
    want = np.stack([jax.jit(f)(v) for v in x])
    np.testing.assert_array_equal(np.asarray(got), want)


def test_nested_cond_composes_masks():
    """A varying cond inside a varying cond: the inner branches run under combined masks."""

    def f(a, b, x):
        inner = lambda v: lax.cond(b > 0, lambda u: u * 3.0, lambda u: u - 3.0, v)  # noqa: E731
        return lax.cond(a > 0, inner, jnp.exp, x)

    a = np.array([1, 1, -1, -1, 1, -1], np.float32)
    b = np.array([1, -1, 1, -1, 1, 1], np.float32)
    check(f, (a, b, X))


def test_while_in_nested_vmap():
    """A varying while inside two vmlir.vmap levels: masked at both levels."""
    a = RNG.uniform(1.0, 500.0, size=(3, 4)).astype(np.float32)
    got = vmlir.compile(vmlir.vmap(vmlir.vmap(_newton)))(a)
    want = jax.vmap(jax.vmap(_newton))(a)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5)


def test_uniform_loop_carry_stays_unbatched():
    """A loop-invariant carry passed through a varying while is not batched in the IR."""

    def f(x, k):
        return lax.while_loop(lambda c: c[0] > 1.0, lambda c: (c[0] / c[1], c[1]), (x, k))[0]

    x = RNG.uniform(1.0, 100.0, size=5).astype(np.float32)
    check(f, (x, np.float32(2.0)), in_axes=(0, None))
    lowered = vmlir.compile(vmlir.vmap(f, in_axes=(0, None))).lower(x, np.float32(2.0))
    text = lowered.as_text(generic=True)
    # The while's result types: the batched value, the unbatched divisor and the carried
    # active flag (any order).
    results = re.findall(r"\}\) : \([^)]*\) -> \(([^)]*)\)", text)
    want = ["tensor<5xf32>", "tensor<5xi1>", "tensor<f32>"]
    assert any(sorted(r.split(", ")) == want for r in results), results


@pytest.mark.parametrize("seed", range(8))
def test_random_predicates(seed):
    """Random mixes of batched/unbatched predicates and operands through cond and while."""
    rng = np.random.default_rng(seed)
    p_batched, x_batched = rng.random() < 0.6, rng.random() < 0.7
    p = rng.normal(size=5).astype(np.float32) if p_batched else np.float32(rng.normal())
    x = rng.normal(size=(5, 2)).astype(np.float32) if x_batched else rng.normal(size=2).astype(np.float32)
    if not (p_batched or x_batched):
        x_batched, x = True, rng.normal(size=(5, 2)).astype(np.float32)
    in_axes = (0 if p_batched else None, 0 if x_batched else None)

    def f(p, x):
        y = lax.cond(p > 0.3, lambda v: v * p, lambda v: jnp.tanh(v) + p, x)
        return lax.while_loop(lambda c: jnp.sum(jnp.abs(c)) < 4.0 + p, lambda c: c * 1.7 + 0.1, y)

    check(f, (p, x), in_axes=in_axes)


def _escape_points(n: int, slow_fraction: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    far = rng.uniform(2.5, 4.0, n) * np.exp(1j * rng.uniform(0, 2 * np.pi, n))
    inside = rng.uniform(-0.3, 0.1, n) + 1j * rng.uniform(-0.3, 0.3, n)
    return np.where(rng.random(n) < slow_fraction, inside, far).astype(np.complex64)


def test_lane_compaction_gives_identical_counts():
    """512 points, 3% slow: the compacted loop (several while loops in the IR, active
    lanes gathered and scattered back) gives exactly jax.vmap's counts."""
    c = _escape_points(512, 0.03)
    check(_escape_time, (c,))
    text = vmlir.compile(vmlir.vmap(_escape_time)).lower(c).as_text(generic=True)
    assert text.count('"stablehlo.while"') >= 2
    assert '"stablehlo.gather"' in text and '"stablehlo.scatter"' in text


def test_lane_compaction_off_by_option():
    """batch-vectorize{compact_lanes=false}: one loop over all lanes, same counts."""
    c = _escape_points(512, 0.03, seed=1)
    pipeline = "batch-propagate-axes,batch-mask-control-flow,batch-vectorize{compact_lanes=false},batch-lower"
    compiled = vmlir.compile(vmlir.vmap(_escape_time), pipeline=pipeline)
    np.testing.assert_array_equal(np.asarray(compiled(c)), np.asarray(jax.vmap(_escape_time)(c)))
    assert compiled.lower(c).as_text(generic=True).count('"stablehlo.while"') == 1


@pytest.mark.parametrize("slow_fraction", [0.0, 0.05, 0.5, 1.0])
def test_deep_compaction_with_small_buckets(slow_fraction):
    """Halving down to 2 lanes, with no, few, half and all lanes slow: the spare slots of
    a smaller buffer are filled with finished lanes, so results are exact either way."""
    c = _escape_points(64, slow_fraction, seed=2)
    pipeline = "batch-propagate-axes,batch-mask-control-flow,batch-vectorize{min_bucket=2 shrink=2},batch-lower"
    got = vmlir.compile(vmlir.vmap(_escape_time), pipeline=pipeline)(c)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(jax.vmap(_escape_time)(c)))


def test_compaction_of_a_loop_inside_a_varying_branch():
    """A compacted loop under a branch mask, with a loop-invariant captured value."""

    def f(a, k):
        return lax.cond(a > 50.0, lambda v: _newton(v * k)[0], lambda v: v, a)

    a = RNG.uniform(1.0, 100.0, size=300).astype(np.float32)
    check(f, (a, np.float32(3.0)), in_axes=(0, None))


def test_compaction_slow_stage_finishes_at_full_width():
    """Newton on 1024 inputs over 12 decades: examples finish at steadily spread times, so
    the first stage is slow and the loop finishes at full width (the branch that does not
    gather); iteration counts still equal jax.vmap's."""
    a = np.exp(np.random.default_rng(5).uniform(np.log(1e-6), np.log(1e6), 1024)).astype(np.float32)
    check(_newton, (a,), rtol=1e-5)


def test_nested_varying_loops_with_compaction():
    """A varying while inside a varying while, on 600 lanes (both loops compacted): each
    example's inner trip count depends on the outer iteration and the example; the carried
    active flags of both loops must give jax.vmap's results exactly."""

    def f(n):
        def outer_body(state):
            i, total = state

            def inner_body(s):
                j, acc = s
                return j + 1, acc + (i * j) % 7

            _, acc = lax.while_loop(lambda s: s[0] < (n + i) % 5, inner_body, (jnp.int32(0), jnp.int32(0)))
            return i + 1, total + acc

        return lax.while_loop(lambda s: s[0] < n % 9, outer_body, (jnp.int32(0), jnp.int32(0)))[1]

    n = np.random.default_rng(11).integers(0, 40, size=600).astype(np.int32)
    compiled = vmlir.compile(vmlir.vmap(f))
    np.testing.assert_array_equal(np.asarray(compiled(n)), np.asarray(jax.vmap(f)(n)))
    # compaction is in the program
    assert '"stablehlo.gather"' in compiled.lower(n).as_text(generic=True)
