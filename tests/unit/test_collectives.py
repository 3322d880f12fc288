"""Named axes: vmlir.vmap(..., axis_name=...) with lax collectives, against jax.vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from tests.unit.difftest import assert_same, check
from vmlir.errors import VmlirUnsupportedError

N = 4


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


def test_psum_normalisation(rng):
    """x / psum(x) over the named axis: each column sums to one, as under jax.vmap."""
    check(lambda x: x / lax.psum(x, "i"), [np.abs(_normal(rng, N, 3)) + 0.1], axis_name="i")


@pytest.mark.parametrize("in_axes", [0, 1])
def test_pmean_pmax_pmin(rng, in_axes):
    """pmean, pmax and pmin over the named axis, with the batch axis at 0 and 1."""
    x = _normal(rng, N, 5) if in_axes == 0 else _normal(rng, 5, N)
    check(
        lambda x: (lax.pmean(x, "i"), lax.pmax(x, "i"), lax.pmin(x, "i")),
        [x], in_axes=in_axes, axis_name="i",
    )


def test_pmax_pmin_integers(rng):
    """Integer pmax / pmin start from the type's extreme values, not from zero."""
    x = rng.integers(-50, -1, size=(N, 3)).astype(np.int32)
    check(lambda x: (lax.pmax(x, "i"), lax.pmin(-x, "i")), [x], axis_name="i")


def test_axis_index_and_all_gather(rng):
    """axis_index, and all_gather untiled (at axis 0 and 1) and tiled."""
    x = _normal(rng, N, 3, 2)

    def f(x):
        return (
            x * lax.axis_index("i"),
            lax.all_gather(x, "i"),
            lax.all_gather(x, "i", axis=1),
            lax.all_gather(x, "i", axis=1, tiled=True),
        )

    check(f, [x], axis_name="i")


def test_psum_scatter(rng):
    """psum_scatter untiled and tiled, at dimension 0 and 1."""
    x = _normal(rng, N, N, 2 * N)

    def f(x):
        return (
            lax.psum_scatter(x, "i"),
            lax.psum_scatter(x, "i", scatter_dimension=1, tiled=True),
            lax.psum_scatter(x, "i", scatter_dimension=0, tiled=True),
        )

    check(f, [x], axis_name="i")


def test_ppermute(rng):
    """ppermute with a cyclic shift and with an arbitrary permutation."""
    perm = [(0, 2), (1, 0), (2, 3), (3, 1)]

    def f(x):
        shift = [(k, (k + 1) % N) for k in range(N)]
        return lax.ppermute(x, "i", shift), lax.ppermute(x, "i", perm)

    check(f, [_normal(rng, N, 3)], axis_name="i")


def test_all_to_all(rng):
    """all_to_all untiled (split before, after and at concat) and tiled."""
    x = _normal(rng, N, N, 2 * N)

    def f(x):
        return (
            lax.all_to_all(x, "i", 0, 1),
            lax.all_to_all(x[:, :N].T, "i", 1, 0),
            lax.all_to_all(x, "i", 0, 0),
            lax.all_to_all(x, "i", 1, 0, tiled=True),
            lax.all_to_all(x, "i", 1, 1, tiled=True),
        )

    check(f, [x], axis_name="i")


def test_collectives_of_uniform_values(rng):
    """Collectives of a value every example shares: psum is axis_size x value, pmax the
    value, all_gather a broadcast, psum_scatter a block of axis_size x value."""
    x, w = _normal(rng, N, 3), _normal(rng, 3)

    def f(x, w):
        return (
            x + lax.psum(w, "i"),
            lax.pmax(w, "i"),
            lax.all_gather(w, "i"),
            lax.psum_scatter(jnp.outer(jnp.ones(N), w), "i"),
            lax.ppermute(w, "i", [(k, (k + 1) % N) for k in range(N)]),
            lax.psum(1, "i") * w,
        )

    check(f, [x, w], in_axes=(0, None), axis_name="i")


def test_nested_axis_names_with_tuple_psum(rng):
    """Nested named vmaps: psum over ("i", "j"), over the outer name only, axis_index of
    each and of the tuple, pmax over the tuple in the other order."""

    def inner(v):
        return (
            lax.psum(v, ("i", "j")),
            lax.psum(v, "i") * lax.axis_index("i") + lax.axis_index("j"),
            lax.axis_index(("i", "j")),
            lax.pmax(v, ("j", "i")),
            lax.pmin(v, "j"),
        )

    y = _normal(rng, N, 3, 5)
    want = jax.vmap(jax.vmap(inner, axis_name="j"), axis_name="i")(y)
    compiled = vmlir.compile(vmlir.vmap(vmlir.vmap(inner, axis_name="j"), axis_name="i"))
    assert_same(compiled(y), want)
    lowered = compiled.lower(y)
    imported = lowered.as_text("batch")
    assert "batch.psum" in imported and "batch.axis_index" in imported
    assert "batch." not in lowered.as_text("stablehlo")


def test_compiled_inner_vmap_reduces_over_the_outer_name(rng):
    """A vmlir.compile'd inner vmap whose collectives also name the outer vmap's axis
    (as jax.vmap(jax.jit(jax.vmap(...)))) allows): the outer compile vectorizes both."""

    def inner(v):
        return lax.psum(v, ("i", "j")), lax.pmax(v, "i") + lax.axis_index("i")

    y = _normal(rng, N, 3, 5)
    want = jax.vmap(jax.jit(jax.vmap(inner, axis_name="j")), axis_name="i")(y)
    compiled_inner = vmlir.compile(vmlir.vmap(inner, axis_name="j"))
    assert_same(vmlir.vmap(compiled_inner, axis_name="i")(y), want)
    assert_same(vmlir.compile(vmlir.vmap(compiled_inner, axis_name="i"))(y), want)

def test_nested_all_gather_over_a_tuple(rng):
    """all_gather over ("i", "j") lays the examples out row-major in the tuple's order
    (jax.vmap rejects a tuple here; shard_map's meaning): compared with the input."""

    def inner(v):
        return lax.all_gather(v, ("i", "j")), lax.all_gather(v, ("j", "i"), tiled=True)

    y = _normal(rng, N, 3, 2)
    by_ij, by_ji = vmlir.compile(vmlir.vmap(vmlir.vmap(inner, axis_name="j"), axis_name="i"))(y)
    for i in range(N):
        for j in range(3):
            np.testing.assert_array_equal(by_ij[i, j], y.reshape(N * 3, 2))
            np.testing.assert_array_equal(by_ji[i, j], np.swapaxes(y, 0, 1).reshape(3 * N * 2))


def test_per_example_grad_through_psum(rng):
    """vmlir.vmap(jax.grad(...)) of a loss containing psum and pmean: JAX's own JVP and
    transpose rules of the collectives, batched by vmlir."""
    x, w = _normal(rng, N, 3), _normal(rng, 3)

    def g(x):
        return jax.grad(lambda x: jnp.sum(jnp.sin(x) * lax.psum(x**2, "i")))(x)

    def h(w, x):
        return jax.grad(lambda w: lax.pmean(jnp.sum((x * w) ** 2), "i"))(w)

    check(g, [x], axis_name="i", rtol=1e-4, atol=1e-4)
    check(h, [w, x], in_axes=(None, 0), axis_name="i", rtol=1e-4, atol=1e-4)


def test_collectives_in_control_flow(rng):
    """psum in a fori_loop, in a varying and a uniform cond, pmax in a varying while."""
    x = _normal(rng, N, 3)

    def loop(x):
        return lax.fori_loop(0, 3, lambda k, c: c + lax.psum(c * k, "i") / 10, x)

    def cond(x):
        return lax.cond(x[0] > 0, lambda: lax.psum(x, "i"), lambda: x * 2)

    def ucond(x, p):
        return lax.cond(p > 0, lambda: lax.psum(x, "i") + lax.axis_index("i"), lambda: x * 2)

    def while_(x):
        return lax.while_loop(lambda c: c[0] < 3, lambda c: c + jnp.abs(lax.pmax(c, "i")) + 0.1, x)

    check(loop, [x], axis_name="i")
    check(cond, [x], axis_name="i")
    check(ucond, [x, 1.0], in_axes=(0, None), axis_name="i")
    check(while_, [x], axis_name="i")


@pytest.mark.parametrize("axis_name", ["i", None])
def test_unbound_axis_name_is_jax_error(axis_name):
    """A collective over a name no vmap binds: jax's NameError and text."""
    x = np.ones((N, 3), np.float32)
    for fn in (lambda x: lax.psum(x, "j"), lambda x: lax.axis_index("j")):
        with pytest.raises(NameError) as want:
            jax.vmap(fn, axis_name=axis_name)(x)
        with pytest.raises(NameError) as got:
            vmlir.vmap(fn, axis_name=axis_name)(x)
        assert str(got.value) == str(want.value)


def test_axis_name_must_be_a_string():
    """Axis names are written into the IR: a non-string name is a clear error."""
    with pytest.raises(VmlirUnsupportedError, match=r"axis_name must be a string, got 3 \(int\)"):
        vmlir.vmap(lambda x: x, axis_name=3)


def test_chunking_a_named_axis_with_collectives_is_unsupported():
    """A chunk sees only its examples, so chunking an axis a collective names is refused."""
    f = vmlir.vmap(lambda x: lax.psum(x, "i"), axis_name="i", chunk_size=2)
    message = (
        r"chunk_size 2 .* collective over the chunked axis 'i': 'batch.psum' "
        r"\(from .*test_collectives.py:\d+\)"
    )
    with pytest.raises(VmlirUnsupportedError, match=message):
        f(np.ones((N, 3), np.float32))


def test_chunked_named_axis_without_collectives(rng):
    """A named axis that no collective uses can still be chunked."""
    x = _normal(rng, 5, 3)
    got = vmlir.vmap(jnp.sin, axis_name="i", chunk_size=2)(x)
    assert_same(got, jax.vmap(jnp.sin, axis_name="i")(x))


def test_unsupported_collectives_name_themselves_and_their_line():
    """axis_index_groups, and a tuple of names where vmlir takes one: a
    VmlirUnsupportedError naming the collective and the Python line."""
    x = np.ones((N, 3), np.float32)
    f = vmlir.vmap(lambda x: lax.psum(x, "i", axis_index_groups=[[0, 1], [2, 3]]), axis_name="i")
    where = r" \(from .*test_collectives.py:\d+\)"
    message = r"lax.psum with axis_index_groups over a vmlir.vmap axis" + where
    with pytest.raises(VmlirUnsupportedError, match=message):
        f(x)

    def inner(v):
        return lax.psum_scatter(v, ("i", "j"), tiled=True)

    g = vmlir.vmap(vmlir.vmap(inner, axis_name="j"), axis_name="i")
    message = r"lax.psum_scatter over several axis names \('i', 'j'\)" + where
    with pytest.raises(VmlirUnsupportedError, match=message):
        g(np.ones((N, 3, 24), np.float32))


def test_collectives_in_jitted_helper_and_unnamed_inner_vmap(rng):
    """psum in a jax.jit helper, and in an inner vmap without a name naming the outer one."""
    helper = jax.jit(lambda v: lax.psum(v, "i") * 2)
    check(lambda v: helper(v) + v, [_normal(rng, N, 3)], axis_name="i")
    y = _normal(rng, N, 3, 2)
    got = vmlir.vmap(lambda v: vmlir.vmap(lambda e: e / lax.psum(e, "i"))(v), axis_name="i")(y)
    want = jax.vmap(lambda v: jax.vmap(lambda e: e / lax.psum(e, "i"))(v), axis_name="i")(y)
    assert_same(got, want)


def test_uniform_results_integers_and_pytrees(rng):
    """A psum result returned with out_axes=None; integer and boolean psums; a pytree;
    axis_index with axis_size and no argument."""
    x = rng.integers(-5, 5, size=(N, 3)).astype(np.int32)
    check(lambda v: lax.psum(v, "i"), [x], out_axes=None, axis_name="i")
    check(lambda v: (lax.psum((v, {"a": v > 0}), "i"), lax.pmean(v, "i")), [x], axis_name="i")
    check(lambda: lax.axis_index("i"), [], axis_size=5, axis_name="i")


def test_per_example_grad_through_gather_scatter_permute(rng):
    """JAX's transposes of all_gather (psum_scatter), psum_scatter (all_gather) and
    ppermute (the inverse permutation), batched by vmlir."""
    shift = [(k, (k + 1) % N) for k in range(N)]
    weights = jnp.arange(float(N))[:, None]
    check(
        lambda v: jax.grad(lambda v: jnp.sum(lax.all_gather(v, "i") ** 2 * weights))(v),
        [_normal(rng, N, 3)], axis_name="i",
    )
    check(
        lambda v: jax.grad(lambda v: jnp.sum(jnp.sin(lax.psum_scatter(v, "i"))))(v),
        [_normal(rng, N, N, 2)], axis_name="i", rtol=1e-4, atol=1e-4,
    )
    check(
        lambda v: jax.grad(lambda v: jnp.sum(jnp.sin(lax.ppermute(v, "i", shift)) * v))(v),
        [_normal(rng, N, 3)], axis_name="i", rtol=1e-4, atol=1e-4,
    )


def test_pshuffle_pswapaxes_pbroadcast(rng):
    """lax.pshuffle (a ppermute), lax.pswapaxes (an all_to_all) and lax.pbroadcast."""
    x = _normal(rng, N, N, 3)

    def f(v):
        shuffled = lax.pshuffle(v, "i", [2, 0, 3, 1])
        return shuffled, lax.pswapaxes(v, "i", 0), lax.pbroadcast(v, "i", 2) + v

    check(f, [x], axis_name="i")


def test_partial_permutation_is_jax_error():
    """jax.vmap's ppermute needs a permutation of the whole axis: its error, its text."""
    f = lambda v: lax.ppermute(v, "i", [(0, 1), (1, 0)])  # noqa: E731
    x = np.ones((N, 3), np.float32)
    with pytest.raises(AssertionError) as want:
        jax.vmap(f, axis_name="i")(x)
    with pytest.raises(AssertionError) as got:
        vmlir.vmap(f, axis_name="i")(x)
    assert str(got.value) == str(want.value)


def test_collective_in_a_loop_big_enough_to_compact(rng):
    """A varying while over 1024 examples, 1% of them slow (what lane compaction is for),
    whose body uses pmax: every example, finished or not, takes part, as under jax.vmap."""
    x = np.where(rng.random(1024) < 0.01, 0.0, rng.uniform(2.0, 3.0, 1024)).astype(np.float32)

    def loop(x):
        return lax.while_loop(lambda c: c < 3, lambda c: c + 0.05 + 0.1 * lax.pmax(c, "i"), x)

    check(loop, [x], axis_name="i")
