"""Run a pass pipeline over a batch-dialect module, keeping the IR after every step.

Verification policy: the verifier walks the whole module, which on a 1,000-op program
costs more than the passes themselves, so by default the result is verified once, after
the last pass. With `verify_each` (`vmlir.compile(..., verify_each=True)`, or the
environment variable VMLIR_VERIFY_EACH=1, which the test suite sets) it runs before the
first pass and after every pass, so a pass that breaks an invariant is named where it
happened. `vmlir-opt` always verifies after every pass. The once-at-the-end verify skips
the type checks of an op whose signature (class, operand and result types, properties,
attributes) already passed in it (vmlir/verify.py); it checks the same things.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmlir.errors import VmlirError
from vmlir.passes import DEFAULT_PIPELINE

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.passes import ModulePass

    from vmlir.passes.rules.custom_vmap import RuleTracer

# xDSL is imported inside run_pipeline: `Stages` and `default_pipeline` are used on a
# disk-cache hit, which must not pay for importing it.


def default_pipeline(fast_math: bool = False) -> str:
    """The pipeline `vmlir.compile` runs: DEFAULT_PIPELINE, with the algebraic rewrites of
    batch-fuse switched on under fast_math."""
    if not fast_math:
        return DEFAULT_PIPELINE
    if "batch-fuse" not in DEFAULT_PIPELINE:
        raise VmlirError("fast_math needs the batch-fuse pass in the pipeline")
    return DEFAULT_PIPELINE.replace("batch-fuse", "batch-fuse{algebraic=true}")


def available_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Every pass by name, each imported only when called (a pipeline imports its own)."""
    from vmlir.universe import PASSES

    return dict(PASSES)


_SPECS: dict[str, tuple[Any, ...]] = {}


def _pass_specs(spec: str) -> tuple[Any, ...]:
    """The passes of a pipeline spec (xDSL's ArgSpecs: name and options), parsed once
    per spec and process."""
    specs = _SPECS.get(spec)
    if specs is None:
        from xdsl.utils.arg_spec import parse_pipeline

        specs = _SPECS[spec] = tuple(parse_pipeline(spec))
    return specs


def _pass_names(spec: str) -> tuple[str, ...]:
    return tuple(p.name for p in _pass_specs(spec))


def import_passes(pipeline: str | None) -> None:
    """Import the passes `pipeline` names (vmlir.fastimport times this import)."""
    passes = available_passes()
    try:
        names = _pass_names(pipeline or DEFAULT_PIPELINE)
    except Exception:  # a bad spec: run_pipeline reports it
        return
    for name in names:
        if name in passes:
            passes[name]()


@dataclass
class Stages:
    """The IR of one compilation at every stage, in order.

    Printing the IR after every pass costs about as much as the passes themselves, so it
    is only done when `record` is set (by `Compiled.lower`); the final StableHLO is always
    kept, since the runtime needs it."""

    record: bool = True
    texts: dict[str, str] = field(default_factory=dict)
    generic: set[str] = field(default_factory=set)
    """The stages whose text is kept in the generic form (JAX's and the final one)."""

    def add(self, name: str, text: str | Callable[[], str], generic: bool = False) -> None:
        if self.record or name == "stablehlo":
            self.texts[name] = text if isinstance(text, str) else text()
            if generic:
                self.generic.add(name)

    def names(self) -> list[str]:
        return list(self.texts)

    def text(self, name: str, generic: bool = False) -> str:
        """The IR at stage `name`, in the pretty (custom) or the generic form."""
        text = self.texts[name]
        if generic == (name in self.generic):
            return text
        if name == "jax":
            # JAX's own text may hold dialects we do not load (sdy, ...): jaxlib prints it.
            from vmlir.jaxmlir import parse_with_jaxlib

            return parse_with_jaxlib(text, generic=generic) + "\n"
        from vmlir.ir import make_context, parse_module, print_custom, print_generic

        # The importer keeps attributes no dialect of ours defines (a custom call's
        # #stablehlo.output_operand_alias) as unregistered ones: read them back the same way.
        module = parse_module(text, make_context(allow_unregistered=True))
        return print_generic(module) if generic else print_custom(module)


VERIFY_EACH_ENV = "VMLIR_VERIFY_EACH"


def verify_each_default() -> bool:
    """Whether to verify after every pass when the caller does not say: the environment
    variable VMLIR_VERIFY_EACH (1/true/yes), off otherwise."""
    return os.environ.get(VERIFY_EACH_ENV, "").strip().lower() in ("1", "true", "yes", "on")


_PARSED: dict[tuple[object, ...], tuple[ModulePass, ...]] = {}


def _parsed(spec: str, passes: dict[str, Callable[[], type[ModulePass]]]) -> tuple[ModulePass, ...]:
    """The passes of `spec`, made once per spec: reading a pass's options from its
    dataclass fields (typing.get_type_hints, which compiles every string annotation)
    costs ~1 ms a pass, a fifth of a small function's compile; a pass named without
    options is its class's default instance, which xDSL's parse would build from those
    defaults (one with a required option goes through xDSL, which names it). Passes
    are frozen dataclasses, so one instance serves every run."""
    from xdsl.passes import PassPipeline

    try:
        specs = _pass_specs(spec)
        key = (spec, *(passes.get(p.name) for p in specs))
        if key not in _PARSED:
            made: list[ModulePass] | None = None
            if all(p.name in passes and not p.parameters for p in specs):
                try:
                    made = [passes[p.name]()() for p in specs]
                except TypeError:  # a required option: xDSL's parse says which
                    made = None
            if made is None:
                made = list(PassPipeline.parse_spec(passes, spec).passes)
            _PARSED[key] = tuple(made)
    except Exception as e:  # xDSL raises plain Exceptions for unknown passes / bad options
        raise VmlirError(f"bad pass pipeline {spec!r}: {e}") from e
    return _PARSED[key]


def run_pipeline(
    module: ModuleOp,
    pipeline: str | None,
    stages: Stages,
    verify_each: bool | None = None,
    rule_tracer: RuleTracer | None = None,
) -> str:
    """Apply `pipeline` (default: DEFAULT_PIPELINE) to `module` in place.

    Records the IR after each pass in `stages` (pretty form) and returns the final module
    as generic text: what the runtime hands to jaxlib, whose parser reads the generic
    form fastest and accepts every op in it. `verify_each` (default: verify_each_default())
    verifies after every pass instead of once at the end. `rule_tracer` is how
    batch-vectorize turns a `batch.custom_vmap` rule (Python code written against jax)
    into our IR: the Python API passes the frontend's; the passes never import it.
    """
    from xdsl.passes import PassPipeline
    from xdsl.utils.exceptions import VerifyException

    from vmlir.emit import emit_generic
    from vmlir.ir import print_custom, shared_context
    from vmlir.verify import memoized_verify

    if rule_tracer is not None:
        from vmlir.passes.rules.custom_vmap import register_rule_tracer

        register_rule_tracer(rule_tracer)

    spec = pipeline or DEFAULT_PIPELINE
    passes = available_passes()
    if verify_each is None:
        verify_each = verify_each_default()
    last: list[str] = []

    def after_each(prev: ModulePass | None, mod: ModuleOp, nxt: ModulePass | None) -> None:
        if prev is None:
            return
        last[:] = [prev.name]
        if verify_each:
            try:
                mod.verify()
            except VerifyException as e:
                raise VmlirError(f"the IR is invalid after pass '{prev.name}': {e}") from e
        stages.add(prev.name, lambda: print_custom(mod))

    pipe = PassPipeline(_parsed(spec, passes), after_each)
    if verify_each:
        module.verify()
    pipe.apply(shared_context(), module)
    if not verify_each:
        try:
            with memoized_verify():
                module.verify()
        except VerifyException as e:
            where = f" (last pass '{last[0]}')" if last else ""
            raise VmlirError(
                f"the IR is invalid at the end of the pipeline{where}; set "
                f"{VERIFY_EACH_ENV}=1 or verify_each=True to find the pass that broke it: {e}"
            ) from e
    final = emit_generic(module)
    stages.add("stablehlo", final, generic=True)
    return final
