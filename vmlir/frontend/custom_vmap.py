"""jax.custom_batching.custom_vmap (and sequential_vmap) under vmlir.vmap.

jax.vmap batches a custom_vmap function with its user's rule. While vmlir traces a
per-example function under jax.jit, nothing is batched, so the call lowers to its body.
Here, its lowering is a marker instead: a `stablehlo.custom_call @vmlir.custom_vmap`
naming the per-example body (in `called_computations`) and the rule's registry key (as
backend_config); the importer turns it into `batch.custom_vmap`. When batch-vectorize
meets it with batched operands, it calls `trace_rule` (registered with
vmlir.passes.rules.custom_vmap): the user's rule, traced with jax at the batched shapes,
imported as our IR.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jax
from jax.interpreters import mlir
from vmlir.errors import VmlirError
from vmlir.frontend.trace import CUSTOM_VMAP_MARKER, in_vmlir_trace, lower_jitted
from vmlir.jaxmlir import embed_call, jax_core

if TYPE_CHECKING:
    from xdsl.ir import Block



@dataclass(frozen=True)
class _Rule:
    rule: Any  # jax's rule: rule(axis_size, in_batched, *args) -> (out, out_batched)
    in_tree: Any
    out_tree: Any
    in_avals: tuple[Any, ...]  # per-example


_rules: dict[str, _Rule] = {}
_count = itertools.count()


def _custom_vmap_primitive() -> Any:
    # custom_vmap's primitive and its lowering (its body) are not public.
    from jax._src import custom_batching
    from jax._src.interpreters import mlir as jax_mlir

    prim = custom_batching.custom_vmap_p
    return prim, jax_mlir._lowerings[prim]


def _install() -> None:
    prim, entry = _custom_vmap_primitive()
    theirs = entry.rule

    def rule(ctx: Any, *args: Any, call: Any, rule: Any, in_tree: Any, out_tree: Any) -> Any:
        if not in_vmlir_trace():
            return theirs(ctx, *args, call=call, rule=rule, in_tree=in_tree, out_tree=out_tree)
        name = getattr(rule, "__name__", "rule")
        key = f"{name}#{next(_count)}"
        _rules[key] = _Rule(rule, in_tree, out_tree, tuple(ctx.avals_in))
        text = lower_jitted(jax_core().jaxpr_as_fun(call), [_struct(a) for a in ctx.avals_in])
        return embed_call(
            ctx, text, args, "vmlir_custom_vmap_body",
            marker=(CUSTOM_VMAP_MARKER, json.dumps({"rule": key})),
        )

    mlir.register_lowering(prim, rule, inline=entry.inline)


def first_custom_vmap_call(fn: Any, args: Sequence[Any]) -> str | None:
    """`file:line` of the user's code that calls the first custom_vmap function in
    `fn(*args)` (nested jaxprs included), `?` when jax kept no location, or None when
    there is none."""
    # jax._src: the user's frame of an equation's traceback (jax's own filter), and the
    # traced location, which a transpose takes from the call being transposed (JAX's
    # backward pass sets it): cleared, equations record the live stack, which holds the
    # line that calls the custom_vmap function. Neither is public.
    from jax._src import source_info_util

    context = source_info_util._source_info_context
    outer = context.context
    context.context = source_info_util.SourceInfo(None, outer.name_stack)
    try:
        jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
    finally:
        context.context = outer
    found = _find_custom_vmap(jaxpr)
    if found is None:
        return None
    frame = source_info_util.user_frame(found.source_info.traceback)
    return "?" if frame is None else f"{frame.file_name}:{frame.start_line}"


def _find_custom_vmap(jaxpr: Any) -> Any:
    prim, _ = _custom_vmap_primitive()
    for eqn in jaxpr.eqns:
        if eqn.primitive is prim:
            return eqn
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns") and (hit := _find_custom_vmap(inner)) is not None:
                    return hit
    return None


def _struct(aval: Any, batch: int | None = None) -> jax.ShapeDtypeStruct:
    shape = tuple(aval.shape) if batch is None else (batch, *aval.shape)
    return jax.ShapeDtypeStruct(shape, aval.dtype, weak_type=getattr(aval, "weak_type", False))


def trace_rule(
    key: str, axis_size: int, in_batched: Sequence[bool]
) -> tuple[Block, list[bool]]:
    """The user's rule `key` at the batched shapes (batched operands on axis 0), as our
    IR, and which of its results it batched (on axis 0), as jax.vmap calls it.

    The importer registers it with batch-vectorize (vmlir.passes.rules.custom_vmap), so
    this module, imported before any tracing to install the marker lowering, loads no
    xDSL."""
    r = _rules.get(key)
    if r is None:
        raise VmlirError(f"no custom_vmap rule named {key!r} was traced in this process")
    out_batched: list[bool] = []

    def batched(*flat: Any) -> list[Any]:
        args = jax.tree_util.tree_unflatten(r.in_tree, flat)
        flags = jax.tree_util.tree_unflatten(r.in_tree, list(in_batched))
        out, out_b = r.rule(axis_size, list(flags), *args)
        flat_out, tree = jax.tree_util.tree_flatten(out)
        flat_b, tree_b = jax.tree_util.tree_flatten(out_b)
        if tree != tree_b or tree != r.out_tree:
            raise ValueError(
                f"the custom_vmap rule {key.split('#')[0]} returned outputs {tree} with "
                f"batching flags {tree_b}; the function returns {r.out_tree}"
            )
        out_batched[:] = [bool(b) for b in flat_b]
        return flat_out

    shapes = [_struct(a, axis_size if b else None) for a, b in zip(r.in_avals, in_batched)]
    text = lower_jitted(batched, shapes)
    from vmlir.frontend.importer import import_function  # it imports this module

    return import_function(text), out_batched


_install()
