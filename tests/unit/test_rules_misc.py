"""Batching rules of passes/rules/misc.py (and reduce with per-example init values),
checked against jax.vmap, or against a per-example loop where jax.vmap has no rule."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from difftest import assert_same, axis_variants, check, random_array

B = 3  # batch size: small, the rules do not depend on it


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def check_variants(fn, per_example, seed: int = 0, **tol) -> None:
    """`check` with the batch axis at every position of every operand (and unbatched)."""
    for args, axes in axis_variants(per_example, B, _rng(seed)):
        check(fn, args, in_axes=axes, **tol)


def check_loop(fn, args, in_axes) -> None:
    """vmlir.vmap(fn) against fn run on each example (for what jax.vmap cannot batch)."""
    size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    one = jax.jit(fn)
    per = [
        one(*[a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, in_axes)])
        for i in range(size)
    ]
    want = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *per)
    got = vmlir.compile(vmlir.vmap(fn, in_axes=in_axes))(*args)
    assert_same(got, want)


def loop_variants(fn, per_example, seed: int = 0) -> None:
    for args, axes in axis_variants(per_example, B, _rng(seed)):
        check_loop(fn, args, axes)


# --- reverse, pad ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_flip(dtype):
    """jnp.flip (stablehlo.reverse) of one and of all dims, batch axis anywhere."""
    x = random_array(_rng(), (4, 3), dtype)
    check_variants(lambda v: (jnp.flip(v, 0), jnp.flip(v)), [x])


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_lax_pad_negative_interior(dtype):
    """lax.pad with negative edge and interior padding; padding value batched or not."""
    x, p = random_array(_rng(), (5, 2), dtype), np.asarray(7, dtype)
    check_variants(lambda v, q: lax.pad(v, q, [(-1, 2, 1), (1, -1, 0)]), [x, p])


def test_jnp_pad_modes():
    """jnp.pad constant (0 and a batched value), edge and reflect."""
    x = random_array(_rng(), (4, 3), "float32")
    pads = lambda v, c: (  # noqa: E731
        jnp.pad(v, ((1, 2), (0, 1))),
        jnp.pad(v, 2, constant_values=c),
        jnp.pad(v, 1, mode="edge"),
        jnp.pad(v, 1, mode="reflect"),
    )
    check_variants(lambda v: pads(v, np.float32(-3)), [x])
    check(pads, [x.T[None].repeat(B, 0).transpose(1, 2, 0), np.float32([1, 2, 3])], in_axes=(2, 0))


# --- reduce_window -------------------------------------------------------------------------


def test_cumulative_float():
    """jnp.cumsum/cumprod, lax.cummax/cummin (reduce_window) along each per-example dim."""
    x = random_array(_rng(), (4, 3), "float32")
    ops = (jnp.cumsum, jnp.cumprod, lax.cummax, lax.cummin)
    check_variants(lambda v: [op(v, axis=d) for op in ops for d in (0, 1)], [x])


def test_cumulative_int_reverse():
    """Integer cumsum/cummax, also reversed (reverse around reduce_window)."""
    x = random_array(_rng(), (5,), "int32")
    check_variants(
        lambda v: (jnp.cumsum(v), lax.cummax(v, reverse=True), lax.cumsum(v, reverse=True)),
        [x],
    )


def test_pooling():
    """Max pool 2x2/2 (VALID) and a strided, padded, dilated sum pool."""
    x = random_array(_rng(), (4, 6), "float32")
    check_variants(
        lambda v: (
            lax.reduce_window(v, -jnp.inf, lax.max, (2, 2), (2, 2), "VALID"),
            lax.reduce_window(
                v, 0.0, lax.add, (2, 3), (1, 2), [(1, 0), (2, 1)],
                base_dilation=(2, 1), window_dilation=(1, 2),
            ),
        ),
        [x],
    )


def test_reduce_window_batched_init():
    """Per-example init values (jax.vmap raises): they start each window once and are
    not counted for padding or base-dilation holes (as XLA runs the per-example op)."""
    x, i = random_array(_rng(), (5, 4), "float32"), np.float32(10)
    loop_variants(
        lambda v, c: (
            lax.reduce_window(v, c, lax.add, (2, 2), (1, 2), [(1, 2), (0, 1)]),
            lax.reduce_window(v, c, lax.max, (3, 1), (1, 1), "SAME", base_dilation=(2, 1)),
        ),
        [x, i],
    )


def test_reduce_window_variadic_batched_init():
    """A variadic reduce_window (value, index) with one batched and one uniform init."""

    def running_argmax(v, c):
        idx = lax.iota(jnp.int32, v.shape[0])

        def body(a, b):
            pick = (a[0] > b[0]) | ((a[0] == b[0]) & (a[1] < b[1]))
            return jnp.where(pick, a[0], b[0]), jnp.where(pick, a[1], b[1])

        return lax.reduce_window((v, idx), (c, jnp.int32(-1)), body, (3,), (1,), [(2, 0)])

    x = random_array(_rng(), (3, 6), "float32")
    check_loop(running_argmax, [x, np.float32([0, 5, -9])], (0, 0))


# --- reduce with per-example init values ---------------------------------------------------


def test_reduce_batched_init():
    """lax.reduce (add, max, mul) with a per-example init (jax.vmap raises
    NotImplementedError): the init is combined once, also over several dims."""
    x, c = random_array(_rng(), (3, 4), "float32"), np.float32(2.5)
    loop_variants(
        lambda v, i: [
            lax.reduce(v, i, op, dims)
            for op in (lax.add, lax.max, lax.mul)
            for dims in ((0,), (0, 1))
        ],
        [x, c],
    )


def test_reduce_batched_init_int_and_empty():
    """Integer reduction with batched init; an empty reduction gives the init."""
    x = random_array(_rng(), (3, 4), "int32")
    check_loop(lambda v, i: lax.reduce(v, i, lax.add, (1,)), [x, np.int32([1, -2, 3])], (None, 0))
    e = np.zeros((3, 0, 2), np.float32)
    check_loop(lambda v, i: lax.reduce(v, i, lax.max, (0,)), [e, np.float32([1, 2, 3])], (0, 0))


def test_reduce_variadic_batched_init():
    """An argmax-like variadic body (order-sensitive tie-breaking) with batched inits."""

    def argmax(v, c, j):
        idx = lax.broadcasted_iota(jnp.int32, v.shape, 0)

        def body(a, b):
            pick = (a[0] > b[0]) | ((a[0] == b[0]) & (a[1] < b[1]))
            return jnp.where(pick, a[0], b[0]), jnp.where(pick, a[1], b[1])

        return lax.reduce((v, idx), (c, j), body, (0,))

    v = np.float32([[1, 3, 3, 0], [2, 2, 2, 2], [5, 1, 5, 9]]).T  # ties
    loop_variants(argmax, [v[:, 0], np.float32(3), np.int32(-1)])


# --- sort ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_sort_and_argsort(dtype):
    """jnp.sort / jnp.argsort along each per-example dim (argsort sorts a uniform iota)."""
    x = random_array(_rng(), (4, 3), dtype)
    check_variants(lambda v: (jnp.sort(v, 0), jnp.sort(v, 1), jnp.argsort(v, 0)), [x])


def test_argsort_stable_with_ties():
    """Many ties: a stable argsort keeps the original order of equal keys."""
    x = np.int32([2, 1, 2, 0, 1, 2, 0, 0])
    check_variants(lambda v: (jnp.argsort(v, stable=True), jnp.argsort(-v, stable=True)), [x])


def test_lax_sort_multi_operand_num_keys():
    """lax.sort of three operands on two keys (ties in the first key); a sample of the 26
    batching combinations (test_sort_and_argsort covers every axis position)."""
    k1 = np.int32([1, 0, 1, 0, 1])
    k2 = np.float32([0.5, 2.0, -1.0, 2.0, 0.5])
    p = np.arange(5, dtype=np.float32)
    sort = lambda a, b, c: lax.sort((a, b, c), num_keys=2)  # noqa: E731
    wanted = {(0, 0, 0), (1, None, 0), (None, 1, None), (None, None, 1), (1, 0, None)}
    for args, axes in axis_variants([k1, k2, p], B, _rng()):
        if axes in wanted:
            check(sort, args, in_axes=axes)


# --- bitcast_convert, optimization_barrier ---------------------------------------------------


def test_bitcast_convert_same_width():
    """f32 <-> i32 reinterpretation, batch axis kept."""
    x = random_array(_rng(), (4, 3), "float32")
    check_variants(
        lambda v: lax.bitcast_convert_type(lax.bitcast_convert_type(v, jnp.int32) + 1, jnp.float32),
        [x],
    )


def test_bitcast_convert_width_changing():
    """f32 -> u8 adds a minor dim; u8[..., 4] -> f32 removes it (jax.vmap fails when the
    batch axis is the last one there; vmlir moves it, checked against a loop)."""
    x = random_array(_rng(), (2, 3), "float32")
    check_variants(lambda v: lax.bitcast_convert_type(v, jnp.uint8), [x])
    u = _rng().integers(0, 256, size=(3, 4)).astype(np.uint8)
    to_f32 = lambda v: lax.bitcast_convert_type(v, jnp.float32)  # noqa: E731
    loop_variants(to_f32, [u])


def test_optimization_barrier_and_checkpoint():
    """lax.optimization_barrier passes values through with their own batch axes (uniform
    ones stay uniform); jax.checkpoint's gradient emits one."""
    x, w = random_array(_rng(), (4,), "float32"), random_array(_rng(1), (4,), "float32")
    check_variants(lambda a, b: [t * 2 for t in lax.optimization_barrier((a, b))], [x, w])
    f = jax.grad(lambda v: jax.checkpoint(lambda u: jnp.sin(jnp.sin(u)))(v).sum())
    check(f, [np.stack([x, w, x + w])])


# --- convolution, select_and_scatter, rng_bit_generator ----------------------------------------


def test_convolve_1d():
    """jnp.convolve (full and same): signal, kernel or both batched."""
    x, w = random_array(_rng(), (6,), "float32"), random_array(_rng(1), (3,), "float32")
    check_variants(lambda a, b: (jnp.convolve(a, b), jnp.convolve(a, b, mode="same")), [x, w])


def test_conv_groups():
    """A 2-D conv with feature_group_count 2 (NCHW) and a 1-D one with batch_group_count
    2; both operands batched with batch groups: VmlirUnsupportedError."""
    rng = _rng()
    x, w = random_array(rng, (2, 4, 5, 6), "float32"), random_array(rng, (4, 2, 3, 2), "float32")
    def conv(a, b):
        return lax.conv_general_dilated(a, b, (1, 2), "SAME", feature_group_count=2)

    for args, axes in axis_variants([x, w], B, rng):
        if axes in {(0, None), (None, 3), (2, 1)}:
            check(conv, args, in_axes=axes)
    y, v = random_array(rng, (4, 3, 6), "float32"), random_array(rng, (4, 3, 2), "float32")
    def bconv(a, b):
        return lax.conv_general_dilated(a, b, (1,), "VALID", batch_group_count=2)

    check(bconv, [y[None].repeat(B, 0), v], in_axes=(0, None))
    check(bconv, [y, v[..., None].repeat(B, -1)], in_axes=(None, 3))
    with pytest.raises(vmlir.VmlirUnsupportedError, match="batch_group_count > 1"):
        vmlir.compile(vmlir.vmap(bconv))(y[None].repeat(B, 0), v[None].repeat(B, 0))


def test_max_pool_grad():
    """jax.grad of max pooling (stablehlo.select_and_scatter), VALID and SAME."""
    x = random_array(_rng(), (4, 6), "float32")
    check_variants(
        jax.grad(
            lambda v: (lax.reduce_window(v, -jnp.inf, lax.max, (2, 2), (2, 2), "VALID") ** 2).sum()
            + lax.reduce_window(v, -jnp.inf, lax.max, (3, 2), (2, 1), "SAME").sum()
        ),
        [x],
    )


def test_rbg_random_like_jax_vmap():
    """jax.random with "rbg" keys (stablehlo.rng_bit_generator): the same bits as jax.vmap,
    whose rule draws the whole batch from the first example's key."""
    keys = np.stack([jax.random.key_data(jax.random.key(i, impl="rbg")) for i in range(B)])
    draw = lambda k: jax.random.normal(jax.random.wrap_key_data(k, impl="rbg"), (5,))  # noqa: E731
    check(draw, [keys], in_axes=0)
    check(draw, [keys.T], in_axes=1)


# --- iota-derived values, custom_call ------------------------------------------------------


def test_iota_derived_operands():
    """Ops reading iota-made (uniform) values next to batched ones."""
    x = random_array(_rng(), (4, 4), "float32")
    check_variants(
        lambda v: (jnp.tril(v), v * jnp.arange(4.0), jnp.cumsum(jnp.arange(4.0) + v[0])),
        [x],
    )


def test_custom_call_has_no_rule():
    """A custom_call of an unknown target: VmlirUnsupportedError naming the target."""
    x = random_array(_rng(), (3, 3, 3), "float32")
    f = lambda m: jax.ffi.ffi_call("my_kernel", jax.ShapeDtypeStruct(m.shape, m.dtype))(m)  # noqa: E731
    with pytest.raises(vmlir.VmlirUnsupportedError) as info:
        vmlir.compile(vmlir.vmap(f))(x)
    assert re.fullmatch(
        r"'stablehlo\.custom_call'( \(from .+\))?: custom_call @my_kernel has no batching rule "
        r"\(vmlir knows the linear-algebra kernels of passes/rules/linalg\.py, ApproxTopK and Python "
        r"callbacks\)",
        str(info.value),
    ), str(info.value)
