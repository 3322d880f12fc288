"""The packed ("flat") form of a ragged trace: every example's rows in one array.

`flat_module(trace, rows, batch)` re-specializes a ragged trace (vmlir/frontend/ragged.py)
to a padded size of `rows` (the sum of the lengths, rounded up; a size no fixed dimension
and not the batch has) and rewraps its body in a vmap over the `batch` examples whose
ragged operands are NOT mapped: each holds all the rows, packed example after example.
Before the length it adds the segment id of every row. Outputs with a ragged dimension
are not mapped either (one packed array of rows). The vmap carries
`batch.ragged_layout = "flat"` and an axis name for the segment collectives; the pass
batch-ragged-flat rewrites where rows meet examples (docs/ragged.md, "Packed execution").
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects.builtin import IntegerType, ModuleOp, StringAttr, TensorType

from vmlir.dialects.batch import axes_attr, axes_of, first_vmap
from vmlir.frontend.ragged import RaggedTrace
from vmlir.frontend.ragged_resize import free_size, wrap

FLAT_AXIS = "vmlir.ragged.examples"
"""The axis name of a flat vmap (users cannot name a ragged vmap's axis)."""

LAYOUT_ATTR = "batch.ragged_layout"


@dataclass(frozen=True)
class FlatTrace:
    """The flat module, its number of rows, and the per-example trace it came from."""

    module: ModuleOp
    rows: int
    trace: RaggedTrace


def flat_rows(rows: int, batch: int, fixed: frozenset[int]) -> int:
    """The padded row count: `rows`, or the next size that neither a fixed dimension
    nor the batch has (the pass tells rows from other values by their size)."""
    size = max(rows, 2)
    while free_size(size, fixed) != size or size == batch:
        size += 1
    return size


def flat_module(trace: RaggedTrace, rows: int, batch: int) -> FlatTrace:
    rows = flat_rows(rows, batch, trace.fixed)
    at = trace.at(rows, batch)
    assert at.padded_size == rows, (at.padded_size, rows)
    module = at.module
    vmap = first_vmap(module)
    ragged = axes_of(vmap.ragged_axes)  # type: ignore[arg-type]
    in_axes = [None if r is not None else a for a, r in zip(vmap.in_axes_list, ragged)]
    body = vmap.detach_region(vmap.body)
    body.block.insert_arg(TensorType(IntegerType(32), [rows]), len(body.block.args) - 1)
    in_axes.insert(len(in_axes) - 1, None)
    ragged.insert(len(ragged) - 1, None)
    out_axes = [None if dims else 0 for dims in trace.out_ragged_dims]
    module = wrap(module, body, in_axes, out_axes, batch, axes_attr(ragged))
    flat = first_vmap(module)
    flat.attributes[LAYOUT_ATTR] = StringAttr("flat")
    flat.properties["axis_name"] = StringAttr(FLAT_AXIS)
    return FlatTrace(module, rows, at)
