"""Every jnp.linalg and jax.scipy.linalg function under vmlir.vmap, against jax.vmap.

The functions are grouped into one program per configuration (dtype x in_axes), so that
a configuration costs one compilation, not seventy: `vmlir.vmap(f)` of a function taking
and returning a dict with one entry per function, in one jax.jit with jax.vmap's. Both
sides call the same LAPACK kernels on the same matrices, so the results agree to rounding
even where the answer is only defined up to signs (eigenvectors, QR, SVD). The inputs come from tests/sweep/linalg_cases.

`make test` runs the "mixed" configuration (float32 and complex64 cases, batch axes 0,
last and shared) on QUICK_CASES, one function per LAPACK kernel family; `make sweep`
(VMLIR_SWEEP=full) runs every configuration on every case.
"""

from __future__ import annotations

import os
import pathlib
import sys
import warnings

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest
from difftest import assert_same

import vmlir

ROOT = pathlib.Path(__file__).parents[2]
if str(ROOT) not in sys.path:  # `tests.sweep` is imported from the repository root
    sys.path.insert(0, str(ROOT))

from tests.sweep.linalg_cases import CASES, NO_ARRAY_ARGUMENT, SCIPY_NAMES, B
from vmlir.passes.rules import linalg

FULL = os.environ.get("VMLIR_SWEEP") == "full"


def test_every_public_function_has_a_case():
    """CASES covers every public function of both modules: a new one cannot go untested."""
    cases = set(CASES)
    for name in dir(jnp.linalg):
        if not name.startswith("_"):
            assert name in cases, f"jnp.linalg.{name} has no case"
    for name in dir(jsl):
        if name.startswith("_") or name in NO_ARRAY_ARGUMENT:
            continue
        assert (f"sp_{name}" if name in SCIPY_NAMES else name) in cases, f"jax.scipy.linalg.{name}"


def _batch(rng, gen, dtype, axis):
    if axis is None:
        return gen(rng, dtype)
    return np.stack([gen(rng, dtype) for _ in range(B)], axis=axis)


CONFIGS = {
    # name: dtype (None: alternate float32 / complex64 by case), axis of the first
    # argument, axis of the others (None: shared by every example; -1: last position)
    "mixed": (None, -1, None),
    "f32-axis0": (np.float32, 0, 0),
    "c64-last-shared": (np.complex64, -1, None),
    "f32-axis1-last": (np.float32, 1, -1),
    "c64-shared-axis1": (np.complex64, None, 1),
}
QUICK = ("mixed",)
QUICK_CASES = (
    "cholesky",
    "det",
    "eig",
    "eigh",
    "qr",
    "svd",
    "hessenberg",
    "schur",
    "lu_solve",
    "solve_triangular",
    "sp_solve",
    "qr_multiply",
    "lstsq",
)
"""One function per kernel family (potrf, getrf, geev, syevd/heevd, geqrf+orgqr, gesdd,
gehrd, gees, trsm, ormqr), so `make test` stays fast."""


def _inputs(config: str, names):
    dtype, first, rest = CONFIGS[config]
    rng = np.random.default_rng(sorted(CONFIGS).index(config))
    args, in_axes = {}, {}
    for k, name in enumerate(names):
        _, gens, real_only = CASES[name]
        d = dtype or (np.float32, np.complex64)[k % 2]
        if real_only:
            d = np.float32
        axes = [first] + [rest if dtype is not None else (None, 0)[k % 2]] * (len(gens) - 1)
        if all(a is None for a in axes):
            axes[0] = 0
        per = [g(rng, d) for g in gens]
        axes = [None if a is None else (a if a >= 0 else a + 1 + p.ndim) for a, p in zip(axes, per)]
        args[name] = tuple(_batch(rng, g, d, a) for g, a in zip(gens, axes))
        in_axes[name] = tuple(axes)
    return args, in_axes


def _all_cases(xs):
    return {name: CASES[name][0](*xs[name]) for name in xs}


XLA_OPTIONS = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
"""Compile options of the one XLA computation per configuration (as tests/fuzz/run.py's):
XLA's optimizations take most of the time of these large programs and change nothing
that is compared (both sides call the same LAPACK kernels)."""


@pytest.mark.parametrize("config", [c for c in CONFIGS if FULL or c in QUICK])
def test_linalg_against_jax_vmap(config: str):
    """All cases at once: dict in, dict out, both sides in one jax.jit (vmlir's program
    embedded in it, as when a user's jax.jit calls it), one XLA compilation."""
    names = list(CASES) if FULL else QUICK_CASES
    args, in_axes = _inputs(config, names)
    theirs = jax.vmap(_all_cases, in_axes=(in_axes,))
    ours = vmlir.compile(vmlir.vmap(_all_cases, in_axes=(in_axes,)))
    both = jax.jit(lambda a: (ours(a), theirs(a))).lower(args).compile(XLA_OPTIONS)
    got, want = both(args)
    for name in names:
        try:
            assert_same(got[name], want[name], rtol=2e-4, atol=2e-4)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None


def test_kernel_table_reads_every_backends_spelling():
    """One family per kernel, whatever the backend's prefix; other targets are not ours."""
    names = {
        "lapack_spotrf_ffi": "potrf",
        "lapack_zheevd_ffi": "heevd",
        "cusolver_potrf_ffi": "potrf",
        "hipsolver_gesvdj_ffi": "gesvdj",
        "cu_lu_pivots_to_permutation": "lu_pivots_to_permutation",
        "hiphybrid_eig_real": "eig_real",
        "cusparse_gtsv2_ffi": "gtsv2",
        "tridiagonal_solve_perturbed_ffi": "tridiagonal_solve_perturbed",
        "cu_cholesky_update_ffi": "cholesky_update",
        "ApproxTopK": None,
        "lapack_sfoo_ffi": None,
        "my_kernel": None,
    }
    assert {t: linalg.kernel_family(t) for t in names} == names


def test_loop_fallback_matches_jax_vmap(monkeypatch):
    """A kernel marked as taking no batch runs in a while loop over the examples, warns
    naming the op, and computes what jax.vmap computes (Cholesky and LU solve here)."""
    monkeypatch.setitem(linalg.KERNELS, "potrf", linalg.Kernel("Cholesky", leading_batch=False))
    monkeypatch.setitem(linalg.KERNELS, "getrf", linalg.Kernel("LU", leading_batch=False))
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 3, 3)).astype(np.float32)
    spd = x @ x.transpose(0, 2, 1) + 3 * np.eye(3, dtype=np.float32)
    b = rng.normal(size=(3, 5)).astype(np.float32)
    f = lambda a, v: (jnp.linalg.cholesky(a), jnp.linalg.solve(a, v))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = vmlir.compile(vmlir.vmap(f, in_axes=(0, 1)))(spd, b)
    texts = [
        str(w.message) for w in caught if issubclass(w.category, linalg.VmlirLoopFallbackWarning)
    ]
    assert any("@lapack_spotrf_ffi (Cholesky) takes no batch dimension" in t for t in texts), texts
    assert any("@lapack_sgetrf_ffi (LU) takes no batch dimension" in t for t in texts), texts
    assert all(t.endswith("vmlir runs it in a loop over the 5 examples") for t in texts)
    assert_same(got, jax.vmap(f, in_axes=(0, 1))(spd, b), rtol=1e-4, atol=1e-4)


def test_final_ir_of_a_lapack_call_prints():
    """Lowered.as_text() (the final StableHLO, pretty) reads back the custom call's
    #stablehlo.output_operand_alias, which no dialect of ours defines."""
    x = np.random.default_rng(8).normal(size=(4, 3, 3)).astype(np.float32)
    spd = x @ x.transpose(0, 2, 1) + 3 * np.eye(3, dtype=np.float32)
    text = vmlir.compile(vmlir.vmap(jnp.linalg.cholesky)).lower(spd).as_text()
    call = next(line for line in text.splitlines() if "lapack_spotrf_ffi" in line)
    assert "#stablehlo.output_operand_alias<" in call
    assert "(tensor<4x3x3xf32>) -> (tensor<4x3x3xf32>, tensor<4xi32>)" in call
