"""Tracing one example with JAX, and the marker a nested vmlir.vmap leaves behind.

JAX lowers the PER-EXAMPLE function (the user's function on one example's shapes) to
StableHLO; batching is our job, not jax.vmap's. While we trace, a `vmlir.vmap` called
inside the function does not batch anything itself: it binds `vmlir_vmap_p` with the
inner per-example jaxpr, whose lowering (part of the outer program's: JAX lowers the
whole nest once) is a `stablehlo.custom_call @vmlir.vmap` naming the inner per-example
function in `called_computations`, with `{in_axes, out_axes, axis_size}` as
backend_config. The importer turns that call into a nested `batch.vmap`, so nesting is
explicit in our IR.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
from jax.interpreters import mlir

from vmlir.errors import VmlirError, VmlirUnsupportedError
from vmlir.frontend.axes import Axis, FlatArgs, flatten_args, flatten_out_axes
from vmlir.frontend.collectives import axis_bound
from vmlir.frontend.pycontrol_calls import convert
from vmlir.jaxmlir import embed_jaxpr, jax_core, name_host_callbacks, shared_ir_context

_core = jax_core()
ClosedJaxpr, Primitive, jaxpr_as_fun = _core.ClosedJaxpr, _core.Primitive, _core.jaxpr_as_fun

VMAP_MARKER = "vmlir.vmap"
"""call_target_name of the stablehlo.custom_call a nested vmlir.vmap lowers to."""
CUSTOM_VMAP_MARKER = "vmlir.custom_vmap"
"""A custom_vmap call's marker (vmlir/frontend/custom_vmap.py): here so that the API can
look for it without importing that module."""

_state = threading.local()

SHARED_CONTEXT_MAX_CONSTS = 1 << 20
"""Bytes of closed-over constants up to which a per-example program is lowered in the
shared MLIR context (vmlir.jaxmlir.shared_ir_context)."""


def in_vmlir_trace() -> bool:
    """Whether we are tracing a per-example function for vmlir right now."""
    return getattr(_state, "depth", 0) > 0


@contextlib.contextmanager
def _vmlir_trace() -> Iterator[None]:
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


class PerExampleProgram:
    """JAX's program for one example, and the shape of what it returns.

    Traced on creation, lowered to StableHLO on first use of `module` (jaxlib's in-memory
    module, which the importer walks directly): a disk-cache hit keys the cache with the
    jaxpr (`cache_key`) and needs no lowering. Text is printed only when asked for (a
    recorded "jax" stage, the cache key of a program the jaxpr key does not cover)."""

    def __init__(
        self,
        traced: Any,
        out_tree: Any,
        out_avals: tuple[Any, ...],
        axis_name: str | None = None,
        axis_size: int = 0,
    ):
        self._traced = traced
        self._axis = (axis_name, axis_size)
        self.out_tree = out_tree
        self.out_avals = out_avals  # per-example ShapedArrays (with weak types)

    @contextlib.contextmanager
    def _as_traced(self) -> Iterator[None]:
        # The lowering rules of our markers read the state the function was traced in.
        with _vmlir_trace(), axis_bound(*self._axis):
            yield

    @functools.cached_property
    def module(self) -> Any:
        # A small program is lowered in this thread's shared MLIR context (saves making
        # one, ~3 ms). MLIR keeps a context's constants until the context goes, so a
        # program that closes over large arrays gets a context of its own, as in jax.
        consts = getattr(self._traced.jaxpr, "consts", ())
        small = sum(getattr(c, "nbytes", 0) for c in consts) <= SHARED_CONTEXT_MAX_CONSTS
        _install_marker_lowerings()
        with self._as_traced(), shared_ir_context() if small else contextlib.nullcontext():
            lowered = self._traced.lower()
            module = lowered.compiler_ir("stablehlo")
            name_host_callbacks(module, _host_callbacks(lowered))
        return module

    @functools.cached_property
    def text(self) -> str:
        """Generic form, with JAX's debug locations."""
        return self.module.operation.get_asm(print_generic_op_form=True, enable_debug_info=True)

    @functools.cached_property
    def key_text(self) -> str:
        """Generic form without locations: what the program computes, for cache keys."""
        return self.module.operation.get_asm(print_generic_op_form=True, enable_debug_info=False)

    @functools.cached_property
    def cache_key(self) -> str | None:
        """What the program computes, for the disk cache: a digest of the jaxpr
        (vmlir/frontend/jaxpr_key.py), else the StableHLO text; None when the program
        calls a custom_vmap rule (Python code outside it: a cached result could outlive
        an edit of the rule)."""
        from vmlir.frontend.jaxpr_key import jaxpr_key

        with self._as_traced():
            key = jaxpr_key(self._traced.jaxpr)
        if key is not None:
            return key
        return None if CUSTOM_VMAP_MARKER in self.key_text else self.key_text


def _install_marker_lowerings() -> None:
    """Before JAX lowers a program vmlir traced: the custom_vmap marker's lowering, which
    vmlir/frontend/custom_vmap.py installs when imported. Imported here, by the lowerings
    that need it, so that a disk-cache hit (which lowers nothing) does not import it; a
    program lowered without it would lose its custom_vmap rule (and be cached)."""
    import vmlir.frontend.custom_vmap  # noqa: F401


def _host_callbacks(lowered: Any) -> list[Any]:
    """The Python callbacks (jax.debug.print, pure_callback, io_callback) a lowering's
    custom calls index into. jax keeps them only among the private compile arguments of
    the lowering; our program is compiled inside another computation, which must be given
    them (vmlir.jaxmlir.name_host_callbacks)."""
    return list(lowered._lowering.compile_args.get("host_callbacks", ()))


def _flat(fn: Callable[..., Any], in_tree: Any, out_trees: list[Any]) -> Callable[..., list[Any]]:
    """`fn` on flat argument leaves, returning flat result leaves; each call appends the
    result's tree structure to `out_trees`."""

    def flat_fn(*leaves: Any) -> list[Any]:
        out = fn(*jax.tree_util.tree_unflatten(in_tree, leaves))
        out_leaves, out_tree = jax.tree_util.tree_flatten(out)
        for leaf in out_leaves:
            if not (hasattr(leaf, "dtype") or isinstance(leaf, (bool, int, float, complex))):
                # jax.vmap's words; jit's would name this wrapper, not the user's function
                raise TypeError(
                    f"Output from batched function {leaf!r} with type {type(leaf)} is not a "
                    "valid JAX type"
                )
        out_trees.append(out_tree)
        return out_leaves

    return flat_fn


def lower_per_example(
    fn: Callable[..., Any],
    in_tree: Any,
    per_example: Sequence[jax.ShapeDtypeStruct],
    convert_control_flow: bool = True,
    axis_name: str | None = None,
    axis_size: int = 0,
) -> PerExampleProgram:
    """Trace `fn` on one example's (flattened) argument shapes (lowered on first use).

    Python `if`/`while`/`for` on traced values in `fn` are first rewritten into lax
    control flow (vmlir.frontend.pycontrol), so they work per example. With an
    `axis_name`, collectives over it become markers (vmlir.frontend.collectives)."""
    if convert_control_flow:
        fn = convert(fn)
    out_trees: list[Any] = []
    flat_fn = _flat(fn, in_tree, out_trees)
    flat_fn.__name__ = getattr(fn, "__name__", "per_example")
    with _vmlir_trace(), axis_bound(axis_name, axis_size):
        # keep_unused: every argument must stay a parameter, to match in_axes one to one.
        traced = jax.jit(flat_fn, keep_unused=True).trace(*per_example)
    _refuse_ordered_effects(traced.jaxpr)
    # The jaxpr's avals keep weak types (lowered.out_info drops them).
    out_avals = tuple(traced.jaxpr.out_avals)
    return PerExampleProgram(traced, out_trees[-1], out_avals, axis_name, axis_size)


def _refuse_ordered_effects(closed: Any) -> None:
    """An ordered effect (`jax.debug.print(..., ordered=True)`, an ordered io_callback)
    threads a token through the program, which our per-example signature has no place
    for: refused, naming the line."""
    # The effect classes and their ordering live in jax._src.effects only.
    from jax._src import effects, source_info_util

    ordered = [e for e in closed.effects if effects.ordered_effects.contains(e)]
    if not ordered:
        return
    where = ""
    for eqn in closed.jaxpr.eqns:
        if any(e in eqn.effects for e in ordered):
            frame = source_info_util.user_frame(eqn.source_info.traceback)
            if frame is not None:
                where = f" (from {frame.file_name}:{frame.start_line})"
            break
    raise VmlirUnsupportedError(
        f"an ordered side effect{where}: {ordered[0]} inside vmlir.vmap "
        "(jax.debug.print / io_callback with ordered=True); unordered callbacks work"
    )


def lower_jitted(fn: Callable[..., Any], shapes: Sequence[jax.ShapeDtypeStruct]) -> str:
    """JAX's StableHLO (generic form, with locations) for `fn` on `shapes`, traced as
    vmlir traces (nested vmlir.vmap, collectives and custom_vmap leave markers)."""
    _install_marker_lowerings()
    with _vmlir_trace():
        lowered = jax.jit(fn, keep_unused=True).trace(*shapes).lower()
    return lowered.compiler_ir("stablehlo").operation.get_asm(
        print_generic_op_form=True, enable_debug_info=True
    )


def batched_aval(aval: Any, axis: Axis, size: int) -> jax.core.ShapedArray:
    shape = tuple(aval.shape)
    if axis is not None:
        shape = shape[:axis] + (size,) + shape[axis:]
    return jax.core.ShapedArray(shape, aval.dtype, weak_type=getattr(aval, "weak_type", False))


vmlir_vmap_p = Primitive("vmlir_vmap")
vmlir_vmap_p.multiple_results = True


def _vmap_impl(*args: Any, **params: Any) -> Any:
    raise VmlirError("a nested vmlir.vmap marker ran outside vmlir's compiler (this is a bug)")


def _vmap_abstract_eval(
    *args: Any, jaxpr: Any, spec: str, out_avals: tuple[Any, ...], handle: Any
) -> Any:
    return list(out_avals)


def _vmap_lowering(
    ctx: mlir.LoweringRuleContext, *args: Any, jaxpr: Any, spec: str, out_avals: Any, handle: Any
):
    # The inner program is lowered here, inside the outer one: its collectives must see
    # its own axis name bound, as they did while it was traced.
    config = json.loads(spec)
    with axis_bound(config["axis_name"], config["axis_size"]):
        return embed_jaxpr(ctx, jaxpr, args, "vmlir_inner_vmap", marker=(VMAP_MARKER, spec))


vmlir_vmap_p.def_impl(_vmap_impl)
vmlir_vmap_p.def_abstract_eval(_vmap_abstract_eval)
mlir.register_lowering(vmlir_vmap_p, _vmap_lowering)


def _per_example_jaxpr(
    fn: Callable[..., Any], in_tree: Any, flat: FlatArgs, leaves: list[Any]
) -> tuple[Any, FlatArgs, list[Any], Any]:
    """`fn` on one example, as a closed jaxpr whose operands are explicit.

    The inner program is a function of its own in the lowered module; a closed-over
    tracer of the outer trace (a value of the outer example) would otherwise become a
    hidden parameter of it. Traced once: its tracer constants become extra unmapped
    operands (in_axes None), concrete ones stay constants. Returns the jaxpr, the extended
    arguments, and `fn`'s output tree."""
    out_trees: list[Any] = []
    closed = jax.make_jaxpr(_flat(fn, in_tree, out_trees))(*flat.per_example)
    traced = [isinstance(c, jax.core.Tracer) for c in closed.consts]
    hoisted = [c for c, t in zip(closed.consts, traced) if t]
    if hoisted:
        closed = _consts_to_operands(closed, traced)
        avals = [jax.typeof(c) for c in hoisted]
        flat = FlatArgs(
            flat.avals + tuple(avals),
            flat.in_axes + (None,) * len(hoisted),
            flat.axis_size,
            flat.per_example
            + tuple(jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in avals),
        )
    return closed, flat, [*leaves, *hoisted], out_trees[0]


def _consts_to_operands(closed: Any, which: Sequence[bool]) -> Any:
    """`closed` with the constants flagged in `which` moved after its parameters."""
    # jax's own helper (partial_eval.convert_constvars_jaxpr) moves every constant, in
    # front; the concrete ones must stay constants of the program, the operands in order.
    j = closed.jaxpr
    moved = [v for v, w in zip(j.constvars, which) if w]
    kept = [(v, c) for v, c, w in zip(j.constvars, closed.consts, which) if not w]
    names = j.debug_info.arg_names
    dbg = j.debug_info._replace(
        arg_names=None if names is None else (*names, *("",) * len(moved))
    )
    jaxpr = j.replace(
        constvars=[v for v, _ in kept], invars=[*j.invars, *moved], debug_info=dbg
    )
    return ClosedJaxpr(jaxpr, [c for _, c in kept])


def nested_vmap_call(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    in_axes: Any,
    out_axes: Any,
    axis_size: int | None,
    chunk_size: int | None = None,
    axis_name: str | None = None,
    make_handle: Callable[..., Any] | None = None,
) -> Any:
    """A vmlir.vmap called while an outer one is being traced: leave a marker.

    `make_handle(flat_fn, in_axes, out_axes, axis_size, chunk_size, axis_name)` makes the marker's
    `handle` parameter (what the runtime's rules need to differentiate or batch it)."""
    flat, in_tree, leaves = flatten_args(args, in_axes, axis_size)
    fn, in_tree = flat.bind_static(convert(fn), in_tree)
    # Traced to a jaxpr only: JAX lowers it once, as part of the outer program.
    with axis_bound(axis_name, flat.axis_size):
        jaxpr, flat, leaves, out_tree = _per_example_jaxpr(fn, in_tree, flat, leaves)
    inner_avals = jaxpr.out_avals
    out_ax = flatten_out_axes(out_axes, out_tree, [len(a.shape) for a in inner_avals])
    spec = json.dumps(
        {
            "in_axes": list(flat.in_axes),
            "out_axes": out_ax,
            "axis_size": flat.axis_size,
            "chunk_size": chunk_size,
            "axis_name": axis_name,
        }
    )
    out_avals = tuple(batched_aval(a, ax, flat.axis_size) for a, ax in zip(inner_avals, out_ax))
    handle = None
    if make_handle is not None:
        handle = make_handle(
            jaxpr_as_fun(jaxpr), flat.in_axes, tuple(out_ax), flat.axis_size, chunk_size, axis_name
        )
    try:
        outs = vmlir_vmap_p.bind(
            *leaves, jaxpr=jaxpr, spec=spec, out_avals=out_avals, handle=handle
        )
    except NotImplementedError as e:
        # JAX raises this when a transformation (e.g. jax.grad) meets our marker.
        raise VmlirUnsupportedError(
            f"a nested vmlir.vmap cannot be transformed by JAX here ({e})"
        ) from e
    return jax.tree_util.tree_unflatten(out_tree, outs)
