"""Op-family generators: contractions, reshapes, permutations, slicing, concatenation, nested
vmap."""

from __future__ import annotations

import math

import numpy as np

from tests.fuzz.gen.model import (
    F32,
    I32,
    MAX_RANK,
    Val,
    _fmt_axes,
    _shape_of,
    bshape,
)


class ShapeOps:
    """Mixin of `Scope`: each `op_*` emits one op of its family, or returns False."""

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
        inner = type(self)(self.gen, inner_params, self.depth + 1, visible)
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
