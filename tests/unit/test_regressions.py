"""Bugs found by the differential fuzzer (tests/fuzz), minimized by hand.

Each test is a differential test against jax.vmap, pinning a bug the fuzzer found and
that is fixed. (A bug still open is pinned with xfail(strict=True) and its feature listed
in tests/fuzz/progen.py KNOWN_ISSUES, so the fuzzer keeps finding new ones.)

Programs with a nested map are written as `make(vmap)`: the same source runs with
`vmap=vmlir.vmap` under vmlir (a nested batch.vmap in our IR) and `vmap=jax.vmap` for the
reference, as the fuzzer runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from difftest import assert_same, check
from jax import lax

import vmlir


def check_nested(
    make: Callable[[Callable[..., Any]], Callable[..., Any]],
    args: tuple[Any, ...],
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_size: int | None = None,
) -> None:
    """difftest.check for a function whose body calls `vmap`: make(vmap) -> fn."""
    want = jax.vmap(make(jax.vmap), in_axes, out_axes, axis_size=axis_size)(*args)
    got = vmlir.compile(vmlir.vmap(make(vmlir.vmap), in_axes, out_axes, axis_size=axis_size))(*args)
    assert_same(got, want)


def _f32(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# --- fixed (kept as regression tests) ---------------------------------------------------


def test_unused_argument():
    """An argument the function ignores: JAX's lowering dropped it (keep_unused=False), so
    vmlir raised VmlirError("axes do not match the traced program: 2 in_axes for 1
    arguments"). Fixed by lowering with keep_unused=True."""
    check(lambda x, y: x * 2.0, (_f32(3, 2), _f32(3)), in_axes=(0, 0))
    check(lambda x, y: x * 2.0, (_f32(3, 2), _f32(3)), in_axes=(0, None))


def test_unused_argument_of_nested_vmap():
    """An inner function ignoring one of its arguments: the nested batch.vmap failed to
    verify ("body must take one argument per operand: 1 arguments for 2 operands")."""

    def make(vmap):
        return lambda a: vmap(lambda p, q: p * 2.0, in_axes=(0, None))(a, a)

    check_nested(make, (_f32(3, 2),))


def test_jnp_square():
    """jnp.square lowers to chlo.square, which vmlir's parser did not know; the error was
    a VmlirError ("could not read JAX's StableHLO") rather than VmlirUnsupportedError,
    because the importer looked for "unregistered" in xDSL's "is not registered"."""
    check(jnp.square, (_f32(3, 2),))


# --- open bugs ---------------------------------------------------------------------------


def test_nested_vmap_closing_over_outer_value():
    """The inner function of a nested vmap uses a value of the outer function that is not
    one of its arguments (a closure, the most common way to write nested maps). JAX's
    lowering of the inner function turns the closed-over tracer into an extra argument;
    the vmlir.vmap marker passes only the explicit ones, so the nested batch.vmap has
    2 block arguments for 1 operand and fails to verify (a VerifyException escapes, not
    a VmlirError). Fails the same whether the closed-over value is batched or not."""

    def make(vmap):
        def f(a, b):
            return vmap(lambda p: p * b)(a)

        return f

    check_nested(make, (_f32(3, 2), _f32(3)))


def test_jitted_helper_in_and_after_nested_vmap():
    """jnp.where is a jit-ed helper that JAX lowers to a private function @_where. Used in
    the body of a nested vmlir.vmap and then again in the outer function AFTER the nested
    call, the outer lowering defines @_where a second time next to the copy embedded with
    the inner program: JAX's verifier rejects the module ("redefinition of symbol named
    '_where'", a ValueError, not a VmlirError). Using it before the nested call works."""

    def make(vmap):
        def f(x):
            y = vmap(lambda p: jnp.where(p > 0.0, p, 1.0))(x)
            return jnp.where(y > 1.0, y, 2.0)

        return f

    check_nested(make, (_f32(3, 2),))


@jax.jit
def _double(a):
    return a * 2.0


def test_user_jit_helper_in_and_after_nested_vmap():
    """Same bug as test_jitted_helper_in_and_after_nested_vmap with a user's jax.jit
    function (and jnp.clip, also a jit-ed helper, behaves the same)."""

    def make(vmap):
        return lambda x: _double(vmap(_double)(x))

    check_nested(make, (_f32(3, 2),))


def test_control_flow_on_nested_vmap_ignoring_a_batched_argument():
    """The inner function ignores `p`, which is batched in the outer map, so `v` is the
    same for every outer example. batch-propagate-axes marks `v` varying anyway (any
    varying operand of the nested batch.vmap), so batch-mask-control-flow masks the
    while loop (batch.any in the condition, batch.masked in the body); batch-vectorize
    then finds the loop uniform and copies it unchanged, masks included, and batch-lower
    never lowers them. The final "StableHLO" still holds batch.any/batch.masked/
    batch.yield, and jaxlib's parser rejects it (MLIRError: "operation being parsed with
    an unregistered dialect") -- no VmlirError, and the verifier after each pass does not
    catch it. lax.cond on `jnp.sum(v) > 0` fails the same way."""

    def make(vmap):
        def f(a, b):
            v = vmap(lambda p, q: q, in_axes=(None, 0))(a, b)
            return lax.while_loop(lambda c: c < jnp.sum(v), lambda c: c + 1.0, 0.0)

        return f

    check_nested(make, (_f32(3, 5), np.abs(_f32(2, 4))), in_axes=(0, None))


def test_nested_vmap_closing_over_integer_outer_value():
    """A nested vmap closing over an INTEGER value of the outer example (and a float one):
    every traced constant must become an explicit operand, not only float ones (which is
    all jax.closure_convert hoists)."""

    def make(vmap):
        def f(x1, x3):
            v0 = x1 * x1

            def g0(p0):
                u0 = (x3 * 4.0).astype(jnp.int32).astype(jnp.float32)
                return v0.T.astype(jnp.float32) + u0[0] + p0

            return vmap(g0, out_axes=-1)(x3)

        return f

    rng = np.random.default_rng(3)
    args = (rng.integers(0, 3, (5, 3, 3)).astype(np.int32), rng.normal(size=(4,)).astype(np.float32))
    check_nested(make, args, in_axes=(0, None))
