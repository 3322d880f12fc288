"""jax.vmap of a vmlir function: the batching rule of `vmlir_call`.

jax.vmap over a call of `vmap(f, in_axes)` is the program `vmap(vmap(f, in_axes),
new_axes)`: the new axis becomes the OUTER map and the existing one is nested inside it
(a nested `batch.vmap` in our IR), compiled through vmlir like any nested vmlir.vmap.
Outputs are all mapped on axis 0 of the new map. A summed output (a cotangent, see
autodiff.py) is summed over the inner map inside the outer example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jax.interpreters import batching

from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend.trace import vmlir_vmap_p
from vmlir.runtime.batched import BatchedFn, call_nested, converted
from vmlir.runtime.xla import bind, vmlir_call_p


def vmap_handle(h: BatchedFn, dims: tuple[int | None, ...], size: int) -> BatchedFn:
    """vmap(h's whole map, in_axes=dims, out_axes=0) with `size` examples."""

    def one_example(*args: Any) -> tuple[Any, ...]:
        return tuple(h.backend.nested(h, args))

    one_example.__name__ = getattr(h.fn, "__name__", "f")
    n_out = len(h.out_axes)
    return BatchedFn(
        converted(one_example),
        dims,
        (0,) * n_out,
        (False,) * n_out,
        size,
        None,
        h.backend,
        what=f"jax.vmap of {h.what}",
    )


def _rule(call: Any):
    def rule(args: Sequence[Any], dims: Sequence[Any], **params: Any):
        return _batch(call, args, dims, params["handle"], params["out_avals"])

    return rule


def _batch(
    call: Any, args: Sequence[Any], dims: Sequence[Any], handle: BatchedFn | None, out_avals: Any
):
    if handle is None:
        raise VmlirUnsupportedError(
            "jax.vmap of a vmlir_call bound without its per-example function; call the "
            "function vmlir.compile returns instead of binding the primitive"
        )
    # jax passes `not_mapped` (None) for an operand without the new axis.
    axes = tuple(None if d is None else int(d) for d in dims)
    size = next(x.shape[d] for x, d in zip(args, axes) if d is not None)
    v = handle.derive(("vmap", axes, size), lambda: vmap_handle(handle, axes, size))
    # Compiled when lowered: under nested jax.vmaps only the outermost map runs.
    batched = [a.update(shape=(size, *a.shape)) for a in out_avals]
    outs = call(v, list(args), batched)
    return outs, [0] * len(outs)


CALL_RULE = _rule(bind)
# A nested vmlir.vmap met while tracing an outer one: one more nested map.
VMAP_RULE = _rule(lambda h, args, _: call_nested(h, args))
batching.primitive_batchers[vmlir_call_p] = CALL_RULE
batching.primitive_batchers[vmlir_vmap_p] = VMAP_RULE
