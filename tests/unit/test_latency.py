"""Compile latency: what a first call does, counted (not timed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import vmlir

# jax reports every jaxpr -> MLIR module lowering under this event name (jax.monitoring).
_TO_MODULE = "/jax/core/compile/jaxpr_to_mlir_module_duration"


@contextmanager
def _lowerings() -> Iterator[list[str]]:
    """The jaxpr -> MLIR module lowerings jax does inside the block (one entry each)."""
    seen: list[str] = []

    def listen(event: str, duration: float, **kwargs: Any) -> None:
        if event == _TO_MODULE:
            seen.append(str(kwargs.get("fun_name", "")))

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def _first_call(make: Callable[[], Any], *args: Any) -> tuple[Any, list[str]]:
    with _lowerings() as seen:
        out = jax.block_until_ready(vmlir.compile(make())(*args))
    return out, seen


def _dist(x, y):
    return jnp.sqrt(jnp.sum((x - y) ** 2))


def test_nested_vmap_lowers_once(assert_same):
    """A nested vmlir.vmap costs jax as many module lowerings as a single one (the
    per-example program and the final jit): the inner function is lowered as part of the
    outer program, not on its own; and its Python body is traced once."""
    traced = []

    def dist(x, y):
        traced.append(1)
        return _dist(x, y)

    xs = jnp.asarray(np.random.default_rng(0).normal(size=(5, 3)), jnp.float32)
    ys = jnp.asarray(np.random.default_rng(1).normal(size=(4, 3)), jnp.float32)
    _, flat = _first_call(lambda: vmlir.vmap(lambda x: jnp.sum(x * x)), xs)
    out, nested = _first_call(
        lambda: vmlir.vmap(vmlir.vmap(dist, in_axes=(None, 0)), in_axes=(0, None)), xs, ys
    )
    assert len(flat) == 2, flat
    assert len(nested) == len(flat), nested
    assert len(traced) == 1
    assert_same(out, jax.vmap(jax.vmap(_dist, in_axes=(None, 0)), in_axes=(0, None))(xs, ys))


def test_three_levels_lower_once(assert_same):
    """Three nested maps, the middle one closing over the outer example (a hoisted
    operand): still two lowerings, the same values as jax.vmap."""

    def f(a, xs, ys):
        def middle(x):
            return vmlir.vmap(lambda y: jnp.sum(a * x * y))(ys)

        return vmlir.vmap(middle)(xs)

    def g(a, xs, ys):
        return jax.vmap(lambda x: jax.vmap(lambda y: jnp.sum(a * x * y))(ys))(xs)

    rng = np.random.default_rng(2)
    a = jnp.asarray(rng.normal(size=(6, 3)), jnp.float32)
    xs = jnp.asarray(rng.normal(size=(6, 4, 3)), jnp.float32)
    ys = jnp.asarray(rng.normal(size=(6, 2, 3)), jnp.float32)
    out, seen = _first_call(lambda: vmlir.vmap(f), a, xs, ys)
    assert len(seen) == 2, seen
    assert_same(out, jax.vmap(g)(a, xs, ys))


def test_nested_collective_over_the_inner_axis(assert_same):
    """A collective over the inner map's axis name, lowered inside the outer program,
    still becomes the inner batch collective (its name is bound while it is lowered)."""

    def inner(x):
        return x - lax.pmean(x, "j")

    def f(xs):
        return vmlir.vmap(inner, axis_name="j")(xs) * lax.psum(1.0, "i")

    def g(xs):
        return jax.vmap(inner, axis_name="j")(xs) * lax.psum(1.0, "i")

    xs = jnp.asarray(np.random.default_rng(3).normal(size=(3, 5)), jnp.float32)
    out, seen = _first_call(lambda: vmlir.vmap(f, axis_name="i"), xs)
    assert len(seen) == 2, seen
    assert_same(out, jax.vmap(g, axis_name="i")(xs))


# --------------------------------------------------------------------------- disk-cache key


def _hits(monkeypatch, tmp_path, fns, x) -> list[tuple[Any, list[str]]]:
    """Compile each of `fns` in turn with the disk cache on (one directory): the outputs
    and the jax lowerings of each first call."""
    monkeypatch.setenv("VMLIR_CACHE", "1")
    monkeypatch.setenv("VMLIR_CACHE_DIR", str(tmp_path))
    return [_first_call(lambda f=f: vmlir.vmap(f), x) for f in fns]


def test_cache_hit_needs_no_per_example_lowering(monkeypatch, tmp_path, assert_same):
    """A disk-cache hit is keyed with the jaxpr: jax lowers only the final program, as
    jax.jit does, and the result is the cached one (right against jax.vmap)."""

    def f(x):
        return jnp.sum(jnp.tanh(x) * x) + jnp.max(x)

    x = np.random.default_rng(4).normal(size=(4, 6)).astype(np.float32)
    (first, miss), (second, hit) = _hits(monkeypatch, tmp_path, [f, f], x)
    assert len(miss) == 2, miss
    assert len(hit) == 1, hit
    assert_same(second, jax.vmap(f)(x))
    assert_same(second, first)


def test_cache_key_sees_edits(monkeypatch, tmp_path, assert_same):
    """Functions that differ only in a literal, a closed-over array's values, an
    operation or a parameter each miss the cache and get their own right result."""
    w1 = np.arange(6, dtype=np.float32)
    w2 = w1.copy()
    w2[5] = 7.0
    fns = [
        lambda x: jnp.sum(x * 2.0),
        lambda x: jnp.sum(x * 3.0),
        lambda x: jnp.sum(x * w1),
        lambda x: jnp.sum(x * w2),
        lambda x: jnp.prod(x * w2),
        lambda x: lax.cumsum(x)[-1],
        lambda x: lax.cumsum(x, reverse=True)[-1],
    ]
    x = np.random.default_rng(5).normal(size=(3, 6)).astype(np.float32)
    results = _hits(monkeypatch, tmp_path, fns, x)
    for f, (out, seen) in zip(fns, results):
        assert len(seen) == 2, seen  # every one a miss: lowered per example, then the final
        assert_same(out, jax.vmap(f)(x))


def test_jaxpr_key_refuses_what_it_does_not_know():
    """A program with a Python callback (a function the jaxpr only points to) has no
    jaxpr key: the cache keys it with its StableHLO instead; a plain one has a key that
    is the same for the same program traced twice."""
    from vmlir.frontend.jaxpr_key import jaxpr_key

    def plain(x):
        return jnp.sin(x) * 2.0

    def calls_back(x):
        return jax.pure_callback(np.sin, jax.ShapeDtypeStruct(x.shape, x.dtype), x)

    x = jnp.ones((3,), jnp.float32)
    assert jaxpr_key(jax.make_jaxpr(calls_back)(x)) is None
    key = jaxpr_key(jax.make_jaxpr(plain)(x))
    assert key is not None and key == jaxpr_key(jax.make_jaxpr(plain)(x))
    assert key != jaxpr_key(jax.make_jaxpr(plain)(jnp.ones((4,), jnp.float32)))


def test_jaxpr_key_memo_changes_nothing(monkeypatch):
    """The encoder keeps the encodings of shared values (equation contexts, avals,
    shardings) by identity: the key is the one the plain encoding gives, on programs with
    constants, nested jaxprs, sharded avals and many equations sharing one context."""
    from vmlir.frontend import jaxpr_key as jk

    w = np.arange(6, dtype=np.float32)

    def program(x):
        y = lax.fori_loop(0, 3, lambda i, c: jnp.sin(c) * w + i, x)
        z = lax.cond(y.sum() > 0, lambda v: v * 2.0, lambda v: v - 1.0, y)
        return jnp.cumsum(z) @ w, jnp.argmax(z)

    x = jnp.ones((6,), jnp.float32)
    closed = jax.make_jaxpr(program)(x)
    memoized = jk.jaxpr_key(closed)
    monkeypatch.setattr(jk._Encoder, "memo", lambda self, obj, encode: encode(obj))
    assert memoized is not None and memoized == jk.jaxpr_key(closed)


# --------------------------------------------------------------------------- deferred op definitions

_DEFS_SCRIPT = textwrap.dedent(
    """
    import json, os, re
    os.environ["VMLIR_CACHE"] = "0"
    import numpy as np
    import vmlir
    from vmlir.dialects import deferred
    from vmlir.dialects.batch import Batch
    from vmlir.dialects.chlo import CHLO
    from vmlir.dialects.stablehlo import StableHLO

    ops = [op for d in (StableHLO, Batch, CHLO) for op in d.operations]
    after_import = len(deferred._PENDING)
    vmlir.compile(vmlir.vmap(lambda x: (x * x).sum()))(np.ones((4, 3), np.float32))
    after_compile = len(deferred._PENDING)
    defs = {
        op.name: re.sub(r" at 0x[0-9a-f]+", "", repr(op.get_irdl_definition()))
        + repr(sorted(type(t).__name__ for t in op.traits))
        for op in ops
    }
    print(json.dumps({"ops": len(ops), "import": after_import, "compile": after_compile,
                      "defs": defs}))
    """
)


def _defs(eager: bool) -> dict[str, Any]:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("VMLIR_EAGER_OPS", None)
    if eager:
        env["VMLIR_EAGER_OPS"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", _DEFS_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_op_definitions_are_built_on_first_use_and_match_eager_ones():
    """In a fresh process, importing the dialects builds no op definition, a small
    compilation builds a few; every definition built on first use (constraints,
    accessors, traits, format) prints the same as one built at import."""
    lazy, eager = _defs(eager=False), _defs(eager=True)
    assert lazy["import"] == lazy["ops"] > 100
    assert lazy["compile"] > lazy["ops"] - 20
    assert eager["import"] == eager["compile"] == 0
    assert lazy["defs"] == eager["defs"]


def test_jaxpr_key_refuses_prng_keys_and_keys_plain_ones_the_same():
    """A typed PRNG key (an extended dtype) in the program has no jaxpr key, and a
    bfloat16 or boolean program has one."""
    from vmlir.frontend.jaxpr_key import jaxpr_key

    key = jax.random.key(0)
    assert jaxpr_key(jax.make_jaxpr(lambda x: jax.random.normal(key, x.shape) + x)(jnp.ones(3))) is None
    for x in (jnp.ones(3, jnp.bfloat16), jnp.ones(3, bool)):
        assert jaxpr_key(jax.make_jaxpr(lambda v: ~v if v.dtype == bool else -v)(x)) is not None
