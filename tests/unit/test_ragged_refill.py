"""Scans over the ragged axis on persistent lanes (layout "refill", vmlir/ragged_refill.py):
equal to a Python loop over the examples at their true shapes, blind to the padding, and
counting the lane-steps they run (docs/ragged.md, "Scans on persistent lanes")."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from ragged_checks import check_equal_to_loop, loop

import vmlir
import vmlir.ragged_refill
from vmlir.errors import VmlirUnsupportedError
from vmlir.ragged_refill import lanes_for, schedule

D = 3
RNG = np.random.default_rng(7)
# random lengths, with 1 and the longest (13) among them
LENGTHS = [1, 13, *RNG.integers(1, 14, size=9).tolist()]
XS = [RNG.normal(size=(n, D)).astype(np.float32) for n in LENGTHS]
W = jnp.asarray(RNG.normal(size=(D, D)).astype(np.float32) / np.sqrt(D))


def _cell(h, xt, w):
    z = jax.nn.sigmoid(xt @ w + h)
    return (1 - z) * h + z * jnp.tanh(xt + h @ w)


def final_state(x, w):
    """A forward scan whose carry is the result (the bench's GRU)."""
    h, _ = lax.scan(lambda h, xt: (_cell(h, xt, w), None), jnp.zeros(D, x.dtype), x)
    return h


def reverse_with_mean(x, w):
    """A reverse scan whose carry and per-step outputs are returned, and a mean over
    the outputs after it (an op outside the scan on the ragged axis)."""
    h, ys = lax.scan(lambda h, xt: (_cell(h, xt, w), jnp.tanh(h) * xt), jnp.ones(D, x.dtype), x, reverse=True)
    return h, ys, jnp.mean(ys, axis=0)


def fori(x, w):
    """fori_loop over x.shape[0], reading x[i] and x[n - 1 - i]."""
    n = x.shape[0]
    return lax.fori_loop(0, n, lambda i, h: _cell(h, x[i] - x[n - 1 - i], w), jnp.zeros(D, x.dtype))


def both_ways(x, w):
    """Features before the scans, a forward and a reverse scan, a sum of their outputs."""
    f = jnp.tanh(x @ w)
    h, ys = lax.scan(lambda h, ft: (_cell(h, ft, w), h[0]), jnp.zeros(D, x.dtype), f)
    g, zs = lax.scan(lambda g, ft: (_cell(g, ft, w), g[1]), h, f, reverse=True)
    return g, jnp.sum(ys * zs)


CASES = [final_state, reverse_with_mean, fori, both_ways]
SIZE = 16  # the storage's padded size (more than the longest example)


def _fills(shape):
    return {
        "nan": np.full(shape, np.nan, np.float32),
        "+1e30": np.full(shape, 1e30, np.float32),
        "-1e30": np.full(shape, -1e30, np.float32),
        "garbage": np.random.default_rng(1).normal(scale=1e6, size=shape).astype(np.float32),
    }


@pytest.mark.parametrize("fn", CASES, ids=[f.__name__ for f in CASES])
def test_refill_equals_loop_and_never_reads_padding(fn):
    padded = vmlir.Ragged.from_list(XS, padded_size=SIZE)
    f = vmlir.vmap(fn, ragged=(0, None), in_axes=(0, None), layout="refill")
    assert f.work(padded, W)["layout"] == "refill"
    out = f(padded, W)
    check_equal_to_loop(out, loop(fn, [(jnp.asarray(x), W) for x in XS]))
    base = jax.tree_util.tree_leaves(out)
    valid = np.arange(SIZE)[None, :, None] < np.asarray(padded.lengths)[:, None, None]
    for name, fill in _fills(padded.values.shape).items():
        got = jax.tree_util.tree_leaves(f(vmlir.Ragged(np.where(valid, padded.values, fill), padded.lengths), W))
        for k, (a, b) in enumerate(zip(got, base)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{name} fill, output {k}")


def test_auto_takes_the_lanes_for_a_scan_and_counts_them():
    """Long-tailed lengths: the GRU's scan runs on lanes under "auto" (fewer rows than
    any buckets), and `work` counts L x K lane-steps: K iterations of the schedule."""
    lengths = np.clip(np.random.default_rng(3).lognormal(2.5, 0.7, size=40).astype(int), 1, 80)
    xs = [np.random.default_rng(int(n)).normal(size=(int(n), D)).astype(np.float32) for n in lengths]
    f = vmlir.vmap(final_state, ragged=(0, None), in_axes=(0, None), max_buckets=6)
    work = f.work(xs, W)
    assert work["layout"] == "refill"
    lanes = lanes_for(lengths)
    assert work["lanes"] == [lanes] and lanes == -(-int(lengths.sum()) // int(lengths.max()))
    example, _ = schedule(lengths, lanes)
    assert work["iterations"] == [example.shape[0]] and work["rows"] == lanes * example.shape[0]
    assert work["rows"] <= 1.2 * lengths.sum()
    check_equal_to_loop(f(xs, W), loop(final_state, [(jnp.asarray(x), W) for x in xs]))
    bucketed = vmlir.vmap(final_state, ragged=(0, None), in_axes=(0, None), max_buckets=6, layout="buckets")
    assert bucketed.work(xs, W)["layout"] == "buckets"
    fixed = vmlir.vmap(final_state, ragged=(0, None), in_axes=(0, None), bucket_sizes=[80])
    assert fixed.work(xs, W) == {"layout": "buckets", "rows": 80 * 40, "true_rows": int(lengths.sum()), "buckets": [80]}


def test_schedule_runs_every_step_once_longest_first():
    trips = np.array([3, 0, 7, 1, 7, 2, 5])
    example, step = schedule(trips, 3)
    assert example.shape == (9, 3)  # 25 steps: 7 | 7 | 5 3 1 ... the makespan is 9
    for e, t in enumerate(trips):
        held = example == e
        assert held.sum() == t
        assert sorted(step[held].tolist()) == list(range(t))
        assert len(set(np.nonzero(held)[1].tolist())) <= 1  # one lane runs an example
    first = {e: np.nonzero((example == e).any(axis=1))[0].min() for e in range(7) if trips[e]}
    assert first[2] == first[4] == first[6] == 0  # the three longest start first
    assert lanes_for(trips) == 4 and lanes_for(np.zeros(3, int)) == 1


def _while_not_scan(x):
    """A loop over the ragged axis that stops on a value: not a scan."""

    def cond(s):
        i, acc = s
        return (i < x.shape[0]) & (acc < 2.0)

    return lax.while_loop(cond, lambda s: (s[0] + 1, s[1] + jnp.abs(x[s[0], 0])), (0, 0.0))[1]


def test_loops_that_are_not_scans_keep_the_buckets():
    f = vmlir.vmap(_while_not_scan, ragged=0, layout="refill")
    with pytest.raises(VmlirUnsupportedError, match=r"layout='refill': 'stablehlo.while' \(from .*test_ragged_refill.py:\d+\) is a loop over the ragged axis that is not a scan"):
        f(XS)
    auto = vmlir.vmap(_while_not_scan, ragged=0)
    assert auto.work(XS)["layout"] == "buckets"
    check_equal_to_loop(auto(XS), loop(_while_not_scan, [(jnp.asarray(x),) for x in XS]))
    with pytest.raises(VmlirUnsupportedError, match="layout='refill': no scan over the ragged axis"):
        vmlir.vmap(lambda x: jnp.sum(x, axis=0), ragged=0, layout="refill")(XS)


def test_final_carries_scattered_when_their_history_is_large(monkeypatch):
    """Above HISTORY_BYTES the lanes scatter their final carries as they finish: the
    same results."""
    monkeypatch.setattr(vmlir.ragged_refill, "HISTORY_BYTES", 0)
    f = vmlir.vmap(both_ways, ragged=(0, None), in_axes=(0, None), layout="refill")
    check_equal_to_loop(f(XS, W), loop(both_ways, [(jnp.asarray(x), W) for x in XS]))


def test_inside_jax_jit():
    f = vmlir.vmap(fori, ragged=(0, None), in_axes=(0, None), layout="refill")
    out = jax.jit(lambda w: f(XS, w))(W)
    check_equal_to_loop(out, loop(fori, [(jnp.asarray(x), W) for x in XS]))


def test_random_programs_with_scans_on_lanes():
    """A quick run of the ragged fuzzer's refill mode (`make fuzz-ragged LAYOUT=refill`
    runs many more): programs holding a scan run on lanes, equal the loop, ignore NaN
    padding."""
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:  # `tests.fuzz` is imported from the repository root
        sys.path.insert(0, root)
    from tests.fuzz import ragged as fuzz

    counts = fuzz.run(1, seed=0, layout="refill")
    assert counts["ok"] == 1, counts
