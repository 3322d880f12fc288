"""`Scope`: one function body being generated, with the op families mixed in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from tests.fuzz.gen.model import (
    F32,
    Generator,
    I32,
    MAG_LIMIT,
    Operand,
    Val,
)
from tests.fuzz.gen.elementwise import ElementwiseOps
from tests.fuzz.gen.extra import ExtraOps
from tests.fuzz.gen.shape import ShapeOps


class Scope(ElementwiseOps, ShapeOps, ExtraOps):
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
