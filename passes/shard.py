"""batch-shard: split the batch axis over a device mesh, one local vmap per device.

Expects: the imported module (a `func.func` whose body holds `batch.vmap` ops, before
batch-vectorize); options `mesh` (the whole device mesh, `"b=8"` or `"b=4,m=2"`, in
order) and `axis` (the mesh axis, or `"b,m"` for several, that the batch axis is split
over). Every vmap at the top level of a function must have an axis_size divisible by the
number of shards.
Does: wraps each such vmap in a Shardy manual computation over `axis`, the form
jax.shard_map emits (`sdy.manual_computation` with `in_shardings` / `out_shardings`
naming the axis on each mapped dimension, `manual_axes`), and declares the mesh
(`sdy.mesh @mesh`). Inside, the same vmap runs over the LOCAL batch (axis_size / shards),
on the local parts of its mapped operands; unmapped operands are replicated.
A vmap with an axis_name keeps it, marked as one shard of the mesh (`shards "b" of
"b=8"`), so that its collectives still see the whole batch (batch-vectorize adds the
cross-device all_reduce / all_gather, docs/sharding.md).
Guarantees: the function's signature (global shapes) is unchanged; every later pass sees
only local vmaps, so what they build (lane compaction above all) stays on one device: XLA's
partitioner adds no collective for it. Sound because vmap's examples are independent.

`vmlir.compile` reaches the same partitioning at run time through jax.shard_map
(vmlir/runtime/sharding.py), which also tells jax.jit which devices to run on; this pass
puts it in the IR, for vmlir-opt and for reading (docs/sharding.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import (
    ModuleOp,
    StringAttr,
    TensorType,
    UnregisteredAttr,
    UnregisteredOp,
)
from xdsl.dialects.func import FuncOp
from xdsl.ir import Attribute, Block, Region
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from vmlir.dialects.batch import VmapOp
from vmlir.dialects.batch_shards import MeshShards
from vmlir.errors import VmlirError

MESH_NAME = "mesh"
"""The mesh's symbol: jax names the mesh of a jit-ed computation `@mesh` too."""


def _attr(name: str, value: str) -> Attribute:
    opaque = name == "sdy.manual_axes"  # printed `#sdy<manual_axes{...}>`
    return UnregisteredAttr.with_name_and_type(name, False)(name, False, opaque, value)


def _parse_mesh(spec: str) -> list[tuple[str, int]]:
    axes: list[tuple[str, int]] = []
    for part in spec.split(","):
        name, _, size = part.strip().partition("=")
        if not name or not size.isdigit() or int(size) < 1:
            raise VmlirError(
                f"batch-shard: mesh must read like \"b=8\" or \"b=4,m=2\", got {spec!r}"
            )
        axes.append((name, int(size)))
    return axes


def _dims(rank: int, axis: int | None, names: list[str]) -> str:
    """A sdy tensor sharding: the batch axes on dimension `axis`, the rest replicated."""
    shard = ", ".join(f'"{n}"' for n in names)
    dims = ["{" + (shard if d == axis else "") + "}" for d in range(rank)]
    return f"<@{MESH_NAME}, [{', '.join(dims)}]>"


@dataclass(frozen=True)
class BatchShardPass(ModulePass):
    """Run each device's share of the batch as its own vmap (see module doc)."""

    name = "batch-shard"

    mesh: str = ""
    """The device mesh: axis=size pairs, in order, e.g. "b=4,m=2"."""
    axis: str = ""
    """The mesh axis (or comma-separated axes) the batch axis is split over."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        mesh = _parse_mesh(self.mesh)
        sizes = dict(mesh)
        names = [n.strip() for n in self.axis.split(",") if n.strip()]
        missing = [n for n in names if n not in sizes]
        if not names or missing:
            raise VmlirError(
                f"batch-shard: axis must name axes of the mesh {self.mesh!r}, got {self.axis!r}"
            )
        shards = 1
        for n in names:
            shards *= sizes[n]
        vmaps = [
            inner
            for func in op.ops
            if isinstance(func, FuncOp)
            for inner in func.body.block.ops
            if isinstance(inner, VmapOp)
        ]
        split = MeshShards(tuple(mesh), tuple(names))
        for vmap in vmaps:
            self._wrap(vmap, names, shards, split)
        if vmaps and not any(o.name == "sdy.mesh" for o in op.ops):
            axes = ", ".join(f'"{n}"={s}' for n, s in mesh)
            decl = UnregisteredOp.with_name("sdy.mesh").create(
                properties={
                    "mesh": _attr("sdy.mesh", f"[{axes}]"),
                    "sym_name": StringAttr(MESH_NAME),
                }
            )
            Rewriter.insert_op(decl, InsertPoint.at_start(op.body.block))

    def _wrap(self, vmap: VmapOp, names: list[str], shards: int, split: MeshShards) -> None:
        size = vmap.axis_size.value.data
        if size % shards:
            raise VmlirError(
                f"batch-shard: a batch of {size} does not split into {shards} equal shards"
            )
        local = size // shards

        def local_type(t: Attribute, axis: int | None) -> Attribute:
            assert isinstance(t, TensorType)
            if axis is None:
                return t
            shape = list(t.get_shape())
            shape[axis] = local
            return TensorType(t.element_type, shape)

        in_axes, out_axes = vmap.in_axes_list, vmap.out_axes_list
        arg_types = [local_type(a.type, ax) for a, ax in zip(vmap.operands, in_axes)]
        res_types = [local_type(r.type, ax) for r, ax in zip(vmap.results, out_axes)]
        block = Block(arg_types=arg_types)
        chunk = vmap.chunk_size
        inner = VmapOp(
            list(block.args),
            in_axes,
            out_axes,
            local,
            Rewriter.move_region_contents_to_new_regions(vmap.body),
            res_types,
            None if chunk is None else chunk.value.data,
            vmap.name_of_axis,
            # Collectives over the vmap's name still see the whole batch: every shard's.
            None if vmap.name_of_axis is None else split,
        )
        ret = UnregisteredOp.with_name("sdy.return").create(operands=list(inner.results))
        block.add_ops([inner, ret])

        def per_value(values: list[tuple[Attribute, int | None]]) -> Attribute:
            ranks = [len(t.get_shape()) for t, _ in values]  # type: ignore[attr-defined]
            dims = [_dims(r, ax, names) for r, (_, ax) in zip(ranks, values)]
            return _attr("sdy.sharding_per_value", f"[{', '.join(dims)}]")

        operands = list(vmap.operands)
        manual_axes = "{" + ", ".join(f'"{n}"' for n in names) + "}"
        manual = UnregisteredOp.with_name("sdy.manual_computation").create(
            operands=operands,
            result_types=[r.type for r in vmap.results],
            properties={
                "in_shardings": per_value([(a.type, ax) for a, ax in zip(operands, in_axes)]),
                "out_shardings": per_value([(r.type, ax) for r, ax in zip(vmap.results, out_axes)]),
                "manual_axes": _attr("sdy.manual_axes", manual_axes),
            },
            regions=[Region(block)],
        )
        Rewriter.replace_op(vmap, manual)

