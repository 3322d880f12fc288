"""Python `if`/`while`/`for` on batched values, straight through vmlir.vmap.

jax.vmap cannot trace these (TracerBoolConversionError); the reference is the same
computation written with jnp.where / lax by hand, run with jax.vmap.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from difftest import assert_same

X = np.array([-2.0, 0.5, 3.0, 10.0, -0.25, 7.5], np.float32)


def _ours(fn, *args, **kw):
    return vmlir.compile(vmlir.vmap(fn, **kw))(*args)


def test_jax_vmap_cannot_do_these():
    """The baseline: jax.vmap of a Python `if` on a batched value fails."""

    def f(x):
        return x * 2 if x > 0 else -x

    with pytest.raises(jax.errors.TracerBoolConversionError):
        jax.vmap(f)(X)


def test_if_else_on_batched_scalar():
    """if/else on a batched scalar == jnp.where."""

    def f(x):
        if x > 0:
            y = x * 2.0
        else:
            y = -x
        return y

    assert_same(_ours(f, X), jax.vmap(lambda x: jnp.where(x > 0, x * 2.0, -x))(X))


def test_if_elif_else():
    """An elif chain == nested jnp.where."""

    def f(x):
        if x > 5:
            return x - 5.0
        elif x > 0:
            return x * x
        else:
            return jnp.sin(x)

    want = jax.vmap(lambda x: jnp.where(x > 5, x - 5.0, jnp.where(x > 0, x * x, jnp.sin(x))))(X)
    assert_same(_ours(f, X), want)


def test_while_halving_counts_steps():
    """while x >= 1: halve and count == the lax.while_loop formulation."""

    def f(x):
        n = 0
        while x >= 1:
            x = x / 2
            n += 1
        return x, n

    def ref(x):
        return lax.while_loop(lambda c: c[0] >= 1, lambda c: (c[0] / 2, c[1] + 1), (x, 0))

    x = np.abs(X) * 10
    assert_same(_ours(f, x), jax.vmap(ref)(x))


def test_for_range_with_if_inside():
    """for i in range(4) with an if on the batched value == a sum of jnp.where terms."""

    def f(x):
        s = 0.0
        for i in range(4):
            if x > i:
                s = s + x * i
        return s

    def ref(x):
        return sum(jnp.where(x > i, x * i, 0.0) for i in range(4))

    assert_same(_ours(f, X), jax.vmap(ref)(X))


def test_for_range_with_batched_bound():
    """for i in range(n) with a batched n == lax.fori_loop."""

    def f(n, x):
        for i in range(n):
            x = x * 1.5 + i
        return x

    n = np.array([0, 1, 2, 3, 4, 5], np.int32)
    ref = jax.vmap(lambda n, x: lax.fori_loop(0, n, lambda i, c: c * 1.5 + i, x))
    assert_same(_ours(f, n, X), ref(n, X))


def test_nested_if_inside_while_with_break():
    """while True with an if/break inside == a while_loop on the negated break condition."""

    def f(x):
        n = 0
        while True:
            if x > 100:
                break
            x = x * 2
            n = n + 1
        return n

    def ref(x):
        return lax.while_loop(lambda c: c[0] <= 100, lambda c: (c[0] * 2, c[1] + 1), (x, 0))[1]

    x = np.abs(X) + 1
    assert_same(_ours(f, x), jax.vmap(ref)(x))


def test_early_return_in_branch():
    """An early return inside a branch == jnp.where over the two return values."""

    def f(x):
        if x < 0:
            return jnp.zeros_like(x)
        y = jnp.sqrt(x)
        return y + 1.0

    want = jax.vmap(lambda x: jnp.where(x < 0, 0.0, jnp.sqrt(jnp.abs(x)) + 1.0))(X)
    assert_same(_ours(f, X), want)


def test_python_condition_stays_python():
    """A condition on a Python value (not traced) is ordinary Python: no branch in the IR."""
    scale = 3.0

    def f(x, verbose=False):
        if scale > 2:
            x = x * scale
        if verbose:
            x = x + 1
        return x

    lowered = vmlir.compile(vmlir.vmap(f)).lower(X)
    assert '"stablehlo.case"' not in lowered.as_text("jax", generic=True)
    assert_same(_ours(f, X), jax.vmap(lambda x: x * scale)(X))


def test_variable_defined_in_one_branch_is_an_error():
    """A variable assigned in only one branch and used after: a clear error with file:line."""

    def f(x):
        if x > 0:
            y = x
        return y  # noqa: F821

    with pytest.raises(vmlir.VmlirUnsupportedError, match=r"test_python_control_flow\.py:\d+: variable 'y' "):
        _ours(f, X)
