"""Op-family generators for EXTRA_OPS: gather, scatter, sort, pad, control flow, ..."""

from __future__ import annotations


import numpy as np

from tests.fuzz.gen.model import (
    EXTRA_OPS,
    F32,
    I32,
    MAG_LIMIT,
    MAX_RANK,
    _fmt_axes,
    _lit,
    _shape_of,
    bshape,
)


class ExtraOps:
    """Mixin of `Scope`: `op_extra` emits one op of EXTRA_OPS."""

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
