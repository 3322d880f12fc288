"""vmlir: a vectorization compiler research framework.

`vmlir.compile(vmlir.vmap(fn, in_axes, out_axes))` batches a per-example jax.numpy function
through our own MLIR batching dialect and passes (xDSL), then runs the resulting StableHLO
with XLA. See README.md and docs/architecture.md.
"""

from typing import Any

from vmlir.errors import VmlirError, VmlirUnsupportedError

__all__ = ["Compiled", "Lowered", "Ragged", "Vmapped", "VmlirError", "VmlirUnsupportedError", "compile", "profile", "vmap"]
__version__ = "0.1.0"

_API = {"Compiled", "Lowered", "Vmapped", "compile", "vmap"}


def __getattr__(name: str) -> Any:
    # The API imports jax; the IR tools (vmlir-opt, the dialects, the passes) do not need
    # it, so it is loaded on first use.
    if name in _API:
        from vmlir.fastimport import compiler_imports

        with compiler_imports("api"):
            from vmlir import api

        return getattr(api, name)
    if name == "profile":
        from vmlir.lanes import profile

        return profile
    if name == "Ragged":
        from vmlir.ragged import Ragged

        return Ragged
    raise AttributeError(f"module 'vmlir' has no attribute {name!r}")
