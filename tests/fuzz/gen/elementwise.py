"""Op-family generators: elementwise ops, comparisons and where, reductions, casts, constants."""

from __future__ import annotations

import math

from tests.fuzz.gen.model import (
    F32,
    I32,
    INT_LIMIT,
    MAG_LIMIT,
    MAX_RANK,
    _fmt_axes,
    _lit,
    bshape,
)


class ElementwiseOps:
    """Mixin of `Scope`: each `op_*` emits one op of its family, or returns False."""

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
