"""Python control flow on traced values: `vmlir.frontend.pycontrol.convert`.

Each converted function runs under `jax.vmap` and `jax.jit(jax.vmap)` and is compared with
the same computation written by hand with jnp.where / lax on random inputs. Error tests
check the exact message, including the file:line of the offending statement (found by the
`# <- NAME` marker on its line in this file).
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend.pycontrol import convert, converted_source

RNG = np.random.default_rng(0)
N = 16


def _at(marker: str) -> str:
    """`file:line` of the line in this file ending with `# <- marker`."""
    with open(__file__) as f:
        lines = [i for i, line in enumerate(f, 1) if line.rstrip().endswith(f"# <- {marker}")]
    assert len(lines) == 1, marker
    return f"{__file__}:{lines[0]}"


def _xs(scale: float = 3.0, n: int = N) -> np.ndarray:
    return (RNG.normal(size=n) * scale).astype(np.float32)


def _close(got, want) -> None:
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5)


def _check(fn, want, *args) -> None:
    """jax.vmap(convert(fn)) and jax.jit of it equal jax.vmap(want) on the batch, and
    jax.jit(convert(fn)) equals want on the first example."""
    conv = convert(fn)
    expected = jax.vmap(want)(*args)
    for got in (jax.vmap(conv)(*args), jax.jit(jax.vmap(conv))(*args)):
        _close(got, expected)
    first = [a[0] for a in args]
    _close(jax.jit(conv)(*first), want(*first))


def _primitives(fn, *args) -> set[str]:
    jaxpr = jax.make_jaxpr(fn)(*args)
    return {str(e.primitive) for e in jaxpr.jaxpr.eqns}


def _raises(fn, *args, message: str) -> None:
    with pytest.raises(VmlirUnsupportedError) as info:
        jax.jit(jax.vmap(convert(fn)))(*args)
    assert str(info.value) == message


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
    lam = lambda x: x * 2 if x > 0 else -x  # noqa: E731
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


# --- errors ---------------------------------------------------------------------------


def test_error_variable_assigned_in_one_branch():
    """A variable assigned in one branch of a traced `if` and used after it."""

    def f(x):
        if x > 0:  # <- one-branch
            y = x
        return y

    _raises(f, _xs(), message=f"{_at('one-branch')}: variable 'y' is assigned in only one branch "
            "of an `if` on a traced value and used after it")


def test_error_variable_first_assigned_in_traced_loop():
    """A variable first assigned inside a traced while loop and used after it."""

    def f(x):
        while x > 1:  # <- loop-undefined
            last = x
            x = x / 2
        return last

    _raises(f, _xs(), message=f"{_at('loop-undefined')}: variable 'last' is assigned in a `while` "
            "loop on a traced value and used after it (or in its next iteration), but has no "
            "value before the loop")


def test_error_non_scalar_condition():
    """A traced condition that is not a scalar."""

    def f(x):
        if x > 0:  # <- non-scalar
            x = x + 1
        return x

    _raises(f, np.ones((4, 3), np.float32), message=f"{_at('non-scalar')}: the condition of an "
            "`if` on a traced value must be a scalar, got bool[3]; use jnp.where, jnp.any or "
            "jnp.all")


def test_error_traced_if_inside_try():
    """Traced control flow inside `try`."""

    def f(x):
        try:
            if x > 0:  # <- in-try
                x = x + 1
        except ValueError:
            pass
        return x

    _raises(f, _xs(), message=f"{_at('in-try')}: an `if` on a traced value inside `try` cannot "
            "be converted (traced code raises no exceptions to catch)")


def test_error_traced_loop_inside_with():
    """Traced control flow inside a `with` block (a Python condition there is fine)."""

    def f(x, n):
        with jax.named_scope("s"):
            if n is None:
                x = x + 1
            for _ in range(n):  # <- in-with
                x = x * 2
        return x

    _raises(f, _xs(), np.ones(N, np.int32), message=f"{_at('in-with')}: a `for` loop over a traced "
            "`range` inside a `with` block cannot be converted")


def test_error_generator():
    """Generator functions cannot be converted (raised by convert itself)."""

    def gen(x):
        yield x  # <- yield

    with pytest.raises(VmlirUnsupportedError) as info:
        convert(gen)
    assert str(info.value) == f"{_at('yield')}: cannot convert a generator function (`yield`)"


def test_error_del_inside_converted_block():
    """`del` of a variable inside an `if` (raised by convert itself)."""

    def f(x):
        t = x
        if x > 0:
            del t  # <- del
        return x

    with pytest.raises(VmlirUnsupportedError) as info:
        convert(f)
    assert str(info.value) == (f"{_at('del')}: `del` of a variable inside an `if`, `while` or "
                               "`for` cannot be converted")


_COUNT = 0


def test_error_global_and_nonlocal_assigned_under_traced_condition():
    """`global`/`nonlocal` variables assigned in a traced `if` (fine on a Python one)."""

    def f(x):
        global _COUNT
        if x > 0:  # <- global
            _COUNT = _COUNT + 1
        return x

    def make():
        hits = 0

        def g(x):
            nonlocal hits
            if x > 0:  # <- nonlocal
                hits += 1
            return x

        return g

    _raises(f, _xs(), message=f"{_at('global')}: `global` variable '_COUNT' is assigned inside an "
            "`if` on a traced value")
    _raises(make(), _xs(), message=f"{_at('nonlocal')}: `nonlocal` variable 'hits' is assigned "
            "inside an `if` on a traced value")
    assert convert(f)(1.0) == 1.0 and _COUNT == 1


def test_error_python_object_changed_under_traced_condition():
    """A list appended to, or a dict item set, under a traced `if` / `while`: traced once,
    not run per example, so the change would leak traced values (jax.vmap fails with a
    TracerBoolConversionError here; we name the statement). A Python `for` around a traced
    `if` may still append (it runs in Python)."""

    def append(x):
        out = []
        if x > 0:  # <- append
            out.append(x)
        return x

    def item(x):
        d = {"n": 0}
        while x > 1:  # <- item
            x = x / 2
            d["n"] += 1
        return x

    def fine(v):
        out, s = [], 0.0
        for i in range(3):
            out.append(v[i] * 2)
            if v[i] > 0:
                s = s + 1
        return jnp.stack(out) + s

    line = int(_at("append").rsplit(":", 1)[1])
    _raises(append, _xs(), message=f"{_at('append')}: `out.append(...)` (line {line + 1}) "
            "changes a Python object from outside an `if` on a traced value, which is traced "
            "once rather than run per example; compute the value with jnp.where or lax ops instead")
    line = int(_at("item").rsplit(":", 1)[1])
    _raises(item, _xs(), message=f"{_at('item')}: `d['n'] += 1` (line {line + 2}) changes a "
            "Python object from outside a `while` loop on a traced value, which is traced once "
            "rather than run per example; compute the value with jnp.where or lax ops instead")
    vs = _xs(n=3 * N).reshape(N, 3)
    want = np.stack([np.asarray(fine(jnp.asarray(v))) for v in vs])
    _close(jax.vmap(convert(fine))(vs), want)
    assert convert(append)(1.0) == 1.0  # a Python condition: runs as written


def test_assert_on_traced_and_on_python_values():
    """`assert` on a traced value names its line; on a Python value it is Python's."""

    def traced(x):
        assert x > -100, "too small"  # <- assert
        return x

    def static(x):
        assert x.shape == (), f"got {x.shape}"
        assert x.ndim == 0
        return x * 2

    _raises(traced, _xs(), message=f"{_at('assert')}: an `assert` on a traced value cannot be "
            "checked while the function is traced (under jax.vmap neither); check the inputs "
            "before the call, or use jax.experimental.checkify")
    _close(jax.vmap(convert(static))(xs := _xs()), xs * 2)
    with pytest.raises(AssertionError, match=r"^got \(3,\)\n"):
        jax.vmap(convert(static))(np.ones((N, 3), np.float32))


def test_error_break_on_traced_value_in_unsized_for():
    """A `for` over an iterator without a length cannot stop on a traced value."""

    def f(x):
        for k in itertools.count():  # <- unsized
            if x < k:
                break
        return x

    _raises(f, _xs(), message=f"{_at('unsized')}: a `for` loop over a count (not a range or a "
            "sequence) cannot stop on a traced value (a `break` or `return` under a traced "
            "condition)")


def test_error_branches_disagree_on_shape_structure_or_type():
    """Branches leaving a variable with different shapes, structures or non-array values."""

    def shape(x):
        y = x
        if x > 0:  # <- shape
            y = jnp.stack([x, x])
        return y

    def structure(x):
        if x > 0:  # <- structure
            y = (x, x)
        else:
            y = x
        return y

    def text(x):
        mode = "a"
        if x > 0:  # <- text
            mode = "b"
        return x if mode == "a" else -x

    _raises(shape, _xs(), message=f"{_at('shape')}: variable 'y' has shape f32[2] in one branch "
            "of an `if` on a traced value and f32[] in the other")
    _raises(structure, _xs(), message=f"{_at('structure')}: variable 'y' has a different "
            "structure in the branches of an `if` on a traced value: PyTreeDef((*, *)) and "
            "PyTreeDef(*)")
    _raises(text, _xs(), message=f"{_at('text')}: variable 'mode' holds a str, which cannot leave "
            "an `if` on a traced value (only arrays and numbers can)")


def test_error_return_on_some_traced_paths_only():
    """Returning a value on one traced path and falling off the end on another."""

    def f(x):  # <- falls-off
        if x > 0:
            return x

    _raises(f, _xs(), message=f"{_at('falls-off')}: the function returns a value on some paths "
            "and falls off its end (returning None) on others, chosen by a traced value")


def test_exec_source_without_lines_is_left_alone_without_a_module_scan(monkeypatch):
    """A function exec'd from a string (no file, no lines in linecache) is not converted,
    and inspect's search of sys.modules for its source is not run."""
    import inspect

    from vmlir.frontend import pycontrol

    def scan(*args, **kwargs):
        raise AssertionError("inspect.getsourcelines ran")

    monkeypatch.setattr(inspect, "getsourcelines", scan)
    ns: dict = {}
    exec(compile("def f(x):\n    return x + 1\n", "<generated>", "exec"), ns)  # noqa: S102
    assert pycontrol._converted_tree(ns["f"]) is None
