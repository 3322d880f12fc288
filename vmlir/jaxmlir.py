"""The one place where MLIR text is embedded into a JAX lowering, and where vmlir's own
lowerings get their MLIR context.

Both the runtime (a compiled vmlir module called from jax.jit) and the frontend (a nested
`vmlir.vmap` seen while tracing an outer one) lower a JAX primitive to a `func.call` of a
module given as text: the text is parsed into the lowering's MLIR context, merged into the
module being built (`merge_mlir_modules` renames its `main`), and called. The runtime's
program, when it is a single function, is inlined at the call instead (`embed_call`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

# jax exposes no public builder for func.call or custom_call; both live under jax._src.
from jax._src.interpreters.mlir import custom_call as _custom_call
from jax._src.lib.mlir.dialects import func as _func_dialect
from jax.interpreters import mlir

from vmlir.host_callbacks import HOST_CALLBACK_ATTR, PYTHON_CALLBACK_TARGETS


def jax_core() -> Any:
    """The module jax.extend.core re-exports its classes from (Primitive, ClosedJaxpr,
    jaxpr_as_fun: the very same objects). Importing `jax.extend` imports every one of its
    submodules, Pallas and the MHLO dialect among them: 0.15-0.3 s at start-up, more than
    the whole first call of a small jax.jit function, paid by every fresh process."""
    from jax._src import core

    return core


_SHARED = threading.local()
"""This thread's reused context (`context`, `uses`, `memo`: see shared_context_memo),
and whether a lowering in it is running (`depth`)."""
SHARED_CONTEXT_USES = 64
"""Lowerings per shared context: MLIR keeps every type, attribute and location it has
seen until its context is freed, so a long-lived process starts a new one now and then."""


@contextlib.contextmanager
def shared_ir_context() -> Iterator[None]:
    """JAX lowerings in this thread, inside this block, reuse one MLIR context.

    jax makes a new context for every lowering (`make_ir_context`: loading and
    registering its dialects, ~3 ms here, a tenth of a small function's first call), and
    vmlir's per-example program is a lowering of its own on top of jax.jit's of the final
    program. jax has no parameter for the context, so its factory is wrapped, once per
    process: outside such a block (any other thread, any other lowering) it makes a new
    one as before. A context is reused for SHARED_CONTEXT_USES lowerings, then dropped
    (modules still alive keep it alive)."""
    _install_context_factory()
    _SHARED.depth = getattr(_SHARED, "depth", 0) + 1
    try:
        yield
    finally:
        _SHARED.depth -= 1


_INSTALL = threading.Lock()


def _install_context_factory() -> None:
    from jax._src.interpreters import mlir as _mlir

    with _INSTALL:
        original = _mlir.make_ir_context
        if getattr(original, "_vmlir_original", None) is not None:
            return

        def make_ir_context() -> Any:
            if getattr(_SHARED, "depth", 0) == 0:
                return original()
            ctx = getattr(_SHARED, "context", None)
            if ctx is None or _SHARED.uses >= SHARED_CONTEXT_USES:
                ctx = _SHARED.context = original()
                _SHARED.uses = 0
                _SHARED.memo = {}
            _SHARED.uses += 1
            return ctx

        make_ir_context._vmlir_original = original  # type: ignore[attr-defined]
        _mlir.make_ir_context = make_ir_context


def shared_context_memo(context: Any) -> dict[str, Any] | None:
    """A dict that lives exactly as long as `context` is this thread's shared one, or
    None for any other context: for what is keyed by the identity of MLIR types and
    attributes (uniqued per context, so an identity is only meaningful within it)."""
    if context is not None and context is getattr(_SHARED, "context", None):
        memo: dict[str, Any] = _SHARED.memo
        return memo
    return None


def embed_call(
    ctx: mlir.LoweringRuleContext,
    text: str,
    args: Sequence[object],
    sym_name: str,
    marker: tuple[str, str] | None = None,
) -> Sequence[object]:
    """Merge the module `text` into the lowering and call its main.

    Without `marker`, a `func.call` (types must match the callee's signature). With
    `marker = (target, config)`, a `stablehlo.custom_call @target` that names the callee
    in `called_computations` and carries `config` as its backend_config: the operand
    types may then differ from the callee's (a nested vmap passes batched values to a
    per-example function), and the importer reads the marker back.
    """
    module = mlir.ir.Module.parse(text, context=ctx.module_context.context)
    if "channel_handle" in text:
        _fresh_channels(ctx, module)
    if HOST_CALLBACK_ATTR in text:
        _register_host_callbacks(ctx, module)
    if marker is None:
        _locate_at_call(module)
        inlined = _inline_single_function(module, args)
        if inlined is not None:
            return inlined
    # Through JAX's own symbol table, so functions JAX adds later are renamed around ours.
    callee = mlir.merge_mlir_modules(
        ctx.module_context.module, sym_name, module, ctx.module_context.symbol_table
    )
    result_types = [mlir.aval_to_ir_type(ctx.module_context, a) for a in ctx.avals_out]
    operands = list(args)  # one ir.Value per array operand
    if marker is None:
        call = _func_dialect.CallOp(result_types, mlir.ir.FlatSymbolRefAttr.get(callee), operands)
        return call.results
    target, config = marker
    op = _custom_call(
        target,
        result_types=result_types,
        operands=operands,
        backend_config=config,
        called_computations=[callee],
        api_version=1,
    )
    return op.results


def _locate_at_call(module: Any) -> None:
    """Every op of `module` gets the location of the call being lowered (the user's
    call site, as jax gives the ops it lowers), instead of the line of our text the
    parser read it from, which names no file. XLA turns locations into per-instruction
    metadata, and with the parser's call-site chains it compiled the same program ~5%
    slower than jax's (CPU time, sum_of_squares and pairwise distances)."""
    here = mlir.ir.Location.current

    def locate(op: Any) -> Any:
        op.location = here
        return mlir.ir.WalkResult.ADVANCE

    module.operation.walk(locate)


def _inline_single_function(module: Any, args: Sequence[object]) -> list[Any] | None:
    """The body of `module`'s only function moved to the lowering's insertion point, its
    arguments replaced by `args`: the results, or None when the module has more than
    one function (they call each other: merged as they are). XLA compiles a program
    with a call ~1 ms (5-9%) slower than the same program inlined (jax.jit of a jitted
    function shows the same), and moving a program's ops costs ~1 us an op."""
    funcs = list(module.body.operations)
    if len(funcs) != 1 or funcs[0].operation.name != "func.func":
        return None
    (block,) = funcs[0].regions[0].blocks
    for arg, value in zip(block.arguments, args, strict=True):
        arg.replace_all_uses_with(value)
    *body, ret = block.operations
    results = list(ret.operands)
    ip = mlir.ir.InsertionPoint.current
    for op in body:
        ip.insert(op.detach_from_parent())
    ret.erase()
    return results


def embed_jaxpr(
    ctx: mlir.LoweringRuleContext,
    jaxpr: Any,
    args: Sequence[object],
    sym_name: str,
    marker: tuple[str, str],
) -> Sequence[object]:
    """Lower the closed jaxpr `jaxpr` (no ordered effects) as a private function of the
    module being built, and call it through the marker `(target, config)` as in
    `embed_call`.

    The jaxpr is lowered in this lowering's own context and module: a nested program
    embedded as text would cost a second lowering of it by JAX, a new MLIR context, and a
    print and a parse of its text."""
    func = mlir.lower_jaxpr_to_fun(
        ctx.module_context, sym_name, jaxpr, [], num_const_args=0, in_avals=jaxpr.in_avals
    )
    target, config = marker
    op = _custom_call(
        target,
        result_types=[mlir.aval_to_ir_type(ctx.module_context, a) for a in ctx.avals_out],
        operands=list(args),
        backend_config=config,
        called_computations=[func.name.value],
        api_version=1,
    )
    return op.results


def _fresh_channels(ctx: mlir.LoweringRuleContext, module: Any) -> None:
    """Give each cross-device collective of `module` a channel of jax's module (jax gives
    every collective it emits its own; the same program embedded twice must not share)."""
    from jax._src.lib.mlir.dialects import hlo

    def visit(op: Any) -> Any:
        if "channel_handle" in op.attributes:
            channel = ctx.module_context.new_channel()
            op.attributes["channel_handle"] = hlo.ChannelHandle.get(channel, 1)
        return mlir.ir.WalkResult.ADVANCE

    module.operation.walk(visit)


def parse_with_jaxlib(text: str, generic: bool = True) -> str:
    """Parse MLIR text with jaxlib's own parser (StableHLO registered) and print it back:
    generic form, or upstream's pretty form with `generic=False`."""
    ctx = mlir.make_ir_context()
    module = mlir.ir.Module.parse(text, context=ctx)
    return module.operation.get_asm(print_generic_op_form=generic, enable_debug_info=False)


def marker_call(
    ctx: mlir.LoweringRuleContext,
    target: str,
    config: str,
    operands: Sequence[object],
    aval: object,
) -> Sequence[object]:
    """A `stablehlo.custom_call @target` of `operands` with `config` as backend_config and
    one result of `aval`: a marker the importer reads back (nothing runs it)."""
    op = _custom_call(
        target,
        result_types=[mlir.aval_to_ir_type(ctx.module_context, aval)],
        operands=list(operands),
        backend_config=config,
        api_version=1,
    )
    return op.results


# --- Python callbacks (jax.debug.print, jax.pure_callback, io_callback) ----------------

_HOST_CALLBACKS: dict[str, Any] = {}
"""This process's callbacks by name. The name lives only in the program's text (a disk
cache never stores such a program: the name means nothing to another process)."""


def name_host_callbacks(module: Any, callbacks: Sequence[Any]) -> None:
    """Tag every Python-callback custom call of the per-example `module` with the name of
    its callback (`callbacks`: that lowering's host callbacks, indexed by the call's
    `mhlo.backend_config = {index}`)."""
    if not callbacks:
        return

    def visit(op: Any) -> Any:
        if op.name == "stablehlo.custom_call":
            target = mlir.ir.StringAttr(op.attributes["call_target_name"]).value
            if target in PYTHON_CALLBACK_TARGETS:
                config = mlir.ir.DictAttr(op.attributes["mhlo.backend_config"])
                callback = callbacks[mlir.ir.IntegerAttr(config["index"]).value]
                name = f"cb{id(callback):x}"
                _HOST_CALLBACKS[name] = callback
                op.attributes[HOST_CALLBACK_ATTR] = mlir.ir.StringAttr.get(name)
        return mlir.ir.WalkResult.ADVANCE

    with module.context:
        module.operation.walk(visit)


def _register_host_callbacks(ctx: mlir.LoweringRuleContext, module: Any) -> None:
    """Give each named callback of `module` a slot among the host callbacks of the
    computation being lowered, and point its call's index there."""
    mc = ctx.module_context
    slots: dict[str, int] = {}

    def visit(op: Any) -> Any:
        if HOST_CALLBACK_ATTR in op.attributes:
            name = mlir.ir.StringAttr(op.attributes[HOST_CALLBACK_ATTR]).value
            if name not in slots:
                slots[name] = len(mc.host_callbacks)
                mc.add_host_callback(_HOST_CALLBACKS[name])
            old = mlir.ir.DictAttr(op.attributes["mhlo.backend_config"])
            config = {old[i].name: old[i].attr for i in range(len(old))}
            config["index"] = mlir.ir.IntegerAttr.get(
                mlir.ir.IntegerType.get_unsigned(64), slots[name]
            )
            op.attributes["mhlo.backend_config"] = mlir.ir.DictAttr.get(config)
            del op.attributes[HOST_CALLBACK_ATTR]
        return mlir.ir.WalkResult.ADVANCE

    with module.context:
        module.operation.walk(visit)
