"""Elementwise StableHLO ops: one result element per operand element."""

from __future__ import annotations

from abc import ABC
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    I32,
    IntegerAttr,
    IntegerType,
    TensorType,
)
from xdsl.ir import (
    Attribute,
    SSAValue,
)
from xdsl.irdl import (
    IRDLOperation,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import (
    Pure,
)
from xdsl.utils.exceptions import VerifyException

from vmlir.dialects.deferred import irdl_op_definition
from vmlir.dialects.stablehlo import formats
from vmlir.dialects.stablehlo._shapes import _complex_part_type, _same_shape, _shape
from vmlir.dialects.stablehlo.attributes import (
    ComparisonDirection,
    ComparisonDirectionAttr,
    ComparisonType,
    ComparisonTypeAttr,
)

# ---------------------------------------------------------------------------
# Elementwise ops
# ---------------------------------------------------------------------------


class ElementwiseOp(formats.ElementwiseFormat, IRDLOperation, ABC):
    """Base of every op applied independently to each tensor element."""

    traits = traits_def(Pure())

    def shape_checked_operands(self) -> Sequence[SSAValue]:
        """The operands whose shape must equal the result shape."""
        return self.operands

    def verify_(self) -> None:
        result = self.results[0]
        result_shape = _shape(result)
        for operand in self.shape_checked_operands():
            # The passes share type objects: the same object has the same shape.
            if operand.type is result.type:
                continue
            if not _same_shape(_shape(operand), result_shape):
                raise VerifyException(
                    f"{self.name}: operand shape {list(_shape(operand))} does "
                    f"not match result shape {list(result_shape)}"
                )


class UnaryElementwiseOp(ElementwiseOp, ABC):
    """Base of elementwise ops with one operand."""

    operand = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, operand: SSAValue, result_type: Attribute | None = None):
        if result_type is None:
            assert isinstance(operand.type, TensorType)
            result_type = TensorType(
                self.result_element_type(operand.type.element_type),
                operand.type.get_shape(),
            )
        super().__init__(operands=[operand], result_types=[result_type])

    @classmethod
    def result_element_type(cls, operand_element_type: Attribute) -> Attribute:
        """The result element type the builder infers when none is given."""
        return operand_element_type


class BinaryElementwiseOp(ElementwiseOp, ABC):
    """Base of elementwise ops with two operands of the result's type."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(
        self, lhs: SSAValue, rhs: SSAValue, result_type: Attribute | None = None
    ):
        super().__init__(
            operands=[lhs, rhs],
            result_types=[lhs.type if result_type is None else result_type],
        )


@irdl_op_definition
class AbsOp(UnaryElementwiseOp):
    """Absolute value (modulus for complex operands)."""

    name = "stablehlo.abs"


@irdl_op_definition
class NegateOp(UnaryElementwiseOp):
    """Negation."""

    name = "stablehlo.negate"


@irdl_op_definition
class ExponentialOp(UnaryElementwiseOp):
    """Natural exponential e**x."""

    name = "stablehlo.exponential"


@irdl_op_definition
class ExponentialMinusOneOp(UnaryElementwiseOp):
    """e**x - 1, accurate near zero."""

    name = "stablehlo.exponential_minus_one"


@irdl_op_definition
class LogOp(UnaryElementwiseOp):
    """Natural logarithm."""

    name = "stablehlo.log"


@irdl_op_definition
class LogPlusOneOp(UnaryElementwiseOp):
    """log(1 + x), accurate near zero."""

    name = "stablehlo.log_plus_one"


@irdl_op_definition
class LogisticOp(UnaryElementwiseOp):
    """Logistic sigmoid 1 / (1 + e**-x)."""

    name = "stablehlo.logistic"


@irdl_op_definition
class SqrtOp(UnaryElementwiseOp):
    """Square root."""

    name = "stablehlo.sqrt"


@irdl_op_definition
class RsqrtOp(UnaryElementwiseOp):
    """Reciprocal square root."""

    name = "stablehlo.rsqrt"


@irdl_op_definition
class CbrtOp(UnaryElementwiseOp):
    """Cube root."""

    name = "stablehlo.cbrt"


@irdl_op_definition
class TanhOp(UnaryElementwiseOp):
    """Hyperbolic tangent."""

    name = "stablehlo.tanh"


@irdl_op_definition
class SineOp(UnaryElementwiseOp):
    """Sine."""

    name = "stablehlo.sine"


@irdl_op_definition
class CosineOp(UnaryElementwiseOp):
    """Cosine."""

    name = "stablehlo.cosine"


@irdl_op_definition
class TanOp(UnaryElementwiseOp):
    """Tangent."""

    name = "stablehlo.tan"


@irdl_op_definition
class FloorOp(UnaryElementwiseOp):
    """Round toward negative infinity."""

    name = "stablehlo.floor"


@irdl_op_definition
class CeilOp(UnaryElementwiseOp):
    """Round toward positive infinity."""

    name = "stablehlo.ceil"


@irdl_op_definition
class RoundNearestEvenOp(UnaryElementwiseOp):
    """Round to nearest, ties to even."""

    name = "stablehlo.round_nearest_even"


@irdl_op_definition
class RoundNearestAfzOp(UnaryElementwiseOp):
    """Round to nearest, ties away from zero."""

    name = "stablehlo.round_nearest_afz"


@irdl_op_definition
class SignOp(UnaryElementwiseOp):
    """Sign as -1, 0 or 1 (NaN stays NaN)."""

    name = "stablehlo.sign"


@irdl_op_definition
class NotOp(UnaryElementwiseOp):
    """Logical not for i1, bitwise not for integers."""

    name = "stablehlo.not"


@irdl_op_definition
class PopcntOp(UnaryElementwiseOp):
    """Number of set bits."""

    name = "stablehlo.popcnt"


@irdl_op_definition
class IsFiniteOp(formats.IsFiniteFormat, UnaryElementwiseOp):
    """True where the element is neither infinite nor NaN."""

    name = "stablehlo.is_finite"

    @classmethod
    def result_element_type(cls, operand_element_type: Attribute) -> Attribute:
        return IntegerType(1)

    def verify_(self) -> None:
        super().verify_()
        assert isinstance(self.result.type, TensorType)
        if self.result.type.element_type != IntegerType(1):
            raise VerifyException(f"{self.name}: result element type must be i1")


@irdl_op_definition
class CountLeadingZerosOp(UnaryElementwiseOp):
    """Number of leading zero bits."""

    name = "stablehlo.count_leading_zeros"


@irdl_op_definition
class RealOp(UnaryElementwiseOp):
    """Real part of a complex tensor (identity on floats)."""

    name = "stablehlo.real"

    @classmethod
    def result_element_type(cls, operand_element_type: Attribute) -> Attribute:
        return _complex_part_type(operand_element_type)


@irdl_op_definition
class ImagOp(UnaryElementwiseOp):
    """Imaginary part of a complex tensor (zero on floats)."""

    name = "stablehlo.imag"

    @classmethod
    def result_element_type(cls, operand_element_type: Attribute) -> Attribute:
        return _complex_part_type(operand_element_type)


@irdl_op_definition
class ConvertOp(UnaryElementwiseOp):
    """Element type conversion, same shape."""

    name = "stablehlo.convert"


@irdl_op_definition
class ReducePrecisionOp(formats.ReducePrecisionFormat, UnaryElementwiseOp):
    """Round to a narrower float format, keeping the type (jax.lax.reduce_precision)."""

    name = "stablehlo.reduce_precision"

    exponent_bits = prop_def(IntegerAttr[I32])
    mantissa_bits = prop_def(IntegerAttr[I32])


@irdl_op_definition
class AddOp(BinaryElementwiseOp):
    """Addition (logical or on i1)."""

    name = "stablehlo.add"


@irdl_op_definition
class SubtractOp(BinaryElementwiseOp):
    """Subtraction."""

    name = "stablehlo.subtract"


@irdl_op_definition
class MultiplyOp(BinaryElementwiseOp):
    """Multiplication (logical and on i1)."""

    name = "stablehlo.multiply"


@irdl_op_definition
class DivideOp(BinaryElementwiseOp):
    """Division, truncating toward zero for integers."""

    name = "stablehlo.divide"


@irdl_op_definition
class RemainderOp(BinaryElementwiseOp):
    """Remainder with the sign of the dividend."""

    name = "stablehlo.remainder"


@irdl_op_definition
class PowerOp(BinaryElementwiseOp):
    """lhs raised to the power rhs."""

    name = "stablehlo.power"


@irdl_op_definition
class MaximumOp(BinaryElementwiseOp):
    """Elementwise maximum, NaN-propagating."""

    name = "stablehlo.maximum"


@irdl_op_definition
class MinimumOp(BinaryElementwiseOp):
    """Elementwise minimum, NaN-propagating."""

    name = "stablehlo.minimum"


@irdl_op_definition
class AndOp(BinaryElementwiseOp):
    """Logical and for i1, bitwise and for integers."""

    name = "stablehlo.and"


@irdl_op_definition
class OrOp(BinaryElementwiseOp):
    """Logical or for i1, bitwise or for integers."""

    name = "stablehlo.or"


@irdl_op_definition
class XorOp(BinaryElementwiseOp):
    """Logical xor for i1, bitwise xor for integers."""

    name = "stablehlo.xor"


@irdl_op_definition
class Atan2Op(BinaryElementwiseOp):
    """Two-argument arctangent atan2(lhs, rhs)."""

    name = "stablehlo.atan2"


@irdl_op_definition
class ShiftLeftOp(BinaryElementwiseOp):
    """lhs shifted left by rhs bits."""

    name = "stablehlo.shift_left"


@irdl_op_definition
class ShiftRightArithmeticOp(BinaryElementwiseOp):
    """lhs shifted right by rhs bits, sign-filling."""

    name = "stablehlo.shift_right_arithmetic"


@irdl_op_definition
class ShiftRightLogicalOp(BinaryElementwiseOp):
    """lhs shifted right by rhs bits, zero-filling."""

    name = "stablehlo.shift_right_logical"


@irdl_op_definition
class ComplexOp(formats.ComplexFormat, BinaryElementwiseOp):
    """Complex tensor from real (lhs) and imaginary (rhs) parts."""

    name = "stablehlo.complex"


@irdl_op_definition
class CompareOp(formats.CompareFormat, ElementwiseOp):
    """Elementwise comparison producing an i1 tensor."""

    name = "stablehlo.compare"

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    comparison_direction = prop_def(ComparisonDirectionAttr)
    compare_type = opt_prop_def(ComparisonTypeAttr)

    def __init__(
        self,
        lhs: SSAValue,
        rhs: SSAValue,
        direction: ComparisonDirection,
        compare_type: ComparisonType | None = None,
        result_type: Attribute | None = None,
    ):
        if result_type is None:
            result_type = TensorType(IntegerType(1), _shape(lhs))
        super().__init__(
            operands=[lhs, rhs],
            result_types=[result_type],
            properties={
                "comparison_direction": ComparisonDirectionAttr(direction),
                "compare_type": None
                if compare_type is None
                else ComparisonTypeAttr(compare_type),
            },
        )

    def verify_(self) -> None:
        super().verify_()
        assert isinstance(self.result.type, TensorType)
        if self.result.type.element_type != IntegerType(1):
            raise VerifyException(f"{self.name}: result element type must be i1")


@irdl_op_definition
class SelectOp(formats.SelectFormat, ElementwiseOp):
    """Pick on_true where pred holds, else on_false; pred may be a scalar."""

    name = "stablehlo.select"

    pred = operand_def(TensorType)
    on_true = operand_def(TensorType)
    on_false = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, pred: SSAValue, on_true: SSAValue, on_false: SSAValue):
        super().__init__(
            operands=[pred, on_true, on_false], result_types=[on_true.type]
        )

    def shape_checked_operands(self) -> Sequence[SSAValue]:
        scalar_pred = len(_shape(self.pred)) == 0
        return self.operands[1:] if scalar_pred else self.operands


@irdl_op_definition
class ClampOp(ElementwiseOp):
    """Clamp operand into [min, max]; min and max may be scalars."""

    name = "stablehlo.clamp"

    min = operand_def(TensorType)
    operand = operand_def(TensorType)
    max = operand_def(TensorType)
    result = result_def(TensorType)

    def shape_checked_operands(self) -> Sequence[SSAValue]:
        return [v for v in self.operands if v is self.operand or _shape(v)]
