"""Naming an op in an error message: its name and the Python line it came from."""

from __future__ import annotations

from xdsl.dialects.builtin import FileLineColLoc, UnregisteredOp
from xdsl.ir import Operation


def where(op: Operation) -> str:
    """`op`'s name and, when the importer kept one, the Python file:line it came from."""
    name = op.op_name.data if isinstance(op, UnregisteredOp) else op.name
    loc = op.location
    if isinstance(loc, FileLineColLoc):
        return f"'{name}' (from {loc.filename.data}:{loc.line.data})"
    return f"'{name}'"
