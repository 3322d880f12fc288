"""The program model: shapes, values, operands, `Program`, and the run parameters."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


F32, I32 = "float32", "int32"
MAX_RANK = 4
"""No value of the per-example program has a higher rank."""
MAG_LIMIT = 100.0
"""Operands whose magnitude bound would push a result past this are squashed with tanh."""
INT_LIMIT = 10_000.0
N_OPS = (2, 5)
"""Ops in a program's body, at least and at most (the body of a nested vmap adds 1-3)."""

KNOWN_ISSUES: dict[str, str] = {
    # feature -> the regression test (tests/unit/test_regressions.py) that pins the bug
}
"""Features left out by default: each one makes vmlir fail today (see the named test)."""


# --- shapes ---------------------------------------------------------------------------


def bshape(*shapes: Sequence[int]) -> tuple[int, ...] | None:
    """numpy's broadcast of `shapes`, or None when they do not broadcast."""
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        return None


def _shape_of(fn: Callable[..., Any], *shapes: Sequence[int]) -> tuple[int, ...] | None:
    """Shape numpy gives `fn` on zero arrays of `shapes`, None if numpy rejects it."""
    try:
        return tuple(np.shape(fn(*[np.zeros(tuple(s), np.float32) for s in shapes])))
    except (ValueError, IndexError, TypeError):
        return None


def _fmt_axes(axes: Any) -> str:
    """Python source of an axes spec (ints, None, tuples, dicts)."""
    if isinstance(axes, tuple):
        inner = ", ".join(_fmt_axes(a) for a in axes)
        return f"({inner},)" if len(axes) == 1 else f"({inner})"
    if isinstance(axes, dict):
        return "{" + ", ".join(f"{k!r}: {_fmt_axes(v)}" for k, v in axes.items()) + "}"
    return repr(axes)


def _lit(x: float) -> str:
    s = repr(x)
    return f"({s})" if s.startswith("-") else s


EXTRA_OPS = [
    "argmax",
    "cumulative",
    "sort",
    "reverse",
    "pad",
    "gather",
    "dynamic_index",
    "scatter",
    "cond",
    "fori",
    "softmax",
    "roll",
    "tri",
    "iota",
    "top_k",
    "moments",
    "math",
    "logical",
    "repeat",
    "diagonal",
]
"""Ops generated with `extra=True`, each by `Scope._x_<name>` (feature "x_<name>")."""


# --- values and scopes ----------------------------------------------------------------


@dataclass(frozen=True)
class Val:
    """A value of the program being built (a parameter or an op's result)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    deps: frozenset[str]
    """Names of the parameters (of this scope and enclosing ones) the value depends on."""
    mag: float
    """Upper bound of |value| (inputs are taken as bounded by 5)."""
    loose: bool = False
    """Computed from a nested vmap that was passed an argument its output ignores: its
    dependence is finer than "any operand varying, result varying"."""

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass
class Operand:
    """An operand expression: a value's name, maybe cast to float or squashed."""

    text: str
    val: Val
    mag: float
    dtype: str




# --- programs ---------------------------------------------------------------------------


@dataclass
class Generator:
    rng: random.Random
    exclude: frozenset[str]
    extra: bool = False
    features: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)
    nested_helpers: set[str] = field(default_factory=set)
    """jit-ed helpers called in the body of a nested vmap generated so far."""

    def fresh(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0)
        self.counters[prefix] = n + 1
        return f"{prefix}{n}"


@dataclass(frozen=True)
class Program:
    """A generated program: `source` defines f, in_axes, out_axes, axis_size, shapes."""

    source: str
    features: frozenset[str]
    out_shapes: tuple[tuple[int, ...], ...]
    """The batched output shapes the generator expects (flattened, in jax's leaf order)."""
    shapes: Any
    """The batched arguments (as `shapes` in `source`): per argument a leaf
    `(shape, dtype)` (dtype "float32", "int32" or "pyfloat": a Python float), a list of
    leaves (a tuple argument) or a dict of leaves (a dict argument)."""

    def build(self, vmap: Callable[..., Any]) -> dict[str, Any]:
        """exec `source` with `vmap` as the nested-map implementation; its namespace."""
        import jax
        import jax.numpy as jnp
        from jax import lax

        ns: dict[str, Any] = {"jax": jax, "jnp": jnp, "lax": lax, "vmap": vmap}
        exec(compile(self.source, "<fuzz program>", "exec"), ns)  # noqa: S102
        return ns

    def inputs(self, rng: np.random.Generator) -> list[Any]:
        """Random arguments of `shapes` (floats in [-4, 4], ints in [-5, 5])."""
        return [make_input(spec, rng) for spec in self.shapes]


def make_input(spec: Any, rng: np.random.Generator) -> Any:
    """A random argument for one entry of a program's `shapes`."""
    if isinstance(spec, list):
        return tuple(make_input(s, rng) for s in spec)
    if isinstance(spec, dict):
        return {k: make_input(s, rng) for k, s in spec.items()}
    shape, dtype = spec
    if dtype == "pyfloat":
        return float(np.round(rng.normal(), 3))
    if dtype == I32:
        return rng.integers(-5, 6, size=shape).astype(np.int32)
    return np.clip(rng.normal(size=shape), -4.0, 4.0).astype(np.float32)


def _arg_shape(rng: random.Random) -> tuple[int, ...]:
    rank = rng.choices([0, 1, 2, 3], weights=[1, 3, 3, 2])[0]
    return tuple(rng.choices([1, 2, 3, 4, 5], weights=[1, 3, 3, 3, 2], k=rank))


@dataclass(frozen=True)
class _Leaf:
    shape: tuple[int, ...]


def _flatten(tree: Any) -> list[Any]:
    """Leaves in jax's order: tuples in order, dicts by sorted key."""
    if isinstance(tree, tuple):
        return [x for t in tree for x in _flatten(t)]
    if isinstance(tree, dict):
        return [x for k in sorted(tree) for x in _flatten(tree[k])]
    return [tree]
