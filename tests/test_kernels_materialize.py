"""fnn.kernels' fusion barrier: ``materialize`` / ``materialized`` are the identity / ``fn`` for
values, every derivative and vmap, and the barrier survives XLA's optimisation (the compiled
program keeps its conditional), including inside max pooling's backward pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from fnn import kernels as ck
from fnn.kernels import materialize, materialized


def f(x):
    return jnp.sum(jnp.sin(materialize(jnp.cos(x) * 2.0)) ** 2)


def f_ref(x):
    return jnp.sum(jnp.sin(jnp.cos(x) * 2.0) ** 2)


X = jnp.arange(6.0, dtype=jnp.float64).reshape(2, 3) / 3


def test_materialize_is_the_identity_for_values_and_every_derivative():
    np.testing.assert_array_equal(materialize(X), X)
    np.testing.assert_allclose(jax.grad(f)(X), jax.grad(f_ref)(X), rtol=1e-14)
    t = jnp.ones_like(X)
    np.testing.assert_allclose(jax.jvp(f, (X,), (t,))[1], jax.jvp(f_ref, (X,), (t,))[1], rtol=1e-14)
    np.testing.assert_allclose(jax.hessian(f)(X), jax.hessian(f_ref)(X), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(jax.vmap(jax.grad(f))(X), jax.vmap(jax.grad(f_ref))(X), rtol=1e-14)
    np.testing.assert_allclose(jax.jit(jax.grad(f))(X), jax.grad(f_ref)(X), rtol=1e-14)


@pytest.mark.parametrize("x", [jnp.zeros((0, 3)), jnp.array([True, False]), jnp.arange(4, dtype=jnp.int8),
                               jnp.array([-0.0, jnp.nan, jnp.inf]), jnp.ones((2,), jnp.float16)])
def test_materialize_keeps_any_dtype_and_odd_values(x):
    y = jax.jit(materialize)(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x))
    np.testing.assert_array_equal(np.signbit(np.asarray(y, np.float64)), np.signbit(np.asarray(x, np.float64)))
    if not jnp.issubdtype(x.dtype, jnp.inexact):  # integers and booleans: float0 tangents pass through
        zero = np.zeros(x.shape, jax.dtypes.float0)
        y, t = jax.jvp(materialize, (x,), (zero,))
        np.testing.assert_array_equal(np.asarray(y), np.asarray(x))
        assert t.dtype == jax.dtypes.float0


def test_materialized_is_fn_with_pytree_outputs_and_gradients():
    fn = lambda a, b: {"sum": a + b, "prod": a * jnp.exp(b)}
    a, b = X, X[::-1] + 1
    out = materialized(fn, a, b)
    np.testing.assert_array_equal(out["sum"], a + b)
    np.testing.assert_array_equal(out["prod"], a * jnp.exp(b))
    loss = lambda g: lambda a, b: jnp.sum(g(fn, a, b)["prod"] ** 2)
    plain = lambda fn, *args: fn(*args)
    for got, want in zip(jax.grad(loss(materialized), (0, 1))(a, b), jax.grad(loss(plain), (0, 1))(a, b), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    tangents = (jnp.ones_like(a), jnp.full_like(b, 0.5))
    got, want = jax.jvp(lambda a, b: materialized(fn, a, b), (a, b), tangents), jax.jvp(fn, (a, b), tangents)
    jax.tree.map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-14), got, want)
    hess = lambda g: jax.hessian(loss(g))(a, b)
    np.testing.assert_allclose(hess(materialized), hess(plain), rtol=1e-12)


def test_the_barrier_under_vmap_stays_a_conditional():
    compiled = jax.jit(jax.vmap(jax.grad(f))).lower(X).compile().as_text()
    assert "conditional(" in compiled  # an unbatched predicate: vmap does not turn it into a select
    np.testing.assert_allclose(jax.jit(jax.vmap(jax.grad(f)))(X), jax.vmap(jax.grad(f_ref))(X), rtol=1e-14)


def test_the_barrier_survives_xlas_optimisation():
    # The whole point: XLA:CPU folds optimization barriers and provably-true conditionals away,
    # and turns cheap two-branch conditionals into selects. This one must stay a conditional.
    compiled = jax.jit(jax.grad(f)).lower(X).compile().as_text()
    assert compiled.count("conditional(") >= 2  # the value, and the cotangent on its way back
    pooled = jax.jit(jax.grad(lambda x: jnp.sum(ck.max_pool(x, (2, 2)) ** 2))).lower(jnp.ones((4, 4))).compile()
    assert pooled.as_text().count("conditional(") >= 2  # the max and its position; the incoming gradient


def test_max_pool_second_derivatives_through_the_barriers():
    x = jax.random.normal(jax.random.key(0), (2, 4, 6), jnp.float64)  # distinct values: no ties
    pool = lambda x: jnp.sum(jnp.tanh(ck.max_pool(x, (2, 2))) ** 2)
    ref = lambda x: jnp.sum(jnp.tanh(lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2), (1, 2, 2), "VALID")) ** 2)
    np.testing.assert_allclose(jax.hessian(pool)(x), jax.hessian(ref)(x), rtol=1e-12, atol=1e-14)


def test_max_pool_large_windows_index_past_int8():
    x = jax.random.normal(jax.random.key(1), (2, 24, 24), jnp.float64)  # 144 positions per window
    g = jax.grad(lambda x: jnp.sum(ck.max_pool(x, (12, 12))))(x)
    ref = jax.grad(lambda x: jnp.sum(lax.reduce_window(x, -jnp.inf, lax.max, (1, 12, 12), (1, 12, 12), "VALID")))(x)
    np.testing.assert_array_equal(g, ref)
