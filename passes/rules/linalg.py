"""Batching rules for the linear-algebra custom calls (LAPACK on CPU, cuSOLVER / cuBLAS /
cuSPARSE / hipSOLVER / ... on GPU).

JAX lowers `jnp.linalg` and `jax.scipy.linalg` to `stablehlo.custom_call`s of typed-FFI
kernels that already accept leading batch dimensions: a kernel factors every matrix of a
`(*batch, m, n)` operand. So one rule serves them all: put the batch axis of every operand
first (giving uniform operands one), prepend it to every result (factors, pivots, and the
per-matrix `info` status, which becomes a vector), shift the minor-to-major layouts by one
with the new dimension most major, and count it in `num_batch_dims`. This is exactly what
JAX itself emits for `jax.vmap` of the same function.

What a target computes is looked up by name in `KERNELS` (target name -> semantics), so a
backend's spelling (`lapack_spotrf_ffi`, `cusolver_potrf_ffi`, `hipsolver_potrf_ffi`)
does not matter. A kernel that cannot take a batch dimension is batched by the loop
fallback (`passes/rules/loop.py`), which warns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    IndexType,
    StringAttr,
    TensorType,
)
from xdsl.ir import Attribute, Operation, SSAValue

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import insert_axis
from vmlir.passes.rules.context import Axis, Rule, RuleContext, RuleResult, tensor_type
from vmlir.passes.rules.loop import VmlirLoopFallbackWarning, loop_rule

__all__ = ["KERNELS", "Kernel", "VmlirLoopFallbackWarning", "kernel_family", "linalg_call_rule"]


@dataclass(frozen=True)
class Kernel:
    """What a linear-algebra target computes, and how it takes a batch."""

    computes: str
    leading_batch: bool = True
    """The kernel treats every dimension before its matrix dimensions as a batch."""


KERNELS: dict[str, Kernel] = {
    "potrf": Kernel("Cholesky factorization"),
    "getrf": Kernel("LU factorization with partial pivoting"),
    "geqrf": Kernel("Householder QR factorization"),
    "geqp3": Kernel("QR factorization with column pivoting"),
    "orgqr": Kernel("Q from Householder reflectors"),
    "ungqr": Kernel("Q from Householder reflectors (complex)"),
    "ormqr": Kernel("multiplication by Q from Householder reflectors"),
    "unmqr": Kernel("multiplication by Q from Householder reflectors (complex)"),
    "syevd": Kernel("symmetric eigendecomposition"),
    "heevd": Kernel("Hermitian eigendecomposition"),
    "gesdd": Kernel("singular value decomposition (divide and conquer)"),
    "gesvd": Kernel("singular value decomposition"),
    "gesvdj": Kernel("singular value decomposition (Jacobi)"),
    "gesvdp": Kernel("singular value decomposition (polar)"),
    "geev": Kernel("general eigendecomposition"),
    "eig_real": Kernel("general eigendecomposition (real, hybrid)"),
    "eig_comp": Kernel("general eigendecomposition (complex, hybrid)"),
    "gees": Kernel("Schur decomposition"),
    "gehrd": Kernel("Hessenberg reduction"),
    "sytrd": Kernel("tridiagonal reduction (symmetric)"),
    "hetrd": Kernel("tridiagonal reduction (Hermitian)"),
    "trsm": Kernel("triangular solve"),
    "syrk": Kernel("symmetric rank-k update"),
    "gtsv": Kernel("tridiagonal solve"),
    "gtsv2": Kernel("tridiagonal solve"),
    "tridiagonal_solve_perturbed": Kernel("tridiagonal solve (perturbed pivots)"),
    "lu_pivots_to_permutation": Kernel("LU pivots to a permutation"),
    "cholesky_update": Kernel("rank-1 Cholesky update", leading_batch=False),
}
"""Semantics of each kernel family, keyed by the family part of the target name."""

_TARGET = re.compile(
    r"lapack_[sdcz](?P<lapack>[a-z0-9]+)_ffi"
    r"|(?:cu|hip)(?:solver|blas|sparse|hybrid)?_?(?P<gpu>[a-z0-9_]+?)(?:_ffi)?"
    r"|(?P<cpu>tridiagonal_solve_perturbed)_ffi"
)


def kernel_family(target: str) -> str | None:
    """The `KERNELS` key of a custom_call target, or None if it is not linear algebra."""
    m = _TARGET.fullmatch(target)
    if m is None:
        return None
    family = m.group("lapack") or m.group("gpu") or m.group("cpu")
    return family if family in KERNELS else None


def _batched_layout(layout: Attribute) -> Attribute:
    """A minor-to-major layout with a new most-major dimension 0 in front of the others."""
    assert isinstance(layout, DenseIntOrFPElementsAttr)
    dims = [int(d) + 1 for d in layout.get_values()] + [0]
    return DenseIntOrFPElementsAttr.from_list(TensorType(IndexType(), [len(dims)]), dims)


def _batched_layouts(layouts: Attribute | None) -> Attribute | None:
    if layouts is None:
        return None
    assert isinstance(layouts, ArrayAttr)
    return ArrayAttr([_batched_layout(layout) for layout in layouts.data])


def _frontend_attributes(attrs: Attribute) -> Attribute:
    """`num_batch_dims` counts one more batch dimension."""
    assert isinstance(attrs, DictionaryAttr)
    entries = dict(attrs.data)
    count = entries.get("num_batch_dims")
    if isinstance(count, StringAttr):
        entries["num_batch_dims"] = StringAttr(str(int(count.data) + 1))
    return DictionaryAttr(entries)


_DROPPED = ("sdy.sharding_rule",)
"""Per-example sharding rules: their factor lists would miss the batch dimension, and
the kernels run on one device here (XLA does not need them)."""


def leading_batch_call(
    ctx: RuleContext, op: Operation, operands: Sequence[SSAValue], axes: Sequence[Axis]
) -> RuleResult:
    """`op` on operands batched at axis 0 (uniform ones broadcast), results batched at 0."""
    batched = [ctx.to_axis(v, a, 0) for v, a in zip(operands, axes)]
    props = dict(op.properties)
    for key in ("operand_layouts", "result_layouts"):
        new_layouts = _batched_layouts(props.get(key))
        if new_layouts is not None:
            props[key] = new_layouts
    attrs = {
        k: v for k, v in op.attributes.items() if not k.startswith("batch.") and k not in _DROPPED
    }
    if "mhlo.frontend_attributes" in attrs:
        attrs["mhlo.frontend_attributes"] = _frontend_attributes(attrs["mhlo.frontend_attributes"])
    new = ctx.emit(
        op.create(
            operands=batched,
            result_types=[insert_axis(tensor_type(r), 0, ctx.axis_size) for r in op.results],
            properties=props,
            attributes=attrs,
            location=op.location,
        )
    )
    return list(new.results), [0] * len(new.results)


def linalg_call_rule(
    ctx: RuleContext, op: Operation, operands: Sequence[SSAValue], axes: Sequence[Axis], family: str
) -> RuleResult:
    kernel = KERNELS[family]
    if kernel.leading_batch:
        return leading_batch_call(ctx, op, operands, axes)
    target = op.properties["call_target_name"].data  # type: ignore[union-attr]
    return loop_rule(
        ctx,
        op,
        operands,
        axes,
        f"the kernel @{target} ({kernel.computes}) takes no batch dimension",
    )


def triangular_solve_rule(
    ctx: RuleContext, op: Operation, operands: Sequence[SSAValue], axes: Sequence[Axis]
) -> RuleResult:
    """`stablehlo.triangular_solve` (GPU and TPU lower solve_triangular to it) treats the
    leading dimensions of both operands as a batch: the batch axis goes first in both."""
    a, b = (ctx.to_axis(v, ax, 0) for v, ax in zip(operands, axes))
    out = insert_axis(tensor_type(op.results[0]), 0, ctx.axis_size)
    return ctx.rebuild(op, [a, b], [out]).results, [0]


RULES: dict[type[Operation], Rule] = {hlo.TriangularSolveOp: triangular_solve_rule}
