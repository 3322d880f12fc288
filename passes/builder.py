"""The StableHLO builder the passes use, kept under its old name: it lives in
`vmlir.dialects.builder` so that the frontend can use it without importing the passes."""

from vmlir.dialects.builder import (  # noqa: F401 - re-exported
    Builder,
    comparison_type,
    i64_array,
    scalar_body,
    scalar_literal,
)
