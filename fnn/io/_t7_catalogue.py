"""Loading more of torch7's ``nn`` catalogue: classes fnn gained later, registered where fnn has them.

Field names from torch/nn's Lua sources; dims made 0-based. ``nn.SpatialConvolutionMM`` loads
as fnn's own ``SpatialConvolutionMM`` (its 2-D weight as stored) where fnn has one, otherwise
(see ``_t7_modules.py``) as a ``SpatialConvolution`` with the weight reshaped.

>>> "nn.Euclidean" in T7_MODULES or not hasattr(nn, "Euclidean")
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

import fnn.layers as nn
from fnn.core import Module
from fnn.io._t7_load import Builder, Fields
from fnn.io._t7_modules import T7_MODULES


def _plain(ctor: Callable[[Fields], Module]) -> Builder:
    return lambda f: (ctor(f), (), ())


def _weighted(ctor: Callable[[Any], Module]) -> Builder:
    def build(f: Fields) -> tuple[Module, Any, Any]:
        w = f.array("weight")
        return ctor(w.shape), {"weight": w}, ()
    return build


def _spatial_conv_mm(f: Fields) -> tuple[Module, Any, Any]:
    n_in, n_out, kw, kh = f.integer("nInputPlane"), f.integer("nOutputPlane"), f.integer("kW"), f.integer("kH")
    w, b = f.array("weight"), f.array("bias", None)
    if w.size != n_out * n_in * kh * kw:
        raise f.fail(f"weight of shape {tuple(w.shape)} does not hold {n_out}x{n_in}x{kh}x{kw} elements")
    pad_w = f.integer("padding") if f.has("padding") else f.integer("padW", 0)
    pad_h = f.integer("padding") if f.has("padding") else f.integer("padH", pad_w)
    p = {"weight": jnp.reshape(w, (n_out, n_in * kh * kw))}
    if b is not None:
        p["bias"] = b
    m = nn.SpatialConvolutionMM(n_in, n_out, kw, kh, f.integer("dW", 1), f.integer("dH", 1), pad_w, pad_h,
                                bias=b is not None)
    return m, p, ()


def _constant(f: Fields) -> Module:
    value = f.raw("value")
    value = np.asarray(value) if isinstance(value, np.ndarray) else float(value)
    return nn.Constant(value, f.integer("nInputDim", None))


def _dilated_max(f: Fields) -> Module:
    kw, kh = f.integer("kW"), f.integer("kH")
    return nn.SpatialDilatedMaxPooling(kw, kh, f.integer("dW", kw), f.integer("dH", kh), f.integer("padW", 0),
                                       f.integer("padH", 0), f.integer("dilationW", 1), f.integer("dilationH", 1),
                                       f.boolean("ceil_mode", False))


def _volumetric_dilated_max(f: Fields) -> Module:
    kt, kw, kh = f.integer("kT"), f.integer("kW"), f.integer("kH")
    return nn.VolumetricDilatedMaxPooling(
        kt, kw, kh, f.integer("dT", kt), f.integer("dW", kw), f.integer("dH", kh), f.integer("padT", 0),
        f.integer("padW", 0), f.integer("padH", 0), f.integer("dilationT", 1), f.integer("dilationW", 1),
        f.integer("dilationH", 1), f.boolean("ceil_mode", False))


def _upsampling(f: Fields) -> Module:
    mode = f.raw("mode", "nearest")
    if f.has("scale_factor"):
        return nn.UpSampling(f.integer("scale_factor"), mode)
    sizes = {"oheight": f.integer("oheight"), "owidth": f.integer("owidth")}
    if f.has("odepth"):
        sizes["odepth"] = f.integer("odepth")
    return nn.UpSampling(sizes, mode)


def _depth_concat(f: Fields) -> tuple[Module, Any, Any]:
    built = [f.build(c, i) for i, c in enumerate(f.children())]
    m = nn.DepthConcat(f.dim("dimension"), *(b[0] for b in built))
    return m, tuple(b[1] for b in built), tuple(b[2] for b in built)


_SPECS: dict[str, tuple[str, Builder]] = {
    "nn.DepthConcat": ("DepthConcat", _depth_concat),
    "nn.PixelShuffle": ("PixelShuffle", _plain(lambda f: nn.PixelShuffle(f.integer("upscaleFactor")))),
    "nn.UpSampling": ("UpSampling", _plain(_upsampling)),
    "nn.VolumetricReplicationPadding": ("VolumetricReplicationPadding", _plain(
        lambda f: nn.VolumetricReplicationPadding(*(f.integer(k) for k in ("pleft", "pright", "ptop", "pbottom",
                                                                             "pfront", "pback"))))),
    "nn.SpatialDilatedMaxPooling": ("SpatialDilatedMaxPooling", _plain(_dilated_max)),
    "nn.VolumetricDilatedMaxPooling": ("VolumetricDilatedMaxPooling", _plain(_volumetric_dilated_max)),
    "nn.TemporalDynamicKMaxPooling": ("TemporalDynamicKMaxPooling", _plain(
        lambda f: nn.TemporalDynamicKMaxPooling(f.integer("minK"), f.num("factor", 0.0)))),
    "nn.FeatureLPPooling": ("FeatureLPPooling", _plain(lambda f: nn.FeatureLPPooling(
        f.integer("width"), f.integer("stride"), f.num("power"), f.boolean("batch_mode", False)))),
    "nn.SpatialSoftMax": ("SpatialSoftMax", _plain(lambda f: nn.SpatialSoftMax())),
    "nn.SpatialLogSoftMax": ("SpatialLogSoftMax", _plain(lambda f: nn.SpatialLogSoftMax())),
    "nn.ZipTable": ("ZipTable", _plain(lambda f: nn.ZipTable())),
    "nn.ZipTableOneToMany": ("ZipTableOneToMany", _plain(lambda f: nn.ZipTableOneToMany())),
    "nn.CAddTensorTable": ("CAddTensorTable", _plain(lambda f: nn.CAddTensorTable())),
    "nn.GradientReversal": ("GradientReversal", _plain(lambda f: nn.GradientReversal(f.num("lambda", 1.0)))),
    "nn.MM": ("MM", _plain(lambda f: nn.MM(f.boolean("transA", False), f.boolean("transB", False)))),
    "nn.MV": ("MV", _plain(lambda f: nn.MV(f.boolean("trans", False)))),
    "nn.Index": ("Index", _plain(lambda f: nn.Index(f.dim("dimension")))),
    "nn.MixtureTable": ("MixtureTable", _plain(lambda f: nn.MixtureTable(f.dim("dim", None)))),
    "nn.RReLU": ("RReLU", _plain(lambda f: nn.RReLU(f.num("lower", 1 / 8), f.num("upper", 1 / 3)))),
    "nn.WhiteNoise": ("WhiteNoise", _plain(lambda f: nn.WhiteNoise(f.num("mean", 0.0), f.num("std", 0.1)))),
    "nn.Constant": ("Constant", _plain(_constant)),
    "nn.OneHot": ("OneHot", _plain(lambda f: nn.OneHot(f.integer("outputSize")))),
    "nn.Collapse": ("Collapse", _plain(lambda f: nn.Collapse(f.integer("nInputDim")))),
    "nn.CReLU": ("CReLU", _plain(lambda f: nn.CReLU(f.integer("nInputDims")))),
    "nn.L1Penalty": ("L1Penalty", _plain(lambda f: nn.L1Penalty(
        f.num("l1weight"), f.boolean("sizeAverage", False), f.boolean("provideOutput", True)))),
    "nn.Euclidean": ("Euclidean", _weighted(lambda s: nn.Euclidean(int(s[0]), int(s[1])))),  # weight (in, out)
    "nn.Cosine": ("Cosine", _weighted(lambda s: nn.Cosine(int(s[1]), int(s[0])))),  # weight (out, in)
    "nn.SpatialConvolutionMM": ("SpatialConvolutionMM", _spatial_conv_mm),
}
for _name, (_layer, _builder) in _SPECS.items():
    if hasattr(nn, _layer):
        T7_MODULES[_name] = _builder
