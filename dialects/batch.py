"""The `batch` dialect: batching made explicit in the IR.

`batch.vmap` maps a per-example body over one axis of its operands, like `jax.vmap`. The
passes rewrite it step by step into plain StableHLO; the ops and attributes below are how
they state what they know between steps, so `vmlir-opt --print-between-passes` shows it:

- `batch.vmap` / `batch.yield`: the mapped region and its terminator.
- `batch.move_axis`: a batched value whose batch axis moves (a transpose that only the
  batch axis takes part in).
- `batch.broadcast`: a uniform (unbatched) value given a batch axis, where a batched
  result must be produced from it (e.g. a constant output with out_axes=0).
- `batch.masked`: a region that only the examples whose mask is true need; the others may
  compute anything (their results are discarded by a select). Control-flow masking
  (batch-mask-control-flow) puts the branches of a varying `if`/`case` and the body of a
  varying `while` in such regions.
- `batch.any` / `batch.all`: a collective over the mapped axis: whether any / every
  example's i1 value is true. The result is uniform. A varying `while` loops while
  `batch.any` of its predicate holds; an expensive masked region is skipped when
  `batch.any` of its mask is false.
- named-axis collectives (`batch.psum`, `batch.all_gather`, `batch.axis_index`, ...) over
  the vmaps whose `axis_name` they list, and `batch.custom_vmap`, a function batched by a
  user's rule: defined in `batch_collectives.py`, registered here.
- `batch.move_axis` / `batch.broadcast` and the helpers for batch axes in types and
  attributes are defined in `batch_layout.py`, registered and re-exported here.
- the discardable attribute `batch.varying` (set by batch-propagate-axes): per result of
  an op inside a `batch.vmap`, whether it differs between examples.

Axes are written as `[0, none]` in the custom form (`[0 : i64, none]` in the generic
form): an integer axis, or `none` for "not mapped". The custom forms:

```mlir
%r = batch.vmap(%v = %x, %u = %w) in_axes [0, none] out_axes [1] size 4 : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<3x4xf32> {
  %s = stablehlo.multiply %v, %u : tensor<3xf32>
  batch.yield %s : tensor<3xf32>
}
%m = batch.masked %p -> (tensor<3xf32>) {
  batch.yield %s : tensor<3xf32>
}
%a = batch.any %p : tensor<i1>
%t = batch.move_axis %x from 1 to 0 : (tensor<3x4xf32>) -> tensor<4x3xf32>
%b = batch.broadcast %c axis 0 size 4 : (tensor<3xf32>) -> tensor<4x3xf32>
```
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    ArrayAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    i1,
    i64,
)
from xdsl.ir import Attribute, Block, Dialect, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    VarConstraint,
    base,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException

from vmlir.dialects import batch_syntax
from vmlir.dialects.batch_collectives import COLLECTIVE_OPS, CustomVmapOp
from vmlir.dialects.batch_layout import (  # noqa: F401 (re-exported: batch.insert_axis, ...)
    Axis,
    BroadcastOp,
    MoveAxisOp,
    _check_axes_attr,
    _is_none,
    axes_attr,
    axes_of,
    insert_axis,
    move_axis_type,
    remove_axis,
    varying_attr,
)
from vmlir.dialects.batch_shards import MeshShards
from vmlir.dialects.deferred import irdl_op_definition

VARYING_ATTR = "batch.varying"
"""Discardable attribute set by batch-propagate-axes: `array<i1: ...>`, one per result."""

ACROSS_SHARDS_ATTR = "batch.across_shards"
"""Discardable unit attribute on a `batch.any` that decides whether a loop holding a
collective runs again: when the vmap's batch is sharded over devices, it must see every
shard's lanes, so that all devices run the loop's collectives equally often."""


@irdl_op_definition
class VmapOp(batch_syntax.VmapFormat, IRDLOperation):
    """Maps its per-example body over a batch axis of its operands.

    Operand i is sliced along `in_axes[i]` (or passed whole to every example when it
    is `none`); the body sees one example; result j stacks the j-th yielded value
    along `out_axes[j]` (`none`: the value is the same for every example).

    ```mlir
    %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 : (tensor<4x3xf32>) -> tensor<4x3xf32> {
      %s = stablehlo.multiply %v, %v : tensor<3xf32>
      batch.yield %s : tensor<3xf32>
    }
    ```
    """

    name = "batch.vmap"

    args = var_operand_def(TensorType)
    outs = var_result_def(TensorType)
    in_axes = prop_def(ArrayAttr)
    out_axes = prop_def(ArrayAttr)
    axis_size = prop_def(IntegerAttr)
    chunk_size = opt_prop_def(IntegerAttr)
    """Run the examples this many at a time (batch-chunk makes the loop)."""
    axis_name = opt_prop_def(StringAttr)
    """The name collectives use for this axis (`vmlir.vmap(..., axis_name=...)`)."""
    shard_mesh = opt_prop_def(StringAttr)
    """With shard_axes: this axis is one shard of a batch split over those axes of this
    device mesh (`"b=4,m=2"`); collectives over axis_name reach the other shards
    (dialects/batch_shards.py)."""
    shard_axes = opt_prop_def(StringAttr)
    """The mesh axes (`"b"`, `"b,m"`) the batch is split over."""
    ragged_axes = opt_prop_def(ArrayAttr)
    """Per operand, the per-example axis whose size differs between examples (padded in
    storage), or none; the last operand then holds each example's true length (an
    integer scalar per example). batch-ragged consumes it (docs/ragged.md)."""
    body = region_def("single_block")

    def __init__(
        self,
        args: Sequence[SSAValue],
        in_axes: Sequence[Axis],
        out_axes: Sequence[Axis],
        axis_size: int,
        body: Region,
        result_types: Sequence[Attribute],
        chunk_size: int | None = None,
        axis_name: str | None = None,
        shards: MeshShards | None = None,
    ):
        super().__init__(
            operands=[args],
            result_types=[result_types],
            properties={
                "in_axes": axes_attr(in_axes),
                "out_axes": axes_attr(out_axes),
                "axis_size": IntegerAttr(axis_size, i64),
                "chunk_size": None if chunk_size is None else IntegerAttr(chunk_size, i64),
                "axis_name": None if axis_name is None else StringAttr(axis_name),
                "shard_mesh": None if shards is None else StringAttr(shards.mesh_text),
                "shard_axes": None if shards is None else StringAttr(shards.axes_text),
            },
            regions=[body],
        )

    @property
    def in_axes_list(self) -> list[Axis]:
        return axes_of(self.in_axes)

    @property
    def out_axes_list(self) -> list[Axis]:
        return axes_of(self.out_axes)

    @property
    def size(self) -> int:
        return self.axis_size.value.data

    @property
    def name_of_axis(self) -> str | None:
        return None if self.axis_name is None else self.axis_name.data

    @property
    def mesh_shards(self) -> MeshShards | None:
        """How this axis is split over a device mesh, or None (one device holds it)."""
        if self.shard_mesh is None or self.shard_axes is None:
            return None
        return MeshShards.parse(self.shard_mesh.data, self.shard_axes.data)

    def verify_(self) -> None:
        _check_axes_attr(self.in_axes, "in_axes")
        _check_axes_attr(self.out_axes, "out_axes")
        size = self.size
        if size < 0:
            raise VerifyException(f"axis_size must be non-negative, got {size}")
        if self.chunk_size is not None and self.chunk_size.value.data < 1:
            raise VerifyException(
                f"chunk_size must be positive, got {self.chunk_size.value.data}"
            )
        if (self.shard_mesh is None) != (self.shard_axes is None):
            raise VerifyException("shard_mesh and shard_axes go together")
        if self.shard_mesh is not None:
            if self.axis_name is None:
                raise VerifyException("a sharded axis needs an axis_name")
            try:
                _ = self.mesh_shards  # parses the mesh, or raises
            except ValueError as e:
                raise VerifyException(str(e)) from None
        in_axes = self.in_axes_list
        if len(in_axes) != len(self.args):
            raise VerifyException(
                f"in_axes must name one axis (or none) per operand: {len(in_axes)} axes "
                f"for {len(self.args)} operands"
            )
        block = self.body.block
        if self.ragged_axes is not None:
            _check_axes_attr(self.ragged_axes, "ragged_axes")
            if len(self.ragged_axes.data) != len(self.args):
                raise VerifyException("ragged_axes must name one axis (or none) per operand")
        if len(block.args) != len(self.args):
            raise VerifyException(
                f"body must take one argument per operand: {len(block.args)} arguments "
                f"for {len(self.args)} operands"
            )
        for i, (arg, axis, barg) in enumerate(zip(self.args, in_axes, block.args)):
            t = arg.type
            assert isinstance(t, TensorType)
            if axis is None:
                expected: Attribute = t
            else:
                if not 0 <= axis < t.get_num_dims():
                    raise VerifyException(
                        f"in_axes[{i}] = {axis} is out of range for operand of rank "
                        f"{t.get_num_dims()}"
                    )
                if t.get_shape()[axis] != size:
                    raise VerifyException(
                        f"operand {i} has size {t.get_shape()[axis]} on its mapped axis "
                        f"{axis}, but axis_size is {size}"
                    )
                expected = remove_axis(t, axis)
            if barg.type != expected:
                raise VerifyException(
                    f"body argument {i} must be the per-example type {expected}, got {barg.type}"
                )
        out_axes = self.out_axes_list
        if len(out_axes) != len(self.outs):
            raise VerifyException(
                f"out_axes must name one axis (or none) per result: {len(out_axes)} axes "
                f"for {len(self.outs)} results"
            )
        term = block.last_op
        if not isinstance(term, YieldOp):
            raise VerifyException("body must end with batch.yield")
        if len(term.values) != len(self.outs):
            raise VerifyException(
                f"batch.yield yields {len(term.values)} values for {len(self.outs)} results"
            )
        for j, (res, axis, val) in enumerate(zip(self.outs, out_axes, term.values)):
            vt = val.type
            assert isinstance(vt, TensorType)
            if axis is None:
                expected = vt
            else:
                if not 0 <= axis <= vt.get_num_dims():
                    raise VerifyException(
                        f"out_axes[{j}] = {axis} is out of range for a yielded value of "
                        f"rank {vt.get_num_dims()}"
                    )
                expected = insert_axis(vt, axis, size)
            if res.type != expected:
                raise VerifyException(f"result {j} must have type {expected}, got {res.type}")


@irdl_op_definition
class MaskedOp(batch_syntax.MaskedFormat, IRDLOperation):
    """Runs its region for the examples whose `mask` is true.

    The other examples' results are unspecified (the region may compute garbage for them,
    e.g. divide by zero); whoever uses the results must select them away. Values from
    outside are used directly (the region is not isolated).

    ```mlir
    %r = batch.masked %m -> (tensor<3xf32>) {
      %s = stablehlo.sine %x : tensor<3xf32>
      batch.yield %s : tensor<3xf32>
    }
    ```
    """

    name = "batch.masked"
    mask = operand_def(TensorType)
    outs = var_result_def(TensorType)
    body = region_def("single_block")

    def __init__(self, mask: SSAValue, body: Region, result_types: Sequence[Attribute]):
        super().__init__(operands=[mask], result_types=[result_types], regions=[body])

    def verify_(self) -> None:
        t = self.mask.type
        assert isinstance(t, TensorType)
        if t.get_num_dims() != 0 or t.element_type != i1:
            raise VerifyException(f"mask must be a tensor<i1>, got {t}")
        term = self.body.block.last_op
        if not isinstance(term, YieldOp):
            raise VerifyException("body must end with batch.yield")
        if [v.type for v in term.values] != [r.type for r in self.outs]:
            raise VerifyException(
                "batch.yield must yield the result types "
                f"({', '.join(str(r.type) for r in self.outs)})"
            )


@irdl_op_definition
class YieldOp(batch_syntax.YieldFormat, IRDLOperation):
    """Terminates a `batch.vmap` or `batch.masked` body with the per-example results."""

    name = "batch.yield"
    values = var_operand_def()
    traits = traits_def(IsTerminator())

    def __init__(self, values: Sequence[SSAValue]):
        super().__init__(operands=[values])

    def verify_(self) -> None:
        if not isinstance(self.parent_op(), (VmapOp, MaskedOp, CustomVmapOp)):
            raise VerifyException(
                "'batch.yield' expects parent op 'batch.vmap', 'batch.masked' or "
                "'batch.custom_vmap'"
            )


class _LaneReductionOp(IRDLOperation):
    # One type variable for operand and result lets the format infer the result type.
    T: ClassVar = VarConstraint("T", base(TensorType))
    operand = operand_def(T)
    result = result_def(T)
    traits = traits_def(Pure())
    assembly_format = "$operand attr-dict `:` type($operand)"

    def __init__(self, operand: SSAValue):
        super().__init__(operands=[operand], result_types=[operand.type])

    def verify_(self) -> None:
        t = self.operand.type
        assert isinstance(t, TensorType)
        if t.get_num_dims() != 0 or t.element_type != i1:
            raise VerifyException(f"operand must be a tensor<i1>, got {t}")
        if self.result.type != t:
            raise VerifyException(f"result must have type {t}, got {self.result.type}")


@irdl_op_definition
class AnyOp(_LaneReductionOp):
    """Whether the operand is true for any example of the enclosing `batch.vmap`
    (uniform result). `%a = batch.any %p : tensor<i1>`"""

    name = "batch.any"


@irdl_op_definition
class AllOp(_LaneReductionOp):
    """Whether the operand is true for every example of the enclosing `batch.vmap`
    (uniform result). `%a = batch.all %p : tensor<i1>`"""

    name = "batch.all"


Batch = Dialect(
    "batch",
    [
        VmapOp, YieldOp, MoveAxisOp, BroadcastOp, MaskedOp, AnyOp, AllOp,
        *COLLECTIVE_OPS, CustomVmapOp,
    ],
    [],
)


def new_body(arg_types: Sequence[Attribute]) -> Region:
    """An empty single-block region with the given argument types."""
    return Region(Block(arg_types=arg_types))


def first_vmap(module: Operation) -> VmapOp:
    """The first `batch.vmap` of `module` in pre-order (the ragged layouts' programs hold
    one)."""
    return next(op for op in module.walk() if isinstance(op, VmapOp))


def static_shape(value: SSAValue) -> tuple[int, ...]:
    """The shape of a ranked tensor value."""
    t = value.type
    assert isinstance(t, TensorType)
    return tuple(t.get_shape())


def vmaps_in(root: Operation) -> list[VmapOp]:
    """Every `batch.vmap` in `root` (itself included), in pre-order. Looks inside ops
    with regions only: the passes ask this of a whole module, and xDSL's `walk` yields
    every op of a long program through a generator per level (~40% slower)."""
    found: list[VmapOp] = []

    def visit(op: Operation) -> None:
        if isinstance(op, VmapOp):
            found.append(op)
        for region in op.regions:
            for block in region.blocks:
                for inner in block.ops:
                    if inner.regions:
                        visit(inner)

    visit(root)
    return found
