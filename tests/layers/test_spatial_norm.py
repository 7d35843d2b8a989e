"""Spatial normalisation (fnn/layers/_spatial_norm.py): PyTorch parity of the LRN and the
soft-maxes (forward and gradients, float64), and the local contrast normalisations against a
numpy transcription of torch7's module graph (zero padding, per-plane / cross-plane
convolutions, the ``coef`` map, CSub/CDiv, Threshold)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError, ShapeError
from tests.layers.test_conv import randn, torch_parity


@pytest.mark.parametrize("size,shape", [(3, (2, 5, 3, 2)), (4, (2, 3, 2)), (1, (3, 2, 2))])
def test_cross_map_lrn_matches_torch(torch, size, shape):
    ref = torch.nn.LocalResponseNorm(size, 2e-1, 0.6, 1.5)
    batched = len(shape) == 4
    fn = ref if batched else (lambda x, p: ref(x[None])[0])
    torch_parity(torch, fnn.SpatialCrossMapLRN(size, 2e-1, 0.6, 1.5), fn, randn(*shape))


def test_local_response_norm_alias_matches_torch(torch):
    torch_parity(torch, fnn.LocalResponseNorm(3, 1e-2, 0.75, 2.0), torch.nn.LocalResponseNorm(3, 1e-2, 0.75, 2.0),
                 randn(2, 4, 5))


def test_spatial_softmaxes_match_torch(torch):
    x = randn(2, 3, 2, 2)
    torch_parity(torch, fnn.SpatialSoftMax(), torch.nn.Softmax2d(), x)
    torch_parity(torch, fnn.SpatialLogSoftMax(), lambda t, p: torch.log_softmax(t, 0), x[0])
    torch_parity(torch, fnn.Softmax2d(), torch.nn.Softmax2d(), x[0])
    y = fnn.SpatialSoftMax().apply((), jnp.asarray(randn(2, 3)))  # torch7's rank rule: 2-D -> dim 1
    np.testing.assert_allclose(jnp.sum(y, axis=1), np.ones(2), rtol=1e-12)


# --------------------------------------------------------------------------- numpy transcription of torch7


def _conv_valid(img, k):
    kh, kw = k.shape
    return np.array([[np.sum(img[i:i + kh, j:j + kw] * k) for j in range(img.shape[1] - kw + 1)]
                     for i in range(img.shape[0] - kh + 1)])


def _estimator(x, kernel, n, sqrt_planes):
    """torch7's meanestimator: SpatialZeroPadding, then SpatialConvolution(n, 1, kW, kH) with every
    plane's weight = kernel (2-D), or SpatialConvolutionMap(oneToOne) along W then
    SpatialConvolution(n, 1, 1, k) along H (1-D); then Replicate over the planes."""
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim == 2:
        k = k / (k.sum() * n)
        ph, pw = k.shape[0] // 2, k.shape[1] // 2
        xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
        s = sum(_conv_valid(xp[c], k) for c in range(n))
    else:
        k = k / (k.sum() * (np.sqrt(n) if sqrt_planes else n))
        p = k.size // 2
        xp = np.pad(x, ((0, 0), (p, p), (p, p)))
        rows = [_conv_valid(xp[c], k[None, :]) for c in range(n)]
        s = sum(_conv_valid(rows[c], k[:, None]) for c in range(n))
    return np.broadcast_to(s, x.shape)


def _subtractive(x, kernel):
    n = x.shape[0]
    return x - _estimator(x, kernel, n, False) / _estimator(np.ones_like(x), kernel, n, False)


def _divisive(x, kernel, thr, thv):
    n = x.shape[0]
    std = np.sqrt(_estimator(x ** 2, kernel, n, True)) / _estimator(np.ones_like(x), kernel, n, True)
    return x / np.where(std > thr, std, thv)


KERNELS = {"2d": np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0]]).T[:, :1].repeat(3, 1) + np.eye(3),
           "1d": np.array([1.0, 3.0, 1.0]), "default": None}


@pytest.mark.parametrize("kname", list(KERNELS))
def test_local_normalisations_match_torch7_graph(kname):
    kernel = KERNELS[kname]
    k_np = np.ones((9, 9)) if kernel is None else kernel
    x = randn(2, 2, 5, 4)
    thr = 0.5
    cases = [
        (fnn.SpatialSubtractiveNormalization(2, kernel), lambda e: _subtractive(e, k_np)),
        (fnn.SpatialDivisiveNormalization(2, kernel, thr, 0.7), lambda e: _divisive(e, k_np, thr, 0.7)),
        (fnn.SpatialContrastiveNormalization(2, kernel, thr), lambda e: _divisive(_subtractive(e, k_np), k_np, thr,
                                                                                  thr)),
    ]
    for module, ref in cases:
        y = module.apply((), jnp.asarray(x))
        np.testing.assert_allclose(y, np.stack([ref(e) for e in x]), rtol=1e-12, atol=1e-12, err_msg=module.name)
        np.testing.assert_allclose(module.apply((), jnp.asarray(x[1])), ref(x[1]), rtol=1e-12, atol=1e-12)


def test_subtractive_gradient_matches_finite_differences():
    m = fnn.SpatialSubtractiveNormalization(2, np.ones(3))
    x = jnp.asarray(randn(2, 4, 4))
    g = jax.grad(lambda v: jnp.sum(m.apply((), v) ** 2))(x)
    e = np.zeros(x.shape)
    e[1, 2, 3] = 1e-6
    fd = (jnp.sum(m.apply((), x + e) ** 2) - jnp.sum(m.apply((), x - e) ** 2)) / 2e-6
    np.testing.assert_allclose(g[1, 2, 3], fd, rtol=1e-6)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make,shape", [
    (lambda: fnn.SpatialCrossMapLRN(3), (4, 4)),
    (lambda: fnn.SpatialCrossMapLRN(3), (1, 2, 3, 4, 4)),
    (lambda: fnn.LocalResponseNorm(3), (4, 4)),
    (lambda: fnn.Softmax2d(), (4, 4)),
    (lambda: fnn.SpatialSoftMax(), (1, 2, 3, 4, 4)),
    (lambda: fnn.SpatialSubtractiveNormalization(2), (3, 4, 4)),
    (lambda: fnn.SpatialDivisiveNormalization(1), (4, 4)),
    (lambda: fnn.SpatialContrastiveNormalization(2), (-1, 1, 4, 4)),
])
def test_bad_inputs(make, shape):
    module = make()
    with pytest.raises(ShapeError, match=module.name.split("(")[0]):
        module.init(jax.random.key(0), shape)


@pytest.mark.parametrize("make,match", [
    (lambda: fnn.SpatialSubtractiveNormalization(1, np.ones((2, 3))), "odd"),
    (lambda: fnn.SpatialDivisiveNormalization(1, np.ones((3, 3, 3))), "1-D or 2-D"),
    (lambda: fnn.SpatialContrastiveNormalization(0), "n_in"),
    (lambda: fnn.SpatialCrossMapLRN(0), "size"),
    (lambda: fnn.SpatialDivisiveNormalization(1, None, "x"), "threshold"),
])
def test_bad_config(make, match):
    with pytest.raises(ConfigError, match=match):
        make()
