"""Python control flow on traced values that vmlir refuses: each error test checks the
exact message, including the file:line of the offending statement (found by the
`# <- NAME` marker on its line in this file)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pycontrol_helpers import N, at
from pycontrol_helpers import close as _close
from pycontrol_helpers import raises as _raises
from pycontrol_helpers import xs as _xs

from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend.pycontrol import convert


def _at(marker: str) -> str:
    return at(__file__, marker)


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
