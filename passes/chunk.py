"""batch-chunk: run a `batch.vmap` that has a `chunk_size` k examples at a time.

The seed's answer to vmap's memory blow-up: a vectorized body holds the intermediates
of every example at once; run over chunks of k examples, it holds those of k.

Expects: `batch.vmap` ops (possibly nested), some with the `chunk_size` property
(`vmlir.vmap(..., chunk_size=k)`, or the outer one set by `vmlir.compile(...,
memory_limit_bytes=m)`). Runs before batch-vectorize; batch-propagate-axes and
batch-mask-control-flow may have run (the copies of a body keep their annotations and
masks, which hold for any number of examples: a `batch.any` then asks about the chunk).
Does, innermost vmap first, for a vmap with B = axis_size and k = chunk_size < B:
- one buffer per result, zeros of the result type (`stablehlo.constant` +
  `stablehlo.broadcast_in_dim`);
- a `stablehlo.while` over the B // k full chunks, carrying the chunk counter (a
  `tensor<i32>`) and the buffers. Its body `dynamic_slice`s every mapped operand along
  its in axis (k examples from i*k), runs a `batch.vmap` of axis_size k (a copy of the
  body, no chunk_size) on the slices, and writes each result into its buffer with
  `dynamic_update_slice` at its out axis. A result with out_axes none is the same for
  every example, so its buffer simply takes the chunk's value. Operands with in_axes none
  are read from outside the loop as they are;
- if B % k != 0, the remaining examples: `stablehlo.slice`s of the mapped operands, one
  more `batch.vmap` of axis_size B % k, written at offset (B // k) * k.
A vmap with k >= B only loses the property.
Guarantees: no `chunk_size` property remains; each example is computed by exactly one
chunk, so the results are the unchunked vmap's. The new `batch.vmap` ops are left for
batch-vectorize, which treats them like any other: the loop predicate and counter are
uniform, so the while stays a loop whose body is vectorized over k examples. The ops
this pass creates outside the copied bodies carry no `batch.varying` annotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import (
    ComplexType,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntegerType,
    ModuleOp,
    TensorType,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from vmlir.dialects import stablehlo as hlo
from vmlir.dialects.batch import VmapOp, insert_axis
from vmlir.dialects.batch_collectives import COLLECTIVE_OPS
from vmlir.errors import VmlirUnsupportedError
from vmlir.passes.rules.context import where

_INDEX = TensorType(i32, [])
"""The loop counter and start indices: i32, as JAX's own loops use."""


def _tensor(v: SSAValue | Attribute) -> TensorType:
    t = v.type if isinstance(v, SSAValue) else v
    assert isinstance(t, TensorType)
    return t


def _i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, list(values))


class _Emitter:
    """Appends new ops at one insertion point and returns their first result."""

    def __init__(self, rewriter: PatternRewriter, ip: InsertPoint):
        self.rewriter, self.ip = rewriter, ip
        self.scalars: dict[tuple[Attribute, int], SSAValue] = {}

    def insert(self, op: Operation) -> Operation:
        self.rewriter.insert(op, self.ip)
        return op

    def op(self, op: Operation, hint: str | None = None) -> SSAValue:
        result = self.insert(op).results[0]
        if hint is not None:
            result.name_hint = hint
        return result

    def constant(self, t: TensorType, value: int, hint: str | None = None) -> SSAValue:
        """A `t`-typed constant equal to `value` everywhere (broadcast if not a scalar)."""
        elt = t.element_type
        c = self.scalars.get((elt, value))
        if c is None:
            v: object = float(value)
            if isinstance(elt, IntegerType):
                v = int(value)
            elif isinstance(elt, ComplexType):
                v = (float(value), 0.0)
            scalar = TensorType(elt, [])
            attr = DenseIntOrFPElementsAttr.from_list(scalar, [v])  # type: ignore[list-item]
            c = self.op(hlo.ConstantOp(attr), None if t.get_shape() else hint)
            self.scalars[(elt, value)] = c
        if not t.get_shape():
            return c
        return self.op(hlo.BroadcastInDimOp(c, [], t), hint)

    def index(self, value: int) -> SSAValue:
        return self.constant(_INDEX, value)

    def starts(self, rank: int, axis: int, offset: SSAValue) -> list[SSAValue]:
        """Start indices that are `offset` on `axis` and 0 elsewhere."""
        return [offset if d == axis else self.index(0) for d in range(rank)]

    def dynamic_slice(self, x: SSAValue, axis: int, offset: SSAValue, size: int) -> SSAValue:
        t = _tensor(x)
        sizes = list(t.get_shape())
        sizes[axis] = size
        return self.op(
            hlo.DynamicSliceOp.create(
                operands=[x, *self.starts(len(sizes), axis, offset)],
                result_types=[TensorType(t.element_type, sizes)],
                properties={"slice_sizes": _i64_array(sizes)},
            )
        )

    def slice(self, x: SSAValue, axis: int, start: int, limit: int) -> SSAValue:
        t = _tensor(x)
        shape = list(t.get_shape())
        starts, limits = [0] * len(shape), list(shape)
        starts[axis], limits[axis] = start, limit
        shape[axis] = limit - start
        return self.op(
            hlo.SliceOp.create(
                operands=[x],
                result_types=[TensorType(t.element_type, shape)],
                properties={
                    "start_indices": _i64_array(starts),
                    "limit_indices": _i64_array(limits),
                    "strides": _i64_array([1] * len(shape)),
                },
            )
        )

    def update_slice(
        self, buf: SSAValue, update: SSAValue, axis: int, offset: SSAValue
    ) -> SSAValue:
        rank = _tensor(buf).get_num_dims()
        return self.op(
            hlo.DynamicUpdateSliceOp.create(
                operands=[buf, update, *self.starts(rank, axis, offset)],
                result_types=[buf.type],
            )
        )


def _chunk_vmap(
    emit: _Emitter,
    vmap: VmapOp,
    operands: Sequence[SSAValue],
    size: int,
    per_example_out: Sequence[TensorType],
) -> list[SSAValue]:
    """A copy of `vmap` (same body, no chunk_size) over `size` examples of `operands`."""
    out_types = [
        t if a is None else insert_axis(t, a, size)
        for t, a in zip(per_example_out, vmap.out_axes_list)
    ]
    new = VmapOp(
        list(operands), vmap.in_axes_list, vmap.out_axes_list, size, vmap.body.clone(), out_types
    )
    new.location = vmap.location
    emit.op(new)
    return list(new.results)


def _write(
    emit: _Emitter,
    vmap: VmapOp,
    bufs: Sequence[SSAValue],
    results: Sequence[SSAValue],
    offset: SSAValue,
) -> list[SSAValue]:
    """Each chunk result written into its buffer at `offset` on its out axis; a result
    with out_axes none replaces its buffer (it is the same for every chunk)."""
    return [
        r if a is None else emit.update_slice(buf, r, a, offset)
        for buf, r, a in zip(bufs, results, vmap.out_axes_list)
    ]


def _loop(
    emit: _Emitter,
    vmap: VmapOp,
    k: int,
    bufs: Sequence[SSAValue],
    per_example_out: Sequence[TensorType],
) -> list[SSAValue]:
    """The while over the B // k full chunks, emitted by `emit`; the filled buffers."""
    rewriter = emit.rewriter
    carry_types = [_INDEX, *(b.type for b in bufs)]

    cond = Block(arg_types=carry_types)
    cond.args[0].name_hint = "chunk"
    at_cond = _Emitter(rewriter, InsertPoint.at_end(cond))
    n = at_cond.constant(_INDEX, vmap.size // k, "num_chunks")
    more = at_cond.op(
        hlo.CompareOp(
            cond.args[0], n, hlo.ComparisonDirection.LT, hlo.ComparisonType.SIGNED
        )
    )
    at_cond.insert(hlo.ReturnOp(more))

    body = Block(arg_types=carry_types)
    i, *carried = body.args
    i.name_hint = "chunk"
    at_body = _Emitter(rewriter, InsertPoint.at_end(body))
    offset = at_body.op(hlo.MultiplyOp(i, at_body.constant(_INDEX, k, "chunk_size")), "offset")
    slices = [
        x if a is None else at_body.dynamic_slice(x, a, offset, k)
        for x, a in zip(vmap.args, vmap.in_axes_list)
    ]
    results = _chunk_vmap(at_body, vmap, slices, k, per_example_out)
    written = _write(at_body, vmap, carried, results, offset)
    next_i = at_body.op(hlo.AddOp(i, at_body.index(1)))
    at_body.insert(hlo.ReturnOp(next_i, *written))

    loop = hlo.WhileOp.create(
        operands=[emit.index(0), *bufs],
        result_types=carry_types,
        regions=[Region(cond), Region(body)],
    )
    emit.insert(loop)
    return list(loop.results[1:])


class ChunkVmapPattern(RewritePattern):
    """A `batch.vmap` with a `chunk_size` becomes a loop over chunks (see module doc)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: VmapOp, rewriter: PatternRewriter) -> None:
        if op.chunk_size is None:
            return
        k, size = op.chunk_size.value.data, op.size
        if k >= size:
            plain = VmapOp(
                list(op.args),
                op.in_axes_list,
                op.out_axes_list,
                size,
                rewriter.move_region_contents_to_new_regions(op.body),
                [r.type for r in op.outs],
                axis_name=op.name_of_axis,
            )
            plain.attributes.update(op.attributes)
            plain.location = op.location
            rewriter.replace(op, plain)
            return
        name = op.name_of_axis
        for inner in op.body.walk():
            if isinstance(inner, COLLECTIVE_OPS) and name in inner.axis_names:
                # Each chunk would only see its own examples.
                raise VmlirUnsupportedError(
                    f"chunk_size {k} (or memory_limit_bytes) with a collective over the "
                    f"chunked axis '{name}': {where(inner)}; drop the chunking for this vmap"
                )
        term = op.body.block.last_op
        assert term is not None
        per_example_out = [_tensor(v) for v in term.operands]
        emit = _Emitter(rewriter, InsertPoint.before(op))
        bufs = [emit.constant(_tensor(r), 0, "buffer") for r in op.outs]
        filled = _loop(emit, op, k, bufs, per_example_out)
        full = (size // k) * k
        if full < size:
            tail = [
                x if a is None else emit.slice(x, a, full, size)
                for x, a in zip(op.args, op.in_axes_list)
            ]
            results = _chunk_vmap(emit, op, tail, size - full, per_example_out)
            filled = _write(emit, op, filled, results, emit.index(full))
        rewriter.replace(op, [], filled)


@dataclass(frozen=True)
class BatchChunkPass(ModulePass):
    """Turn every `batch.vmap` with a `chunk_size` into a loop over chunks (see module doc)."""

    name = "batch-chunk"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # Regions first: an inner chunked vmap is rewritten before the vmap containing it
        # copies its body.
        PatternRewriteWalker(
            ChunkVmapPattern(), walk_regions_first=True, apply_recursively=False
        ).rewrite_module(op)

