"""Python callbacks inside a vmapped function: jax.debug.print, jax.pure_callback.

jax.vmap calls a debug callback once per example (its batching rule unrolls the batch)
and a `vmap_method="sequential"` pure_callback in a loop; vmlir batches every Python
callback with a loop over the examples, calling back with each example's values. The
custom call names its callback by an index into the host callbacks of the computation that
runs it, so the index must be renumbered where our program is embedded into another."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vmlir

RNG = np.random.default_rng(7)
X = RNG.standard_normal((5, 3)).astype(np.float32)


def _sin_callback(calls: list[tuple[int, ...]], vmap_method: str):
    def host(a):
        calls.append(np.shape(a))
        return np.sin(a)

    def f(v):
        return jax.pure_callback(
            host, jax.ShapeDtypeStruct(v.shape, v.dtype), v, vmap_method=vmap_method
        ) * 2.0 + v

    return f


@pytest.mark.parametrize("vmap_method", ["sequential", "broadcast_all", "expand_dims"])
def test_pure_callback_matches_jax_vmap(vmap_method):
    ours_calls: list[tuple[int, ...]] = []
    jax_calls: list[tuple[int, ...]] = []
    got = vmlir.compile(vmlir.vmap(_sin_callback(ours_calls, vmap_method)))(X)
    want = jax.vmap(_sin_callback(jax_calls, vmap_method))(X)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    # One call per example, with that example's values.
    assert ours_calls == [(3,)] * len(X)


def test_debug_print_prints_each_example_like_jax_vmap(capfd):
    def f(v):
        jax.debug.print("sum={s} first={f}", s=v.sum(), f=v[0])
        return v * 2

    got = vmlir.compile(vmlir.vmap(f))(X)
    jax.effects_barrier()
    ours = capfd.readouterr().out.splitlines()
    want = jax.vmap(f)(X)
    jax.effects_barrier()
    theirs = capfd.readouterr().out.splitlines()
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert len(ours) == len(X)
    assert sorted(ours) == sorted(theirs)


def test_callback_inside_a_loop_and_a_nested_vmap():
    """A callback under a per-example while loop, in the inner map of a nested vmap."""

    def host(a):
        return np.tanh(a)

    def f(a, b):
        def body(i, c):
            return c + jax.pure_callback(
                host, jax.ShapeDtypeStruct((), jnp.float32), c * b, vmap_method="sequential"
            )

        return jax.lax.fori_loop(0, 3, body, a)

    A, B = X[:, 0], X[:4, 1]
    inner = lambda vm: vm(vm(f, in_axes=(None, 0)), in_axes=(0, None))  # noqa: E731
    got = vmlir.compile(inner(vmlir.vmap))(A, B)
    np.testing.assert_allclose(np.asarray(got), np.asarray(inner(jax.vmap)(A, B)), rtol=1e-6)


def test_index_renumbered_inside_a_users_jit():
    """The user's own jit already has a callback (index 0 of its computation): ours must
    be given the next slot, or the user's callback would run in place of ours."""
    g = vmlir.compile(vmlir.vmap(_sin_callback([], "sequential")))

    @jax.jit
    def h(x):
        y = jax.pure_callback(
            lambda a: np.cos(a), jax.ShapeDtypeStruct(x.shape, x.dtype), x,
            vmap_method="sequential",
        )
        return g(y) + g(x)

    f = _sin_callback([], "sequential")
    want = jax.vmap(f)(np.cos(X)) + jax.vmap(f)(X)
    np.testing.assert_allclose(np.asarray(h(X)), np.asarray(want), rtol=1e-5)


def test_programs_with_callbacks_are_not_cached_on_disk(tmp_path):
    """A callback is named in our program by an id of the process that traced it: such a
    program is never stored, while the same script's callback-free program is. Two
    functions that differ only in their callback each call their own."""
    script = textwrap.dedent(
        """
        import sys, jax, jax.numpy as jnp, numpy as np, vmlir
        fn = {"sin": np.sin, "cos": np.cos}[sys.argv[1]]
        jfn = {"sin": jnp.sin, "cos": jnp.cos}[sys.argv[1]]
        f = lambda v: jax.pure_callback(fn, jax.ShapeDtypeStruct(v.shape, v.dtype), v,
                                        vmap_method="sequential")
        x = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)
        np.testing.assert_allclose(np.asarray(vmlir.compile(vmlir.vmap(f))(x)), fn(x), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(vmlir.compile(vmlir.vmap(jfn))(x)), fn(x), rtol=1e-6)
        """
    )
    env = dict(os.environ, VMLIR_CACHE_DIR=str(tmp_path), VMLIR_CACHE="1")
    for which in ("sin", "cos"):
        proc = subprocess.run(
            [sys.executable, "-c", script, which], env=env, capture_output=True, text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    stored = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert any(b"stablehlo.sine" in b for b in stored)  # the callback-free program
    assert not any(b"python_cpu_callback" in b for b in stored)


def test_ordered_callback_is_refused_naming_the_line():
    def f(v):
        jax.debug.print("v={v}", v=v, ordered=True)  # the line the error names
        return v * 2

    line = f.__code__.co_firstlineno + 1
    with pytest.raises(vmlir.VmlirUnsupportedError) as info:
        vmlir.compile(vmlir.vmap(f))(X)
    assert str(info.value) == (
        f"an ordered side effect (from {__file__}:{line}): OrderedDebug inside vmlir.vmap "
        "(jax.debug.print / io_callback with ordered=True); unordered callbacks work"
    )
