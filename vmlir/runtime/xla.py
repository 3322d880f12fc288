"""Run a compiled vmlir module through XLA as a JAX primitive.

`vmlir_call_p` carries the final StableHLO text; its lowering embeds the module into the
computation JAX is building and calls it. Bound inside `jax.jit`, it costs what a jax.jit
call costs, is compiled once per input signature by jax's own cache, and composes with a
user's jit (it simply becomes part of the user's computation).
"""

from __future__ import annotations

from typing import Any

from jax.interpreters import mlir

from vmlir.errors import VmlirError
from vmlir.jaxmlir import embed_call, jax_core

Primitive = jax_core().Primitive

vmlir_call_p = Primitive("vmlir_call")
vmlir_call_p.multiple_results = True


def _impl(*args: Any, **params: Any) -> Any:
    raise VmlirError("vmlir_call must be bound inside jax.jit (vmlir.compile does this)")


def _abstract_eval(*args: Any, text: str, out_avals: tuple[Any, ...]) -> list[Any]:
    return list(out_avals)


def _lowering(ctx: mlir.LoweringRuleContext, *args: Any, text: str, out_avals: Any):
    return embed_call(ctx, text, args, "vmlir_main")


vmlir_call_p.def_impl(_impl)
vmlir_call_p.def_abstract_eval(_abstract_eval)
mlir.register_lowering(vmlir_call_p, _lowering)


def call(text: str, args: list[Any], out_avals: tuple[Any, ...]) -> list[Any]:
    """Bind the primitive (the caller is being traced by jax.jit)."""
    return vmlir_call_p.bind(*args, text=text, out_avals=out_avals)
