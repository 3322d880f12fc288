"""The programs derived from a compiled vmlir function: its derivatives and jax.vmap of it.

vmlir/runtime's rules (autodiff.py, batching.py) describe each derived program as a
`BatchedFn` (a per-example function and the map around it); a `Backend` compiles one with
`vmlir.compile(vmlir.vmap(...))`, with the pipeline and options of the function it came
from, and caches it per BatchedFn (its programs are then cached per signature).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import jax

from vmlir.compiler import default_pipeline
from vmlir.frontend.pycontrol_calls import convert
from vmlir.runtime.batched import BatchedFn, converted

if TYPE_CHECKING:
    from vmlir.api import Compiled, Program
    from vmlir.dialects.batch_shards import MeshShards


def flat_fn(fn: Callable[..., Any], in_tree: Any) -> Callable[..., tuple[Any, ...]]:
    """`fn` (control flow converted) on flat argument leaves, returning a tuple of leaves."""
    fn = convert(fn)

    def flat(*leaves: Any) -> tuple[Any, ...]:
        return tuple(jax.tree_util.tree_leaves(fn(*jax.tree_util.tree_unflatten(in_tree, leaves))))

    flat.__name__ = getattr(fn, "__name__", "per_example")
    return converted(flat)


class Backend:
    """vmlir.runtime's way to compile a BatchedFn (see vmlir/runtime/batched.py): a
    `vmlir.compile(vmlir.vmap(...))` per BatchedFn, its programs cached per signature."""

    def __init__(
        self,
        pipeline: str,
        fast_math: bool,
        memory_limit_bytes: int | None,
        shards: MeshShards | None = None,
    ):
        self.options = (pipeline, fast_math, memory_limit_bytes)
        self.shards = shards
        """A per-shard program's mesh: its derived programs' collectives reach the other
        shards too."""
        self._compiled: weakref.WeakKeyDictionary[BatchedFn, Compiled] = weakref.WeakKeyDictionary()

    def _compile(self, b: BatchedFn) -> Compiled:
        c = self._compiled.get(b)
        if c is None:
            from vmlir.api import Compiled, Vmapped  # the API builds on this module

            v = Vmapped(
                b.fn, b.in_axes, b.vmap_out_axes(), b.axis_size, b.chunk_size, b.axis_name
            )
            pipeline, fast_math, memory_limit_bytes = self.options
            c = Compiled(v, pipeline, fast_math, memory_limit_bytes, summed=b.summed)
            c.shards = self.shards
            self._compiled[b] = c
        return c

    def program_of(self, b: BatchedFn, avals: Sequence[Any], record: bool = False) -> Program:
        args = tuple(jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in avals)
        return self._compile(b)._program(args, {}, record)[0]

    def program(self, b: BatchedFn, avals: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        p = self.program_of(b, avals)
        return p.text, p.out_avals

    def nested(self, b: BatchedFn, args: Sequence[Any]) -> tuple[Any, ...]:
        from vmlir.api import Vmapped

        outs = Vmapped(
            b.fn, b.in_axes, b.vmap_out_axes(), b.axis_size, b.chunk_size, b.axis_name
        )(*args)
        return tuple(o.sum(axis=0) if s else o for o, s in zip(outs, b.summed))


NESTED_BACKEND = Backend(default_pipeline(), False, None)
"""A nested vmlir.vmap's handle only makes more nested maps (never a program of its own)."""


def nested_handle(
    fn: Callable[..., Any],
    in_axes: Any,
    out_axes: Any,
    axis_size: int,
    chunk_size: int | None,
    axis_name: str | None = None,
) -> BatchedFn:
    def flat(*leaves: Any) -> tuple[Any, ...]:
        return tuple(fn(*leaves))

    flat.__name__ = getattr(fn, "__name__", "per_example")
    n = len(out_axes)
    return BatchedFn(
        converted(flat), tuple(in_axes), out_axes, (False,) * n, axis_size, chunk_size,
        NESTED_BACKEND, what="a nested vmlir.vmap", axis_name=axis_name,
    )
