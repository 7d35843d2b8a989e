"""The extra pooling layers and max unpooling (fnn/layers/_pool_extra.py, _unpool.py): PyTorch parity
(forward, indices and gradients, float64) where PyTorch has the layer, numpy transcriptions of the
torch7/THNN code otherwise, the rng/train contract of fractional pooling, and the errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError, DTypeError, IndexRangeError, MissingRNGError, ShapeError
from tests.layers.test_conv import randn, torch_parity


def _grad_parity(torch, module, ref, x):
    """The input gradient of the first output of a ``return_indices`` layer equals torch's."""
    g = np.random.RandomState(7).standard_normal(ref(torch.tensor(x)).shape)
    gx = jax.vjp(lambda v: module.apply((), v)[0], jnp.asarray(x))[1](jnp.asarray(g))[0]
    xt = torch.tensor(x, requires_grad=True)
    ref(xt).backward(torch.tensor(g))
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- PyTorch parity

PARITY = [
    ("dilated-2d", lambda: fnn.SpatialDilatedMaxPooling(3, 2, 2, 1, 1, 1, 2, 1),
     lambda t: t.nn.MaxPool2d((2, 3), (1, 2), (1, 1), (1, 2)), (2, 2, 6, 7)),
    ("dilated-2d-ceil", lambda: fnn.SpatialDilatedMaxPooling(2, 2, 2, 2, 0, 0, 2, 2, True),
     lambda t: t.nn.MaxPool2d(2, 2, 0, 2, ceil_mode=True), (2, 6, 7)),
    ("dilated-3d", lambda: fnn.VolumetricDilatedMaxPooling(2, 2, 2, 1, 2, 1, 1, 0, 1, 2, 1, 1),
     lambda t: t.nn.MaxPool3d(2, (1, 1, 2), (1, 1, 0), (2, 1, 1)), (2, 1, 4, 5, 5)),
    ("lp1", lambda: fnn.LPPool1d(2, 3, 2), lambda t: t.nn.LPPool1d(2, 3, 2), (2, 3, 8)),
    ("lp2", lambda: fnn.LPPool2d(3, 2, ceil_mode=True), lambda t: t.nn.LPPool2d(3, 2, ceil_mode=True), (2, 5, 5)),
    ("lp3", lambda: fnn.LPPool3d(2, (1, 2, 2)), lambda t: t.nn.LPPool3d(2, (1, 2, 2)), (1, 2, 2, 4, 4)),
]


@pytest.mark.parametrize("make,ref,shape", [p[1:] for p in PARITY], ids=[p[0] for p in PARITY])
def test_torch_parity(torch, make, ref, shape):
    x = randn(*shape)
    if make().name.startswith("nn.LPPool"):
        x = np.abs(x) + 0.1  # torch's sign()/relu() path: the same function for positive sums
    torch_parity(torch, make(), ref(torch), x)


INDICES = [  # (fnn pooling with return_indices, torch pooling, fnn unpooling, torch unpooling, shape)
    ("spatial", lambda: fnn.SpatialMaxPooling(2, 2, return_indices=True), lambda t: t.nn.MaxPool2d(2),
     lambda p: fnn.SpatialMaxUnpooling(p), lambda t: t.nn.MaxUnpool2d(2), (2, 2, 4, 6)),
    ("spatial-pad", lambda: fnn.SpatialMaxPooling(3, 2, 2, 2, 1, 1, return_indices=True),
     lambda t: t.nn.MaxPool2d((2, 3), 2, 1), lambda p: fnn.SpatialMaxUnpooling(p),
     lambda t: t.nn.MaxUnpool2d((2, 3), 2, 1), (2, 4, 7)),
    ("volumetric", lambda: fnn.VolumetricMaxPooling(2, 2, 2, return_indices=True), lambda t: t.nn.MaxPool3d(2),
     lambda p: fnn.VolumetricMaxUnpooling(p), lambda t: t.nn.MaxUnpool3d(2), (1, 2, 4, 4, 4)),
    ("pool1d", lambda: fnn.MaxPool1d(3, 3, 1, return_indices=True), lambda t: t.nn.MaxPool1d(3, 3, 1),
     lambda p: fnn.MaxUnpool1d(3, 3, 1), lambda t: t.nn.MaxUnpool1d(3, 3, 1), (2, 2, 7)),
    ("pool2d-dil", lambda: fnn.MaxPool2d(2, 1, 1, dilation=2, return_indices=True),
     lambda t: t.nn.MaxPool2d(2, 1, 1, 2), None, None, (2, 2, 5, 5)),
    ("pool3d-ceil", lambda: fnn.MaxPool3d(2, ceil_mode=True, return_indices=True),
     lambda t: t.nn.MaxPool3d(2, ceil_mode=True), lambda p: fnn.MaxUnpool3d(2), lambda t: t.nn.MaxUnpool3d(2),
     (2, 3, 3, 4)),
]


@pytest.mark.parametrize("pool,tpool,unpool,tunpool,shape", [p[1:] for p in INDICES], ids=[p[0] for p in INDICES])
def test_indices_and_unpooling_match_torch(torch, pool, tpool, unpool, tunpool, shape):
    x = randn(*shape)
    p = pool()
    y, idx = p.apply((), jnp.asarray(x))
    yt, it = _torch_pool(torch, tpool(torch), x)
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(idx, it.numpy())
    assert idx.dtype == jnp.int32
    _grad_parity(torch, p, lambda xt: _torch_pool(torch, tpool(torch), xt)[0], x)
    if unpool is None:
        return
    u = unpool(p)
    np.testing.assert_allclose(u.apply((), (y, idx)), tunpool(torch)(yt, it).numpy(), rtol=1e-12, atol=0)
    g = np.random.RandomState(3).standard_normal(tunpool(torch)(yt, it).shape)
    gx = jax.vjp(lambda v: u.apply((), (v, idx)), y)[1](jnp.asarray(g))[0]
    yv = yt.clone().requires_grad_(True)
    tunpool(torch)(yv, it).backward(torch.tensor(g))
    np.testing.assert_allclose(gx, yv.grad.numpy(), rtol=1e-12, atol=0)


def _torch_pool(torch, module, x):
    module.return_indices = True
    return module(x if isinstance(x, torch.Tensor) else torch.tensor(x))


def _samples(shape, seed=5):
    return np.random.RandomState(seed).uniform(0, 1, shape)


@pytest.mark.parametrize("nd,kernel,kwargs,shape", [
    (2, (2, 3), {"output_size": (4, 3)}, (2, 3, 7, 8)),
    (2, 2, {"output_ratio": 0.5}, (3, 9, 7)),
    (3, (2, 2, 3), {"output_size": (2, 3, 2)}, (2, 2, 4, 5, 6)),
])
def test_fractional_matches_torch(torch, nd, kernel, kwargs, shape):
    batch = shape[0] if len(shape) == nd + 2 else 1
    u = _samples((batch, shape[-nd - 1], nd))
    make = fnn.FractionalMaxPool2d if nd == 2 else fnn.FractionalMaxPool3d
    tcls = torch.nn.FractionalMaxPool2d if nd == 2 else torch.nn.FractionalMaxPool3d
    ref = tcls(kernel, return_indices=True, _random_samples=torch.tensor(u), **kwargs)
    x = randn(*shape)
    m = make(kernel, return_indices=True, _random_samples=u, **kwargs)
    y, idx = m.apply((), jnp.asarray(x))
    yt, it = ref(torch.tensor(x))
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(idx, it.numpy())
    _grad_parity(torch, m, lambda xt: ref(xt)[0], x)


def test_torch7_fractional_names_reorder_the_samples():
    """torch7's samples are (W, H) in 2-D and (T, W, H) in 3-D; PyTorch's (W, H) and (T, H, W)."""
    x = jnp.asarray(randn(2, 2, 7, 9))
    u = _samples((2, 2, 2))
    a = fnn.SpatialFractionalMaxPooling(2, 3, 4, 3, samples=u).apply((), x)
    b = fnn.FractionalMaxPool2d((3, 2), (3, 4), _random_samples=u).apply((), x)
    np.testing.assert_array_equal(a, b)
    x3 = jnp.asarray(randn(1, 2, 5, 6, 7))
    u3 = _samples((1, 2, 3))
    a = fnn.VolumetricFractionalMaxPooling(2, 3, 2, 3, 4, 3, samples=u3).apply((), x3)
    b = fnn.FractionalMaxPool3d((2, 2, 3), (3, 3, 4), _random_samples=u3[..., [0, 2, 1]]).apply((), x3)
    np.testing.assert_array_equal(a, b)


def test_fractional_rng_contract():
    m = fnn.SpatialFractionalMaxPooling(2, 2, 0.6, 0.6)
    x = jnp.asarray(randn(2, 3, 10, 10))
    with pytest.raises(MissingRNGError, match="SpatialFractionalMaxPooling.*rng=jax.random.key"):
        m.apply((), x, train=True)
    a = m.apply((), x, rng=jax.random.key(0), train=True)
    b = m.apply((), x, rng=jax.random.key(1), train=True)
    assert a.shape == (2, 3, 6, 6) and not np.array_equal(a, b)
    np.testing.assert_array_equal(m.apply((), x, rng=jax.random.key(0), train=True), a)
    half = np.full((2, 3, 2), 0.5)
    np.testing.assert_array_equal(m.apply((), x), fnn.SpatialFractionalMaxPooling(2, 2, 0.6, 0.6, samples=half)
                                  .apply((), x, rng=jax.random.key(3), train=True))


# --------------------------------------------------------------------------- numpy transcriptions


def test_feature_lp_pooling_matches_thnn():
    x = np.abs(randn(2, 7, 3)) + 0.1
    m = fnn.FeatureLPPooling(3, 2, 2.5, batch_mode=True)
    ref = np.stack([np.sum(x[:, o * 2:o * 2 + 3] ** 2.5, axis=1) ** (1 / 2.5) for o in range(3)], axis=1)
    np.testing.assert_allclose(m.apply((), jnp.asarray(x)), ref, rtol=1e-12)
    single = fnn.FeatureLPPooling(3, 2, 2.5).apply((), jnp.asarray(x[1]))
    np.testing.assert_allclose(single, ref[1], rtol=1e-12)


def test_dynamic_k_max_pooling_matches_lua():
    x = randn(2, 6, 3)
    m = fnn.TemporalDynamicKMaxPooling(2, 0.6)  # k = max(2, ceil(0.6 * 6)) = 4
    y = m.apply((), jnp.asarray(x))
    for b in range(2):
        for f in range(3):
            keep = np.sort(np.argsort(-x[b, :, f], kind="stable")[:4])
            np.testing.assert_array_equal(y[b, :, f], x[b, keep, f])
    g = jax.grad(lambda v: jnp.sum(m.apply((), v)))(jnp.asarray(x))
    assert float(jnp.sum(g)) == 2 * 3 * 4 and set(np.unique(g).tolist()) == {0.0, 1.0}


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make,shape,error,match", [
    (lambda: fnn.SpatialDilatedMaxPooling(2, 2, dilW=3), (1, 3, 3), ShapeError, "DilatedMaxPooling.*too small"),
    (lambda: fnn.VolumetricDilatedMaxPooling(2, 2, 2), (3, 3), ShapeError, "VolumetricDilatedMaxPooling"),
    (lambda: fnn.SpatialFractionalMaxPooling(3, 3, 5, 5), (1, 6, 6), ShapeError, "FractionalMaxPooling"),
    (lambda: fnn.VolumetricFractionalMaxPooling(2, 2, 2, 2, 2, 2), (2, 4, 4), ShapeError, "Fractional"),
    (lambda: fnn.FeatureLPPooling(3, 1, 2), (2, 4, 4, 4), ShapeError, "FeatureLPPooling"),
    (lambda: fnn.FeatureLPPooling(3, 1, 2, True), (1, 2, 4), ShapeError, "fewer than the width"),
    (lambda: fnn.TemporalDynamicKMaxPooling(4), (3, 2), ShapeError, "TemporalDynamicKMaxPooling.*at least 4 steps"),
    (lambda: fnn.TemporalDynamicKMaxPooling(1), (3,), ShapeError, "TemporalDynamicKMaxPooling"),
    (lambda: fnn.MaxUnpool2d(2), (2, 2, 2), ShapeError, "MaxUnpool2d.*table"),
    (lambda: fnn.MaxUnpool2d(2), ((2, 2, 2),), ShapeError, "MaxUnpool2d"),
    (lambda: fnn.MaxUnpool2d(2), ((2, 2, 2), (2, 2, 3)), ShapeError, "same shape"),
    (lambda: fnn.SpatialMaxUnpooling(fnn.SpatialMaxPooling(2, 2)), ((2, 2), (2, 2)), ShapeError,
     "SpatialMaxUnpooling"),
])
def test_bad_inputs(make, shape, error, match):
    with pytest.raises(error, match=match):
        make().init(jax.random.key(0), shape)


def test_unpooling_index_errors():
    u = fnn.MaxUnpool2d(2)
    x = jnp.ones((1, 2, 2))
    with pytest.raises(IndexRangeError, match=r"MaxUnpool2d.*range \[0, 16\).*16"):
        u.apply((), (x, jnp.array([[[0, 1], [2, 16]]], jnp.int32)))
    with pytest.raises(DTypeError, match="MaxUnpool2d.*integer indices"):
        u.apply((), (x, x))
    y = jax.jit(u.apply)((), (x, jnp.array([[[0, 1], [2, 99]]], jnp.int32)))  # dropped under jit
    assert float(jnp.sum(y)) == 3.0


@pytest.mark.parametrize("make,match", [
    (lambda: fnn.SpatialMaxUnpooling(fnn.SpatialAveragePooling(2, 2)), "SpatialMaxPooling"),
    (lambda: fnn.VolumetricMaxUnpooling(fnn.SpatialMaxPooling(2, 2)), "VolumetricMaxPooling"),
    (lambda: fnn.SpatialFractionalMaxPooling(2, 2, 0.5, 3), "ratios"),
    (lambda: fnn.SpatialFractionalMaxPooling(2, 2, 3, 3, samples=np.ones((2, 2))), "samples"),
    (lambda: fnn.FractionalMaxPool2d(2), "exactly one"),
    (lambda: fnn.FractionalMaxPool3d(2, output_ratio=1.5), "output_ratio"),
    (lambda: fnn.FeatureLPPooling(1, 1, 2), "width"),
    (lambda: fnn.TemporalDynamicKMaxPooling(0), "min_k"),
    (lambda: fnn.LPPool2d(0, 2), "norm_type"),
])
def test_bad_config(make, match):
    with pytest.raises(ConfigError, match=match):
        make()
