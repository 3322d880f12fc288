"""The Python API: `vmlir.vmap`, `vmlir.compile`, and the staged IR of a compilation.

    batched = vmlir.vmap(fn, in_axes=(None, 0))     # like jax.vmap, callable directly
    compiled = vmlir.compile(batched)               # explicit: pipeline, staged IR
    compiled(params, xs)                            # runs under jax.jit, cached per signature
    compiled.lower(params, xs).as_text("batch")     # the IR at any stage
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax

from vmlir.compiler import Stages, run_pipeline
from vmlir.frontend.axes import flatten_args, flatten_out_axes, leaf_aval
from vmlir.frontend.importer import import_per_example
from vmlir.frontend.trace import batched_aval, in_vmlir_trace, lower_per_example, nested_vmap_call
from vmlir.ir import print_custom
from vmlir.runtime import xla


def _copy_name(wrapper: object, wrapped: object) -> None:
    # Not functools.update_wrapper: it would copy the wrapped object's __dict__ (for a
    # nested Vmapped, its axes) over ours.
    for attr in ("__name__", "__qualname__", "__doc__"):
        if hasattr(wrapped, attr):
            setattr(wrapper, attr, getattr(wrapped, attr))


class Vmapped:
    """A per-example function with the axes to map it over (what `vmlir.vmap` returns)."""

    def __init__(self, fn: Callable[..., Any], in_axes: Any, out_axes: Any, axis_size: int | None):
        if not callable(fn):
            raise TypeError(f"vmap requires a callable, got {fn!r}")
        self.fn, self.in_axes, self.out_axes, self.axis_size = fn, in_axes, out_axes, axis_size
        _copy_name(self, fn)
        self._default: Compiled | None = None

    def with_kwargs(self, args: tuple[Any, ...], kwargs: dict[str, Any]):
        """(fn, args, in_axes) with keyword arguments folded in; they map on axis 0."""
        if not kwargs:
            return self.fn, args, self.in_axes
        in_axes = self.in_axes
        if not isinstance(in_axes, (tuple, list)):
            in_axes = (in_axes,) * len(args)
        fn = self.fn

        def with_kw(*a: Any) -> Any:
            return fn(*a[:-1], **a[-1])

        return with_kw, (*args, kwargs), (*tuple(in_axes), 0)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if in_vmlir_trace():
            fn, args, in_axes = self.with_kwargs(args, kwargs)
            return nested_vmap_call(fn, args, in_axes, self.out_axes, self.axis_size)
        if self._default is None:
            self._default = Compiled(self, None)
        return self._default(*args, **kwargs)


def vmap(
    fn: Callable[..., Any], in_axes: Any = 0, out_axes: Any = 0, axis_size: int | None = None
) -> Vmapped:
    """Vectorize `fn` over a batch axis, with jax.vmap's semantics, through vmlir's compiler."""
    return Vmapped(fn, in_axes, out_axes, axis_size)


@dataclass(frozen=True)
class Program:
    """One compilation: the final StableHLO, the output structure, and every stage's IR."""

    text: str
    out_tree: Any
    out_avals: tuple[Any, ...]
    stages: Stages


class Lowered:
    """The IR of one compilation at each stage (`stages()` lists the names, in order)."""

    def __init__(self, program: Program):
        self._program = program

    def stages(self) -> list[str]:
        return self._program.stages.names()

    def as_text(self, stage: str = "stablehlo") -> str:
        """IR at `stage`: "jax" (JAX's per-example StableHLO), "batch" (imported), a
        pass name (after that pass) or "stablehlo" (final, generic form)."""
        texts = self._program.stages.texts
        if stage not in texts:
            raise KeyError(f"no stage {stage!r}; stages are {', '.join(texts)}")
        return texts[stage]


def _signature(leaves: list[Any], tree: Any) -> tuple[Any, ...]:
    avals = tuple(leaf_aval(x) for x in leaves)
    return (tree, tuple((a.shape, a.dtype, a.weak_type) for a in avals))


class Compiled:
    """`vmlir.compile(vmapped)`: call it like the vmapped function; `.lower(...)` shows IR."""

    def __init__(self, vmapped: Vmapped, pipeline: str | None):
        if not isinstance(vmapped, Vmapped):
            raise TypeError(
                f"vmlir.compile expects what vmlir.vmap returns, got {type(vmapped).__name__}"
            )
        self.vmapped, self.pipeline = vmapped, pipeline
        self._programs: dict[Any, Program] = {}
        self._jitted = jax.jit(self._traced)
        _copy_name(self, vmapped)

    def _program(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Program, list[Any]]:
        v = self.vmapped
        fn, args, in_axes = v.with_kwargs(args, kwargs)
        flat, in_tree, leaves = flatten_args(args, in_axes, v.axis_size)
        key = _signature(leaves, in_tree)
        program = self._programs.get(key)
        if program is None:
            per_example = lower_per_example(fn, in_tree, flat.per_example)
            ranks = [len(a.shape) for a in per_example.out_avals]
            out_axes = flatten_out_axes(v.out_axes, per_example.out_tree, ranks)
            stages = Stages()
            stages.add("jax", per_example.text)
            module = import_per_example(per_example.text, flat.in_axes, out_axes, flat.axis_size)
            stages.add("batch", print_custom(module))
            text = run_pipeline(module, self.pipeline, stages)
            out_avals = tuple(
                batched_aval(a, ax, flat.axis_size)
                for a, ax in zip(per_example.out_avals, out_axes)
            )
            program = Program(text, per_example.out_tree, out_avals, stages)
            self._programs[key] = program
        return program, leaves

    def _traced(self, *args: Any, **kwargs: Any) -> Any:
        program, leaves = self._program(args, kwargs)
        outs = xla.call(program.text, leaves, program.out_avals)
        return jax.tree_util.tree_unflatten(program.out_tree, outs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._jitted(*args, **kwargs)

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Compile for these arguments (arrays or jax.ShapeDtypeStruct) without running."""
        return Lowered(self._program(args, kwargs)[0])


def compile(batched: Vmapped, pipeline: str | None = None) -> Compiled:  # noqa: A001
    """Compile a `vmlir.vmap`-ed function; `pipeline` is a vmlir-opt pass pipeline."""
    return Compiled(batched, pipeline)
