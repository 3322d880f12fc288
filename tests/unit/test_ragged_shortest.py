"""A ragged call's shortest examples: `fn` is traced at the padded sizes of the longest
ones, so Python that branches on `x.shape` below them would run the long examples'
branch on the short ones. The call checks the program at its shortest length too
(RaggedTrace.check_length) and refuses a different one."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import vmlir
from vmlir.errors import VmlirUnsupportedError

RNG = np.random.default_rng(4)


def _xs(lengths):
    return [RNG.standard_normal((n, 3)).astype(np.float32) for n in lengths]


def branchy(x):
    if x.shape[0] > 4:  # a threshold between the call's lengths
        return x.sum(0)
    return -x.sum(0)


def scaled(x):
    return jnp.mean(x, 0) * (2.0 if x.shape[0] >= 3 else 1.0)


def test_a_branch_on_the_length_below_the_padded_size_is_refused():
    with pytest.raises(VmlirUnsupportedError) as info:
        vmlir.vmap(branchy, ragged=0)(_xs([3, 9, 6]))
    assert str(info.value) == (
        "ragged vmap: the function's program depends on the padded length (Python code "
        "that branches or loops on x.shape?); it must be the same program for every length "
        "(traced at 10 and at 3, the size the call's shortest examples run at)"
    )


def test_a_constant_chosen_by_the_length_is_refused_naming_its_line():
    with pytest.raises(VmlirUnsupportedError, match=r"test_ragged_shortest.py:\d+\) depends on the length"):
        vmlir.vmap(scaled, ragged=0)(_xs([2, 8, 5]))


@pytest.mark.parametrize("layout", ["auto", "buckets"])
def test_a_later_call_with_shorter_examples_is_checked_again(layout):
    """The first call's examples all take one branch (equal to the loop); a later call
    whose shortest example takes the other is refused, not run on the wrong branch."""
    f = vmlir.vmap(branchy, ragged=0, layout=layout)
    xs = _xs([7, 12, 5])
    got = f(xs)
    np.testing.assert_allclose(np.asarray(got), np.stack([branchy(x) for x in xs]), rtol=1e-6)
    with pytest.raises(VmlirUnsupportedError, match="depends on the padded length"):
        f(_xs([7, 2, 12]))


def test_a_function_without_such_branches_runs_every_length():
    """The check costs one trace and changes nothing for a function that is the same
    program at every length (lengths 1 to 20, results equal to the loop)."""
    f = vmlir.vmap(lambda x: (jnp.tanh(x).mean(0), x[-1] * x.shape[0]), ragged=0, max_buckets=3)
    xs = _xs([20, 1, 2, 7, 13, 3])
    means, lasts = f(xs)
    np.testing.assert_allclose(np.asarray(means), np.stack([jnp.tanh(x).mean(0) for x in xs]), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(lasts), np.stack([x[-1] * x.shape[0] for x in xs]), rtol=1e-5)
