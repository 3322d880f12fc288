"""Linear-algebra and FFT workloads of `make bench` (registered in bench/run.py).

- gp_marginal_likelihood: the negative log marginal likelihood of a Gaussian process per
  example (each example its own 16 inputs and targets, shared hyperparameters): an RBF
  kernel matrix, its Cholesky factor (LAPACK potrf), a Cholesky solve (two trsm) and the
  log determinant. 4096 examples of 16x16.
- fft_autocorrelation: the circular autocorrelation of each example's signal through
  rfft / irfft (stablehlo.fft), 4096 signals of 256 samples.

The manual versions are the same computations written on the whole batch.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from bench.workloads import Workload


def _kernel(params: Any, x: jnp.ndarray) -> jnp.ndarray:
    lengthscale, noise = params
    sq = jnp.sum((x[..., :, None, :] - x[..., None, :, :]) ** 2, axis=-1)
    n = x.shape[-2]
    return jnp.exp(-0.5 * sq / lengthscale**2) + noise * jnp.eye(n, dtype=x.dtype)


def gp_nll(params: Any, x: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """-log p(y | x) of a zero-mean GP with an RBF kernel, for one example."""
    k = _kernel(params, x)
    chol = jnp.linalg.cholesky(k)
    alpha = jsl.cho_solve((chol, True), y)
    n = y.shape[0]
    return 0.5 * y @ alpha + jnp.sum(jnp.log(jnp.diagonal(chol))) + 0.5 * n * jnp.log(2 * jnp.pi)


def _manual_gp_nll(params: Any, xs: jnp.ndarray, ys: jnp.ndarray) -> jnp.ndarray:
    k = _kernel(params, xs)
    chol = jnp.linalg.cholesky(k)
    alpha = jsl.cho_solve((chol, True), ys[..., None])[..., 0]
    n = ys.shape[-1]
    logdet = jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return 0.5 * jnp.sum(ys * alpha, axis=-1) + logdet + 0.5 * n * jnp.log(2 * jnp.pi)


def _gp_inputs(rng: np.random.Generator, s: dict[str, int]) -> tuple[Any, ...]:
    params = (np.float32(1.5), np.float32(0.1))
    x = rng.uniform(-3, 3, (s["n"], s["m"], s["d"])).astype(np.float32)
    y = np.sin(x.sum(-1)) + 0.1 * rng.normal(size=(s["n"], s["m"]))
    return params, x, y.astype(np.float32)


def autocorrelation(x: jnp.ndarray) -> jnp.ndarray:
    """Circular autocorrelation of one signal, normalized to 1 at lag 0."""
    f = jnp.fft.rfft(x - jnp.mean(x))
    r = jnp.fft.irfft(f * jnp.conj(f), n=x.shape[-1])
    return r / r[..., :1]


def _manual_autocorrelation(xs: jnp.ndarray) -> jnp.ndarray:
    f = jnp.fft.rfft(xs - jnp.mean(xs, axis=-1, keepdims=True), axis=-1)
    r = jnp.fft.irfft(f * jnp.conj(f), n=xs.shape[-1], axis=-1)
    return r / r[..., :1]


WORKLOADS: list[Workload] = [
    Workload(
        "gp_marginal_likelihood",
        "GP negative log marginal likelihood per example: RBF kernel, Cholesky, cho_solve",
        gp_nll,
        ((None, 0, 0),),
        {"n": 4096, "m": 16, "d": 2},
        ("n",),
        _gp_inputs,
        lambda s: f"{s['n']} x {s['m']}x{s['m']} (inputs in R^{s['d']})",
        manual=_manual_gp_nll,
        rtol=1e-4,
        atol=1e-4,
        manual_rtol=1e-4,
        manual_atol=1e-4,
    ),
    Workload(
        "fft_autocorrelation",
        "circular autocorrelation per example through rfft / irfft",
        autocorrelation,
        (0,),
        {"n": 4096, "t": 256},
        ("n",),
        lambda rng, s: (rng.normal(size=(s["n"], s["t"])).astype(np.float32),),
        lambda s: f"{s['n']} signals of {s['t']}",
        manual=_manual_autocorrelation,
        rtol=1e-4,
        atol=1e-4,
        manual_rtol=1e-4,
        manual_atol=1e-4,
    ),
]
