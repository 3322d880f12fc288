"""Python control flow anywhere in the per-example program: in the functions it calls, in
functions behind jax.grad / jax.jit / checkpoint / partial, and with static Python scalars.

References: jax.vmap of the same logic written with jnp.where / lax, on the same inputs.
"""

from __future__ import annotations

import functools
import gc
import json
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from difftest import assert_same
from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend.pycontrol import convert

RNG = np.random.default_rng(0)
W = RNG.normal(size=3).astype(np.float32)
X = RNG.normal(size=(8, 3)).astype(np.float32)
Y = RNG.normal(size=8).astype(np.float32)
E = np.linspace(-1.5, 1.5, 8).astype(np.float32)


def huber(e):
    if jnp.abs(e) < 0.5:
        return 0.5 * e * e
    return 0.5 * (jnp.abs(e) - 0.25)


def huber_ref(e):
    return jnp.where(jnp.abs(e) < 0.5, 0.5 * e * e, 0.5 * (jnp.abs(e) - 0.25))


def loss(w, x, y):
    return huber(jnp.dot(w, x) - y)  # the `if` is in the helper


def loss_ref(w, x, y):
    return huber_ref(jnp.dot(w, x) - y)


def _ours(fn, *args, in_axes=0):
    return vmlir.compile(vmlir.vmap(fn, in_axes=in_axes))(*args)


def test_python_if_in_called_helper():
    """`loss` calls `huber`, whose `if` is on a traced value: the helper is converted."""
    got = _ours(loss, W, X, Y, in_axes=(None, 0, 0))
    assert_same(got, jax.vmap(loss_ref, in_axes=(None, 0, 0))(W, X, Y))


@pytest.mark.parametrize("transform", ["grad", "grad_argnums1", "value_and_grad", "checkpoint",
                                       "jit", "partial"])
def test_vmap_of_wrapped_loss_with_python_if(transform):
    """vmlir.vmap(jax.grad(loss)) and friends, loss with a Python `if` (in a helper):
    the wrapped function is converted through the wrapper."""
    wrap = {
        "grad": jax.grad,
        "grad_argnums1": lambda f: jax.grad(f, argnums=1),
        "value_and_grad": jax.value_and_grad,
        "checkpoint": jax.checkpoint,
        "jit": jax.jit,
        "partial": lambda f: functools.partial(f, W),
    }[transform]
    in_axes = (0, 0) if transform == "partial" else (None, 0, 0)
    args = (X, Y) if transform == "partial" else (W, X, Y)
    got = _ours(wrap(loss), *args, in_axes=in_axes)
    assert_same(got, jax.vmap(wrap(loss_ref), in_axes=in_axes)(*args))


def test_vmap_grad_of_huber():
    """The issue's example: vmlir.vmap(jax.grad(huber)) on a batch of residuals."""
    assert_same(_ours(jax.grad(huber), E), jax.vmap(jax.grad(huber_ref))(E))


def test_grad_built_inside_the_per_example_function():
    """jax.grad(huber) called inside the per-example function: the function jax.grad is
    given is converted."""

    def f(e):
        return jax.grad(huber)(e) + jax.value_and_grad(huber)(e)[0]

    def ref(e):
        return jax.grad(huber_ref)(e) + huber_ref(e)

    assert_same(_ours(f, E), jax.vmap(ref)(E))


def _step(i, x):
    if x > 1.0:
        return x - i
    return x * 2.0


def _neg(x):
    return -x if x > 0 else x


def test_functions_passed_to_lax_are_converted():
    """fori_loop's body and switch's branches, user functions handed to lax, are converted."""

    def f(x, i):
        x = lax.fori_loop(0, 3, _step, x)
        return lax.switch(i, [_neg, huber, lambda v: v + 1 if v > 0 else v], x)

    def ref(x, i):
        step = lambda k, v: jnp.where(v > 1.0, v - k, v * 2.0)  # noqa: E731
        x = lax.fori_loop(0, 3, step, x)
        return lax.switch(i, [lambda v: jnp.where(v > 0, -v, v), huber_ref,
                              lambda v: jnp.where(v > 0, v + 1, v)], x)

    i = np.arange(8, dtype=np.int32) % 3
    assert_same(_ours(f, E, i), jax.vmap(ref)(E, i))


class _Clip:
    def __init__(self, limit):
        self.limit = limit

    def __call__(self, x):
        if x > self.limit:
            return self.limit + 0 * x
        return self.method(x)

    def method(self, x):
        return x * 3.0 if x < 0 else x


def _depth(x, n):
    # Recursion on a Python value: converted lazily, once, and it terminates.
    if n == 0:
        return x
    y = _depth(x, n - 1)
    if y > 1.0:
        y = y / 2.0
    return y + 1.0


def _depth_ref(x, n):
    for _ in range(n):
        x = jnp.where(x > 1.0, x / 2.0, x) + 1.0
    return x


def test_methods_callable_objects_lambdas_closures_recursion():
    """A callable object, its method, a top-level lambda, a closure over a helper and a
    recursive function on a Python depth, each with `if`s on traced values."""
    clip = _Clip(0.8)
    scale = 2.0

    def inner(v):
        return _depth(v, 3) * scale if v > -1.0 else v

    f = lambda x: clip(x) + inner(x)  # noqa: E731

    def ref(x):
        c = jnp.where(x > 0.8, 0.8, jnp.where(x < 0, x * 3.0, x))
        return c + jnp.where(x > -1.0, _depth_ref(x, 3) * scale, x)

    assert_same(_ours(f, E), jax.vmap(ref)(E))


def test_converted_helpers_still_run_on_concrete_values():
    """A converted function that calls converted helpers gives the unconverted result on
    Python values (no tracing at all)."""
    for e in (-1.0, 0.2, 3.0):
        assert convert(loss)(np.float32(1.0), np.float32(e), np.float32(0.0)) == loss(1.0, e, 0.0)
    assert convert(_depth)(3.0, 2) == _depth(3.0, 2)


def test_library_functions_are_left_alone_and_conversion_is_cached():
    """jax, numpy and standard library functions come back as they are (so does a JAX
    wrapper of one); a user function is converted once (the same object each time)."""
    for fn in (jnp.sin, np.sum, json.dumps, jax.grad(jnp.sin), functools.partial(jnp.add, 1)):
        assert convert(fn) is fn
    assert convert(loss) is convert(loss)
    assert convert(loss) is not loss
    namespace: dict = {}
    exec("def nosource(x):\n    return -x if x > 0 else x\n", namespace)
    assert convert(namespace["nosource"]) is namespace["nosource"]


def test_unconvertible_callee_runs_as_it_is_or_raises_naming_its_line():
    """A called function convert rejects (a generator, a `del` in a block) runs unconverted
    while it only branches on Python values; on a traced value, the conversion's error
    naming its file:line is raised, not JAX's."""

    def gen(x):
        for k in (1.0, 2.0):
            yield x * k

    def drop(x, flag):
        if flag:
            y = x
            del y  # <- cannot be converted
        if x > 0:
            x = -x
        return x

    def f(x):
        return sum(gen(x)) + drop(1.0, True)

    assert_same(_ours(f, E), jax.vmap(lambda x: x * 3.0 + -1.0)(E))
    with pytest.raises(VmlirUnsupportedError, match=r"test_pycontrol_calls\.py:\d+: `del` of a "
                       r"variable inside an `if`, `while` or `for` cannot be converted"):
        _ours(lambda x: drop(x, False), E)


# --- static Python scalars with in_axes=None ---------------------------------------------


def test_python_int_in_axes_none_is_static():
    """`jnp.tile(x, n)` with a Python int n (in_axes None) == jax.vmap; a new n compiles a
    new program instead of reusing the old one."""
    f = lambda x, n: jnp.tile(x, n)  # noqa: E731
    compiled = vmlir.compile(vmlir.vmap(f, in_axes=(0, None)))
    for n in (2, 3, 2):
        assert_same(compiled(X, n), jax.vmap(f, in_axes=(0, None))(X, n))
    assert compiled.xla(X, 4).out_info.shape == jax.vmap(f, in_axes=(0, None))(X, 4).shape


def test_static_values_key_the_cache_by_type_and_value():
    """2, 2.0 and True, and 0.0 and -0.0, give different programs (dtype, sign), as
    jax.vmap computes with them; a string reaches the function as a string."""
    x = np.arange(8, dtype=np.int32)
    f = lambda x, s: x * s  # noqa: E731
    compiled = vmlir.compile(vmlir.vmap(f, in_axes=(0, None)))
    for s in (2, 2.0, True, 2, 0.0, -0.0):
        got, want = compiled(x, s), jax.vmap(f, in_axes=(0, None))(x, s)
        assert_same(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    g = lambda x, mode: x * 2 if mode == "double" else -x  # noqa: E731
    for mode in ("double", "negate"):
        want = jax.vmap(lambda v: v * 2 if mode == "double" else -v)(X)
        assert_same(_ours(g, X, mode, in_axes=(0, None)), want)


def test_static_python_float_inside_pytree_and_under_jit():
    """A Python float inside an unmapped dict is static too; under a user's jax.jit the
    same call still matches jax.vmap."""
    f = lambda p, x: x * p["scale"] + len(p["name"])  # noqa: E731
    p = {"scale": 1.5, "name": "abc"}
    want = jax.vmap(f, in_axes=(None, 0))(p, X)
    assert_same(_ours(f, p, X, in_axes=(None, 0)), want)
    g = lambda x: vmlir.vmap(lambda v, n: jnp.tile(v, n), in_axes=(0, None))(x, 2)  # noqa: E731
    assert_same(jax.jit(g)(X), jax.vmap(lambda v: jnp.tile(v, 2))(X))


def test_static_scalar_errors_match_jax():
    """in_axes=0 on a Python int raises jax.vmap's error; an unhashable non-array value
    with in_axes None cannot be a static value."""
    f = lambda x, n: x * n  # noqa: E731
    with pytest.raises(ValueError) as theirs:
        jax.vmap(f, in_axes=(0, 0))(X, 2)
    with pytest.raises(ValueError) as ours:
        _ours(f, X, 2, in_axes=(0, 0))
    assert str(ours.value) == str(theirs.value)

    class Unhashable:
        __hash__ = None

    with pytest.raises(VmlirUnsupportedError, match=r"argument \[1\] \(a Unhashable, in_axes "
                       r"None\) is passed to the function as it is, as jax.vmap does"):
        _ours(lambda x, u: x, X, Unhashable(), in_axes=(0, None))


@jax.custom_jvp
def _relu(x):
    if x > 0:
        return x
    return 0.0 * x


@_relu.defjvp
def _relu_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    slope = 1.0 if x > 0 else 0.25  # a rule that differs from the body's derivative
    return _relu(x), t * slope


@jax.custom_jvp
def _relu_ref(x):
    return jnp.where(x > 0, x, 0.0 * x)


@_relu_ref.defjvp
def _relu_ref_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _relu_ref(x), t * jnp.where(x > 0, 1.0, 0.25)


def test_custom_jvp_function_and_rule_are_converted():
    """A jax.custom_jvp whose function and rule have Python `if`s: both are converted and
    jax.grad uses the rule."""
    assert_same(_ours(_relu, E), jax.vmap(_relu_ref)(E))
    assert_same(_ours(jax.grad(_relu), E), jax.vmap(jax.grad(_relu_ref))(E))


def _count_down(n):
    if n <= 0:
        return n
    return _count_down(n - 1)


def test_recursion_on_a_traced_value_is_an_error():
    """A recursion that ends on a traced condition cannot end when traced: a clear error
    naming the function, not Python's RecursionError."""
    with pytest.raises(VmlirUnsupportedError, match=r"the recursion of '_count_down' \(.*"
                       r"test_pycontrol_calls\.py:\d+\) exceeds Python's recursion limit"):
        _ours(_count_down, np.arange(4, dtype=np.int32))


def test_two_lambdas_on_one_line_and_weak_caches():
    """Two lambdas with the same parameters on one line are told apart by their code
    positions; a converted function does not outlive the original (weak caches)."""
    pos, neg = (lambda x: x * 2 if x > 0 else x), (lambda x: -x if x > 0 else x * 3)  # noqa: E731
    assert_same(_ours(pos, E), jax.vmap(lambda x: jnp.where(x > 0, x * 2, x))(E))
    assert_same(_ours(neg, E), jax.vmap(lambda x: jnp.where(x > 0, -x, x * 3))(E))

    def make():
        def local(x):
            return -x if x > 0 else x

        return local

    fn = make()
    converted = weakref.ref(convert(fn))
    original = weakref.ref(fn)
    del fn
    gc.collect()
    assert original() is None and converted() is None
