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

from xdsl.dialects.builtin import (
    ArrayAttr,
    FileLineColLoc,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    UnregisteredOp,
)
from xdsl.dialects.func import CallOp, FuncOp, ReturnOp
from xdsl.ir import Attribute, Block, Operation, Region
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import ParseError

from vmlir.dialects.batch import VmapOp, YieldOp, insert_axis
from vmlir.dialects.stablehlo import CustomCallOp
from vmlir.errors import VmlirError, VmlirUnsupportedError
from vmlir.frontend.locations import inline_locations
from vmlir.frontend.trace import VMAP_MARKER
from vmlir.ir import make_context, parse_module

Axis = int | None

# xDSL's words for an op no loaded dialect defines.
_UNREGISTERED = re.compile(r"Operation ([\w.]+) is not registered")


def _parse(text: str) -> ModuleOp:
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
        )
        Rewriter.replace_op(call, vmap)


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


def import_per_example(
    text: str,
    in_axes: Sequence[Axis],
    out_axes: Sequence[Axis],
    axis_size: int,
    chunk_size: int | None = None,
) -> ModuleOp:
    """Our batch-dialect module for JAX's per-example module `text` (see module doc)."""
    jax_module = _parse(text)
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

    body = main.body.clone()
    inliner.inline_calls(body.block)
    ret = body.block.last_op
    assert isinstance(ret, ReturnOp)
    Rewriter.replace_op(ret, YieldOp(list(ret.arguments)))

    outer = Block(arg_types=in_types)
    vmap = VmapOp(list(outer.args), in_axes, out_axes, axis_size, body, out_types, chunk_size)
    outer.add_ops([vmap, ReturnOp(*vmap.results)])
    func = FuncOp("main", (in_types, out_types), Region(outer))
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

