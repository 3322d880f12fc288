"""Run sweep cases through vmlir.vmap and jax.vmap and compare.

A (function, configuration) pair is one function with one choice of in_axes:
- "axis0": every argument batched at axis 0;
- "last": every argument batched after its last axis;
- "first": the first argument batched at 0, the others shared by every example.
(A configuration that would repeat another for this function is left out.)

Pairs are compiled GROUP at a time, as one program returning a list with one entry per
pair, on both sides; a program that fails is split in halves until the failing pairs are
found. Outcomes: ok; jax_fails (jax.vmap cannot batch it either, not counted); unsupported
(vmlir raised VmlirUnsupportedError); mismatch (different structure, shape, dtype or
values); crash (vmlir raised anything else).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import vmlir
from tests.sweep.catalog import Case

B = 3
GROUP = 16
CONFIGS = ("axis0", "last", "first")


@dataclass
class Pair:
    case: Case
    config: str
    args: tuple[Any, ...]
    in_axes: tuple[int | None, ...]


@dataclass(frozen=True)
class Outcome:
    qualname: str
    config: str
    kind: str  # ok | jax_fails | unsupported | mismatch | crash
    detail: str = ""


def _stack(values: list[Any], axis: int) -> Any:
    if jnp.issubdtype(getattr(values[0], "dtype", np.float32), jax.dtypes.prng_key):
        return jnp.stack(values, axis=axis)
    return np.stack(values, axis=axis)


def pairs_of(case: Case, rng: np.random.Generator) -> list[Pair]:
    examples = [[g(rng) for g in case.gens] for _ in range(B)]
    ndims = [np.ndim(v) for v in examples[0]]
    out = []
    for config in CONFIGS:
        if config == "last" and all(d == 0 for d in ndims):
            continue
        if config == "first" and len(ndims) == 1:
            continue
        axes: list[int | None] = []
        args = []
        for j, d in enumerate(ndims):
            a = {"axis0": 0, "last": d, "first": 0 if j == 0 else None}[config]
            axes.append(a)
            args.append(examples[0][j] if a is None else _stack([e[j] for e in examples], a))
        out.append(Pair(case, config, tuple(args), tuple(axes)))
    return out


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    msg = text[0] if text else ""
    return f"{type(e).__name__}: {msg}"[:300]


_LOC = re.compile(r" \(from [^)]*\)")


def reason(e: BaseException) -> str:
    """An error without its Python location (the same reason reads the same everywhere)."""
    return _LOC.sub("", first_line(e))


def jax_batches(pair: Pair) -> str | None:
    """None if jax.vmap traces the pair, else why not."""
    try:
        jax.eval_shape(jax.vmap(pair.case.fn, in_axes=pair.in_axes), *pair.args)
    except Exception as e:  # noqa: BLE001 - jax's reason, whatever it is
        return first_line(e)
    return None


def _program(pairs: list[Pair]):
    fns = [p.case.fn for p in pairs]

    def program(xs):
        return [f(*x) for f, x in zip(fns, xs)]

    return program, ([p.in_axes for p in pairs],), [p.args for p in pairs]


def _keys_to_data(tree: Any) -> Any:
    def leaf(x: Any) -> Any:
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.key_data(x)
        return x

    return jax.tree_util.tree_map(leaf, tree)


def compare(got: Any, want: Any, tol: float) -> str | None:
    got, want = _keys_to_data(got), _keys_to_data(want)
    g_leaves, g_tree = jax.tree_util.tree_flatten(got)
    w_leaves, w_tree = jax.tree_util.tree_flatten(want)
    if g_tree != w_tree:
        return f"structure {g_tree} != {w_tree}"
    for g, w in zip(g_leaves, w_leaves):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape or g.dtype != w.dtype:
            return f"{g.dtype}{list(g.shape)} != jax.vmap's {w.dtype}{list(w.shape)}"
        if not np.allclose(g, w, rtol=tol, atol=tol, equal_nan=True):
            return f"values differ (max abs difference {np.nanmax(np.abs(g - w))})"
    return None


def _run_group(pairs: list[Pair], tol: float) -> list[Outcome]:
    program, in_axes, args = _program(pairs)
    try:
        want = jax.jit(jax.vmap(program, in_axes=in_axes))(args)
    except Exception as e:  # noqa: BLE001
        if len(pairs) > 1:
            return _split(pairs, tol)
        return [Outcome(pairs[0].case.target.qualname, pairs[0].config, "jax_fails", first_line(e))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = vmlir.compile(vmlir.vmap(program, in_axes=in_axes))(args)
    except Exception as e:  # noqa: BLE001
        if len(pairs) > 1:
            return _split(pairs, tol)
        kind = "unsupported" if isinstance(e, vmlir.VmlirUnsupportedError) else "crash"
        return [Outcome(pairs[0].case.target.qualname, pairs[0].config, kind, reason(e))]
    out = []
    for p, g, w in zip(pairs, got, want):
        diff = compare(g, w, tol)
        kind = "ok" if diff is None else "mismatch"
        out.append(Outcome(p.case.target.qualname, p.config, kind, diff or ""))
    return out


def _split(pairs: list[Pair], tol: float) -> list[Outcome]:
    half = len(pairs) // 2
    return _run_group(pairs[:half], tol) + _run_group(pairs[half:], tol)


def run_pairs(pairs: list[Pair], tol: float, progress: Any = None) -> list[Outcome]:
    """Outcomes of every pair; `progress(new_outcomes, done, total)` after each group."""
    outcomes = []
    batched = []
    for p in pairs:
        why = jax_batches(p)
        if why is None:
            batched.append(p)
        else:
            outcomes.append(Outcome(p.case.target.qualname, p.config, "jax_fails", why))
    if progress is not None:
        progress(outcomes, 0, len(batched))
    for start in range(0, len(batched), GROUP):
        new = _run_group(batched[start : start + GROUP], tol)
        outcomes += new
        if progress is not None:
            progress(new, min(start + GROUP, len(batched)), len(batched))
    return outcomes
