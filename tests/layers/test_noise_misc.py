"""Catalogue layers (issue 15): RReLU, WhiteNoise, GradientReversal, L1Penalty, Constant, OneHot,
Collapse, CReLU, Maxout, LayerNormalization. PyTorch parity where torch has the
layer, else a numpy transcription of the torch7 Lua code."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from tests.layers._parity import TOL, assert_parity

R = np.random.default_rng(0)


def _x(*s):
    return R.standard_normal(s)


# --------------------------------------------------------------------------- random layers


def test_rrelu_eval_matches_torch(torch):
    x = _x(3, 4)
    assert_parity(torch, lambda v: fnn.RReLU(0.1, 0.3).apply((), v),
                  lambda v: torch.nn.RReLU(0.1, 0.3).eval()(v), x)


def test_rrelu_train_draws_one_slope_per_negative_element():
    x = -jnp.ones((200,), jnp.float64)
    y = fnn.RReLU(0.2, 0.4).apply((), x, rng=jax.random.key(1), train=True)
    slopes = -np.asarray(y)
    assert slopes.min() >= 0.2 and slopes.max() <= 0.4 and len(set(slopes.tolist())) > 100
    same = fnn.RReLU(0.2, 0.4).apply((), x, rng=jax.random.key(1), train=True)
    np.testing.assert_array_equal(y, same)
    pos = fnn.RReLU().apply((), jnp.ones(3), rng=jax.random.key(0), train=True)
    np.testing.assert_array_equal(pos, np.ones(3))
    with pytest.raises(fnn.MissingRNGError, match="nn.RReLU"):
        fnn.RReLU().apply((), x, train=True)
    with pytest.raises(fnn.ConfigError, match="nn.RReLU"):
        fnn.RReLU(0.5, 0.1)


def test_white_noise():
    x = jnp.zeros((4000,), jnp.float64)
    y = np.asarray(fnn.WhiteNoise(1.0, 0.5).apply((), x, rng=jax.random.key(0), train=True))
    assert abs(y.mean() - 1.0) < 0.05 and abs(y.std() - 0.5) < 0.05
    np.testing.assert_array_equal(fnn.WhiteNoise(1.0, 0.5).apply((), x[:3]), [1, 1, 1])
    g = jax.grad(lambda v: fnn.WhiteNoise().apply((), v, rng=jax.random.key(0), train=True).sum())(x[:3])
    np.testing.assert_array_equal(g, [1, 1, 1])
    with pytest.raises(fnn.MissingRNGError, match="nn.WhiteNoise"):
        fnn.WhiteNoise().apply((), x, train=True)
    with pytest.raises(fnn.ConfigError, match="nn.WhiteNoise"):
        fnn.WhiteNoise(0, -1)


# --------------------------------------------------------------------------- gradient-side layers


def test_gradient_reversal():
    x, g = _x(2, 3), _x(2, 3)
    y, pull = jax.vjp(lambda v: fnn.GradientReversal(2.5).apply((), v), jnp.asarray(x))
    np.testing.assert_array_equal(y, x)
    np.testing.assert_allclose(pull(jnp.asarray(g))[0], -2.5 * g, rtol=TOL)


@pytest.mark.parametrize("size_average, provide_output", [(False, True), (True, True), (False, False)])
def test_l1_penalty_matches_the_lua_backward(size_average, provide_output):
    x, g = _x(2, 3), _x(2, 3)
    x[0, 0] = 0.0
    layer = fnn.L1Penalty(0.3, size_average, provide_output)
    y, pull = jax.vjp(lambda v: layer.apply((), v), jnp.asarray(x))
    # Lua: gradInput = sign(x) * m (+ gradOutput when provideOutput), m = l1weight (/ numel)
    m = 0.3 / x.size if size_average else 0.3
    expected = np.sign(x) * m + (g if provide_output else 0)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_allclose(pull(jnp.asarray(g))[0], expected, rtol=TOL, atol=TOL)
    assert float(fnn.l1_penalty(jnp.asarray(x), 0.3, size_average)) == pytest.approx(m * np.abs(x).sum())


# --------------------------------------------------------------------------- misc


def test_constant_replicates_over_a_batch_and_has_zero_gradient():
    v = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(fnn.Constant(v, 2).apply((), jnp.ones((3, 4, 5))), np.broadcast_to(v, (3, 1, 2)))
    np.testing.assert_array_equal(fnn.Constant(v, 2).apply((), jnp.ones((4, 5))), v)
    np.testing.assert_array_equal(fnn.Constant(7).apply((), jnp.ones((4, 5))), [7.0])
    g = jax.grad(lambda x: fnn.Constant(v, 1).apply((), x).sum())(jnp.ones((3, 2)))
    np.testing.assert_array_equal(g, np.zeros((3, 2)))
    with pytest.raises(fnn.ConfigError, match="nn.Constant"):
        fnn.Constant("a")


def test_one_hot_matches_torch_and_checks_the_range(torch):
    idx = np.array([[0, 3], [2, 1]])
    y = fnn.OneHot(4).apply((), jnp.asarray(idx))
    np.testing.assert_array_equal(y, torch.nn.functional.one_hot(torch.tensor(idx), 4).numpy())
    assert y.dtype == jnp.float32
    with pytest.raises(fnn.IndexRangeError, match=r"nn.OneHot\(4\).*\[0, 4\).*got 4"):
        fnn.OneHot(4).apply((), jnp.array([4]))
    with pytest.raises(fnn.DTypeError, match="nn.OneHot"):
        fnn.OneHot(4).apply((), jnp.array([1.0]))


def test_collapse():
    x = jnp.asarray(_x(2, 3, 4))
    np.testing.assert_array_equal(fnn.Collapse(2).apply((), x), np.reshape(x, (2, 12)))
    np.testing.assert_array_equal(fnn.Collapse(3).apply((), x), np.reshape(x, (24,)))


@pytest.mark.parametrize("min_k, factor, shape", [(2, 0.0, (5, 3)), (2, 0.7, (2, 6, 3))])
def test_temporal_dynamic_k_max_pooling_matches_torch_topk(torch, min_k, factor, shape):
    x = _x(*shape)
    k = max(min_k, int(np.ceil(factor * shape[-2])))

    def ref(v):  # the Lua code: sort descending, keep k indices, sort them, gather
        idx = torch.topk(v, k, dim=-2).indices.sort(dim=-2).values
        return torch.gather(v, -2, idx)

    assert_parity(torch, lambda v: fnn.TemporalDynamicKMaxPooling(min_k, factor).apply((), v), ref, x)
    with pytest.raises(fnn.ShapeError, match=r"nn.TemporalDynamicKMaxPooling\(6, 0\) needs a sequence of at least 6"):
        fnn.TemporalDynamicKMaxPooling(6).apply((), jnp.ones((5, 3)))
    with pytest.raises(fnn.ShapeError, match="nn.TemporalDynamicKMaxPooling.*2-D or 3-D"):
        fnn.TemporalDynamicKMaxPooling(1).apply((), jnp.ones(5))


# --------------------------------------------------------------------------- composites


def _crelu_lua(x, n_input_dims):
    """CReLU.lua: view as (B, -1), JoinTable(2) of {x, -x}, ReLU, resize with dim 1 (or 2) doubled."""
    batched = x.ndim == n_input_dims + 1
    flat = x.reshape(x.shape[0], -1) if batched else x.reshape(1, -1)
    out = np.maximum(np.concatenate([flat, -flat], axis=1), 0)
    size = list(x.shape)
    size[1 if batched else 0] *= 2
    return out.reshape(size)


@pytest.mark.parametrize("shape, nid", [((2, 3, 2), 2), ((3, 2), 2), ((4,), 1)])
def test_crelu_matches_the_lua_chain(shape, nid):
    x = _x(*shape)
    np.testing.assert_allclose(fnn.CReLU(nid).apply((), jnp.asarray(x)), _crelu_lua(x, nid), rtol=TOL)
    with pytest.raises(fnn.ShapeError, match="nn.CReLU"):
        fnn.CReLU(1).apply((), jnp.float64(1.0))


def test_maxout_matches_linear_view_max():
    init, apply = fnn.Maxout(3, 2, 4)
    _, params = init(jax.random.key(0), (-1, 3), jnp.float64)
    x = _x(5, 3)
    lin = x @ np.asarray(params[0]["weight"]).T + np.asarray(params[0]["bias"])
    np.testing.assert_allclose(apply(params, jnp.asarray(x)), lin.reshape(5, 4, 2).max(axis=1), rtol=TOL)
    np.testing.assert_allclose(apply(params, jnp.asarray(x[0])), lin[0].reshape(4, 2).max(axis=0), rtol=TOL)
    with pytest.raises(fnn.ShapeError, match=r"nn.Maxout\(3 -> 2, 4 pieces\) expects input \(3\) or \(B, 3\)"):
        init(jax.random.key(0), (-1, 4))
    with pytest.raises(fnn.ShapeError, match=r"nn.Maxout.*got \(2, 2, 3\)"):
        apply(params, jnp.ones((2, 2, 3)))


def _layer_norm_lua(x, eps, gain, bias):
    """LayerNormalization.lua on one example: x - mean, Normalize(2, eps), * sqrt(n), CMul, Add."""
    d = x - x.mean()
    return d / (np.sum(np.abs(d) ** 2) + eps) ** 0.5 * np.sqrt(x.size) * gain + bias


def test_layer_normalization_matches_the_lua_chain():
    init, apply = fnn.LayerNormalization(5, bias=0.25, eps=1e-3)
    _, params = init(jax.random.key(0), (-1, 5), jnp.float64)
    np.testing.assert_array_equal(params["weight"], np.ones(5))
    np.testing.assert_array_equal(params["bias"], np.full(5, 0.25))
    params = {"weight": jnp.asarray(_x(5)), "bias": jnp.asarray(_x(5))}
    x = _x(3, 5)
    want = np.stack([_layer_norm_lua(r, 1e-3, params["weight"], params["bias"]) for r in x])
    np.testing.assert_allclose(apply(params, jnp.asarray(x)), want, rtol=1e-9, atol=TOL)
    plain = fnn.LayerNormalization(5, affine=False)
    np.testing.assert_allclose(plain.apply(plain.init(jax.random.key(0), (5,))[1], jnp.asarray(x[0])),
                               _layer_norm_lua(x[0], 1e-10, 1.0, 0.0), rtol=1e-9)
    with pytest.raises(fnn.ShapeError, match=r"nn.LayerNormalization\(5\) expects input \(..., 5\)"):
        init(jax.random.key(0), (-1, 4))
