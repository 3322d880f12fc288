"""Packed ragged execution (layout "flat", docs/ragged.md "Packed execution"): programs
whose ragged axis is only mapped and reduced run over all examples' rows at once, equal
the per-example loop, and never let what the padding rows hold reach a result; the
others keep the buckets (auto) or are refused naming the op (layout="flat")."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from ragged_checks import check_equal_to_loop, loop

import vmlir
import vmlir.ragged_flat
from vmlir.errors import VmlirUnsupportedError

LENGTHS = [5, 1, 9, 3, 9, 6, 2]
D = 4
RNG = np.random.default_rng(7)
W = RNG.normal(size=(D, D)).astype(np.float32)
XS = [RNG.normal(size=(n, D)).astype(np.float32) for n in LENGTHS]


def pooled_mlp(x, w):
    return jnp.mean(jnp.tanh(x @ w), axis=0)


def pooled_attention(x, w):
    q = jnp.mean(x, axis=0) @ w  # a per-example query: contracted with every row
    p = jax.nn.softmax(x @ w @ q / np.sqrt(D))
    return p @ x, p  # a contraction over the rows, and a ragged output


def centered(x, w):
    del w
    c = x - jnp.mean(x, axis=0)  # a per-example value broadcast back to the rows
    return c, jnp.std(x, axis=0), jnp.var(x[:, 1], ddof=1), c * x.shape[0]


def reductions(x, w):
    del w
    return jnp.max(x, axis=0), jnp.min(x), jax.nn.logsumexp(x, axis=0), jnp.sum(x > 0), jnp.all(x < 3, axis=0)


def fit(x, w):
    """Least squares through the rows: x.T @ x over the ragged axis, a solve per example."""
    del w
    v = x[:, :1] ** jnp.arange(3, dtype=x.dtype)
    return jnp.linalg.solve(v.T @ v + 1e-2 * jnp.eye(3), v.T @ x[:, 1])


def scaled_rows(x, w):
    s = jnp.sum(x * x)  # a per-example scalar scaling every row, and rows picked by it
    return jnp.where(x @ w > s / x.shape[0], x * s, -x), jnp.linalg.norm(x, axis=1)


FLAT = [pooled_mlp, pooled_attention, centered, reductions, fit, scaled_rows]


def _examples(xs=XS):
    return [(jnp.asarray(x), jnp.asarray(W)) for x in xs]


def _vmap(fn, **kw):
    return vmlir.vmap(fn, ragged=(0, None), in_axes=(0, None), **kw)


_SHARED: dict = {}


def _shared(fn):
    if fn not in _SHARED:
        _SHARED[fn] = _vmap(fn)
    return _SHARED[fn]


@pytest.mark.parametrize("fn", FLAT, ids=[f.__name__ for f in FLAT])
def test_flat_program_equals_python_loop(fn):
    """Auto picks the packed layout (the IR says so) and the results equal the loop."""
    (texts,) = _shared(fn).lower(XS, W)
    assert 'batch.ragged_layout = "flat"' in texts["batch"]
    assert 'batch.ragged_layout = "flat"' in texts["batch-ragged-flat"]
    assert "stablehlo.scatter" in texts["batch-ragged-flat"]
    check_equal_to_loop(_shared(fn)(XS, W), loop(fn, _examples(), key=("flat", fn)))


def _fills(shape):
    """All NaN; then +1e30, -1e30 and garbage mixed (one run each: a fresh compile)."""
    rng = np.random.default_rng(1)
    mixed = rng.choice(np.array([1e30, -1e30], np.float32), size=shape)
    mixed = np.where(rng.random(shape) < 0.5, mixed, rng.normal(scale=1e6, size=shape)).astype(np.float32)
    return {"nan": np.full(shape, np.nan, np.float32), "+-1e30 and garbage": mixed}


@pytest.mark.parametrize("fn", FLAT, ids=[f.__name__ for f in FLAT])
def test_padding_rows_never_reach_a_result(fn, monkeypatch):
    """The packed rows past the last example (and the storage's padding) hold NaN,
    +-1e30 or garbage: every output is bit-identical to the zero-padded run."""
    padded = vmlir.Ragged.from_list(XS, padded_size=12)
    base = jax.tree_util.tree_leaves(_shared(fn)(padded, W))
    pos = np.arange(12)[None, :, None]
    valid = pos < np.asarray(padded.lengths)[:, None, None]
    for name, fill in _fills(padded.values.shape).items():
        pattern = fill.reshape(-1)
        monkeypatch.setattr(
            vmlir.ragged_flat, "PAD_ROWS_FILL",
            lambda shape, dtype, p=pattern: np.resize(p, shape).astype(dtype),
        )
        stored = vmlir.Ragged(np.where(valid, padded.values, fill), padded.lengths)
        got = jax.tree_util.tree_leaves(_vmap(fn)(stored, W))  # a fresh runner reads the fill
        for k, (a, b) in enumerate(zip(got, base)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{name} fill, output {k}")


def test_ragged_axis_not_first_and_ragged_out():
    """A ragged axis 1 ((D, n) examples), returned as a vmlir.Ragged."""
    ys = [x.T for x in XS]

    def fn(y):
        return y - jnp.max(y, axis=1, keepdims=True), jnp.sum(y, axis=1)

    f = vmlir.vmap(fn, ragged=1, ragged_out="ragged")
    (texts,) = f.lower(ys)
    assert 'batch.ragged_layout = "flat"' in texts["batch"]
    rows, sums = f(ys)
    assert isinstance(rows, vmlir.Ragged) and rows.axis == 1
    check_equal_to_loop((rows.to_list(), sums), loop(fn, [(jnp.asarray(y),) for y in ys]))


def test_inside_jax_jit():
    f = _vmap(pooled_mlp)
    out = jax.jit(lambda w: f(XS, w))(W)
    check_equal_to_loop(out, loop(pooled_mlp, _examples(), key=("flat", pooled_mlp)))


def test_rows_are_padded_to_a_small_multiple():
    """At most 63 rows, or 1/16 of the rows, more than the examples hold."""
    for total in (1, 63, 64, 65, 1000, 13_107, 100_000):
        rows = vmlir.ragged_flat.padded_rows(total)
        assert rows >= total and rows % vmlir.ragged_flat.row_quantum(total) == 0
        assert rows - total <= max(63, total / 16)


def test_segments_name_each_row():
    seg, clamped, pos, valid = vmlir.ragged_flat.segments(np.array([2, 0, 3]), 8)
    assert seg.tolist() == [0, 0, 2, 2, 2, 3, 3, 3]
    assert clamped.tolist() == [0, 0, 2, 2, 2, 2, 2, 2]
    assert pos.tolist() == [0, 1, 0, 1, 2, 0, 0, 0]
    assert valid.tolist() == [True] * 5 + [False] * 3


def full_attention(x, w):
    p = jax.nn.softmax(x @ w @ x.T, axis=1)
    return jnp.mean(p @ x, axis=0)


def scan_state(x, w):
    return lax.scan(lambda h, r: (jnp.tanh(h @ w + r), None), jnp.zeros(D), x)[0]


def last_row(x, w):
    return x[-1] @ w


def running_sum(x, w):
    return jnp.cumsum(x, axis=0) @ w


def sorted_first(x, w):
    return jnp.sort(x[:, 0]), jnp.argmax(x[:, 1])


def reversed_rows(x, w):
    return x[::-1] @ w


def first_row(x, w):
    return x[0] + jnp.sum(x, axis=0)


def positions(x, w):
    return jnp.sum(x[:, 0] * jnp.arange(x.shape[0]))


BUCKETED = [
    (full_attention, "'stablehlo.dot_general'", "pairs positions along the ragged axis (a ragged-by-ragged value)"),
    (scan_state, "'stablehlo.while'", "loops or branches over the ragged axis"),
    (last_row, "'stablehlo.dynamic_slice'", "touches the ragged axis and has no packed form"),
    (running_sum, "'stablehlo.reduce_window'", "is a window along the ragged axis (a cumulative op)"),
    (sorted_first, "'stablehlo.sort'", "sorts along the ragged axis"),
    (reversed_rows, "'stablehlo.reverse'", "touches the ragged axis and has no packed form"),
    (first_row, "'stablehlo.slice'", "takes positions along the ragged axis (a slice)"),
    (positions, "'stablehlo.iota'", "numbers the positions along the ragged axis"),
]


@pytest.mark.parametrize("fn, op, why", BUCKETED, ids=[c[0].__name__ for c in BUCKETED])
def test_position_mixing_programs_are_refused_packed(fn, op, why):
    """layout="flat" names the op (and its Python line) that mixes positions."""
    with pytest.raises(VmlirUnsupportedError) as info:
        _vmap(fn, layout="flat")(XS, W)
    text = str(info.value)
    assert text.startswith(f"ragged vmap, layout='flat': {op} "), text
    assert f"(from {__file__}:" in text and f" {why}" in text, text
    assert text.endswith("; use layout='buckets' or 'auto'"), text


def test_full_attention_names_its_line():
    with pytest.raises(VmlirUnsupportedError) as info:
        _vmap(full_attention, layout="flat")(XS, W)
    lines, start = inspect.getsourcelines(full_attention)
    line = start + next(i for i, s in enumerate(lines) if "x.T" in s)
    assert str(info.value) == (
        f"ragged vmap, layout='flat': 'stablehlo.dot_general' (from {__file__}:{line}) pairs "
        "positions along the ragged axis (a ragged-by-ragged value); use layout='buckets' or 'auto'"
    )


@pytest.mark.parametrize("fn", [full_attention, scan_state], ids=["full_attention", "scan_state"])
def test_auto_keeps_the_buckets_for_them(fn):
    f = _vmap(fn)
    # the scan runs on persistent lanes (test_ragged_refill.py): a program per piece
    assert all("ragged_layout" not in texts["batch"] for texts in f.lower(XS, W))
    check_equal_to_loop(f(XS, W), loop(fn, _examples()))


def test_buckets_can_be_forced():
    (texts,) = _vmap(pooled_mlp, layout="buckets").lower(XS, W)
    assert "ragged_layout" not in texts["batch"] and "batch-ragged" in texts


def test_layout_must_be_known():
    with pytest.raises(ValueError) as info:
        _vmap(pooled_mlp, layout="packed")
    assert str(info.value) == "layout must be one of ('auto', 'flat', 'buckets', 'refill'), got 'packed'"


def biased(x, b, w):
    h = jnp.tanh(x @ w + b)  # b: one vector per example (in_axes 0), broadcast to its rows
    return (h - jnp.mean(h, axis=0)).T, jnp.sum(h * b, axis=0), x @ b


def test_per_example_argument_and_transposed_ragged_output():
    """A mapped non-ragged argument meets the rows (broadcast and contraction); a ragged
    output whose ragged dimension is its last comes back cut along it."""
    bs = RNG.normal(size=(len(XS), D)).astype(np.float32)
    f = vmlir.vmap(biased, ragged=(0, None, None), in_axes=(0, 0, None))
    work = f.work(XS, bs, W)
    assert work["layout"] == "flat" and work["true_rows"] == sum(LENGTHS)
    examples = [(jnp.asarray(x), jnp.asarray(b), jnp.asarray(W)) for x, b in zip(XS, bs)]
    check_equal_to_loop(f(XS, bs, W), loop(biased, examples))


def test_lookup_by_ragged_ids_runs_packed():
    table = RNG.normal(size=(50, 3)).astype(np.float32)

    def embed(ids):
        return jnp.mean(jnp.asarray(table)[ids], axis=0)

    ids = [RNG.integers(0, 50, size=n).astype(np.int32) for n in LENGTHS]
    f = vmlir.vmap(embed, ragged=0)
    assert f.work(ids)["layout"] == "flat"
    check_equal_to_loop(f(ids), loop(embed, [(jnp.asarray(i),) for i in ids]))
