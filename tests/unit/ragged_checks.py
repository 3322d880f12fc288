"""Checks shared by the ragged-vmap tests."""

from __future__ import annotations

import jax
import numpy as np


def check_equal_to_loop(out, ref) -> None:
    """Every output of the ragged vmap equals the per-example loop's, shape and dtype too."""
    out_leaves = jax.tree_util.tree_leaves(out, is_leaf=lambda v: isinstance(v, list))
    for k, leaf in enumerate(out_leaves):
        for i, r in enumerate(ref):
            expected = np.asarray(jax.tree_util.tree_leaves(r)[k])
            got = np.asarray(leaf[i])
            assert got.shape == expected.shape, f"output {k}, example {i}"
            assert got.dtype == expected.dtype, f"output {k}, example {i}"
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=f"output {k}, example {i}")


_LOOPS: dict = {}


def loop(fn, examples, key=None) -> list:
    """The reference: `fn` on each example (a tuple of arguments) at its true shape.
    jax.jit of `fn` (one compile per distinct shape) costs about half of running it op
    by op; with `key`, the results are kept for the next test asking for the same."""
    if key is not None and key in _LOOPS:
        return _LOOPS[key]
    jitted = jax.jit(fn)
    out = [jitted(*e) for e in examples]
    if key is not None:
        _LOOPS[key] = out
    return out
