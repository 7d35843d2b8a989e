"""Conformance cases: the extra torch7 convolution, pooling and spatial modules (issue 15).

Tiny shapes; the PyTorch aliases run without finite differences (their gradients are compared
with PyTorch's in the family test files).
"""

import jax.numpy as jnp
import numpy as np

import fnn
from tests.conformance.cases import Case

IMG = (2, 2, 5, 5)
CONN = np.array([[0, 0], [1, 0], [1, 1]])

CONVOLUTION = [
    Case("SpatialConvolutionMM", lambda: fnn.SpatialConvolutionMM(2, 2, 3, 2, 2, 1, 1), IMG),
    Case("SpatialDepthWiseConvolution", lambda: fnn.SpatialDepthWiseConvolution(2, 2, 2, 3, 1, 2, 1, 0), IMG),
    Case("SpatialConvolutionLocal", lambda: fnn.SpatialConvolutionLocal(2, 2, 5, 5, 3, 3, 2, 2), IMG),
    Case("SpatialConvolutionMap", lambda: fnn.SpatialConvolutionMap(CONN, 2, 2), IMG),
    Case("SpatialFullConvolutionMap", lambda: fnn.SpatialFullConvolutionMap(CONN, 2, 2, 2, 2), (2, 2, 3, 3)),
    Case("VolumetricFullConvolution", lambda: fnn.VolumetricFullConvolution(2, 1, 2, 2, 2, 2, 2, 2), (2, 2, 2, 2, 2)),
    Case("VolumetricDilatedConvolution", lambda: fnn.VolumetricDilatedConvolution(1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0,
                                                                                  2, 1, 2), (2, 1, 3, 4, 4)),
    Case("TemporalRowConvolution", lambda: fnn.TemporalRowConvolution(2, 2), (2, 5, 2)),
    Case("TemporalRowConvolution", lambda: fnn.TemporalRowConvolution(2, 3, 2, True), (2, 2, 7), id="feat-first"),
    Case("TemporalSubSampling", lambda: fnn.TemporalSubSampling(2, 2, 2), (2, 6, 2)),
    Case("SpatialSubSampling", lambda: fnn.SpatialSubSampling(2, 2, 2, 2, 1), IMG),
]

NORMALIZATION = [
    Case("SpatialCrossMapLRN", lambda: fnn.SpatialCrossMapLRN(3, 0.5, 0.75, 1.0), (2, 4, 2, 2)),
    Case("LocalResponseNorm", lambda: fnn.LocalResponseNorm(2), (2, 3, 4), batched=False, grads=False),
    Case("SpatialSoftMax", lambda: fnn.SpatialSoftMax(), (2, 3, 2, 2)),
    Case("SpatialLogSoftMax", lambda: fnn.SpatialLogSoftMax(), (2, 3, 2, 2)),
    Case("Softmax2d", lambda: fnn.Softmax2d(), (2, 3, 2, 2), grads=False),
    Case("SpatialSubtractiveNormalization", lambda: fnn.SpatialSubtractiveNormalization(2, np.ones(3)), (2, 2, 4, 4)),
    Case("SpatialDivisiveNormalization", lambda: fnn.SpatialDivisiveNormalization(2, np.ones((3, 3))),
         (2, 2, 4, 4)),
    Case("SpatialContrastiveNormalization", lambda: fnn.SpatialContrastiveNormalization(1, np.ones(3)),
         (2, 1, 4, 4)),
]



def _pooled(pool, shape):
    """A valid ``(values, indices)`` table: the output of ``pool`` (built with return_indices=True)."""
    def make():
        x = jnp.asarray(np.random.RandomState(0).standard_normal(shape))
        return pool.apply((), x)
    return make


_SP = fnn.SpatialMaxPooling(2, 2, return_indices=True)
_VP = fnn.VolumetricMaxPooling(2, 2, 2, return_indices=True)
_IDX = (jnp.float64, jnp.int32)

POOLING = [
    Case("SpatialDilatedMaxPooling", lambda: fnn.SpatialDilatedMaxPooling(2, 2, 1, 1, 1, 1, 2, 2), IMG),
    Case("SpatialDilatedMaxPooling", lambda: fnn.SpatialDilatedMaxPooling(2, 2, return_indices=True), IMG,
         grads=False, id="indices"),
    Case("VolumetricDilatedMaxPooling", lambda: fnn.VolumetricDilatedMaxPooling(2, 2, 2, 1, 1, 1, 0, 0, 0, 2, 1, 1),
         (2, 1, 3, 3, 3)),
    Case("SpatialMaxPooling", lambda: fnn.SpatialMaxPooling(3, 3, 2, 2, 1, 1, True, return_indices=True), IMG,
         grads=False, id="indices"),
    Case("MaxPool3d", lambda: fnn.MaxPool3d(2, return_indices=True), (2, 1, 2, 2, 2), grads=False, id="indices"),
    Case("SpatialFractionalMaxPooling", lambda: fnn.SpatialFractionalMaxPooling(2, 2, 0.6, 0.6), IMG,
         train_rng=True),
    Case("SpatialFractionalMaxPooling",
         lambda: fnn.SpatialFractionalMaxPooling(2, 2, 3, 2, samples=np.full((2, 2), 0.3), return_indices=True),
         IMG, grads=False, id="fixed-indices"),
    Case("VolumetricFractionalMaxPooling", lambda: fnn.VolumetricFractionalMaxPooling(2, 2, 2, 2, 2, 2),
         (2, 1, 3, 3, 3), train_rng=True, grads=False),  # gradients: FractionalMaxPool3d's torch parity
    Case("FractionalMaxPool2d", lambda: fnn.FractionalMaxPool2d(2, output_ratio=0.5), (2, 2, 6, 6), train_rng=True,
         grads=False),
    Case("FractionalMaxPool3d", lambda: fnn.FractionalMaxPool3d(2, output_size=2), (2, 1, 4, 4, 4),
         train_rng=True, grads=False),
    # batch_mode is a constructor flag (torch7): vmap of the batched layer is not the single-example layer
    Case("FeatureLPPooling", lambda: fnn.FeatureLPPooling(2, 1, 2, True), (2, 4, 3), batched=False),
    Case("FeatureLPPooling", lambda: fnn.FeatureLPPooling(3, 2, 3), (7, 2, 2), batched=False, id="single",
         x=lambda: jnp.asarray(np.random.RandomState(1).uniform(0.5, 1.5, (7, 2, 2)))),
    Case("TemporalDynamicKMaxPooling", lambda: fnn.TemporalDynamicKMaxPooling(2, 0.5), (2, 6, 3)),
    Case("LPPool1d", lambda: fnn.LPPool1d(2, 2), (2, 2, 6), x=lambda: jnp.ones((2, 2, 6)) * 1.5, grads=False),
    Case("LPPool2d", lambda: fnn.LPPool2d(2, 2), IMG, grads=False),
    Case("LPPool3d", lambda: fnn.LPPool3d(2, 2), (2, 1, 2, 4, 4), grads=False),
    Case("SpatialMaxUnpooling", lambda: fnn.SpatialMaxUnpooling(_SP), ((2, 2, 2, 2), (2, 2, 2, 2)), dtype=_IDX,
         x=_pooled(_SP, (2, 2, 4, 4)), grads=False),
    Case("VolumetricMaxUnpooling", lambda: fnn.VolumetricMaxUnpooling(_VP), ((2, 1, 1, 2, 2), (2, 1, 1, 2, 2)),
         dtype=_IDX, x=_pooled(_VP, (2, 1, 2, 4, 4)), grads=False),
    Case("MaxUnpool1d", lambda: fnn.MaxUnpool1d(2), ((2, 2, 3), (2, 2, 3)), dtype=_IDX,
         x=_pooled(fnn.MaxPool1d(2, return_indices=True), (2, 2, 6)), grads=False),
    Case("MaxUnpool2d", lambda: fnn.MaxUnpool2d(2), ((2, 2, 2, 2), (2, 2, 2, 2)), dtype=_IDX,
         x=_pooled(_SP, (2, 2, 4, 4)), grads=False),
    Case("MaxUnpool3d", lambda: fnn.MaxUnpool3d(2), ((2, 1, 1, 2, 2), (2, 1, 1, 2, 2)), dtype=_IDX,
         x=_pooled(_VP, (2, 1, 2, 4, 4)), grads=False),
]

RESAMPLING = [
    Case("PixelShuffle", lambda: fnn.PixelShuffle(2), (2, 4, 2, 3)),
    Case("UpSampling", lambda: fnn.UpSampling(2), (2, 1, 2, 3), batched=False),
    Case("UpSampling", lambda: fnn.UpSampling((2, 3, 4), "trilinear"), (2, 1, 2, 2, 3), batched=False,
         id="trilinear-size"),
    Case("VolumetricReplicationPadding", lambda: fnn.VolumetricReplicationPadding(1, 0, 2, 1, 0, 1), (2, 1, 2, 2, 2)),
    Case("ReplicationPad3d", lambda: fnn.ReplicationPad3d(1), (2, 1, 2, 2, 2), grads=False),
    Case("DepthConcat", lambda: fnn.DepthConcat(-3, fnn.Identity(), fnn.SpatialConvolution(2, 1, 3, 3)), IMG),
]

CASES = CONVOLUTION + NORMALIZATION + POOLING + RESAMPLING
