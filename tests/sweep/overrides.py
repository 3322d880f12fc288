"""Explicit sweep cases: functions whose inputs a signature cannot suggest.

`case_for(qualname, x64)` returns (function of arrays, per-argument generators), a string
(the reason the function is not swept), or None (let catalog.make_case generate inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from tests.sweep import linalg_cases

Gen = Callable[[np.random.Generator], Any]
Explicit = tuple[Callable[..., Any], list[Gen]]

NOT_SWEPT: dict[str, str] = {}
"""qualname -> why it is not swept (the reason is listed in docs/api-coverage.md)."""

_COLLECTIVES = (
    "all_gather all_to_all axis_index axis_size pbroadcast pcast pmax pmean pmin ppermute "
    "precv psend pshuffle psum psum_scatter pswapaxes ragged_all_to_all"
)
for _n in _COLLECTIVES.split():
    NOT_SWEPT[f"jax.lax.{_n}"] = (
        "collective over a named axis: needs vmap(axis_name=...), which vmlir.vmap does not take"
    )
for _n in ("create_token", "after_all"):
    NOT_SWEPT[f"jax.lax.{_n}"] = "tokens are not arrays"
NOT_SWEPT["jax.lax.with_sharding_constraint"] = "needs a device mesh"


def _f(x64: bool) -> Any:
    return np.float64 if x64 else np.float32


def _linalg(qualname: str, x64: bool) -> Explicit | None:
    module, _, name = qualname.rpartition(".")
    if module == "jax.numpy.linalg":
        key = name
    elif module == "jax.scipy.linalg":
        key = f"sp_{name}" if name in linalg_cases.SCIPY_NAMES else name
    else:
        return None
    if key not in linalg_cases.CASES:
        return None
    fn, gens, _ = linalg_cases.CASES[key]
    dtype = _f(x64)
    return fn, [lambda r, g=g: g(r, dtype) for g in gens]


def _explicit(x64: bool) -> dict[str, Explicit]:
    f = _f(x64)
    u = lambda *s: lambda r: r.uniform(0.1, 0.9, s).astype(f)
    spd = lambda r: linalg_cases._spd(r, f, 3)
    key = lambda r: jax.random.key(int(r.integers(0, 2**31)))
    c = np.complex128 if x64 else np.complex64
    cplx = lambda *s: lambda r: (r.normal(size=s) + 1j * r.normal(size=s)).astype(c)
    return {
        "jax.random.multivariate_normal": (jax.random.multivariate_normal, [key, u(3), spd]),
        "jax.scipy.stats.multivariate_normal.logpdf": (
            jax.scipy.stats.multivariate_normal.logpdf,
            [u(3), u(3), spd],
        ),
        "jax.scipy.stats.multivariate_normal.pdf": (
            jax.scipy.stats.multivariate_normal.pdf,
            [u(3), u(3), spd],
        ),
        "jax.lax.cond": (lambda p, x: lax.cond(p > 0.5, jnp.sin, jnp.cos, x), [u(), u(4)]),
        "jax.lax.switch": (
            lambda i, x: lax.switch(i, [jnp.sin, jnp.cos, jnp.tanh], x),
            [lambda r: np.asarray(r.integers(0, 3), np.int32), u(4)],
        ),
        "jax.lax.while_loop": (
            lambda x: lax.while_loop(lambda v: v[0] < 3.0, lambda v: v * 1.7, x),
            [u(2)],
        ),
        "jax.lax.fori_loop": (lambda x: lax.fori_loop(0, 3, lambda i, v: v * v + i, x), [u(4)]),
        "jax.lax.scan": (
            lambda c0, xs: lax.scan(lambda c1, x: (c1 + x, c1 * x), c0, xs),
            [u(), u(4)],
        ),
        "jax.lax.map": (lambda xs: lax.map(jnp.sin, xs), [u(4)]),
        "jax.lax.associative_scan": (lambda xs: lax.associative_scan(jnp.add, xs), [u(5)]),
        "jax.lax.custom_linear_solve": (
            lambda m, b: lax.custom_linear_solve(
                lambda x: m @ x, b, lambda _, v: jnp.linalg.solve(m, v)
            ),
            [lambda r: linalg_cases._well(r, f, 3), u(3)],
        ),
        "jax.lax.reduce": (lambda x: lax.reduce(x, f(0), lax.add, (0,)), [u(4, 3)]),
        "jax.lax.sort": (lambda x: lax.sort(x), [u(5)]),
        "jax.lax.fft": (lambda x: lax.fft(x, "FFT", (4,)), [cplx(3, 4)]),
        "jax.lax.dot_general": (
            lambda a, b: lax.dot_general(a, b, (((1,), (0,)), ((), ()))),
            [u(3, 4), u(4, 2)],
        ),
        "jax.lax.conv_general_dilated": (
            lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME"),
            [u(1, 2, 5, 5), u(3, 2, 3, 3)],
        ),
        "jax.lax.conv": (
            lambda x, w: lax.conv(x, w, (1, 1), "VALID"),
            [u(1, 2, 5, 5), u(3, 2, 3, 3)],
        ),
        "jax.lax.gather": (
            lambda x, i: lax.gather(
                x,
                i[:, None],
                lax.GatherDimensionNumbers(
                    offset_dims=(), collapsed_slice_dims=(0,), start_index_map=(0,)
                ),
                (1,),
            ),
            [u(5), lambda r: r.integers(0, 5, (3,)).astype(np.int32)],
        ),
        "jax.lax.rng_bit_generator": (
            lambda k: lax.rng_bit_generator(k, (4,))[1],
            [lambda r: r.integers(0, 2**31, (4,)).astype(np.uint32)],
        ),
        "jax.lax.composite": (
            lambda x: lax.composite(lambda y: jnp.sin(y) * 2, name="sweep.sin2")(x),
            [u(4)],
        ),
        "jax.lax.scaled_dot": (
            lambda a, b: lax.scaled_dot(
                a.astype(jnp.float8_e4m3fn),
                b.astype(jnp.float8_e4m3fn),
                lhs_scale=jnp.ones((2, 1), jnp.float8_e8m0fnu),
                rhs_scale=jnp.ones((1, 3), jnp.float8_e8m0fnu),
                preferred_element_type=jnp.float32,
            ),
            [u(2, 32), u(32, 3)],
        ),
    }


def case_for(qualname: str, x64: bool) -> Explicit | str | None:
    if qualname in NOT_SWEPT:
        return NOT_SWEPT[qualname]
    found = _linalg(qualname, x64)
    if found is not None:
        return found
    return _explicit(x64).get(qualname)
