"""Ragged vmap: results equal a Python loop over the examples at their true shapes, and
no output depends on what the padding holds (docs/ragged.md)."""

from __future__ import annotations

import inspect
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ragged_checks import check_equal_to_loop, loop

import vmlir
import vmlir.ragged
from vmlir.errors import VmlirUnsupportedError

LENGTHS = [5, 1, 9, 3, 9, 6]
D = 4
RNG = np.random.default_rng(0)
W = RNG.normal(size=(D, 3)).astype(np.float32)
XS = [RNG.normal(size=(n, D)).astype(np.float32) for n in LENGTHS]


def pooled_mlp(x, w):
    return jnp.mean(jnp.tanh(x @ w), axis=0)


def reductions(x):
    return jnp.sum(x, axis=0), jnp.max(x, axis=0), jnp.min(x), jnp.argmax(x[:, 0])


def stats(x):
    return jnp.var(x, axis=0), jnp.std(x[:, 1]), jax.nn.logsumexp(x, axis=0)


def softmax_rows(x):
    return jax.nn.softmax(x[:, 0])  # a ragged output


def attention(x):
    scores = x @ jnp.mean(x, axis=0) / np.sqrt(D)  # one query, a variable number of keys
    return jax.nn.softmax(scores) @ x


def gram(x):
    return x.T @ x, jnp.ones(x.shape[0]) @ x  # contractions over the ragged axis


def length_as_value(x):
    n = x.shape[0]
    return jnp.sum(x) / n + (n - 1), jnp.full((3,), n, jnp.float32), jnp.mean(x), jnp.int32(2 * n + 1)


def masked_mean_of_positive(x):
    return jnp.sum(jnp.where(x > 0, x, 0.0), axis=0) / jnp.maximum(jnp.sum(x > 0, axis=0), 1)


CASES = [
    (pooled_mlp, (0, None), (XS, W)),  # W: in_axes (0, None) below
    (reductions, 0, (XS,)),
    (stats, 0, (XS,)),
    (softmax_rows, 0, (XS,)),
    (attention, 0, (XS,)),
    (gram, 0, (XS,)),
    (length_as_value, 0, (XS,)),
    (masked_mean_of_positive, 0, (XS,)),
]


def _loop(fn, args, ragged):
    """The reference: `fn` on each example at its true shape, outputs kept per example."""
    n = len(args[[i for i, r in enumerate(_per_arg(ragged, len(args))) if r is not None][0]])
    examples = []
    for i in range(n):
        example = [a[i] if r is not None else a for a, r in zip(args, _per_arg(ragged, len(args)))]
        examples.append(tuple(jnp.asarray(e) for e in example))
    shared = all(a is XS or a is W for a in args)  # module data: the results can be kept
    return loop(fn, examples, key=(fn, tuple(id(a) for a in args)) if shared else None)


_SHARED: dict = {}


def _shared(fn, ragged):
    """One vmapped function per case, so its compiled programs serve every test of it."""
    if fn not in _SHARED:
        _SHARED[fn] = _vmap(fn, ragged)
    return _SHARED[fn]


def _vmap(fn, ragged, **kw):
    if isinstance(ragged, tuple):
        kw.setdefault("in_axes", tuple(0 if r is not None else None for r in ragged))
    return vmlir.vmap(fn, ragged=ragged, **kw)


def _per_arg(spec, n):
    return list(spec) if isinstance(spec, tuple) else [spec] * n


_check_equal_to_loop = check_equal_to_loop


@pytest.mark.parametrize("fn, ragged, args", CASES, ids=[c[0].__name__ for c in CASES])
def test_ragged_equals_python_loop(fn, ragged, args):
    _check_equal_to_loop(_shared(fn, ragged)(*args), _loop(fn, args, ragged))


def _fills(shape):
    garbage = np.random.default_rng(1).normal(scale=1e6, size=shape).astype(np.float32)
    return {
        "nan": np.full(shape, np.nan, np.float32),
        "+1e30": np.full(shape, 1e30, np.float32),
        "-1e30": np.full(shape, -1e30, np.float32),
        "inf": np.full(shape, np.inf, np.float32),
        "garbage": garbage,
    }


def _with_padding(r: vmlir.Ragged, fill: np.ndarray) -> vmlir.Ragged:
    values = np.array(r.values)
    pos = np.arange(values.shape[1])[None, :, None]
    values = np.where(pos < np.asarray(r.lengths)[:, None, None], values, fill)
    return vmlir.Ragged(values, r.lengths)


@pytest.mark.parametrize("fn, ragged, args", CASES, ids=[c[0].__name__ for c in CASES])
def test_padding_never_read(fn, ragged, args):
    """Whatever the padding holds, every output is bit-identical to the zero-padding run."""
    padded = vmlir.Ragged.from_list(args[0], padded_size=12)  # padding past every length
    f = _shared(fn, ragged)
    base = jax.tree_util.tree_leaves(f(padded, *args[1:]))
    for name, fill in _fills(padded.values.shape).items():
        got = jax.tree_util.tree_leaves(f(_with_padding(padded, fill), *args[1:]))
        for k, (a, b) in enumerate(zip(got, base)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{name} fill, output {k}")


def test_buckets_give_the_loop_results_with_few_programs(monkeypatch):
    monkeypatch.setattr(vmlir.ragged, "PROGRAM_ROWS_PER_OP", 0)  # several buckets of short examples
    lengths = np.random.default_rng(2).lognormal(1.5, 0.8, size=16).astype(int) + 1
    xs = [np.random.default_rng(int(n)).normal(size=(int(n), D)).astype(np.float32) for n in lengths]
    f = _vmap(pooled_mlp, (0, None), max_buckets=4, layout="buckets")
    _check_equal_to_loop(f(xs, W), _loop(pooled_mlp, (xs, W), (0, None)))
    programs = f.lower(xs, W)
    assert 1 < len(programs) <= 4
    g = vmlir.vmap(softmax_rows, ragged=0, bucket_sizes=[4, 16, int(lengths.max())])
    _check_equal_to_loop(g(xs), _loop(softmax_rows, (xs,), 0))


def _padded_work(sizes, lengths) -> int:
    return int(np.asarray(sizes)[np.searchsorted(sizes, lengths)].sum())


def test_chosen_buckets_minimize_padded_work():
    """Against every choice of bucket sizes, on small random length sets."""
    from vmlir.ragged import choose_buckets

    rng = np.random.default_rng(3)
    for _ in range(60):
        lengths = rng.integers(1, 14, size=int(rng.integers(1, 11)))
        k = int(rng.integers(1, 5))
        distinct = sorted(set(lengths.tolist()))
        best = min(
            _padded_work(sorted(set(c) | {distinct[-1]}), lengths)
            for r in range(k)
            for c in itertools.combinations(distinct, r)
        )
        sizes = choose_buckets(lengths, k)
        assert len(sizes) <= k and sizes == sorted(sizes) and sizes[-1] == lengths.max()
        assert _padded_work(sizes, lengths) == best, (lengths, k, sizes)


def test_bucket_count_weighs_padded_work_against_programs():
    """The chosen buckets minimize padded work + program_rows per bucket, against every
    choice of bucket sizes; a large program cost leaves one bucket, none the least work."""
    from vmlir.ragged import choose_buckets

    rng = np.random.default_rng(4)
    for _ in range(60):
        lengths = rng.integers(1, 30, size=int(rng.integers(1, 12)))
        k, rows = int(rng.integers(1, 5)), float(rng.integers(0, 40))
        distinct = sorted(set(lengths.tolist()))
        best = min(
            _padded_work(sorted(set(c) | {distinct[-1]}), lengths) + rows * (r + 1)
            for r in range(k)
            for c in itertools.combinations(distinct[:-1], r)
        )
        sizes = choose_buckets(lengths, k, rows)
        assert len(sizes) <= k and sizes[-1] == lengths.max()
        assert _padded_work(sizes, lengths) + rows * len(sizes) == best, (lengths, k, rows, sizes)
    lengths = np.arange(1, 200)
    assert choose_buckets(lengths, 6, 1e9) == [199]
    assert len(choose_buckets(lengths, 6, 0)) == 6


def test_ragged_output_as_ragged():
    out = vmlir.vmap(softmax_rows, ragged=0, ragged_out="ragged")(XS)
    assert isinstance(out, vmlir.Ragged)
    assert list(np.asarray(out.lengths)) == LENGTHS
    for got, expected in zip(out.to_list(), _loop(softmax_rows, (XS,), 0)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_ir_carries_the_ragged_axis_and_the_length():
    (texts,) = _vmap(pooled_mlp, (0, None), layout="buckets").lower(XS, W)
    assert "ragged [0, none, none]" in texts["batch"]
    assert "ragged [" not in texts["batch-ragged"]
    assert "stablehlo.iota" in texts["batch-ragged"]


def _line_of(fn, text: str) -> int:
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


def shifted(x):
    return jnp.sum(x[1:] - x[:-1])


def reciprocal_length(x):
    return x * (1.0 / x.shape[0])


def half_length(x):
    return jnp.sum(x) + x.shape[0] // 2


@pytest.mark.parametrize(
    "fn, marker, message",
    [
        (shifted, "x[1:]", "ragged vmap: 'stablehlo.slice' (from {file}:{line}) makes a dimension of size"),
        (
            reciprocal_length,
            "1.0 / x",
            # JAX places a constant folded in Python (1.0 / 9) at the traced call's line.
            "ragged vmap: the constant 'stablehlo.constant' (from {file}:",
        ),
        (half_length, "// 2", "ragged vmap: the constant 'stablehlo.constant' (from {file}:"),
    ],
)
def test_unsupported_ops_name_the_op_and_line(fn, marker, message):
    with pytest.raises(VmlirUnsupportedError) as info:
        vmlir.vmap(fn, ragged=0)(XS)
    expected = message.format(file=__file__, line=_line_of(fn, marker))
    assert str(info.value).startswith(expected), str(info.value)


def test_argument_errors():
    with pytest.raises(TypeError, match="pass a list of arrays or a vmlir.Ragged"):
        _vmap(pooled_mlp, (0, None))(np.zeros((3, 4, D), np.float32), W)
    with pytest.raises(ValueError, match="may differ only along axis 0"):
        vmlir.vmap(jnp.sum, ragged=0)([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="do not fit values of shape"):
        vmlir.vmap(jnp.sum, ragged=0)(vmlir.Ragged(np.zeros((2, 3)), np.array([2, 4])))
    with pytest.raises(ValueError, match="same length per example"):
        vmlir.vmap(lambda a, b: jnp.sum(a) + jnp.sum(b), ragged=(0, 0))(XS, XS[::-1])
    with pytest.raises(VmlirUnsupportedError, match="not supported together with ragged="):
        vmlir.vmap(jnp.sum, ragged=0, chunk_size=2)
    with pytest.raises(ValueError, match="need ragged="):
        vmlir.vmap(jnp.sum, max_buckets=3)
    with pytest.raises(VmlirUnsupportedError, match="fast_math, memory_limit_bytes"):
        vmlir.compile(vmlir.vmap(jnp.sum, ragged=0), fast_math=True)


def test_compile_with_a_pipeline():
    f = vmlir.compile(vmlir.vmap(reductions, ragged=0), pipeline="batch-ragged,batch-vectorize,batch-lower")
    _check_equal_to_loop(f(XS), _loop(reductions, (XS,), 0))


def reduce_from_five(x):
    return jax.lax.reduce(x[:, 0], np.float32(5.0), jax.lax.add, (0,))


def int_max_and_bool_all(x):
    return jnp.max(jnp.round(x * 10).astype(jnp.int32)), jnp.all(x > -3.0), jnp.prod(1.0 + 0.1 * x)


def test_integer_and_boolean_reductions():
    _check_equal_to_loop(vmlir.vmap(int_max_and_bool_all, ragged=0)(XS), _loop(int_max_and_bool_all, (XS,), 0))


def test_reduction_from_a_non_identity_init_is_refused():
    with pytest.raises(VmlirUnsupportedError) as info:
        vmlir.vmap(reduce_from_five, ragged=0)(XS)
    line = _line_of(reduce_from_five, "jax.lax.reduce")
    assert str(info.value) == (
        f"ragged vmap: 'stablehlo.reduce' (from {__file__}:{line}) reduces the ragged axis from "
        "an init value that is not the identity of its body, so the padding cannot be filled with it"
    )


@pytest.mark.parametrize("start", [0, 2])
def test_random_ragged_programs(start):
    """A quick run of the ragged fuzzer, two programs a test (`make fuzz-ragged` runs many
    more)."""
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:  # `tests.fuzz` is imported from the repository root
        sys.path.insert(0, root)
    from tests.fuzz import ragged as fuzz

    counts = fuzz.run(2, seed=0, start=start)
    assert counts["ok"] == 2 and counts["packed"] >= 1, counts


def two_ragged(a, b):
    return jnp.mean(a, axis=1) + jnp.sum(b), a @ b  # a: (D, n), b: (n, 2)


def test_ragged_axis_one_and_two_ragged_arguments():
    a = [x.T.copy() for x in XS]
    b = [np.cos(x[:, :2]) for x in XS]
    out = vmlir.vmap(two_ragged, ragged=(1, 0))(a, b)
    ref = [two_ragged(jnp.asarray(u), jnp.asarray(v)) for u, v in zip(a, b)]
    for k in range(2):
        np.testing.assert_allclose(
            np.asarray(out[k]), np.stack([np.asarray(r[k]) for r in ref]), rtol=1e-5, atol=1e-5
        )


TABLE = RNG.normal(size=(50, 3)).astype(np.float32)


def embed_and_pool(tokens):
    return jnp.mean(jnp.asarray(TABLE)[tokens], axis=0), jnp.max(jnp.asarray(TABLE)[tokens][:, 1])


def test_lookup_by_ragged_indices():
    """A gather from a fixed table by ragged token ids; garbage ids in the padding
    (out of range, negative) change nothing."""
    tokens = [RNG.integers(0, 50, size=n).astype(np.int32) for n in LENGTHS]
    f = vmlir.vmap(embed_and_pool, ragged=0)
    _check_equal_to_loop(f(tokens), _loop(embed_and_pool, (tokens,), 0))
    padded = vmlir.Ragged.from_list(tokens, padded_size=12)
    base = f(padded)
    values = np.array(padded.values)
    pos = np.arange(values.shape[1])[None, :]
    for fill in (-7, 10**6, 49):
        garbage = vmlir.Ragged(np.where(pos < padded.lengths[:, None], values, fill), padded.lengths)
        for a, b in zip(f(garbage), base):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
