"""Random per-example jax.numpy programs, as Python source, for differential testing.

`generate(seed)` builds one `Program`: a small DAG of jax.numpy ops written as readable
Python source text, plus the vmap axes and the batched argument shapes:

    def f(x0, x1):
        v0 = jnp.tanh(x0)
        def g1(p0):
            u0 = jnp.sum(p0, axis=-1)
            return u0
        v1 = vmap(g1, in_axes=(1,), out_axes=0)(v0)
        v2 = jnp.where(v1 > x1, v1, -0.5)
        return {"a": v2, "b": v0}

    in_axes = (0, None)
    out_axes = {"a": 0, "b": -1}
    axis_size = None
    shapes = [((7, 3, 4), "float32"), ((), "float32")]

`source` is the whole program: `exec` it in a namespace holding `jax`, `jnp`, `lax` and
`vmap` (the vmap implementation the nested maps must use: `vmlir.vmap` when vmlir
compiles it, `jax.vmap` for the reference; `Program.build(vmap)` does this) and it
defines `f`, `in_axes`, `out_axes`, `axis_size` and `shapes` (the BATCHED arguments:
shape and dtype per leaf; a list or dict of leaves is a tuple or dict argument).
Pasting it into a test reproduces the program exactly; `make_input` makes arguments.

What is generated (each family is a "feature", listed in `Program.features`): the
elementwise ops, numpy broadcasting of scalars/vectors/matrices, comparisons and
jnp.where, reductions (sum/max/min/mean, any axes, keepdims), contractions (jnp.dot, @,
jnp.matmul, jnp.einsum with 1-2 contracted and maybe a batch dimension), reshape,
transpose/swapaxes/moveaxis, expand_dims/squeeze/broadcast_to, static slicing and
indexing, concatenate/stack, dtype casts (int32, uint8, bool, bf16/f16 round trips),
constants (dense, -0.0, denormals, inf, full_like), nested `vmap` over some arguments
(in_axes int/negative/None, out_axes incl. None and tuples, axis_size, depth 2),
tuple/dict/Python-float arguments with prefix in_axes, and tuple/dict/nested outputs.
With `extra=True` also the ops of EXTRA_OPS (gather, scatter, dynamic_slice, pad,
reverse, sort, cumulative ops, top_k, iota, cond/fori/while, softmax, ...).

The generator tracks, for every value, its per-example shape and dtype, an upper bound of
its magnitude (operands that could grow too large are squashed with tanh, so float32
rounding stays far below the 1e-4 tolerance), and which function parameters it depends
on: out_axes=None is only chosen for outputs that depend on no mapped argument, exactly
what jax.vmap accepts.

Features whose programs fail today because of a known vmlir bug are listed in
`KNOWN_ISSUES` (with the regression test that pins the bug); `generate` leaves them out
unless asked (`exclude=()`), so the fuzz test stays green and keeps finding new bugs.

The code is split by concern under `tests/fuzz/gen/`: `model` (values, operands, `Program`),
`elementwise`, `shape` and `extra` (the op-family generators, mixed into `scope.Scope`),
and `render` (`generate`, `from_source`). This module is their interface.
"""

from tests.fuzz.gen.model import (
    EXTRA_OPS,
    Generator,
    INT_LIMIT,
    KNOWN_ISSUES,
    MAG_LIMIT,
    MAX_RANK,
    N_OPS,
    Operand,
    Program,
    Val,
    bshape,
    make_input,
)
from tests.fuzz.gen.scope import (
    Scope,
)
from tests.fuzz.gen.render import (
    from_source,
    generate,
)

__all__ = [
    "EXTRA_OPS",
    "Generator",
    "INT_LIMIT",
    "KNOWN_ISSUES",
    "MAG_LIMIT",
    "MAX_RANK",
    "N_OPS",
    "Operand",
    "Program",
    "Scope",
    "Val",
    "bshape",
    "from_source",
    "generate",
    "make_input",
]
