"""`vmlir.Ragged`: examples of different lengths stored padded, with their lengths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from vmlir.frontend.ragged import LENGTH_DTYPE


@dataclass(frozen=True)
class Ragged:
    """Examples of different lengths stored padded: example i is `values[i]` cut to
    `lengths[i]` along its (per-example) axis `axis`. The padding may hold anything."""

    values: Any
    lengths: Any
    axis: int = 0

    @staticmethod
    def from_list(arrays: Sequence[Any], axis: int = 0, padded_size: int | None = None) -> Ragged:
        """Zero-padded storage for `arrays`, which may differ only along `axis`."""
        arrays = [np.asarray(a) for a in arrays]
        if not arrays:
            raise ValueError("a ragged argument needs at least one example")
        lengths = np.array([a.shape[axis] for a in arrays], dtype=LENGTH_DTYPE)
        size = int(lengths.max()) if padded_size is None else padded_size
        rest = [a.shape[:axis] + a.shape[axis + 1 :] for a in arrays]
        if any(r != rest[0] for r in rest) or len({a.dtype for a in arrays}) != 1:
            raise ValueError(
                f"the examples of a ragged argument may differ only along axis {axis}: got "
                f"shapes {sorted({a.shape for a in arrays})} and dtypes "
                f"{sorted({str(a.dtype) for a in arrays})}"
            )
        shape = list(arrays[0].shape)
        shape[axis] = size
        values = np.zeros((len(arrays), *shape), arrays[0].dtype)
        for i, a in enumerate(arrays):
            index = [i] + [slice(None)] * a.ndim
            index[axis + 1] = slice(0, a.shape[axis])
            values[tuple(index)] = a
        return Ragged(values, lengths, axis)

    def to_list(self) -> list[Any]:
        values = np.asarray(self.values)
        out = []
        for i, n in enumerate(np.asarray(self.lengths)):
            index = [slice(None)] * (values.ndim - 1)
            index[self.axis] = slice(0, int(n))
            out.append(jnp.asarray(values[i][tuple(index)]))
        return out
