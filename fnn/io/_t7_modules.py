"""The torch7 class -> fnn constructor registry used by :func:`fnn.load_t7`.

Each builder takes a :class:`~fnn.io._t7_load.Fields` (the saved module's fields) and returns
``(module, params, state)`` in fnn's layouts. Field names follow torch/nn's Lua sources (and
cudnn.torch's for the ``cudnn.*`` twins, which load as the ``nn`` modules they mirror); dims and
indices are made 0-based (torch7's ``dimension = 2`` is fnn's ``dim = 1``). Fields of older
files are read too: ``SpatialConvolution``'s single ``padding`` and 2-D ``(nOutputPlane,
nInputPlane*kH*kW)`` weight (``SpatialConvolutionMM``), BatchNorm's ``running_std``, Dropout
without ``v2`` (the old scaling), ``SpatialAveragePooling`` without ``ceil_mode``.

Deviations a user can see: ``cudnn.SoftMax``/``cudnn.LogSoftMax`` (cuDNN's instance mode,
over all non-batch dims) load as ``nn.SoftMax``/``nn.LogSoftMax``, equal on ``(N, K)`` and
``(K,)`` inputs; ``nn.SpatialLPPooling`` loads as the ``nn.Sequential`` it is in torch7.

>>> "cudnn.SpatialConvolution" in T7_MODULES and "nn.Linear" in T7_MODULES
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

import fnn.layers as nn
from fnn.core import Module
from fnn.io._t7_load import Builder, Fields

T7_MODULES: dict[str, Builder] = {}
_NONE: tuple = ()


def _register(*names: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        for name in names:
            T7_MODULES[name] = fn
        return fn
    return deco


def _plain(module: Module) -> tuple[Module, Any, Any]:
    return module, (), ()


def _simple(name: str, ctor: Callable[[Fields], Module]) -> None:
    """A module without params or state: only its constructor arguments come from the fields."""
    T7_MODULES[name] = lambda f: _plain(ctor(f))


# --------------------------------------------------------------------------- containers


def _children(f: Fields, name: str = "modules") -> tuple[list[Module], tuple, tuple]:
    built = [f.build(c, i) for i, c in enumerate(f.children(name))]
    return [b[0] for b in built], tuple(b[1] for b in built), tuple(b[2] for b in built)


def _container(ctor: Callable[..., Module]) -> Builder:
    def build(f: Fields) -> tuple[Module, Any, Any]:
        mods, params, state = _children(f)
        return ctor(f, mods), params, state
    return build


_register("nn.Sequential", "nn.SpatialLPPooling")(_container(lambda f, ms: nn.Sequential(*ms)))
_register("nn.ConcatTable")(_container(lambda f, ms: nn.ConcatTable(*ms)))
_register("nn.ParallelTable")(_container(lambda f, ms: nn.ParallelTable(*ms)))
_register("nn.Concat")(_container(lambda f, ms: nn.Concat(f.dim("dimension"), *ms)))
_register("nn.Parallel")(_container(
    lambda f, ms: nn.Parallel(f.dim("inputDimension"), f.dim("outputDimension"), *ms)))


@_register("nn.MapTable")
def _map_table(f: Fields) -> tuple[Module, Any, Any]:
    inner = f.raw("module", None)
    if inner is None:  # an empty MapTable: torch7 keeps the module as its first clone
        clones = f.children()
        if not clones:
            raise f.fail("holds no module")
        inner = clones[0]
    m, p, s = f.build(inner, 0)
    return nn.MapTable(m), (p,), (s,)


# --------------------------------------------------------------------------- linear and convolution


@_register("nn.Linear", "nn.LinearNoBias")
def _linear(f: Fields) -> tuple[Module, Any, Any]:
    w, b = f.array("weight"), f.array("bias", None)
    if w.ndim != 2:
        raise f.fail(f"weight should be (outputSize, inputSize), got {w.shape}")
    p = {"weight": w} if b is None else {"weight": w, "bias": b}
    return nn.Linear(w.shape[1], w.shape[0], bias=b is not None), p, ()


@_register("nn.Bilinear")
def _bilinear(f: Fields) -> tuple[Module, Any, Any]:
    w, b = f.array("weight"), f.array("bias", None)
    p = {"weight": w} if b is None else {"weight": w, "bias": b}
    return nn.Bilinear(w.shape[1], w.shape[2], w.shape[0], bias=b is not None), p, ()


def _weights(f: Fields, shape: tuple[int, ...]) -> dict:
    w, b = f.array("weight"), f.array("bias", None)
    if w.size != math.prod(shape):
        raise f.fail(f"weight of shape {w.shape} does not hold {shape} = {math.prod(shape)} elements")
    return {"weight": jnp.reshape(w, shape)} if b is None else {"weight": jnp.reshape(w, shape), "bias": b}


def _pads(f: Fields) -> tuple[int, int]:
    if f.has("padding"):  # files older than padW/padH
        return f.integer("padding"), f.integer("padding")
    pad_w = f.integer("padW", 0)
    return pad_w, f.integer("padH", pad_w)


@_register("nn.SpatialConvolution", "nn.SpatialConvolutionMM", "cudnn.SpatialConvolution",
           "nn.SpatialDilatedConvolution")
def _spatial_conv(f: Fields) -> tuple[Module, Any, Any]:
    n_in, n_out, kw, kh = f.integer("nInputPlane"), f.integer("nOutputPlane"), f.integer("kW"), f.integer("kH")
    groups = f.integer("groups", 1)
    p = _weights(f, (n_out, n_in // groups, kh, kw))
    pad_w, pad_h = _pads(f)
    m = nn.SpatialConvolution(n_in, n_out, kw, kh, f.integer("dW", 1), f.integer("dH", 1), pad_w, pad_h,
                              dilW=f.integer("dilationW", 1), dilH=f.integer("dilationH", 1), groups=groups,
                              bias="bias" in p)
    return m, p, ()


@_register("nn.SpatialFullConvolution", "cudnn.SpatialFullConvolution")
def _spatial_full_conv(f: Fields) -> tuple[Module, Any, Any]:
    n_in, n_out, kw, kh = f.integer("nInputPlane"), f.integer("nOutputPlane"), f.integer("kW"), f.integer("kH")
    p = _weights(f, (n_in, n_out, kh, kw))
    m = nn.SpatialFullConvolution(n_in, n_out, kw, kh, f.integer("dW", 1), f.integer("dH", 1), f.integer("padW", 0),
                                  f.integer("padH", 0), f.integer("adjW", 0), f.integer("adjH", 0), bias="bias" in p)
    return m, p, ()


@_register("nn.TemporalConvolution")
def _temporal_conv(f: Fields) -> tuple[Module, Any, Any]:
    n_in, n_out, kw = f.integer("inputFrameSize"), f.integer("outputFrameSize"), f.integer("kW")
    p = _weights(f, (n_out, kw * n_in))
    return nn.TemporalConvolution(n_in, n_out, kw, f.integer("dW", 1), bias="bias" in p), p, ()


@_register("nn.VolumetricConvolution", "cudnn.VolumetricConvolution")
def _volumetric_conv(f: Fields) -> tuple[Module, Any, Any]:
    n_in, n_out = f.integer("nInputPlane"), f.integer("nOutputPlane")
    kt, kw, kh = f.integer("kT"), f.integer("kW"), f.integer("kH")
    p = _weights(f, (n_out, n_in, kt, kh, kw))
    pad_t = f.integer("padT", 0)
    pad_w = f.integer("padW", pad_t)
    m = nn.VolumetricConvolution(n_in, n_out, kt, kw, kh, f.integer("dT", 1), f.integer("dW", 1), f.integer("dH", 1),
                                 pad_t, pad_w, f.integer("padH", pad_w), bias="bias" in p)
    return m, p, ()


# --------------------------------------------------------------------------- pooling


@_register("nn.SpatialMaxPooling", "cudnn.SpatialMaxPooling")
def _spatial_max(f: Fields) -> tuple[Module, Any, Any]:
    kw, kh = f.integer("kW"), f.integer("kH")
    return _plain(nn.SpatialMaxPooling(kw, kh, f.integer("dW", kw), f.integer("dH", kh), f.integer("padW", 0),
                                       f.integer("padH", 0), ceil_mode=f.boolean("ceil_mode", False)))


@_register("nn.SpatialAveragePooling", "cudnn.SpatialAveragePooling")
def _spatial_avg(f: Fields) -> tuple[Module, Any, Any]:
    if f.boolean("divide", True) is False:
        raise f.fail("divide=false (sum pooling, torch7 before 2016) has no fnn counterpart")
    old = not f.has("ceil_mode")  # torch7's backwardCompatible(): no padding, include_pad
    kw, kh = f.integer("kW"), f.integer("kH")
    pads = (0, 0) if old else (f.integer("padW", 0), f.integer("padH", 0))
    return _plain(nn.SpatialAveragePooling(kw, kh, f.integer("dW", 1), f.integer("dH", 1), *pads,
                                           ceil_mode=f.boolean("ceil_mode", False),
                                           count_include_pad=f.boolean("count_include_pad", True)))


_simple("nn.SpatialAdaptiveMaxPooling", lambda f: nn.SpatialAdaptiveMaxPooling(f.integer("W"), f.integer("H")))
_simple("nn.SpatialAdaptiveAveragePooling", lambda f: nn.SpatialAdaptiveAveragePooling(f.integer("W"), f.integer("H")))
_simple("nn.TemporalMaxPooling", lambda f: nn.TemporalMaxPooling(f.integer("kW"), f.integer("dW", f.integer("kW"))))


@_register("nn.VolumetricMaxPooling", "cudnn.VolumetricMaxPooling")
def _volumetric_max(f: Fields) -> tuple[Module, Any, Any]:
    kt, kw, kh = f.integer("kT"), f.integer("kW"), f.integer("kH")
    return _plain(nn.VolumetricMaxPooling(kt, kw, kh, f.integer("dT", kt), f.integer("dW", kw), f.integer("dH", kh),
                                          f.integer("padT", 0), f.integer("padW", 0), f.integer("padH", 0),
                                          ceil_mode=f.boolean("ceil_mode", False)))


@_register("nn.VolumetricAveragePooling", "cudnn.VolumetricAveragePooling")
def _volumetric_avg(f: Fields) -> tuple[Module, Any, Any]:
    if any(f.integer(p, 0) for p in ("padT", "padW", "padH")):
        raise f.fail("padded volumetric average pooling has no fnn counterpart")
    kt, kw, kh = f.integer("kT"), f.integer("kW"), f.integer("kH")
    return _plain(nn.VolumetricAveragePooling(kt, kw, kh, f.integer("dT", kt), f.integer("dW", kw),
                                              f.integer("dH", kh)))


# --------------------------------------------------------------------------- normalisation and dropout


def _batch_norm(ctor: Callable[..., Module]) -> Builder:
    def build(f: Fields) -> tuple[Module, Any, Any]:
        mean, eps = f.array("running_mean"), f.num("eps", 1e-5)
        if f.has("running_var"):
            var = f.array("running_var")
        elif f.has("running_std"):  # files before 2016 kept 1/sqrt(var + eps)
            var = 1.0 / jnp.square(f.array("running_std")) - eps
        else:
            raise f.fail("neither running_var nor running_std is stored")
        weight, bias = f.array("weight", None), f.array("bias", None)
        affine = weight is not None
        if affine and bias is None:
            raise f.fail("has a weight but no bias")
        m = ctor(int(mean.shape[0]), eps, f.num("momentum", 0.1), affine)
        params = {"weight": weight, "bias": bias} if affine else ()
        return m, params, {"running_mean": mean, "running_var": var}
    return build


_register("nn.BatchNormalization", "cudnn.BatchNormalization")(_batch_norm(nn.BatchNormalization))
_register("nn.SpatialBatchNormalization", "cudnn.SpatialBatchNormalization")(
    _batch_norm(nn.SpatialBatchNormalization))
_register("nn.VolumetricBatchNormalization", "cudnn.VolumetricBatchNormalization")(
    _batch_norm(nn.VolumetricBatchNormalization))

# A file without v2 predates it: torch7 then scaled at evaluation (v1).
_simple("nn.Dropout", lambda f: nn.Dropout(f.num("p", 0.5), v1=not f.boolean("v2", False),
                                           stochastic_inference=f.boolean("stochastic_inference", False)))
_simple("nn.SpatialDropout", lambda f: nn.SpatialDropout(f.num("p", 0.5), f.boolean("stochastic_inference", False)))
_simple("nn.VolumetricDropout",
        lambda f: nn.VolumetricDropout(f.num("p", 0.5), f.boolean("stochastic_inference", False)))

# --------------------------------------------------------------------------- transfer functions

for _name, _ctor in {"Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid, "ReLU": nn.ReLU, "ReLU6": nn.ReLU6,
                     "SoftMax": nn.SoftMax, "LogSoftMax": nn.LogSoftMax, "SoftMin": nn.SoftMin,
                     "SoftSign": nn.SoftSign, "LogSigmoid": nn.LogSigmoid, "TanhShrink": nn.TanhShrink}.items():
    _simple(f"nn.{_name}", lambda f, c=_ctor: c())
for _name in ("Tanh", "Sigmoid", "ReLU", "SoftMax", "LogSoftMax"):
    T7_MODULES[f"cudnn.{_name}"] = T7_MODULES[f"nn.{_name}"]

_simple("cudnn.ClippedReLU", lambda f: nn.HardTanh(0.0, f.num("ceiling")))
_simple("nn.Threshold", lambda f: nn.Threshold(f.num("threshold", 1e-6), f.num("val", 0.0)))
_simple("nn.ELU", lambda f: nn.ELU(f.num("alpha", 1.0)))
_simple("nn.LeakyReLU", lambda f: nn.LeakyReLU(f.num("negval", 0.01)))
_simple("nn.HardTanh", lambda f: nn.HardTanh(f.num("min_val", -1.0), f.num("max_val", 1.0)))
_simple("nn.SoftPlus", lambda f: nn.SoftPlus(f.num("beta", 1.0), f.num("threshold", 20.0)))
_simple("nn.HardShrink", lambda f: nn.HardShrink(f.num("lambda", 0.5)))
_simple("nn.SoftShrink", lambda f: nn.SoftShrink(f.num("lambda", 0.5)))
_simple("nn.GatedLinearUnit", lambda f: nn.GatedLinearUnit(f.dim("dim", -1)))


@_register("nn.PReLU")
def _prelu(f: Fields) -> tuple[Module, Any, Any]:
    w = f.array("weight")
    return nn.PReLU(f.integer("nOutputPlane", 0)), {"weight": jnp.reshape(w, (-1,))}, ()


# --------------------------------------------------------------------------- simple, shaping, reduction

_simple("nn.Identity", lambda f: nn.Identity())
_simple("nn.MulConstant", lambda f: nn.MulConstant(f.num("constant_scalar")))
_simple("nn.AddConstant", lambda f: nn.AddConstant(
    f.raw("constant_scalar") if isinstance(f.raw("constant_scalar"), np.ndarray) else f.num("constant_scalar")))
_simple("nn.Replicate", lambda f: nn.Replicate(f.integer("nfeatures"), f.dim("dim", 1), f.integer("ndim", None)))
_simple("nn.Padding", lambda f: nn.Padding(f.dim("dim"), f.integer("pad"), f.integer("nInputDim", None),
                                           f.num("value", 0.0), f.integer("index", 1) - 1))
_simple("nn.View", lambda f: nn.View(*f.ints("size"), num_input_dims=f.integer("numInputDims", None)))
_simple("nn.Reshape", lambda f: nn.Reshape(*f.ints("size"), batch_mode=f.raw("batchMode", None)))
_simple("nn.Narrow", lambda f: nn.Narrow(f.dim("dimension"), f.dim("index"), f.integer("length", 1)))
_simple("nn.Select", lambda f: nn.Select(f.dim("dimension"), f.dim("index")))
_simple("nn.Squeeze", lambda f: nn.Squeeze(f.dim("dim", None), f.integer("numInputDims", None)))
_simple("nn.Unsqueeze", lambda f: nn.Unsqueeze(f.dim("pos"), f.integer("numInputDims", None)))
_simple("nn.Transpose", lambda f: nn.Transpose(
    *[tuple(int(d) - 1 for d in pair) for pair in f.children("permutations")],
    num_input_dims=f.integer("numInputDims", None)))
_simple("nn.Sum", lambda f: nn.Sum(f.dim("dimension", 1), f.integer("nInputDims", None),
                                   f.boolean("sizeAverage", False), f.boolean("squeeze", True)))
_simple("nn.Mean", lambda f: nn.Mean(f.dim("dimension", 1), f.integer("nInputDims", None)) if f.boolean("squeeze", True)
        else nn.Sum(f.dim("dimension", 1), f.integer("nInputDims", None), True, False))  # Mean is a Sum in torch7
_simple("nn.Max", lambda f: nn.Max(f.dim("dimension", 1), f.integer("nInputDims", None)))
_simple("nn.Min", lambda f: nn.Min(f.dim("dimension", 1), f.integer("nInputDims", None)))
for _name, _ctor in {"Abs": nn.Abs, "Exp": nn.Exp, "Log": nn.Log, "Square": nn.Square}.items():
    _simple(f"nn.{_name}", lambda f, c=_ctor: c())
_simple("nn.Sqrt", lambda f: nn.Sqrt(f.num("eps", 0.0)))
_simple("nn.Power", lambda f: nn.Power(f.num("pow")))
_simple("nn.Clamp", lambda f: nn.Clamp(f.num("min_val"), f.num("max_val")))
_simple("nn.Normalize", lambda f: nn.Normalize(f.num("p"), f.num("eps", 1e-10)))


@_register("nn.CMul")
def _cmul(f: Fields) -> tuple[Module, Any, Any]:
    w = f.array("weight")
    return nn.CMul(*w.shape), {"weight": w}, ()


@_register("nn.CAdd")
def _cadd(f: Fields) -> tuple[Module, Any, Any]:
    b = f.array("bias")
    return nn.CAdd(*b.shape), {"bias": b}, ()


@_register("nn.Add")
def _add(f: Fields) -> tuple[Module, Any, Any]:
    b = jnp.reshape(f.array("bias"), (-1,))
    scalar = bool(f.raw("scalar", False))
    return nn.Add(int(b.shape[0]), scalar), {"bias": b}, ()


@_register("nn.Mul")
def _mul(f: Fields) -> tuple[Module, Any, Any]:
    return nn.Mul(), {"weight": jnp.reshape(f.array("weight"), (1,))}, ()


@_register("nn.LookupTable")
def _lookup(f: Fields) -> tuple[Module, Any, Any]:
    w = f.array("weight")
    pad = f.integer("paddingValue", 0)
    max_norm = f.num("maxNorm", None)
    m = nn.LookupTable(int(w.shape[0]), int(w.shape[1]), pad - 1 if pad > 0 else None, max_norm,
                       f.num("normType", 2.0), f.boolean("shouldScaleGradByFreq", False), dtype=w.dtype)
    state = () if max_norm is None else {"delta": jnp.zeros_like(w)}
    return m, {"weight": w}, state


# --------------------------------------------------------------------------- tables and spatial

for _name, _ctor in {"FlattenTable": nn.FlattenTable, "CAddTable": nn.CAddTable, "CMulTable": nn.CMulTable,
                     "CSubTable": nn.CSubTable, "CDivTable": nn.CDivTable, "CMaxTable": nn.CMaxTable,
                     "CMinTable": nn.CMinTable, "DotProduct": nn.DotProduct,
                     "CosineDistance": nn.CosineDistance}.items():
    _simple(f"nn.{_name}", lambda f, c=_ctor: c())
_simple("nn.JoinTable", lambda f: nn.JoinTable(f.dim("dimension"), f.integer("nInputDims", None)))
_simple("nn.SplitTable", lambda f: nn.SplitTable(f.dim("dimension"), f.integer("nInputDims", None)))
_simple("nn.NarrowTable", lambda f: nn.NarrowTable(f.dim("offset"), f.integer("length", 1)))
_simple("nn.SelectTable", lambda f: nn.SelectTable(f.dim("index")))
_simple("nn.PairwiseDistance", lambda f: nn.PairwiseDistance(f.num("norm", 2.0)))


def _pad4(f: Fields) -> tuple[int, int, int, int]:
    left = f.integer("pad_l")
    return left, f.integer("pad_r", left), f.integer("pad_t", left), f.integer("pad_b", left)


_simple("nn.SpatialZeroPadding", lambda f: nn.SpatialZeroPadding(*_pad4(f)))
_simple("nn.SpatialReflectionPadding", lambda f: nn.SpatialReflectionPadding(*_pad4(f)))
_simple("nn.SpatialReplicationPadding", lambda f: nn.SpatialReplicationPadding(*_pad4(f)))
_simple("nn.SpatialUpSamplingNearest", lambda f: nn.SpatialUpSamplingNearest(f.integer("scale_factor")))


@_register("nn.SpatialUpSamplingBilinear")
def _upsampling_bilinear(f: Fields) -> tuple[Module, Any, Any]:
    if f.has("scale_factor"):
        return _plain(nn.SpatialUpSamplingBilinear(f.integer("scale_factor")))
    return _plain(nn.SpatialUpSamplingBilinear(oheight=f.integer("oheight"), owidth=f.integer("owidth")))
