"""Per-example trip counts of a function's while loops, measured on sample inputs: the
profile behind `vmlir.compile(f, profile=True)` and `vmlir.profile(compiled, *args)`.

The per-example jaxpr is evaluated equation by equation under jax.vmap, with every
`while` replaced by one that also carries an iteration counter (and sums the counters of
the loops nested in its body). The loops are numbered in pre-order, the order in which
their `stablehlo.while` ops appear in the imported module (the importer inlines calls
at the call site), so loop k of the result is the k-th while of the per-example IR.
A loop inside another higher-order primitive (cond, scan, custom derivatives) is not
counted: its entry is None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from vmlir.jaxmlir import jax_core

_core = jax_core()


def _sub_jaxprs(params: dict[str, Any]) -> list[Any]:
    out = []
    for v in params.values():
        for x in v if isinstance(v, (tuple, list)) else (v,):
            if isinstance(x, _core.ClosedJaxpr):
                out.append(x.jaxpr)
            elif isinstance(x, _core.Jaxpr):
                out.append(x)
    return out


def _whiles(jaxpr: Any) -> list[Any]:
    """The `while` equations of `jaxpr`, nested ones included, in pre-order (a loop, then
    the loops of its sub-jaxprs in parameter order: cond, then body)."""
    out = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "while":
            out.append(eqn)
        for j in _sub_jaxprs(eqn.params):
            out += _whiles(j)
    return out


def count_whiles(jaxpr: Any) -> int:
    """While loops in `jaxpr`, nested ones included."""
    return len(_whiles(jaxpr))


def _site(eqn: Any) -> tuple[str, int] | None:
    """(file, line) of the user's code an equation came from, as its ops' locations."""
    # jax's filter of its own frames (what the lowering puts in locations) is not public.
    from jax._src import source_info_util

    frame = source_info_util.user_frame(getattr(eqn.source_info, "traceback", None))
    return None if frame is None else (frame.file_name, frame.start_line)


def loop_sites(jaxpr: Any) -> list[tuple[str, int] | None]:
    """Per while loop of `jaxpr` (pre-order, as count_whiles counts them), the (file, line)
    of the user's code it came from. A primitive's lowering may add while loops of its
    own (jax.random's rolled threefry on CPU): the sites tell the user's loops apart."""
    return [_site(eqn) for eqn in _whiles(jaxpr)]


def _eval(jaxpr: Any, consts: Sequence[Any], args: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """(outputs, one counter per loop in pre-order; None for a loop not counted)."""
    env: dict[Any, Any] = {}

    def read(v: Any) -> Any:
        return v.val if isinstance(v, _core.Literal) else env[v]

    for v, x in zip(jaxpr.constvars, consts):
        env[v] = x
    for v, x in zip(jaxpr.invars, args):
        env[v] = x
    counters: list[Any] = []
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name == "while":
            outs, counts = _counted_while(eqn.params, invals)
            counters += counts
        elif name in ("pjit", "jit", "closed_call", "core_call"):
            sub = eqn.params.get("jaxpr") or eqn.params.get("call_jaxpr")
            closed = sub if isinstance(sub, _core.ClosedJaxpr) else _core.ClosedJaxpr(sub, ())
            outs, counts = _eval(closed.jaxpr, closed.consts, invals)
            counters += counts
        else:
            with eqn.ctx.manager:
                outs = eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))
            if not eqn.primitive.multiple_results:
                outs = [outs]
            counters += [None] * sum(count_whiles(j) for j in _sub_jaxprs(eqn.params))
        for v, x in zip(eqn.outvars, outs):
            env[v] = x
    return [read(v) for v in jaxpr.outvars], counters


def _counted_while(params: dict[str, Any], invals: list[Any]) -> tuple[list[Any], list[Any]]:
    cond, body = params["cond_jaxpr"], params["body_jaxpr"]
    nc, nb = params["cond_nconsts"], params["body_nconsts"]
    cond_consts, body_consts, init = invals[:nc], invals[nc : nc + nb], invals[nc + nb :]
    in_cond = count_whiles(cond.jaxpr)
    in_body = count_whiles(body.jaxpr)

    def cond_fn(state: Any) -> Any:
        return _core.eval_jaxpr(cond.jaxpr, cond.consts, *cond_consts, *state[0])[0]

    def body_fn(state: Any) -> Any:
        carry, i, inner = state
        outs, counts = _eval(body.jaxpr, body.consts, [*body_consts, *carry])
        inner = [a if c is None else a + c for a, c in zip(inner, counts)]
        return outs, i + 1, inner

    zero = jnp.int32(0)
    out, trips, inner = lax.while_loop(cond_fn, body_fn, (list(init), zero, [zero] * in_body))
    # The loops of the cond run once more than the body: not counted.
    return out, [trips, *([None] * in_cond), *inner]


def loop_trips(
    fn: Callable[..., Any], per_example: Sequence[Any], leaves: Sequence[Any], in_axes: Sequence[Any]
) -> tuple[list[np.ndarray | None], list[tuple[str, int] | None]]:
    """Per loop (pre-order), the iterations each example's run of it takes (summed over
    the iterations of enclosing loops), for `fn` on flat per-example leaves `per_example`
    (shapes) applied to the batched `leaves` mapped over `in_axes`; and each loop's site
    (loop_sites)."""
    closed = jax.make_jaxpr(fn)(*per_example)
    n_loops = count_whiles(closed.jaxpr)
    if n_loops == 0:
        return [], []
    sites = loop_sites(closed.jaxpr)
    slots: list[bool] = []

    def counted(*xs: Any) -> list[Any]:
        _, counts = _eval(closed.jaxpr, closed.consts, xs)
        slots[:] = [c is not None for c in counts]
        return [jnp.int32(0) if c is None else c for c in counts]

    got = jax.jit(jax.vmap(counted, in_axes=tuple(in_axes)))(*leaves)
    return [np.asarray(g) if ok else None for g, ok in zip(got, slots)], sites
