"""The bucket count prices each program by its ops (vmlir.ragged.PROGRAM_ROWS_PER_OP):
a program that costs more to compile gets fewer buckets, and its results still equal
the per-example loop whatever the padding holds (docs/ragged.md, "Buckets")."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from ragged_checks import check_equal_to_loop, loop

import vmlir
import vmlir.ragged
from vmlir.frontend.ragged_split import head_ops
from vmlir.ragged import choose_buckets

D = 8
RNG = np.random.default_rng(7)
W = jnp.asarray(RNG.normal(size=(D, D)).astype(np.float32) / np.sqrt(D))


def pooled(x, w):
    return jnp.mean(jnp.tanh(x @ w), axis=0)


def gru(x, w):
    def cell(h, xt):
        z = jax.nn.sigmoid(xt @ w + h)
        return (1 - z) * h + z * jnp.tanh(xt + h @ w), None

    return lax.scan(cell, jnp.zeros(D, x.dtype), x)[0]


def _ops(f) -> int:
    """The ops each bucket of `f` compiles (its trace, less a tail)."""
    template = next(iter(f._templates.values()))
    return head_ops(template.trace.module, template.split)


def _examples(lengths):
    return [RNG.normal(size=(int(n), D)).astype(np.float32) for n in lengths]


def test_costlier_program_gets_fewer_buckets():
    lengths = np.clip(np.random.default_rng(0).lognormal(3.0, 0.7, size=512).astype(int), 2, 400)
    xs = vmlir.Ragged.from_list(_examples(lengths))
    chosen = {}
    for fn in (pooled, gru):
        f = vmlir.vmap(fn, ragged=(0, None), in_axes=(0, None), max_buckets=6, layout="buckets")
        work = f.work(xs, W)
        ops = _ops(f)
        assert work["buckets"] == choose_buckets(lengths, 6, vmlir.ragged.PROGRAM_ROWS_PER_OP * ops)
        chosen[fn] = (ops, work["buckets"])
    (cheap_ops, cheap), (scan_ops, scan) = chosen[pooled], chosen[gru]
    assert scan_ops > 2 * cheap_ops, chosen
    assert 1 < len(scan) < len(cheap) < 6, chosen


def test_buckets_free_of_compile_cost_take_the_most(monkeypatch):
    monkeypatch.setattr(vmlir.ragged, "PROGRAM_ROWS_PER_OP", 0)
    lengths = np.clip(np.random.default_rng(0).lognormal(3.0, 0.7, size=512).astype(int), 2, 400)
    xs = vmlir.Ragged.from_list(_examples(lengths))
    f = vmlir.vmap(gru, ragged=(0, None), in_axes=(0, None), max_buckets=6, layout="buckets")
    assert f.work(xs, W)["buckets"] == choose_buckets(lengths, 6) and len(choose_buckets(lengths, 6)) == 6


def test_scan_in_priced_buckets_equals_loop_with_nan_padding():
    """Many short examples and a few long ones: two buckets even for a scan's price."""
    lengths = np.array([3, 5, 4, 6, 2, 5, 3, 6] * 6 + [300, 280, 290, 300])
    xs = _examples(lengths)
    f = vmlir.vmap(gru, ragged=(0, None), in_axes=(0, None), max_buckets=6)
    stored = vmlir.Ragged.from_list(xs, padded_size=320)
    assert f.work(stored, W)["buckets"] == [6, 300]
    base = np.asarray(f(stored, W))
    check_equal_to_loop(base, loop(gru, [(jnp.asarray(x), W) for x in xs]))
    values = np.array(stored.values)
    pos = np.arange(values.shape[1])[None, :, None]
    nan = vmlir.Ragged(np.where(pos < lengths[:, None, None], values, np.nan), stored.lengths)
    np.testing.assert_array_equal(np.asarray(f(nan, W)), base)


def test_one_trace_prices_and_serves_every_bucket(monkeypatch):
    """The ops are read off the trace the buckets then re-specialize: no second trace."""
    traces = []
    trace = vmlir.ragged.trace_ragged
    monkeypatch.setattr(vmlir.ragged, "trace_ragged", lambda *a, **k: traces.append(a[5]) or trace(*a, **k))
    lengths = np.clip(np.random.default_rng(1).lognormal(3.0, 0.7, size=256).astype(int), 2, 400)
    xs = vmlir.Ragged.from_list(_examples(lengths))
    for layout in ("buckets", "auto"):
        traces.clear()
        f = vmlir.vmap(gru, ragged=(0, None), in_axes=(0, None), max_buckets=6, layout=layout)
        work = f.work(xs, W)
        # "auto" runs the scan on persistent lanes (test_ragged_refill.py), on the same trace
        assert len(work["buckets"]) > 1 if layout == "buckets" else work["layout"] == "refill"
        assert len(traces) == 1, traces
