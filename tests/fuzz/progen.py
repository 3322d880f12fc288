"""Random per-example jax.numpy programs, as Python source, for differential testing.

`generate(seed)` builds one `Program`: a small DAG of jax.numpy ops written as readable
Python source text, plus the vmap axes and the batched argument shapes:

    def f(x0, x1):
        v0 = jnp.tanh(x0)
        def g1(p0):
            u0 = jnp.sum(p0, axis=-1)
            return u0
        v1 = vmap(g1, in_axes=(1,), out_axes=0)(v0)
        v2 = jnp.where(v1 > x1, v1, -0.5)
        return {"a": v2, "b": v0}

    in_axes = (0, None)
    out_axes = {"a": 0, "b": -1}
    axis_size = None
    shapes = [((7, 3, 4), "float32"), ((), "float32")]

`source` is the whole program: `exec` it in a namespace holding `jax`, `jnp`, `lax` and
`vmap` (the vmap implementation the nested maps must use: `vmlir.vmap` when vmlir
compiles it, `jax.vmap` for the reference; `Program.build(vmap)` does this) and it
defines `f`, `in_axes`, `out_axes`, `axis_size` and `shapes` (the BATCHED arguments:
shape and dtype per leaf; a list or dict of leaves is a tuple or dict argument).
Pasting it into a test reproduces the program exactly; `make_input` makes arguments.

What is generated (each family is a "feature", listed in `Program.features`): the
elementwise ops, numpy broadcasting of scalars/vectors/matrices, comparisons and
jnp.where, reductions (sum/max/min/mean, any axes, keepdims), contractions (jnp.dot, @,
jnp.matmul, jnp.einsum with 1-2 contracted and maybe a batch dimension), reshape,
transpose/swapaxes/moveaxis, expand_dims/squeeze/broadcast_to, static slicing and
indexing, concatenate/stack, dtype casts (int32, uint8, bool, bf16/f16 round trips),
constants (dense, -0.0, denormals, inf, full_like), nested `vmap` over some arguments
(in_axes int/negative/None, out_axes incl. None and tuples, axis_size, depth 2),
tuple/dict/Python-float arguments with prefix in_axes, and tuple/dict/nested outputs.
With `extra=True` also the ops of EXTRA_OPS (gather, scatter, dynamic_slice, pad,
reverse, sort, cumulative ops, top_k, iota, cond/fori/while, softmax, ...).

The generator tracks, for every value, its per-example shape and dtype, an upper bound of
its magnitude (operands that could grow too large are squashed with tanh, so float32
rounding stays far below the 1e-4 tolerance), and which function parameters it depends
on: out_axes=None is only chosen for outputs that depend on no mapped argument, exactly
what jax.vmap accepts.

Features whose programs fail today because of a known vmlir bug are listed in
`KNOWN_ISSUES` (with the regression test that pins the bug); `generate` leaves them out
unless asked (`exclude=()`), so the fuzz test stays green and keeps finding new bugs.
"""

from __future__ import annotations

import ast
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

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


class Scope:
    """The body of one function (the program, or the inner function of a nested vmap)."""

    def __init__(self, gen: Generator, params: list[Val], depth: int, visible: list[Val]):
        self.gen, self.rng, self.depth = gen, gen.rng, depth
        self.params = params
        self.values: list[Val] = [*visible, *params]
        self.lines: list[str] = []
        self.used: set[str] = set()
        self.helpers: set[str] = set()
        """jit-ed jnp helpers (lowered as private functions) this body calls."""

    # -- picking operands --

    def pick(self, pred: Callable[[Val], bool] = lambda v: True) -> Val | None:
        """A value satisfying `pred`; recent and not yet used values are more likely."""
        cands = [v for v in self.values if pred(v)]
        if not cands:
            return None
        weights = [(i + 1) * (1 if v.name in self.used else 3) for i, v in enumerate(cands)]
        return self.rng.choices(cands, weights=weights)[0]

    def fop(self, v: Val, max_mag: float = MAG_LIMIT) -> Operand:
        """`v` as a float operand whose magnitude is at most `max_mag`."""
        text, mag = v.name, v.mag
        if v.dtype == I32:
            text = f"{text}.astype(jnp.float32)"
        if mag > max_mag:
            text, mag = f"jnp.tanh({text})", 1.0
        return Operand(text, v, mag, F32)

    def op(self, v: Val, max_mag: float = MAG_LIMIT) -> Operand:
        """`v` as an operand of its own dtype (floats squashed past `max_mag`)."""
        if v.dtype == F32 or v.mag <= max_mag:
            return Operand(v.name, v, v.mag, v.dtype)
        return self.fop(v, max_mag)

    def emit(
        self,
        expr: str,
        shape: Sequence[int],
        dtype: str,
        deps: Iterable[Val],
        mag: float,
        feature: str,
    ) -> Val:
        name = self.gen.fresh("v" if self.depth == 0 else "u")
        self.lines.append(f"{name} = {expr}")
        deps = list(deps)
        self.used.update(d.name for d in deps)
        dep_names = frozenset().union(*[d.deps for d in deps]) if deps else frozenset()
        v = Val(name, tuple(shape), dtype, dep_names, min(mag, 1e30), any(d.loose for d in deps))
        self.values.append(v)
        self.gen.features.add(feature)
        return v

    def allowed(self, feature: str) -> bool:
        return feature not in self.gen.exclude

    def helper(self, name: str) -> bool:
        """Whether this body may call the jit-ed jnp helper `name` (jnp.where: "_where",
        jnp.clip: "clip") now; records the call."""
        if name in self.gen.nested_helpers:
            if not self.allowed("helper_after_vmap"):
                return False
            self.gen.features.add("helper_after_vmap")
        self.helpers.add(name)
        return True

    # -- ops; each returns False when it does not apply to the values at hand --

    def op_unary(self) -> bool:
        x = self.pick()
        assert x is not None
        if x.dtype == I32 and self.rng.random() < 0.6:
            choices = [("-{x}", lambda m: m), ("jnp.abs({x})", lambda m: m)]
            if x.mag <= 100:
                choices.append(("{x} * {x}", lambda m: m * m))
            tmpl, mfn = self.rng.choice(choices)
            return bool(self.emit(tmpl.format(x=x.name), x.shape, I32, [x], mfn(x.mag), "unary"))
        choices = [
            ("neg", "-{x}", lambda m: m),
            ("exp", "jnp.exp(jnp.clip({x}, -4.0, 4.0))", lambda m: math.exp(min(m, 4.0))),
            ("tanh", "jnp.tanh({x})", lambda m: 1.0),
            ("sin", "jnp.sin({x})", lambda m: 1.0),
            ("abs", "jnp.abs({x})", lambda m: m),
            ("sqrt", "jnp.sqrt(jnp.abs({x}) + 1.0)", lambda m: math.sqrt(m + 1)),
            ("log1p", "jnp.log1p(jnp.abs({x}))", lambda m: math.log1p(m)),
            ("square", "jnp.square({x})", lambda m: m * m),
            ("pow2", "{x} ** 2", lambda m: m * m),
        ]
        choices = [c for c in choices if self.allowed(c[0])]
        feature, tmpl, mfn = self.rng.choice(choices)
        if feature == "exp" and not self.helper("clip"):
            return False
        a = self.fop(x, 10.0 if feature in ("square", "pow2") else MAG_LIMIT)
        return bool(self.emit(tmpl.format(x=a.text), x.shape, F32, [x], mfn(a.mag), feature))

    def _const(self, dtype: str) -> tuple[str, float, str]:
        if dtype == I32 and self.rng.random() < 0.6:
            c = self.rng.choice([-2, -1, 1, 2, 3])
            return _lit(c), abs(c), I32
        c = self.rng.choice([-1.5, -0.5, 0.25, 0.5, 1.0, 2.0, 3.0])
        return _lit(c), abs(c), F32

    def op_binary(self) -> bool:
        a = self.pick()
        assert a is not None
        if self.rng.random() < 0.15:
            bt, bmag, bdt = self._const(a.dtype)
            b = None
        else:
            b = self.pick(
                lambda v: (s := bshape(a.shape, v.shape)) is not None and len(s) <= MAX_RANK
            )
            assert b is not None
            bt, bmag, bdt = b.name, b.mag, b.dtype
        shape = a.shape if b is None else bshape(a.shape, b.shape)
        deps = [a] if b is None else [a, b]
        ints = a.dtype == I32 and bdt == I32
        kind = self.rng.choice(["+", "-", "*", "/", "maximum", "minimum"])
        at = a.name
        amag = a.mag
        if kind in "+-":
            mag = amag + bmag
            if mag > (INT_LIMIT if ints else MAG_LIMIT):
                kind = "maximum"
        if kind == "*" and amag * bmag > (INT_LIMIT if ints else MAG_LIMIT):
            oa = self.fop(a, 10.0)
            at, amag = oa.text, oa.mag
            if b is not None:
                ob = self.fop(b, 10.0)
                bt, bmag = ob.text, ob.mag
            ints = False
        if kind == "/":
            if b is None:
                bt = f"jnp.abs({bt})"
                expr = f"{at} / ({bt} + 1.0)"
            elif self.rng.random() < 0.5:
                expr = f"{at} / (jnp.abs({bt}) + 1.0)"
            else:
                ob = self.fop(b, 10.0)
                expr = f"{at} / ({ob.text} * {ob.text} + 0.5)"
                amag *= 2
            return bool(self.emit(expr, shape, F32, deps, amag, "div"))
        if kind in ("maximum", "minimum"):
            swap = self.rng.random() < 0.5
            l, r = (bt, at) if swap else (at, bt)
            expr, mag = f"jnp.{kind}({l}, {r})", max(amag, bmag)
        else:
            mag = amag * bmag if kind == "*" else amag + bmag
            l, r = (bt, at) if self.rng.random() < 0.3 else (at, bt)
            expr = f"{l} {kind} {r}"
        return bool(self.emit(expr, shape, I32 if ints else F32, deps, mag, "binary"))

    def op_where(self) -> bool:
        if not self.helper("_where"):
            return False
        c1 = self.pick(lambda v: v.rank <= MAX_RANK)
        assert c1 is not None
        cmp = self.rng.choice([">", "<", ">=", "<="])
        if self.rng.random() < 0.25:
            c2t, c2 = self._const(c1.dtype)[0], None
            shape = c1.shape
        else:
            c2 = self.pick(lambda v: bshape(c1.shape, v.shape) is not None)
            assert c2 is not None
            c2t, shape = c2.name, bshape(c1.shape, c2.shape)
        a = self.pick(lambda v: (s := bshape(shape, v.shape)) is not None and len(s) <= MAX_RANK)
        assert a is not None
        shape = bshape(shape, a.shape)
        if self.rng.random() < 0.25:
            bt, bmag, bdt = self._const(a.dtype)
            b = None
        else:
            b = self.pick(
                lambda v: (s := bshape(shape, v.shape)) is not None and len(s) <= MAX_RANK
            )
            assert b is not None
            bt, bmag, bdt = b.name, b.mag, b.dtype
            shape = bshape(shape, b.shape)
        dtype = I32 if a.dtype == I32 and bdt == I32 else F32
        deps = [v for v in (c1, c2, a, b) if v is not None]
        expr = f"jnp.where({c1.name} {cmp} {c2t}, {a.name}, {bt})"
        return bool(self.emit(expr, shape, dtype, deps, max(a.mag, bmag), "where"))

    def op_reduce(self) -> bool:
        x = self.pick()
        assert x is not None
        fn = self.rng.choice(["sum", "max", "min", "mean"])
        r = x.rank
        if r == 0 or self.rng.random() < 0.2:
            axes: tuple[int, ...] = tuple(range(r))
            axis_t = "None"
        else:
            k = self.rng.randint(1, r)
            axes = tuple(sorted(self.rng.sample(range(r), k)))
            written = [a - r if self.rng.random() < 0.3 else a for a in axes]
            self.rng.shuffle(written)
            axis_t = (
                str(written[0]) if k == 1 and self.rng.random() < 0.7 else _fmt_axes(tuple(written))
            )
        keep = self.rng.random() < 0.3
        shape = (
            tuple(1 if i in axes else d for i, d in enumerate(x.shape))
            if keep
            else tuple(d for i, d in enumerate(x.shape) if i not in axes)
        )
        count = math.prod(x.shape[i] for i in axes)
        dtype = F32 if fn == "mean" else x.dtype
        limit = INT_LIMIT if x.dtype == I32 else MAG_LIMIT
        o = self.op(x) if fn != "sum" or x.mag * count <= limit else self.fop(x, 1.0)
        if fn == "sum" and o.dtype == F32:
            dtype = F32
        mag = o.mag * count if fn == "sum" else o.mag
        kw = f"axis={axis_t}" + (", keepdims=True" if keep else "")
        if self.rng.random() < 0.3 and o.text == x.name:
            expr = f"{o.text}.{fn}({kw})"
        else:
            expr = f"jnp.{fn}({o.text}, {kw})"
        return bool(self.emit(expr, shape, dtype, [x], mag, "reduce"))

    def _views(self, min_rank: int, max_rank: int) -> list[tuple[str, Val, tuple[int, ...]]]:
        """(text, value, shape) of values, plus transposed views of matrices."""
        out = []
        for v in self.values:
            if min_rank <= v.rank <= max_rank:
                o = self.fop(v, 3.0)
                out.append((o.text, v, v.shape))
                if v.rank >= 2 and self.rng.random() < 0.3:
                    t = f"{o.text}.T" if v.rank == 2 else f"jnp.swapaxes({o.text}, -1, -2)"
                    out.append((t, v, (*v.shape[:-2], v.shape[-1], v.shape[-2])))
        return out

    def op_contract(self) -> bool:
        kind = self.rng.choice(["dot", "matmul", "matmul", "einsum", "einsum"])
        views = self._views(1, 3)
        if not views:
            return False
        at, a, ash = self.rng.choice(views)
        if kind == "einsum":
            return self._einsum(at, a, ash, views)
        shape_fn = np.dot if kind == "dot" else np.matmul
        cands = []
        for bt, b, bsh in views:
            s = _shape_of(shape_fn, ash, bsh)
            if s is not None and len(s) <= MAX_RANK and s != bshape(ash, bsh):
                cands.append((bt, b, bsh, s))
        if not cands:
            return False
        bt, b, bsh, shape = self.rng.choice(cands)
        k = ash[-1]
        mag = 9.0 * k
        if kind == "dot":
            expr = f"jnp.dot({at}, {bt})"
        elif self.rng.random() < 0.7:
            expr = f"{at} @ {bt}"
        else:
            expr = f"jnp.matmul({at}, {bt})"
        return bool(self.emit(expr, shape, F32, [a, b], mag, kind))

    def _einsum(self, at: str, a: Val, ash: tuple[int, ...], views: list) -> bool:
        bt, b, bsh = self.rng.choice(views)
        pairs = [(i, j) for i in range(len(ash)) for j in range(len(bsh)) if ash[i] == bsh[j]]
        self.rng.shuffle(pairs)
        contracted: list[tuple[int, int]] = []
        for i, j in pairs:
            if len(contracted) < self.rng.choice([1, 2]) and all(
                i != c[0] and j != c[1] for c in contracted
            ):
                contracted.append((i, j))
        if not contracted:
            return False
        batch = []
        for i, j in pairs:
            if all(i != c[0] and j != c[1] for c in contracted + batch) and self.rng.random() < 0.3:
                batch.append((i, j))
                break
        letters = iter("abcdefghij")
        la = [next(letters) for _ in ash]
        lb: list[str] = []
        shared = {j: la[i] for i, j in contracted + batch}
        for j in range(len(bsh)):
            lb.append(shared[j] if j in shared else next(letters))
        out = [la[i] for i, _ in batch]
        out += [la[i] for i in range(len(ash)) if all(i != p[0] for p in contracted + batch)]
        out += [lb[j] for j in range(len(bsh)) if j not in shared]
        if len(out) > MAX_RANK:
            return False
        self.rng.shuffle(out)
        dims = {**dict(zip(la, ash)), **dict(zip(lb, bsh))}
        spec = f"{''.join(la)},{''.join(lb)}->{''.join(out)}"
        k = math.prod(ash[i] for i, _ in contracted)
        expr = f"jnp.einsum({spec!r}, {at}, {bt})"
        return bool(self.emit(expr, [dims[c] for c in out], F32, [a, b], 9.0 * k, "einsum"))

    def op_reshape(self) -> bool:
        x = self.pick()
        assert x is not None
        n, rank = x.size, self.rng.randint(0 if x.size == 1 else 1, 3)
        dims: list[int] = []
        rest = n
        for _ in range(rank - 1):
            d = self.rng.choice([d for d in range(1, rest + 1) if rest % d == 0])
            dims.append(d)
            rest //= d
        if rank:
            dims.append(rest)
        self.rng.shuffle(dims)
        written: list[int] = list(dims)
        if dims and self.rng.random() < 0.3:
            written[self.rng.randrange(len(dims))] = -1
        shape_t = _fmt_axes(tuple(written))
        expr = (
            f"{x.name}.reshape({shape_t})"
            if self.rng.random() < 0.5
            else f"jnp.reshape({x.name}, {shape_t})"
        )
        return bool(self.emit(expr, dims, x.dtype, [x], x.mag, "reshape"))

    def op_permute(self) -> bool:
        x = self.pick(lambda v: v.rank >= 2)
        if x is None:
            return False
        r = x.rank
        choice = self.rng.choice(
            ["transpose", "swapaxes", "moveaxis", "T"]
            if r == 2
            else ["transpose", "swapaxes", "moveaxis"]
        )
        if choice == "T":
            perm = [1, 0]
            expr = f"{x.name}.T"
        elif choice == "transpose":
            perm = list(range(r))
            self.rng.shuffle(perm)
            written = [p - r if self.rng.random() < 0.2 else p for p in perm]
            expr = f"jnp.transpose({x.name}, {_fmt_axes(tuple(written))})"
        elif choice == "swapaxes":
            i, j = self.rng.randrange(r), self.rng.randrange(r)
            perm = list(range(r))
            perm[i], perm[j] = perm[j], perm[i]
            wi, wj = (
                (i - r if self.rng.random() < 0.3 else i),
                (j - r if self.rng.random() < 0.3 else j),
            )
            expr = f"jnp.swapaxes({x.name}, {wi}, {wj})"
        else:
            s, d = self.rng.randrange(r), self.rng.randrange(r)
            perm = list(range(r))
            perm.insert(d, perm.pop(s))
            ws = s - r if self.rng.random() < 0.3 else s
            expr = f"jnp.moveaxis({x.name}, {ws}, {d})"
        shape = tuple(x.shape[p] for p in perm)
        return bool(self.emit(expr, shape, x.dtype, [x], x.mag, "permute"))

    def op_expand(self) -> bool:
        x = self.pick(lambda v: v.rank < MAX_RANK)
        if x is None:
            return False
        r = x.rank
        kind = self.rng.random()
        sq = [i for i, d in enumerate(x.shape) if d == 1]
        if sq and kind < 0.25:
            i = self.rng.choice(sq)
            expr = f"jnp.squeeze({x.name}, axis={i - r if self.rng.random() < 0.3 else i})"
            shape = x.shape[:i] + x.shape[i + 1 :]
            return bool(self.emit(expr, shape, x.dtype, [x], x.mag, "squeeze"))
        if kind < 0.45:
            lead = self.rng.choice([(), (), (self.rng.randint(2, 4),)])
            shape = lead + tuple(
                self.rng.randint(2, 4) if d == 1 and self.rng.random() < 0.6 else d for d in x.shape
            )
            if len(shape) > MAX_RANK:
                return False
            return bool(
                self.emit(
                    f"jnp.broadcast_to({x.name}, {_fmt_axes(shape)})",
                    shape,
                    x.dtype,
                    [x],
                    x.mag,
                    "broadcast_to",
                )
            )
        ax = self.rng.randint(0, r)
        shape = x.shape[:ax] + (1,) + x.shape[ax:]
        if kind < 0.7:
            w = ax - (r + 1) if self.rng.random() < 0.3 else ax
            expr = f"jnp.expand_dims({x.name}, {w})"
        elif ax == r and r > 0 and self.rng.random() < 0.5:
            expr = f"{x.name}[..., None]"
        else:
            expr = f"{x.name}[{', '.join([':'] * ax + ['None'])}]"
        return bool(self.emit(expr, shape, x.dtype, [x], x.mag, "expand_dims"))

    def op_slice(self) -> bool:
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return False
        r = x.rank
        k = self.rng.randint(1, r)
        parts: list[str] = []
        for d in x.shape[:k]:
            c = self.rng.random()
            if c < 0.2:
                parts.append(":")
            elif c < 0.45:
                i = self.rng.randrange(d)
                parts.append(str(i - d if self.rng.random() < 0.4 else i))
            elif c < 0.55 and r < MAX_RANK:
                parts.append("None")
                parts.append(":")
            else:
                lo = self.rng.randrange(d)
                hi = self.rng.randint(lo + 1, d)
                step = self.rng.choice([1, 1, 1, 2])
                lo_t = (
                    ""
                    if lo == 0 and self.rng.random() < 0.5
                    else str(lo - d if self.rng.random() < 0.3 else lo)
                )
                hi_t = (
                    ""
                    if hi == d and self.rng.random() < 0.5
                    else str(hi - d if hi < d and self.rng.random() < 0.3 else hi)
                )
                parts.append(f"{lo_t}:{hi_t}" + (f":{step}" if step != 1 else ""))
        if k < r and self.rng.random() < 0.3:
            parts = [*parts, "..."]
        index = ", ".join(parts)
        shape = _shape_of(lambda a: eval(f"a[{index}]", {"None": None}, {"a": a}), x.shape)
        if shape is None or 0 in shape or len(shape) > MAX_RANK:
            return False
        return bool(self.emit(f"{x.name}[{index}]", shape, x.dtype, [x], x.mag, "slice"))

    def op_concat(self) -> bool:
        a = self.pick(lambda v: v.rank <= MAX_RANK - 1 or True)
        assert a is not None
        r = a.rank
        if r >= 1 and self.rng.random() < 0.6:
            ax = self.rng.randrange(r)
            cands = [
                v
                for v in self.values
                if v.rank == r
                and all(d == e for i, (d, e) in enumerate(zip(v.shape, a.shape)) if i != ax)
            ]
            others = [self.rng.choice(cands) for _ in range(self.rng.randint(1, 2))]
            vals = [a, *others]
            self.rng.shuffle(vals)
            shape = list(a.shape)
            shape[ax] = sum(v.shape[ax] for v in vals)
            w = ax - r if self.rng.random() < 0.3 else ax
            items = ", ".join(v.name for v in vals)
            expr = (
                f"jnp.concatenate([{items}], axis={w})"
                if w or self.rng.random() < 0.5
                else f"jnp.concatenate([{items}])"
            )
            feature = "concatenate"
        else:
            if r >= MAX_RANK:
                return False
            cands = [v for v in self.values if v.shape == a.shape]
            vals = [a, *[self.rng.choice(cands) for _ in range(self.rng.randint(1, 2))]]
            self.rng.shuffle(vals)
            ax = self.rng.randint(0, r)
            w = ax - (r + 1) if self.rng.random() < 0.3 else ax
            shape = list(a.shape)
            shape.insert(ax, len(vals))
            expr = f"jnp.stack([{', '.join(v.name for v in vals)}], axis={w})"
            feature = "stack"
        dtype = I32 if all(v.dtype == I32 for v in vals) else F32
        return bool(self.emit(expr, shape, dtype, vals, max(v.mag for v in vals), feature))

    def op_astype(self) -> bool:
        x = self.pick()
        assert x is not None
        kind = self.rng.random()
        if x.dtype == I32:
            if kind < 0.2:
                expr = f"jnp.abs({x.name}).astype(jnp.uint8).astype(jnp.int32)"
                return bool(self.emit(expr, x.shape, I32, [x], min(x.mag, 255), "astype"))
            return bool(
                self.emit(f"{x.name}.astype(jnp.float32)", x.shape, F32, [x], x.mag, "astype")
            )
        o = self.fop(x, 1000.0)
        if kind < 0.35:
            expr = f"({o.text} * 4.0).astype(jnp.int32)"
            return bool(self.emit(expr, x.shape, I32, [x], 4 * o.mag, "astype"))
        if kind < 0.6:
            expr = f"({o.text} * 4.0).astype(jnp.int32).astype(jnp.float32)"
            return bool(self.emit(expr, x.shape, F32, [x], 4 * o.mag, "astype"))
        if kind < 0.8:
            low = self.rng.choice(["bfloat16", "float16"])
            expr = f"{o.text}.astype(jnp.{low}).astype(jnp.float32)"
            return bool(self.emit(expr, x.shape, F32, [x], o.mag * 1.01, "astype_low"))
        expr = f"({x.name} > 0).astype(jnp.{self.rng.choice(['float32', 'int32'])})"
        return bool(
            self.emit(expr, x.shape, F32 if "float" in expr else I32, [x], 1.0, "astype_bool")
        )

    def _const_text(self, shape: tuple[int, ...], values: list[float], dtype: str) -> str:
        def fmt(v: float) -> str:
            if math.isinf(v):
                return "jnp.inf" if v > 0 else "-jnp.inf"
            return repr(int(v)) if dtype == I32 else repr(v)

        flat = [fmt(self.rng.choice(values)) for _ in range(math.prod(shape))]

        def nest(items: list[str], dims: tuple[int, ...]) -> str:
            if not dims:
                return items[0]
            n = len(items) // dims[0]
            return (
                "["
                + ", ".join(nest(items[i * n : (i + 1) * n], dims[1:]) for i in range(dims[0]))
                + "]"
            )

        dt = ", dtype=jnp.int32" if dtype == I32 else ""
        return f"jnp.array({nest(flat, shape)}{dt})"

    def op_const(self) -> bool:
        """Constants: dense arrays (incl. -0.0, denormals, inf), splats, full_like."""
        x = self.pick()
        assert x is not None
        kind = self.rng.random()
        if kind < 0.2:
            c = self.rng.choice([0.0, 1.0, -2.5])
            fn = self.rng.choice(
                [
                    f"jnp.full_like({x.name}, {c})",
                    f"jnp.zeros_like({x.name})",
                    f"jnp.ones_like({x.name})",
                ]
            )
            # no dependence on x: jax.vmap leaves it unbatched, and so must vmlir
            return bool(self.emit(fn, x.shape, x.dtype, [], 2.5, "const_like"))
        r = self.rng.randint(0, x.rank)
        shape = tuple(1 if self.rng.random() < 0.2 else d for d in x.shape[x.rank - r :])
        op = self.rng.choice(["+", "*", "maximum", "minimum"])
        if x.dtype == I32 and self.rng.random() < 0.5:
            c = self._const_text(shape, [-3, -1, 0, 2, 7], I32)
            cdt, cmag = I32, 7.0
        else:
            vals = [0.5, -1.25, 2.0, -0.0, 0.0, 1e-3, 3.0, 1.5e-39, -7.0]
            if op in ("maximum", "minimum"):
                vals += [math.inf, -math.inf, 3.0e38]
            c = self._const_text(shape, vals, F32)
            cdt, cmag = F32, 7.0
        if op in ("maximum", "minimum"):
            expr, mag = f"jnp.{op}({x.name}, {c})", max(x.mag, cmag)
            if "inf" in c or "e+38" in c:
                # keep x's bound: the other side of the max/min is what stays finite
                inner, bound = ("minimum", "1e30") if op == "maximum" else ("maximum", "-1e30")
                expr = f"jnp.{op}(jnp.{inner}({x.name}, {bound}), {c})"
                expr, mag = f"jnp.clip({expr}, -1e3, 1e3)", 1e3
                if not self.helper("clip"):
                    return False
        else:
            o = self.fop(x, 10.0) if op == "*" else self.op(x)
            expr = f"{o.text} {op} {c}"
            mag = o.mag * cmag if op == "*" else o.mag + cmag
        dtype = I32 if x.dtype == I32 and cdt == I32 else F32
        out_shape = bshape(x.shape, shape)
        return bool(self.emit(expr, out_shape, dtype, [x], mag, "const"))

    def op_vmap(self) -> bool:
        if self.depth >= 2 or (self.depth == 1 and self.rng.random() < 0.7):
            return False
        rng = self.rng
        use_axis_size = rng.random() < 0.1
        if use_axis_size:
            size = rng.randint(1, 4)
            first = None
        else:
            first = self.pick(lambda v: v.rank >= 1)
            if first is None:
                return False
        args: list[tuple[Val, int | None]] = []
        if first is not None:
            ax = rng.randrange(first.rank)
            size = first.shape[ax]
            args.append((first, ax))
        for _ in range(rng.randint(0 if args else 1, 2)):
            v = self.pick()
            assert v is not None
            axes = [i for i, d in enumerate(v.shape) if d == size]
            if axes and not use_axis_size and rng.random() < 0.6:
                args.append((v, rng.choice(axes)))
            else:
                args.append((v, None))
        rng.shuffle(args)
        inner_params = []
        for v, ax in args:
            shape = v.shape if ax is None else v.shape[:ax] + v.shape[ax + 1 :]
            name = self.gen.fresh("p")
            inner_params.append(Val(name, shape, v.dtype, frozenset([name]), v.mag))
        visible = []
        if "closure" not in self.gen.exclude and rng.random() < 0.3:
            visible = [v for v in self.values if v not in [a for a, _ in args]][-2:]
        inner = Scope(self.gen, inner_params, self.depth + 1, visible)
        n_ops = rng.randint(1, 3)
        inner.run(n_ops)
        outs = [inner.values[-1] if rng.random() < 0.8 else inner.pick()]
        if rng.random() < 0.25:
            outs.append(inner.pick())  # may repeat: the same value returned twice
        outs = inner.use_params(outs)
        mapped_params = {p.name for p, (_, ax) in zip(inner_params, args) if ax is not None}
        inner_names = {p.name for p in inner_params}
        out_axes: list[int | None] = []
        results: list[Val] = []
        for out in outs:
            r = out.rank
            if not (out.deps & mapped_params) and rng.random() < 0.4:
                oax: int | None = None
                shape = out.shape
            else:
                oax = rng.randint(0, r)
                shape = out.shape[:oax] + (size,) + out.shape[oax:]
                if len(shape) > MAX_RANK:
                    return False
                if rng.random() < 0.3:
                    oax -= r + 1
            out_axes.append(oax)
            deps: set[str] = set()
            for p, (v, _) in zip(inner_params, args):
                if p.name in out.deps:
                    deps |= v.deps
            deps |= out.deps - inner_names  # closed-over outer values
            name = self.gen.fresh("v" if self.depth == 0 else "u")
            loose = (
                out.loose
                or any(v.loose for v, _ in args)
                or not all(p.name in out.deps for p in inner_params)
            )
            results.append(Val(name, tuple(shape), out.dtype, frozenset(deps), out.mag, loose))
        in_axes = []
        for v, ax in args:
            if ax is not None and rng.random() < 0.3:
                ax -= v.rank
            in_axes.append(ax)
        fname = self.gen.fresh("g")
        self.lines.append(f"def {fname}({', '.join(p.name for p in inner_params)}):")
        self.lines.extend("    " + line for line in inner.lines)
        if len(outs) == 1:
            self.lines.append(f"    return {outs[0].name}")
            oax_t = repr(out_axes[0])
        else:
            self.lines.append(f"    return {outs[0].name}, {outs[1].name}")
            same = len(set(out_axes)) == 1 and rng.random() < 0.4
            oax_t = repr(out_axes[0]) if same else _fmt_axes(tuple(out_axes))
        if len(set(in_axes)) == 1 and in_axes[0] is not None and rng.random() < 0.3:
            in_t = repr(in_axes[0])
        else:
            in_t = _fmt_axes(tuple(in_axes))
        kw = f"in_axes={in_t}, out_axes={oax_t}"
        if use_axis_size or rng.random() < 0.1:
            kw += f", axis_size={size}"
        call = f"vmap({fname}, {kw})({', '.join(v.name for v, _ in args)})"
        self.lines.append(f"{', '.join(v.name for v in results)} = {call}")
        self.used.update(v.name for v, _ in args)
        self.values.extend(results)
        self.gen.features.add("vmap")
        self.helpers |= inner.helpers
        self.gen.nested_helpers |= inner.helpers
        if visible and any(v.name in "\n".join(inner.lines) for v in visible):
            self.gen.features.add("closure")
        return True

    # -- extra ops: the families batching rules were added for after the first set (gather,
    # scatter, dynamic_slice, pad, reverse, sort, reduce_window, iota, control flow, chlo);
    # generated only with `extra=True` (run.py --extra) --

    def op_extra(self) -> bool:
        name = self.rng.choice(EXTRA_OPS)
        made = getattr(self, "_x_" + name)()
        if made is None:
            return False
        expr, shape, dtype, deps, mag, helpers = made
        if not all(self.helper(h) for h in helpers):
            return False
        shape = tuple(shape)
        if len(shape) > MAX_RANK or 0 in shape:
            return False
        return bool(self.emit(expr, shape, dtype, deps, mag, "x_" + name))

    def _axis(self, r: int) -> tuple[int, str]:
        a = self.rng.randrange(r)
        return a, str(a - r if self.rng.random() < 0.3 else a)

    def _x_argmax(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        fn = self.rng.choice(["argmax", "argmin"])
        if self.rng.random() < 0.2:
            return f"jnp.{fn}({x.name})", (), I32, [x], x.size, [fn]
        a, at = self._axis(x.rank)
        shape = x.shape[:a] + x.shape[a + 1 :]
        return f"jnp.{fn}({x.name}, axis={at})", shape, I32, [x], x.shape[a], [fn]

    def _x_cumulative(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        a, at = self._axis(x.rank)
        if self.rng.random() < 0.6:
            o = self.fop(x, MAG_LIMIT / x.shape[a])
            return (
                f"jnp.cumsum({o.text}, axis={at})",
                x.shape,
                F32,
                [x],
                o.mag * x.shape[a],
                ["cumsum", "cumsum_0"],
            )
        fn = self.rng.choice(["cummax", "cummin"])
        return f"lax.{fn}({x.name}, axis={a})", x.shape, x.dtype, [x], x.mag, [fn]

    def _x_sort(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        _a, at = self._axis(x.rank)
        return f"jnp.sort({x.name}, axis={at})", x.shape, x.dtype, [x], x.mag, ["sort"]

    def _x_reverse(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        if self.rng.random() < 0.5:
            _a, at = self._axis(x.rank)
            return f"jnp.flip({x.name}, {at})", x.shape, x.dtype, [x], x.mag, ["_flip"]
        parts = [
            self.rng.choice([":", "::-1", "::-2", "1::-1", "-1::-1"])
            for _ in range(self.rng.randint(1, x.rank))
        ]
        if all(p == ":" for p in parts):
            parts[0] = "::-1"
        index = ", ".join(parts)
        shape = _shape_of(lambda a: eval(f"a[{index}]", {}, {"a": a}), x.shape)
        if shape is None:
            return None
        return f"{x.name}[{index}]", shape, x.dtype, [x], x.mag, []

    def _x_pad(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        widths = tuple((self.rng.randint(0, 2), self.rng.randint(0, 2)) for _ in x.shape)
        shape = tuple(d + lo + hi for d, (lo, hi) in zip(x.shape, widths))
        mode = self.rng.choice(["", "", ", mode='edge'", ", constant_values=1.5"])
        if "1.5" in mode and x.dtype == I32:
            mode = ""
        return (
            f"jnp.pad({x.name}, {_fmt_axes(widths)}{mode})",
            shape,
            x.dtype,
            [x],
            max(x.mag, 1.5),
            ["_pad"],
        )

    def _x_gather(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        a, at = self._axis(x.rank)
        d = x.shape[a]
        idx = [self.rng.randrange(-d, d) for _ in range(self.rng.randint(1, 4))]
        if a == 0 and self.rng.random() < 0.5:
            expr = f"{x.name}[jnp.array({idx})]"
            helpers: list[str] = []
        else:
            expr = f"jnp.take({x.name}, jnp.array({idx}), axis={at})"
            helpers = ["_take", "_where"]
        shape = x.shape[:a] + (len(idx),) + x.shape[a + 1 :]
        return expr, shape, x.dtype, [x], x.mag, helpers

    def _dyn_index(self, d: int):
        """(text, deps, helpers) of a traced int32 scalar in [0, d)."""
        src = self.pick(lambda v: v.rank == 0 and v.dtype == I32)
        if src is not None and self.rng.random() < 0.6:
            return f"{src.name} % {d}", [src], ["remainder", "_where"]
        src = self.pick(lambda v: v.rank >= 1)
        assert src is not None
        return f"jnp.argmax({src.name}) % {d}", [src], ["argmax", "remainder", "_where"]

    def _x_dynamic_index(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        a = self.rng.randrange(x.rank)
        d = x.shape[a]
        it, ideps, helpers = self._dyn_index(d)
        if self.rng.random() < 0.6:
            expr = f"{x.name}[{', '.join([':'] * a + [it])}]"
            shape = x.shape[:a] + x.shape[a + 1 :]
        else:
            size = self.rng.randint(1, d)
            expr = f"lax.dynamic_slice_in_dim({x.name}, {it}, {size}, axis={a})"
            shape = x.shape[:a] + (size,) + x.shape[a + 1 :]
        return expr, shape, x.dtype, [x, *ideps], x.mag, helpers

    def _x_scatter(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        o = self.fop(x)
        a = self.rng.randrange(x.rank)
        d = x.shape[a]
        deps = [x]
        helpers: list[str] = []
        if self.rng.random() < 0.5:
            it = str(self.rng.randrange(-d, d))
        elif self.rng.random() < 0.5:
            lo = self.rng.randrange(d)
            it = f"{lo}:{self.rng.randint(lo + 1, d)}"
        else:
            it, ideps, helpers = self._dyn_index(d)
            deps += ideps
        index = ", ".join([":"] * a + [it])
        if "%" in it:  # a traced index drops the axis, as a static int does
            target: tuple[int, ...] | None = x.shape[:a] + x.shape[a + 1 :]
        else:
            target = _shape_of(lambda arr: eval(f"arr[{index}]", {}, {"arr": arr}), x.shape)
        method = self.rng.choice(["set", "add", "multiply", "max"])
        y = self.pick(lambda v: target is not None and bshape(target, v.shape) == tuple(target))
        if y is None or self.rng.random() < 0.3:
            yt, ymag = _lit(self.rng.choice([0.0, 2.0, -1.5])), 2.0
        else:
            oy = self.fop(y, 10.0)
            yt, ymag = oy.text, oy.mag
            deps.append(y)
        if method == "multiply":
            oo = self.fop(x, 10.0)
            o, yt, ymag = oo, f"jnp.tanh({yt})", 1.0
        mag = {
            "set": max(o.mag, ymag),
            "add": o.mag + ymag,
            "multiply": o.mag,
            "max": max(o.mag, ymag),
        }[method]
        return f"{o.text}.at[{index}].{method}({yt})", x.shape, F32, deps, mag, helpers

    def _x_cond(self):
        x = self.pick()
        assert x is not None
        c = self.pick()
        assert c is not None
        if c.loose:
            if not self.allowed("loose_control_flow"):
                return None
            self.gen.features.add("loose_control_flow")
        pred = self.rng.choice(
            [f"jnp.sum({c.name}) > 0", f"jnp.max({c.name}) > 1", f"jnp.min({c.name}) < 0"]
        )
        y = self.pick(lambda v: bshape(v.shape, x.shape) is not None and v is not x)
        ox = self.fop(x, 10.0)
        deps = [x, c]
        if y is None or self.rng.random() < 0.4:
            bodies = ["a * 2.0", "jnp.sin(a)", "a - 1.0", "-a", "jnp.tanh(a) + 1.0"]
            t, f = self.rng.sample(bodies, 2)
            expr = f"lax.cond({pred}, lambda a: {t}, lambda a: {f}, {ox.text})"
            return expr, x.shape, F32, deps, 2 * ox.mag + 1, []
        oy = self.fop(y, 10.0)
        deps.append(y)
        shape = bshape(x.shape, y.shape)
        bodies = ["a * b", "a - b", "jnp.maximum(a, b)", "a + jnp.sin(b)"]
        t, f = self.rng.sample(bodies, 2)
        # every body gives the broadcast shape of a and b
        expr = f"lax.cond({pred}, lambda a, b: {t}, lambda a, b: {f}, {ox.text}, {oy.text})"
        return expr, shape, F32, deps, ox.mag * oy.mag + ox.mag + oy.mag, []

    def _x_fori(self):
        x = self.pick()
        assert x is not None
        ox = self.fop(x, 10.0)
        n = self.rng.randint(1, 3)
        body = self.rng.choice(["a * 0.5 + 1.0", "jnp.sin(a) + i", "jnp.tanh(a * 1.5)"])
        mag = {
            "a * 0.5 + 1.0": max(ox.mag, 2.0),
            "jnp.sin(a) + i": 1.0 + n,
            "jnp.tanh(a * 1.5)": 1.0,
        }[body]
        if body == "a * 0.5 + 1.0" or self.rng.random() < 0.5:
            return (
                f"lax.fori_loop(0, {n}, lambda i, a: {body}, {ox.text})",
                x.shape,
                F32,
                [x],
                mag,
                ["closed_call"],
            )
        # a trip count that differs between examples: the loop is masked
        c = self.pick()
        assert c is not None
        if c.loose:
            if not self.allowed("loose_control_flow"):
                return None
            self.gen.features.add("loose_control_flow")
        expr = (
            f"lax.while_loop(lambda c: c[0] < jnp.sum({c.name} > 0) % 4, "
            f"lambda c: (c[0] + 1, jnp.tanh(c[1] * 1.5) + 0.5), (0, {ox.text}))[1]"
        )
        return expr, x.shape, F32, [x, c], max(ox.mag, 1.5), ["remainder", "_where"]

    def _x_softmax(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        a, at = self._axis(x.rank)
        o = self.fop(x)
        if self.rng.random() < 0.5:
            return f"jax.nn.softmax({o.text}, axis={at})", x.shape, F32, [x], 1.0, []
        shape = x.shape[:a] + x.shape[a + 1 :]
        return f"jax.nn.logsumexp({o.text}, axis={at})", shape, F32, [x], o.mag + 2.0, []

    def _x_roll(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        shift = self.rng.choice([-2, -1, 1, 2, 3])
        if self.rng.random() < 0.3:
            return f"jnp.roll({x.name}, {shift})", x.shape, x.dtype, [x], x.mag, ["_roll_static"]
        _a, at = self._axis(x.rank)
        return (
            f"jnp.roll({x.name}, {shift}, axis={at})",
            x.shape,
            x.dtype,
            [x],
            x.mag,
            ["_roll_static"],
        )

    def _x_tri(self):
        x = self.pick(lambda v: v.rank >= 2)
        if x is None:
            return None
        fn = self.rng.choice(["tril", "triu"])
        k = self.rng.choice(["", ", 1", ", -1"])
        return f"jnp.{fn}({x.name}{k})", x.shape, x.dtype, [x], x.mag, [fn]

    def _x_iota(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        d = x.shape[-1]
        o = self.fop(x, MAG_LIMIT / d)
        if x.rank >= 2 and self.rng.random() < 0.5:
            e = x.shape[-2]
            return f"{o.text} - jnp.arange({e}.0)[:, None]", x.shape, F32, [x], o.mag + e, []
        return f"{o.text} * jnp.arange({d}.0)", x.shape, F32, [x], o.mag * d, []

    def _x_top_k(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        k = self.rng.randint(1, x.shape[-1])
        i = self.rng.choice([0, 0, 1])
        shape = x.shape[:-1] + (k,)
        return (
            f"lax.top_k({x.name}, {k})[{i}]",
            shape,
            (x.dtype if i == 0 else I32),
            [x],
            (x.mag if i == 0 else x.shape[-1]),
            [],
        )

    def _x_moments(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        a, at = self._axis(x.rank)
        shape = x.shape[:a] + x.shape[a + 1 :]
        o = self.fop(x, 10.0)
        fn = self.rng.choice(["var", "std", "norm"])
        if fn == "norm":
            return (
                f"jnp.linalg.norm({o.text}, axis={at})",
                shape,
                F32,
                [x],
                o.mag * x.shape[a],
                ["norm"],
            )
        helpers = ["_var", "_where"] + (["_std"] if fn == "std" else [])
        return f"jnp.{fn}({o.text}, axis={at})", shape, F32, [x], o.mag * o.mag, helpers

    def _x_math(self):
        x = self.pick()
        assert x is not None
        o = self.fop(x)
        fn, helpers, mag = self.rng.choice(
            [
                ("jnp.remainder({x}, 1.5)", ["remainder"], 1.5),
                ("jnp.floor({x})", [], o.mag + 1),
                ("jnp.round({x})", ["round"], o.mag + 1),
                ("lax.erf({x})", [], 1.0),
                ("jnp.sign({x})", [], 1.0),
            ]
        )
        return fn.format(x=o.text), x.shape, F32, [x], mag, helpers

    def _x_logical(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        a, at = self._axis(x.rank)
        shape = x.shape[:a] + x.shape[a + 1 :]
        if self.rng.random() < 0.5:
            fn = self.rng.choice(["any", "all"])
            return f"jnp.{fn}({x.name} > 0, axis={at}).astype(jnp.int32)", shape, I32, [x], 1.0, []
        o = self.fop(x, 1.0)
        return f"jnp.prod({o.text}, axis={at})", shape, F32, [x], 1.0, []

    def _x_repeat(self):
        x = self.pick(lambda v: v.rank >= 1)
        if x is None:
            return None
        a, at = self._axis(x.rank)
        if self.rng.random() < 0.5:
            n = self.rng.randint(2, 3)
            shape = x.shape[:a] + (x.shape[a] * n,) + x.shape[a + 1 :]
            return f"jnp.repeat({x.name}, {n}, axis={at})", shape, x.dtype, [x], x.mag, []
        reps = tuple(self.rng.randint(1, 2) for _ in x.shape)
        shape = tuple(d * r for d, r in zip(x.shape, reps))
        return f"jnp.tile({x.name}, {_fmt_axes(reps)})", shape, x.dtype, [x], x.mag, []

    def _x_diagonal(self):
        x = self.pick(lambda v: v.rank >= 2)
        if x is None:
            return None
        if self.rng.random() < 0.5:
            shape = _shape_of(np.diagonal, x.shape)
            return f"jnp.diagonal({x.name})", shape, x.dtype, [x], x.mag, ["diagonal"]
        shape = _shape_of(np.trace, x.shape)
        o = self.fop(x)
        return (
            f"jnp.trace({o.text})",
            shape,
            F32,
            [x],
            o.mag * min(x.shape[:2]),
            ["trace", "_where"],
        )

    def use_params(self, outs: list[Val]) -> list[Val]:
        """`outs`, with every parameter none of them depends on mixed into one of them.

        JAX drops arguments that do not reach an output from its lowering; a program that
        ignores an argument is its own feature ("unused_arg").
        """
        if "unused_arg" not in self.gen.exclude and self.rng.random() < 0.5:
            return outs
        outs = list(outs)
        for p in self.params:
            if any(p.name in o.deps for o in outs):
                continue
            k = self.rng.randrange(len(outs))
            o = outs[k]
            fn = self.rng.choice(["sum", "mean", "max"])
            if o.dtype == I32 and p.dtype == I32 and fn != "mean":
                expr, mag, dtype = f"{o.name} + jnp.{fn}({p.name})", o.mag + p.mag * p.size, I32
            else:
                op = self.fop(p, 1.0 if fn == "sum" else MAG_LIMIT)
                mag = o.mag + op.mag * (p.size if fn == "sum" else 1)
                expr, dtype = f"{o.name} + jnp.{fn}({op.text})", F32
            outs[k] = self.emit(expr, o.shape, dtype, [o, p], mag, "reduce")
        return outs

    OPS: ClassVar[list[tuple[str, float]]] = [
        ("op_unary", 3),
        ("op_binary", 4),
        ("op_where", 1.5),
        ("op_reduce", 2),
        ("op_contract", 2),
        ("op_reshape", 1),
        ("op_permute", 1),
        ("op_expand", 1),
        ("op_slice", 1.5),
        ("op_concat", 1),
        ("op_astype", 0.7),
        ("op_const", 0.7),
        ("op_vmap", 1.2),
    ]

    def run(self, n_ops: int) -> None:
        ops = self.OPS + ([("op_extra", 4.0)] if self.gen.extra else [])
        names = [n for n, _ in ops]
        weights = [w for _, w in ops]
        done = tries = 0
        while done < n_ops and tries < 10 * n_ops:
            tries += 1
            if getattr(self, self.rng.choices(names, weights)[0])():
                done += 1


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


def generate(
    seed: int | str | random.Random,
    exclude: Iterable[str] = tuple(KNOWN_ISSUES),
    n_ops: tuple[int, int] | None = None,
    extra: bool = False,
) -> Program:
    """One random program from `seed` (deterministic); `exclude` lists features left out;
    `extra` adds the ops of `EXTRA_OPS` (features named "x_...")."""
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    n_ops = n_ops or N_OPS
    gen = Generator(rng, frozenset(exclude), extra)
    n_args = rng.choices([1, 2, 3, 4], weights=[3, 4, 2, 1])[0]
    use_axis_size = rng.random() < 0.08
    batch = rng.choices([1, 2, 3, 6, 7], weights=[1, 3, 3, 2, 3])[0]

    # the leaves: x0, x1, ... with their per-example shapes and batch axes
    params: list[Val] = []
    in_axes: list[int | None] = []
    for i in range(n_args):
        name = f"x{i}"
        if rng.random() < 0.06:
            params.append(Val(name, (), "pyfloat", frozenset([name]), 4.0))
            in_axes.append(None)
            continue
        shape = _arg_shape(rng)
        dtype = I32 if rng.random() < 0.15 else F32
        params.append(Val(name, shape, dtype, frozenset([name]), 5.0 if dtype == I32 else 4.0))
        ax: int | None = (
            None if rng.random() < (0.6 if use_axis_size else 0.3) else rng.randint(0, len(shape))
        )
        in_axes.append(ax)
    if not use_axis_size and all(a is None for a in in_axes):
        cands = [i for i, p in enumerate(params) if p.dtype != "pyfloat"]
        if not cands:
            params[0] = Val("x0", (3,), F32, frozenset(["x0"]), 4.0)
            cands = [0]
        i = rng.choice(cands)
        in_axes[i] = rng.randint(0, params[i].rank)
    written = [
        a - (p.rank + 1) if a is not None and rng.random() < 0.3 else a
        for p, a in zip(params, in_axes)
    ]
    leaf_specs = []
    for p, ax in zip(params, in_axes):
        s = p.shape if ax is None else p.shape[:ax] + (batch,) + p.shape[ax:]
        leaf_specs.append((s, p.dtype))
    mapped = {p.name for p, a in zip(params, in_axes) if a is not None}

    # the function's arguments: leaves, or pairs of leaves in a tuple or dict
    unpack: list[str] = []
    arg_names: list[str] = []
    arg_axes: list[Any] = []
    arg_specs: list[Any] = []
    i = 0
    while i < n_args:
        if i + 1 < n_args and rng.random() < 0.2:
            gen.features.add("pytree_arg")
            name = f"t{i}"
            pair, axes2, specs2 = params[i : i + 2], written[i : i + 2], leaf_specs[i : i + 2]
            if rng.random() < 0.5:
                unpack.append(f"{pair[0].name}, {pair[1].name} = {name}")
                arg_axes.append(
                    axes2[0] if axes2[0] == axes2[1] and rng.random() < 0.6 else tuple(axes2)
                )
                arg_specs.append(list(specs2))
            else:
                unpack.append(f"{pair[0].name}, {pair[1].name} = {name}['a'], {name}['b']")
                same = axes2[0] == axes2[1] and rng.random() < 0.6
                arg_axes.append(axes2[0] if same else {"a": axes2[0], "b": axes2[1]})
                arg_specs.append({"a": specs2[0], "b": specs2[1]})
            arg_names.append(name)
            i += 2
        else:
            arg_names.append(params[i].name)
            arg_axes.append(written[i])
            arg_specs.append(leaf_specs[i])
            i += 1
    for p in params:
        if p.dtype == "pyfloat":
            gen.features.add("pyfloat_arg")
            unpack.append(f"{p.name} = jnp.asarray({p.name})")
    params = [
        Val(p.name, p.shape, F32, p.deps, p.mag) if p.dtype == "pyfloat" else p for p in params
    ]

    scope = Scope(gen, params, 0, [])
    scope.run(rng.randint(*n_ops))

    # outputs: the last value, and maybe one or two more (distinct)
    n_out = rng.choices([1, 2, 3], weights=[4, 3, 2])[0]
    outs = [scope.values[-1]]
    for _ in range(n_out - 1):
        v = scope.pick(lambda v: v not in outs)
        if v is not None:
            outs.append(v)
    outs = scope.use_params(outs)
    rng.shuffle(outs)
    axes: list[int | None] = []
    leaves: list[_Leaf] = []
    for v in outs:
        r = v.rank
        if not (v.deps & mapped) and rng.random() < 0.5:
            axes.append(None)
            leaves.append(_Leaf(v.shape))
        else:
            a = rng.randint(0, r)
            leaves.append(_Leaf(v.shape[:a] + (batch,) + v.shape[a:]))
            axes.append(a - (r + 1) if rng.random() < 0.3 else a)
    names: list[Any] = [v.name for v in outs]
    ax_tree: list[Any] = list(axes)
    shape_tree: list[Any] = list(leaves)
    if len(outs) >= 2 and rng.random() < 0.25:
        # the last two as one subtree, its out_axes a prefix when they agree
        gen.features.add("nested_out")
        names[-2:] = [tuple(names[-2:])]
        shape_tree[-2:] = [tuple(shape_tree[-2:])]
        a2 = tuple(ax_tree[-2:])
        ax_tree[-2:] = [a2[0] if a2[0] == a2[1] and rng.random() < 0.5 else a2]

    def src(t: Any) -> str:
        return "(" + ", ".join(t) + ")" if isinstance(t, tuple) else t

    kind = (
        rng.choices(["single", "tuple", "dict"], weights=[4, 3, 2])[0]
        if len(names) == 1
        else rng.choice(["tuple", "dict"])
    )
    uniform_axis = all(a == axes[0] for a in axes) and rng.random() < 0.4
    if kind == "single":
        ret, out_axes_v, shape_out = src(names[0]), ax_tree[0], shape_tree[0]
    elif kind == "tuple":
        ret = "(" + ", ".join(src(n) for n in names) + ("," if len(names) == 1 else "") + ")"
        out_axes_v = axes[0] if uniform_axis else tuple(ax_tree)
        shape_out = tuple(shape_tree)
    else:
        keys = rng.sample(["a", "b", "c", "out", "y", "z"], len(names))
        ret = "{" + ", ".join(f"{k!r}: {src(n)}" for k, n in zip(keys, names)) + "}"
        out_axes_v = axes[0] if uniform_axis else dict(zip(keys, ax_tree))
        shape_out = dict(zip(keys, shape_tree))
    out_shapes = [leaf.shape for leaf in _flatten(shape_out)]

    if len(set(map(repr, arg_axes))) == 1 and isinstance(arg_axes[0], int) and rng.random() < 0.3:
        in_axes_t = repr(arg_axes[0])
    elif use_axis_size and all(a is None for a in written) and rng.random() < 0.5:
        in_axes_t = "None"
    else:
        in_axes_t = _fmt_axes(tuple(arg_axes))
    lines = [f"def f({', '.join(arg_names)}):"]
    lines += ["    " + line for line in unpack + scope.lines]
    lines.append(f"    return {ret}")
    lines.append("")
    lines.append(f"in_axes = {in_axes_t}")
    lines.append(f"out_axes = {_fmt_axes(out_axes_v)}")
    lines.append(f"axis_size = {batch if use_axis_size else None}")
    lines.append(f"shapes = {arg_specs!r}")
    return Program(
        "\n".join(lines) + "\n", frozenset(gen.features), tuple(map(tuple, out_shapes)), arg_specs
    )


def from_source(source: str) -> Program:
    """A Program from its source alone (e.g. a failing case pasted from a report); its
    output shapes are not known, so the runner does not check them."""
    shapes = ast.literal_eval(source.split("\nshapes = ", 1)[1].split("\n", 1)[0])
    return Program(source, frozenset(), None, shapes)  # type: ignore[arg-type]
