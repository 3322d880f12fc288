"""jax.vmap of a vmlir function (vmlir/runtime/batching.py), against jax.vmap of jax.vmap.

The new axis becomes an outer `batch.vmap` around the existing map, compiled by vmlir."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vmlir

RNG = np.random.default_rng(11)


def _f32(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32)


def affine(w, x):
    return jnp.tanh(w @ x) + x.sum()


@pytest.mark.parametrize("axis", [0, 1])
def test_jax_vmap_of_compiled_at_in_axes(axis, assert_same):
    """jax.vmap(compiled, in_axes=axis) over both arguments; out_axes 0 and 1."""
    ours = vmlir.compile(vmlir.vmap(affine, in_axes=(None, 0)))
    theirs = jax.vmap(affine, in_axes=(None, 0))
    w, x = _f32(5, 2, 3), _f32(5, 4, 3)
    w, x = np.moveaxis(w, 0, axis), np.moveaxis(x, 0, axis)
    for out_axes in (0, 1):
        outer = lambda g: jax.vmap(g, in_axes=axis, out_axes=out_axes)  # noqa: E731
        assert_same(outer(ours)(w, x), outer(theirs)(w, x))


def test_jax_vmap_over_one_argument_only_and_under_jit(assert_same):
    """The new axis on the per-example input only (w shared), inside a user's jax.jit."""
    ours = vmlir.compile(vmlir.vmap(affine, in_axes=(None, 0)))
    theirs = jax.vmap(affine, in_axes=(None, 0))
    w, x = _f32(2, 3), _f32(4, 5, 3)
    outer = lambda g: jax.jit(jax.vmap(g, in_axes=(None, 1)))  # noqa: E731
    assert_same(outer(ours)(w, x), outer(theirs)(w, x))


def test_program_nests_the_existing_map_inside_the_new_one():
    """The outer (new) map holds the original map as a nested batch.vmap in our IR."""
    ours = vmlir.compile(vmlir.vmap(affine, in_axes=(None, 0)))
    w, x = _f32(5, 2, 3), _f32(5, 4, 3)
    jax.vmap(ours)(w, x)
    (h,) = [p.handle for p in ours._programs.values()]
    (v,) = [d for k, d in h._derived.items() if k[0] == "vmap"]
    stages = ours.backend().program_of(v, [jax.typeof(w), jax.typeof(x)], record=True).stages
    batch = stages.text("batch", generic=True)
    assert batch.count("batch.vmap") == 2
    assert "axis_size = 5" in batch and "axis_size = 4" in batch


def test_nested_twice_with_grad(assert_same):
    """jax.vmap(jax.vmap(grad of compiled)) and grad of jax.vmap(jax.vmap(compiled))."""
    ours = vmlir.compile(vmlir.vmap(affine, in_axes=(None, 0)))
    theirs = jax.vmap(affine, in_axes=(None, 0))
    w, x = _f32(2, 3, 2, 3), _f32(2, 3, 4, 3)

    def per_pair(g):
        return jax.grad(lambda w, x: g(w, x).sum(), argnums=(0, 1))

    twice = lambda g: jax.vmap(jax.vmap(per_pair(g)))  # noqa: E731
    assert_same(twice(ours)(w, x), twice(theirs)(w, x))
    outer = lambda g: jax.grad(lambda w: jax.vmap(jax.vmap(g))(w, x).sum())  # noqa: E731
    assert_same(outer(ours)(w), outer(theirs)(w))


def test_jacfwd_is_jax_vmap_of_the_jvp(assert_same):
    """jax.jacfwd batches the JVP program with jax.vmap: a derived map of a derived map."""
    ours = vmlir.compile(vmlir.vmap(affine, in_axes=(None, 0)))
    theirs = jax.vmap(affine, in_axes=(None, 0))
    w, x = _f32(2, 3), _f32(4, 3)
    assert_same(jax.jacfwd(ours)(w, x), jax.jacfwd(theirs)(w, x))
