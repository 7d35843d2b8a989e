"""The extra torch7 convolutions (fnn/layers/_conv_extra.py): PyTorch parity (forward and
gradients, float64) where PyTorch has the layer, numpy transcriptions of the torch7/THNN loops
where it has not, the connection tables, and the errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError, ShapeError
from tests.layers.test_conv import randn, torch_parity

# --------------------------------------------------------------------------- PyTorch parity


def _depthwise_w(w, n_in, mult, k):
    return w.reshape(mult, n_in, k[0], k[1]).transpose(0, 1).reshape(n_in * mult, 1, k[0], k[1])


PARITY = [
    ("mm", lambda: fnn.SpatialConvolutionMM(2, 3, 3, 2, 2, 1, 1),
     lambda t: lambda x, p: t.nn.functional.conv2d(x, p["weight"].reshape(3, 2, 2, 3), p["bias"], (1, 2), (1, 1)),
     (2, 2, 5, 6)),
    ("depthwise", lambda: fnn.SpatialDepthWiseConvolution(2, 3, 3, 2, 1, 2, 1, 0),
     lambda t: lambda x, p: t.nn.functional.conv2d(x, _depthwise_w(p["weight"], 2, 3, (2, 3)),
                                                   p["bias"].t().reshape(-1), (2, 1), (0, 1), groups=2),
     (2, 2, 5, 6)),
    ("depthwise-one", lambda: fnn.SpatialDepthWiseConvolution(2, 2, 2, 2, bias=False),
     lambda t: lambda x, p: t.nn.functional.conv2d(x, _depthwise_w(p["weight"], 2, 2, (2, 2)), groups=2),
     (2, 4, 3)),
    ("vol-full", lambda: fnn.VolumetricFullConvolution(2, 3, 2, 3, 2, 2, 1, 2, 1, 1, 0, 1, 0, 1),
     lambda t: lambda x, p: t.nn.functional.conv_transpose3d(x, p["weight"], p["bias"], (2, 2, 1), (1, 0, 1),
                                                             (1, 1, 0)),
     (2, 2, 3, 3, 4)),
    ("vol-dilated", lambda: fnn.VolumetricDilatedConvolution(2, 2, 2, 2, 2, 1, 2, 1, 1, 0, 1, 2, 1, 2),
     lambda t: lambda x, p: t.nn.functional.conv3d(x, p["weight"], p["bias"], (1, 1, 2), (1, 1, 0), (2, 2, 1)),
     (2, 2, 4, 5, 5)),
    ("row", lambda: fnn.TemporalRowConvolution(3, 2, 2),
     lambda t: lambda x, p: t.nn.functional.conv1d(x.transpose(-1, -2), p["weight"], p["bias"], 2,
                                                   groups=3).transpose(-1, -2),
     (2, 7, 3)),
    ("row-feat-first", lambda: fnn.TemporalRowConvolution(3, 3, feat_first=True),
     lambda t: lambda x, p: t.nn.functional.conv1d(x, p["weight"], p["bias"], groups=3), (3, 6)),
]


@pytest.mark.parametrize("make,ref,shape", [p[1:] for p in PARITY], ids=[p[0] for p in PARITY])
def test_torch_parity(torch, make, ref, shape):
    torch_parity(torch, make(), ref(torch), randn(*shape))


def test_volumetric_full_ref_table():
    m = fnn.VolumetricFullConvolution(1, 1, 3, 3, 3, 2, 2, 2, 1, 1, 1)
    _, p = m.init(jax.random.key(0), (1, 2, 2, 2))
    y = m.apply(p, (jnp.ones((1, 2, 2, 2), jnp.float32), jnp.ones((1, 4, 4, 4), jnp.float32)))
    assert y.shape == (1, 4, 4, 4)


# --------------------------------------------------------------------------- numpy transcriptions


def _params(module, shape):
    return module.init(jax.random.key(1), shape, jnp.float64)[1]


def test_convolution_local_matches_loops():
    n_in, n_out, iw, ih, kw, kh, dw, dh, pw, ph = 2, 3, 5, 4, 3, 2, 2, 1, 1, 0
    m = fnn.SpatialConvolutionLocal(n_in, n_out, iw, ih, kw, kh, dw, dh, pw, ph)
    x = randn(2, n_in, ih, iw)
    p = _params(m, x.shape)
    w, b = np.asarray(p["weight"]), np.asarray(p["bias"])
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = b.shape[1:]
    ref = np.zeros((2, n_out, oh, ow))
    for h in range(oh):
        for v in range(ow):
            patch = xp[:, :, h * dh:h * dh + kh, v * dw:v * dw + kw]
            ref[:, :, h, v] = np.einsum("bikl,oikl->bo", patch, w[h, v]) + b[:, h, v]
    np.testing.assert_allclose(m.apply(p, jnp.asarray(x)), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.apply(p, jnp.asarray(x[0])), ref[0], rtol=1e-12, atol=1e-12)


def _xcorr(a, k, dh, dw):
    oh, ow = (a.shape[0] - k.shape[0]) // dh + 1, (a.shape[1] - k.shape[1]) // dw + 1
    return np.array([[np.sum(a[i * dh:i * dh + k.shape[0], j * dw:j * dw + k.shape[1]] * k) for j in range(ow)]
                     for i in range(oh)])


def test_convolution_map_matches_thnn_loop():
    conn = np.array([[0, 0], [2, 0], [1, 1], [2, 1], [0, 1]])
    m = fnn.SpatialConvolutionMap(conn, 2, 3, 2, 1)
    x = randn(3, 5, 6)
    p = _params(m, x.shape)
    w, b = np.asarray(p["weight"]), np.asarray(p["bias"])
    ref = np.stack([b[o] + sum(_xcorr(x[i], w[k], 1, 2) for k, (i, oo) in enumerate(conn) if oo == o)
                    for o in range(2)])
    np.testing.assert_allclose(m.apply(p, jnp.asarray(x)), ref, rtol=1e-12, atol=1e-12)


def test_full_convolution_map_matches_thnn_loop():
    conn = fnn.tables.random(3, 2, 2, jax.random.key(3))
    m = fnn.SpatialFullConvolutionMap(conn, 3, 2, 2, 3)
    x = randn(3, 3, 4)
    p = _params(m, x.shape)
    w, b = np.asarray(p["weight"]), np.asarray(p["bias"])
    ref = np.zeros((2, (3 - 1) * 3 + 2, (4 - 1) * 2 + 3)) + b[:, None, None]
    for k, (i, o) in enumerate(conn):  # THNN fullConv2Dptr: out[y*dH + a, x*dW + c] += in[y, x] * w[a, c]
        for yy in range(3):
            for xx in range(4):
                ref[o, yy * 3:yy * 3 + 2, xx * 2:xx * 2 + 3] += x[i, yy, xx] * w[k]
    np.testing.assert_allclose(m.apply(p, jnp.asarray(x)), ref, rtol=1e-12, atol=1e-12)


def test_map_init_bounds_follow_fan_in():
    conn = np.array([[0, 0], [1, 0], [2, 0], [0, 1]])
    p = _params(fnn.SpatialConvolutionMap(conn, 2, 2), (3, 4, 4))
    assert float(jnp.max(jnp.abs(p["weight"][:3]))) <= 1 / np.sqrt(12)
    assert float(jnp.max(jnp.abs(p["weight"][3]))) <= 1 / np.sqrt(4)


def test_subsampling_matches_loops():
    m = fnn.SpatialSubSampling(2, 3, 2, 2, 1)
    x = randn(2, 2, 5, 7)
    p = _params(m, x.shape)
    w, b = np.asarray(p["weight"]), np.asarray(p["bias"])
    ref = np.stack([np.stack([w[c] * _xcorr(x[n, c], np.ones((2, 3)), 1, 2) + b[c] for c in range(2)])
                    for n in range(2)])
    np.testing.assert_allclose(m.apply(p, jnp.asarray(x)), ref, rtol=1e-12, atol=1e-12)
    t = fnn.TemporalSubSampling(3, 2, 2)
    xt = randn(7, 3)
    pt = _params(t, xt.shape)
    wt, bt = np.asarray(pt["weight"]), np.asarray(pt["bias"])
    ref_t = np.stack([wt * xt[k * 2:k * 2 + 2].sum(0) + bt for k in range(3)])
    np.testing.assert_allclose(t.apply(pt, jnp.asarray(xt)), ref_t, rtol=1e-12, atol=1e-12)


def test_default_init_bounds():
    p = _params(fnn.SpatialDepthWiseConvolution(4, 2, 3, 3), (4, 5, 5))
    assert p["weight"].shape == (2, 36) and float(jnp.max(jnp.abs(p["weight"]))) <= 1 / 6
    p = _params(fnn.TemporalRowConvolution(4, 3), (5, 4))
    assert p["weight"].shape == (4, 1, 3) and float(jnp.max(jnp.abs(p["bias"]))) <= 1 / np.sqrt(12)


# --------------------------------------------------------------------------- tables


def test_tables():
    assert fnn.tables.full(2, 3).tolist() == [[0, 0], [1, 0], [0, 1], [1, 1], [0, 2], [1, 2]]
    assert fnn.tables.oneToOne(3).tolist() == [[0, 0], [1, 1], [2, 2]]
    t = fnn.tables.random(5, 4, 2, jax.random.key(0))
    assert t.shape == (8, 2) and t[:, 1].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for o in range(4):
        ins = t[t[:, 1] == o, 0]
        assert len(set(ins.tolist())) == 2 and ins.min() >= 0 and ins.max() < 5
    np.testing.assert_array_equal(fnn.tables.random(5, 4, 2), fnn.tables.random(5, 4, 2))
    with pytest.raises(ConfigError, match="n_to"):
        fnn.tables.random(2, 2, 3)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make,shape,match", [
    (lambda: fnn.SpatialDepthWiseConvolution(2, 2, 3, 3), (-1, 3, 5, 5), "SpatialDepthWiseConvolution"),
    (lambda: fnn.SpatialDepthWiseConvolution(2, 2, 3, 3), (5, 5), "SpatialDepthWiseConvolution"),
    (lambda: fnn.SpatialConvolutionLocal(1, 2, 4, 4, 3, 3), (-1, 1, 5, 4), "SpatialConvolutionLocal"),
    (lambda: fnn.SpatialConvolutionLocal(1, 2, 4, 4, 3, 3), (1, 4), "SpatialConvolutionLocal"),
    (lambda: fnn.SpatialConvolutionMap(fnn.tables.full(2, 2), 3, 3), (3, 5, 5), "SpatialConvolutionMap"),
    (lambda: fnn.SpatialFullConvolutionMap(fnn.tables.full(2, 2), 3, 3), (2, 2, 5, 5, 5), "FullConvolutionMap"),
    (lambda: fnn.TemporalRowConvolution(3, 2), (5, 4), "TemporalRowConvolution"),
    (lambda: fnn.TemporalRowConvolution(3, 6), (5, 3), "too small"),
    (lambda: fnn.TemporalSubSampling(3, 2), (3,), "TemporalSubSampling"),
    (lambda: fnn.SpatialSubSampling(2, 2, 2), (-1, 3, 4, 4), "SpatialSubSampling"),
    (lambda: fnn.VolumetricFullConvolution(2, 1, 2, 2, 2), (2, 3, 3), "VolumetricFullConvolution"),
    (lambda: fnn.VolumetricDilatedConvolution(1, 1, 2, 2, 2, dilT=3), (1, 3, 5, 5), "too small"),
    (lambda: fnn.SpatialConvolutionMM(2, 2, 3, 3), (-1, 1, 5, 5), "SpatialConvolutionMM"),
])
def test_bad_inputs(make, shape, match):
    with pytest.raises(ShapeError, match=match):
        make().init(jax.random.key(0), shape)


@pytest.mark.parametrize("make,match", [
    (lambda: fnn.SpatialConvolutionMap([[0, 1, 2]], 3, 3), "conn_table"),
    (lambda: fnn.SpatialConvolutionMap([[-1, 0]], 3, 3), "conn_table"),
    (lambda: fnn.SpatialConvolutionLocal(1, 1, 2, 2, 3, 3), "less than 1"),
    (lambda: fnn.VolumetricFullConvolution(1, 1, 2, 2, 2, 2, 2, 2, adjT=2), "adj"),
    (lambda: fnn.SpatialDepthWiseConvolution(2, 0, 3, 3), "mult"),
])
def test_bad_config(make, match):
    with pytest.raises(ConfigError, match=match):
        make()
