"""What one `vmlir_call` computes, in the form the JAX transformation rules need.

A `BatchedFn` is the per-example function of a vmlir program (flat: array leaves in, a
tuple of array leaves out) with the axes it is mapped over. It is the `handle` parameter
of `vmlir_call_p`: hashable by identity, and the rules derive new `BatchedFn`s from it
(its JVP, its transpose, one more map for jax.vmap), each cached on the handle that
derived it, so the same call always yields the same derived handle and JAX's jaxpr
caches keep hitting.

A derived program is compiled by vmlir itself: the API module (`vmlir.api`) supplies
the `Backend` that turns a `BatchedFn` into a `vmlir.compile(vmlir.vmap(...))` and
caches its programs per signature, exactly as for primal programs; the runtime never
imports the API (data flows one way).

`summed[k]` marks an output whose per-example values are summed over the mapped axis
inside the program (the cotangent of an input passed with in_axes=None): its out_axes
entry is None, like an unbatched output, because the caller sees one value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import jax
import numpy as np

from vmlir.errors import VmlirUnsupportedError

Axis = int | None


class Backend(Protocol):
    """How a BatchedFn becomes a program (provided by vmlir.api)."""

    def program(self, fn: BatchedFn, avals: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """(final StableHLO text, batched out avals) for arguments of these avals."""
        ...

    def nested(self, fn: BatchedFn, args: Sequence[Any]) -> tuple[Any, ...]:
        """`fn` applied to `args` while an outer vmlir.vmap is being traced (a nested map)."""
        ...


@dataclass(frozen=True, eq=False)
class BatchedFn:
    """A per-example function and the map around it (see the module docstring)."""

    fn: Callable[..., tuple[Any, ...]]
    in_axes: tuple[Axis, ...]
    out_axes: tuple[Axis, ...]
    summed: tuple[bool, ...]
    axis_size: int
    chunk_size: int | None
    backend: Backend
    what: str = "a vmlir.vmap"  # for error messages: which transformation made it
    axis_name: str | None = None  # the name collectives in `fn` use for this map
    _derived: dict[Any, BatchedFn] = field(default_factory=dict, repr=False)

    def derive(self, key: Any, make: Callable[[], BatchedFn]) -> BatchedFn:
        """The handle derived from this one under `key`, made once."""
        d = self._derived.get(key)
        if d is None:
            d = self._derived[key] = make()
        return d

    def vmap_out_axes(self) -> tuple[Axis, ...]:
        """out_axes of the map itself: a summed output is mapped (on axis 0), then summed."""
        return tuple(0 if s else a for a, s in zip(self.out_axes, self.summed))

    def per_example_avals(self, avals: Sequence[Any]) -> list[jax.ShapeDtypeStruct]:
        out = []
        for aval, a in zip(avals, self.in_axes):
            shape = tuple(aval.shape)
            if a is not None:
                shape = shape[:a] + shape[a + 1 :]
            out.append(jax.ShapeDtypeStruct(shape, aval.dtype, weak_type=aval.weak_type))
        return out


_NO_REVERSE_WHILE = "Reverse-mode differentiation does not work for lax.while_loop"


def compile_program(handle: BatchedFn, avals: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """handle.backend.program, with what JAX cannot differentiate per example reported as
    vmlir's error naming the transformation."""
    with _jax_errors(handle):
        return handle.backend.program(handle, avals)


def call_nested(handle: BatchedFn, args: Sequence[Any]) -> tuple[Any, ...]:
    """handle.backend.nested, errors reported as by compile_program."""
    with _jax_errors(handle):
        return handle.backend.nested(handle, args)


@contextlib.contextmanager
def _jax_errors(handle: BatchedFn) -> Iterator[None]:
    try:
        yield
    except ValueError as e:
        if _NO_REVERSE_WHILE not in str(e):
            raise
        what = handle.what.removeprefix("the transpose of ").removeprefix("the JVP of ")
        raise VmlirUnsupportedError(
            f"reverse-mode differentiation (jax.grad / jax.vjp) of {what} whose function "
            "runs a lax.while_loop (or a fori_loop with traced bounds, or a Python while on "
            "traced values): JAX cannot transpose a while loop. Use forward mode (jax.jvp, "
            "jax.jacfwd), or a lax.scan / fori_loop with static bounds. JAX: "
            f"{str(e).splitlines()[0]}"
        ) from None


def converted(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a function vmlir builds itself: Python control flow conversion leaves it be
    (the user's function inside it was converted already)."""
    fn.__vmlir_converted__ = True  # type: ignore[attr-defined]
    return fn


def is_float(aval: Any) -> bool:
    """Whether values of this aval have tangents of their own dtype (not float0)."""
    return bool(jax.numpy.issubdtype(aval.dtype, jax.numpy.inexact))


def zeros(aval: Any) -> Any:
    """A zero of `aval`'s shape, in the dtype of its tangents (float0 for integers)."""
    if is_float(aval):
        return jax.numpy.zeros(aval.shape, aval.dtype)
    return np.zeros(aval.shape, jax.dtypes.float0)
