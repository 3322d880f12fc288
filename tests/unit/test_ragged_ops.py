"""Ragged vmap over the ops that read along the ragged axis in order: cumulative ops,
reverse, indexing from the end, sort / argsort / top_k, scans and loops, convolutions.
Each equals a Python loop over the examples at their true shapes, and no output depends
on what the padding holds (docs/ragged.md)."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from ragged_checks import check_equal_to_loop, loop

import vmlir
import vmlir.ragged
from vmlir.errors import VmlirUnsupportedError

LENGTHS = [5, 3, 9, 4, 9, 6]  # at least 3: x[-2:], top_k(x, 2), a 3-tap filter
D = 3
RNG = np.random.default_rng(5)
XS = [RNG.normal(size=(n, D)).astype(np.float32) for n in LENGTHS]


def cumulative(x):
    return (
        jnp.cumsum(x, axis=0),
        lax.cummax(x, axis=0),
        lax.cummin(x[:, 1], axis=0),
        jnp.cumprod(1.0 + 0.1 * x, axis=0),
        lax.cumsum(x, axis=0, reverse=True),
        jnp.sum(jnp.cumsum(x[:, 0])),  # a cumulative op feeding a reduction
    )


def reversed_(x):
    return x[::-1] * jnp.arange(x.shape[0], dtype=jnp.float32)[:, None], jnp.flip(x[:, 0])


def from_the_end(x):
    return x[-1], x[-2:], x[0] + x[1], jnp.sum(x[:2]), x[-1, 2]


def sorting(x):
    v = x[:, 0]
    return (
        jnp.sort(v),
        jnp.argsort(v),
        jnp.sort(v, descending=True),
        jnp.sort(x, axis=0),
        jnp.sort(x, axis=1),  # along a fixed axis: each row alone
        jnp.sort(jnp.round(v * 5).astype(jnp.int32)),
    )


def top_two(x):
    values, indices = lax.top_k(x[:, 0], 2)
    return values, indices, lax.top_k(x.T, 2)[0]


def gru(x):
    """A GRU-like cell over the sequence: the final state and every step's output."""
    w = jnp.linspace(-0.5, 0.5, D * D, dtype=jnp.float32).reshape(D, D)

    def cell(h, xt):
        z = jax.nn.sigmoid(xt @ w + h)
        h = (1 - z) * h + z * jnp.tanh(xt + h @ w)
        return h, jnp.sum(h)

    h, ys = lax.scan(cell, jnp.zeros(D), x)
    back, _ = lax.scan(cell, jnp.zeros(D), x, reverse=True)
    return h, ys, back


def loops(x):
    total = lax.fori_loop(0, x.shape[0], lambda i, c: c + x[i, 0] * i, 0.0)

    def cond(s):
        return s[0] < x.shape[0]

    def body(s):
        i, acc = s
        return i + 1, jnp.maximum(acc, x[i, 1])

    _, best = lax.while_loop(cond, body, (0, -jnp.inf))
    return total, best, x[x.shape[0] - 2]  # an index computed from the length


def convolved(x):
    k = jnp.asarray([0.25, 0.5, -1.0], jnp.float32)
    smooth = jnp.convolve(x[:, 0], k, mode="same")
    lhs = x.T[None]  # (1, D, n): batch, features, the ragged axis as the spatial one
    rhs = jnp.ones((2, D, 3), jnp.float32) * k[None, None, :]
    conv = lax.conv_general_dilated(lhs, rhs, (1,), "SAME")[0]
    return smooth, conv


def gathers(x):
    """Gathers from the ragged operand: start indices clamp at the example's end."""
    return (
        x[jnp.asarray([0, 2, 1])],
        x[jnp.asarray([-1, 0])],
        jnp.take(x[:, 0], jnp.asarray([7, 0]), mode="clip"),
        x[jnp.argmax(x[:, 1])],
        jnp.median(x[:, 0]),
        jnp.percentile(x[:, 2], 30.0),
    )


def end_loss_grad(x):
    """A per-example gradient: JAX transposes x[-1] / x[0] into pads of the length."""

    def end_loss(x):
        return jnp.sum(jnp.tanh(x)[-1] * x[0]) + jnp.sum(x[-2:] ** 2) + jnp.sum(x[::-1, 0] * jnp.cumsum(x[:, 1]))

    return jax.grad(end_loss)(x)


CASES = [cumulative, reversed_, from_the_end, sorting, top_two, gru, loops, convolved, gathers, end_loss_grad]


def _loop(fn, xs):
    return loop(fn, [(jnp.asarray(x),) for x in xs], key=(fn, id(xs)))


_check_equal_to_loop = check_equal_to_loop


def _fills(shape):
    return {
        "nan": np.full(shape, np.nan, np.float32),
        "+1e30": np.full(shape, 1e30, np.float32),
        "-1e30": np.full(shape, -1e30, np.float32),
        "inf": np.full(shape, np.inf, np.float32),
        "-inf": np.full(shape, -np.inf, np.float32),
        "garbage": np.random.default_rng(1).normal(scale=1e6, size=shape).astype(np.float32),
    }


@pytest.mark.parametrize("fn", CASES, ids=[f.__name__ for f in CASES])
def test_equals_python_loop_and_padding_never_read(fn):
    """Equal to `fn` on each example at its true shape; and whatever the padding holds,
    every output is bit-identical to the zero-padding run (one compiled program)."""
    padded = vmlir.Ragged.from_list(XS, padded_size=12)
    f = vmlir.vmap(fn, ragged=0)
    out = f(padded)
    _check_equal_to_loop(out, _loop(fn, XS))
    base = jax.tree_util.tree_leaves(out)
    valid = np.arange(12)[None, :, None] < np.asarray(padded.lengths)[:, None, None]
    for name, fill in _fills(padded.values.shape).items():
        got = jax.tree_util.tree_leaves(f(vmlir.Ragged(np.where(valid, padded.values, fill), padded.lengths)))
        for k, (a, b) in enumerate(zip(got, base)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{name} fill, output {k}")


def test_buckets_with_a_scan(monkeypatch):
    """Two buckets, each its own program: the GRU still equals the loop. (Free compiles:
    on examples this short one program would be cheaper than two.)"""
    monkeypatch.setattr(vmlir.ragged, "PROGRAM_ROWS_PER_OP", 0)
    f = vmlir.vmap(gru, ragged=0, max_buckets=2)
    _check_equal_to_loop(f(XS), _loop(gru, XS))
    assert len(f.lower(XS)) == 2


def test_fusion_emitters_stay_for_bucket_programs_with_loops():
    """XLA's CPU fusion emitters are off only when no bucket program loops (a scan
    without them ran several times slower); the options are XLA's own elsewhere."""
    from vmlir.ragged_runner import NO_FUSION_EMITTERS, XLA_OPTIONS, xla_options

    scan = [t["stablehlo"] for t in vmlir.vmap(gru, ragged=0).lower(XS)]
    plain = [t["stablehlo"] for t in vmlir.vmap(lambda x: jnp.sum(x * x), ragged=0).lower(XS)]
    assert "stablehlo.while" in scan[0] and "stablehlo.while" not in plain[0]
    if jax.default_backend() == "cpu":
        assert xla_options(scan) == XLA_OPTIONS
        assert xla_options(plain) == {**XLA_OPTIONS, **NO_FUSION_EMITTERS}
        assert xla_options(plain + scan) == XLA_OPTIONS
    else:
        assert xla_options(plain) == xla_options(scan) == {}


def test_sort_keeps_nan_and_inf_of_the_example_before_the_padding():
    """Valid NaN / +inf keys tie with the fill; the stable sort keeps them first."""
    vs = [np.array([np.nan, 1.0, np.inf, -2.0], np.float32), np.array([np.inf, 3.0, np.nan], np.float32)]
    f = vmlir.vmap(lambda v: (jnp.sort(v), jnp.argsort(v)), ragged=0)
    out = f(vmlir.Ragged(np.array([[np.nan, 1, np.inf, -2, 7], [np.inf, 3, np.nan, -9, 0]], np.float32), np.array([4, 3])))
    for i, v in enumerate(vs):
        np.testing.assert_array_equal(np.asarray(out[0][i]), np.sort(v))
        np.testing.assert_array_equal(np.asarray(out[1][i]), np.argsort(v, kind="stable"))


def _line_of(fn, text: str) -> int:
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


def last_three(x):
    return x[-3:]


def test_examples_shorter_than_a_fixed_extent_are_refused():
    """`x[-3:]` on a 2-element example has another shape: refused, naming the op."""
    with pytest.raises(ValueError) as info:
        vmlir.vmap(last_three, ragged=0)([XS[0], XS[1][:2]])
    line = _line_of(last_three, "x[-3:]")
    assert str(info.value) == (
        f"ragged vmap: 'stablehlo.dynamic_slice' (from {__file__}:{line}) takes 3 elements "
        "along the ragged axis, but an example has length 2"
    )


def unstable_sort(x):
    return lax.sort(x[:, 0], is_stable=False)


def scatter_into_ragged(x):
    return x.at[jnp.asarray([0, 2])].add(1.0)


@pytest.mark.parametrize(
    "fn, marker, message",
    [
        (
            unstable_sort,
            "lax.sort",
            "ragged vmap: 'stablehlo.sort' (from {file}:{line}) sorts along the ragged axis with a "
            "comparator other than a stable ascending one on its first operand",
        ),
        (
            scatter_into_ragged,
            "x.at[",
            "ragged vmap: 'stablehlo.scatter' (from {file}:{line}) touches the ragged axis (padded size",
        ),
    ],
)
def test_unsupported_ops_name_the_op_and_line(fn, marker, message):
    with pytest.raises(VmlirUnsupportedError) as info:
        vmlir.vmap(fn, ragged=0)(XS)
    expected = message.format(file=__file__, line=_line_of(fn, marker))
    assert str(info.value).startswith(expected), str(info.value)


W = RNG.normal(size=(D, 2)).astype(np.float32)
SCALES = RNG.normal(size=len(LENGTHS)).astype(np.float32)


def loss(x, w, s):
    return s * jnp.mean(jnp.tanh(x @ w) ** 2) + jnp.sum(jnp.cumsum(x, axis=0) * x) + jnp.max(x)


def test_shared_and_per_example_arguments_and_per_example_grads():
    """in_axes None (shared W) and 0 (a scale per example) beside the ragged x, through
    jax.grad of the per-example loss: per-example gradients."""
    g = vmlir.vmap(jax.grad(loss, argnums=(0, 1)), ragged=(0, None, None), in_axes=(0, None, 0))
    out = g(XS, W, SCALES)
    ref = loop(jax.grad(loss, argnums=(0, 1)), [(jnp.asarray(x), W, s) for x, s in zip(XS, SCALES)])
    _check_equal_to_loop(out, ref)


def pool_and_scores(x):
    return jnp.max(x, axis=0), jnp.cumsum(x[:, 0])


def test_out_axes_for_stacked_outputs():
    out = vmlir.vmap(pool_and_scores, ragged=0, out_axes=(1, 0))(XS)
    ref = _loop(pool_and_scores, XS)
    np.testing.assert_array_equal(np.asarray(out[0]), np.stack([np.asarray(r[0]) for r in ref], axis=1))
    for got, r in zip(out[1], ref):
        np.testing.assert_allclose(np.asarray(got), np.asarray(r[1]), rtol=1e-5, atol=1e-5)


def test_out_axes_for_a_ragged_output_is_refused():
    with pytest.raises(VmlirUnsupportedError) as info:
        vmlir.vmap(pool_and_scores, ragged=0, out_axes=1)(XS)
    assert str(info.value) == (
        "ragged vmap: out_axes=1 for output 1, which is ragged (a list of arrays or a Ragged); only 0"
    )


def test_grad_through_a_ragged_vmap_is_refused():
    f = vmlir.vmap(lambda x, w: jnp.mean(x @ w), ragged=(0, None), in_axes=(0, None))
    with pytest.raises(VmlirUnsupportedError) as info:
        jax.grad(lambda w: jnp.sum(f(XS, w)))(W)
    assert str(info.value) == (
        "ragged vmap: jax.grad / jax.jvp through a ragged vmap is not supported yet; "
        "differentiate per example inside it instead: vmlir.vmap(jax.grad(fn), ragged=...)"
    )


def test_inside_jax_jit():
    f = vmlir.vmap(lambda x, w: jnp.mean(x @ w, axis=0), ragged=(0, None), in_axes=(0, None))
    out = jax.jit(lambda w: f(XS, w))(W)
    np.testing.assert_allclose(np.asarray(out), np.stack([np.mean(x @ W, axis=0) for x in XS]), rtol=1e-5, atol=1e-5)
