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
import importlib
from collections.abc import Sequence
from typing import Any

import jax
from jax.interpreters import ad, batching, mlir

from vmlir.errors import VmlirError
from vmlir.frontend.trace import vmlir_vmap_p
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


def _on_first_use(module: str, rule: str) -> Any:
    """A rule that imports `module` (which registers its rules in place of these) and
    calls its rule `rule` (a dotted attribute path)."""

    def first_use(*args: Any, **kwargs: Any) -> Any:
        found: Any = importlib.import_module(module)
        for name in rule.split("."):
            found = getattr(found, name)
        return found(*args, **kwargs)

    return first_use


def _register_transformation_rules() -> None:
    """JAX's transformations of our primitives (vmlir/runtime/autodiff.py, batching.py),
    imported when JAX first applies one: a call that is only compiled and run (a disk-cache
    hit's first call) does not import them and what they import (~1.5 ms). This module's
    body runs before theirs (they import it), so their registrations replace these."""
    for prim, which in ((vmlir_call_p, "CALL"), (vmlir_vmap_p, "VMAP")):
        ad.primitive_jvps[prim] = _on_first_use("vmlir.runtime.autodiff", f"{which}_RULES.jvp")
        ad.primitive_transposes[prim] = _on_first_use(
            "vmlir.runtime.autodiff", f"{which}_RULES.transpose"
        )
        batching.primitive_batchers[prim] = _on_first_use(
            "vmlir.runtime.batching", f"{which}_RULE"
        )


_register_transformation_rules()
