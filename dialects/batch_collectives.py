"""Named-axis collectives and custom batching rules of the `batch` dialect.

A `batch.vmap` may name its axis (`axis_name = "i"`); inside it, these ops compute across
the examples of the vmap(s) whose names they list, as `jax.lax`'s collectives do under
`jax.vmap(..., axis_name=...)`. They generalise `batch.any` / `batch.all` (which always
mean the innermost vmap) to named axes, tuples of names, and more than reductions:

- `batch.psum` / `batch.pmax` / `batch.pmin`: the sum / max / min over the named axes
  (uniform over them);
- `batch.axis_index`: this example's index along one named axis;
- `batch.all_gather`: every example's value, stacked (or concatenated, `tiled`) at `dim`;
- `batch.psum_scatter`: the sum, of which example k keeps block k of dimension `dim`;
- `batch.ppermute`: the value of example `src` for each pair (src, dst) of `perm`;
- `batch.all_to_all`: block k of dimension `split` of every example goes to example k,
  which concatenates what it receives along dimension `concat`.

A name is resolved to the nearest enclosing `batch.vmap` with that `axis_name`; batch-vectorize
handles each name when it vectorizes that vmap (innermost first).

`batch.custom_vmap` is a function with a user batching rule (`jax.custom_batching.custom_vmap`):
its region is the per-example body; batch-vectorize calls the rule registered under `rule`.

This module does not import `vmlir.dialects.batch` (which registers these ops): it finds
enclosing vmaps by op name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    DenseArrayBase,
    IntegerAttr,
    StringAttr,
    TensorType,
    UnitAttr,
    i32,
    i64,
)
from xdsl.ir import Attribute, Operation, Region, SSAValue
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
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from vmlir.dialects.deferred import irdl_op_definition


def names_attr(names: Sequence[str]) -> ArrayAttr[StringAttr]:
    return ArrayAttr([StringAttr(n) for n in names])


def enclosing_axis_sizes(op: Operation) -> dict[str, int]:
    """Axis name -> size of the `batch.vmap` ops around `op` (the nearest one wins); a
    vmap holding one shard of its axis names the whole axis, all shards together."""
    sizes: dict[str, int] = {}
    parent = op.parent_op()
    while parent is not None:
        if parent.name == "batch.vmap":
            name = parent.properties.get("axis_name")
            size = parent.properties.get("axis_size")
            if isinstance(name, StringAttr) and isinstance(size, IntegerAttr):
                shards = getattr(parent, "mesh_shards", None)
                count = 1 if shards is None else shards.count
                sizes.setdefault(name.data, size.value.data * count)
        parent = parent.parent_op()
    return sizes


def _shape(v: SSAValue | Attribute) -> list[int]:
    t = v.type if isinstance(v, SSAValue) else v
    assert isinstance(t, TensorType)
    return list(t.get_shape())


class CollectiveOp(IRDLOperation):
    """A computation across the examples of the vmaps named in `axes`."""

    axes = prop_def(ArrayAttr[StringAttr])
    SINGLE_AXIS: ClassVar[bool] = False

    @property
    def axis_names(self) -> list[str]:
        return [a.data for a in self.axes]

    def axes_size(self, sizes: dict[str, int] | None = None) -> int:
        sizes = enclosing_axis_sizes(self) if sizes is None else sizes
        n = 1
        for name in self.axis_names:
            n *= sizes[name]
        return n

    def verify_(self) -> None:
        names = self.axis_names
        if not names:
            raise VerifyException("axes must name at least one axis")
        if len(set(names)) != len(names):
            raise VerifyException(f"axes must not repeat a name, got {names}")
        if self.SINGLE_AXIS and len(names) != 1:
            raise VerifyException(f"{self.name} takes exactly one axis name, got {names}")
        sizes = enclosing_axis_sizes(self)
        for name in names:
            if name not in sizes:
                raise VerifyException(
                    f"axis name '{name}' is not bound by an enclosing batch.vmap"
                )
        self.verify_shapes(self.axes_size(sizes))

    def verify_shapes(self, n: int) -> None:
        """Check operand and result types, given the size `n` of the named axes."""


class _ReduceCollectiveOp(CollectiveOp):
    T: ClassVar = VarConstraint("T", base(TensorType))
    operand = operand_def(T)
    result = result_def(T)
    traits = traits_def(Pure())
    assembly_format = "$operand `axes` $axes attr-dict `:` type($operand)"

    def __init__(self, operand: SSAValue, axes: Sequence[str]):
        super().__init__(
            operands=[operand], result_types=[operand.type], properties={"axes": names_attr(axes)}
        )


@irdl_op_definition
class PsumOp(_ReduceCollectiveOp):
    """The sum over the named axes. `%s = batch.psum %x axes ["i"] : tensor<3xf32>`"""

    name = "batch.psum"


@irdl_op_definition
class PmaxOp(_ReduceCollectiveOp):
    """The maximum over the named axes. `%s = batch.pmax %x axes ["i"] : tensor<3xf32>`"""

    name = "batch.pmax"


@irdl_op_definition
class PminOp(_ReduceCollectiveOp):
    """The minimum over the named axes. `%s = batch.pmin %x axes ["i"] : tensor<3xf32>`"""

    name = "batch.pmin"


@irdl_op_definition
class AxisIndexOp(CollectiveOp):
    """This example's index along the named axis.
    `%k = batch.axis_index axes ["i"] : tensor<i32>`"""

    name = "batch.axis_index"
    result = result_def(TensorType)
    traits = traits_def(Pure())
    SINGLE_AXIS: ClassVar[bool] = True
    assembly_format = "`axes` $axes attr-dict `:` type($result)"

    def __init__(self, axis: str):
        super().__init__(
            result_types=[TensorType(i32, [])], properties={"axes": names_attr([axis])}
        )

    def verify_shapes(self, n: int) -> None:
        if self.result.type != TensorType(i32, []):
            raise VerifyException(f"result must be a tensor<i32>, got {self.result.type}")


def _check_dim(dim: int, rank: int, what: str) -> None:
    if not 0 <= dim < rank:
        raise VerifyException(f"{what} {dim} is out of range for an operand of rank {rank}")


def _check_result(op: IRDLOperation, shape: list[int]) -> None:
    got = _shape(op.results[0])
    if got != shape:
        raise VerifyException(f"result must have shape {shape}, got {got}")


class _ShapedCollectiveOp(CollectiveOp):
    operand = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())


@irdl_op_definition
class AllGatherOp(_ShapedCollectiveOp):
    """Every example's operand, stacked at `dim` (or concatenated along it: `tiled`).

    ```mlir
    %g = batch.all_gather %x axes ["i"] dim 0 : (tensor<3xf32>) -> tensor<4x3xf32>
    ```
    """

    name = "batch.all_gather"
    dim = prop_def(IntegerAttr[I64])
    tiled = opt_prop_def(UnitAttr)
    assembly_format = (
        "$operand `axes` $axes `dim` $dim (`tiled` $tiled^)? attr-dict `:` "
        "functional-type($operand, $result)"
    )

    def __init__(
        self, operand: SSAValue, axes: Sequence[str], dim: int, tiled: bool, result_type: Attribute
    ):
        super().__init__(
            operands=[operand],
            result_types=[result_type],
            properties={
                "axes": names_attr(axes),
                "dim": IntegerAttr(dim, i64),
                "tiled": UnitAttr() if tiled else None,
            },
        )

    def verify_shapes(self, n: int) -> None:
        shape, d = _shape(self.operand), self.dim.value.data
        if self.tiled is not None:
            _check_dim(d, len(shape), "dim")
            shape[d] *= n
        else:
            if not 0 <= d <= len(shape):
                raise VerifyException(
                    f"dim {d} is out of range for an operand of rank {len(shape)}"
                )
            shape.insert(d, n)
        _check_result(self, shape)


@irdl_op_definition
class PsumScatterOp(_ShapedCollectiveOp):
    """The sum over the named axis, of which example k keeps block k of dimension `dim`
    (untiled: index k, the dimension removed; `tiled`: the k-th of n equal blocks).

    ```mlir
    %s = batch.psum_scatter %x axes ["i"] dim 0 : (tensor<4x3xf32>) -> tensor<3xf32>
    ```
    """

    name = "batch.psum_scatter"
    dim = prop_def(IntegerAttr[I64])
    tiled = opt_prop_def(UnitAttr)
    SINGLE_AXIS: ClassVar[bool] = True
    assembly_format = (
        "$operand `axes` $axes `dim` $dim (`tiled` $tiled^)? attr-dict `:` "
        "functional-type($operand, $result)"
    )

    def verify_shapes(self, n: int) -> None:
        shape, d = _shape(self.operand), self.dim.value.data
        _check_dim(d, len(shape), "dim")
        if self.tiled is not None:
            if shape[d] % n:
                raise VerifyException(
                    f"dimension {d} of size {shape[d]} does not split into {n} blocks"
                )
            shape[d] //= n
        else:
            if shape[d] != n:
                raise VerifyException(
                    f"dimension {d} must have the axis size {n}, got {shape[d]}"
                )
            del shape[d]
        _check_result(self, shape)


@irdl_op_definition
class PpermuteOp(_ShapedCollectiveOp):
    """Example `dst` receives the operand of example `src`, for each pair of `perm`
    (flattened `[src0, dst0, src1, dst1, ...]`; a permutation of the whole axis).

    ```mlir
    %p = batch.ppermute %x axes ["i"] perm [0, 1, 1, 0] : (tensor<3xf32>) -> tensor<3xf32>
    ```
    """

    name = "batch.ppermute"
    perm = prop_def(DenseArrayBase[I64])
    SINGLE_AXIS: ClassVar[bool] = True
    assembly_format = (
        "$operand `axes` $axes `perm` $perm attr-dict `:` functional-type($operand, $result)"
    )

    def pairs(self) -> list[tuple[int, int]]:
        flat = self.perm.get_values()
        return [(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    def verify_shapes(self, n: int) -> None:
        if len(self.perm.get_values()) % 2:
            raise VerifyException("perm must hold (source, destination) pairs")
        pairs = self.pairs()
        srcs, dsts = [s for s, _ in pairs], [d for _, d in pairs]
        if sorted(srcs) != list(range(n)) or sorted(dsts) != list(range(n)):
            raise VerifyException(
                f"perm must be a permutation of the {n} examples of the axis, got {pairs}"
            )
        if self.result.type != self.operand.type:
            raise VerifyException(
                f"result must have type {self.operand.type}, got {self.result.type}"
            )


@irdl_op_definition
class AllToAllOp(_ShapedCollectiveOp):
    """Dimension `split` of every example is cut into n blocks; block k goes to example
    k, which concatenates the blocks it receives (in the senders' order) along `concat`.

    ```mlir
    %a = batch.all_to_all %x axes ["i"] split 0 concat 1 : (tensor<4x3xf32>) -> tensor<1x12xf32>
    ```
    """

    name = "batch.all_to_all"
    split = prop_def(IntegerAttr[I64])
    concat = prop_def(IntegerAttr[I64])
    SINGLE_AXIS: ClassVar[bool] = True
    assembly_format = (
        "$operand `axes` $axes `split` $split `concat` $concat attr-dict "
        "`:` functional-type($operand, $result)"
    )

    def verify_shapes(self, n: int) -> None:
        shape = _shape(self.operand)
        s, c = self.split.value.data, self.concat.value.data
        _check_dim(s, len(shape), "split")
        _check_dim(c, len(shape), "concat")
        if shape[s] % n:
            raise VerifyException(
                f"dimension {s} of size {shape[s]} does not split into {n} blocks"
            )
        shape[s] //= n
        shape[c] *= n
        _check_result(self, shape)


@irdl_op_definition
class CustomVmapOp(IRDLOperation):
    """A function with its own batching rule (`jax.custom_batching.custom_vmap`).

    The region is the per-example function (it ends in `batch.yield`); `rule` names the
    batching rule that batch-vectorize asks for (registered by the frontend) when an
    operand varies. With uniform operands, the region is used as it is.

    ```mlir
    %r = "batch.custom_vmap"(%x) <{rule = "f_rule#0"}> ({
    ^bb0(%a: tensor<3xf32>):
      "batch.yield"(%a) : (tensor<3xf32>) -> ()
    }) : (tensor<3xf32>) -> tensor<3xf32>
    ```
    """

    name = "batch.custom_vmap"
    args = var_operand_def(TensorType)
    outs = var_result_def(TensorType)
    rule = prop_def(StringAttr)
    body = region_def("single_block")

    def __init__(
        self, args: Sequence[SSAValue], rule: str, body: Region, result_types: Sequence[Attribute]
    ):
        super().__init__(
            operands=[args],
            result_types=[result_types],
            properties={"rule": StringAttr(rule)},
            regions=[body],
        )

    def verify_(self) -> None:
        block = self.body.block
        if [a.type for a in block.args] != [a.type for a in self.args]:
            raise VerifyException("body arguments must have the operand types")
        term = block.last_op
        if term is None or term.name != "batch.yield":
            raise VerifyException("body must end with batch.yield")
        if [v.type for v in term.operands] != [r.type for r in self.outs]:
            raise VerifyException("body must return the result types")


COLLECTIVE_OPS: tuple[type[CollectiveOp], ...] = (
    PsumOp,
    PmaxOp,
    PminOp,
    AxisIndexOp,
    AllGatherOp,
    PsumScatterOp,
    PpermuteOp,
    AllToAllOp,
)
