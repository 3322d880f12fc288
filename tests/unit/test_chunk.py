"""Chunked vmap (batch-chunk) and memory_limit_bytes, against jax.vmap on the same inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from difftest import assert_same
from vmlir.examples.seeds import SEEDS
from vmlir.memory import choose_chunk_size, chunk_candidates

N = 7
"""Batch size of the seed tests: 3 does not divide it, so chunk 3 leaves a remainder."""


def _chunked(batched: vmlir.Vmapped, chunk_size: int | None) -> vmlir.Vmapped:
    """`batched` with `chunk_size` on its outer vmap."""
    return vmlir.vmap(
        batched.fn, batched.in_axes, batched.out_axes, batched.axis_size, chunk_size=chunk_size
    )


@pytest.mark.parametrize("chunk", [1, 3, N, N + 5])
@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_chunked_seed_matches_jax_vmap(seed, chunk):
    """Every seed with chunk_size 1, 3 (remainder), the batch and more than the batch on its
    outer vmap gives jax.vmap's results."""
    inputs = seed.inputs(np.random.default_rng(chunk), N)
    got = vmlir.compile(_chunked(seed.batch(vmlir.vmap), chunk))(*inputs)
    assert_same(got, seed.batch(jax.vmap)(*inputs))


def _affine(w, x):
    return jnp.tanh(w * x), jnp.sum(w)


def test_in_axes_none_and_negative_out_axes_1_and_none():
    """An unmapped operand is shared by every chunk, in_axes -1 is sliced on the last axis,
    an out_axes 1 result is written at axis 1 and an out_axes None result kept."""
    rng = np.random.default_rng(0)
    w, x = rng.normal(size=3).astype("f4"), rng.normal(size=(3, N)).astype("f4")
    axes = {"in_axes": (None, -1), "out_axes": (1, None)}
    got = vmlir.compile(vmlir.vmap(_affine, **axes, chunk_size=3))(w, x)
    assert_same(got, jax.vmap(_affine, **axes)(w, x))


def _rbf(x, y):
    return jnp.exp(-jnp.sum((x - y) ** 2))


@pytest.mark.parametrize("outer_chunk", [None, 2])
def test_nested_vmap_with_chunked_inner(outer_chunk):
    """A chunk_size on the inner vmap (and on both) of a Gram matrix: jax.vmap's result."""
    rng = np.random.default_rng(1)
    xs, ys = rng.normal(size=(5, 4)).astype("f4"), rng.normal(size=(N, 4)).astype("f4")

    def row(x, ys):
        return vmlir.vmap(_rbf, in_axes=(None, 0), chunk_size=3)(x, ys)

    got = vmlir.compile(vmlir.vmap(row, in_axes=(0, None), out_axes=1, chunk_size=outer_chunk))
    want = jax.vmap(lambda x, ys: jax.vmap(_rbf, in_axes=(None, 0))(x, ys), (0, None), 1)
    assert_same(got(xs, ys), want(xs, ys))


def _control(p, x):
    y = lax.cond(p > 0, lambda v: jnp.sin(v) * 2.0, lambda v: jnp.cos(v) - 1.0, x)
    def step(c):
        return c[0] + 1.0, c[1] * 0.5 + 1.0

    _, z = lax.while_loop(lambda c: c[0] < p * 3.0, step, (0.0, y))
    return z


def test_cond_and_while_inside_a_chunked_vmap():
    """A varying cond and a while with a varying trip count inside a chunked vmap (each
    chunk loops while any of ITS examples is active) give jax.vmap's results."""
    rng = np.random.default_rng(2)
    p, x = rng.normal(size=N).astype("f4"), rng.normal(size=(N, 3)).astype("f4")
    got = vmlir.compile(vmlir.vmap(_control, chunk_size=3))(p, x)
    assert_same(got, jax.vmap(_control)(p, x))


def test_chunked_program_is_a_loop_over_vectorized_chunks():
    """After the pipeline a chunked vmap is one stablehlo.while whose body runs a chunk of 3
    vectorized (3x3 ops), plus the remainder of 1 after it; no batch.vmap is left."""
    x = np.ones((N, 3), np.float32)
    lowered = vmlir.compile(vmlir.vmap(jnp.sin, chunk_size=3)).lower(x)
    assert "chunk_size = 3" in lowered.as_text("batch", generic=True)
    text = lowered.as_text("stablehlo", generic=True)
    assert text.count('"stablehlo.while"') == 1
    assert "(tensor<3x3xf32>) -> tensor<3x3xf32>" in text
    assert "(tensor<1x3xf32>) -> tensor<1x3xf32>" in text
    assert "batch." not in text


# --- choosing a chunk size -----------------------------------------------------------


def test_chunk_candidates_are_divisors_and_powers_of_two():
    """Candidates: divisors of the batch and powers of two, below the batch, ascending."""
    assert chunk_candidates(12) == [1, 2, 3, 4, 6, 8]
    assert chunk_candidates(12, below=5) == [1, 2, 3, 4]
    assert chunk_candidates(1) == []


def test_choose_chunk_size_takes_the_largest_that_fits():
    """With memory linear in the chunk (100 bytes per example), the largest candidate under
    the limit is chosen; no chunking when the whole batch fits."""
    def temp(chunk):
        return 100 * (60 if chunk is None else chunk)

    assert choose_chunk_size(temp, 60, 6000) is None
    assert choose_chunk_size(temp, 60, 1650) == 16
    assert choose_chunk_size(temp, 60, 1500) == 15
    assert choose_chunk_size(temp, 60, 1650, max_chunk=12) == 12
    assert choose_chunk_size(temp, 60, 1000, max_chunk=12) == 10


def _pairwise_sorted(x, ys):
    # An m x F intermediate per example (n x m x F for the batch); the sort keeps XLA from
    # fusing it away, so it is temporary memory.
    d = jnp.sort(jnp.abs(x[None, :] - ys), axis=-1)
    return jnp.sum(d[:, -3:], axis=-1)


def _big_inputs():
    rng = np.random.default_rng(3)
    return rng.normal(size=(60, 32)).astype("f4"), rng.normal(size=(128, 32)).astype("f4")


def _temp(compiled: vmlir.Compiled, *args) -> int:
    return compiled.xla(*args).memory_analysis().temp_size_in_bytes


def test_memory_limit_picks_a_chunk_that_fits():
    """With a limit below the unchunked program's temporary memory, vmlir.compile chunks
    the batch: jax.vmap's result, and XLA's temp memory of what runs is within the limit."""
    xs, ys = _big_inputs()
    batched = vmlir.vmap(_pairwise_sorted, in_axes=(0, None))
    unchunked = _temp(vmlir.compile(batched), xs, ys)
    limit = unchunked // 3
    compiled = vmlir.compile(batched, memory_limit_bytes=limit)
    assert_same(compiled(xs, ys), jax.vmap(_pairwise_sorted, in_axes=(0, None))(xs, ys))
    assert _temp(compiled, xs, ys) <= limit < unchunked
    assert "chunk_size = " in compiled.lower(xs, ys).as_text("batch", generic=True)


def test_memory_limit_too_small_raises():
    """A limit that not even chunk_size=1 meets is an error naming the smallest need."""
    xs, ys = _big_inputs()
    batched = vmlir.vmap(_pairwise_sorted, in_axes=(0, None))
    one = _temp(vmlir.compile(_chunked(batched, 1)), xs, ys)
    with pytest.raises(vmlir.VmlirError) as e:
        vmlir.compile(batched, memory_limit_bytes=100)(xs, ys)
    assert str(e.value) == (
        "memory_limit_bytes=100 is too small: even chunk_size=1 does not fit; the smallest "
        f"temporary memory XLA reports is {one} bytes (chunk_size=1)"
    )


def test_memory_limit_must_be_a_non_negative_int():
    """memory_limit_bytes is checked when compiling."""
    with pytest.raises(ValueError, match="memory_limit_bytes must be a non-negative int"):
        vmlir.compile(vmlir.vmap(jnp.sin), memory_limit_bytes=-1)
