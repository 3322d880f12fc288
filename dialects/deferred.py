"""xDSL's `irdl_op_definition`, deferred until an op class is first used.

Building an op's definition (`OpDef.from_pyrdl`: constraints from the field declarations,
accessors, the assembly-format program) costs ~0.1-0.2 ms of CPU an op; our dialects
declare ~120 ops and a compilation uses a few dozen, so a fresh process's first compile
spent ~20 ms building definitions it never read. The decorator here records the class and
builds its definition on first use; the class object is the same from the start, so
`isinstance`, dialect registration and the batching-rule table (keyed by op type) see it
as usual.

First use is any of: creating an op (`Op(...)`, `Op.create`, cloning, parsing: all go
through `__new__`), asking the class for its definition (`get_irdl_definition`), its
traits (`traits`, `has_trait`), or its custom-format parser (`parse`). Instance-level
accessors need no hook: an instance exists only after `__new__`. Ancestors that are
decorated ops are built first, as when the decorator runs eagerly (xDSL reads a parent's
finished definition). `VMLIR_EAGER_OPS=1` builds every definition at import (to check
that the deferral changes nothing).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import IRDLOperation
from xdsl.irdl.operations import VariadicDef
from xdsl.irdl import irdl_op_definition as _build

T = TypeVar("T", bound=type[IRDLOperation])

_LOCK = threading.RLock()
_PENDING: dict[type, dict[str, Any]] = {}
"""Deferred classes, each with the entries of its own __dict__ the hooks replaced."""
_DONE: set[type] = set()
"""Classes whose creation need not look for deferred definitions any more."""
_MISSING = object()
_HOOKED = ("get_irdl_definition", "traits", "parse")


def _finish(cls: type) -> None:
    """Build the definitions of `cls` and of its deferred ancestors (oldest first)."""
    if not _PENDING:
        return
    with _LOCK:
        for c in reversed(cls.__mro__):
            saved = _PENDING.pop(c, None)
            if saved is None:
                continue
            for name in _HOOKED:
                delattr(c, name)
                if saved[name] is not _MISSING:
                    setattr(c, name, saved[name])
            _build(c)


def _new(cls: type, *args: Any, **kwargs: Any) -> Any:
    # Stays the class's __new__ once the definition is built: CPython keeps a class
    # whose __new__ was assigned on its Python-level slot even after a `del`, and
    # object.__new__ then refuses the constructor's arguments. One set lookup per op.
    if cls not in _DONE:
        _finish(cls)
        _DONE.add(cls)
    return object.__new__(cls)


class _Finishing:
    """A class attribute that builds the definition when read, then reads it again."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj: Any, owner: type) -> Any:
        _finish(owner)
        return getattr(owner if obj is None else obj, self.name)


def irdl_op_definition(cls: T) -> T:
    """`xdsl.irdl.irdl_op_definition`, built on first use (module doc)."""
    if os.environ.get("VMLIR_EAGER_OPS", "").strip().lower() in ("1", "true", "yes", "on"):
        return _build(cls)
    assert issubclass(cls, IRDLOperation), f"class {cls.__name__} should be a subclass of IRDLOperation"
    assert "__new__" not in cls.__dict__, f"{cls.__name__} defines __new__: declare it eagerly"
    with _LOCK:
        _PENDING[cls] = {name: cls.__dict__.get(name, _MISSING) for name in _HOOKED}
        cls.__new__ = _new  # type: ignore[method-assign]
        for name in _HOOKED:
            setattr(cls, name, _Finishing(name))
    return cls


def finish_all() -> None:
    """Build every deferred definition now (tools that list or check all ops)."""
    for cls in list(_PENDING):
        _finish(cls)


_FIXED: dict[type, tuple[int, int] | None] = {}
"""Per op class: (operands, results) when its definition is fixed (see `init_fixed`)."""


def init_fixed(
    op: IRDLOperation,
    operands: Sequence[SSAValue],
    result_types: Sequence[Attribute],
    properties: Mapping[str, Attribute],
) -> None:
    """`IRDLOperation.__init__` for the hot constructors of ops whose definition is fixed:
    no variadic or optional operands or results, no regions, successors or segment
    sizes. xDSL's builder matches the arguments to the definition and adds segment
    sizes, ~4x the cost of creating the op itself, and has nothing to do for such an op
    given as many operands and results as it declares (the verifier checks the same
    counts and types); anything else goes through it as usual."""
    kind = type(op)
    if kind in _FIXED:
        counts = _FIXED[kind]
    else:
        d = kind.get_irdl_definition()
        variable = (
            d.options
            or d.regions
            or d.successors
            or any(isinstance(a, VariadicDef) for _, a in (*d.operands, *d.results))
        )
        counts = _FIXED[kind] = None if variable else (len(d.operands), len(d.results))
    if counts == (len(operands), len(result_types)):
        Operation.__init__(op, operands=operands, result_types=result_types, properties=properties)
    else:
        IRDLOperation.__init__(op, operands=operands, result_types=result_types, properties=properties)
