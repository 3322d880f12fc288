"""The Python API (vmlir.vmap / vmlir.compile / Lowered) against jax.vmap's semantics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vmlir
from vmlir.passes import DEFAULT_PIPELINE


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


def _both(fn, args, kwargs=None, **vmap_kw):
    """(vmlir's result, jax.vmap's result) for the same function, axes and inputs."""
    kwargs = kwargs or {}
    ours = vmlir.compile(vmlir.vmap(fn, **vmap_kw))(*args, **kwargs)
    theirs = jax.vmap(fn, **vmap_kw)(*args, **kwargs)
    return ours, theirs


# --- axes ---------------------------------------------------------------------------


def test_in_axes_none_for_some_args(assert_same):
    """in_axes=None passes an argument whole to every example."""
    rng = np.random.default_rng(0)
    args = (_f32(rng, 2, 3), _f32(rng, 4, 3), _f32(rng, 2))
    assert_same(*_both(lambda w, x, b: w @ x + b, args, in_axes=(None, 0, None)))


def test_out_axes_positive(assert_same):
    """out_axes=1 stacks the batch along axis 1 of a rank-2 per-example output."""
    x = _f32(np.random.default_rng(1), 4, 3)
    assert_same(*_both(lambda v: jnp.outer(v, v + 1), (x,), out_axes=1))


def test_out_axes_negative(assert_same):
    """out_axes=-1 puts the batch axis last, counting from the batched output's rank."""
    x = _f32(np.random.default_rng(2), 4, 3)
    assert_same(*_both(lambda v: jnp.outer(v, v + 1), (x,), out_axes=-1))


def test_in_axes_positive_nonzero(assert_same):
    """in_axes=1 maps over the second axis of the argument."""
    x = _f32(np.random.default_rng(3), 3, 4, 2)
    assert_same(*_both(lambda v: v.sum(0) * v[1], (x,), in_axes=1))


def test_in_axes_negative(assert_same):
    """in_axes=-1 maps over the last axis of the argument."""
    x = _f32(np.random.default_rng(4), 3, 2, 5)
    assert_same(*_both(lambda v: v @ v.T, (x,), in_axes=-1))


def test_pytree_args_with_prefix_in_axes(assert_same):
    """in_axes may be a tree prefix of tuple/dict arguments (an axis covers a subtree)."""
    rng = np.random.default_rng(5)
    params = (_f32(rng, 2, 3), _f32(rng, 2))
    data = {"x": _f32(rng, 3, 4), "y": _f32(rng, 4, 2)}

    def f(p, d):
        w, b = p
        return w @ d["x"] + b - d["y"]

    assert_same(*_both(f, (params, data), in_axes=(None, {"x": 1, "y": 0})))


def test_pytree_outputs(assert_same):
    """A function returning a tuple holding a dict returns the same tree, batched."""
    x = _f32(np.random.default_rng(6), 4, 3)
    assert_same(*_both(lambda v: (v * 2, {"s": v.sum(), "m": jnp.max(v)}), (x,)))


def test_multiple_outputs_different_out_axes(assert_same):
    """Each output gets its own out_axes entry, including None for an unbatched output."""
    rng = np.random.default_rng(7)
    x, c = _f32(rng, 4, 3), _f32(rng, 3)
    out_axes = (1, {"a": 0, "b": -1}, None)
    assert_same(
        *_both(
            lambda v, k: (jnp.outer(v, k), {"a": v.sum(), "b": v * k}, k * 2),
            (x, c),
            in_axes=(0, None),
            out_axes=out_axes,
        )
    )


def test_keyword_arguments_map_on_axis_0(assert_same):
    """Keyword arguments are mapped over axis 0, whatever in_axes says for positionals."""
    rng = np.random.default_rng(8)
    x, y = _f32(rng, 3, 4), _f32(rng, 4, 3)
    assert_same(*_both(lambda a, b: a * b, (x,), {"b": y}, in_axes=(1,)))


def test_axis_size_without_mapped_argument(assert_same):
    """axis_size with in_axes=None repeats the unbatched result axis_size times."""
    x = _f32(np.random.default_rng(9), 2, 3)
    assert_same(*_both(lambda a: jnp.sin(a) * 2, (x,), in_axes=None, axis_size=3))


def test_axis_size_with_no_arguments(assert_same):
    """axis_size alone batches a function of no arguments."""
    assert_same(*_both(lambda: jnp.arange(3.0) * 2, (), in_axes=(), axis_size=2))


def test_argument_the_function_ignores(assert_same):
    """A function may ignore one of its (mapped) arguments, as with jax.vmap."""
    rng = np.random.default_rng(10)
    x, c = _f32(rng, 4, 3), _f32(rng, 3)
    assert_same(*_both(lambda a, k: k * 2, (x, c), in_axes=(0, None)))


# --- inputs and results ---------------------------------------------------------------


def test_numpy_and_jax_array_inputs_agree(assert_same):
    """numpy and jax.Array inputs give the same results, both equal to jax.vmap's."""
    x = _f32(np.random.default_rng(11), 4, 3)
    compiled = vmlir.compile(vmlir.vmap(lambda v: jnp.tanh(v) * v.sum()))
    expected = jax.vmap(lambda v: jnp.tanh(v) * v.sum())(x)
    assert_same(compiled(x), expected)
    assert_same(compiled(jnp.asarray(x)), expected)


def test_results_are_jax_arrays():
    """Every output leaf is a jax.Array, also for numpy inputs."""
    x = _f32(np.random.default_rng(12), 4, 3)
    out = vmlir.compile(vmlir.vmap(lambda v: (v * 2, v.sum())))(x)
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree_util.tree_leaves(out))
    assert len(jax.tree_util.tree_leaves(out)) == 2


def test_compiled_inside_user_jit(assert_same):
    """A compiled function called inside a user's jax.jit gives jax.vmap's result."""
    x = _f32(np.random.default_rng(13), 4, 3)
    compiled = vmlir.compile(vmlir.vmap(jnp.sin))
    actual = jax.jit(lambda a: compiled(a) * 3 + 1)(x)
    assert_same(actual, jax.vmap(jnp.sin)(x) * 3 + 1)


def test_compiles_once_per_signature():
    """The per-example function is traced once per input signature, not once per call."""
    traces = []

    def f(v):
        traces.append(v.shape)
        return jnp.sin(v) * 2

    compiled = vmlir.compile(vmlir.vmap(f))
    x = np.ones((4, 3), np.float32)
    compiled(x)
    compiled(x + 1)
    compiled(jnp.asarray(x))
    compiled.lower(x)
    assert traces == [(3,)]
    compiled(np.ones((5, 3), np.float32))
    compiled(np.ones((4, 2), np.float32))
    assert traces == [(3,), (3,), (2,)]


def test_weak_typed_python_float_unmapped(assert_same):
    """A Python float with in_axes=None promotes as in jax.vmap (stays float32)."""
    x = _f32(np.random.default_rng(14), 4, 3)
    assert_same(*_both(lambda a, s: a * s + s, (x, 2.5), in_axes=(0, None)))


def test_weak_type_of_result_matches_jax():
    """A weakly typed result (int32 array times a Python float) stays weak, as in jax.vmap."""
    x = np.arange(12, dtype=np.int32).reshape(4, 3)
    ours, theirs = _both(lambda a, s: a * s, (x, 2.5), in_axes=(0, None))
    assert theirs.weak_type
    assert ours.weak_type == theirs.weak_type


def test_vmap_of_grad(assert_same):
    """vmlir.vmap(jax.grad(loss), in_axes=(None, 0, 0)) gives per-example gradients."""
    rng = np.random.default_rng(15)
    args = (_f32(rng, 2, 3), _f32(rng, 5, 3), _f32(rng, 5, 2))

    def loss(w, x, y):
        return jnp.mean((jnp.tanh(w @ x) - y) ** 2)

    assert_same(*_both(jax.grad(loss), args, in_axes=(None, 0, 0)))


def test_integer_program(assert_same):
    """int32 arithmetic, comparisons and jnp.where batch exactly as in jax.vmap."""
    rng = np.random.default_rng(16)
    x = rng.integers(-20, 20, size=(4, 5)).astype(np.int32)
    k = np.int32(3)

    def f(a, c):
        return jnp.where(a > c, a * c - 1, a // 2 + a % 3), jnp.maximum(a, 0).sum()

    assert_same(*_both(f, (x, k), in_axes=(0, None)))


def test_boolean_program(assert_same):
    """Boolean inputs and outputs (masks, logical ops, where) batch as in jax.vmap."""
    rng = np.random.default_rng(17)
    x = _f32(rng, 4, 5)
    mask = rng.integers(0, 2, size=(4, 5)).astype(bool)

    def f(m, a):
        pos = a > 0
        return jnp.logical_and(m, pos) | ~m, jnp.where(m, a, -a), jnp.any(pos)

    assert_same(*_both(f, (mask, x)))


def test_numpy_inputs_not_mutated():
    """Calling a compiled function leaves the user's numpy inputs unchanged."""
    rng = np.random.default_rng(18)
    x, w = _f32(rng, 4, 3), _f32(rng, 2, 3)
    x_before, w_before = x.copy(), w.copy()
    vmlir.compile(vmlir.vmap(lambda w, v: w @ (v * 2), in_axes=(None, 0)))(w, x)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(w, w_before)


# --- stages and pipelines -------------------------------------------------------------

DEFAULT_STAGES = ["jax", "batch", *DEFAULT_PIPELINE.split(","), "stablehlo"]


def test_stages_in_order():
    """Lowered.stages() names every stage of the default pipeline, in order."""
    x = np.ones((4, 3), np.float32)
    lowered = vmlir.compile(vmlir.vmap(jnp.sin)).lower(x)
    assert lowered.stages() == DEFAULT_STAGES


def test_lower_accepts_shape_dtype_struct():
    """lower() takes jax.ShapeDtypeStruct, and its final stage is batched for that shape."""
    spec = jax.ShapeDtypeStruct((4, 3), jnp.float32)
    text = vmlir.compile(vmlir.vmap(jnp.sin)).lower(spec).as_text("stablehlo")
    assert "tensor<4x3xf32>" in text


def test_unknown_stage_raises_key_error_naming_stages():
    """as_text of an unknown stage raises KeyError listing the stages there are."""
    lowered = vmlir.compile(vmlir.vmap(jnp.sin)).lower(np.ones((4, 3), np.float32))
    with pytest.raises(KeyError) as info:
        lowered.as_text("nope")
    assert info.value.args[0] == "no stage 'nope'; stages are " + ", ".join(DEFAULT_STAGES)


def test_custom_pipeline_is_honoured(assert_same):
    """pipeline="batch-vectorize,batch-lower" runs just those passes and stays correct."""
    x = _f32(np.random.default_rng(19), 4, 3)
    compiled = vmlir.compile(vmlir.vmap(lambda v: jnp.exp(v).sum()), pipeline="batch-vectorize,batch-lower")
    assert_same(compiled(x), jax.vmap(lambda v: jnp.exp(v).sum())(x))
    stages = compiled.lower(x).stages()
    assert stages == ["jax", "batch", "batch-vectorize", "batch-lower", "stablehlo"]


def test_bad_pipeline_name_raises_vmlir_error():
    """An unknown pass name in pipeline= raises VmlirError naming it."""
    compiled = vmlir.compile(vmlir.vmap(jnp.sin), pipeline="batch-vectorize,nope")
    with pytest.raises(vmlir.VmlirError) as info:
        compiled(np.ones((4, 3), np.float32))
    assert str(info.value) == (
        "bad pass pipeline 'batch-vectorize,nope': Unrecognized passes: ['nope']"
    )
