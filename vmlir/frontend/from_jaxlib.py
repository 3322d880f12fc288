"""Build our xDSL IR straight from jaxlib's in-memory MLIR module (no text round trip).

JAX hands us its per-example program as a jaxlib `ir.Module`. Printing it and parsing the
text back with xDSL's general parser cost ~4 s for a 1,100-op program (xDSL re-derives
attribute constraints for every dense literal); walking the jaxlib objects and creating
the xDSL ops directly costs a small fraction of that (numbers in docs/latency.md).

Generic over ops: every op is created through the class the xDSL context registers for
its name (so ops other engineers add are picked up with no change here), or as an
unregistered op when no loaded dialect defines it; vectorization then names it if it
meets a batched value. Attributes and types are converted once per distinct value:
dense integer/float literals from their raw bytes (so -inf, NaN payloads and -0.0 stay
bit-exact, the guarantee `vmlir.ir.fix_hex_floats` gives the text path), everything else
through xDSL's attribute parser on jaxlib's print of that one attribute.

Functions keep only what the importer reads: name, type and body.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    BFloat16Type,
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FileLineColLoc,
    Float16Type,
    Float32Type,
    Float64Type,
    FunctionType,
    IntAttr,
    IntegerAttr,
    IntegerType,
    LocationAttr,
    ModuleOp,
    Signedness,
    StringAttr,
    TensorType,
    UnregisteredOp,
)
from xdsl.dialects.func import FuncOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.irdl import IRDLOperation
from xdsl.parser import Parser

from vmlir.errors import VmlirError
from vmlir.frontend.locations import resolve_location
from vmlir.ir import fix_hex_floats, shared_context
from vmlir.jaxmlir import shared_context_memo

# Raw-byte conversion of dense literals: numpy's view of jaxlib's buffer, per element type.
_NUMPY_ELEMENTS = {
    "f16": np.float16,
    "f32": np.float32,
    "f64": np.float64,
    "i8": np.int8,
    "i16": np.int16,
    "i32": np.int32,
    "i64": np.int64,
    "ui8": np.uint8,
    "ui16": np.uint16,
    "ui32": np.uint32,
    "ui64": np.uint64,
}


# Fast paths for what JAX prints most (xDSL's parser takes ~1-2 ms per type or attribute,
# building the same constraints each time); anything else goes through the parser.
_TENSOR = re.compile(r"tensor<((?:\d+x)*)(bf16|f16|f32|f64|i1|i8|i16|i32|i64|ui8|ui16|ui32|ui64)>")
_FILE_LOC = re.compile(r'"([^"\\]*)":(\d+):(\d+)')
_UNSEEN = object()

_BY_TEXT: dict[tuple[str, str], Any] = {}
"""Types, attributes and locations converted from their text, kept for the whole
process (xDSL's attributes are immutable values; the text says everything about them):
a rerun in the same process finds what the last compilation read (a dot's dimension
numbers, a comparison direction, the user's call-site locations). Only with the shared
context, whose dialects do not change."""
_BY_TEXT_MAX = 50_000
_BY_TEXT_LONGEST = 1024


def _element(name: str) -> Attribute:
    floats = {"bf16": BFloat16Type, "f16": Float16Type, "f32": Float32Type, "f64": Float64Type}
    if name in floats:
        return floats[name]()
    if name.startswith("ui"):
        return IntegerType(int(name[2:]), Signedness.UNSIGNED)
    return IntegerType(int(name[1:]))


class _Converter:
    """Converts one jaxlib module; memoizes types, attributes and locations by their text."""

    def __init__(
        self,
        ctx: Context,
        by_text: dict[tuple[str, str], Any],
        by_identity: dict[str, Any] | None = None,
    ):
        self.ctx = ctx
        self.by_text = by_text
        # Keyed by the identity of jaxlib's objects: valid while their MLIR context
        # lives, so kept beyond this module only with the shared context's memo.
        known = {} if by_identity is None else by_identity
        self.types: dict[Any, Attribute] = known.setdefault("types", {})
        self.attrs: dict[Any, Attribute] = known.setdefault("attrs", {})
        self.locs_by_attr: dict[Any, LocationAttr | None] = known.setdefault("locs", {})
        self.op_classes: dict[str, tuple[type[Operation], frozenset[str] | None]] = (
            by_text.setdefault(("op classes", ""), {})
        )
        self.values: dict[Any, SSAValue] = {}

    # -- types, attributes, locations -------------------------------------------------
    def parse_attr_text(self, text: str) -> Attribute:
        got = self.by_text.get(("attr", text))
        if got is None:
            got = Parser(self.ctx, fix_hex_floats(text), "<jax>").parse_attribute()
            if len(text) <= _BY_TEXT_LONGEST:  # a large literal (bf16) is not kept
                self.by_text[("attr", text)] = got
        return got

    def type(self, t: Any) -> Attribute:
        got = self.types.get(t)
        if got is None:
            key = str(t)
            m = _TENSOR.fullmatch(key)
            if m:
                dims = [int(d) for d in m.group(1).split("x")[:-1]]
                got = TensorType(_element(m.group(2)), dims)
            else:
                got = self.by_text.get(("type", key))
                if got is None:
                    got = self.by_text[("type", key)] = Parser(self.ctx, key, "<jax>").parse_type()
            self.types[t] = got
        return got

    def attr(self, a: Any) -> Attribute:
        # MLIR uniques attributes and types, and their Python objects hash by that
        # identity: looked up without printing them (a large constant prints all of it).
        got = self.attrs.get(a)
        if got is None:
            got = self.attrs[a] = self._convert_attr(type(a).__name__, a)
        return got

    def _convert_attr(self, kind: str, a: Any) -> Attribute:
        if kind in ("DenseFPElementsAttr", "DenseIntElementsAttr"):
            typ = self.type(a.type)
            if isinstance(typ, TensorType):
                dense = _dense_from_buffer(a, typ)
                if dense is not None:
                    return dense
        elif kind == "DenseI64ArrayAttr":
            return DenseArrayBase.from_list(IntegerType(64), list(a))
        elif kind == "StringAttr":
            return StringAttr(a.value)
        elif kind == "IntegerAttr":
            typ = self.type(a.type)
            # Signless only: jaxlib reads an unsigned attribute's value back as signed.
            if (
                isinstance(typ, IntegerType)
                and typ.width.data > 1
                and typ.signedness.data == Signedness.SIGNLESS
            ):
                return IntegerAttr(IntAttr(a.value), typ)
        return self.parse_attr_text(str(a))

    def location(self, loc: Any) -> LocationAttr | None:
        # Keyed by the location's attribute (uniqued by MLIR, hashed by identity): printing
        # each op's location to look it up was a fifth of the import.
        attr = loc.attr
        got = self.locs_by_attr.get(attr, _UNSEEN)
        if got is not _UNSEEN:
            return got
        got = self.locs_by_attr[attr] = self._location(str(loc))
        return got

    def _location(self, key: str) -> LocationAttr | None:
        got = self.by_text.get(("loc", key), _UNSEEN)
        if got is _UNSEEN:
            found = resolve_location(key[4:-1]) if key.startswith("loc(") else None
            m = _FILE_LOC.fullmatch(found) if found is not None else None
            if m:  # a file name with no escapes in it
                loc: LocationAttr | None = FileLineColLoc(
                    StringAttr(m.group(1)), IntAttr(int(m.group(2))), IntAttr(int(m.group(3)))
                )
            elif found is not None:
                loc = Parser(self.ctx, f"loc({found})").parse_optional_location()
            else:
                loc = None
            got = self.by_text[("loc", key)] = loc
        return got

    # -- ops ---------------------------------------------------------------------------
    def op_class(self, name: str) -> tuple[type[Operation], frozenset[str] | None]:
        got = self.op_classes.get(name)
        if got is None:
            cls = self.ctx.get_optional_op(name)
            if cls is None or issubclass(cls, UnregisteredOp):
                # (A context that allows unregistered ops answers with such a class.)
                got = (cls or UnregisteredOp.with_name(name), None)
            elif issubclass(cls, IRDLOperation):
                got = (cls, frozenset(cls.get_irdl_definition().properties))
            else:
                got = (cls, frozenset())
            self.op_classes[name] = got
        return got

    def block(self, jblock: Any) -> Block:
        args = list(jblock.arguments)
        block = Block(arg_types=[self.type(a.type) for a in args])
        for jarg, arg in zip(args, block.args):
            self.values[jarg] = arg
        block.add_ops([self.op(j.operation) for j in jblock.operations])
        return block

    def op(self, j: Any) -> Operation:
        name = j.name
        if not len(j.operands) and not len(j.regions) and any(
            "complex<" in str(r.type) for r in j.results
        ):
            return self._op_from_text(j)
        cls, prop_names = self.op_class(name)
        props: dict[str, Attribute] = {}
        attrs: dict[str, Attribute] = {}
        named = j.attributes
        for i in range(len(named)):
            na = named[i]
            value = self.attr(na.attr)
            # An op no dialect defines: JAX's generic print puts its attributes in
            # properties (inherent attributes), so they go there.
            if prop_names is None or na.name in prop_names:
                props[na.name] = value
            else:
                attrs[na.name] = value
        try:
            operands = [self.values[v] for v in j.operands]
        except KeyError as e:
            raise VmlirError(f"'{name}' uses a value defined after it in JAX's module") from e
        if len(j.successors):
            raise VmlirError(f"'{name}' has successor blocks, which JAX's StableHLO never uses")
        regions = [Region([self.block(b) for b in r.blocks]) for r in j.regions]
        op = cls.create(
            operands=operands,
            result_types=[self.type(r.type) for r in j.results],
            properties=props,
            attributes=attrs,
            regions=regions,
        )
        loc = self.location(j.location)
        if loc is not None:
            op.location = loc
        for jres, res in zip(j.results, op.results):
            self.values[jres] = res
        return op

    def _op_from_text(self, j: Any) -> Operation:
        """An op read from its own generic print. For complex constants: reading a
        complex dense attribute from jaxlib's Python objects aborts the process (its
        automatic downcast raises inside C++), so they are never touched."""
        text = j.get_asm(print_generic_op_form=True, enable_debug_info=False)
        op = Parser(self.ctx, fix_hex_floats(text), "<jax>").parse_op()
        loc = self.location(j.location)
        if loc is not None:
            op.location = loc
        for jres, res in zip(j.results, op.results):
            self.values[jres] = res
        return op

    def func(self, j: Any) -> FuncOp:
        attrs = j.attributes
        name = StringAttr(attrs["sym_name"].value)
        jtype = attrs["function_type"].value
        ftype = FunctionType.from_lists(
            [self.type(t) for t in jtype.inputs], [self.type(t) for t in jtype.results]
        )
        (jblock,) = j.regions[0].blocks
        block = self.block(jblock)
        # JAX's own names for the parameters (its printer says %arg0, %arg1, ...), so the
        # per-example body reads as JAX printed it.
        for i, arg in enumerate(block.args):
            arg.name_hint = f"arg{i}"
        return FuncOp.create(
            properties={"sym_name": name, "function_type": ftype},
            regions=[Region(block)],
        )


def _dense_from_buffer(a: Any, typ: TensorType) -> DenseIntOrFPElementsAttr | None:
    """The dense literal built from jaxlib's raw buffer, or None for element types numpy
    cannot view (bf16, complex: those go through the exact text path)."""
    elt = str(typ.element_type)
    if elt == "i1":
        # xDSL stores `true` as the byte 0xFF (i1's normalized -1), as its own parser does.
        raw = np.where(np.asarray(a), np.uint8(0xFF), np.uint8(0)).tobytes()
    elif elt in _NUMPY_ELEMENTS:
        raw = np.ascontiguousarray(np.asarray(a), dtype=_NUMPY_ELEMENTS[elt]).tobytes()
    else:
        return None
    return DenseIntOrFPElementsAttr(typ, BytesAttr(raw))


def module_from_jaxlib(module: Any, ctx: Context | None = None) -> ModuleOp:
    """Our xDSL module (its functions only) for a jaxlib `ir.Module` that JAX lowered."""
    if ctx is None:
        if len(_BY_TEXT) > _BY_TEXT_MAX:
            _BY_TEXT.clear()
        memo = shared_context_memo(getattr(module, "context", None))
        conv = _Converter(shared_context(allow_unregistered=True), _BY_TEXT, memo)
    else:
        conv = _Converter(ctx, {})
    ops: list[Operation] = []
    for j in module.body.operations:
        op = j.operation
        # Other top-level ops (Shardy's `sdy.mesh`) are kept by name; the importer drops
        # the sharding annotations it knows.
        ops.append(conv.func(op) if op.name == "func.func" else conv.op(op))
    return ModuleOp(ops)
