"""Batching rules for gather, scatter, dynamic_slice and dynamic_update_slice, against
jax.vmap: every indexing pattern JAX lowers to them, with the batch axis at every position
of every operand and with unbatched operands (difftest.axis_variants).

Index operands are redrawn in a chosen range after axis_variants made them: in range for
the ordinary tests, out of range on purpose for the tests of clamping (gather,
dynamic_slice, dynamic_update_slice) and dropping (scatter).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import vmlir
from difftest import assert_same, axis_variants, check, random_array
from vmlir.errors import VmlirUnsupportedError
from vmlir.ir import parse_module
from vmlir.passes.vectorize import BatchVectorizePass
from xdsl.context import Context

B = 3
F32, I32 = np.float32, np.int32


def _data(shape, dtype=F32, seed=0) -> np.ndarray:
    return random_array(np.random.default_rng(seed), shape, dtype)


def _check_all(fn, args, ranges: dict[int, tuple[int, int]], seed: int = 0) -> int:
    """check(fn) for every axis variant of `args`; operand k in `ranges`, when batched,
    gets fresh integers in [lo, hi). Returns the number of variants checked."""
    rng = np.random.default_rng(seed)
    n = 0
    for batched, axes in axis_variants(args, B, rng):
        for k, (lo, hi) in ranges.items():
            if axes[k] is not None:
                v = batched[k]
                batched[k] = rng.integers(lo, hi, size=np.shape(v)).astype(np.asarray(v).dtype)
        try:
            check(fn, batched, in_axes=axes)
        except Exception as e:
            e.add_note(f"in_axes={axes}")
            raise
        n += 1
    assert n > 0
    return n


# --- dynamic_slice (x[i], x[i, j], lax.dynamic_slice, jnp.roll) ----------------------


def test_scalar_index():
    """x[i] (dynamic_slice, or a gather once i is batched), float and int data."""
    _check_all(
        lambda x, i: (jnp.asarray(x)[i], jnp.asarray(x).astype(I32)[i]),
        [_data((5, 3)), I32(2)], {1: (-5, 5)},
    )


def test_two_scalar_indices():
    """x[i, j]: both starts batched, one of them, or only the data."""
    _check_all(
        lambda x, i, j: jnp.asarray(x)[i, j], [_data((5, 3)), I32(4), I32(1)],
        {1: (0, 5), 2: (0, 3)},
    )


def test_dynamic_slice():
    """lax.dynamic_slice with two traced starts and a window smaller than the operand."""
    _check_all(
        lambda x, i, j: lax.dynamic_slice(x, (i, j), (2, 2)),
        [_data((5, 3), I32), I32(1), I32(0)], {1: (0, 4), 2: (0, 2)},
    )


def test_roll_traced_shift():
    """jnp.roll with a traced shift (concatenate + dynamic_slice at a computed start)."""
    _check_all(lambda x, s: jnp.roll(x, s, axis=0), [_data((5, 3)), I32(2)], {1: (-7, 7)})


# --- dynamic_update_slice ----------------------------------------------------------


def test_dynamic_update_slice():
    """lax.dynamic_update_slice: uniform start (stays one), batched start (a scatter)."""
    _check_all(
        lambda x, u, i: lax.dynamic_update_slice(x, u, (i, 1)),
        [_data((5, 3)), _data((2, 2), seed=1), I32(1)], {2: (0, 4)},
    )


def test_dynamic_update_slice_two_starts():
    """dynamic_update_slice with two traced starts, batched independently; int data."""
    _check_all(
        lambda x, i, j: lax.dynamic_update_slice(x, jnp.ones((2, 2), x.dtype), (i, j)),
        [_data((4, 3), I32), I32(1), I32(0)], {1: (0, 3), 2: (0, 2)},
    )


# --- gather ------------------------------------------------------------------------


def test_index_array():
    """x[idx] with an index array (gather): operand, indices or both batched; float and
    int data."""
    _check_all(
        lambda x, idx: (jnp.asarray(x)[idx], jnp.asarray(x).astype(I32)[idx]),
        [_data((5, 3)), np.array([4, 0, 2, 2], I32)], {1: (0, 5)},
    )


def test_index_array_middle_axis():
    """x[:, idx] on a rank-3 operand with a 2-d index array (offset dims on both sides)."""
    _check_all(
        lambda x, idx: jnp.asarray(x)[:, idx], [_data((2, 4, 3)), np.array([[3, 0], [1, 1]], I32)],
        {1: (0, 4)},
    )


def test_take():
    """jnp.take along axis 1 (default mode: fill out-of-range with NaN)."""
    _check_all(
        lambda x, idx: jnp.take(x, idx, axis=1), [_data((4, 3)), np.array([2, 0, 1], I32)],
        {1: (0, 3)},
    )


def test_take_along_axis():
    """jnp.take_along_axis: the per-example gather already has batching dims."""
    _check_all(
        lambda x, idx: jnp.take_along_axis(x, idx, axis=1),
        [_data((4, 3)), np.array([[0, 2], [1, 1], [2, 0], [0, 0]], I32)], {1: (0, 3)},
    )


def test_one_hot_rows():
    """jnp.eye(n)[i]: a uniform table indexed by a batched label (one-hot rows)."""
    _check_all(lambda i: jnp.eye(5, dtype=jnp.float32)[i], [I32(3)], {0: (0, 5)})


def test_point_gather_two_index_arrays():
    """x[idx, jnp.arange(n) % m]: a gather with a 2-component index vector."""
    _check_all(
        lambda x, idx: jnp.asarray(x)[idx, jnp.arange(4) % 3],
        [_data((5, 3)), np.array([1, 4, 0, 2], I32)], {1: (0, 5)},
    )


def test_batched_indices_uniform_data():
    """Only the index array is batched (on its last axis): the table is read once."""
    x, idx = _data((5, 3)), np.random.default_rng(1).integers(0, 5, (2, B)).astype(I32)
    check(lambda x, idx: jnp.asarray(x)[idx], [x, idx], in_axes=(None, 1))


def test_nested_vmap_gather():
    """A gather batched twice (nested vmlir.vmap): the second time it has batching dims."""
    x, idx = _data((B, 2, 5)), np.random.default_rng(2).integers(0, 5, (B, 2, 4)).astype(I32)
    f = lambda x, idx: jnp.asarray(x)[idx]  # noqa: E731
    got = vmlir.compile(vmlir.vmap(vmlir.vmap(f)))(x, idx)
    assert_same(got, jax.vmap(jax.vmap(f))(x, idx))


# --- scatter -----------------------------------------------------------------------


def test_at_scalar_index_methods():
    """x.at[i].set/add/mul/min/max(v), scalar index and update (one scatter each)."""
    methods = ("set", "add", "multiply", "min", "max")
    _check_all(
        lambda x, i, v: {m: getattr(jnp.asarray(x).at[i], m)(v) for m in methods},
        [_data((5,)), I32(2), F32(0.5)], {1: (0, 5)},
    )


def test_at_set_row():
    """x.at[i].set(row) with a row update, integer data."""
    _check_all(
        lambda x, i, v: jnp.asarray(x).at[i].set(v),
        [_data((4, 3), I32), I32(2), _data((3,), I32, 1)], {1: (0, 4)},
    )


def test_add_duplicate_indices():
    """x.at[idx].add(v) where indices repeat (4 indices into 2 slots): updates accumulate,
    float and int data."""

    def f(x, idx, v):
        x, v = jnp.asarray(x), jnp.asarray(v)
        return x.at[idx].add(v), x.astype(I32).at[idx].add(v.astype(I32))

    _check_all(f, [_data((3,)), np.array([1, 1, 0, 1], I32), _data((4,), seed=1) * 3], {1: (0, 2)})


def test_scatter_batched_indices_uniform_data():
    """Only the index array is batched: each example adds into its own copy of x."""
    x, v = _data((4, 3)), _data((2, 3), seed=1)
    idx = np.random.default_rng(3).integers(0, 4, (B, 2)).astype(I32)
    check(lambda x, idx, v: jnp.asarray(x).at[idx].add(v), [x, idx, v], in_axes=(None, 0, None))


# --- out-of-range indices: clamped (gather, dynamic_slice), dropped (scatter) ---------

OUT = np.array([-9, 7, 100], I32)  # one per example (B == 3): below, above, far above


def test_out_of_range_scalar_index_clamps():
    """x[i] with i out of range per example clamps like jax.vmap (batched and uniform data)."""
    x = _data((5, 3))
    check(lambda x, i: jnp.asarray(x)[i], [x, OUT], in_axes=(None, 0))
    check(lambda x, i: jnp.asarray(x)[i], [_data((B, 5, 3)), OUT], in_axes=(0, 0))
    check(lambda x, i: jnp.asarray(x)[i], [_data((5, B, 3)), I32(9)], in_axes=(1, None))


def test_out_of_range_dynamic_slice_clamps():
    """lax.dynamic_slice starting past the end is moved back so the window fits."""
    f = lambda x, i: lax.dynamic_slice(x, (i, i), (2, 2))  # noqa: E731
    check(f, [_data((4, 3, B)), OUT], in_axes=(2, 0))
    check(f, [_data((4, 3)), OUT], in_axes=(None, 0))


def test_out_of_range_gather():
    """x[idx] (clamped) and jnp.take (NaN fill) with out-of-range index arrays."""
    idx = np.array([[-9, 7], [100, 0], [4, -1]], I32)
    for f in (lambda x, i: jnp.asarray(x)[i], lambda x, i: jnp.take(x, i, axis=0)):
        check(f, [_data((B, 4, 3)), idx], in_axes=(0, 0))
        check(f, [_data((4, 3)), idx], in_axes=(None, 0))
        check(f, [_data((4, 3, B)), idx[0]], in_axes=(2, None))


def test_out_of_range_scatter_drops():
    """x.at[idx].add(v) and x.at[i].set(v) drop out-of-range updates, per example."""
    idx = np.array([[-9, 1], [100, 3], [4, -1]], I32)
    add = lambda x, i, v: jnp.asarray(x).at[i].add(v)  # noqa: E731
    check(add, [_data((B, 4, 3)), idx, _data((2, 3))], in_axes=(0, 0, None))
    check(add, [_data((4, 3)), idx, _data((2, B, 3))], in_axes=(None, 0, 1))
    check(add, [_data((4, B, 3)), idx[1], _data((2, 3))], in_axes=(1, None, None))
    put = lambda x, i: jnp.asarray(x).at[i].set(7.0)  # noqa: E731
    check(put, [_data((B, 4)), OUT], in_axes=(0, 0))


def test_out_of_range_scatter_clip_mode():
    """x.at[i].set(v, mode='clip'): JAX clamps the indices itself before the scatter."""
    f = lambda x, i: jnp.asarray(x).at[i].set(7.0, mode="clip")  # noqa: E731
    check(f, [_data((B, 4)), OUT], in_axes=(0, 0))


def test_out_of_range_dynamic_update_slice_clamps():
    """dynamic_update_slice with a batched start past the end clamps (scatter would drop)."""
    f = lambda x, u, i: lax.dynamic_update_slice(x, u, (i, 0))  # noqa: E731
    check(f, [_data((5, 3)), _data((2, 3), seed=1), OUT], in_axes=(None, None, 0))
    check(f, [_data((5, B, 3)), _data((B, 2, 3), seed=1), OUT], in_axes=(1, 0, 0))


# --- what is refused ----------------------------------------------------------------


def test_mixed_start_index_types_unsupported():
    """A dynamic_slice whose start indices differ in type (JAX never emits one) cannot be
    stacked into one index tensor once a start is batched: a VmlirUnsupportedError."""
    module = parse_module(
        """
func.func @f(%x: tensor<5x3xf32>, %i: tensor<2xi32>, %j: tensor<i64>) -> tensor<2x2x3xf32> {
  %r = "batch.vmap"(%x, %i, %j) <{in_axes = [none, 0 : i64, none], out_axes = [0 : i64], axis_size = 2 : i64}> ({
  ^bb0(%v: tensor<5x3xf32>, %s: tensor<i32>, %t: tensor<i64>):
    %d = "stablehlo.dynamic_slice"(%v, %s, %t) <{slice_sizes = array<i64: 2, 3>}> : (tensor<5x3xf32>, tensor<i32>, tensor<i64>) -> tensor<2x3xf32>
    "batch.yield"(%d) : (tensor<2x3xf32>) -> ()
  }) : (tensor<5x3xf32>, tensor<2xi32>, tensor<i64>) -> tensor<2x2x3xf32>
  func.return %r : tensor<2x2x3xf32>
}
"""
    )
    message = "start indices of different element types"
    with pytest.raises(VmlirUnsupportedError, match=message) as e:
        BatchVectorizePass().apply(Context(), module)
    assert str(e.value).startswith("'stablehlo.dynamic_slice'")
