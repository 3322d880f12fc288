"""The `vmlir` xDSL Universe: how `xdsl-opt` and `vmlir-opt` find our dialects and passes.

Registered under the `xdsl.universe` entry point in pyproject.toml.

`DIALECTS` and `PASSES` are plain tables: `vmlir.compile` finds its passes there, so a
compilation does not import `xdsl.universe` (which loads xDSL's tables of targets and
passes, ~2 ms of a fresh process's first compile). `VMLIR_UNIVERSE` is built from them
when the entry point (or anyone) first asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _batch():
    from vmlir.dialects.batch import Batch

    return Batch


def _stablehlo():
    from vmlir.dialects.stablehlo import StableHLO

    return StableHLO


def _chlo():
    from vmlir.dialects.chlo import CHLO

    return CHLO


def _propagate_axes():
    from vmlir.passes.propagate_axes import BatchPropagateAxesPass

    return BatchPropagateAxesPass


def _mask_control_flow():
    from vmlir.passes.mask_control_flow import BatchMaskControlFlowPass

    return BatchMaskControlFlowPass


def _chunk():
    from vmlir.passes.chunk import BatchChunkPass

    return BatchChunkPass


def _vectorize():
    from vmlir.passes.vectorize import BatchVectorizePass

    return BatchVectorizePass


def _fuse():
    from vmlir.passes.fuse import BatchFusePass

    return BatchFusePass


def _lower():
    from vmlir.passes.lower import BatchLowerPass

    return BatchLowerPass


def _shard():
    from vmlir.passes.shard import BatchShardPass

    return BatchShardPass


def _ragged():
    from vmlir.passes.ragged import BatchRaggedPass

    return BatchRaggedPass


def _ragged_flat():
    from vmlir.passes.ragged_flat import BatchRaggedFlatPass

    return BatchRaggedFlatPass


DIALECTS: dict[str, Callable[[], Any]] = {"batch": _batch, "stablehlo": _stablehlo, "chlo": _chlo}
"""Every dialect by name, each imported only when called."""

PASSES: dict[str, Callable[[], Any]] = {
    "batch-propagate-axes": _propagate_axes,
    "batch-mask-control-flow": _mask_control_flow,
    "batch-chunk": _chunk,
    "batch-vectorize": _vectorize,
    "batch-fuse": _fuse,
    "batch-lower": _lower,
    "batch-shard": _shard,
    "batch-ragged": _ragged,
    "batch-ragged-flat": _ragged_flat,
}
"""Every pass by name, each imported only when called."""


def __getattr__(name: str) -> Any:
    # The Universe on first use (the entry point's `getattr`): see the module doc.
    if name == "VMLIR_UNIVERSE":
        from xdsl.universe import Universe

        universe = Universe(all_dialects=dict(DIALECTS), all_passes=dict(PASSES))
        globals()[name] = universe
        return universe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
