"""What the sweep runs: every public callable of the swept modules, with inputs.

`targets()` lists (module, name, function) for every public function of MODULES (and of
the distribution submodules of jax.scipy.stats). `make_case(target, rng, x64)` gives a
`Case`: a function of arrays only (static parameters closed over) and one example's
arguments, or a `Skip` saying why none was found. Inputs come from, in order:
1. an explicit case (`overrides.CASES`: linear algebra, random, lax ops with callables);
2. the signature: required parameters whose name says they are static (`axis`, `shape`,
   `window_dimensions`...) get a fixed value, the others are arrays; the first of
   `CANDIDATES` that the per-example function traces with (`jax.eval_shape`) is used.
   Floats are drawn in (0.1, 0.9), inside the domain of logs, square roots, arcsin,
   arctanh, erfinv, logit...; integers in [1, 3] (bitwise ops, shifts, gcd).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tests.sweep import overrides

MODULES = (
    "jax.numpy",
    "jax.numpy.linalg",
    "jax.numpy.fft",
    "jax.nn",
    "jax.scipy.special",
    "jax.scipy.linalg",
    "jax.scipy.stats",
    "jax.lax",
    "jax.random",
)


@dataclass(frozen=True)
class Target:
    module: str
    name: str
    fn: Callable[..., Any] = field(compare=False, repr=False)

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass
class Case:
    target: Target
    fn: Callable[..., Any]
    gens: list[Callable[[np.random.Generator], Any]]
    """One generator per array argument: rng -> one example's value."""


@dataclass(frozen=True)
class Skip:
    target: Target
    reason: str


def _public(module: Any) -> Iterator[tuple[str, Any]]:
    for name in sorted(dir(module)):
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        if callable(obj) and not inspect.isclass(obj) and not inspect.ismodule(obj):
            yield name, obj


def targets() -> list[Target]:
    out = []
    for mod_name in MODULES:
        mod = importlib.import_module(mod_name)
        out += [Target(mod_name, n, f) for n, f in _public(mod)]
        if mod_name == "jax.scipy.stats":
            for sub, submod in sorted(vars(mod).items()):
                if inspect.ismodule(submod) and not sub.startswith("_"):
                    out += [Target(f"{mod_name}.{sub}", n, f) for n, f in _public(submod)]
    return out


# --- generated inputs ------------------------------------------------------------------


def dtypes(x64: bool) -> tuple[Any, Any]:
    return (np.float64, np.int64) if x64 else (np.float32, np.int32)


def kinds(x64: bool) -> dict[str, Callable[[np.random.Generator], Any]]:
    f, i = dtypes(x64)
    return {
        "f4": lambda r: r.uniform(0.1, 0.9, (4,)).astype(f),
        "f33": lambda r: r.uniform(0.1, 0.9, (3, 3)).astype(f),
        "f234": lambda r: r.uniform(0.1, 0.9, (2, 3, 4)).astype(f),
        "fs": lambda r: np.asarray(r.uniform(0.1, 0.9), f),
        "i4": lambda r: r.integers(1, 4, (4,)).astype(i),
        "i33": lambda r: r.integers(1, 4, (3, 3)).astype(i),
        "is": lambda r: np.asarray(r.integers(0, 3), i),
        "b4": lambda r: r.random(4) < 0.5,
        "c4": lambda r: (r.uniform(0.1, 0.9, (4,)) + 1j * r.uniform(0.1, 0.9, (4,))).astype(
            np.complex128 if x64 else np.complex64
        ),
        "key": lambda r: jax.random.key(int(r.integers(0, 2**31))),
    }


def candidates(arity: int) -> list[list[str]]:
    """Argument kinds to try, in order, for a function of `arity` array arguments."""
    if arity == 0:
        return [[]]
    rest = arity - 1
    return [
        ["f4"] * arity,
        ["f33"] * arity,
        ["i4"] * arity,
        ["f4"] + ["is"] * rest,
        ["f4"] + ["i4"] * rest,
        ["f33"] + ["f4"] * rest,
        ["f33"] + ["is"] * rest,
        ["f234"] * arity,
        ["b4"] * arity,
        ["fs"] * arity,
        ["c4"] * arity,
        ["i33"] * arity,
    ]


STATIC: dict[str, Any] = {
    "axis": 0,
    "axes": (0,),
    "shape": (2, 2),
    "newshape": (2, 2),
    "new_sizes": (2, 2),
    "sizes": (2,),
    "reps": (2,),
    "repeats": 2,
    "n": 3,
    "N": 3,
    "M": 3,
    "k": 2,
    "num": 3,
    "indices_or_sections": 2,
    "dimension": 0,
    "dimensions": (0,),
    "source": 0,
    "destination": 0,
    "axis1": 0,
    "axis2": 1,
    "kth": 1,
    "dtype": None,
    "new_dtype": None,
    "size": 3,
    "start_indices": (0,),
    "limit_indices": (2,),
    "slice_sizes": (2,),
    "window_dimensions": (2,),
    "window_strides": (1,),
    "padding": "VALID",
    "computation": jax.lax.add,
    "comparator": None,
    "operand_rank": None,
    "bits": 8,
    "exponent_bits": 5,
    "mantissa_bits": 10,
    "y": 2,
    "iota_dimension": 0,
    "permutation": (0,),
    "broadcast_dimensions": (0,),
    "out_sharding": None,
    "rank": 2,
    "start_index": 0,
    "limit_index": 2,
    "index": 1,
    "precision": None,
    "subscripts": "i,i->",
    "operand_shapes": None,
    "func": jnp.sin,
    "pyfunc": jnp.sin,
    "func1d": jnp.sum,
    "fun": jnp.sin,
    "f": jnp.sin,
    "a_min": 0.2,
    "a_max": 0.8,
    "ndim": 2,
    "nbits": 8,
}
"""Values of required parameters that are static by name (not arrays)."""
for _name in ("dtype", "new_dtype"):
    STATIC[_name] = jnp.float32


def _required(fn: Callable[..., Any]) -> list[str] | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    out = []
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            out.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            out += [f"*{p.name}0", f"*{p.name}1"]
    return out


def _bind(fn: Callable[..., Any], params: list[str]) -> tuple[Callable[..., Any], int]:
    """A function of the array parameters only (static ones closed over) and its arity."""
    static = {i: STATIC[p] for i, p in enumerate(params) if p in STATIC and STATIC[p] is not None}
    arity = len(params) - len(static)

    def bound(*arrays: Any) -> Any:
        it = iter(arrays)
        return fn(*[static[i] if i in static else next(it) for i in range(len(params))])

    return bound, arity


def traces(fn: Callable[..., Any], args: list[Any]) -> bool:
    try:
        out = jax.eval_shape(fn, *args)
    except Exception:  # noqa: BLE001 - any failure means: not this input
        return False
    leaves = jax.tree_util.tree_leaves(out)
    return bool(leaves) and all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)


def make_case(target: Target, rng: np.random.Generator, x64: bool) -> Case | Skip:
    explicit = overrides.case_for(target.qualname, x64)
    if isinstance(explicit, str):
        return Skip(target, explicit)
    if explicit is not None:
        fn, gens = explicit
        return Case(target, fn, gens)
    params = _required(target.fn)
    table = kinds(x64)
    tries = [params] if params is not None else [["x"], ["x", "y"]]
    first_kind = ["key"] if target.module == "jax.random" else []
    for ps in tries:
        fn, arity = _bind(target.fn, ps)
        n = arity - len(first_kind)
        for cand in candidates(n) if n >= 0 else []:
            gens = [table[k] for k in first_kind + cand]
            if traces(fn, [g(rng) for g in gens]):
                return Case(target, fn, gens)
    return Skip(target, "no generated input fits (static or structured arguments)")
