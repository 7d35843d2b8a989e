"""Catalogue wrappers (issue 15): Bottle and CriterionTable, against the Lua code's semantics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn

R = np.random.default_rng(0)


def test_bottle_folds_and_unfolds_the_leading_dims():
    lin = fnn.Linear(4, 3)
    init, apply = fnn.Bottle(lin)
    out_shape, params = init(jax.random.key(0), (-1, 5, 4), jnp.float64)
    assert out_shape == (-1, 5, 3)
    x = jnp.asarray(R.standard_normal((2, 3, 5, 4)))
    # Bottle.lua: view (2*3*5, 4), run, view back (2, 3, 5, 3)
    want = np.reshape(lin.apply(params[0], jnp.reshape(x, (30, 4))), (2, 3, 5, 3))
    np.testing.assert_allclose(apply(params, x), want, rtol=1e-12)
    np.testing.assert_allclose(apply(params, x[0, 0]), lin.apply(params[0], x[0, 0]), rtol=1e-12)
    # nOutputDim != nInputDim: Sum over the features of (B, n) gives (B,)
    y = fnn.Bottle(fnn.Sum(1), 2, 1).apply(((),), x)
    np.testing.assert_allclose(y, np.asarray(x).sum(-1), rtol=1e-12)
    with pytest.raises(fnn.ShapeError, match="nn.Bottle expects the module to return 2 dims"):
        fnn.Bottle(fnn.Sum(1)).apply(((),), x)
    with pytest.raises(fnn.ShapeError, match=r"nn.Linear\(4 -> 3\).*inside nn.Bottle, which folds \(2, 5, 6\) into"):
        init(jax.random.key(0), (2, 5, 6))
    assert str(fnn.Bottle(lin)).startswith("nn.Bottle {")


def test_criterion_table_is_the_criterion_with_a_constant_target():
    crit = fnn.ClassNLLCriterion()
    logp = jax.nn.log_softmax(jnp.asarray(R.standard_normal((3, 4))))
    t = jnp.array([0, 3, 1])
    layer = fnn.CriterionTable(crit)
    assert float(layer.apply((), (logp, t))) == pytest.approx(float(crit(logp, t)), rel=1e-12)
    np.testing.assert_allclose(jax.grad(lambda v: layer.apply((), (v, t)))(logp), crit.backward(logp, t), rtol=1e-12)
    mse = fnn.CriterionTable(fnn.MSECriterion())
    x, y = jnp.ones(3), jnp.zeros(3)
    gx, gy = jax.grad(lambda a: mse.apply((), a))((x, y))
    np.testing.assert_allclose(gy, 0)
    np.testing.assert_allclose(gx, 2 * np.ones(3) / 3)
    with pytest.raises(fnn.ShapeError, match=r"nn.CriterionTable\(nn.MSECriterion\) expects a table of 2"):
        mse.apply((), (x,))
    with pytest.raises(fnn.ConfigError, match="nn.CriterionTable"):
        fnn.CriterionTable(3)
