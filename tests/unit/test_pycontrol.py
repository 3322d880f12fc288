"""Python control flow on traced values: `vmlir.frontend.pycontrol.convert`.

Each converted function runs under `jax.vmap` and `jax.jit(jax.vmap)` and is compared with
the same computation written by hand with jnp.where / lax on random inputs. Error tests
check the exact message, including the file:line of the offending statement (found by the
`# <- NAME` marker on its line in this file).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from pycontrol_helpers import RNG, N, at
from pycontrol_helpers import check as _check
from pycontrol_helpers import primitives as _primitives
from pycontrol_helpers import xs as _xs

import vmlir
from vmlir.frontend.pycontrol import convert, converted_source


def _at(marker: str) -> str:
    return at(__file__, marker)


# --- the required cases ---------------------------------------------------------------


def test_if_else_on_batched_scalar():
    """`if x > 0: ... else: ...` on a batched scalar becomes lax.cond (a select under vmap)."""

    def f(x):
        if x > 0:
            y = x * 2
        else:
            y = -x
        return y

    _check(f, lambda x: jnp.where(x > 0, x * 2, -x), _xs())
    assert "cond" in _primitives(convert(f), 1.0)


def test_if_elif_else():
    """An `elif` chain: nested conds, each branch assigning the same variables."""

    def f(x):
        if x > 1:
            y, s = x * 2, 1
        elif x > -1:
            y, s = x + 10, 2
        else:
            y, s = -x, 3
        return y, s

    def want(x):
        y = jnp.where(x > 1, x * 2, jnp.where(x > -1, x + 10, -x))
        return y, jnp.where(x > 1, 1, jnp.where(x > -1, 2, 3))

    _check(f, want, _xs())


def test_while_halving_counts_steps():
    """`while x >= 1: x = x / 2; n += 1` becomes one lax.while_loop carrying x and n."""

    def f(x):
        n = 0
        while x >= 1:
            x = x / 2
            n += 1
        return x, n

    def want(x):
        return lax.while_loop(lambda c: c[0] >= 1, lambda c: (c[0] / 2, c[1] + 1), (x, 0))

    _check(f, want, np.abs(_xs(100.0)))
    assert "while" in _primitives(convert(f), 5.0)


def test_for_range_static_with_if_inside():
    """`for i in range(4)` with a static range stays a Python loop (unrolled); the `if`
    inside, on a traced value, becomes one lax.cond per iteration."""

    def f(x):
        acc = 0.0
        for i in range(4):
            if x > i:
                acc = acc + x * i
            else:
                acc = acc - 1
        return acc

    def want(x):
        acc = 0.0
        for i in range(4):
            acc = jnp.where(x > i, acc + x * i, acc - 1)
        return acc

    _check(f, want, _xs())
    eqns = jax.make_jaxpr(convert(f))(1.0).jaxpr.eqns
    assert [str(e.primitive) for e in eqns].count("cond") == 4
    assert "while" not in _primitives(convert(f), 1.0)


def test_for_range_traced_n():
    """`for i in range(n)` with a traced n: a while_loop carrying the counter; the loop
    variable keeps its last value after the loop, as in Python."""

    def f(x, n):
        acc = x
        i = -1
        for i in range(n):
            acc = acc * 0.5 + i
        return acc, i

    def want(x, n):
        acc = lax.fori_loop(0, n, lambda i, a: a * 0.5 + i, x)
        return acc, jnp.where(n > 0, n - 1, -1)

    _check(f, want, _xs(), RNG.integers(0, 6, size=N).astype(np.int32))


def test_nested_if_in_while_with_break():
    """`while True:` with an `if` and a `break` on a traced value: the break becomes a flag
    that stops the lax.while_loop."""

    def f(x):
        steps = 0
        while True:
            if x < 1:
                break
            x = x - 3
            steps += 1
        return x, steps

    def want(x):
        n = jnp.where(x < 1, 0, jnp.ceil((x - 1 + 1e-6) / 3)).astype(jnp.int32)
        return x - 3 * n, n

    xs = (np.floor(np.abs(_xs(20.0))) + 0.5).astype(np.float32)
    _check(f, want, xs)


def test_continue():
    """`continue` on a traced value skips the rest of the iteration (a flag + a guarded cond)."""

    def f(x):
        total = 0.0
        for i in range(6):
            if x * i > 4:
                continue
            total += x + i
        return total

    def want(x):
        return sum(jnp.where(x * i > 4, 0.0, x + i) for i in range(6))

    _check(f, want, _xs())


def test_early_return_inside_branch():
    """An early `return` in a traced branch: a returned flag, and the rest of the function
    runs guarded by it."""

    def f(x):
        if x > 2:
            return x * 10
        y = x + 1
        if y < 0:
            return -y
        return y * 3

    def want(x):
        return jnp.where(x > 2, x * 10, jnp.where(x + 1 < 0, -(x + 1), (x + 1) * 3))

    _check(f, want, _xs())


def test_python_condition_stays_python():
    """A condition on a Python value (a `verbose` flag, a static loop bound) stays Python:
    no cond or while in the jaxpr, and exactly the original function's jaxpr."""

    def f(x, verbose=False, k=3):
        if verbose:
            x = x + 100
        for _ in range(k):
            x = jnp.sin(x) if k > 2 and not verbose else x
        while k > 1:
            k -= 1
            x = x * 2
        return x

    for verbose in (False, True):
        g = functools.partial(f, verbose=verbose)
        prims = _primitives(convert(g), 1.0)
        assert not prims & {"cond", "while"}
        assert str(jax.make_jaxpr(convert(g))(1.0)) == str(jax.make_jaxpr(g)(1.0))
    _check(f, lambda x: jnp.sin(jnp.sin(jnp.sin(x))) * 4, _xs())


# --- more constructs ------------------------------------------------------------------


def test_unconverted_function_traces_to_same_jaxpr():
    """No control flow on traced values: the converted function's jaxpr is the original's."""

    def f(x, y):
        a, b = x * 2, y + 1
        a += b
        c = [a, b] if True else None
        return jnp.tanh(c[0]) @ jnp.ones(3) if a.ndim else a

    args = (np.ones(3, np.float32), np.ones(3, np.float32))
    assert str(jax.make_jaxpr(convert(f))(*args)) == str(jax.make_jaxpr(f)(*args))


def test_branches_assigning_int_and_float_join_types():
    """`y = 0` before, `y = x * 2` in one branch: the branches are joined to float32, and
    tuple/augmented assignments inside branches work."""

    def f(x):
        y, z = 0, x
        if x > 0:
            y = x * 2
            z *= 3
        return y + z

    _check(f, lambda x: jnp.where(x > 0, x * 2 + x * 3, x), _xs())


def test_return_inside_traced_loop():
    """A `return` inside a while_loop on a traced value: it stops the loop and the value is
    carried (its shape found by tracing the body once)."""

    def f(x):
        i = 0
        while i < x:
            if i * i > x:
                return i * 100
            i += 1
        return -1

    def want(x):
        i = lax.while_loop(lambda i: (i < x) & (i * i <= x), lambda i: i + 1, 0)
        return jnp.where(i < x, i * 100, -1)

    _check(f, want, np.abs(_xs(30.0)))


def test_for_over_python_list_with_traced_break():
    """A `for` over a Python list stays a Python loop; after a `break` on a traced value,
    the remaining iterations run under lax.cond on the break flag."""

    def f(x):
        total = x
        for w in [1.0, 2.0, 3.0, 4.0]:
            if total > 10:
                break
            total = total * w + 1
        return total

    def want(x):
        t = x
        for w in [1.0, 2.0, 3.0, 4.0]:
            t = jnp.where(t > 10, t, t * w + 1)
        return t

    _check(f, want, _xs(5.0))


def test_boolean_operators_conditional_expression_and_chained_comparison():
    """`and`/`or`/`not`, `a if c else b` and `lo < x < hi` on traced scalars."""

    def f(x, y):
        inside = -1 < x < 1
        if (inside and y > 0) or not x < 5:
            z = x if y > 1 else y
        else:
            z = x + y
        return z, inside

    def want(x, y):
        inside = (-1 < x) & (x < 1)
        z = jnp.where((inside & (y > 0)) | (x >= 5), jnp.where(y > 1, x, y), x + y)
        return z, inside

    _check(f, want, _xs(), _xs())


def test_helpers_closures_globals_and_nested_defs():
    """Module-level helpers are called unconverted, closures and globals are read, and a
    function defined inside the converted one is converted too."""
    scale = 3.0

    def f(x):
        def inner(v):
            if v > 0:
                return v * scale
            return _helper(v)

        y = inner(x)
        if y > _THRESHOLD:
            y = y - _THRESHOLD
        return y

    def want(x):
        y = jnp.where(x > 0, x * scale, x - 1)
        return jnp.where(y > _THRESHOLD, y - _THRESHOLD, y)

    _check(f, want, _xs())


def test_nested_function_sees_variable_rebound_under_traced_condition():
    """A nested function reads the variable when called: the `if` that rebinds it must
    carry it even though no statement after the `if` reads it by name."""

    def f(x):
        scale = 1.0

        def times(v):
            return v * scale

        if x > 0:
            scale = 2.0
        return times(x)

    _check(f, lambda x: jnp.where(x > 0, 2 * x, x), _xs())


def test_loop_carry_widens_from_int_to_float():
    """`a = n` (int32) then `a = a + x` (float32) in a traced loop: the carry becomes
    float32, as the variable does in Python."""

    def f(x, n):
        a = n
        i = 0
        while i < n:
            a = a + x
            i += 1
        return a

    _check(f, lambda x, n: n + n * x, _xs(), RNG.integers(0, 5, size=N).astype(np.int32))


def test_grad_through_converted_if():
    """jax.grad differentiates through the lax.cond a traced `if` becomes."""

    def f(x):
        if x > 0:
            y = x * x
        else:
            y = -3 * x
        return y

    xs = _xs()
    got = jax.vmap(jax.grad(convert(f)))(xs)
    np.testing.assert_allclose(got, np.where(xs > 0, 2 * xs, -3.0), rtol=1e-6)


_THRESHOLD = 2.0


def _helper(v):
    return v - 1


def _register(fn):
    return fn


class _Model:
    def __init__(self, bias):
        self.bias = bias

    def apply(self, x):
        if x > self.bias:
            return x - self.bias
        return x


@_register
def _decorated(x):
    if x > 0:
        x = x * 2
    return x


def test_methods_decorated_functions_lambdas_and_missing_source():
    """Bound methods, functions under a returning-the-function decorator, lambdas and
    functools.wraps wrappers are converted; functions without source come back unchanged."""
    model = _Model(0.5)
    _check(model.apply, lambda x: jnp.where(x > 0.5, x - 0.5, x), _xs())
    _check(_decorated, lambda x: jnp.where(x > 0, x * 2, x), _xs())
    lam = lambda x: x * 2 if x > 0 else -x
    _check(lam, lambda x: jnp.where(x > 0, x * 2, -x), _xs())
    namespace: dict = {}
    exec("def nosource(x):\n    return x\n", namespace)
    assert convert(namespace["nosource"]) is namespace["nosource"]
    wrapper = functools.wraps(_decorated)(lambda v: _decorated(v))
    _check(wrapper, lambda x: jnp.where(x > 0, x * 2, x), _xs())
    partial = convert(functools.partial(_decorated))
    assert isinstance(partial, functools.partial) and partial.func is not _decorated
    converted = convert(_decorated)
    assert convert(converted) is converted


def test_locations_point_at_user_lines():
    """The converted code keeps the user's file and lines: JAX's debug locations name the
    `if` line for the cond and the branch's line for the op in it."""

    def f(x):
        if x > 0:  # <- loc-if
            y = x * 7  # <- loc-mul
        else:
            y = x
        return y

    text = jax.jit(convert(f)).lower(1.0).as_text(debug_info=True)
    for marker in ("loc-if", "loc-mul"):
        path, line = _at(marker).rsplit(":", 1)
        assert f'"{path}":{line}:' in text
    assert "def f(x):" in converted_source(f) and "_pc_rt.if_stmt" in converted_source(f)


@pytest.mark.parametrize("name", ["if", "while", "for_n"])
def test_through_vmlir(name):
    """vmlir.compile(vmlir.vmap(convert(fn))) agrees with jax.vmap (cond/while batching)."""

    def f_if(x, n):
        if x > 0:
            x = x * 2
        return x

    def f_while(x, n):
        while x > 1:
            x = x / 3
        return x

    def f_for_n(x, n):
        for i in range(n):
            x = x + i
        return x

    fn = {"if": f_if, "while": f_while, "for_n": f_for_n}[name]
    args = (np.abs(_xs(10.0)), RNG.integers(0, 5, size=N).astype(np.int32))
    got = vmlir.compile(vmlir.vmap(convert(fn)))(*args)
    np.testing.assert_allclose(np.asarray(got), np.asarray(jax.vmap(convert(fn))(*args)), rtol=1e-6)
