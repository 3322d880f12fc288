"""Differentiation through `vmlir_call`: JVP and transpose rules that derive vmlir programs.

JAX differentiates the per-example function, one example at a time; vmlir vectorizes the
result. Nothing is handed to jax.vmap.

- JVP: `vmlir_call(f)(x)` with tangents `t` is the primal call, unchanged, plus a second
  call of the program `vmap(x, t -> jax.jvp(f, x, t)[1])`, linear in `t`. Partial
  evaluation keeps the primal call in the known part and the tangent call in the unknown
  part, so reverse mode only has to transpose that linear call.
- Transpose: a call linear in some operands (JAX marks them undefined) is transposed to
  the program `vmap(rest, ct -> jax.vjp(linear part at 0, ...)(ct))`. The per-example
  cotangent of an operand mapped with in_axes=None is summed over the mapped axis inside
  the program (`BatchedFn.summed`: a `stablehlo.reduce` after the `batch.vmap`).
  A uniform output (out_axes=None) is the same for every example; its cotangent is fed
  to the first example only (a mapped `lane == 0` flag selects it), so that sum counts it
  once, exactly.
- The linear program recomputes the forward pass instead of saving residuals: under
  jax.grad the primal call is dead and XLA removes it, so the gradient program is one
  forward and one backward pass, as with jax.vmap; no residual has to be materialized
  per example.

Symbolic zeros stay symbolic (neither tangents nor cotangents of zeros are computed) and
integer operands get float0 tangents and cotangents, as in JAX. Derived handles are cached
on the handle they come from; their programs are cached per signature by the backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
from jax.interpreters import ad

from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend.custom_vmap import first_custom_vmap_call
from vmlir.frontend.trace import vmlir_vmap_p
from vmlir.runtime.batched import BatchedFn, call_nested, converted, is_float, zeros
from vmlir.runtime.xla import bind, vmlir_call_p


def _zero_like(x: Any) -> Any:
    return zeros(jax.typeof(x))


def jvp_handle(h: BatchedFn, nonzero: tuple[bool, ...], float_out: tuple[bool, ...]) -> BatchedFn:
    """vmap(x, t -> tangents of f's float outputs), over the tangents `nonzero` selects."""
    n = len(h.in_axes)

    def jvp(*args: Any) -> tuple[Any, ...]:
        primals, given = args[:n], iter(args[n:])
        tangents = tuple(next(given) if z else _zero_like(p) for p, z in zip(primals, nonzero))
        _, out_t = jax.jvp(h.fn, tuple(primals), tangents)
        return tuple(t for t, f in zip(out_t, float_out) if f)

    jvp.__name__ = f"jvp_{getattr(h.fn, '__name__', 'f')}"
    return BatchedFn(
        converted(jvp),
        h.in_axes + tuple(a for a, z in zip(h.in_axes, nonzero) if z),
        tuple(a for a, f in zip(h.out_axes, float_out) if f),
        tuple(s for s, f in zip(h.summed, float_out) if f),
        h.axis_size,
        h.chunk_size,
        h.backend,
        what=f"the JVP of {h.what}",
        axis_name=h.axis_name,
    )


def transpose_handle(
    h: BatchedFn,
    linear: tuple[bool, ...],
    per_example: Sequence[Any],
    cotangent: tuple[bool, ...],
) -> BatchedFn:
    """vmap(rest, ct -> cotangents of the float `linear` operands): the transpose of `h`,
    linear in those operands. `per_example` holds the avals of one example's operands;
    `cotangent` selects the outputs with a (nonzero) cotangent."""
    wanted = tuple(lin and is_float(a) for lin, a in zip(linear, per_example))
    n_rest = linear.count(False)
    once = uniform_cotangents(h, cotangent)

    def transpose(*args: Any) -> tuple[Any, ...]:
        rest, cts = args[:n_rest], args[n_rest:]
        if any(once):
            *cts, first = cts

        def linear_part(*lin: Any) -> tuple[Any, ...]:
            lin_it, rest_it = iter(lin), iter(rest)
            full = [
                next(lin_it) if w else (jax.numpy.zeros(a.shape, a.dtype) if l else next(rest_it))
                for w, l, a in zip(wanted, linear, per_example)
            ]
            return h.fn(*full)

        at = [jax.numpy.zeros(a.shape, a.dtype) for w, a in zip(wanted, per_example) if w]
        outs, pullback = _vjp(linear_part, at)
        given = iter(cts)
        full_ct = []
        for o, c, u in zip(outs, cotangent, once):
            if not c:
                full_ct.append(_zero_like(o))
                continue
            ct = next(given)
            full_ct.append(jax.numpy.where(first, ct, jax.numpy.zeros_like(ct)) if u else ct)
        return tuple(pullback(tuple(full_ct)))

    transpose.__name__ = f"transpose_{getattr(h.fn, '__name__', 'f')}"
    in_axes = [a for a, lin in zip(h.in_axes, linear) if not lin]
    in_axes += [a for a, c in zip(h.out_axes, cotangent) if c]
    if any(once):
        in_axes.append(0)
    lin_axes = [a for a, w in zip(h.in_axes, wanted) if w]
    return BatchedFn(
        converted(transpose),
        tuple(in_axes),
        tuple(lin_axes),
        tuple(a is None for a in lin_axes),
        h.axis_size,
        h.chunk_size,
        h.backend,
        what=f"the transpose of {h.what}",
        axis_name=h.axis_name,
    )


def _vjp(fn: Any, at: Sequence[Any]) -> tuple[Any, Any]:
    """jax.vjp(fn, *at), or VmlirUnsupportedError where JAX cannot linearize one example.

    JAX has no reverse mode for a custom_vmap function on its own: jax.grad(jax.vmap(f))
    works because jax.vmap applies the user's rule before linearizing; vmlir
    differentiates one example and batches the derivative, so the rule would have to
    be transposed, which JAX cannot do."""
    try:
        return jax.vjp(fn, *at)
    except ValueError as e:
        site = first_custom_vmap_call(fn, at)
        if site is None:
            raise
        raise VmlirUnsupportedError(
            "reverse-mode differentiation (jax.grad / jax.vjp) under vmlir.vmap of a "
            f"jax.custom_batching.custom_vmap function (called from {site}): JAX cannot "
            "linearize it one example at a time, and vmlir differentiates one example "
            "before batching; use forward mode (jax.jvp, jax.jacfwd), or map that "
            "function with jax.vmap"
        ) from e


def uniform_cotangents(h: BatchedFn, cotangent: Sequence[bool]) -> list[bool]:
    """Which cotangents belong to uniform (out_axes=None, not summed) outputs: those go to
    one example only, picked by a trailing `lane == 0` operand of the transpose."""
    return [c and a is None and not s for c, a, s in zip(cotangent, h.out_axes, h.summed)]


def first_lane(size: int) -> Any:
    """The `lane == 0` operand (mapped on axis 0) of a transpose with uniform cotangents."""
    return jax.lax.iota(jax.numpy.int32, size) == 0


def vjp_handle(h: BatchedFn, in_avals: Sequence[Any], out_avals: Sequence[Any]) -> BatchedFn:
    """vmap(x, ct -> cotangents of x's float operands): what jax.vjp / jax.grad run, as the
    transpose of the JVP (the program `Compiled.lower_vjp` shows)."""
    nonzero = tuple(is_float(a) for a in in_avals)
    float_out = tuple(is_float(a) for a in out_avals)
    j = h.derive(("jvp", nonzero), lambda: jvp_handle(h, nonzero, float_out))
    linear = (False,) * len(in_avals) + (True,) * sum(nonzero)
    per_example = h.per_example_avals(in_avals)
    per_example = [*per_example, *(a for a, z in zip(per_example, nonzero) if z)]
    ct = (True,) * sum(float_out)
    return j.derive(("transpose", linear, ct), lambda: transpose_handle(j, linear, per_example, ct))


class _Rules:
    """The JVP and transpose rules of one primitive whose `handle` parameter is a
    BatchedFn; `call(handle, args, out_avals)` runs a derived handle's map (out_avals:
    known result avals, or None to compile now)."""

    def __init__(self, prim: Any, call: Any):
        self.prim, self.call = prim, call

    def jvp(self, primals: Sequence[Any], tangents: Sequence[Any], **params: Any):
        handle, out_avals = params["handle"], params["out_avals"]
        if handle is None:
            raise VmlirUnsupportedError(_no_handle("differentiation (jax.jvp / jax.grad)"))
        outs = self.prim.bind(*primals, **params)
        nonzero = tuple(
            type(t) is not ad.Zero and is_float(jax.typeof(p)) for p, t in zip(primals, tangents)
        )
        float_out = tuple(is_float(a) for a in out_avals)
        if not any(nonzero) or not any(float_out):
            return outs, [ad.Zero(a.to_tangent_aval()) for a in out_avals]
        j = handle.derive(("jvp", nonzero), lambda: jvp_handle(handle, nonzero, float_out))
        given = [ad.instantiate_zeros(t) for t, z in zip(tangents, nonzero) if z]
        t_avals = [a.to_tangent_aval() for a, f in zip(out_avals, float_out) if f]
        computed = iter(self.call(j, [*primals, *given], t_avals))
        return outs, [
            next(computed) if f else ad.Zero(a.to_tangent_aval())
            for a, f in zip(out_avals, float_out)
        ]

    def transpose(self, cts: Sequence[Any], *args: Any, **params: Any):
        handle, out_avals = params["handle"], params["out_avals"]
        if handle is None:
            raise VmlirUnsupportedError(
                _no_handle("reverse-mode differentiation (jax.grad / jax.vjp)")
            )
        linear = tuple(ad.is_undefined_primal(x) for x in args)
        avals = [x.aval if lin else jax.typeof(x) for x, lin in zip(args, linear)]
        wanted = [lin and is_float(a) for lin, a in zip(linear, avals)]
        cotangent = tuple(type(c) is not ad.Zero and is_float(a) for c, a in zip(cts, out_avals))
        result: list[Any] = [
            ad.Zero(a.to_tangent_aval()) if lin else None for lin, a in zip(linear, avals)
        ]
        if not any(wanted) or not any(cotangent):
            return result
        per_example = handle.per_example_avals(avals)
        t = handle.derive(
            ("transpose", linear, cotangent),
            lambda: transpose_handle(handle, linear, per_example, cotangent),
        )
        rest = [x for x, lin in zip(args, linear) if not lin]
        given = [ad.instantiate_zeros(c) for c, z in zip(cts, cotangent) if z]
        if any(uniform_cotangents(handle, cotangent)):
            given.append(first_lane(handle.axis_size))
        ct_avals = [a.to_tangent_aval() for a, w in zip(avals, wanted) if w]
        computed = iter(self.call(t, [*rest, *given], ct_avals))
        for i, w in enumerate(wanted):
            if w:
                result[i] = next(computed)
        return result

    def register(self) -> None:
        ad.primitive_jvps[self.prim] = self.jvp
        ad.primitive_transposes[self.prim] = self.transpose


def _no_handle(transformation: str) -> str:
    return (
        f"{transformation} of a vmlir_call bound without its per-example function; "
        "call the function vmlir.compile returns instead of binding the primitive"
    )


def _nested(handle: BatchedFn, args: Sequence[Any], out_avals: Any) -> Sequence[Any]:
    return call_nested(handle, args)


# A compiled vmlir function; a nested vmlir.vmap met while tracing an outer one, whose
# derived maps are nested maps again.
CALL_RULES = _Rules(vmlir_call_p, bind)
VMAP_RULES = _Rules(vmlir_vmap_p, _nested)
CALL_RULES.register()
VMAP_RULES.register()
