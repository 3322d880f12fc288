"""Per-example programs for the frontend lit tests (traced by vmlir-translate)."""

import jax.numpy as jnp

import vmlir


def sum_of_squares(v):
    return jnp.sum(v**2)


def predict(params, x):
    w, b = params
    return jnp.tanh(jnp.dot(w, x) + b)


def rbf(gamma, x, y):
    return jnp.exp(-gamma * jnp.sum((x - y) ** 2))


gram = vmlir.vmap(vmlir.vmap(rbf, in_axes=(None, None, 0)), in_axes=(None, 0, None))

covariance = vmlir.vmap(
    lambda x, y: vmlir.vmap(lambda a, b: jnp.exp(-jnp.sum((a - b) ** 2)), in_axes=(0, None))(x, y),
    in_axes=(None, 0),
    out_axes=1,
)
