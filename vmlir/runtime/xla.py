"""Run a compiled vmlir module through XLA as a JAX primitive.

`vmlir_call_p` carries the final StableHLO text; its lowering embeds the module into the
computation JAX is building and calls it. Bound inside `jax.jit`, it costs what a jax.jit
call costs, is compiled once per input signature by jax's own cache, and composes with a
user's jit (it simply becomes part of the user's computation).

Its `handle` parameter (a `BatchedFn`, vmlir/runtime/batched.py) says what the program
computes, so that JAX's transformations can derive new vmlir programs from it:
differentiation (vmlir/runtime/autodiff.py) and jax.vmap (vmlir/runtime/batching.py).
A derived call may leave `text` unset: its program is compiled when the call is lowered,
so a JVP program that reverse mode only transposes is never compiled.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
from jax.interpreters import mlir

from vmlir.errors import VmlirError
from vmlir.jaxmlir import embed_call, jax_core
from vmlir.runtime.batched import BatchedFn, compile_program

Primitive = jax_core().Primitive

vmlir_call_p = Primitive("vmlir_call")
vmlir_call_p.multiple_results = True


@functools.lru_cache(maxsize=256)
def _jitted(text: str | None, out_avals: tuple[Any, ...], handle: BatchedFn | None):
    return jax.jit(lambda *a: vmlir_call_p.bind(*a, text=text, out_avals=out_avals, handle=handle))


def _impl(*args: Any, text: str | None, out_avals: tuple[Any, ...], handle: Any) -> Any:
    # Bound outside any trace (a transformation applied eagerly): run it as its own jit.
    return _jitted(text, out_avals, handle)(*args)


def _abstract_eval(*args: Any, text: str | None, out_avals: tuple[Any, ...], handle: Any):
    return list(out_avals)


def _lowering(
    ctx: mlir.LoweringRuleContext, *args: Any, text: str | None, out_avals: Any, handle: Any
):
    if text is None:
        text, got = compile_program(handle, ctx.avals_in)
        _check_avals(got, out_avals, handle)
    return embed_call(ctx, text, args, "vmlir_main")


def _check_avals(got: Sequence[Any], want: Sequence[Any], handle: BatchedFn) -> None:
    if [(tuple(a.shape), a.dtype) for a in got] != [(tuple(a.shape), a.dtype) for a in want]:
        raise VmlirError(
            f"the program vmlir compiled for {handle.what} returns "
            f"{[a.str_short() for a in got]}, expected {[a.str_short() for a in want]} "
            "(this is a bug in vmlir)"
        )


vmlir_call_p.def_impl(_impl)
vmlir_call_p.def_abstract_eval(_abstract_eval)
mlir.register_lowering(vmlir_call_p, _lowering)


def call(
    text: str | None,
    args: Sequence[Any],
    out_avals: tuple[Any, ...],
    handle: BatchedFn | None = None,
) -> list[Any]:
    """Bind the primitive (the caller is being traced by jax.jit)."""
    return vmlir_call_p.bind(*args, text=text, out_avals=out_avals, handle=handle)


def bind(
    handle: BatchedFn, args: Sequence[Any], out_avals: Sequence[Any] | None = None
) -> list[Any]:
    """Call the program of `handle` on `args`: compiled now when `out_avals` is None (so
    errors surface while tracing), else when the call is lowered."""
    if out_avals is None:
        text, avals = compile_program(handle, [jax.typeof(x) for x in args])
        return call(text, args, tuple(avals), handle)
    return call(None, args, tuple(out_avals), handle)


# The rules register themselves on vmlir_call_p.
from vmlir.runtime import autodiff, batching  # noqa: E402,F401
