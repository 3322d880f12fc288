"""Run a pass pipeline over a batch-dialect module, keeping the IR after every step.

The verifier runs after every pass, so a pass that breaks an invariant is caught where
it happened, not when XLA rejects the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import VerifyException

from vmlir.errors import VmlirError
from vmlir.ir import make_context, parse_module, print_custom, print_generic
from vmlir.passes import DEFAULT_PIPELINE


def default_pipeline(fast_math: bool = False) -> str:
    """The pipeline `vmlir.compile` runs: DEFAULT_PIPELINE, with the algebraic rewrites of
    batch-fuse switched on under fast_math."""
    if not fast_math:
        return DEFAULT_PIPELINE
    if "batch-fuse" not in DEFAULT_PIPELINE:
        raise VmlirError("fast_math needs the batch-fuse pass in the pipeline")
    return DEFAULT_PIPELINE.replace("batch-fuse", "batch-fuse{algebraic=true}")


def available_passes() -> dict[str, type[ModulePass]]:
    from vmlir.universe import VMLIR_UNIVERSE

    return {name: get() for name, get in VMLIR_UNIVERSE.all_passes.items()}


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
        module = parse_module(text)
        return print_generic(module) if generic else print_custom(module)


def run_pipeline(module: ModuleOp, pipeline: str | None, stages: Stages) -> str:
    """Apply `pipeline` (default: DEFAULT_PIPELINE) to `module` in place.

    Records the IR after each pass in `stages` (pretty form) and returns the final module
    as generic text: what the runtime hands to jaxlib, whose parser reads the generic
    form fastest and accepts every op in it.
    """
    spec = pipeline or DEFAULT_PIPELINE
    passes = available_passes()

    def after_each(prev: ModulePass | None, mod: ModuleOp, nxt: ModulePass | None) -> None:
        if prev is None:
            return
        try:
            mod.verify()
        except VerifyException as e:
            raise VmlirError(f"the IR is invalid after pass '{prev.name}': {e}") from e
        stages.add(prev.name, lambda: print_custom(mod))

    try:
        pipe = PassPipeline.parse_spec(passes, spec, after_each)
    except Exception as e:  # xDSL raises plain Exceptions for unknown passes / bad options
        raise VmlirError(f"bad pass pipeline {spec!r}: {e}") from e
    module.verify()
    pipe.apply(make_context(), module)
    final = print_generic(module)
    stages.add("stablehlo", final, generic=True)
    return final
