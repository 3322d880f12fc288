"""Compile latency: what a first call does, counted (not timed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import vmlir

# jax reports every jaxpr -> MLIR module lowering under this event name (jax.monitoring).
_TO_MODULE = "/jax/core/compile/jaxpr_to_mlir_module_duration"


@contextmanager
def _lowerings() -> Iterator[list[str]]:
    """The jaxpr -> MLIR module lowerings jax does inside the block (one entry each)."""
    seen: list[str] = []

    def listen(event: str, duration: float, **kwargs: Any) -> None:
        if event == _TO_MODULE:
            seen.append(str(kwargs.get("fun_name", "")))

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def _first_call(make: Callable[[], Any], *args: Any) -> tuple[Any, list[str]]:
    with _lowerings() as seen:
        out = jax.block_until_ready(vmlir.compile(make())(*args))
    return out, seen


def _dist(x, y):
    return jnp.sqrt(jnp.sum((x - y) ** 2))


def test_nested_vmap_lowers_once(assert_same):
    """A nested vmlir.vmap costs jax as many module lowerings as a single one (the
    per-example program and the final jit): the inner function is lowered as part of the
    outer program, not on its own; and its Python body is traced once."""
    traced = []

    def dist(x, y):
        traced.append(1)
        return _dist(x, y)

    xs = jnp.asarray(np.random.default_rng(0).normal(size=(5, 3)), jnp.float32)
    ys = jnp.asarray(np.random.default_rng(1).normal(size=(4, 3)), jnp.float32)
    _, flat = _first_call(lambda: vmlir.vmap(lambda x: jnp.sum(x * x)), xs)
    out, nested = _first_call(
        lambda: vmlir.vmap(vmlir.vmap(dist, in_axes=(None, 0)), in_axes=(0, None)), xs, ys
    )
    assert len(flat) == 2, flat
    assert len(nested) == len(flat), nested
    assert len(traced) == 1
    assert_same(out, jax.vmap(jax.vmap(_dist, in_axes=(None, 0)), in_axes=(0, None))(xs, ys))


def test_three_levels_lower_once(assert_same):
    """Three nested maps, the middle one closing over the outer example (a hoisted
    operand): still two lowerings, the same values as jax.vmap."""

    def f(a, xs, ys):
        def middle(x):
            return vmlir.vmap(lambda y: jnp.sum(a * x * y))(ys)

        return vmlir.vmap(middle)(xs)

    def g(a, xs, ys):
        return jax.vmap(lambda x: jax.vmap(lambda y: jnp.sum(a * x * y))(ys))(xs)

    rng = np.random.default_rng(2)
    a = jnp.asarray(rng.normal(size=(6, 3)), jnp.float32)
    xs = jnp.asarray(rng.normal(size=(6, 4, 3)), jnp.float32)
    ys = jnp.asarray(rng.normal(size=(6, 2, 3)), jnp.float32)
    out, seen = _first_call(lambda: vmlir.vmap(f), a, xs, ys)
    assert len(seen) == 2, seen
    assert_same(out, jax.vmap(g)(a, xs, ys))


def test_nested_collective_over_the_inner_axis(assert_same):
    """A collective over the inner map's axis name, lowered inside the outer program,
    still becomes the inner batch collective (its name is bound while it is lowered)."""

    def inner(x):
        return x - lax.pmean(x, "j")

    def f(xs):
        return vmlir.vmap(inner, axis_name="j")(xs) * lax.psum(1.0, "i")

    def g(xs):
        return jax.vmap(inner, axis_name="j")(xs) * lax.psum(1.0, "i")

    xs = jnp.asarray(np.random.default_rng(3).normal(size=(3, 5)), jnp.float32)
    out, seen = _first_call(lambda: vmlir.vmap(f, axis_name="i"), xs)
    assert len(seen) == 2, seen
    assert_same(out, jax.vmap(g, axis_name="i")(xs))
