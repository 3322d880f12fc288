"""The once-at-the-end verify of the pipeline, with its per-op type checks memoized.

On a long program most ops repeat a few signatures (a 1,000-op chain has about five:
`multiply` of two `tensor<64x32xf32>`, a `broadcast_in_dim` of a scalar, ...), and xDSL's
verifier re-derives the same constraint checks for each (operand and result types
against the op's IRDL definition, segment sizes, properties, attributes): most of the
verifier's time. Those checks read only the op's class, its operand and result types,
its properties and its attributes, so within `memoized_verify()` an op whose signature
already passed skips them: in this verify, or an earlier one of this process (up to
_REMEMBER_MAX signatures without large literals are kept, so that a function compiled
again, or a new one with the same shapes, pays for its checks once). Everything else still runs for every op:
xDSL's structural checks (operands not erased, terminators, successors, the nesting of
blocks and regions), the op's traits, and its own `verify_`. An op with regions or
successors is always checked in full (its region checks read its blocks), and an op
that fails is never remembered, so the error is the one xDSL gives.

`run_pipeline` uses it for the final verify only; `verify_each` runs xDSL's verifier
unchanged after every pass.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, StringAttr
from xdsl.ir import Operation
from xdsl.irdl.operations import OpDef

_STATE = threading.local()
"""`seen`: the signatures verified so far in this thread's `memoized_verify()` (by value,
and by the identity of their attributes), or absent."""

_FULL_VERIFY = OpDef.verify

_REMEMBERED: dict[Any, None] = {}
"""The signatures (by value) that passed, for the whole process, up to _REMEMBER_MAX;
a signature holding a large literal is remembered within its own verify only (the
entry would keep the literal alive)."""
_REMEMBER_MAX = 20_000
_SMALL = 256
"""Bytes of a dense literal or characters of a string up to which a signature that
holds it is remembered for the process."""


def _small(parts: tuple[tuple[Any, ...], ...]) -> bool:
    for attr in (*parts[2], *parts[3]):
        if isinstance(attr, DenseIntOrFPElementsAttr) and len(attr.data.data) > _SMALL:
            return False
        if isinstance(attr, StringAttr) and len(attr.data) > _SMALL:
            return False
    return True


def _verify(op_def: OpDef, op: Operation) -> None:
    seen: dict[Any, Any] | None = getattr(_STATE, "seen", None)
    if seen is None or op.regions or op.successors:
        _FULL_VERIFY(op_def, op)
        return
    parts = (
        tuple(v.type for v in op.operands),
        tuple(r.type for r in op.results),
        tuple(op.properties.values()),
        tuple(op.attributes.values()),
    )
    names = (type(op), tuple(op.properties), tuple(op.attributes))
    # By identity first (the passes share attribute objects; hashing one walks all its
    # parameters), then by value. Entries keep the attributes alive, so no id is reused.
    same = (names, tuple(tuple(map(id, p)) for p in parts))
    if same not in seen:
        try:
            key = (names, parts)
            known = key in seen or key in _REMEMBERED
        except TypeError:  # an attribute that cannot be hashed: check it in full
            _FULL_VERIFY(op_def, op)
            return
        if not known:
            _FULL_VERIFY(op_def, op)
            seen[key] = None
            if _small(parts):
                _REMEMBERED[key] = None
        seen[same] = parts
        if not known:
            return
    # The part of OpDef.verify that reads more than the signature.
    for trait in op_def.traits:
        trait.verify(op)


def _install() -> None:
    # xDSL's generated `verify_` of every IRDL op calls `OpDef.verify`; replacing it is
    # the one way in. Outside `memoized_verify()` the replacement calls the original.
    if OpDef.verify is not _verify:
        OpDef.verify = _verify  # type: ignore[method-assign]


@contextmanager
def memoized_verify() -> Iterator[None]:
    """Within this context (in this thread), `op.verify()` skips repeated signature checks."""
    _install()
    outer = getattr(_STATE, "seen", None)
    if outer is None and len(_REMEMBERED) > _REMEMBER_MAX:
        _REMEMBERED.clear()
    _STATE.seen = {} if outer is None else outer
    try:
        yield
    finally:
        _STATE.seen = outer
