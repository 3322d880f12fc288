"""`vmlir.vmap`: a per-example function with the axes to map it over (`Vmapped`), and the
ragged variant's entry. Calling one compiles it on first use (vmlir/api.py's `Compiled`);
inside a vmlir trace it becomes a nested `batch.vmap`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vmlir.derived import nested_handle
from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend.collectives import check_axis_name
from vmlir.frontend.pycontrol_calls import convert
from vmlir.frontend.trace import in_vmlir_trace, nested_vmap_call

if TYPE_CHECKING:
    from vmlir.api import Compiled


def _copy_name(wrapper: object, wrapped: object) -> None:
    # Not functools.update_wrapper: it would copy the wrapped object's __dict__ (for a
    # nested Vmapped, its axes) over ours.
    for attr in ("__name__", "__qualname__", "__doc__"):
        if hasattr(wrapped, attr):
            setattr(wrapper, attr, getattr(wrapped, attr))


class Vmapped:
    """A per-example function with the axes to map it over (what `vmlir.vmap` returns)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        in_axes: Any,
        out_axes: Any,
        axis_size: int | None,
        chunk_size: int | None = None,
        axis_name: str | None = None,
        spmd_axis_name: Any = None,
    ):
        if not callable(fn):
            raise TypeError(f"vmap requires a callable, got {fn!r}")
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
            raise ValueError(f"vmap chunk_size must be a positive int, got {chunk_size!r}")
        self.fn, self.in_axes, self.out_axes, self.axis_size = fn, in_axes, out_axes, axis_size
        self.chunk_size = chunk_size
        check_axis_name(axis_name)
        self.axis_name = axis_name
        self.spmd_axis_name = spmd_axis_name
        _copy_name(self, fn)
        self._default: Compiled | None = None

    def with_kwargs(self, args: tuple[Any, ...], kwargs: dict[str, Any]):
        """(fn, args, in_axes) with keyword arguments folded in; they map on axis 0."""
        if not kwargs:
            return self.fn, args, self.in_axes
        in_axes = self.in_axes
        if not isinstance(in_axes, (tuple, list)):
            in_axes = (in_axes,) * len(args)
        # Convert Python control flow here: the wrapper below would hide the user's code.
        fn = convert(self.fn)

        def with_kw(*a: Any) -> Any:
            return fn(*a[:-1], **a[-1])

        return with_kw, (*args, kwargs), (*tuple(in_axes), 0)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if in_vmlir_trace():
            if self.spmd_axis_name is not None:
                raise VmlirUnsupportedError(
                    f"spmd_axis_name={self.spmd_axis_name!r} on a nested vmlir.vmap: only "
                    "the outermost vmap's batch axis can be sharded"
                )
            fn, args, in_axes = self.with_kwargs(args, kwargs)
            return nested_vmap_call(
                fn,
                args,
                in_axes,
                self.out_axes,
                self.axis_size,
                self.chunk_size,
                axis_name=self.axis_name,
                make_handle=nested_handle,
            )
        if self._default is None:
            from vmlir.api import Compiled  # the API builds on this module

            self._default = Compiled(self, None)
        return self._default(*args, **kwargs)


def vmap(
    fn: Callable[..., Any],
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_size: int | None = None,
    chunk_size: int | None = None,
    axis_name: str | None = None,
    spmd_axis_name: Any = None,
    ragged: Any = None,
    ragged_out: str = "list",
    max_buckets: int = 1,
    bucket_sizes: Any = None,
    layout: str = "auto",
) -> Any:
    """Vectorize `fn` over a batch axis, with jax.vmap's semantics, through vmlir's compiler.

    `chunk_size=k` runs the batch k examples at a time (a loop over chunks plus a
    remainder), bounding the memory of the intermediates to that of k examples.
    `axis_name` names the axis for lax collectives (psum, all_gather, axis_index, ...).
    `spmd_axis_name`: the mesh axis (or tuple of axes) the batch axis is split over; each
    device then runs the program on its own examples (docs/sharding.md). On an Explicit
    mesh the arguments' shardings say it already.
    `ragged`: per argument, the per-example axis along which examples differ in length
    (or None); such arguments are lists of arrays or `vmlir.Ragged`. Options
    `ragged_out`, `max_buckets`, `bucket_sizes`, `layout` ("auto", "flat": the rows
    of all examples packed into one array; "buckets") (docs/ragged.md).
    """
    if ragged is not None:
        from vmlir.ragged import RaggedVmapped

        if axis_size is not None or chunk_size is not None or axis_name is not None \
                or spmd_axis_name is not None:
            raise VmlirUnsupportedError(
                "ragged vmap: axis_size, chunk_size, axis_name and spmd_axis_name "
                "are not supported together with ragged= yet"
            )
        return RaggedVmapped(
            fn, ragged, in_axes, ragged_out, max_buckets, bucket_sizes, out_axes=out_axes, layout=layout
        )
    if ragged_out != "list" or max_buckets != 1 or bucket_sizes is not None or layout != "auto":
        raise ValueError("vmap's ragged_out, max_buckets, bucket_sizes and layout need ragged=...")
    return Vmapped(fn, in_axes, out_axes, axis_size, chunk_size, axis_name, spmd_axis_name)
