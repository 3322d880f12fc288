"""StableHLO enum attributes, parsed and printed exactly as jaxlib does (the dimension-number
structs are in dimension_numbers.py)."""

from __future__ import annotations

from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    SpacedOpaqueSyntaxAttribute,
)
from xdsl.irdl import (
    irdl_attr_definition,
)
from xdsl.utils.str_enum import StrEnum

# ---------------------------------------------------------------------------
# Enum attributes: `#stablehlo<mnemonic VALUE>`
# ---------------------------------------------------------------------------


class Precision(StrEnum):
    DEFAULT = "DEFAULT"
    HIGH = "HIGH"
    HIGHEST = "HIGHEST"


class ComparisonDirection(StrEnum):
    EQ = "EQ"
    NE = "NE"
    GE = "GE"
    GT = "GT"
    LE = "LE"
    LT = "LT"


class ComparisonType(StrEnum):
    NOTYPE = "NOTYPE"
    FLOAT = "FLOAT"
    TOTALORDER = "TOTALORDER"
    SIGNED = "SIGNED"
    UNSIGNED = "UNSIGNED"


@irdl_attr_definition
class PrecisionAttr(EnumAttribute[Precision], SpacedOpaqueSyntaxAttribute):
    """Operand precision of a dot, e.g. `#stablehlo<precision DEFAULT>`."""

    name = "stablehlo.precision"


@irdl_attr_definition
class ComparisonDirectionAttr(
    EnumAttribute[ComparisonDirection], SpacedOpaqueSyntaxAttribute
):
    """Direction of a compare, e.g. `#stablehlo<comparison_direction LT>`."""

    name = "stablehlo.comparison_direction"


@irdl_attr_definition
class ComparisonTypeAttr(EnumAttribute[ComparisonType], SpacedOpaqueSyntaxAttribute):
    """Ordering used by a compare, e.g. `#stablehlo<comparison_type FLOAT>`."""

    name = "stablehlo.comparison_type"


# ---------------------------------------------------------------------------
# Enum attributes of the less common ops (fft, rng, triangular_solve)
# ---------------------------------------------------------------------------


class FftType(StrEnum):
    FFT = "FFT"
    IFFT = "IFFT"
    RFFT = "RFFT"
    IRFFT = "IRFFT"


class RngAlgorithm(StrEnum):
    DEFAULT = "DEFAULT"
    THREE_FRY = "THREE_FRY"
    PHILOX = "PHILOX"


class RngDistribution(StrEnum):
    UNIFORM = "UNIFORM"
    NORMAL = "NORMAL"


class Transpose(StrEnum):
    NO_TRANSPOSE = "NO_TRANSPOSE"
    TRANSPOSE = "TRANSPOSE"
    ADJOINT = "ADJOINT"


@irdl_attr_definition
class FftTypeAttr(EnumAttribute[FftType], SpacedOpaqueSyntaxAttribute):
    """Kind of `stablehlo.fft`, e.g. `#stablehlo<fft_type RFFT>`."""

    name = "stablehlo.fft_type"


@irdl_attr_definition
class RngAlgorithmAttr(EnumAttribute[RngAlgorithm], SpacedOpaqueSyntaxAttribute):
    """Generator of `stablehlo.rng_bit_generator` (JAX's "rbg" PRNG implementations)."""

    name = "stablehlo.rng_algorithm"


@irdl_attr_definition
class RngDistributionAttr(EnumAttribute[RngDistribution], SpacedOpaqueSyntaxAttribute):
    """Distribution of `stablehlo.rng` (jax.lax.rng_uniform)."""

    name = "stablehlo.rng_distribution"


@irdl_attr_definition
class TransposeAttr(EnumAttribute[Transpose], SpacedOpaqueSyntaxAttribute):
    """What `stablehlo.triangular_solve` does to `a`, e.g. `#stablehlo<transpose ADJOINT>`."""

    name = "stablehlo.transpose"
