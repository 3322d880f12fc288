"""Small shape helpers shared by the op definitions."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    I64,
    ComplexType,
    DenseArrayBase,
    TensorType,
    i64,
)
from xdsl.ir import (
    Attribute,
    SSAValue,
)

from vmlir.dialects.stablehlo.dimension_numbers import Dims

# ---------------------------------------------------------------------------
# Verification helpers
# ---------------------------------------------------------------------------


def _shape(value: SSAValue) -> Dims:
    assert isinstance(value.type, TensorType)
    return value.type.get_shape()


def _same_shape(a: Dims, b: Dims) -> bool:
    # -1 is a dynamic dimension, compatible with any size.
    return len(a) == len(b) and all(x == y or -1 in (x, y) for x, y in zip(a, b))


def _complex_part_type(element_type: Attribute) -> Attribute:
    if isinstance(element_type, ComplexType):
        return element_type.element_type
    return element_type


def _i64_array(values: Sequence[int]) -> DenseArrayBase[I64]:
    return _i64_array_of(tuple(values))


# Attributes are immutable and building one runs its verifier; ops ask for the same few
# dimension lists over and over on a long program.
@functools.lru_cache(maxsize=4096)
def _i64_array_of(values: tuple[int, ...]) -> DenseArrayBase[I64]:
    return DenseArrayBase.from_list(i64, values)
