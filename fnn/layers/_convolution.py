"""Convolutions (torch7 ``doc/convolution.md``): Temporal, Spatial, Spatial full (transposed),
Spatial dilated and Volumetric; the PyTorch aliases ``Conv1d/2d/3d`` and
``ConvTranspose1d/2d/3d`` (PyTorch's argument conventions) live in :mod:`fnn.conv_torch`
and are re-exported here.

torch7 conventions kept here: constructor arguments put **width before height**
(``kW, kH, dW, dH, padW, padH``; Volumetric ``kT, kW, kH``), weights are stored
``(n_out, n_in, [kT,] kH, kW)`` (transposed: ``(n_in, n_out, kH, kW)``), activations are
``NCHW`` and a layer takes one example ``(C, H, W)`` or a batch ``(B, C, H, W)``.
TemporalConvolution is time-major and channels-last: ``(T, F)`` or ``(B, T, F)``.
Default init (torch7 and PyTorch agree): weight and bias ``U(±1/√fan_in)``.

Every forward is one convolution on the stored layout plus the bias: ``lax.conv_general_dilated``,
or for the 2-D NCHW layers :func:`fnn.kernels.conv2d`, which on CPU runs small-channel
convolutions as one GEMM against a banded weight matrix (2-7x faster forward and backward;
the same XLA convolution on GPU/TPU and for the shapes where that is faster). Its one visible
difference: an ``inf``/``NaN`` in the input turns its whole output row block ``NaN`` instead of
its receptive field only (finite outputs are exact); ``fnn.kernels.DEFAULT_IMPL = "xla"``
restores XLA's convolution everywhere.
"""

from __future__ import annotations

from fnn.core import Initializer, Module
from fnn.core._args import ints
from fnn.errors import ConfigError
from fnn.layers._conv import conv_layer, transposed_layer
from fnn.layers._conv_torch import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d

Initializer = Initializer


def _suffix(d: tuple[int, ...], pads: tuple[int, ...], extra: str = "") -> str:
    """torch7's ``, dW,dH, padW,padH`` tail (stride shown when either is non-default)."""
    s = ""
    if any(v != 1 for v in d) or any(pads):
        s += ", " + ",".join(map(str, d))
    if any(pads):
        s += ", " + ",".join(map(str, pads))
    return s + extra


def TemporalConvolution(
    in_frame: int, out_frame: int, kW: int, dW: int = 1, *, bias: bool = True,
    weight_init: Initializer | None = None, bias_init: Initializer | None = None,
) -> Module:
    """1-D convolution over time, torch7 layout: ``(T, in_frame) -> (T', out_frame)``.

    Args:
      in_frame: features per time step (the last input dim).
      out_frame: output features per time step.
      kW: kernel width (time steps per window).
      dW: stride in time.
      bias: add a bias (an fnn extension; torch7 always had one).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default ``U(±1/√(kW·in_frame))``.

    Shape contract: ``(T, in_frame)`` or ``(B, T, in_frame)`` (channels-last, unlike
    PyTorch's ``Conv1d`` on ``(B, C, L)``); ``T' = floor((T - kW) / dW) + 1``. There is no
    padding argument (as in torch7).
    Params: ``weight (out_frame, kW*in_frame)`` kernel-position major (element
    ``[o, k*in_frame + i]``, torch7's layout), ``bias (out_frame,)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.TemporalConvolution(3, 4, 2)
    >>> out_shape, params = init(jax.random.key(0), (-1, 7, 3))
    >>> out_shape, params['weight'].shape, apply(params, jnp.ones((7, 3))).shape
    ((-1, 6, 4), (4, 6), (6, 4))
    """
    layer = "nn.TemporalConvolution"
    ints(layer, 1, in_frame=in_frame, out_frame=out_frame, kW=kW, dW=dW)
    name = f"{layer}({in_frame} -> {out_frame}, {kW}{'' if dW == 1 else f', {dW}'})" + ("" if bias else " without bias")
    return conv_layer(
        name, "TemporalConvolution", {"in_frame": in_frame, "out_frame": out_frame, "kW": kW, "dW": dW, "bias": bias},
        n_in=in_frame, n_out=out_frame, kernel=(kW,), stride=(dW,), pads=((0, 0),), dilation=(1,), groups=1,
        bias=bias, w_init=weight_init, b_init=bias_init, fan_in=kW * in_frame, lhs="NWC",
        weight_shape=(out_frame, kW * in_frame),
    )


def SpatialConvolution(
    n_in: int, n_out: int, kW: int, kH: int, dW: int = 1, dH: int = 1, padW: int = 0, padH: int | None = None,
    *, dilW: int = 1, dilH: int = 1, groups: int = 1, bias: bool = True,
    weight_init: Initializer | None = None, bias_init: Initializer | None = None,
) -> Module:
    """2-D convolution (cross-correlation): ``(n_in, H, W) -> (n_out, H', W')``.

    Args:
      n_in, n_out: input and output planes.
      kW, kH: kernel width and height (torch7 order: width first).
      dW, dH: strides (default 1).
      padW: zero padding on both sides of W.
      padH: zero padding of H; **defaults to padW** (torch7), not 0.
      dilW, dilH: kernel dilation (an fnn extension; torch7 needed SpatialDilatedConvolution).
      groups: grouped convolution (an fnn extension; ``n_in`` and ``n_out`` divisible by it).
      bias: add a bias (torch7's ``noBias()`` is ``bias=False``).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default ``U(±1/√(n_in/groups·kW·kH))``.

    Shape contract: ``(n_in, H, W)`` or ``(B, n_in, H, W)``;
    ``H' = floor((H + 2·padH - dilH·(kH-1) - 1) / dH) + 1`` (and W alike).
    Params: ``weight (n_out, n_in/groups, kH, kW)``, ``bias (n_out,)`` (PyTorch Conv2d's layout).

    >>> import jax, jax.numpy as jnp, fnn
    >>> conv = fnn.SpatialConvolution(1, 6, 5, 5)
    >>> print(conv)
    nn.SpatialConvolution(1 -> 6, 5x5)
    >>> out_shape, params = conv.init(jax.random.key(0), (-1, 1, 32, 32))
    >>> out_shape, params['weight'].shape
    ((-1, 6, 28, 28), (6, 1, 5, 5))
    >>> conv.apply(params, jnp.ones((1, 32, 32))).dtype
    dtype('float32')
    """
    layer = "nn.SpatialConvolution"
    padH = padW if padH is None else padH
    ints(layer, 1, n_in=n_in, n_out=n_out, kW=kW, kH=kH, dW=dW, dH=dH, dilW=dilW, dilH=dilH, groups=groups)
    ints(layer, 0, padW=padW, padH=padH)
    extra = (f", dil {dilW},{dilH}" if (dilW, dilH) != (1, 1) else "") + (f", groups {groups}" if groups != 1 else "")
    name = f"{layer}({n_in} -> {n_out}, {kW}x{kH}{_suffix((dW, dH), (padW, padH), extra)})" + (
        "" if bias else " without bias")
    cfg = {"n_in": n_in, "n_out": n_out, "kW": kW, "kH": kH, "dW": dW, "dH": dH, "padW": padW, "padH": padH,
           "dilW": dilW, "dilH": dilH, "groups": groups, "bias": bias}
    return conv_layer(
        name, "SpatialConvolution", cfg, n_in=n_in, n_out=n_out, kernel=(kH, kW), stride=(dH, dW),
        pads=((padH, padH), (padW, padW)), dilation=(dilH, dilW), groups=groups, bias=bias, w_init=weight_init,
        b_init=bias_init, fan_in=n_in // max(groups, 1) * kW * kH, lhs="NCHW",
        weight_shape=(n_out, n_in // max(groups, 1), kH, kW),
    )


def SpatialDilatedConvolution(
    n_in: int, n_out: int, kW: int, kH: int, dW: int = 1, dH: int = 1, padW: int = 0, padH: int | None = None,
    dilW: int = 1, dilH: int = 1, *, bias: bool = True,
    weight_init: Initializer | None = None, bias_init: Initializer | None = None,
) -> Module:
    """Atrous 2-D convolution: SpatialConvolution with the kernel taps ``dil`` apart.

    Args:
      n_in, n_out, kW, kH, dW, dH, padW, padH: as :func:`SpatialConvolution` (``padH`` defaults to ``padW``).
      dilW, dilH: dilation (default 1).
      bias, weight_init, bias_init: as :func:`SpatialConvolution`; default init ``U(±1/√(n_in·kW·kH))``.

    Shape contract: ``H' = floor((H + 2·padH - dilH·(kH-1) - 1) / dH) + 1``.
    Params: ``weight (n_out, n_in, kH, kW)``, ``bias (n_out,)``.

    >>> import jax, fnn
    >>> fnn.SpatialDilatedConvolution(2, 3, 3, 3, 1, 1, 0, 0, 2, 2).init(jax.random.key(0), (2, 9, 9))[0]
    (3, 5, 5)
    """
    layer = "nn.SpatialDilatedConvolution"
    padH = padW if padH is None else padH
    ints(layer, 1, n_in=n_in, n_out=n_out, kW=kW, kH=kH, dW=dW, dH=dH, dilW=dilW, dilH=dilH)
    ints(layer, 0, padW=padW, padH=padH)
    name = (f"{layer}({n_in} -> {n_out}, {kW}x{kH}, {dW},{dH}, {padW},{padH}, {dilW},{dilH})"
            + ("" if bias else " without bias"))
    cfg = {"n_in": n_in, "n_out": n_out, "kW": kW, "kH": kH, "dW": dW, "dH": dH, "padW": padW, "padH": padH,
           "dilW": dilW, "dilH": dilH, "bias": bias}
    return conv_layer(
        name, "SpatialDilatedConvolution", cfg, n_in=n_in, n_out=n_out, kernel=(kH, kW), stride=(dH, dW),
        pads=((padH, padH), (padW, padW)), dilation=(dilH, dilW), groups=1, bias=bias, w_init=weight_init,
        b_init=bias_init, fan_in=n_in * kW * kH, lhs="NCHW", weight_shape=(n_out, n_in, kH, kW),
    )


def SpatialFullConvolution(
    n_in: int, n_out: int, kW: int, kH: int, dW: int = 1, dH: int = 1, padW: int = 0, padH: int = 0,
    adjW: int = 0, adjH: int = 0, *, bias: bool = True,
    weight_init: Initializer | None = None, bias_init: Initializer | None = None,
) -> Module:
    """Transposed 2-D convolution ("full" or "fractionally strided" convolution).

    Args:
      n_in, n_out: input and output planes.
      kW, kH, dW, dH: kernel and stride (width first).
      padW, padH: the padding of the convolution this transposes (default 0 each;
        unlike SpatialConvolution, padH does not default to padW).
      adjW, adjH: extra output columns/rows at the high end; must be < the stride.
      bias, weight_init, bias_init: as :func:`SpatialConvolution`; default init ``U(±1/√(n_in·kW·kH))``.

    Shape contract: ``(n_in, H, W)`` or ``(B, n_in, H, W)`` ->
    ``H' = (H-1)·dH - 2·padH + kH + adjH``. As in torch7, the input may also be the table
    ``(x, ref)``: the output then takes ``ref``'s size, ``adj = (ref + 2·pad - k) mod d``
    (the given adj is ignored) and ``ref`` gets a zero gradient.
    Params: ``weight (n_in, n_out, kH, kW)`` (PyTorch ConvTranspose2d's layout), ``bias (n_out,)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> up = fnn.SpatialFullConvolution(2, 1, 3, 3, 2, 2, 1, 1, 1, 1)
    >>> out_shape, params = up.init(jax.random.key(0), (-1, 2, 4, 4))
    >>> out_shape, params['weight'].shape
    ((-1, 1, 8, 8), (2, 1, 3, 3))
    >>> up.apply(params, (jnp.ones((2, 4, 4)), jnp.ones((1, 7, 7)))).shape
    (1, 7, 7)
    """
    layer = "nn.SpatialFullConvolution"
    ints(layer, 1, n_in=n_in, n_out=n_out, kW=kW, kH=kH, dW=dW, dH=dH)
    ints(layer, 0, padW=padW, padH=padH, adjW=adjW, adjH=adjH)
    if adjW >= dW or adjH >= dH:
        raise ConfigError(f"{layer}: adjW and adjH ({adjW}, {adjH}) must be smaller than dW and dH ({dW}, {dH})")
    extra = f", {adjW},{adjH}" if (adjW, adjH) != (0, 0) else ""
    name = f"{layer}({n_in} -> {n_out}, {kW}x{kH}{_suffix((dW, dH), (padW, padH), extra)})" + (
        "" if bias else " without bias")
    cfg = {"n_in": n_in, "n_out": n_out, "kW": kW, "kH": kH, "dW": dW, "dH": dH, "padW": padW, "padH": padH,
           "adjW": adjW, "adjH": adjH, "bias": bias}
    return transposed_layer(
        name, "SpatialFullConvolution", cfg, n_in=n_in, n_out=n_out, kernel=(kH, kW), stride=(dH, dW),
        padding=(padH, padW), adj=(adjH, adjW), dilation=(1, 1), groups=1, bias=bias, w_init=weight_init,
        b_init=bias_init, fan_in=n_in * kW * kH, lhs="NCHW", ref_table=True,
    )


def VolumetricConvolution(
    n_in: int, n_out: int, kT: int, kW: int, kH: int, dT: int = 1, dW: int = 1, dH: int = 1,
    padT: int = 0, padW: int | None = None, padH: int | None = None, *, bias: bool = True,
    weight_init: Initializer | None = None, bias_init: Initializer | None = None,
) -> Module:
    """3-D convolution over ``(n_in, T, H, W)`` or ``(B, n_in, T, H, W)``.

    Args:
      n_in, n_out: input and output planes.
      kT, kW, kH: kernel size (torch7 order: time, width, height).
      dT, dW, dH: strides (default 1).
      padT: zero padding of T; ``padW`` defaults to ``padT`` and ``padH`` to ``padW`` (torch7).
      bias, weight_init, bias_init: as :func:`SpatialConvolution`; default init ``U(±1/√(n_in·kT·kW·kH))``.

    Shape contract: ``T' = floor((T + 2·padT - kT) / dT) + 1`` (H, W alike).
    Params: ``weight (n_out, n_in, kT, kH, kW)``, ``bias (n_out,)`` (PyTorch Conv3d's layout).

    >>> import jax, fnn
    >>> fnn.VolumetricConvolution(1, 2, 3, 3, 3, padT=1).init(jax.random.key(0), (-1, 1, 4, 5, 5))[0]
    (-1, 2, 4, 5, 5)
    """
    layer = "nn.VolumetricConvolution"
    padW = padT if padW is None else padW
    padH = padW if padH is None else padH
    ints(layer, 1, n_in=n_in, n_out=n_out, kT=kT, kW=kW, kH=kH, dT=dT, dW=dW, dH=dH)
    ints(layer, 0, padT=padT, padW=padW, padH=padH)
    s = f"{layer}({n_in} -> {n_out}, {kT}x{kW}x{kH}"
    if (dT, dW, dH) != (1, 1, 1) or any((padT, padW, padH)):
        s += f", {dT},{dW},{dH}"
    if any((padT, padW, padH)):
        s += f", {padT},{padW},{padH}"
    name = s + ")" + ("" if bias else " without bias")
    cfg = {"n_in": n_in, "n_out": n_out, "kT": kT, "kW": kW, "kH": kH, "dT": dT, "dW": dW, "dH": dH,
           "padT": padT, "padW": padW, "padH": padH, "bias": bias}
    return conv_layer(
        name, "VolumetricConvolution", cfg, n_in=n_in, n_out=n_out, kernel=(kT, kH, kW), stride=(dT, dH, dW),
        pads=((padT, padT), (padH, padH), (padW, padW)), dilation=(1, 1, 1), groups=1, bias=bias,
        w_init=weight_init, b_init=bias_init, fan_in=n_in * kT * kW * kH, lhs="NCDHW",
        weight_shape=(n_out, n_in, kT, kH, kW),
    )


__all__ = [
    "TemporalConvolution", "SpatialConvolution", "SpatialDilatedConvolution", "SpatialFullConvolution",
    "VolumetricConvolution", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
]
LAYERS = ["TemporalConvolution", "SpatialConvolution", "SpatialDilatedConvolution", "SpatialFullConvolution",
          "VolumetricConvolution"]
