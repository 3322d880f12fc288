"""Random divergent-loop programs at real batch widths (run.py --widths).

Compaction, refill and region skipping only switch on at hundreds of lanes, which the
general generator (progen.py, a few examples per batch) never reaches. Each program here
is a while loop over a per-example state (a counter, a scalar, a 3-vector) whose
predicate is varying (a per-example trip count or a value test) or uniform (an unbatched
bound), and whose body mixes elementwise math, a varying cond (a masked region, skipped
when no lane takes it), a nested while, a fori_loop, a gather and a scatter. run.py runs
every program under every strategy at 512-4096 examples against jax.vmap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

STRATEGIES = ("mask", "compact", "refill", "auto")

_UNARY = ("jnp.sin({})", "jnp.tanh({})", "0.5 * {}", "{} * {} * 0.1", "jnp.abs({}) + 0.1", "jnp.cos({}) * 0.9")
_BINARY = ("{} + {}", "{} - 0.5 * {}", "{} * jnp.tanh({})", "jnp.maximum({}, {})")


@dataclass(frozen=True)
class WidthProgram:
    source: str
    batch: int
    features: tuple[str, ...]

    def build(self) -> dict[str, Any]:
        import jax.numpy as jnp
        from jax import lax

        ns: dict[str, Any] = {"jnp": jnp, "lax": lax}
        exec(compile(self.source, "<widths program>", "exec"), ns)  # noqa: S102 - our own generated source
        return ns

    def inputs(self, rng: np.random.Generator) -> tuple[Any, ...]:
        b = self.batch
        heavy = np.minimum(rng.pareto(1.1, b) * 2, 120).astype(np.int32)
        return (
            rng.normal(size=b).astype(np.float32),
            heavy,
            rng.normal(size=(b, 3)).astype(np.float32),
            np.float32(rng.uniform(0.5, 2.0)),
            np.int32(rng.integers(0, 12)),
        )


IN_AXES = (0, 0, 0, None, None)


def _expr(r: random.Random, names: list[str], depth: int = 2) -> str:
    if depth == 0 or r.random() < 0.3:
        return r.choice(names)
    if r.random() < 0.5:
        a = _expr(r, names, depth - 1)
        return "(" + r.choice(_UNARY).format(a, a) + ")"
    return "(" + r.choice(_BINARY).format(_expr(r, names, depth - 1), _expr(r, names, depth - 1)) + ")"


def generate(seed: str) -> WidthProgram:
    """Program `seed` (deterministic)."""
    r = random.Random(seed)
    batch = r.choice((512, 1024, 2048, 4096))
    feats: list[str] = []
    pred = r.choice(("count", "count", "value", "uniform"))
    feats.append(f"pred_{pred}")
    lines = ["def f(x, n, w, u, k):", "    def body(s):", "        i, v, z = s"]
    names = ["v", "x", "u", "z[0]", "z[1]"]
    lines.append(f"        v = jnp.clip({_expr(r, names)}, -10.0, 10.0)")
    if r.random() < 0.5:
        feats.append("cond")
        heavy = " + ".join(f"jnp.sin(a * {j + 1}.0)" for j in range(8))  # past the skip threshold
        lines += [
            "        def hot(a):",
            f"            return {heavy}",
            "        v = lax.cond(v > 1.5, hot, lambda a: a, v)",
        ]
    if r.random() < 0.3:
        feats.append("nested_while")
        lines += [
            "        _, v = lax.while_loop(lambda t: t[0] < (i + n) % 3, lambda t: (t[0] + 1, t[1] * 0.9 + 0.1), (jnp.int32(0), v))",
        ]
    if r.random() < 0.3:
        feats.append("fori")
        lines.append("        v = lax.fori_loop(0, 2, lambda j, a: a * 0.95 + 0.01 * j, v)")
    if r.random() < 0.4:
        feats.append("gather")
        lines.append("        v = v + 0.1 * z[i % 3]")
    if r.random() < 0.4:
        feats.append("scatter")
        lines.append("        z = z.at[(i + 1) % 3].set(jnp.tanh(v))")
    else:
        lines.append(f"        z = jnp.tanh(z + 0.1 * {_expr(r, ['v', 'x'], 1)})")
    lines.append("        return i + 1, v, z")
    if pred == "count":
        cond = "s[0] < n"
    elif pred == "value":
        cond = "(jnp.abs(s[1]) < 9.0) & (s[0] < n + 3)"
    else:
        cond = "s[0] < k"
    lines += [
        f"    return lax.while_loop(lambda s: {cond}, body, (jnp.int32(0), x, w))",
        "",
    ]
    return WidthProgram("\n".join(lines), batch, tuple(feats))
