"""Inputs for every jnp.linalg and jax.scipy.linalg function: the cases of
tests/unit/test_linalg.py, which the API sweep (tests/sweep) reuses for these modules.

Each case is a function of arrays and one generator per argument, `gen(rng, dtype)` -> one
example's array (SPD matrices for Cholesky-like functions, well-conditioned ones for
solves, triangular ones for triangular solves...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

B, N = 3, 4
"""Batch size and matrix size."""


def _square(rng, dtype, n=N):
    x = rng.normal(size=(n, n))
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.normal(size=(n, n))
    return x.astype(dtype)


def _spd(rng, dtype, n=N):
    x = _square(rng, dtype, n)
    return (x @ x.conj().T + n * np.eye(n)).astype(dtype)


def _well(rng, dtype, n=N):
    return (_square(rng, dtype, n) + 2 * n * np.eye(n)).astype(dtype)


def _lower(rng, dtype, n=N):
    return np.tril(_well(rng, dtype, n))


def _mat(rng, dtype, m, n):
    x = rng.normal(size=(m, n))
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.normal(size=(m, n))
    return x.astype(dtype)


def _vec(rng, dtype, n=N):
    return _mat(rng, dtype, 1, n)[0]


def _real(rng, dtype, *shape):
    return rng.normal(size=shape).astype(np.finfo(dtype).dtype)


Gen = Callable[[np.random.Generator, Any], np.ndarray]
# name -> (function of arrays, generators of its per-example arguments, real inputs only)
CASES: dict[str, tuple[Callable[..., Any], list[Gen], bool]] = {
    # jax.numpy.linalg
    "cholesky": (jnp.linalg.cholesky, [_spd], False),
    "cond": (jnp.linalg.cond, [_well], False),
    "cross": (jnp.linalg.cross, [lambda r, d: _vec(r, d, 3)] * 2, False),
    "det": (jnp.linalg.det, [_well], False),
    "diagonal": (jnp.linalg.diagonal, [_square], False),
    "eig": (jnp.linalg.eig, [_well], False),
    "eigh": (jnp.linalg.eigh, [_spd], False),
    "eigvals": (jnp.linalg.eigvals, [_well], False),
    "eigvalsh": (jnp.linalg.eigvalsh, [_spd], False),
    "inv": (jnp.linalg.inv, [_well], False),
    "lstsq": (
        lambda a, b: jnp.linalg.lstsq(a, b)[:2],
        [lambda r, d: _mat(r, d, 6, N), lambda r, d: _mat(r, d, 6, 2)],
        False,
    ),
    "matmul": (jnp.linalg.matmul, [_square, _square], False),
    "matrix_norm": (jnp.linalg.matrix_norm, [_square], False),
    "matrix_norm_2": (lambda a: jnp.linalg.matrix_norm(a, ord=2), [_square], False),
    "matrix_power": (lambda a: jnp.linalg.matrix_power(a, 3), [_square], False),
    "matrix_rank": (jnp.linalg.matrix_rank, [_square], False),
    "matrix_transpose": (jnp.linalg.matrix_transpose, [_square], False),
    "multi_dot": (lambda a, b: jnp.linalg.multi_dot([a, b, a]), [_square, _square], False),
    "norm": (jnp.linalg.norm, [_square], False),
    "outer": (jnp.linalg.outer, [_vec, _vec], False),
    "pinv": (jnp.linalg.pinv, [lambda r, d: _mat(r, d, 5, 3)], False),
    "qr": (jnp.linalg.qr, [lambda r, d: _mat(r, d, 5, 3)], False),
    "qr_complete": (
        lambda a: jnp.linalg.qr(a, mode="complete"),
        [lambda r, d: _mat(r, d, 5, 3)],
        False,
    ),
    "slogdet": (lambda a: tuple(jnp.linalg.slogdet(a)), [_well], False),
    "solve": (jnp.linalg.solve, [_well, lambda r, d: _mat(r, d, N, 2)], False),
    "svd": (jnp.linalg.svd, [lambda r, d: _mat(r, d, 5, 3)], False),
    "svd_thin": (
        lambda a: jnp.linalg.svd(a, full_matrices=False),
        [lambda r, d: _mat(r, d, 3, 5)],
        False,
    ),
    "svdvals": (jnp.linalg.svdvals, [_square], False),
    "tensordot": (jnp.linalg.tensordot, [_square, _square], False),
    "tensorinv": (lambda a: jnp.linalg.tensorinv(a.reshape(N, 2, 2), ind=1), [_well], False),
    "tensorsolve": (
        lambda a, b: jnp.linalg.tensorsolve(a.reshape(N, 2, 2), b),
        [_well, _vec],
        False,
    ),
    "trace": (jnp.linalg.trace, [_square], False),
    "vecdot": (jnp.linalg.vecdot, [_vec, _vec], False),
    "vector_norm": (jnp.linalg.vector_norm, [_vec], False),
    # jax.scipy.linalg
    "block_diag": (jsl.block_diag, [_square, lambda r, d: _mat(r, d, 2, 3)], False),
    "cho_factor": (lambda a: jsl.cho_factor(a)[0], [_spd], False),
    "cho_solve": (
        lambda a, b: jsl.cho_solve(jsl.cho_factor(a, lower=True), b),
        [_spd, _vec],
        False,
    ),
    "circulant": (jsl.circulant, [_vec], False),
    "companion": (jsl.companion, [lambda r, d: _vec(r, d, N) + 1], False),
    "convolution_matrix": (lambda a: jsl.convolution_matrix(a, 5), [_vec], False),
    "sp_cholesky": (lambda a: jsl.cholesky(a, lower=False), [_spd], False),
    "sp_det": (jsl.det, [_well], False),
    "sp_eigh": (lambda a: jsl.eigh(a, eigvals_only=True), [_spd], False),
    "eigh_tridiagonal": (
        lambda d, e: jsl.eigh_tridiagonal(d, e, eigvals_only=True),
        [lambda r, d: _real(r, d, N), lambda r, d: _real(r, d, N - 1)],
        True,
    ),
    "expm": (jsl.expm, [lambda r, d: _square(r, d) / 4], False),
    "expm_frechet": (
        lambda a, e: jsl.expm_frechet(a, e),
        [lambda r, d: _square(r, d) / 4, _square],
        True,
    ),
    "fiedler": (jsl.fiedler, [_vec], False),
    "fiedler_companion": (jsl.fiedler_companion, [lambda r, d: _vec(r, d, N) + 1], False),
    "funm": (lambda a: jsl.funm(a, jnp.sin), [_square], True),
    "hankel": (jsl.hankel, [_vec, _vec], False),
    "hessenberg": (jsl.hessenberg, [_square], False),
    "sp_inv": (jsl.inv, [_well], False),
    "leslie": (jsl.leslie, [_vec, lambda r, d: _vec(r, d, N - 1)], True),
    "lu": (jsl.lu, [_square], False),
    "lu_factor": (jsl.lu_factor, [_well], False),
    "lu_solve": (lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b), [_well, _vec], False),
    "polar": (jsl.polar, [_well], False),
    "sp_qr": (lambda a: jsl.qr(a, mode="economic"), [lambda r, d: _mat(r, d, 5, 3)], False),
    "qr_multiply": (
        jsl.qr_multiply,
        [lambda r, d: _mat(r, d, 5, 3), lambda r, d: _mat(r, d, 2, 5)],
        False,
    ),
    "rsf2csf": (lambda a: jsl.rsf2csf(*jsl.schur(a)), [_well], True),
    "schur": (jsl.schur, [_well], False),
    "sp_solve": (lambda a, b: jsl.solve(a, b, assume_a="pos"), [_spd, _vec], False),
    "solve_sylvester": (jsl.solve_sylvester, [_well, _well, _square], False),
    "solve_triangular": (
        lambda a, b: jsl.solve_triangular(a, b, lower=True),
        [_lower, lambda r, d: _mat(r, d, N, 2)],
        False,
    ),
    "solve_triangular_t": (
        lambda a, b: jsl.solve_triangular(a.T, b, trans=1, unit_diagonal=True),
        [_lower, _vec],
        False,
    ),
    "sqrtm": (jsl.sqrtm, [_spd], False),
    "sp_svd": (lambda a: jsl.svd(a, compute_uv=False), [_square], False),
    "toeplitz": (jsl.toeplitz, [_vec, _vec], False),
}

NO_ARRAY_ARGUMENT = {"dft", "hadamard", "helmert", "hilbert", "invhilbert", "invpascal", "pascal"}
"""Constructors of constant matrices from a size: nothing to batch."""

SCIPY_NAMES = {"cholesky", "det", "eigh", "inv", "qr", "solve", "svd"}
"""jax.scipy.linalg functions whose case is named sp_<name> (jnp.linalg has the name too)."""
