"""One ragged trace re-specialized to every bucket (vmlir/frontend/ragged_resize.py): the
program resized from padded size P to P' is the very program a fresh trace at P' gives,
for every kind of op that carries the padded size (types, splat constants, slices that
keep the ragged axis whole, pads of a gradient, cumulative windows, scans, sorts...)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from test_ragged_ops import CASES

from vmlir.frontend.ragged import trace_ragged
from vmlir.ir import print_custom


def _shapes(p: int):
    return [jax.ShapeDtypeStruct((p, 3), jnp.float32)]


def pooled(x):
    return jnp.mean(jnp.tanh(x), axis=0), jnp.var(x, ddof=1), jax.nn.softmax(x[:, 0])


def attention(x):
    p = jax.nn.softmax(x @ x[0])
    return p @ x, x.T @ x, x.shape[0] * jnp.ones(2)


def _op_name(message: str) -> str:
    return message.split(" (from ")[0]


@pytest.mark.parametrize("fn", [pooled, attention, *CASES], ids=lambda f: f.__name__)
def test_resized_program_equals_a_fresh_trace(fn):
    template = trace_ragged(fn, _shapes, [0], [0], 4, 5, span=40)
    fresh = trace_ragged(fn, _shapes, [0], [0], 7, 23)
    resized = template.at(23, 7)
    assert resized.padded_size == fresh.padded_size == 23
    assert print_custom(resized.module) == print_custom(fresh.module)
    assert resized.out_avals == fresh.out_avals
    # The op that sets the minimum length is the same; its Python line is the template's.
    # Which line a trace carries is jax's: it reuses lowerings, locations included (the
    # GRU's two scans share one body, located at the first), and once in CI a fresh
    # trace carried none (not reproduced here).
    assert resized.min_length == fresh.min_length
    assert _op_name(resized.min_length_op) == _op_name(fresh.min_length_op)
    assert resized.min_length_op == template.min_length_op
    # the template stays as it was: a second bucket resizes the same program
    assert print_custom(template.at(23, 7).module) == print_custom(fresh.module)


def test_a_size_some_fixed_dimension_has_is_skipped():
    """P' = 3 would make the feature dimension (3) ragged: the next free size is used,
    as a fresh trace does."""
    template = trace_ragged(pooled, _shapes, [0], [0], 4, 5, span=40)
    fresh = trace_ragged(pooled, _shapes, [0], [0], 2, 3)
    resized = template.at(3, 2)
    assert resized.padded_size == fresh.padded_size == 4
    assert print_custom(resized.module) == print_custom(fresh.module)


def fit(p):
    """A least-squares line through the example's points, then a small head on it."""
    v = p[:, :1] ** jnp.arange(2, dtype=p.dtype)
    coef = jnp.linalg.solve(v.T @ v + 1e-3 * jnp.eye(2), v.T @ p[:, 1])
    return jnp.tanh(coef * 2.0).sum() + coef, jnp.cumsum(p[:, 1])


def test_the_size_free_tail_runs_once_over_every_bucket(monkeypatch):
    """After `v.T @ v` nothing depends on the padded size: the solve runs once over all
    the examples (not in the buckets' programs), and the results equal the loop's."""
    import numpy as np
    from ragged_checks import check_equal_to_loop

    import vmlir
    import vmlir.ragged

    monkeypatch.setattr(vmlir.ragged, "PROGRAM_ROWS_PER_OP", 0)  # three buckets of short examples
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(n, 2)).astype(np.float32) for n in (3, 17, 5, 30, 9, 4, 22)]
    f = vmlir.vmap(fit, ragged=0, max_buckets=3)
    check_equal_to_loop(f(xs), [fit(jnp.asarray(x)) for x in xs])
    texts = f.lower(xs)
    assert len(texts) == 3
    for t in texts:
        assert "reduce_window" in t["stablehlo"]  # the cumsum stays in the buckets
        assert "lapack" not in t["stablehlo"]  # the solve is in the tail, not per bucket


def test_a_template_at_padded_size_two_keeps_attribute_types():
    """Traced at padded size 2, a cumulative op's `padding` attribute is a 2x2 tensor:
    only values (and splat constants) are resized, never such an attribute's type."""
    template = trace_ragged(CASES[0], _shapes, [0], [0], 4, 2, span=40)
    assert template.padded_size == 2
    fresh = trace_ragged(CASES[0], _shapes, [0], [0], 3, 9)
    assert print_custom(template.at(9, 3).module) == print_custom(fresh.module)
