"""Collectives over a vmap axis split over a device mesh: the part that crosses devices.

A vmap holding one shard of its batch (`batch.vmap ... shards "b" of "b=8"`, one device's
examples under jax.shard_map) reduces or gathers its own lanes first (collectives.py);
these helpers then combine the shards, as XLA's partitioner does for jax.vmap with
spmd_axis_name: a StableHLO all_reduce or all_gather over the mesh's replica groups, and
for axis_index, this device's shard index (from its partition id) times the shard size.
Shards are equal blocks in device order, so a gather concatenates them in group order.
"""

from __future__ import annotations

from xdsl.dialects.builtin import IntegerType, Signedness, TensorType, i32
from xdsl.ir import Operation, SSAValue

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch_shards import MeshShards
from vmlir.passes.builder import scalar_body
from vmlir.passes.rules.context import RuleContext, tensor_type

CHANNEL = 1
"""Every collective's channel id here; the embedding into jax's module renumbers them
(vmlir/jaxmlir.py), as jax gives each collective it emits a channel of its own."""


def shards_of(ctx: RuleContext) -> MeshShards | None:
    """The mesh the vmap being vectorized holds one shard of, or None."""
    return getattr(ctx.vectorizer, "shards", None)


def global_size(ctx: RuleContext) -> int:
    """The size of the whole named axis: this shard's lanes times the shard count."""
    shards = shards_of(ctx)
    return ctx.axis_size * (1 if shards is None else shards.count)


def all_reduce(ctx: RuleContext, x: SSAValue, combine: type[Operation]) -> SSAValue:
    """`x` (this shard's reduction) combined over the devices holding the other shards."""
    shards = shards_of(ctx)
    assert shards is not None
    scalar = TensorType(tensor_type(x).element_type, [])
    op = hlo.AllReduceOp(x, shards.groups(), CHANNEL, scalar_body(scalar, combine))
    return ctx.emit(op).results[0]


def all_gather(ctx: RuleContext, x: SSAValue, dim: int) -> SSAValue:
    """`x` (this shard's lanes along `dim`) concatenated with the other shards' along it."""
    shards = shards_of(ctx)
    assert shards is not None
    t = tensor_type(x)
    shape = list(t.get_shape())
    shape[dim] *= shards.count
    op = hlo.AllGatherOp(x, dim, shards.groups(), CHANNEL, TensorType(t.element_type, shape))
    return ctx.emit(op).results[0]


def shard_offset(ctx: RuleContext) -> SSAValue:
    """This device's first example: its shard index times the shard size (an i32 scalar)."""
    shards = shards_of(ctx)
    assert shards is not None
    b = ctx.builder()
    scalar = TensorType(i32, [])
    ui32 = TensorType(IntegerType(32, Signedness.UNSIGNED), [])
    pid = ctx.emit(hlo.PartitionIdOp.create(result_types=[ui32])).results[0]
    device = b.unary(hlo.ConvertOp, pid, scalar)
    index = None
    for stride, size, scale in shards.index_terms():
        term = b.binary(hlo.DivideOp, device, b.constant(scalar, stride))
        term = b.binary(hlo.RemainderOp, term, b.constant(scalar, size))
        term = b.binary(hlo.MultiplyOp, term, b.constant(scalar, scale))
        index = term if index is None else b.binary(hlo.AddOp, index, term)
    assert index is not None
    return b.binary(hlo.MultiplyOp, index, b.constant(scalar, ctx.axis_size))
