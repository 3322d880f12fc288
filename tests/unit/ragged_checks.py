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
