"""Named axes: `vmlir.vmap(fn, axis_name="i")` and lax collectives over "i".

JAX traces the per-example function under `jax.jit`, where no vmap binds "i". Two things
make collectives work there:

1. While vmlir traces a function mapped over a named axis, the name is bound in JAX's
   axis environment (with its size), as jax.vmap binds it. So `lax.psum(x, "i")` traces
   to the same jaxpr as under jax.vmap: its checks pass, `pmean` divides by the axis size,
   `psum` of a Python constant folds to size × value, and JAX's own JVP and transpose
   rules of the collective primitives differentiate per-example code containing them.
2. The lowering of each collective primitive over one of OUR names is a marker, a
   `stablehlo.custom_call @vmlir.collective` whose backend_config names the batch-dialect
   op and its parameters. The importer turns it into that op (`batch.psum`, ...). For
   other names (a user's shard_map inside the function), JAX's own lowering runs.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from jax.interpreters import mlir

from vmlir.errors import VmlirUnsupportedError
from vmlir.jaxmlir import marker_call

COLLECTIVE_MARKER = "vmlir.collective"
"""call_target_name of the custom_call a collective over a vmlir axis name lowers to."""

_state = threading.local()


def _bound() -> dict[str, int]:
    """The axis names vmlir is tracing a function over, and their sizes."""
    if not hasattr(_state, "names"):
        _state.names = {}
    return _state.names


def outer_axis_names() -> tuple[str, ...]:
    """The names of the vmlir.vmaps being traced around the current code."""
    return tuple(_bound())


def check_axis_name(axis_name: Any) -> None:
    """vmlir names its axes with strings (they are written into the IR)."""
    if axis_name is not None and not isinstance(axis_name, str):
        raise VmlirUnsupportedError(
            f"vmlir.vmap axis_name must be a string, got {axis_name!r} "
            f"({type(axis_name).__name__}); name the axis with a str"
        )


def _extend_axis_env(name: str, size: int) -> Any:
    # jax has no public way to bind an axis name outside its own transformations; the
    # collectives' abstract evaluation and pmean/axis_size read this environment.
    from jax._src import core as jax_core

    return jax_core.extend_axis_env_nd([(name, size)])


@contextlib.contextmanager
def axis_bound(name: str | None, size: int) -> Iterator[None]:
    """Bind `name` (of `size`) for JAX while vmlir traces a function mapped over it."""
    if name is None:
        yield
        return
    names = _bound()
    outer = names.get(name)
    names[name] = size
    try:
        with _extend_axis_env(name, size):
            yield
    finally:
        if outer is None:
            del names[name]
        else:
            names[name] = outer


def _where(ctx: Any) -> str:
    """` (from file:line)` of the user's code that called the collective, if known."""
    # The user's frame of a lowering's traceback: jax's own filter is not public.
    from jax._src import source_info_util

    traceback = getattr(ctx, "traceback", None) or source_info_util.current().traceback
    frame = source_info_util.user_frame(traceback)
    return "" if frame is None else f" (from {frame.file_name}:{frame.start_line})"


def _ours(ctx: Any, names: Sequence[Any], what: str) -> bool:
    """Whether a collective over `names` is over vmlir's axes (all of them) or JAX's."""
    bound = _bound()
    mine = [n for n in names if isinstance(n, str) and n in bound]
    if not mine:
        return False
    if len(mine) != len(names):
        raise VmlirUnsupportedError(
            f"lax.{what} over {tuple(names)}{_where(ctx)} mixes vmlir.vmap axis names with "
            "other axes (positional axes or a shard_map's); reduce over them separately"
        )
    return True


def _no_groups(ctx: Any, groups: Any, what: str) -> None:
    if groups is not None:
        raise VmlirUnsupportedError(
            f"lax.{what} with axis_index_groups over a vmlir.vmap axis{_where(ctx)}: "
            "not supported; mask the values of the other groups instead"
        )


def _single(ctx: Any, names: Sequence[str], what: str) -> None:
    if len(names) != 1:
        raise VmlirUnsupportedError(
            f"lax.{what} over several axis names {tuple(names)}{_where(ctx)}: vmlir "
            "supports one name here; nest one collective per name"
        )


def _as_tuple(names: Any) -> tuple[Any, ...]:
    return tuple(names) if isinstance(names, (tuple, list)) else (names,)


def _emit(ctx: Any, args: Sequence[Any], config: dict[str, Any]) -> list[Any]:
    """One marker per operand (or one with no operand), for each output aval."""
    text = json.dumps(config)
    if not args:
        return list(marker_call(ctx, COLLECTIVE_MARKER, text, [], ctx.avals_out[0]))
    out: list[Any] = []
    for a, aval in zip(args, ctx.avals_out):
        out.extend(marker_call(ctx, COLLECTIVE_MARKER, text, [a], aval))
    return out


def _reduction(what: str) -> Callable[..., Any]:
    def rule(ctx: Any, *args: Any, axes: Any, axis_index_groups: Any) -> list[Any]:
        _no_groups(ctx, axis_index_groups, what)
        return _emit(ctx, args, {"op": f"batch.{what}", "axes": list(axes)})

    return rule


def _axis_index(ctx: Any, *, axis_name: Any) -> list[Any]:
    return _emit(ctx, [], {"op": "batch.axis_index", "axes": [axis_name]})


def _all_gather(
    ctx: Any, x: Any, *, all_gather_dimension: int, axis_name: Any, axis_size: int, tiled: bool,
    axis_index_groups: Any = None, **_: Any,
) -> list[Any]:
    _no_groups(ctx, axis_index_groups, "all_gather")
    return _emit(ctx, [x], {
        "op": "batch.all_gather", "axes": list(_as_tuple(axis_name)),
        "dim": all_gather_dimension, "tiled": bool(tiled),
    })


def _reduce_scatter(
    ctx: Any, x: Any, *, scatter_dimension: int, axis_name: Any, axis_index_groups: Any,
    axis_size: int, tiled: bool, **_: Any,
) -> list[Any]:
    _no_groups(ctx, axis_index_groups, "psum_scatter")
    names = list(_as_tuple(axis_name))
    _single(ctx, names, "psum_scatter")
    return _emit(ctx, [x], {
        "op": "batch.psum_scatter", "axes": names, "dim": scatter_dimension, "tiled": bool(tiled),
    })


def _ppermute(ctx: Any, x: Any, *, axis_name: Any, perm: Any) -> list[Any]:
    names = list(_as_tuple(axis_name))
    _single(ctx, names, "ppermute")
    if len(perm) != _bound()[names[0]]:
        raise AssertionError("Permutation doesn't match the axis size!")  # jax.vmap's error
    return _emit(ctx, [x], {
        "op": "batch.ppermute", "axes": names, "perm": [int(i) for pair in perm for i in pair],
    })


def _all_to_all(
    ctx: Any, x: Any, *, split_axis: int, concat_axis: int, axis_name: Any,
    axis_index_groups: Any, tiled: bool, **_: Any,
) -> list[Any]:
    # lax.all_to_all reshapes an untiled call so that the primitive always moves blocks.
    _no_groups(ctx, axis_index_groups, "all_to_all")
    names = list(_as_tuple(axis_name))
    _single(ctx, names, "all_to_all")
    return _emit(ctx, [x], {
        "op": "batch.all_to_all", "axes": names, "split": split_axis, "concat": concat_axis,
    })


def _pbroadcast(ctx: Any, x: Any, *, axis_name: Any, source: int) -> list[Any]:
    # Every example gets example `source`'s value: the gathered values at `source`.
    from jax import lax

    names = list(_as_tuple(axis_name))
    _single(ctx, names, "pbroadcast")
    return mlir.lower_fun(lambda v: lax.all_gather(v, names[0])[source], multiple_results=False)(
        ctx, x
    )


def _no_generic_lowering(prim: Any) -> Callable[..., Any]:
    """JAX's own error for a primitive it lowers on some platforms only (pbroadcast)."""

    def rule(ctx: Any, *args: Any, **params: Any) -> Any:
        platforms = ctx.module_context.platforms
        raise NotImplementedError(
            f"MLIR translation rule for primitive '{prim.name}' not found for platform "
            f"{platforms[0] if len(platforms) == 1 else list(platforms)}"
        )

    return rule


def _names_of(params: dict[str, Any]) -> tuple[Any, ...]:
    return _as_tuple(params["axes"] if "axes" in params else params["axis_name"])


def _jax_lowerings() -> tuple[dict[Any, Any], dict[str, dict[Any, Any]], dict[str, Any]]:
    # The collective primitives and their registered lowering rules are not public; we
    # wrap JAX's rules (keeping them for names that are not ours) rather than replace them.
    from jax._src.interpreters import mlir as jax_mlir
    from jax._src.lax import parallel

    prims = {
        "psum": parallel.psum_p,
        "pmax": parallel.pmax_p,
        "pmin": parallel.pmin_p,
        "axis_index": parallel.axis_index_p,
        "all_gather": parallel.all_gather_p,
        "psum_scatter": parallel.reduce_scatter_p,
        "ppermute": parallel.ppermute_p,
        "all_to_all": parallel.all_to_all_p,
        "pbroadcast": parallel.pbroadcast_p,
    }
    return jax_mlir._lowerings, jax_mlir._platform_specific_lowerings, prims


_OURS: dict[str, Callable[..., list[Any]]] = {
    "psum": _reduction("psum"),
    "pmax": _reduction("pmax"),
    "pmin": _reduction("pmin"),
    "axis_index": _axis_index,
    "all_gather": _all_gather,
    "psum_scatter": _reduce_scatter,
    "ppermute": _ppermute,
    "all_to_all": _all_to_all,
    "pbroadcast": _pbroadcast,
}


def _wrap(
    what: str, ours: Callable[..., list[Any]], theirs: Callable[..., Any]
) -> Callable[..., Any]:
    def rule(ctx: Any, *args: Any, **params: Any) -> Any:
        if _ours(ctx, _names_of(params), what):
            return ours(ctx, *args, **params)
        return theirs(ctx, *args, **params)

    return rule


def _install() -> None:
    generic, per_platform, prims = _jax_lowerings()
    for what, prim in prims.items():
        if prim in generic:
            entry = generic[prim]
            mlir.register_lowering(prim, _wrap(what, _OURS[what], entry.rule), inline=entry.inline)
        else:
            mlir.register_lowering(prim, _wrap(what, _OURS[what], _no_generic_lowering(prim)))
        for platform, table in list(per_platform.items()):
            if prim in table:
                entry = table[prim]
                mlir.register_lowering(
                    prim, _wrap(what, _OURS[what], entry.rule), platform=platform,
                    inline=entry.inline,
                )


_install()
