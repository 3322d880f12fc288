"""The batch axis on a device mesh: which mesh axis carries it, and running one shard each.

vmlir does no distribution of its own: a batch sharded over a mesh axis runs as a
`jax.shard_map` over that axis (Shardy's `sdy.manual_computation`, partitioned by XLA),
whose body is the vmlir program compiled for the LOCAL batch (axis_size / shards). Each
device therefore runs its own loops and compacts its own lanes: a divergent while costs no
collective at all, where the same program partitioned by XLA's propagation gathers lanes
across devices at every compaction stage. This is sound because vmap's examples are
independent (no named-axis collective crosses them).

The mesh axis is found, in order:
- `spmd_axis_name` (jax.vmap's argument): a mesh axis name, or a tuple of them; the mesh is
  the one in context (`jax.set_mesh`) or the mesh of an Explicit-sharded argument;
- otherwise an Explicit mesh (jax.make_mesh's default): the axis the batched arguments'
  types (`jax.typeof(x).sharding`) put on their mapped dimension.
With neither (an Auto mesh and no spmd_axis_name), the program runs as one global program
and XLA's propagation partitions it: correct, but compaction then moves lanes between
devices (docs/sharding.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from vmlir.dialects.batch_shards import MeshShards
from vmlir.errors import VmlirError, VmlirUnsupportedError

Axis = int | None

COLLECTIVES = ("all-reduce", "all-gather", "all-to-all", "collective-permute", "reduce-scatter")


def count_collectives(hlo_text: str) -> dict[str, int]:
    """How many of each collective XLA's partitioned program (`Compiled.xla(...).as_text()`)
    holds; an async pair (`-start`/`-done`) counts once."""
    return {c: len(re.findall(rf"\s{c}(?:-start)?\(", hlo_text)) for c in COLLECTIVES}


@dataclass(frozen=True)
class BatchSharding:
    """The mesh axis (or axes) the batch axis is split over, and into how many shards."""

    mesh: Any  # jax.sharding.Mesh or AbstractMesh
    names: tuple[str, ...]
    shards: int

    @property
    def entry(self) -> str | tuple[str, ...]:
        """The PartitionSpec entry of the batch dimension."""
        return self.names[0] if len(self.names) == 1 else self.names

    def spec(self, axis: Axis) -> PartitionSpec:
        """The shard_map spec of a value whose batch axis is `axis` (None: replicated)."""
        if axis is None:
            return PartitionSpec()
        return PartitionSpec(*([None] * axis), self.entry)


def _names(entry: Any) -> tuple[str, ...]:
    if entry is None:
        return ()
    return tuple(entry) if isinstance(entry, (tuple, list)) else (entry,)


def _padded(spec: PartitionSpec, ndim: int) -> tuple[tuple[str, ...], ...]:
    return tuple(_names(e) for e in tuple(spec) + (None,) * (ndim - len(spec)))


def _aval_sharding(aval: Any) -> NamedSharding | None:
    s = getattr(aval, "sharding", None)
    return s if isinstance(s, NamedSharding) and not s.mesh.empty else None


def _has_axes(mesh: Any, names: tuple[str, ...]) -> bool:
    return not mesh.empty and all(n in mesh.axis_names for n in names)


def _find_mesh(names: tuple[str, ...], avals: Sequence[Any]) -> Any:
    mesh = jax.sharding.get_abstract_mesh()
    if _has_axes(mesh, names):
        return mesh
    for aval in avals:
        s = _aval_sharding(aval)
        if s is not None and _has_axes(s.mesh, names):
            return s.mesh
    return None


def _explicit_batch_entry(avals: Sequence[Any], in_axes: Sequence[Axis]) -> tuple[Any, Any]:
    """(mesh, entry) of the mesh axes an Explicit mesh puts on the mapped dimension of the
    batched arguments, or (None, None) when they name none or disagree."""
    found: set[tuple[str, ...]] = set()
    mesh = None
    for aval, axis in zip(avals, in_axes):
        s = _aval_sharding(aval) if axis is not None else None
        if s is None:
            continue
        names = _padded(s.spec, len(aval.shape))[axis]
        types = dict(zip(s.mesh.axis_names, s.mesh.axis_types))
        if names and all(types[n] == AxisType.Explicit for n in names):
            found.add(names)
            mesh = s.mesh
    if len(found) != 1:
        return None, None
    return mesh, found.pop()


def batch_sharding(
    spmd_axis_name: Any,
    avals: Sequence[Any],
    in_axes: Sequence[Axis],
    axis_size: int,
    balance: bool = False,
) -> BatchSharding | None:
    """How the batch axis of a call with these argument types is sharded (module doc), or
    None to run one global program."""
    if all(a is None for a in in_axes):
        return None  # nothing is mapped: no batched argument to split
    if spmd_axis_name is not None:
        names = _names(spmd_axis_name)
        mesh = _find_mesh(names, avals)
        if mesh is None:
            # jax.vmap too runs without a mesh that has the axis: nothing to split over
            return None
    else:
        mesh, names = _explicit_batch_entry(avals, in_axes)
        if mesh is None:
            return None
    types = dict(zip(mesh.axis_names, mesh.axis_types))
    if any(types[n] == AxisType.Manual for n in names):
        return None  # inside a shard_map over that axis: the batch here is already local
    shards = math.prod(dict(zip(mesh.axis_names, mesh.axis_sizes))[n] for n in names)
    if shards == 1 or axis_size % shards:
        # Uneven shards: one global program, which XLA pads and partitions itself.
        return None
    if balance and axis_size % (shards * shards):
        raise VmlirError(
            f"balance_shards deals {axis_size} examples round-robin to {shards} shards: the "
            f"batch must be a multiple of {shards * shards}"
        )
    return BatchSharding(mesh, names, shards)


def collective_shards(
    plan: BatchSharding, axis_name: str | None, balance: bool
) -> MeshShards | None:
    """What a per-shard program needs for its collectives over `axis_name` to reach the
    other shards (None: no axis_name, no collective). Each device's examples must be one
    contiguous block, in device order, of the whole batch."""
    if axis_name is None:
        return None
    if balance:
        raise VmlirUnsupportedError(
            f"axis_name={axis_name!r} with balance_shards: dealt round-robin, a shard's "
            "examples are no longer a block of the batch (axis_index and all_gather would "
            "see them out of order); drop one of the two"
        )
    if set(plan.names) != set(plan.mesh.axis_names):
        raise VmlirUnsupportedError(
            f"axis_name={axis_name!r} with the batch split over the mesh axes "
            f"{plan.names} of a mesh with axes {tuple(plan.mesh.axis_names)}: collectives "
            "across shards need the batch split over every mesh axis"
        )
    mesh = ",".join(f"{n}={s}" for n, s in zip(plan.mesh.axis_names, plan.mesh.axis_sizes))
    return MeshShards.parse(mesh, ",".join(plan.names))


def device_loads(per_example: Any, shards: int, balance: bool = False) -> Any:
    """Each device's work: the summed per-example costs (a loop's own iteration counts,
    in batch order) of the examples it runs, contiguous blocks or, with balance_shards,
    dealt round-robin (example e on device e % shards)."""
    import numpy as np

    costs = np.asarray(per_example)
    if balance:
        return costs.reshape(-1, shards).sum(0)
    return costs.reshape(shards, -1).sum(1)


def local_aval(aval: Any, axis: Axis, shards: int) -> jax.ShapeDtypeStruct:
    """The per-device part of a batched argument (`axis` None: the whole value)."""
    shape = tuple(aval.shape)
    if axis is not None:
        shape = shape[:axis] + (shape[axis] // shards,) + shape[axis + 1 :]
    return jax.ShapeDtypeStruct(shape, aval.dtype, weak_type=aval.weak_type)


def _to_spec(x: Any, aval: Any, spec: PartitionSpec, mesh: Any) -> Any:
    """An argument resharded to `spec` when the batch runs on an Explicit mesh and its type
    says otherwise (shard_map there requires in_specs to match the argument types). Its
    type may name no mesh at all: jax.jit's in_shardings leave the types inside unsharded."""
    s = _aval_sharding(aval)
    if s is not None:
        mesh = s.mesh
    if AxisType.Explicit not in mesh.axis_types:
        return x
    have = PartitionSpec() if s is None else s.spec
    if _padded(have, len(aval.shape)) == _padded(spec, len(aval.shape)):
        return x
    return jax.sharding.reshard(x, NamedSharding(mesh, spec))


def _deal(x: Any, axis: Axis, plan: BatchSharding) -> Any:
    """Inside the shard_map: this device's contiguous block of examples -> every k-th
    example (k = shards), i.e. example e goes to device e % k: device d's examples
    d*L + a*k + j (L local examples) are split by j and sent to device j, which orders
    what it receives by (d, a), so its position p holds example k*p + j."""
    if axis is None:
        return x
    k = plan.shards
    x = jax.numpy.moveaxis(x, axis, 0)
    local = x.shape[0]
    x = x.reshape((local // k, k) + x.shape[1:])
    x = jax.lax.all_to_all(x, plan.entry, split_axis=1, concat_axis=0)
    return jax.numpy.moveaxis(x.reshape((local,) + x.shape[2:]), 0, axis)


def _undeal(x: Any, axis: Axis, plan: BatchSharding) -> Any:
    """The inverse of `_deal`, for a result whose batch axis is `axis`."""
    if axis is None:
        return x
    k = plan.shards
    x = jax.numpy.moveaxis(x, axis, 0)
    local = x.shape[0]
    x = x.reshape((k, local // k) + x.shape[1:])
    x = jax.lax.all_to_all(x, plan.entry, split_axis=0, concat_axis=1)
    return jax.numpy.moveaxis(x.reshape((local,) + x.shape[2:]), 0, axis)


def shard_call(
    plan: BatchSharding,
    body: Any,
    leaves: Sequence[Any],
    avals: Sequence[Any],
    in_axes: Sequence[Axis],
    out_axes: Sequence[Axis],
    balance: bool = False,
) -> list[Any]:
    """`body(*local_leaves) -> local_outs` run once per shard of the batch axis.

    `balance`: deal the examples to the shards round-robin (example e to shard e % k)
    rather than in contiguous blocks, with one all-to-all per batched argument and
    result, outside the program: a batch sorted by cost (the slow examples together)
    then loads every device alike. Needs the local batch to split into k parts."""
    in_specs = tuple(plan.spec(ax) for ax in in_axes)
    out_specs = [plan.spec(ax) for ax in out_axes]
    args = [_to_spec(x, a, s, plan.mesh) for x, a, s in zip(leaves, avals, in_specs)]

    def local(*xs: Any) -> list[Any]:
        if not balance:
            return list(body(*xs))
        outs = body(*(_deal(x, ax, plan) for x, ax in zip(xs, in_axes)))
        return [_undeal(o, ax, plan) for o, ax in zip(outs, out_axes)]

    mapped = jax.shard_map(
        local,
        mesh=plan.mesh,
        in_specs=in_specs,
        out_specs=out_specs,
        axis_names=set(plan.names),
        # Unmapped outputs come from replicated inputs only; vmlir's primitive does not
        # track varying-ness through the program, so trust out_specs.
        check_vma=False,
    )
    return list(mapped(*args))
