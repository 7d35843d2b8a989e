"""Catalogue distance layers (issue 15): Euclidean, WeightedEuclidean, Cosine, Kmeans, against numpy
transcriptions of the torch7 Lua code (torch has no layer with their parameters)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn

R = np.random.default_rng(0)
TOL = 1e-10


def _x(*s):
    return R.standard_normal(s)


def _euclid_lua(x, w, c, g):
    """(Weighted)Euclidean.lua: y_j = ||c_j*(x - w_j)||; gradInput = sum_j c_j^2 (x - w_j) g_j / (y_j + 1e-7)."""
    d = x[:, :, None] - w[None]                        # (B, in, out)
    y = np.sqrt(((c * d) ** 2).sum(axis=1))            # (B, out)
    gin = (c ** 2 * d * (g / (y + 1e-7))[:, None, :]).sum(axis=2)
    return y, gin


@pytest.mark.parametrize("weighted", [False, True])
def test_euclidean_matches_the_lua_code(weighted):
    layer = fnn.WeightedEuclidean(3, 4) if weighted else fnn.Euclidean(3, 4)
    _, params = layer.init(jax.random.key(0), (-1, 3), jnp.float64)
    assert params["weight"].shape == (3, 4) and np.abs(params["weight"]).max() <= 1 / np.sqrt(3)
    if weighted:
        np.testing.assert_array_equal(params["diagCov"], np.ones((3, 4)))
        params = {**params, "diagCov": jnp.asarray(_x(3, 4))}
    c = np.asarray(params["diagCov"]) if weighted else 1.0
    x, g = _x(5, 3), _x(5, 4)
    x[0] = np.asarray(params["weight"])[:, 0]          # a zero distance: a zero, finite gradient
    y, pull = jax.vjp(lambda v: layer.apply(params, v), jnp.asarray(x))
    want_y, want_g = _euclid_lua(x, np.asarray(params["weight"]), c, g)
    np.testing.assert_allclose(y, want_y, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(pull(jnp.asarray(g))[0], want_g, rtol=1e-9, atol=TOL)
    np.testing.assert_allclose(layer.apply(params, jnp.asarray(x[1])), want_y[1], rtol=TOL)
    with pytest.raises(fnn.ShapeError, match=r"nn.(Weighted)?Euclidean\(3 -> 4\) expects a 1-D or 2-D input"):
        layer.apply(params, jnp.ones((2, 2, 3)))


def test_cosine_matches_the_lua_code():
    layer = fnn.Cosine(3, 4)
    _, params = layer.init(jax.random.key(0), (-1, 3), jnp.float64)
    w = np.asarray(params["weight"])
    assert w.shape == (4, 3) and np.abs(w).max() <= 1 / np.sqrt(4)   # torch7's fan: out
    x = _x(5, 3)
    want = (x @ w.T) / (np.linalg.norm(w, axis=1) + 1e-12) / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
    np.testing.assert_allclose(layer.apply(params, jnp.asarray(x)), want, rtol=TOL)
    # Lua's gradInput: w_j / (|w_j| |x|) - y_j x / |x|^2, summed against gradOutput
    g = _x(4)
    xn, wn = np.linalg.norm(x[0]), np.linalg.norm(w, axis=1)
    lua = ((w / wn[:, None] / xn - want[0][:, None] * x[0][None] / xn ** 2) * g[:, None]).sum(0)
    got = jax.grad(lambda v: jnp.sum(layer.apply(params, v) * g))(jnp.asarray(x[0]))
    np.testing.assert_allclose(got, lua, rtol=1e-9)
    with pytest.raises(fnn.ShapeError, match=r"nn.Cosine\(3 -> 4\)"):
        layer.init(jax.random.key(0), (-1, 2))


def _kmeans_lua(x, c, scale):
    """Kmeans.lua: nearest centroid (first on ties), loss = sum of min squared distances,
    gradWeight = -scale * sum_{i->k}(x_i - c_k) / (n_k + 1e-7); updateParameters(1) subtracts it."""
    d2 = ((x[None] - c[:, None]) ** 2).sum(-1)            # (k, B)
    idx = d2.argmin(0)
    counts = np.bincount(idx, minlength=len(c)).astype(float)
    grad = np.zeros_like(c)
    for i, k in enumerate(idx):
        grad[k] += -scale * (x[i] - c[k])
    grad /= (counts + 1e-7)[:, None]
    return idx, d2.min(0).sum(), counts, c - grad


def test_kmeans_matches_the_lua_update():
    init, apply = fnn.Kmeans(3, 2, 0.5).stateful
    _, params, state = init(jax.random.key(1), (-1, 2), jnp.float64)
    assert params == () and np.abs(state["weight"]).max() <= 1
    c = _x(3, 2)
    state = {**state, "weight": jnp.asarray(c)}
    x = _x(8, 2)
    idx, new = apply(params, state, jnp.asarray(x), train=True)
    want_idx, loss, counts, want_c = _kmeans_lua(x, c, 0.5)
    np.testing.assert_array_equal(idx, want_idx)
    assert idx.dtype == jnp.int32
    np.testing.assert_allclose(new["weight"], want_c, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(new["cluster_sample_count"], counts)
    assert float(new["loss"]) == pytest.approx(loss, rel=1e-12)
    idx2, same = apply(params, state, jnp.asarray(x))
    np.testing.assert_array_equal(idx2, want_idx)
    np.testing.assert_array_equal(same["weight"], c)
    with pytest.raises(fnn.ShapeError, match=r"nn.Kmeans\(3, 2\) expects a 2-D input"):
        apply(params, state, jnp.ones(2))
    with pytest.raises(fnn.ConfigError, match="nn.Kmeans"):
        fnn.Kmeans(0, 2)


def test_kmeans_initialisers_pick_samples():
    x = jnp.asarray(_x(10, 2))
    c = fnn.kmeans_init_random(x, 4, jax.random.key(0))
    assert all(any(np.array_equal(r, s) for s in np.asarray(x)) for r in np.asarray(c))
    far = fnn.kmeans_init_plus(x, 3, jax.random.key(1), p=1.0)   # p = 1: always the farthest sample
    d = ((np.asarray(x) - np.asarray(far[0])) ** 2).sum(1)
    np.testing.assert_array_equal(far[1], np.asarray(x)[d.argmax()])
    with pytest.raises(fnn.ShapeError, match="kmeans_init_plus expects"):
        fnn.kmeans_init_plus(x, 11, jax.random.key(0))
