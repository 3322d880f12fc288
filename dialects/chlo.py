"""
The `chlo` dialect: the "client HLO" ops JAX emits next to StableHLO.

JAX 0.10.2 lowers a number of jax.numpy / jax.lax / jax.scipy.special functions to
`chlo.*` ops instead of expanding them (XLA expands them itself when it compiles):
erf, erfc, erf_inv, lgamma, digamma, sinh, cosh, asin, acos, atan, asinh, acosh,
atanh, square, conj, bessel_i1e (unary); next_after, polygamma, zeta, mulhi
(binary); top_k. Only these are defined here: the chlo ops JAX never emits
(`chlo.broadcast_*`, `constant_like`, `is_inf`, `tan`, `scan`, ...) would be
definitions nothing exercises. `chlo.ragged_dot` is emitted only on TPU behind a
flag and `chlo.scan` is disabled in JAX 0.10.2 (`_is_supported_cumred` is False).

Why the elementwise ops subclass StableHLO's `UnaryElementwiseOp` /
`BinaryElementwiseOp`: the batching rule table matches every `ElementwiseOp`
subclass to the one elementwise rule, so these ops batch (keeping the batch axis
where it is) with no rule of their own. This is sound because JAX always emits the
binary ones on operands of one shape (it broadcasts explicitly first, and never
sets their `broadcast_dimensions`), which the inherited verifier checks.

Everything prints in the generic form that jaxlib parses, with no chlo attributes:
none of the emitted ops carries one (only `top_k`'s plain `k = 2 : i64`).
"""

from __future__ import annotations

from xdsl.dialects.builtin import I64, IntegerAttr, IntegerType, TensorType, i64
from xdsl.ir import Dialect, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from vmlir.dialects.deferred import irdl_op_definition
from vmlir.dialects.stablehlo import BinaryElementwiseOp, UnaryElementwiseOp


@irdl_op_definition
class ErfOp(UnaryElementwiseOp):
    """Error function (jax.lax.erf, jax.scipy.special.erf, ndtr)."""

    name = "chlo.erf"


@irdl_op_definition
class ErfcOp(UnaryElementwiseOp):
    """Complementary error function 1 - erf(x) (erfc, exact gelu, ndtr)."""

    name = "chlo.erfc"


@irdl_op_definition
class ErfInvOp(UnaryElementwiseOp):
    """Inverse error function (erfinv; also jax.random.normal's sampler)."""

    name = "chlo.erf_inv"


@irdl_op_definition
class LgammaOp(UnaryElementwiseOp):
    """log|Gamma(x)| (gammaln, and inside gamma, betaln, gammainc, ...)."""

    name = "chlo.lgamma"


@irdl_op_definition
class DigammaOp(UnaryElementwiseOp):
    """Derivative of lgamma (digamma; also the gradient of gammaln)."""

    name = "chlo.digamma"


@irdl_op_definition
class SinhOp(UnaryElementwiseOp):
    """Hyperbolic sine."""

    name = "chlo.sinh"


@irdl_op_definition
class CoshOp(UnaryElementwiseOp):
    """Hyperbolic cosine."""

    name = "chlo.cosh"


@irdl_op_definition
class AsinOp(UnaryElementwiseOp):
    """Arcsine (real or complex)."""

    name = "chlo.asin"


@irdl_op_definition
class AcosOp(UnaryElementwiseOp):
    """Arccosine (real or complex)."""

    name = "chlo.acos"


@irdl_op_definition
class AtanOp(UnaryElementwiseOp):
    """Arctangent (real or complex)."""

    name = "chlo.atan"


@irdl_op_definition
class AsinhOp(UnaryElementwiseOp):
    """Inverse hyperbolic sine (real or complex)."""

    name = "chlo.asinh"


@irdl_op_definition
class AcoshOp(UnaryElementwiseOp):
    """Inverse hyperbolic cosine (real or complex)."""

    name = "chlo.acosh"


@irdl_op_definition
class AtanhOp(UnaryElementwiseOp):
    """Inverse hyperbolic tangent (real or complex)."""

    name = "chlo.atanh"


@irdl_op_definition
class SquareOp(UnaryElementwiseOp):
    """x * x (jnp.square on floats, hypot, ndtri, and many gradients)."""

    name = "chlo.square"


@irdl_op_definition
class ConjOp(UnaryElementwiseOp):
    """Complex conjugate (emitted by triangular_solve lowerings with conjugate_a)."""

    name = "chlo.conj"


@irdl_op_definition
class BesselI1eOp(UnaryElementwiseOp):
    """Exponentially scaled modified Bessel function of order 1 (i1e, i1)."""

    name = "chlo.bessel_i1e"


@irdl_op_definition
class NextAfterOp(BinaryElementwiseOp):
    """The next representable value after lhs in the direction of rhs."""

    name = "chlo.next_after"


@irdl_op_definition
class PolygammaOp(BinaryElementwiseOp):
    """polygamma(n = lhs, x = rhs); JAX broadcasts a scalar n to x's shape first."""

    name = "chlo.polygamma"


@irdl_op_definition
class ZetaOp(BinaryElementwiseOp):
    """Hurwitz zeta(x = lhs, q = rhs)."""

    name = "chlo.zeta"


@irdl_op_definition
class MulhiOp(BinaryElementwiseOp):
    """High half of the double-width integer product (lax.mulhi, Philox PRNGs)."""

    name = "chlo.mulhi"


@irdl_op_definition
class TopKOp(IRDLOperation):
    """The k largest elements of the LAST dimension, and their int32 indices.

    Not elementwise: the last dimension is reduced to k, so the batching rule must keep
    the batch axis off it. Ties keep the lower index first (what jax.lax.top_k
    promises); JAX moves any other `axis=` to the last dimension with transposes.
    """

    name = "chlo.top_k"

    operand = operand_def(TensorType)
    k = prop_def(IntegerAttr[I64])
    values = result_def(TensorType)
    indices = result_def(TensorType)
    traits = traits_def(Pure())

    def __init__(self, operand: SSAValue, k: int):
        assert isinstance(operand.type, TensorType)
        shape = (*operand.type.get_shape()[:-1], k)
        super().__init__(
            operands=[operand],
            result_types=[
                TensorType(operand.type.element_type, shape),
                TensorType(IntegerType(32), shape),
            ],
            properties={"k": IntegerAttr(k, i64)},
        )

    def verify_(self) -> None:
        assert isinstance(self.operand.type, TensorType)
        shape = self.operand.type.get_shape()
        k = self.k.value.data
        if not shape:
            raise VerifyException(f"{self.name}: operand must have rank >= 1")
        if k < 0 or (shape[-1] != -1 and k > shape[-1]):
            raise VerifyException(
                f"{self.name}: k = {k} is out of range for a last dimension of "
                f"size {shape[-1]}"
            )
        want = (*shape[:-1], k)
        for result in (self.values, self.indices):
            assert isinstance(result.type, TensorType)
            if tuple(result.type.get_shape()) != want:
                raise VerifyException(
                    f"{self.name}: result shape {list(result.type.get_shape())} "
                    f"is not {list(want)}"
                )
        assert isinstance(self.values.type, TensorType)
        assert isinstance(self.indices.type, TensorType)
        if self.values.type.element_type != self.operand.type.element_type:
            raise VerifyException(
                f"{self.name}: values must have the operand's element type"
            )
        if self.indices.type.element_type != IntegerType(32):
            raise VerifyException(f"{self.name}: indices must be i32")


CHLO = Dialect(
    "chlo",
    [
        # unary elementwise
        ErfOp,
        ErfcOp,
        ErfInvOp,
        LgammaOp,
        DigammaOp,
        SinhOp,
        CoshOp,
        AsinOp,
        AcosOp,
        AtanOp,
        AsinhOp,
        AcoshOp,
        AtanhOp,
        SquareOp,
        ConjOp,
        BesselI1eOp,
        # binary elementwise
        NextAfterOp,
        PolygammaOp,
        ZetaOp,
        MulhiOp,
        # other
        TopKOp,
    ],
    [],
)
