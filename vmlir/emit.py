"""Print the final module in MLIR's generic form for jaxlib, fast.

xDSL's Printer re-prints every attribute and type at every use; on a 2,000-op program
that is ~1 s, as long as the passes. Here each distinct attribute (types included) is
printed once, by xDSL's own printer (so the text of every attribute is exactly what
`vmlir.ir.print_generic` writes), and reused; the op skeleton is written directly.
Values are numbered `%0, %1, ...` (results) and `%argN` (block arguments); jaxlib reads
any names. Successor blocks (never produced by our passes) fall back to xDSL's printer.
"""

from __future__ import annotations

import io
from typing import Any

from xdsl.dialects.builtin import UnitAttr, UnregisteredOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.printer import Printer

from vmlir.ir import print_generic


class _Emitter:
    def __init__(self) -> None:
        self.buf = io.StringIO()
        self.printer = Printer(stream=self.buf, print_generic_format=True)
        self.attr_text: dict[Attribute, str] = {}
        self.by_id: dict[int, tuple[Attribute, str]] = {}
        self.key_text: dict[str, str] = {}
        self.names: dict[SSAValue, str] = {}
        self.next_result = 0
        self.next_arg = 0
        self.out: list[str] = []

    def attr(self, a: Attribute) -> str:
        # By identity first: the passes share type objects (memoized type helpers), and
        # hashing an attribute walks all its parameters. The entry keeps `a` alive, so
        # its id is not reused while the table lives.
        seen = self.by_id.get(id(a))
        if seen is not None and seen[0] is a:
            return seen[1]
        try:
            text = self.attr_text[a]
        except KeyError:
            text = self.attr_text[a] = self._print_attr(a)
        except TypeError:  # an unhashable attribute: print it every time
            return self._print_attr(a)
        self.by_id[id(a)] = (a, text)
        return text

    def _print_attr(self, a: Attribute) -> str:
        self.buf.seek(0)
        self.buf.truncate()
        self.printer.print_attribute(a)
        return self.buf.getvalue()

    def attr_dict(self, d: dict[str, Attribute]) -> str:
        parts = []
        for name, value in d.items():
            key = self.key_text.get(name)
            if key is None:
                self.buf.seek(0)
                self.buf.truncate()
                self.printer.print_identifier_or_string_literal(name)
                key = self.key_text[name] = self.buf.getvalue()
            parts.append(key if isinstance(value, UnitAttr) else f"{key} = {self.attr(value)}")
        return "{" + ", ".join(parts) + "}"

    def types(self, values: Any) -> str:
        return ", ".join(self.attr(v.type) for v in values)

    def op(self, op: Operation, indent: str) -> None:
        if op.successors:
            raise _Fallback
        out = self.out
        out.append(indent)
        if op.results:
            names = []
            for r in op.results:
                name = f"%{self.next_result}"
                self.next_result += 1
                self.names[r] = name
                names.append(name)
            out.append(", ".join(names))
            out.append(" = ")
        # An op no loaded dialect defines (sdy.* from batch-shard) keeps its own name.
        name = op.op_name.data if isinstance(op, UnregisteredOp) else op.name
        out.append(f'"{name}"(')
        out.append(", ".join(self.names[v] for v in op.operands))
        out.append(")")
        if op.properties:
            out.append(" <")
            out.append(self.attr_dict(op.properties))
            out.append(">")
        if op.regions:
            out.append(" (")
            for i, region in enumerate(op.regions):
                if i:
                    out.append(", ")
                self.region(region, indent)
            out.append(")")
        if op.attributes:
            out.append(" ")
            out.append(self.attr_dict(op.attributes))
        out.append(f" : ({self.types(op.operands)}) -> ")
        results = [self.attr(r.type) for r in op.results]
        out.append(results[0] if len(results) == 1 and not results[0].startswith("(") else f"({', '.join(results)})")
        out.append("\n")

    def region(self, region: Region, indent: str) -> None:
        self.out.append("{\n")
        for i, block in enumerate(region.blocks):
            self.block(block, i, indent)
        self.out.append(indent + "}")

    def block(self, block: Block, index: int, indent: str) -> None:
        args = []
        for a in block.args:
            name = f"%arg{self.next_arg}"
            self.next_arg += 1
            self.names[a] = name
            args.append(f"{name}: {self.attr(a.type)}")
        self.out.append(f"{indent}^bb{index}({', '.join(args)}):\n" if args or index else "")
        for op in block.ops:
            self.op(op, indent + "  ")


class _Fallback(Exception):
    """An op with successor blocks: print the whole module with xDSL's printer."""


def emit_generic(op: Operation) -> str:
    """`op` in MLIR's generic form, as `vmlir.ir.print_generic` writes it (up to value
    names and spacing)."""
    e = _Emitter()
    try:
        e.op(op, "")
    except _Fallback:
        return print_generic(op)
    return "".join(e.out)
