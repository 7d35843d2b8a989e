"""load_t7 on torch7 catalogue classes fnn gained later (each case skips where fnn lacks the layer)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.io import T7_MODULES, T7List
from fnn.io._t7_load import build_t7
from tests.io.t7_writer import module

W = (np.arange(12, dtype=np.float32).reshape(3, 4) - 5) / 10


def _has(name):
    return hasattr(fnn, name)


# (torch7 class, its fields as torch7 saved them, a function building the fnn module it must equal, params)
CATALOGUE_CASES = [
    ("nn.DepthConcat", {"dimension": 2, "modules": T7List([module("nn.Identity")])},
     lambda: fnn.DepthConcat(1, fnn.Identity()), ((),)),
    ("nn.PixelShuffle", {"upscaleFactor": 2}, lambda: fnn.PixelShuffle(2), ()),
    ("nn.UpSampling", {"scale_factor": 2, "mode": "nearest"}, lambda: fnn.UpSampling(2), ()),
    ("nn.UpSampling", {"owidth": 6, "oheight": 5, "mode": "linear"},
     lambda: fnn.UpSampling({"oheight": 5, "owidth": 6}, "linear"), ()),
    ("nn.VolumetricReplicationPadding", {"pleft": 1, "pright": 2, "ptop": 3, "pbottom": 0, "pfront": 1, "pback": 2},
     lambda: fnn.VolumetricReplicationPadding(1, 2, 3, 0, 1, 2), ()),
    ("nn.SpatialDilatedMaxPooling", {"kW": 3, "kH": 2, "dW": 2, "dH": 1, "padW": 1, "padH": 0, "dilationW": 2,
                                     "dilationH": 1, "ceil_mode": True},
     lambda: fnn.SpatialDilatedMaxPooling(3, 2, 2, 1, 1, 0, 2, 1, True), ()),
    ("nn.VolumetricDilatedMaxPooling", {"kT": 2, "kW": 2, "kH": 2, "dT": 1, "dW": 2, "dH": 2, "padT": 0, "padW": 1,
                                        "padH": 1, "dilationT": 1, "dilationW": 2, "dilationH": 2},
     lambda: fnn.VolumetricDilatedMaxPooling(2, 2, 2, 1, 2, 2, 0, 1, 1, 1, 2, 2), ()),
    ("nn.TemporalDynamicKMaxPooling", {"minK": 3, "factor": 0.5}, lambda: fnn.TemporalDynamicKMaxPooling(3, 0.5), ()),
    ("nn.FeatureLPPooling", {"width": 2, "stride": 1, "power": 2.0, "batch_mode": True},
     lambda: fnn.FeatureLPPooling(2, 1, 2.0, True), ()),
    ("nn.SpatialSoftMax", {}, lambda: fnn.SpatialSoftMax(), ()),
    ("nn.SpatialLogSoftMax", {}, lambda: fnn.SpatialLogSoftMax(), ()),
    ("nn.ZipTable", {}, lambda: fnn.ZipTable(), ()),
    ("nn.ZipTableOneToMany", {}, lambda: fnn.ZipTableOneToMany(), ()),
    ("nn.CAddTensorTable", {}, lambda: fnn.CAddTensorTable(), ()),
    ("nn.GradientReversal", {"lambda": 0.5}, lambda: fnn.GradientReversal(0.5), ()),
    ("nn.MM", {"transA": True, "transB": False}, lambda: fnn.MM(True, False), ()),
    ("nn.MV", {"trans": True}, lambda: fnn.MV(True), ()),
    ("nn.Index", {"dimension": 2}, lambda: fnn.Index(1), ()),
    ("nn.MixtureTable", {"dim": 3}, lambda: fnn.MixtureTable(2), ()),
    ("nn.MixtureTable", {}, lambda: fnn.MixtureTable(), ()),
    ("nn.RReLU", {"lower": 0.1, "upper": 0.2}, lambda: fnn.RReLU(0.1, 0.2), ()),
    ("nn.WhiteNoise", {"mean": 0.5, "std": 0.2}, lambda: fnn.WhiteNoise(0.5, 0.2), ()),
    ("nn.Constant", {"value": np.array([1.5, 2.0]), "nInputDim": 1}, lambda: fnn.Constant(np.array([1.5, 2.0]), 1), ()),
    ("nn.OneHot", {"outputSize": 5}, lambda: fnn.OneHot(5), ()),
    ("nn.Collapse", {"nInputDim": 2}, lambda: fnn.Collapse(2), ()),
    ("nn.CReLU", {"nInputDims": 1}, lambda: fnn.CReLU(1), ()),
    ("nn.L1Penalty", {"l1weight": 0.1, "sizeAverage": True, "provideOutput": True},
     lambda: fnn.L1Penalty(0.1, True, True), ()),
    ("nn.Euclidean", {"weight": W}, lambda: fnn.Euclidean(3, 4), {"weight": W}),
    ("nn.Cosine", {"weight": W}, lambda: fnn.Cosine(4, 3), {"weight": W}),
    ("nn.SpatialConvolutionMM", {"nInputPlane": 1, "nOutputPlane": 3, "kW": 2, "kH": 2, "padding": 1, "weight": W,
                                 "bias": W[0, :3]},
     lambda: fnn.SpatialConvolutionMM(1, 3, 2, 2, 1, 1, 1, 1), {"weight": W, "bias": W[0, :3]}),
]


@pytest.mark.parametrize("typename, fields, want, want_params", CATALOGUE_CASES, ids=[c[0] for c in CATALOGUE_CASES])
def test_catalogue_fields(typename, fields, want, want_params):
    if not _has(typename.removeprefix("nn.")):
        assert typename not in T7_MODULES or typename == "nn.SpatialConvolutionMM"
        pytest.skip(f"fnn has no {typename} yet")
    expected = want()
    model, params, _ = build_t7(module(typename, **fields))
    assert str(model) == str(expected) and model.kind == expected.kind
    assert jax.tree.structure(params) == jax.tree.structure(want_params)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), params,
                 jax.tree.map(jnp.asarray, want_params))
