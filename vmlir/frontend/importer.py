"""Import JAX's per-example StableHLO into our IR, wrapped in `batch.vmap`.

Input: the generic-form module JAX printed for one example (`func.func @main` plus private
functions for nested jit-ed helpers and nested vmlir.vmap markers).
Output: a module with one `func.func @main` over the BATCHED arguments whose body is a
`batch.vmap` holding the per-example program:

    func.func @main(%x: tensor<4x3xf32>) -> tensor<4xf32> {
      %r = "batch.vmap"(%x) <{axis_size = 4, in_axes = [0], out_axes = [0]}> ({ ... })
      func.return %r
    }

Calls are inlined; a `stablehlo.custom_call @vmlir.vmap` (a nested vmlir.vmap) becomes a
nested `batch.vmap` around the body of the function it names. Locations are kept as `loc("file.py":line:col)` so errors can name them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FileLineColLoc,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    UnitAttr,
    UnregisteredOp,
    i64,
)
from xdsl.dialects.func import CallOp, FuncOp, ReturnOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import ParseError

from vmlir.dialects.batch import VmapOp, YieldOp, insert_axis
from vmlir.dialects.batch_shards import MeshShards
from vmlir.dialects.batch_collectives import (
    AllGatherOp,
    AllToAllOp,
    AxisIndexOp,
    CustomVmapOp,
    PmaxOp,
    PminOp,
    PpermuteOp,
    PsumOp,
    PsumScatterOp,
    names_attr,
)
from vmlir.dialects.stablehlo import AddOp, ConstantOp, CustomCallOp, ReduceOp
from vmlir.dialects.stablehlo import ReturnOp as StablehloReturnOp
from vmlir.errors import VmlirError, VmlirUnsupportedError
from vmlir.frontend.collectives import COLLECTIVE_MARKER
from vmlir.frontend.custom_vmap import CUSTOM_VMAP_MARKER
from vmlir.frontend.locations import inline_locations
from vmlir.frontend.trace import VMAP_MARKER
from vmlir.ir import make_context, parse_module

Axis = int | None

# xDSL's words for an op no loaded dialect defines.
_UNREGISTERED = re.compile(r"Operation ([\w.]+) is not registered")


def _parse(program: str | Any) -> ModuleOp:
    """Our module for JAX's program: a jaxlib `ir.Module` (walked, no text round trip:
    vmlir.frontend.from_jaxlib) or MLIR text (parsed; for tests and tools)."""
    if not isinstance(program, str):
        from vmlir.frontend.from_jaxlib import module_from_jaxlib

        return module_from_jaxlib(program)
    text = program
    try:
        # Unknown ops and attributes (custom_call details, sharding annotations) are kept
        # as unregistered: uniform ones pass through untouched, varying ones meet
        # rule_for, which names them.
        return parse_module(inline_locations(text), make_context(allow_unregistered=True), "<jax>")
    except ParseError as e:
        msg = str(e)
        unknown = _UNREGISTERED.search(msg)
        if unknown:
            raise VmlirUnsupportedError(
                f"vmlir has no definition of the op '{unknown.group(1)}' that JAX emitted for "
                "this function (no batching rule either)"
            ) from e
        raise VmlirError(f"could not read JAX's StableHLO:\n{msg}") from e


def _batched_types(
    per_example: Sequence[Attribute], axes: Sequence[Axis], size: int
) -> list[Attribute]:
    out: list[Attribute] = []
    for t, a in zip(per_example, axes):
        assert isinstance(t, TensorType)
        out.append(t if a is None else insert_axis(t, a, size))
    return out


class _Inliner:
    def __init__(self, module: ModuleOp):
        self.funcs = {f.sym_name.data: f for f in module.ops if isinstance(f, FuncOp)}

    def callee_body(self, name: str) -> Region:
        callee = self.funcs.get(name)
        if callee is None:
            raise VmlirError(f"call of an unknown function @{name}")
        return callee.body.clone()

    def inline_calls(self, block: Block) -> None:
        """Inline every call in `block` (recursively), turning vmap markers into batch.vmap."""
        for op in list(block.ops):
            if isinstance(op, CallOp):
                self._inline(op)
                continue
            if isinstance(op, CustomCallOp) and op.call_target_name.data == VMAP_MARKER:
                self._to_vmap(op)
                continue
            if isinstance(op, CustomCallOp) and op.call_target_name.data == COLLECTIVE_MARKER:
                self._to_collective(op)
                continue
            if isinstance(op, CustomCallOp) and op.call_target_name.data == CUSTOM_VMAP_MARKER:
                self._to_custom_vmap(op)
                continue
            for region in op.regions:
                for inner in region.blocks:
                    self.inline_calls(inner)

    def _inline(self, call: CallOp) -> None:
        body = self.callee_body(call.callee.root_reference.data)
        block = body.block
        self.inline_calls(block)
        ret = block.last_op
        assert isinstance(ret, ReturnOp)
        # A helper may return one of its own arguments: that is the call's operand.
        arg_of = dict(zip(block.args, call.arguments))
        results = [arg_of.get(v, v) for v in ret.arguments]
        block.erase_op(ret)
        if isinstance(call.location, FileLineColLoc):
            # A jit-ed helper's ops have no location of their own; name the call site.
            for inner in block.walk():
                if not isinstance(inner.location, FileLineColLoc):
                    inner.location = call.location
        # The callee's parameter names (%arg0...) must not pass to the caller's values
        # that replace them (xDSL gives an unnamed replacement the replaced value's name).
        for arg in block.args:
            arg.name_hint = None
        Rewriter.inline_block(block, InsertPoint.before(call), call.arguments)
        Rewriter.replace_op(call, [], results)

    def _to_vmap(self, call: CustomCallOp) -> None:
        spec_attr = call.backend_config
        assert isinstance(spec_attr, StringAttr)
        spec = json.loads(spec_attr.data)
        (callee,) = call.called_computations
        body = self.callee_body(callee.root_reference.data)
        block = body.block
        self.inline_calls(block)
        ret = block.last_op
        assert isinstance(ret, ReturnOp)
        Rewriter.replace_op(ret, YieldOp(list(ret.arguments)))
        vmap = VmapOp(
            list(call.operands),
            spec["in_axes"],
            spec["out_axes"],
            spec["axis_size"],
            body,
            [r.type for r in call.results],
            spec.get("chunk_size"),
            spec.get("axis_name"),
        )
        Rewriter.replace_op(call, vmap)

    def _to_custom_vmap(self, call: CustomCallOp) -> None:
        config = call.backend_config
        assert isinstance(config, StringAttr)
        (callee,) = call.called_computations
        body = self.callee_body(callee.root_reference.data)
        self.inline_calls(body.block)
        ret = body.block.last_op
        assert isinstance(ret, ReturnOp)
        Rewriter.replace_op(ret, YieldOp(list(ret.arguments)))
        rule = json.loads(config.data)["rule"]
        op = CustomVmapOp(list(call.operands), rule, body, [r.type for r in call.results])
        op.location = call.location
        Rewriter.replace_op(call, op)

    def _to_collective(self, call: CustomCallOp) -> None:
        config = call.backend_config
        assert isinstance(config, StringAttr)
        op = collective_op(json.loads(config.data), list(call.operands), call.results[0].type)
        op.location = call.location
        Rewriter.replace_op(call, op)


_SHARDING_NO_OPS = ("sdy.sharding_constraint", "sdy.mesh")


def _drop_sharding_annotations(module: ModuleOp) -> None:
    """Remove Shardy's annotations, which JAX adds around typed PRNG keys even on one
    device: an empty mesh and identity sharding constraints. They mean nothing for one
    example, and vmlir's output is placed by the jax.jit that calls it."""
    for op in list(module.walk()):
        if isinstance(op, UnregisteredOp) and op.op_name.data in _SHARDING_NO_OPS:
            if op.results:
                Rewriter.replace_op(op, [], list(op.operands))
            else:
                Rewriter.erase_op(op)


def import_function(text: str) -> Block:
    """The body of @main of JAX's module `text`, calls inlined and markers turned into
    batch ops; it still ends in `func.return` (a custom_vmap rule's batched program)."""
    jax_module = _parse(text)
    _drop_sharding_annotations(jax_module)
    inliner = _Inliner(jax_module)
    if "main" not in inliner.funcs:
        raise VmlirError("JAX's module has no @main function")
    body = inliner.callee_body("main")
    inliner.inline_calls(body.block)
    block = body.block
    body.detach_block(block)
    return block


def import_per_example(
    program: str | Any,
    in_axes: Sequence[Axis],
    out_axes: Sequence[Axis],
    axis_size: int,
    chunk_size: int | None = None,
    axis_name: str | None = None,
    summed: Sequence[bool] | None = None,
    shards: MeshShards | None = None,
) -> ModuleOp:
    """Our batch-dialect module for JAX's per-example module `program`, a jaxlib
    `ir.Module` or its text (see module doc).

    `summed[k]`: result k (mapped, at out_axes[k]) is summed over the batch axis after the
    `batch.vmap` (a derivative program's cotangent of an in_axes=None input).
    `shards`: the vmap runs one shard of a batch split over a device mesh (its collectives
    reach the other shards)."""
    jax_module = _parse(program)
    _drop_sharding_annotations(jax_module)
    inliner = _Inliner(jax_module)
    main = inliner.funcs.get("main")
    if main is None:
        raise VmlirError("JAX's module has no @main function")
    per_example_in = list(main.function_type.inputs)
    per_example_out = list(main.function_type.outputs)
    if len(in_axes) != len(per_example_in) or len(out_axes) != len(per_example_out):
        raise VmlirError(
            f"axes do not match the traced program: {len(in_axes)} in_axes for "
            f"{len(per_example_in)} arguments, {len(out_axes)} out_axes for "
            f"{len(per_example_out)} results"
        )
    in_types = _batched_types(per_example_in, in_axes, axis_size)
    out_types = _batched_types(per_example_out, out_axes, axis_size)

    # JAX's module is ours to take apart: main's body moves, it is not copied.
    body = main.detach_region(main.body)
    inliner.inline_calls(body.block)
    ret = body.block.last_op
    assert isinstance(ret, ReturnOp)
    Rewriter.replace_op(ret, YieldOp(list(ret.arguments)))

    outer = Block(arg_types=in_types)
    vmap = VmapOp(
        list(outer.args), in_axes, out_axes, axis_size, body, out_types, chunk_size, axis_name,
        shards,
    )
    outer.add_op(vmap)
    results = list(vmap.results)
    for k, (r, a) in enumerate(zip(vmap.results, out_axes)):
        if summed and summed[k]:
            assert a is not None, "a summed result must be mapped"
            results[k] = _sum_over(outer, r, a)
    outer.add_op(ReturnOp(*results))
    func = FuncOp("main", (in_types, [r.type for r in results]), Region(outer))
    return ModuleOp([func, *_referenced_functions(inliner, func)])


def _symbol_refs(op: Operation) -> list[str]:
    """Functions `op` names without calling them: a custom_call's called_computations
    (ApproxTopK's comparator), a composite's decomposition."""
    names = []
    for attr in op.properties.values():
        refs = attr.data if isinstance(attr, ArrayAttr) else (attr,)
        names += [r.root_reference.data for r in refs if isinstance(r, SymbolRefAttr)]
    return names


def _referenced_functions(inliner: _Inliner, root: FuncOp) -> list[FuncOp]:
    """Copies of the private functions that ops left in `root` (after inlining) still
    name, transitively, with their own calls inlined."""
    kept: dict[str, FuncOp] = {}
    if inliner.funcs.keys() <= {"main"}:
        return []  # nothing to name (JAX's usual module): no walk of the program
    pending = [root]
    while pending:
        for op in pending.pop().walk():
            for name in _symbol_refs(op):
                if name in kept or name not in inliner.funcs:
                    continue
                func = inliner.funcs[name].clone()
                inliner.inline_calls(func.body.block)
                kept[name] = func
                pending.append(func)
    return list(kept.values())


def _sum_over(block: Block, value: SSAValue, axis: int) -> SSAValue:
    """Append `stablehlo.reduce` (add) of `value` over `axis` to `block`."""
    t = value.type
    assert isinstance(t, TensorType)
    scalar = TensorType(t.element_type, [])
    zero = ConstantOp.create(
        properties={"value": DenseIntOrFPElementsAttr.from_list(scalar, [0.0])},
        result_types=[scalar],
    )
    body = Block(arg_types=[scalar, scalar])
    add = AddOp.create(operands=list(body.args), result_types=[scalar])
    body.add_ops([add, StablehloReturnOp(add.results[0])])
    shape = [d for i, d in enumerate(t.get_shape()) if i != axis]
    reduce = ReduceOp(
        [value], [zero.results[0]], [axis], Region(body), [TensorType(t.element_type, shape)]
    )
    block.add_ops([zero, reduce])
    return reduce.results[0]


def collective_op(
    config: dict[str, Any], operands: Sequence[SSAValue], result: Attribute
) -> Operation:
    """The batch-dialect op a collective marker stands for."""
    name, axes = config["op"], config["axes"]
    if name == "batch.psum":
        return PsumOp(operands[0], axes)
    if name == "batch.pmax":
        return PmaxOp(operands[0], axes)
    if name == "batch.pmin":
        return PminOp(operands[0], axes)
    if name == "batch.axis_index":
        return AxisIndexOp(axes[0])
    props: dict[str, Attribute | None] = {"axes": names_attr(axes)}
    if name == "batch.all_gather":
        return AllGatherOp(operands[0], axes, config["dim"], config["tiled"], result)
    if name == "batch.psum_scatter":
        props["dim"] = IntegerAttr(config["dim"], i64)
        props["tiled"] = UnitAttr() if config["tiled"] else None
        cls: type[Operation] = PsumScatterOp
    elif name == "batch.ppermute":
        props["perm"] = DenseArrayBase.from_list(i64, config["perm"])
        cls = PpermuteOp
    elif name == "batch.all_to_all":
        props["split"] = IntegerAttr(config["split"], i64)
        props["concat"] = IntegerAttr(config["concat"], i64)
        cls = AllToAllOp
    else:
        raise VmlirUnsupportedError(f"unknown collective marker {name!r}")
    return cls.create(
        operands=list(operands),
        result_types=[result],
        properties={k: v for k, v in props.items() if v is not None},
    )

