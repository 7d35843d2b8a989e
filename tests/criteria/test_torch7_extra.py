"""torch7's remaining criteria (issue 15): PyTorch parity where torch has the loss (forward +
gradient, float64 1e-10), numpy transcriptions of the Lua code otherwise; errors name the criterion."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.criteria import class_simplex

R = np.random.default_rng(0)
TOL = 1e-10

# The criteria this file tests (tests/criteria/test_parity.py counts them as covered).
TORCH7_EXTRA = {"WeightedMSECriterion", "SpatialAutoCropMSECriterion", "ClassSimplexCriterion",
                "DistanceRatioCriterion", "L1Cost", "ModuleCriterion"}


def _x(*s):
    return R.standard_normal(s)


def _value_and_grad(crit, x, t):
    return jax.value_and_grad(lambda v: crit(v, t))(jax.tree.map(jnp.asarray, x))


def _torch_mse(torch, x, t, reduction="mean"):
    tx = torch.tensor(x, requires_grad=True)
    loss = torch.nn.functional.mse_loss(tx, torch.tensor(t), reduction=reduction)
    loss.backward()
    return loss.item(), tx.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_weighted_mse_weights_the_target_only(torch, reduction):
    w, x, t = _x(3), _x(2, 3), _x(2, 3)
    v, g = _value_and_grad(fnn.WeightedMSECriterion(w, reduction=reduction), x, t)
    tv, tg = _torch_mse(torch, x, t * w, reduction)          # Lua: buffer = target, each row cmul weight
    assert float(v) == pytest.approx(tv, rel=TOL)
    np.testing.assert_allclose(g, tg, rtol=TOL, atol=TOL)
    v2, _ = _value_and_grad(fnn.WeightedMSECriterion(w), x[0], t[0])
    assert float(v2) == pytest.approx(np.mean((x[0] - t[0] * w) ** 2), rel=TOL)
    with pytest.raises(fnn.ShapeError, match="nn.WeightedMSECriterion has weight"):
        fnn.WeightedMSECriterion(np.ones(4))(jnp.asarray(x), jnp.asarray(t))


def test_spatial_autocrop_mse_centre_crops_the_target(torch):
    x, t = _x(2, 3, 2, 3), _x(2, 3, 5, 6)
    v, g = _value_and_grad(fnn.SpatialAutoCropMSECriterion(), x, t)
    # Lua: rowStart = 1 + floor((5 - 2) / 2) = 2 (1-based) -> 0-based 1; colStart = 1 + floor(3/2) -> 1
    tv, tg = _torch_mse(torch, x, t[:, :, 1:3, 1:4])
    assert float(v) == pytest.approx(tv, rel=TOL)
    np.testing.assert_allclose(g, tg, rtol=TOL, atol=TOL)
    v3, _ = _value_and_grad(fnn.SpatialAutoCropMSECriterion(size_average=False), x[0], t[0])
    assert float(v3) == pytest.approx(np.sum((x[0] - t[0, :, 1:3, 1:4]) ** 2), rel=TOL)
    with pytest.raises(fnn.ShapeError, match="nn.SpatialAutoCropMSECriterion expects a target at least as large"):
        fnn.SpatialAutoCropMSECriterion()(jnp.asarray(t), jnp.asarray(x))
    with pytest.raises(fnn.ShapeError, match="nn.SpatialAutoCropMSECriterion expects input and target of one rank"):
        fnn.SpatialAutoCropMSECriterion()(jnp.ones((2, 2)), jnp.ones((2, 2)))


def test_class_simplex_is_a_regular_simplex_and_the_loss_is_mse_to_it():
    s = class_simplex(5)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1, rtol=1e-12)
    dots = s @ s.T
    np.testing.assert_allclose(dots[~np.eye(5, dtype=bool)], -1 / 4, rtol=1e-12)
    np.testing.assert_allclose(s.sum(0), 0, atol=1e-12)
    x, t = _x(3, 5), np.array([4, 0, 2])
    v, g = _value_and_grad(fnn.ClassSimplexCriterion(5), x, t)
    assert float(v) == pytest.approx(np.mean((x - s[t]) ** 2), rel=TOL)
    np.testing.assert_allclose(g, 2 * (x - s[t]) / x.size, rtol=TOL)
    one = fnn.ClassSimplexCriterion(5)(jnp.asarray(x[0]), 4)
    assert float(one) == pytest.approx(np.mean((x[0] - s[4]) ** 2), rel=TOL)
    with pytest.raises(fnn.IndexRangeError, match="nn.ClassSimplexCriterion"):
        fnn.ClassSimplexCriterion(5)(jnp.asarray(x), jnp.array([5, 0, 0]))
    with pytest.raises(fnn.ShapeError, match="nn.ClassSimplexCriterion expects input"):
        fnn.ClassSimplexCriterion(4)(jnp.asarray(x), jnp.asarray(t))
    with pytest.raises(fnn.ConfigError, match="nn.ClassSimplexCriterion"):
        fnn.ClassSimplexCriterion(1)


def test_distance_ratio_matches_the_lua_formulas():
    ds, dd = R.uniform(0, 2, 4), R.uniform(0, 2, 4)
    crit = fnn.DistanceRatioCriterion()
    v, (gs, gd) = _value_and_grad(crit, (ds, dd), None)
    ex, ey = np.exp(-ds), np.exp(-dd)
    assert float(v) == pytest.approx(np.sum(ds + np.log(ex + ey)) / 4, rel=TOL)
    # Lua: dX = 1 - e^-X / (e^-X + e^-Y), dY = -e^-Y / (e^-X + e^-Y), divided by B
    np.testing.assert_allclose(gs, (1 - ex / (ex + ey)) / 4, rtol=TOL)
    np.testing.assert_allclose(gd, -ey / (ex + ey) / 4, rtol=TOL)
    total = fnn.DistanceRatioCriterion(size_average=False)((jnp.asarray(ds), jnp.asarray(dd)))
    assert float(total) == pytest.approx(4 * float(v), rel=TOL)
    with pytest.raises(fnn.ShapeError, match="nn.DistanceRatioCriterion expects a table"):
        crit(jnp.asarray(ds), None)
    with pytest.raises(fnn.ShapeError, match="nn.DistanceRatioCriterion expects two distance arrays"):
        crit((jnp.asarray(ds), jnp.asarray(dd[:3])), None)


def test_l1_cost():
    x = np.array([[1.5, -2.0], [0.0, 3.0]])
    v, g = _value_and_grad(fnn.L1Cost(), x, None)
    assert float(v) == 6.5
    np.testing.assert_array_equal(g, np.sign(x))
    assert float(fnn.L1Cost(reduction="mean")(jnp.asarray(x))) == 6.5 / 4
    np.testing.assert_array_equal(fnn.L1Cost().backward(jnp.asarray(x)), np.sign(x))
    with pytest.raises(fnn.ShapeError, match="nn.MSECriterion expects a target, got None"):
        fnn.MSECriterion()(jnp.asarray(x))


def test_module_criterion_runs_the_modules_first(torch):
    crit = fnn.ModuleCriterion(fnn.ClassNLLCriterion(), fnn.LogSoftMax())
    x, t = _x(3, 4), np.array([1, 3, 0])
    v, g = _value_and_grad(crit, x, jnp.asarray(t))
    tx = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tx, torch.tensor(t))
    tl.backward()
    assert float(v) == pytest.approx(tl.item(), rel=TOL)
    np.testing.assert_allclose(g, tx.grad.numpy(), rtol=TOL, atol=TOL)
    both = fnn.ModuleCriterion(fnn.MSECriterion(), fnn.Tanh(), fnn.MulConstant(2.0))
    y = _x(3, 4)
    assert float(both(jnp.asarray(x), jnp.asarray(y))) == pytest.approx(np.mean((np.tanh(x) - 2 * y) ** 2), rel=TOL)
    assert both.with_reduction("sum")(jnp.asarray(x), jnp.asarray(y)) == pytest.approx(
        np.sum((np.tanh(x) - 2 * y) ** 2), rel=TOL)
    with pytest.raises(fnn.ConfigError, match="nn.ModuleCriterion: nn.Linear.*parameter-free"):
        fnn.ModuleCriterion(fnn.MSECriterion(), fnn.Linear(4, 4))(jnp.asarray(x), jnp.asarray(y))
    with pytest.raises(fnn.ConfigError, match="nn.ModuleCriterion: criterion"):
        fnn.ModuleCriterion(fnn.Tanh())


def test_every_name_of_this_file_is_a_criterion():
    assert set(fnn.CRITERION_NAMES) >= TORCH7_EXTRA
