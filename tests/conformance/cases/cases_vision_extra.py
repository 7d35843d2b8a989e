"""Conformance cases: the extra torch7 convolution, pooling and spatial modules (issue 15).

Tiny shapes; the PyTorch aliases run without finite differences (their gradients are compared
with PyTorch's in the family test files).
"""

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

CASES = CONVOLUTION + NORMALIZATION
