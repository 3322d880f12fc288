"""
The `stablehlo` dialect: the subset of StableHLO that JAX emits.

StableHLO is the portable tensor-level IR that `jax.jit(f).lower(...)` produces
and that XLA compiles. vmlir imports JAX's output in MLIR's *generic* textual
form, rewrites it with xDSL passes, prints it back in generic form and hands
the text to jaxlib's own MLIR parser. Every op and attribute here therefore
parses and prints exactly the syntax jaxlib prints: the generic form, and, for
people, upstream's pretty form (`formats.py`, `region_formats.py`), byte for byte
where upstream defines one. Ops without one print generic.

We define the dialect ourselves because xDSL 0.74 no longer ships one, and the
external `xdsl-jax` package pins xDSL 0.73 and misprints two things we rely on:
the block arguments of `stablehlo.while` regions and the property name of
`stablehlo.compare`.

Variadic operand lists follow MLIR's `SameVariadicOperandSize` model (no
`operandSegmentSizes` is printed): `reduce` and `reduce_window` take the inputs
followed by as many init values, `scatter` takes the inputs, one index tensor,
then as many updates.
"""

from xdsl.ir import Dialect

from vmlir.dialects.stablehlo.attributes import *  # noqa: F403
from vmlir.dialects.stablehlo.collective_ops import *  # noqa: F403
from vmlir.dialects.stablehlo.composite import *  # noqa: F403
from vmlir.dialects.stablehlo.dimension_numbers import *  # noqa: F403
from vmlir.dialects.stablehlo.elementwise import *  # noqa: F403
from vmlir.dialects.stablehlo.region_ops import *  # noqa: F403
from vmlir.dialects.stablehlo.shape_ops import *  # noqa: F403

StableHLO = Dialect(
    "stablehlo",
    [
        # unary elementwise
        AbsOp,
        NegateOp,
        ExponentialOp,
        ExponentialMinusOneOp,
        LogOp,
        LogPlusOneOp,
        LogisticOp,
        SqrtOp,
        RsqrtOp,
        CbrtOp,
        TanhOp,
        SineOp,
        CosineOp,
        TanOp,
        FloorOp,
        CeilOp,
        RoundNearestEvenOp,
        RoundNearestAfzOp,
        SignOp,
        NotOp,
        IsFiniteOp,
        PopcntOp,
        CountLeadingZerosOp,
        RealOp,
        ImagOp,
        ConvertOp,
        ReducePrecisionOp,
        # binary elementwise
        AddOp,
        SubtractOp,
        MultiplyOp,
        DivideOp,
        RemainderOp,
        PowerOp,
        MaximumOp,
        MinimumOp,
        AndOp,
        OrOp,
        XorOp,
        Atan2Op,
        ShiftLeftOp,
        ShiftRightArithmeticOp,
        ShiftRightLogicalOp,
        ComplexOp,
        # other elementwise
        CompareOp,
        SelectOp,
        ClampOp,
        # shape and data movement
        BitcastConvertOp,
        ConstantOp,
        IotaOp,
        BroadcastInDimOp,
        ReshapeOp,
        TransposeOp,
        ReverseOp,
        SliceOp,
        DynamicSliceOp,
        DynamicUpdateSliceOp,
        ConcatenateOp,
        PadOp,
        DotGeneralOp,
        GatherOp,
        ConvolutionOp,
        FftOp,
        TriangularSolveOp,
        RngOp,
        RngBitGeneratorOp,
        # regions
        ReturnOp,
        ReduceOp,
        ReduceWindowOp,
        ScatterOp,
        SortOp,
        SelectAndScatterOp,
        CaseOp,
        IfOp,
        WhileOp,
        OptimizationBarrierOp,
        CustomCallOp,
        CompositeOp,
        # cross-device collectives
        AllReduceOp,
        AllGatherOp,
        PartitionIdOp,
    ],
    [
        PrecisionAttr,
        ComparisonDirectionAttr,
        ComparisonTypeAttr,
        DotDimensionNumbersAttr,
        GatherDimensionNumbersAttr,
        ScatterDimensionNumbersAttr,
        DotAlgorithmAttr,
        FftTypeAttr,
        RngAlgorithmAttr,
        RngDistributionAttr,
        TransposeAttr,
        ConvDimensionNumbersAttr,
        ChannelHandleAttr,
    ],
)
