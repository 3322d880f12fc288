"""Differential testing against jax.vmap: the helpers every numeric test uses.

`check(fn, args, in_axes, out_axes)` runs `vmlir.compile(vmlir.vmap(fn, ...))` and
`jax.vmap(fn, ...)` on the same inputs and asserts equal structure, shapes, dtypes and
values. `axis_variants(per_example_args, size, rng)` makes batched inputs with the batch
axis at every position of every operand (and unbatched operands), so a rule is tested
with the batch axis where it is hardest.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import numpy as np

import vmlir


def assert_same(got: Any, want: Any, rtol: float = 1e-5, atol: float = 1e-5) -> None:
    got_leaves, got_tree = jax.tree_util.tree_flatten(got)
    want_leaves, want_tree = jax.tree_util.tree_flatten(want)
    assert got_tree == want_tree, f"output structure {got_tree} != jax.vmap's {want_tree}"
    for g, w in zip(got_leaves, want_leaves):
        assert isinstance(g, jax.Array), f"vmlir returned {type(g).__name__}, not a jax.Array"
        assert g.shape == w.shape, f"shape {g.shape} != jax.vmap's {w.shape}"
        assert g.dtype == w.dtype, f"dtype {g.dtype} != jax.vmap's {w.dtype}"
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


def check(
    fn: Callable[..., Any],
    args: Sequence[Any],
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_size: int | None = None,
    axis_name: str | None = None,
    **tol: float,
) -> None:
    """vmlir.vmap(fn) and jax.vmap(fn) agree on `args`."""
    kw = dict(in_axes=in_axes, out_axes=out_axes, axis_size=axis_size, axis_name=axis_name)
    want = jax.vmap(fn, **kw)(*args)
    got = vmlir.compile(vmlir.vmap(fn, **kw))(*args)
    assert_same(got, want, **tol)


def random_array(rng: np.random.Generator, shape: Sequence[int], dtype: Any) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-5 if np.issubdtype(dtype, np.signedinteger) else 0, 6, size=shape).astype(dtype)
    return rng.normal(size=shape).astype(dtype)


def axis_variants(
    per_example: Sequence[np.ndarray], size: int, rng: np.random.Generator
) -> Iterator[tuple[list[np.ndarray], tuple[int | None, ...]]]:
    """Every combination of (batch axis position or None) per operand, except all-None.

    Each batched operand is fresh random data of the per-example dtype with `size` inserted
    at its axis; an unbatched operand is the per-example array itself.
    """
    choices = [[None, *range(np.ndim(x) + 1)] for x in per_example]
    for axes in itertools.product(*choices):
        if all(a is None for a in axes):
            continue
        args = []
        for x, a in zip(per_example, axes):
            if a is None:
                args.append(x)
            else:
                shape = list(np.shape(x))
                shape.insert(a, size)
                args.append(random_array(rng, shape, np.asarray(x).dtype))
        yield args, axes
