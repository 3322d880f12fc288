"""Static (non-array) arguments of a compiled call: what jax.vmap hands to the function
unchanged when their in_axes is None (a Python int for `jnp.tile`). `Compiled` passes them
to jax.jit as one static argument, so each value gets its own program."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from vmlir.frontend.axes import FlatArgs

ARRAYS: set[type] = {np.ndarray}
"""Exact array types (no ABC check); jax's concrete array type joins on the first call."""
_learned: list[bool] = []


def _learn_array_type() -> None:
    # From a transfer, on the first call rather than at import: `jnp.zeros(())` compiles a
    # program (~0.2 s in a fresh process, on every first call, a disk-cache hit
    # included), and importing vmlir must not start a backend before the user configures
    # jax.
    with jax.ensure_compile_time_eval():
        ARRAYS.add(type(jax.device_put(np.zeros((), np.float32))))
    _learned.append(True)


def only_arrays(tree: Any) -> bool:
    """Whether a pytree of plain containers holds only arrays: much cheaper than
    tree_flatten (~0.3 us for a dict of two arrays, against ~1.5 us). False for other
    containers, which the full check then handles."""
    if not _learned:
        _learn_array_type()
    t = type(tree)
    if t in ARRAYS or tree is None:
        return True
    if t is dict:
        tree = tree.values()
    elif t is not tuple and t is not list:
        return False
    for x in tree:
        if not only_arrays(x):
            return False
    return True


@dataclass(frozen=True)
class StaticArgs:
    """The static leaves of a call, as jax.jit's static argument: equal when the argument
    tree and every static value (and its type: 1, 1.0 and True differ) are."""

    tree: Any
    static: tuple[tuple[int, Any], ...]

    def _key(self) -> tuple[Any, ...]:
        return self.tree, FlatArgs((), (), 0, (), self.static).static_key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StaticArgs) and self._key() == other._key()
