"""Shared helpers of the catalogue tests: forward + gradient parity with torch, float64 1e-10."""

import jax
import jax.numpy as jnp
import numpy as np

TOL = 1e-10


def vjp(fn, x, g):
    """(fn(x), the gradient of <fn(x), g> with respect to x) for jax ``fn``."""
    y, pull = jax.vjp(fn, x)
    return y, pull(g)[0]


def torch_vjp(torch, fn, x, g):
    """The same for a torch ``fn`` (x, g as numpy or tuples of numpy)."""
    xs = x if isinstance(x, tuple) else (x,)
    tx = tuple(torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True) for a in xs)
    y = fn(*tx)
    grads = torch.autograd.grad(y, tx, torch.tensor(np.asarray(g), dtype=torch.float64))
    out = tuple(q.numpy() for q in grads)
    return y.detach().numpy(), (out if isinstance(x, tuple) else out[0])


def assert_parity(torch, jax_fn, torch_fn, x, seed=0):
    """Forward and input gradients of ``jax_fn`` and ``torch_fn`` agree to 1e-10 in float64."""
    y = jax_fn(jax.tree.map(jnp.asarray, x))
    g = np.random.default_rng(seed).standard_normal(np.shape(y))
    y1, g1 = vjp(jax_fn, jax.tree.map(jnp.asarray, x), jnp.asarray(g))
    y2, g2 = torch_vjp(torch, torch_fn, x, g)
    np.testing.assert_allclose(np.asarray(y1), y2, rtol=TOL, atol=TOL)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(np.asarray(a), b, rtol=TOL, atol=TOL)
