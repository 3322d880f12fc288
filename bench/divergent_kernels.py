"""The divergent-loop kernels of bench/divergent.py: per-example functions whose while
loops run for different numbers of iterations per example, written as a user would, with
their input generators. Every kernel returns its trip count last (the bench derives the
lanes' occupancy from it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax


def _hash(x):
    """A 32-bit integer hash (lowbias32): the per-example random stream of the sampling
    kernels (a key per example, advanced by hashing)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _uniform(key):
    return (key >> 8).astype(jnp.float32) * (1.0 / (1 << 24))


def collatz(n):
    """Collatz stopping time of n (number theory): steps of n -> n/2 or 3n+1 until 1."""

    def body(s):
        x, i = s
        return jnp.where(x % 2 == 0, x // 2, 3 * x + 1), i + 1

    return lax.while_loop(lambda s: s[0] > 1, body, (n, jnp.int32(0)))[1]


def rejection(key, a):
    """A standard normal conditioned on x > a (sampling): propose from N(0, 1) by
    Box-Muller from a per-example key until a proposal exceeds a. The acceptance rate
    falls fast with a, so the trip counts are geometric with example-dependent means."""

    def body(s):
        k, x, i = s
        k1 = _hash(k)
        k2 = _hash(k1 ^ jnp.uint32(0x9E3779B9))
        u1 = jnp.maximum(_uniform(k1), 1e-7)
        u2 = _uniform(k2)
        return k2, jnp.sqrt(-2.0 * jnp.log(u1)) * jnp.cos(6.2831855 * u2), i + 1

    return lax.while_loop(lambda s: (s[1] <= a) & (s[2] < 2000), body, (key, a - 1.0, jnp.int32(0)))[1:]


def sphere_trace(dx, dy):
    """Ray marching (graphics): sphere tracing a ray from the camera through a scene of
    two spheres and a floor until it hits (distance < 1e-3) or leaves (t > 20). Rays that
    graze a surface take many small steps."""
    d = jnp.stack([dx, dy, jnp.float32(1.0)])
    d = d / jnp.linalg.norm(d)

    def scene(p):
        s1 = jnp.linalg.norm(p - jnp.array([0.0, 0.0, 4.0])) - 1.0
        s2 = jnp.linalg.norm(p - jnp.array([1.5, 0.5, 6.0])) - 1.2
        return jnp.minimum(jnp.minimum(s1, s2), p[1] + 1.0)

    def cond(s):
        t, dist, i = s
        return (dist > 1e-3) & (t < 20.0) & (i < 500)

    def body(s):
        t, _, i = s
        t = t + scene(t * d) * 0.9
        return t, scene(t * d), i + 1

    return lax.while_loop(cond, body, (jnp.float32(0.0), scene(jnp.zeros(3)), jnp.int32(0)))[0::2]


def random_walk(start, key):
    """A random walk to absorption (random walks): +-1 steps from `start` until it hits 0
    or 64; the expected time is start * (64 - start)."""

    def body(s):
        x, k, i = s
        k = _hash(k)
        return x + jnp.where((k & 1) == 1, 1, -1), k, i + 1

    return lax.while_loop(lambda s: (s[0] > 0) & (s[0] < 64), body, (start, key, jnp.int32(0)))[0::2]


def mandel_zoom(cr, ci):
    """Escape time in a zoomed region of the Mandelbrot set's boundary (fractals), at most
    1024 iterations: every escape time from a few to the maximum occurs."""

    def cond(s):
        zr, zi, i = s
        return (zr * zr + zi * zi <= 4.0) & (i < 1024)

    def body(s):
        zr, zi, i = s
        return zr * zr - zi * zi + cr, 2.0 * zr * zi + ci, i + 1

    zero = jnp.zeros((), cr.dtype)
    return lax.while_loop(cond, body, (zero, zero, jnp.int32(0)))[2]


def adaptive_ode(k):
    """y' = -k (y - cos t) from t = 0 to 2 by an Euler-Heun pair with step-size control
    (ODE step control): the stiffness k (log-uniform over 4 decades) sets the number of
    steps."""

    def f(t, y):
        return -k * (y - jnp.cos(t))

    def body(s):
        t, y, h, i = s
        h = jnp.minimum(h, 2.0 - t)
        k1 = f(t, y)
        k2 = f(t + h, y + h * k1)
        y_heun = y + 0.5 * h * (k1 + k2)
        err = jnp.abs(y_heun - (y + h * k1))
        ok = err <= 1e-4
        grow = jnp.clip(0.9 * jnp.sqrt(1e-4 / jnp.maximum(err, 1e-12)), 0.2, 4.0)
        return jnp.where(ok, t + h, t), jnp.where(ok, y_heun, y), h * grow, i + 1

    s = lax.while_loop(lambda s: (s[0] < 2.0) & (s[3] < 5000), body, (jnp.float32(0), jnp.float32(1), jnp.float32(0.1), jnp.int32(0)))
    return s[1], s[3]


def bisection(a, tol):
    """The real cube root of a by bisection on [-100, 100] to a per-example tolerance
    (root finding): the trip count is log2(200 / tol), a moderate spread."""

    def body(s):
        lo, hi, i = s
        mid = 0.5 * (lo + hi)
        up = mid * mid * mid < a
        return jnp.where(up, mid, lo), jnp.where(up, hi, mid), i + 1

    s = lax.while_loop(lambda s: s[1] - s[0] > tol, body, (jnp.float32(-100), jnp.float32(100), jnp.int32(0)))
    return 0.5 * (s[0] + s[1]), s[2]


def newton(a):
    """sqrt(a) by Newton's method from x0 = a (the bench's newton_sqrt): inputs over 12
    decades, trip counts spread evenly."""

    def body(s):
        x, i = s
        return 0.5 * (x + a / x), i + 1

    return lax.while_loop(lambda s: (jnp.abs(s[0] * s[0] - a) > 1e-5 * a) & (s[1] < 100), body, (a, jnp.int32(0)))


def mandel_escape(cr, ci):
    """The bench's Mandelbrot: 99% of the points escape at once, 1% never (256)."""

    def cond(s):
        zr, zi, i = s
        return (zr * zr + zi * zi <= 4.0) & (i < 256)

    def body(s):
        zr, zi, i = s
        return zr * zr - zi * zi + cr, 2.0 * zr * zi + ci, i + 1

    zero = jnp.zeros((), cr.dtype)
    return lax.while_loop(cond, body, (zero, zero, jnp.int32(0)))[2]


def uniform_control(x, n):
    """The non-divergent control: a polynomial map iterated n times, n the same for
    every example (the predicate is per-example, but every lane finishes together)."""

    def body(s):
        v, i = s
        return 0.5 * v * v - 0.3 * v + 0.1, i + 1

    return lax.while_loop(lambda s: s[1] < n, body, (x, jnp.int32(0)))



def gcd_steps(a, b):
    """Euclid's algorithm (number theory, held out): gcd(a, b) by remainders; the steps
    follow the continued fraction of a / b (at most ~45 for 32-bit inputs, mostly ~10)."""

    def body(s):
        x, y, i = s
        return y, x % y, i + 1

    s = lax.while_loop(lambda s: s[1] != 0, body, (a, b, jnp.int32(0)))
    return s[0], s[2]


def line_search(x0, y0, dx, dy):
    """Backtracking (Armijo) line search on the Rosenbrock function (optimization, held
    out): halve the step from 1 until it decreases f enough; steepness sets the count."""

    def f(x, y):
        return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2

    gx = -2.0 * (1.0 - x0) - 400.0 * x0 * (y0 - x0 * x0)
    gy = 200.0 * (y0 - x0 * x0)
    slope = gx * dx + gy * dy
    f0 = f(x0, y0)

    def cond(s):
        t, i = s
        return (f(x0 + t * dx, y0 + t * dy) > f0 + 1e-4 * t * slope) & (i < 60)

    t, i = lax.while_loop(cond, lambda s: (0.5 * s[0], s[1] + 1), (jnp.float32(1.0), jnp.int32(0)))
    return t, i


def first_passage(key, drift):
    """Monte Carlo first-passage time (stochastic processes, held out): a Gaussian random
    walk with a per-example drift (Box-Muller from a per-example key) until it crosses
    +-10; weak drifts wander for thousands of steps."""

    def body(s):
        k, x, i = s
        k1 = _hash(k)
        k2 = _hash(k1 ^ jnp.uint32(0x85EBCA6B))
        u1 = jnp.maximum(_uniform(k1), 1e-7)
        z = jnp.sqrt(-2.0 * jnp.log(u1)) * jnp.cos(6.2831855 * _uniform(k2))
        return k2, x + drift + z, i + 1

    s = lax.while_loop(lambda s: (jnp.abs(s[1]) < 10.0) & (s[2] < 4000), body, (key, jnp.float32(0), jnp.int32(0)))
    return s[1], s[2]


def jacobi(d, tol):
    """Jacobi iterations on a 4x4 diagonally dominant system (iterative solvers, held
    out) until the update falls below a per-example tolerance; the dominance d sets the
    rate."""
    a = jnp.array([[0.0, 1.0, 0.5, 0.2], [1.0, 0.0, 0.3, 0.4], [0.5, 0.3, 0.0, 1.0], [0.2, 0.4, 1.0, 0.0]], jnp.float32)
    b = jnp.array([1.0, 2.0, 3.0, 4.0], jnp.float32)

    def body(s):
        x, _, i = s
        new = (b - a @ x) / d
        return new, jnp.max(jnp.abs(new - x)), i + 1

    s = lax.while_loop(lambda s: (s[1] > tol) & (s[2] < 2000), body, (jnp.zeros(4, jnp.float32), jnp.float32(1e9), jnp.int32(0)))
    return s[0], s[2]

@dataclass(frozen=True)
class Kernel:
    name: str
    domain: str
    shape: str
    """heavy-tailed, moderate or uniform (the trip-count distribution)."""
    fn: Callable[..., Any]
    inputs: Callable[[np.random.Generator, int], tuple[Any, ...]]
    divergent: bool = True
    n: int = 0
    """Its examples in the main table (0: bench.divergent.N)."""


def _keys(rng, n):
    return rng.integers(1, 2**32 - 1, n, dtype=np.uint64).astype(np.uint32)


def _mandel_bench(rng, n):
    from bench.workloads import _mandel_inputs

    return _mandel_inputs(rng, {"n": n})


def _zoom(rng, n):
    cr = rng.uniform(-0.7465, -0.7445, n).astype(np.float32)
    ci = rng.uniform(0.1, 0.102, n).astype(np.float32)
    return cr, ci


def _directions(rng, n):
    return rng.uniform(-0.6, 0.6, n).astype(np.float32), rng.uniform(-0.6, 0.4, n).astype(np.float32)


KERNELS: list[Kernel] = [
    Kernel("collatz", "number theory", "moderate", collatz, lambda r, n: (r.integers(1, 100_000, n).astype(np.int32),)),
    Kernel("rejection", "sampling", "heavy-tailed", rejection,
           lambda r, n: (_keys(r, n), np.where(r.random(n) < 0.05, r.uniform(1.5, 2.5, n), r.uniform(-2, 0, n)).astype(np.float32))),
    Kernel("sphere_trace", "ray marching", "heavy-tailed", sphere_trace, _directions),
    Kernel("random_walk", "random walks", "heavy-tailed", random_walk,
           lambda r, n: (np.where(r.random(n) < 0.9, 1, r.integers(1, 64, n)).astype(np.int32), _keys(r, n))),
    Kernel("mandel_zoom", "fractals", "heavy-tailed", mandel_zoom, _zoom),
    # 20k examples: its masked loop runs 5000 iterations (~20 s a call at 100k on XLA CPU).
    Kernel("adaptive_ode", "ODE step control", "heavy-tailed", adaptive_ode,
           lambda r, n: (np.exp(r.uniform(0, np.log(1e4), n)).astype(np.float32),), n=20_000),
    Kernel("bisection", "root finding", "moderate", bisection,
           lambda r, n: (r.uniform(-1e6, 1e6, n).astype(np.float32), np.exp(r.uniform(np.log(1e-4), np.log(1.0), n)).astype(np.float32))),
    Kernel("newton", "root finding", "moderate", newton, lambda r, n: (np.exp(r.uniform(np.log(1e-6), np.log(1e6), n)).astype(np.float32),)),
    Kernel("mandelbrot", "fractals", "heavy-tailed", mandel_escape, _mandel_bench),
    Kernel("control", "non-divergent control", "uniform", uniform_control,
           lambda r, n: (r.uniform(-0.5, 0.5, n).astype(np.float32), np.full(n, 64, np.int32)), divergent=False),
]


HELD_OUT: list[Kernel] = [
    Kernel("gcd", "number theory", "moderate", gcd_steps,
           lambda r, n: (r.integers(1, 2**31 - 1, n).astype(np.int32), r.integers(1, 2**31 - 1, n).astype(np.int32))),
    Kernel("line_search", "optimization", "moderate", line_search,
           lambda r, n: (*r.uniform(-2, 2, (2, n)).astype(np.float32), *r.normal(size=(2, n)).astype(np.float32))),
    Kernel("first_passage", "stochastic processes", "heavy-tailed", first_passage,
           lambda r, n: (_keys(r, n), (np.sign(r.normal(size=n)) * np.exp(r.uniform(np.log(0.005), np.log(2.0), n))).astype(np.float32)), n=20_000),
    Kernel("jacobi", "iterative solvers", "heavy-tailed", jacobi,
           lambda r, n: (np.float32(2.05) + r.exponential(1.0, n).astype(np.float32), np.exp(r.uniform(np.log(1e-6), np.log(1e-2), n)).astype(np.float32))),
]
"""Kernels the cost model was not fitted on (bench/divergent.py --held-out): how well
its choice carries over to other domains and trip-count shapes."""
