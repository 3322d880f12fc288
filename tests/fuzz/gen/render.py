"""Rendering: `generate` picks the arguments, axes and body and writes the Python source;
`from_source` reads one back."""

from __future__ import annotations

import ast
import random
from collections.abc import Iterable
from typing import Any

from tests.fuzz.gen.model import (
    EXTRA_OPS,
    F32,
    Generator,
    I32,
    KNOWN_ISSUES,
    N_OPS,
    Program,
    Val,
    _Leaf,
    _arg_shape,
    _flatten,
    _fmt_axes,
)
from tests.fuzz.gen.scope import Scope


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
