"""The benchmark workloads: what `make bench` times.

Each `Workload` is a per-example function (written for ONE example, like every vmlir
program), how to map it (`levels`: the in_axes of each vmap, innermost first, so two
levels mean a map over pairs), a maker of random inputs at the benchmark's sizes, and
optionally a hand-vectorized version of the same computation (`manual`). The contenders
are built from these in bench/run.py: vmlir (`vmlir.compile(vmlir.vmap(...))`, one per
`Variant`), `jax.jit(jax.vmap(...))`, the manual version, and a Python loop of jitted
per-example calls over a sample of the examples.

Sizes are the benchmark's defaults; keys listed in `batch_keys` are batch sizes and are
multiplied by `--scale` (at least 2 each), feature sizes are not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from vmlir.examples.seeds import dist, predict, rbf, sum_of_squares
from vmlir.passes import DEFAULT_PIPELINE


@dataclass(frozen=True)
class Variant:
    """One vmlir contender: a label, the options of `vmlir.compile`, and (for options
    that change rounding, such as fast_math) the tolerance its result is checked at."""

    label: str
    options: dict[str, Any] = field(default_factory=dict)
    rtol: float | None = None
    atol: float | None = None
    primary: bool = True
    """The contender the workload's targets and the geometric mean are about."""
    ablation: bool = False
    """A pass option switched off, to show what it buys: kept out of targets and means."""


NO_COMPACTION = DEFAULT_PIPELINE.replace("batch-vectorize", "batch-vectorize{compact_lanes=false}")
"""The default pipeline with lane compaction off."""
_WITH_AND_WITHOUT_COMPACTION = (
    Variant("vmlir"),
    Variant("vmlir no compaction", {"pipeline": NO_COMPACTION}, primary=False, ablation=True),
)


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    per_example: Callable[..., Any]
    levels: tuple[Any, ...]
    """in_axes of each vmap, innermost first (only 0 / None per argument or subtree)."""
    sizes: dict[str, int]
    batch_keys: tuple[str, ...]
    make_inputs: Callable[[np.random.Generator, dict[str, int]], tuple[Any, ...]]
    size_text: Callable[[dict[str, int]], str]
    manual: Callable[..., Any] | None = None
    variants: tuple[Variant, ...] = (Variant("vmlir"),)
    rtol: float = 1e-5
    atol: float = 1e-5
    manual_rtol: float | None = None
    manual_atol: float | None = None
    describe_inputs: Callable[[tuple[Any, ...], Any], str] | None = None
    """A line about the inputs (e.g. the iteration-count distribution), given the inputs
    and jax.vmap's output."""
    tags: tuple[str, ...] = ()

    def batch(self, vmap: Callable[..., Any]) -> Callable[..., Any]:
        """The per-example function mapped with `vmap` (vmlir.vmap or jax.vmap)."""
        fn = self.per_example
        for in_axes in self.levels:
            fn = vmap(fn, in_axes=in_axes)
        return fn

    def scaled_sizes(self, scale: float) -> dict[str, int]:
        return {
            k: (max(2, int(round(v * scale))) if k in self.batch_keys else v)
            for k, v in self.sizes.items()
        }


# --------------------------------------------------------------------------- helpers


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


def _glorot(rng: np.random.Generator, out: int, inp: int) -> np.ndarray:
    return (rng.normal(size=(out, inp)) / np.sqrt(inp)).astype(np.float32)


def _sqnorms(a: jax.Array) -> jax.Array:
    return jnp.sum(a * a, axis=1)


# --------------------------------------------------------------------------- workloads


def _manual_sum_of_squares(xs):
    return jnp.sum(xs**2, axis=1)


def _manual_predict(params, xs):
    w, b = params
    return jnp.tanh(xs @ w.T + b)


def _manual_pairwise(xs, ys):
    # The GEMM formula: |x|^2 - 2 X Y^T + |y|^2, the same algebra as `dist`.
    return jnp.sqrt(_sqnorms(xs)[:, None] - 2.0 * (xs @ ys.T) + _sqnorms(ys)[None, :])


def _manual_rbf(gamma, xs, ys):
    sq = _sqnorms(xs)[:, None] - 2.0 * (xs @ ys.T) + _sqnorms(ys)[None, :]
    return jnp.exp(-gamma * jnp.maximum(sq, 0.0))


def mlp_loss(params, x, y):
    """Squared error of a one-hidden-layer MLP on one example."""
    (w1, b1), (w2, b2) = params
    h = jnp.tanh(w1 @ x + b1)
    return jnp.mean((w2 @ h + b2 - y) ** 2)


per_example_grad = jax.grad(mlp_loss)


def _manual_mlp_grads(params, xs, ys):
    """Per-example gradients of mlp_loss, backpropagation written by hand for a batch."""
    (w1, b1), (w2, b2) = params
    h = jnp.tanh(xs @ w1.T + b1)  # (B, H)
    out = h @ w2.T + b2  # (B, O)
    d_out = 2.0 * (out - ys) / out.shape[1]  # (B, O)
    d_z = (d_out @ w2) * (1.0 - h * h)  # (B, H)
    return (
        (jnp.einsum("bh,bd->bhd", d_z, xs), d_z),
        (jnp.einsum("bo,bh->boh", d_out, h), d_out),
    )


def mlp_forward(params, x):
    """A 2-hidden-layer MLP on one example."""
    (w1, b1), (w2, b2), (w3, b3) = params
    h = jnp.tanh(w1 @ x + b1)
    h = jnp.tanh(w2 @ h + b2)
    return w3 @ h + b3


def _manual_mlp_forward(params, xs):
    (w1, b1), (w2, b2), (w3, b3) = params
    h = jnp.tanh(xs @ w1.T + b1)
    h = jnp.tanh(h @ w2.T + b2)
    return h @ w3.T + b3


def _mlp_params(rng: np.random.Generator, dims: list[int]) -> tuple[Any, ...]:
    return tuple(
        (_glorot(rng, o, i), (0.1 * rng.normal(size=o)).astype(np.float32))
        for i, o in zip(dims[:-1], dims[1:])
    )


def _expensive(ws, x):
    h = x
    for w in ws:
        h = jnp.tanh(w @ h)
    return h


def rare_expensive_cond(ws, x):
    """A varying lax.cond: the expensive branch (several matmuls) is taken by the
    examples whose first feature is positive, 1% of them."""
    return lax.cond(x[0] > 0.0, lambda v: _expensive(ws, v), lambda v: v * 2.0, x)


def _manual_cond(ws, xs):
    h = xs
    for w in ws:
        h = jnp.tanh(h @ w.T)
    return jnp.where(xs[:, :1] > 0.0, h, xs * 2.0)


def _cond_inputs(rng: np.random.Generator, s: dict[str, int]) -> tuple[Any, ...]:
    n, d = s["n"], s["d"]
    ws = tuple(_glorot(rng, d, d) for _ in range(s["matmuls"]))
    xs = _f32(rng, n, d)
    xs[:, 0] = -np.abs(xs[:, 0]) - 0.1
    rare = rng.choice(n, size=max(1, round(s.get("taken_pct", 1) / 100 * n)), replace=False)
    if s.get("taken_pct", 1) > 0:
        xs[rare, 0] = np.abs(xs[rare, 0]) + 0.1
    return ws, xs


def _describe_cond(args: tuple[Any, ...], out: Any) -> str:
    xs = np.asarray(args[1])
    taken = int(np.sum(xs[:, 0] > 0.0))
    return f"expensive branch taken by {taken} of {xs.shape[0]} examples ({100 * taken / xs.shape[0]:.2f}%)"


NEWTON_TOL = 1e-5
NEWTON_MAX_ITERS = 100


def newton_sqrt(a):
    """sqrt(a) by Newton's method from x0 = a; returns (root, iterations). The iteration
    count varies with a's magnitude (inputs span 12 decades)."""

    def cond(state):
        x, i = state
        return (jnp.abs(x * x - a) > NEWTON_TOL * a) & (i < NEWTON_MAX_ITERS)

    def body(state):
        x, i = state
        return 0.5 * (x + a / x), i + 1

    return lax.while_loop(cond, body, (a, jnp.int32(0)))


def _manual_newton(a):
    """The same loop over the whole array, with an active mask (numpy-style)."""

    def active(x, i):
        return (jnp.abs(x * x - a) > NEWTON_TOL * a) & (i < NEWTON_MAX_ITERS)

    def body(state):
        x, i, on = state
        x = jnp.where(on, 0.5 * (x + a / x), x)
        i = i + on.astype(jnp.int32)
        return x, i, active(x, i)

    i0 = jnp.zeros(a.shape, jnp.int32)
    x, i, _ = lax.while_loop(lambda s: jnp.any(s[2]), body, (a, i0, active(a, i0)))
    return x, i


def _describe_counts(counts: np.ndarray, what: str) -> str:
    values, freq = np.unique(counts, return_counts=True)
    parts = ", ".join(f"{v}: {f}" for v, f in zip(values, freq))
    return f"{what} (count: examples): {parts}"


def _describe_newton(args: tuple[Any, ...], out: Any) -> str:
    return _describe_counts(np.asarray(out[1]), "Newton iterations")


MANDEL_MAX_ITERS = 256


def mandelbrot(cr, ci):
    """Escape time of one point c = cr + i*ci: iterations of z <- z^2 + c while |z| <= 2,
    at most 256."""

    def cond(state):
        zr, zi, i = state
        return (zr * zr + zi * zi <= 4.0) & (i < MANDEL_MAX_ITERS)

    def body(state):
        zr, zi, i = state
        return zr * zr - zi * zi + cr, 2.0 * zr * zi + ci, i + 1

    zero = jnp.zeros((), cr.dtype)
    return lax.while_loop(cond, body, (zero, zero, jnp.int32(0)))[2]


def _manual_mandelbrot(cr, ci):
    """The numpy-style escape-time loop: all points at once, an active mask."""

    def body(state):
        zr, zi, i, on = state
        nzr = jnp.where(on, zr * zr - zi * zi + cr, zr)
        nzi = jnp.where(on, 2.0 * zr * zi + ci, zi)
        i = i + on.astype(jnp.int32)
        on = on & (nzr * nzr + nzi * nzi <= 4.0) & (i < MANDEL_MAX_ITERS)
        return nzr, nzi, i, on

    zero = jnp.zeros_like(cr)
    state = (zero, zero, jnp.zeros(cr.shape, jnp.int32), jnp.ones(cr.shape, bool))
    return lax.while_loop(lambda s: jnp.any(s[3]), body, state)[2]


def _mandel_inputs(rng: np.random.Generator, s: dict[str, int]) -> tuple[Any, ...]:
    """99% of the points well outside the set (Re c >= 0.6, or |c| >= 2: they escape within
    a few iterations); 1% inside the main cardioid (|c| <= 0.2: all 256 iterations)."""
    n = s["n"]
    n_in = max(1, round(0.01 * n))
    n_out = n - n_in
    r = rng.uniform(1.2, 3.0, n_out)
    theta = rng.uniform(-np.pi / 3, np.pi / 3, n_out)
    far = r >= 2.0  # beyond |c| = 2 any angle escapes at once
    theta[far] = rng.uniform(-np.pi, np.pi, int(far.sum()))
    c_out = r * np.exp(1j * theta)
    c_in = rng.uniform(0.0, 0.2, n_in) * np.exp(1j * rng.uniform(-np.pi, np.pi, n_in))
    c = np.concatenate([c_out, c_in])
    c = c[rng.permutation(n)]
    return c.real.astype(np.float32), c.imag.astype(np.float32)


def _describe_mandel(args: tuple[Any, ...], out: Any) -> str:
    return _describe_counts(np.asarray(out), "escape iterations")


WORKLOADS: list[Workload] = [
    Workload(
        "sum_of_squares",
        "sum(x**2) per example",
        sum_of_squares,
        (0,),
        {"n": 4096, "d": 128},
        ("n",),
        lambda rng, s: (_f32(rng, s["n"], s["d"]),),
        lambda s: f"{s['n']}x{s['d']}",
        manual=_manual_sum_of_squares,
    ),
    Workload(
        "predict",
        "tanh(W x + b), params shared (in_axes=(None, 0))",
        predict,
        ((None, 0),),
        {"n": 4096, "d": 128, "k": 5},
        ("n",),
        lambda rng, s: ((_f32(rng, s["k"], s["d"]), _f32(rng, s["k"])), _f32(rng, s["n"], s["d"])),
        lambda s: f"{s['n']}x{s['d']} (W {s['k']}x{s['d']})",
        manual=_manual_predict,
        manual_rtol=1e-4,
    ),
    Workload(
        "pairwise_distances",
        "sqrt(x.x - 2x.y + y.y) over all pairs (nested vmap)",
        dist,
        ((None, 0), (0, None)),
        {"n": 1000, "m": 1000, "d": 64},
        ("n", "m"),
        # x.x - 2x.y + y.y cancels badly near 0: keep the two sets apart (as the seed does).
        lambda rng, s: (_f32(rng, s["n"], s["d"]) * 3.0, _f32(rng, s["m"], s["d"]) * 3.0 + 10.0),
        lambda s: f"{s['n']}x{s['m']}x{s['d']}",
        manual=_manual_pairwise,
        rtol=1e-4,
        manual_rtol=1e-4,
    ),
    Workload(
        "rbf_gram",
        "exp(-gamma |x - y|^2) over all pairs (nested vmap)",
        rbf,
        ((None, None, 0), (None, 0, None)),
        {"n": 1000, "m": 1000, "d": 64},
        ("n", "m"),
        lambda rng, s: (
            np.float32(0.5 / s["d"]),
            _f32(rng, s["n"], s["d"]),
            _f32(rng, s["m"], s["d"]),
        ),
        lambda s: f"{s['n']}x{s['m']}x{s['d']}",
        manual=_manual_rbf,
        # fast_math may rewrite |x - y|^2 as |x|^2 - 2 x.y + |y|^2 (one GEMM): that cancels,
        # with an absolute error in the exponent of about eps * (|x|^2 + |y|^2) * gamma.
        variants=(
            Variant("vmlir fast_math", {"fast_math": True}, rtol=1e-3, atol=1e-5),
            Variant("vmlir exact", {}, primary=False),
        ),
        rtol=1e-5,
        atol=1e-6,
        manual_rtol=1e-3,
        manual_atol=1e-5,
        tags=("rbf",),
    ),
    Workload(
        "mlp_per_example_grads",
        "jax.grad of a 1-hidden-layer MLP loss per example (in_axes=(None, 0, 0))",
        per_example_grad,
        ((None, 0, 0),),
        {"n": 4096, "d": 32, "h": 64, "o": 4},
        ("n",),
        lambda rng, s: (
            _mlp_params(rng, [s["d"], s["h"], s["o"]]),
            _f32(rng, s["n"], s["d"]),
            _f32(rng, s["n"], s["o"]),
        ),
        lambda s: f"{s['n']}x{s['d']} (MLP {s['d']}-{s['h']}-{s['o']})",
        manual=_manual_mlp_grads,
        rtol=1e-4,
        atol=1e-5,
        manual_rtol=1e-4,
        manual_atol=1e-5,
    ),
    Workload(
        "mlp_forward",
        "MLP with 2 hidden layers (tanh) per example",
        mlp_forward,
        ((None, 0),),
        {"n": 4096, "d": 128, "h": 256, "o": 16},
        ("n",),
        lambda rng, s: (
            _mlp_params(rng, [s["d"], s["h"], s["h"], s["o"]]),
            _f32(rng, s["n"], s["d"]),
        ),
        lambda s: f"{s['n']}x{s['d']} (MLP {s['d']}-{s['h']}-{s['h']}-{s['o']})",
        manual=_manual_mlp_forward,
        rtol=1e-4,
        atol=1e-5,
        manual_rtol=1e-4,
        manual_atol=1e-5,
    ),
    Workload(
        "rare_expensive_cond",
        "lax.cond on a per-example predicate; the branch with 4 matmuls is taken by 1%",
        rare_expensive_cond,
        ((None, 0),),
        {"n": 4096, "d": 128, "matmuls": 4},
        ("n",),
        _cond_inputs,
        lambda s: f"{s['n']}x{s['d']} ({s['matmuls']} matmuls {s['d']}x{s['d']}, 1% taken)",
        manual=_manual_cond,
        rtol=1e-4,
        atol=1e-5,
        manual_rtol=1e-4,
        manual_atol=1e-5,
        describe_inputs=_describe_cond,
    ),
    Workload(
        "rare_expensive_cond_untaken",
        "the rare-expensive-branch workload with the branch taken by no example: what skipping the "
        "region itself buys, apart from keeping the shared weights unbatched",
        rare_expensive_cond,
        ((None, 0),),
        {"n": 4096, "d": 128, "matmuls": 4, "taken_pct": 0},
        ("n",),
        _cond_inputs,
        lambda s: f"{s['n']}x{s['d']} ({s['matmuls']} matmuls {s['d']}x{s['d']}, 0% taken)",
        manual=_manual_cond,
        rtol=1e-4,
        atol=1e-5,
        manual_rtol=1e-4,
        manual_atol=1e-5,
        describe_inputs=_describe_cond,
    ),
    Workload(
        "newton_sqrt",
        "Newton's sqrt in a lax.while_loop; iteration counts vary per example",
        newton_sqrt,
        (0,),
        {"n": 100_000},
        ("n",),
        lambda rng, s: ((10.0 ** rng.uniform(-6, 6, s["n"])).astype(np.float32),),
        lambda s: f"{s['n']} scalars (1e-6..1e6)",
        manual=_manual_newton,
        variants=_WITH_AND_WITHOUT_COMPACTION,
        rtol=1e-6,
        atol=0.0,
        describe_inputs=_describe_newton,
    ),
    Workload(
        "mandelbrot",
        "escape time (lax.while_loop, <= 256 iterations); 1% of the points never escape",
        mandelbrot,
        (0,),
        {"n": 100_000},
        ("n",),
        _mandel_inputs,
        lambda s: f"{s['n']} points (1% need 256 iterations)",
        manual=_manual_mandelbrot,
        variants=_WITH_AND_WITHOUT_COMPACTION,
        describe_inputs=_describe_mandel,
        tags=("escape_time",),
    ),
]

BY_NAME: dict[str, Workload] = {w.name: w for w in WORKLOADS}
