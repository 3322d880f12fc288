"""A disk-cache key for a per-example program from its jaxpr, without lowering it.

A disk-cache hit used to lower the traced per-example function to StableHLO only to key
the cache with its text: a lowering by JAX (a new MLIR context, the lowering rules, a
print) that jax.jit's own first call does not pay. The StableHLO is a function of the
jaxpr, the configuration jax lowers under (its trace context, the platform: the API puts
the platform in the key) and the versions (the cache fingerprint), so a digest of the
jaxpr serves as well, provided it misses no detail: every equation's primitive, operands,
result types, parameters, effects and context, and the values of the constants.

Sound by construction: the encoding knows a closed set of value types and refuses
anything else (a callback's Python function, a custom_vmap rule, an unknown object), and
then the caller keys with the StableHLO text as before. Parameters a primitive's lowering
does not read are named per primitive (`_IGNORED`), each with the reason.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np


class _Unknown(Exception):
    """A value the encoding does not know: no jaxpr key for this program."""


# Parameters that the primitive's lowering never reads.
_IGNORED: dict[str, frozenset[str]] = {
    # jax lowers custom_jvp_call / custom_vjp_call as their call_jaxpr
    # (custom_derivatives._custom_jvp_vjp_call_lowering); the rest is for differentiation.
    "custom_jvp_call": frozenset({"jvp_jaxpr_fun", "jvp_jaxpr_thunk"}),
    "custom_vjp_call": frozenset({"fwd_jaxpr_thunk", "bwd", "out_trees"}),
    # A nested vmlir.vmap's handle only serves JAX's transformations (vmlir/derived.py).
    "vmlir_vmap": frozenset({"handle"}),
}

_SCALARS = (type(None), bool, int, float, complex, str, bytes)


def _jax_core() -> Any:
    # Jaxpr, ClosedJaxpr, Var, Literal, DropVar and the equation context are jax._src.core
    # types (jax.extend.core re-exports some, but importing jax.extend costs 0.15-0.3 s).
    from jax._src import core

    return core


class _Encoder:
    """The encoding is a list of strings, hashed once joined by NULs (an array's bytes
    enter as their own digest). The encodings of the values an equation shares with many
    others (its context, an aval, a sharding) are kept by identity for the encoder's life."""

    def __init__(self) -> None:
        self.core = _jax_core()
        self.parts: list[str] = []
        self.put = self.parts.append
        self.vars: dict[int, int] = {}
        self._memo: dict[int, tuple[Any, str]] = {}
        self._dtypes: dict[Any, str] = {}

    def digest(self) -> str:
        return hashlib.sha256("\x00".join(self.parts).encode()).hexdigest()

    def memo(self, x: Any, encode: Any) -> None:
        """`encode(x)`, or the parts it gave for this very object before (the object is
        kept, so its id is not reused)."""
        hit = self._memo.get(id(x))
        if hit is not None and hit[0] is x:
            self.parts.append(hit[1])
            return
        start = len(self.parts)
        encode(x)
        joined = "\x00".join(self.parts[start:])
        del self.parts[start:]
        self.parts.append(joined)
        self._memo[id(x)] = (x, joined)

    def var(self, v: Any) -> None:
        core = self.core
        if isinstance(v, core.Literal):
            self.put("lit")
            self.value(v.val)
            self.aval(v.aval)
        elif isinstance(v, core.DropVar):
            self.put("drop")
            self.aval(v.aval)
        elif isinstance(v, core.Var):
            n = self.vars.setdefault(id(v), len(self.vars))
            self.put(f"v{n}")
        else:
            raise _Unknown(type(v).__name__)

    def aval(self, a: Any) -> None:
        if type(a) is not self.core.ShapedArray:
            raise _Unknown(type(a).__name__)
        self.memo(a, self._aval)

    def _aval(self, a: Any) -> None:
        self.put(f"aval{tuple(a.shape)}|{self.dtype(a.dtype)}|{a.weak_type}")
        for slot in ("sharding", "manual_axis_type", "memory_space"):
            self.value(getattr(a, slot, None))

    def jaxpr(self, j: Any) -> None:
        self.put("jaxpr(")
        for v in (*j.constvars, *j.invars):
            self.var(v)
            self.aval(v.aval)
        for eqn in j.eqns:
            name = eqn.primitive.name
            self.put(f"eqn:{name}")
            for v in eqn.invars:
                self.var(v)
            self.put("->")
            for v in eqn.outvars:
                self.var(v)
                self.aval(v.aval)
            ignored = _IGNORED.get(name, frozenset())
            for k in sorted(eqn.params):
                if k not in ignored:
                    self.put(f"param:{k}")
                    self.value(eqn.params[k])
            self.effects(eqn.effects)
            self.memo(eqn.ctx, self.slots)
        self.put("out")
        for v in j.outvars:
            self.var(v)
        self.effects(j.effects)
        self.put(")")

    def closed(self, c: Any) -> None:
        self.jaxpr(c.jaxpr)
        self.put("consts")
        for x in c.consts:
            self.array(x)

    def effects(self, effects: Any) -> None:
        if effects:
            # An effect's repr is all there is to it; one that holds an address only misses.
            self.put("effects:" + ",".join(sorted(repr(e) for e in effects)))

    def slots(self, x: Any) -> None:
        """A jax value made of its slots (an equation's context, a manual axis type)."""
        self.put(f"slots:{type(x).__module__}.{type(x).__qualname__}")
        for slot in type(x).__slots__:
            if slot != "__weakref__":
                self.put(slot)
                self.value(getattr(x, slot, None))

    def dtype(self, d: Any) -> str:
        known = self._dtypes.get(d) if isinstance(d, np.dtype) else None
        if known is not None:
            return known
        if not isinstance(d, np.dtype) or d.kind not in "biufcV" or d.hasobject:
            raise _Unknown(f"dtype {d}")  # jax's extended dtypes (PRNG keys), objects
        self._dtypes[d] = text = f"{d.name}|{d.str}"
        return text

    def array(self, x: Any) -> None:
        if isinstance(x, jax.core.Tracer):
            raise _Unknown("tracer")  # a value of an enclosing trace, not a constant
        if isinstance(x, jax.Array) and not isinstance(x.dtype, np.dtype):
            raise _Unknown(f"dtype {x.dtype}")
        a = np.asarray(x)
        self.dtype(a.dtype)
        self.put(f"array{a.shape}|{a.dtype.name}|{a.dtype.str}")
        self.put(hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest())

    def value(self, x: Any) -> None:
        core = self.core
        t = type(x)
        if t in _SCALARS:
            self.put(f"{t.__name__}:{x!r}")
        elif t.__name__ in ("TypedInt", "TypedFloat", "TypedComplex") and t.__module__.startswith("jax"):
            # jax's scalars that carry their dtype (jax._src.literals)
            base = {"TypedInt": int, "TypedFloat": float, "TypedComplex": complex}[t.__name__]
            self.put(f"{t.__name__}:{base(x)!r}")
            self.value(x.dtype)
        elif isinstance(x, enum.Enum):
            self.put(f"enum:{t.__module__}.{t.__qualname__}.{x.name}")
        elif isinstance(x, np.dtype):
            self.put(f"dtype:{self.dtype(x)}")
        elif isinstance(x, (np.ndarray, np.generic, jax.Array)):
            self.array(x)
        elif isinstance(x, core.ClosedJaxpr):
            self.closed(x)
        elif isinstance(x, core.Jaxpr):
            self.jaxpr(x)
        elif isinstance(x, core.ShapedArray):
            self.aval(x)
        elif isinstance(x, (tuple, list)):
            # Named tuples (dimension numbers) are told apart by their type.
            self.put(f"seq:{t.__module__}.{t.__qualname__}({len(x)}")
            for e in x:
                self.value(e)
            self.put(")")
        elif isinstance(x, Mapping):
            self.put(f"map({len(x)}")
            for k, v in sorted(x.items(), key=lambda kv: repr(kv[0])):
                self.value(k)
                self.value(v)
            self.put(")")
        elif isinstance(x, (frozenset, set)):
            self.put(f"set({len(x)}")
            for e in sorted(x, key=repr):
                self.value(e)
            self.put(")")
        elif t.__name__ in _BY_SLOTS and t.__module__.startswith("jax"):
            self.memo(x, self.slots)
        elif t.__name__ in _BY_REPR and t.__module__.startswith("jax"):
            self.memo(x, lambda x: self.put(f"{t.__module__}.{t.__qualname__}:{x!r}"))
        else:
            raise _Unknown(f"{t.__module__}.{t.__qualname__}")


_BY_SLOTS = frozenset({"JaxprEqnContext", "ManualAxisType", "AxisEnv"})
_BY_REPR = frozenset({
    # jax's sharding values: their repr is what they are (mesh axes, spec, axis types).
    "AbstractMesh", "Mesh", "NamedSharding", "PartitionSpec", "UnspecifiedValue",
    "AxisType",
})


def jaxpr_key(closed_jaxpr: Any) -> str | None:
    """A digest of `closed_jaxpr` (and of jax's trace context) that differs whenever the
    program does, or None when it holds something the encoding does not know."""
    from jax._src import config

    enc = _Encoder()
    try:
        # The configuration jax traces and lowers under (default matmul precision, x64,
        # ...): jax.jit keys its own caches with it. The axis environment in it holds
        # the named axes our collectives see.
        for item in config.trace_context():
            enc.value(item)
        enc.closed(closed_jaxpr)
    except _Unknown:
        return None
    return "jaxpr:" + enc.digest()
