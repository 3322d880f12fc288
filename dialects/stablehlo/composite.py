"""`stablehlo.composite`: a named operation with a reference implementation.

JAX emits it for `lax.composite` (and functions built on it, e.g. `lax.scaled_dot`): the
name lets a backend substitute its own kernel, and `decomposition` names the private
function that computes the op otherwise (what XLA runs).
"""

from __future__ import annotations

from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, StringAttr, SymbolRefAttr
from xdsl.irdl import (
    IRDLOperation,
    opt_prop_def,
    prop_def,
    var_operand_def,
    var_result_def,
)

from vmlir.dialects.deferred import irdl_op_definition

__all__ = ["CompositeOp"]


@irdl_op_definition
class CompositeOp(IRDLOperation):
    """`name`(operands), computed by the function `decomposition` when not substituted."""

    name = "stablehlo.composite"

    inputs = var_operand_def()
    composite_name = prop_def(StringAttr, prop_name="name")
    composite_attributes = opt_prop_def(DictionaryAttr)
    decomposition = prop_def(SymbolRefAttr)
    version = opt_prop_def(IntegerAttr)
    outputs = var_result_def()
