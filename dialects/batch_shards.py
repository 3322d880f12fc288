"""The batch axis of a `batch.vmap` split over the axes of a device mesh.

A vmap that runs one shard of a bigger batch (one device's examples, under jax.shard_map)
says so with `shards "b" of "b=4,m=2"`: its axis is one of `count` equal blocks, held by
the devices along mesh axes `axes`. Collectives over its axis_name then reach the other
blocks: batch-vectorize follows its local reduction or gather by a StableHLO all_reduce /
all_gather over `groups()`, and offsets axis_index by the shard index.

Devices are named as jax names them inside a shard_map: by their flat (row-major) index
in the mesh, which is also their partition id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MeshShards:
    mesh: tuple[tuple[str, int], ...]
    """The whole device mesh: (axis name, size), in order."""
    axes: tuple[str, ...]
    """The mesh axes the batch axis is split over (the first one major)."""

    @staticmethod
    def parse(mesh: str, axes: str) -> MeshShards:
        """From `"b=4,m=2"` and `"b"` (or `"b,m"`); ValueError saying what is wrong."""
        pairs = []
        for part in mesh.split(","):
            name, _, size = part.strip().partition("=")
            if not name or not size.isdigit() or int(size) < 1:
                raise ValueError(f'mesh must read like "b=8" or "b=4,m=2", got "{mesh}"')
            pairs.append((name, int(size)))
        names = tuple(a.strip() for a in axes.split(","))
        known = [n for n, _ in pairs]
        if len(set(names)) != len(names) or any(n not in known for n in names):
            raise ValueError(f'shard axes "{axes}" must be distinct axes of the mesh "{mesh}"')
        return MeshShards(tuple(pairs), names)

    @property
    def mesh_text(self) -> str:
        return ",".join(f"{n}={s}" for n, s in self.mesh)

    @property
    def axes_text(self) -> str:
        return ",".join(self.axes)

    @property
    def count(self) -> int:
        """How many shards the batch axis is split into."""
        sizes = dict(self.mesh)
        return math.prod(sizes[n] for n in self.axes)

    def groups(self) -> list[list[int]]:
        """The devices that hold the shards of one batch, one group per position on the
        other mesh axes, each in shard order (jax's replica groups for these axes)."""
        names = [n for n, _ in self.mesh]
        ids = np.arange(math.prod(s for _, s in self.mesh)).reshape([s for _, s in self.mesh])
        moved = np.moveaxis(ids, [names.index(n) for n in self.axes], range(len(self.axes)))
        return moved.reshape(self.count, -1).T.tolist()

    def index_terms(self) -> list[tuple[int, int, int]]:
        """(stride, size, scale) per shard axis: this device's shard index is the sum of
        ((device // stride) % size) * scale."""
        sizes = dict(self.mesh)
        names = [n for n, _ in self.mesh]
        terms = []
        for i, n in enumerate(self.axes):
            stride = math.prod(s for _, s in self.mesh[names.index(n) + 1 :])
            scale = math.prod(sizes[m] for m in self.axes[i + 1 :])
            terms.append((stride, sizes[n], scale))
        return terms
