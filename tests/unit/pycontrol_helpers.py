"""Shared by the tests of Python control flow (test_pycontrol*.py): random inputs, the
comparison of a converted function with the same computation written by hand, and the
file:line of a marked statement for exact error messages."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend.pycontrol import convert

RNG = np.random.default_rng(0)
N = 16


def at(path: str, marker: str) -> str:
    """`file:line` of the line in the file `path` ending with `# <- marker`."""
    with open(path) as f:
        lines = [i for i, line in enumerate(f, 1) if line.rstrip().endswith(f"# <- {marker}")]
    assert len(lines) == 1, marker
    return f"{path}:{lines[0]}"


def xs(scale: float = 3.0, n: int = N) -> np.ndarray:
    return (RNG.normal(size=n) * scale).astype(np.float32)


def close(got, want) -> None:
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5)


def check(fn, want, *args) -> None:
    """jax.vmap(convert(fn)) and jax.jit of it equal jax.vmap(want) on the batch, and
    jax.jit(convert(fn)) equals want on the first example."""
    conv = convert(fn)
    expected = jax.vmap(want)(*args)
    for got in (jax.vmap(conv)(*args), jax.jit(jax.vmap(conv))(*args)):
        close(got, expected)
    first = [a[0] for a in args]
    close(jax.jit(conv)(*first), want(*first))


def primitives(fn, *args) -> set[str]:
    jaxpr = jax.make_jaxpr(fn)(*args)
    return {str(e.primitive) for e in jaxpr.jaxpr.eqns}


def raises(fn, *args, message: str) -> None:
    with pytest.raises(VmlirUnsupportedError) as info:
        jax.jit(jax.vmap(convert(fn)))(*args)
    assert str(info.value) == message
