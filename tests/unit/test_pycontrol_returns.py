"""`return` (with `break` / `continue`) inside loops whose test is traced.

Each converted function is checked three ways on the same inputs: under jax.vmap and
under jax.jit per example (the conversion alone, no batching), against a Python loop
that calls the *unconverted* function on one concrete example at a time; and, for a few,
through vmlir.vmap against jax.vmap of the same logic written with lax by hand.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from difftest import assert_same
from vmlir.frontend.pycontrol import convert

INTS = jnp.arange(-2, 14, dtype=jnp.int32)
FLOATS = jnp.array([0.5, 2.0, 20.0, 60.0, 200.0, 0.01], jnp.float32)


def return_when_big(x):
    while x < 100.0:
        if x > 50.0:
            return x + 1000.0
        x = x * 3.0
    return x


def python_counter_traced_bound(x):
    # `n` starts as a Python int: the first (Python) pass over the body never returns.
    n = 0
    while n < x:
        n += 1
        if n > 4:
            return n * 10
    return n


def break_and_return(x):
    i = 0
    while i < x:
        i += 1
        if i * i > 30:
            break
        if x - i < 2:
            return i * 100
    return i


def continue_and_return(x):
    s = 0
    i = 0
    while i < 10:
        i += 1
        if i % 3 == 0:
            continue
        s = s + x
        if s > 8:
            return s * 10
    return s


def return_from_inner_loop(x):
    i = 0
    while i < 5:
        j = 0
        while j < x:
            if i * j > 6:
                return i * 10 + j
            j += 1
        i += 1
    return -1


def return_in_traced_range(x):
    acc = 0
    for k in range(x):
        acc += k
        if acc > 10:
            return acc * 2
    return acc


def return_in_list_loop(x):
    for k in [1, 2, 3, 4]:
        x = x + k
        if x > 6:
            return x * 100
    return x


def return_in_while_else(x):
    n = 0
    while n < x:
        n += 2
        if n == 7:
            return -n
    else:
        return n * 1000
    return 5


def return_pair(x):
    n = 0
    while n < x:
        n += 1
        if n > 3:
            return n, n * 2
    return n, -1


def nested_break_continue_return(x):
    i = 0
    while i < 6:
        i += 1
        if x > i:
            j = 0
            while j < 4:
                j += 1
                if j * i == x:
                    return j + 100 * i
                if j > i:
                    break
        else:
            continue
    return -7


def while_true_return(x):
    n = 0
    while True:
        n += 1
        if n >= x:
            return n
        if n > 10:
            break
    return -n


def while_true_only_returns(x):
    """`while True` whose only way out is a `return`: nothing falls off the end."""
    n = x
    while True:
        if n % 3 == 0:
            return n * 2
        n += 1


def collatz_capped(x):
    k = 0
    while x > 1:
        k += 1
        if x % 2 == 0:
            x = x // 2
            continue
        if k > 6:
            return k * 1000
        x = 3 * x + 1
    return k


CASES = [
    (return_when_big, FLOATS), (python_counter_traced_bound, INTS), (break_and_return, INTS),
    (continue_and_return, INTS), (return_from_inner_loop, INTS),
    (return_in_traced_range, INTS), (return_in_list_loop, INTS), (return_in_while_else, INTS),
    (return_pair, INTS), (nested_break_continue_return, INTS), (while_true_return, INTS),
    (while_true_only_returns, INTS),
    (collatz_capped, INTS),
]


def _python_loop(fn, xs):
    outs = [fn(x) for x in xs]  # concrete values: plain Python control flow
    return jax.tree_util.tree_map(lambda *a: jnp.stack([jnp.asarray(v) for v in a]), *outs)


def _equal(got, want):
    jax.tree_util.tree_map(lambda g, w: np.testing.assert_array_equal(np.asarray(g), np.asarray(w)),
                           got, want)


@pytest.mark.parametrize("fn,xs", CASES, ids=[c[0].__name__ for c in CASES])
def test_converted_matches_python_per_example(fn, xs):
    """The converted function, under jax.vmap and under jax.jit per example, returns what
    the unconverted function returns on each concrete example."""
    want = _python_loop(fn, xs)
    conv = convert(fn)
    _equal(jax.vmap(conv)(xs), want)
    jitted = jax.jit(conv)
    _equal(_python_loop(jitted, xs), want)


def test_early_return_through_vmlir_matches_lax():
    """vmlir.vmap of a return inside a traced while == jax.vmap of the lax.while_loop
    carrying a `returned` flag and value."""

    def ref(x):
        def body(c):
            n, done, val = c
            n = n + 1
            hit = n > 4
            return n, hit, jnp.where(hit, n * 10, val)

        n, done, val = lax.while_loop(lambda c: (c[0] < x) & ~c[1], body, (0, False, 0))
        return jnp.where(done, val, n)

    got = vmlir.compile(vmlir.vmap(python_counter_traced_bound))(INTS)
    assert_same(got, jax.vmap(ref)(INTS))


def test_collatz_return_through_vmlir_matches_lax():
    """vmlir.vmap of a loop mixing `continue` and `return` == jax.vmap of its lax form."""

    def ref(x):
        def body(c):
            x, k, done, val = c
            k = k + 1
            even = x % 2 == 0
            hit = ~even & (k > 6)
            x = jnp.where(even, x // 2, jnp.where(hit, x, 3 * x + 1))
            return x, k, hit, jnp.where(hit, k * 1000, val)

        x, k, done, val = lax.while_loop(lambda c: (c[0] > 1) & ~c[2], body, (x, 0, False, 0))
        return jnp.where(done, val, k)

    got = vmlir.compile(vmlir.vmap(collatz_capped))(INTS)
    assert_same(got, jax.vmap(ref)(INTS))
