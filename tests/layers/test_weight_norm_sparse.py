"""Catalogue linear variants (issue 15): LinearWeightNorm, WeightNorm, PartialLinear, SparseLinear,
IndexLinear. PyTorch parity (forward + gradients, float64 1e-10) where torch has the op; numpy
transcriptions of the Lua code otherwise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from tests.layers._parity import TOL, torch_vjp

R = np.random.default_rng(0)


def _x(*s):
    return R.standard_normal(s)


def test_linear_weight_norm_matches_torch_weight_norm(torch):
    layer = fnn.LinearWeightNorm(3, 4)
    _, params = layer.init(jax.random.key(0), (-1, 3), jnp.float64)
    # torch7's init: v is a Linear weight, g its row norms, so the layer starts as that Linear
    np.testing.assert_allclose(params["g"][:, 0], np.linalg.norm(params["v"], axis=1), rtol=TOL)
    params = {"v": jnp.asarray(_x(4, 3)), "g": jnp.asarray(_x(4, 1)), "bias": jnp.asarray(_x(4))}
    x, gout = _x(5, 3), _x(5, 4)
    lin = torch.nn.Linear(3, 4)
    wn = torch.nn.utils.parametrizations.weight_norm(lin, dim=0)
    with torch.no_grad():
        wn.parametrizations.weight.original0.copy_(torch.tensor(np.asarray(params["g"])))
        wn.parametrizations.weight.original1.copy_(torch.tensor(np.asarray(params["v"])))
        wn.bias.copy_(torch.tensor(np.asarray(params["bias"])))
    tx = torch.tensor(x, requires_grad=True)
    ty = wn(tx)
    ty.backward(torch.tensor(gout))
    y, pull = jax.vjp(lambda p, v: layer.apply(p, v), params, jnp.asarray(x))
    gp, gx = pull(jnp.asarray(gout))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(gp["g"], wn.parametrizations.weight.original0.grad.numpy(), rtol=1e-9, atol=TOL)
    np.testing.assert_allclose(gp["v"], wn.parametrizations.weight.original1.grad.numpy(), rtol=1e-9, atol=TOL)
    np.testing.assert_allclose(gp["bias"], wn.bias.grad.numpy(), rtol=TOL, atol=TOL)
    w = fnn.layers.linear_weight_norm_weight(params)
    back = fnn.layers.linear_weight_norm_params(w)
    np.testing.assert_allclose(fnn.layers.linear_weight_norm_weight(back), w, rtol=TOL)
    with pytest.raises(fnn.ShapeError, match=r"nn.LinearWeightNorm\(3 -> 4\) expects input \(..., 3\)"):
        layer.apply(params, jnp.ones((2, 2)))


def _weight_norm_lua(v, g, shape, out_dim):
    """WeightNorm.lua updateWeight: w = v * g / sqrt(|v|^2 + 1e-4), viewed back with out_dim moved home."""
    w = v * (g / np.sqrt((v ** 2).sum(1) + 1e-4))[:, None]
    moved = (shape[out_dim],) + tuple(s for i, s in enumerate(shape) if i != out_dim)
    return np.moveaxis(w.reshape(moved), 0, out_dim)


@pytest.mark.parametrize("make, shape, out_dim, wshape", [
    (lambda: fnn.Linear(3, 4), (5, 3), 0, (4, 3)),
    (lambda: fnn.Linear(3, 4), (5, 3), 1, (4, 3)),
    (lambda: fnn.SpatialConvolution(2, 3, 2, 2), (1, 2, 4, 4), 0, (3, 2, 2, 2)),
])
def test_weight_norm_matches_the_lua_code(make, shape, out_dim, wshape):
    inner, layer = make(), fnn.WeightNorm(make(), out_dim)
    _, params = layer.init(jax.random.key(0), shape, jnp.float64)
    n = wshape[out_dim]
    assert params["v"].shape == (n, int(np.prod(wshape)) // n)
    np.testing.assert_allclose(params["g"], np.linalg.norm(params["v"], axis=1), rtol=TOL)
    np.testing.assert_array_equal(params["bias"], np.zeros_like(params["bias"]))
    params = {**params, "g": jnp.asarray(_x(n)), "bias": jnp.asarray(_x(*params["bias"].shape))}
    x = jnp.asarray(_x(*shape))
    w = _weight_norm_lua(np.asarray(params["v"]), np.asarray(params["g"]), wshape, out_dim)
    want = inner.apply({"weight": jnp.asarray(w), "bias": params["bias"]}, x)
    np.testing.assert_allclose(layer.apply(params, x), want, rtol=TOL, atol=TOL)
    with pytest.raises(fnn.ShapeError, match=r"expects input.*inside nn.WeightNorm\(nn.Linear\(3 -> 4\)\)"):
        fnn.WeightNorm(fnn.Linear(3, 4)).init(jax.random.key(0), (2, 5))
    with pytest.raises(fnn.ConfigError, match="nn.WeightNorm.*'weight' param"):
        fnn.WeightNorm(fnn.ReLU()).init(jax.random.key(0), (2, 3))


def test_partial_linear_is_a_slice_of_the_full_layer(torch):
    full = fnn.PartialLinear(3, 5)
    _, params = full.init(jax.random.key(0), (-1, 3), jnp.float64)
    assert params["bias"].shape == (1, 5) and not np.any(params["bias"])
    params = {**params, "bias": jnp.asarray(_x(1, 5))}
    part = [4, 0, 4]
    x, g = _x(2, 3), _x(2, 3)
    w, b = np.asarray(params["weight"]), np.asarray(params["bias"])
    y, gx = torch_vjp(torch, lambda v: torch.nn.functional.linear(v, torch.tensor(w[part]), torch.tensor(b[0, part])),
                      x, g)
    fy, pull = jax.vjp(lambda v: fnn.PartialLinear(3, 5, partition=part).apply(params, v), jnp.asarray(x))
    np.testing.assert_allclose(fy, y, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(pull(jnp.asarray(g))[0], gx, rtol=TOL, atol=TOL)
    with pytest.raises(fnn.ConfigError, match="nn.PartialLinear: partition"):
        fnn.PartialLinear(3, 5, partition=[5])


def test_sparse_linear_equals_the_dense_product():
    layer = fnn.SparseLinear(6, 3)
    _, params = layer.init(jax.random.key(0), (-1, 4, 2), jnp.float64)
    assert np.abs(params["bias"]).max() <= 1e-6 / np.sqrt(6)
    w, b = np.asarray(params["weight"]), np.asarray(params["bias"])

    def dense(pairs):
        v = np.zeros(6)
        for i, val in pairs:
            v[int(i)] += val          # a repeated index adds up
        return b + w @ v

    a = np.array([[1.0, 0.5], [4.0, -2.0], [1.0, 1.5]])
    c = np.array([[0.0, 3.0]])
    np.testing.assert_allclose(layer.apply(params, jnp.asarray(a)), dense(a), rtol=TOL)
    table = layer.apply(params, (jnp.asarray(a), jnp.asarray(c)))
    np.testing.assert_allclose(table, np.stack([dense(a), dense(c)]), rtol=TOL)
    legacy = layer.apply(params, jnp.asarray(np.stack([a, a[::-1]])))
    np.testing.assert_allclose(legacy, np.stack([dense(a), dense(a)]), rtol=TOL)
    gv = jax.grad(lambda p: layer.apply(p, jnp.asarray(a)).sum())(params)["weight"]
    np.testing.assert_allclose(np.asarray(gv)[:, [0, 2, 3, 5]], 0)       # untouched columns
    with pytest.raises(fnn.IndexRangeError, match=r"nn.SparseLinear\(6 -> 3\) index out of range \[0, 6\): got 6"):
        layer.apply(params, jnp.array([[6.0, 1.0]]))
    with pytest.raises(fnn.ShapeError, match=r"nn.SparseLinear\(6 -> 3\) expects \[index, value\] rows"):
        layer.apply(params, jnp.ones((2, 3)))


def test_index_linear_matches_torch_embedding_bag(torch):
    layer = fnn.IndexLinear(6, 3, False, -1)       # torch7's argument order; 1-based keys
    _, params = layer.init(jax.random.key(0), ((-1, 4), (-1, 4)), (jnp.int32, jnp.float64))
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    keys = R.integers(1, 7, (2, 4))
    vals, g = _x(2, 4), _x(2, 3)
    w, b = np.asarray(params["weight"]), np.asarray(params["bias"])
    tw = torch.tensor(w, requires_grad=True)
    tv = torch.tensor(vals, requires_grad=True)
    ty = torch.nn.functional.embedding_bag(torch.tensor(keys - 1), tw, per_sample_weights=tv, mode="sum")
    ty = ty + torch.tensor(b)
    ty.backward(torch.tensor(g))
    y, pull = jax.vjp(lambda p, v: layer.apply(p, (jnp.asarray(keys), v)), params, jnp.asarray(vals))
    gp, gv = pull(jnp.asarray(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(gv, tv.grad.numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(gp["weight"], tw.grad.numpy(), rtol=TOL, atol=TOL)
    with pytest.raises(fnn.IndexRangeError, match=r"nn.IndexLinear\(6 -> 3\) index out of range"):
        layer.apply(params, (jnp.array([0]), jnp.array([1.0])))
    with pytest.raises(fnn.DTypeError, match="nn.IndexLinear.*integer keys"):
        layer.apply(params, (jnp.array([1.0]), jnp.array([1.0])))
    given = fnn.IndexLinear(6, 3, weight=w, bias=b)
    _, p2 = given.init(jax.random.key(1), ((4,), (4,)), (jnp.int32, jnp.float64))
    np.testing.assert_allclose(p2["weight"], w)
    with pytest.raises(fnn.ConfigError, match="nn.IndexLinear: normalize"):
        fnn.IndexLinear(6, 3, normalize=True)
