"""The Python API: `vmlir.vmap`, `vmlir.compile`, and the staged IR of a compilation.

    batched = vmlir.vmap(fn, in_axes=(None, 0))     # like jax.vmap, callable directly
    compiled = vmlir.compile(batched)               # explicit: pipeline, staged IR
    compiled(params, xs)                            # runs under jax.jit, cached per signature
    compiled.lower(params, xs).as_text("batch")     # the IR at any stage
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import jax

from vmlir import cache
from vmlir.compiler import Stages, default_pipeline
from vmlir.derived import Backend, flat_fn
from vmlir.errors import VmlirUnsupportedError
from vmlir.frontend.axes import (
    Axis,
    flatten_args,
    flatten_out_axes,
    is_static_leaf,
    leaf_aval,
)
from vmlir.frontend.collectives import outer_axis_names
from vmlir.frontend.pycontrol_calls import convert
from vmlir.frontend.trace import batched_aval, lower_per_example
from vmlir.host_callbacks import HOST_CALLBACK_ATTR
from vmlir.runtime import xla
from vmlir.runtime.batched import BatchedFn
from vmlir.static_args import ARRAYS, StaticArgs, only_arrays
from vmlir.vmapped import Vmapped, _copy_name, vmap  # noqa: F401 (vmap re-exported: vmlir.api.vmap)

if TYPE_CHECKING:
    from vmlir.dialects.batch_shards import MeshShards
    from vmlir.runtime import sharding

# xDSL, our dialects and passes are imported only when the passes run (a build, not a
# disk-cache hit): see _build.


@dataclass(frozen=True)
class Program:
    """One compilation: the final StableHLO, the output structure, and every stage's IR."""

    text: str
    out_tree: Any
    out_avals: tuple[Any, ...]
    stages: Stages
    out_axes: tuple[Axis, ...] = ()
    handle: BatchedFn | None = None  # what the program computes, for JAX's transformations


class Lowered:
    """The IR of one compilation at each stage (`stages()` lists the names, in order)."""

    def __init__(self, program: Program):
        self._program = program

    def stages(self) -> list[str]:
        return self._program.stages.names()

    def as_text(self, stage: str = "stablehlo", generic: bool = False) -> str:
        """IR at `stage`: "jax" (JAX's per-example StableHLO), "batch" (imported), a
        pass name (after that pass) or "stablehlo" (final). Pretty (custom) syntax, or
        MLIR's generic form with `generic=True`."""
        stages = self._program.stages
        if stage not in stages.texts:
            raise KeyError(f"no stage {stage!r}; stages are {', '.join(stages.texts)}")
        return stages.text(stage, generic)


def _signature(leaves: list[Any], tree: Any) -> tuple[Any, ...]:
    avals = tuple(leaf_aval(x) for x in leaves)
    return (tree, tuple((a.shape, a.dtype, a.weak_type) for a in avals))


def _named(traced: Callable[..., Any], vmapped: Any) -> Callable[..., Any]:
    """`traced` under the name jax.jit's messages print: an argument that is not an
    array reads "Error interpreting argument to <function vmlir.vmap(loss) ...>", as
    with jax.jit(jax.vmap(loss)), not "<bound method Compiled._traced of ...>". Called
    only when jax.jit traces, so the dispatch path is unchanged."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return traced(*args, **kwargs)

    call.__name__ = getattr(vmapped, "__name__", "per_example")
    call.__qualname__ = f"vmlir.vmap({call.__name__})"
    return call


class Compiled:
    """`vmlir.compile(vmapped)`: call it like the vmapped function; `.lower(...)` shows IR."""

    def __init__(
        self,
        vmapped: Vmapped,
        pipeline: str | None,
        fast_math: bool = False,
        memory_limit_bytes: int | None = None,
        balance_shards: bool = False,
        verify_each: bool | None = None,
        summed: tuple[bool, ...] | None = None,
        profile: Any = False,
    ):
        if not isinstance(vmapped, Vmapped):
            raise TypeError(
                f"vmlir.compile expects what vmlir.vmap returns, got {type(vmapped).__name__}"
            )
        self.vmapped = vmapped
        self.pipeline = pipeline if pipeline is not None else default_pipeline(fast_math)
        self.fast_math = fast_math
        if memory_limit_bytes is not None and (
            isinstance(memory_limit_bytes, bool)
            or not isinstance(memory_limit_bytes, int)
            or memory_limit_bytes < 0
        ):
            raise ValueError(
                f"memory_limit_bytes must be a non-negative int, got {memory_limit_bytes!r}"
            )
        self.memory_limit_bytes = memory_limit_bytes
        self.balance_shards = balance_shards
        self.verify_each = verify_each
        # Derivative programs (vmlir/runtime/autodiff.py) sum these outputs over the batch.
        self.summed = summed
        # Set on a per-shard program whose collectives reach the other shards (_sharded).
        self.shards: MeshShards | None = None
        self._backend: Backend | None = None
        self._programs: dict[Any, Program] = {}
        self._traces: dict[Any, tuple[Any, list[Any]]] = {}
        self._local: dict[Any, Compiled] = {}
        self._jitted = jax.jit(_named(self._traced, vmapped))
        # Non-array arguments with in_axes None (a Python int for jnp.tile) reach the
        # function as they are, as with jax.vmap: static for jax.jit, one program per value.
        self._static_jitted = jax.jit(self._traced_static, static_argnums=0)
        axes = jax.tree_util.tree_leaves(vmapped.in_axes, is_leaf=lambda a: a is None)
        self._call = self._dispatch if None in axes else self._jitted
        self.profile = profile
        self.loops: list[Any] | None = None
        """The profile the programs are compiled with (vmlir/lanes.py): per while loop,
        the percentiles of its trip counts; recorded on the first call."""
        self.loop_sites: list[Any] | None = None
        """Each profiled loop's (file, line): matches loops to whiles (lanes.annotate)."""
        if profile is not False and profile is not None:
            self._unprofiled, self._call = self._call, self._profiled
        _copy_name(self, vmapped)

    def _profiled(self, *args: Any, **kwargs: Any) -> Any:
        self._record(args, kwargs)
        return self._unprofiled(*args, **kwargs)

    def _record(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.loops is None and getattr(self, "_unprofiled", None) is not None:
            from vmlir import lanes

            self.loops, self.loop_sites = lanes.record(self, args, kwargs)

    def _program(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], record: bool = False
    ) -> tuple[Program, list[Any]]:
        """The compiled program for this signature (cached); `record` keeps every stage's IR."""
        v = self.vmapped
        fn, args, in_axes = v.with_kwargs(args, kwargs)
        flat, in_tree, leaves = flatten_args(args, in_axes, v.axis_size)
        key = (*_signature(leaves, in_tree), flat.static_key())
        fn, in_tree = flat.bind_static(convert(fn), in_tree)
        program = self._programs.get(key)
        if program is None or (record and not program.stages.record):
            if key not in self._traces:  # the Python function is traced once per signature
                # Collectives see the whole axis, every shard's examples.
                named_size = flat.axis_size * (1 if self.shards is None else self.shards.count)
                per_example = lower_per_example(
                    fn, in_tree, flat.per_example, axis_name=v.axis_name, axis_size=named_size
                )
                ranks = [len(a.shape) for a in per_example.out_avals]
                out_axes = flatten_out_axes(v.out_axes, per_example.out_tree, ranks)
                self._traces[key] = (per_example, out_axes)
            per_example, out_axes = self._traces[key]
            summed = self.summed or (False,) * len(out_axes)
            out_avals = tuple(
                batched_aval(a, None if s else ax, flat.axis_size)
                for a, ax, s in zip(per_example.out_avals, out_axes, summed)
            )
            disk_key = None
            if cache.enabled() and per_example.cache_key is not None:
                options = {
                    "chunk_size": v.chunk_size,
                    "memory_limit_bytes": self.memory_limit_bytes,
                    "platform": jax.default_backend(),
                    "axis_name": v.axis_name,
                    "summed": self.summed,
                    "shards": None if self.shards is None else repr(self.shards),
                    "profile": self.loops,
                    "profile_sites": self.loop_sites,
                }
                disk_key = cache.key(
                    per_example.cache_key, flat.in_axes, out_axes, flat.axis_size,
                    self.pipeline, options,
                )
            text = cache.load(disk_key) if disk_key is not None and not record else None
            if text is not None:
                if "custom_call" in text:
                    # jax's lowering rules of custom calls set up what their kernels need
                    # at run time (jaxlib's LAPACK table of functions, filled on the first
                    # linear-algebra lowering): a hit that skipped the lowering crashed.
                    per_example.module  # noqa: B018
                stages = Stages(False)
                stages.add("stablehlo", text, generic=True)
                program = Program(
                    text, per_example.out_tree, out_avals, stages, tuple(out_axes)
                )
            else:

                def build(chunk_size: int | None) -> Program:
                    return self._build(
                        per_example, flat, out_axes, out_avals, chunk_size, record
                    )

                if self.memory_limit_bytes is None:
                    program = build(v.chunk_size)
                else:
                    program = self._fit_memory(build, leaves, flat.axis_size)
                # A Python callback is named in the text by an id of this process.
                if disk_key is not None and HOST_CALLBACK_ATTR not in program.text:
                    cache.store(disk_key, program.text)
            handle = self._programs[key].handle if key in self._programs else None
            if handle is None and self.summed is None:
                handle = BatchedFn(
                    flat_fn(fn, in_tree),
                    flat.in_axes,
                    tuple(out_axes),
                    (False,) * len(out_axes),
                    flat.axis_size,
                    v.chunk_size,
                    self.backend(),
                    axis_name=v.axis_name,
                )
            program = replace(program, handle=handle)
            self._programs[key] = program
        return program, leaves

    def _build(
        self,
        per_example: Any,
        flat: Any,
        out_axes: list[Any],
        out_avals: tuple[Any, ...],
        chunk_size: int | None,
        record: bool,
    ) -> Program:
        """Import JAX's per-example program and run our passes over it."""
        from vmlir.fastimport import compiler_imports
        from vmlir.gcpause import gc_paused

        with compiler_imports():
            from vmlir.compiler import import_passes, run_pipeline
            from vmlir.frontend.custom_vmap import trace_rule
            from vmlir.frontend.importer import import_per_example
            from vmlir.ir import print_custom

            import_passes(self.pipeline)
        stages = Stages(record)
        stages.add("jax", lambda: per_example.text, generic=True)
        with gc_paused():
            module = import_per_example(
                per_example.module, flat.in_axes, out_axes, flat.axis_size, chunk_size,
                self.vmapped.axis_name, self.summed, self.shards,
            )
            if self.loops:
                from vmlir import lanes

                lanes.annotate(module, self.loops, self.loop_sites)
            stages.add("batch", lambda: print_custom(module))
            text = run_pipeline(module, self.pipeline, stages, self.verify_each, trace_rule)
        return Program(text, per_example.out_tree, out_avals, stages, tuple(out_axes))

    def _fit_memory(
        self, build: Callable[[int | None], Program], leaves: list[Any], axis_size: int
    ) -> Program:
        """The program whose outer chunk size is the largest that keeps XLA's temporary
        memory within memory_limit_bytes (vmlir/memory.py): each candidate is compiled,
        never run. The user's own chunk_size, if any, is the largest tried."""
        from vmlir import memory  # only compilations with a memory limit need it

        assert self.memory_limit_bytes is not None
        in_avals = [leaf_aval(x) for x in leaves]
        built: dict[int | None, Program] = {}

        def temp_for(chunk_size: int | None) -> int:
            built[chunk_size] = program = build(chunk_size)
            return memory.temp_bytes(program.text, in_avals, program.out_avals)

        chosen = memory.choose_chunk_size(
            temp_for, axis_size, self.memory_limit_bytes, self.vmapped.chunk_size
        )
        return built[chosen]

    def _traced(self, *args: Any, **kwargs: Any) -> Any:
        v = self.vmapped
        if outer_axis_names() and self._options_are_default():
            # Called inside a vmlir.vmap that names its axis: its collectives may name that
            # axis too, which a program compiled on its own could not reduce over. As a
            # nested vmap the outer compile vectorizes both together (the same results).
            return v(*args, **kwargs)
        if v.spmd_axis_name is not None or any(
            not jax.typeof(x).sharding.mesh.empty
            for x in jax.tree_util.tree_leaves((args, kwargs))
            if not is_static_leaf(x)
        ):
            from vmlir.runtime import sharding  # only sharded inputs need it

            fn, fargs, in_axes = v.with_kwargs(args, kwargs)
            flat, in_tree, leaves = flatten_args(fargs, in_axes, v.axis_size)
            plan = sharding.batch_sharding(
                v.spmd_axis_name, flat.avals, flat.in_axes, flat.axis_size, self.balance_shards
            )
            if plan is not None:
                return self._sharded(plan, fn, in_tree, flat, leaves)
        program, leaves = self._program(args, kwargs)
        outs = xla.call(program.text, leaves, program.out_avals, program.handle)
        return jax.tree_util.tree_unflatten(program.out_tree, outs)

    def _options_are_default(self) -> bool:
        """Whether this compile adds nothing to what the vmap itself asks for."""
        return (
            self.pipeline == default_pipeline(False) and not self.fast_math
            and self.memory_limit_bytes is None and not self.balance_shards
            and self.summed is None and self.shards is None
            and (self.profile is False or self.profile is None)
        )

    def _sharded(
        self, plan: sharding.BatchSharding, fn: Any, in_tree: Any, flat: Any, leaves: list[Any]
    ) -> Any:
        """One program per shard of the batch axis (vmlir/runtime/sharding.py): compiled
        for the local batch, over the flattened arguments."""
        from vmlir.runtime import sharding

        local_size = flat.axis_size // plan.shards
        key = (in_tree, local_size, flat.static_key())
        local = self._local.get(key)
        if local is None:
            v = self.vmapped
            shards = sharding.collective_shards(plan, v.axis_name, self.balance_shards)
            # convert before the wrapper hides the user's code
            per_example, in_tree = flat.bind_static(convert(fn), in_tree)

            def on_leaves(*xs: Any) -> Any:
                return per_example(*jax.tree_util.tree_unflatten(in_tree, xs))

            _copy_name(on_leaves, fn)
            axis_size = None if v.axis_size is None else local_size
            inner = Vmapped(
                on_leaves, flat.in_axes, v.out_axes, axis_size, v.chunk_size, v.axis_name
            )
            local = Compiled(inner, self.pipeline, self.fast_math, self.memory_limit_bytes)
            local.shards = shards
            self._local[key] = local
        structs = [
            sharding.local_aval(a, ax, plan.shards) for a, ax in zip(flat.avals, flat.in_axes)
        ]
        program, _ = local._program(tuple(structs), {})
        outs = sharding.shard_call(
            plan,
            lambda *xs: xla.call(program.text, list(xs), program.out_avals, program.handle),
            leaves,
            flat.avals,
            flat.in_axes,
            program.out_axes,
            self.balance_shards,
        )
        return jax.tree_util.tree_unflatten(program.out_tree, outs)


    def _route(self, args: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        """The jax.jit function for these arguments and what to pass it: the static
        (non-array) leaves go in one static argument."""
        if only_arrays(args):
            return self._jitted, args
        leaves, tree = jax.tree_util.tree_flatten(args)
        static = tuple((i, x) for i, x in enumerate(leaves)
                       if type(x) not in ARRAYS and is_static_leaf(x))
        if not static:
            return self._jitted, args
        try:
            key = StaticArgs(tree, static)
            hash(key)
        except TypeError:  # flatten_args names the argument
            flatten_args(args, self.vmapped.in_axes, self.vmapped.axis_size)
            raise
        return self._static_jitted, (key, *(x for x in leaves if not is_static_leaf(x)))

    def _dispatch(self, *args: Any, **kwargs: Any) -> Any:
        fn, args = self._route(args)
        return fn(*args, **kwargs)

    def _traced_static(self, key: StaticArgs, *dyn: Any, **kwargs: Any) -> Any:
        it, static = iter(dyn), dict(key.static)
        leaves = [static[i] if i in static else next(it) for i in range(key.tree.num_leaves)]
        return self._traced(*jax.tree_util.tree_unflatten(key.tree, leaves), **kwargs)

    __call__ = property(operator.attrgetter("_call"))
    """Calling a Compiled calls its `jax.jit` function directly: a Python `__call__`
    forwarding *args costs ~0.8 us, 9% of jax.jit's own dispatch on a tiny input; this
    property (a C getter, no Python frame) costs ~0.2 us. With an in_axes None, a Python
    dispatcher first looks for static (non-array) arguments."""

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Compile for these arguments (arrays or jax.ShapeDtypeStruct) without running."""
        if only_arrays(args) and not any(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree_util.tree_leaves(args)):
            self._record(args, kwargs)
        return Lowered(self._program(args, kwargs, record=True)[0])

    def lower_jvp(self, *args: Any, **kwargs: Any) -> Lowered:
        """The JVP program (what jax.jvp / jacfwd run) for these arguments: tangents of
        every float argument leaf, after the arguments; tangents of the float outputs."""
        from vmlir.runtime import autodiff

        h, avals = self._handle(args, kwargs)
        nonzero = tuple(autodiff.is_float(a) for a in avals)
        float_out = tuple(autodiff.is_float(a) for a in self._program(args, kwargs)[0].out_avals)
        j = h.derive(("jvp", nonzero), lambda: autodiff.jvp_handle(h, nonzero, float_out))
        tangents = [a for a, z in zip(avals, nonzero) if z]
        return Lowered(self.backend().program_of(j, [*avals, *tangents], record=True))

    def lower_vjp(self, *args: Any, **kwargs: Any) -> Lowered:
        """The reverse-mode program (what jax.grad / jax.vjp run) for these arguments: the
        arguments and a cotangent per float output in; a cotangent per float argument
        leaf out (summed over the batch for in_axes=None arguments, in the program)."""
        from vmlir.runtime import autodiff

        h, avals = self._handle(args, kwargs)
        out_avals = self._program(args, kwargs)[0].out_avals
        t = autodiff.vjp_handle(h, avals, out_avals)
        cts = [a for a in out_avals if autodiff.is_float(a)]
        uniform = zip(h.out_axes, h.summed, out_avals)
        if any(ax is None and not s and autodiff.is_float(a) for ax, s, a in uniform):
            cts.append(jax.typeof(autodiff.first_lane(h.axis_size)))  # see uniform_cotangents
        return Lowered(self.backend().program_of(t, [*avals, *cts], record=True))

    def _handle(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[BatchedFn, list[Any]]:
        program, leaves = self._program(args, kwargs)
        assert program.handle is not None
        return program.handle, [leaf_aval(x) for x in leaves]

    def backend(self) -> Backend:
        """Compiles the programs derived from this one (derivatives, jax.vmap of it) with
        the same pipeline and options."""
        if self._backend is None:
            self._backend = Backend(
                self.pipeline, self.fast_math, self.memory_limit_bytes, self.shards
            )
        return self._backend

    def xla(self, *args: Any, **kwargs: Any) -> Any:
        """XLA's compiled executable for these arguments (jax's `Compiled`): for
        `.memory_analysis()`, `.cost_analysis()`, `.as_text()`."""
        fn, args = self._route(args)
        return fn.lower(*args, **kwargs).compile()


def compile(  # noqa: A001
    batched: Vmapped,
    pipeline: str | None = None,
    fast_math: bool = False,
    memory_limit_bytes: int | None = None,
    balance_shards: bool = False,
    verify_each: bool | None = None,
    profile: Any = False,
) -> Compiled:
    """Compile a `vmlir.vmap`-ed function.

    `pipeline`: a vmlir-opt pass pipeline (default: `vmlir.passes.DEFAULT_PIPELINE`).
    `fast_math=True`: allow algebraic rewrites that change rounding (see docs/passes.md).
    `memory_limit_bytes`: pick a chunk size so XLA's temporary memory stays under it.
    `balance_shards=True`: on a mesh, deal the examples to the shards round-robin (an
    all-to-all per batched argument and result, around the program) so that a batch
    sorted by cost loads every device alike (docs/sharding.md).
    `verify_each=True`: run the IR verifier after every pass, naming the pass that broke
    an invariant (default: once, at the end; the environment variable VMLIR_VERIFY_EACH=1
    turns it on everywhere).
    `profile=True`: the first call measures each while loop's trip counts (on a sample of
    its arguments) and compiles with them, so that the divergence strategy of each loop
    is picked from its measured distribution; `profile="file.json"`: the same, read from
    the file when it exists, else measured and saved there (vmlir/lanes.py).
    """
    # A RaggedVmapped exists only once vmlir.ragged is imported; importing it here would
    # load xDSL on every compile, which a disk-cache hit must not pay for.
    ragged = sys.modules.get("vmlir.ragged")
    if ragged is not None and isinstance(batched, ragged.RaggedVmapped):
        if fast_math or memory_limit_bytes is not None or balance_shards:
            raise VmlirUnsupportedError(
                "ragged vmap: fast_math, memory_limit_bytes and balance_shards are not "
                "supported yet"
            )
        return batched.with_pipeline(pipeline)
    return Compiled(
        batched, pipeline, fast_math, memory_limit_bytes, balance_shards, verify_each,
        profile=profile,
    )
