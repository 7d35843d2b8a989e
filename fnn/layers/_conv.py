"""Convolutions: torch7's Temporal, Spatial, SpatialDilated, SpatialFull (transposed) and
Volumetric convolutions, and PyTorch's ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d``.

Every layer is one call of :func:`conv_layer` (a cross-correlation) or :func:`transposed_layer`
(its transpose): one convolution on the layout the layer documents, plus the bias, with no
transposes of the input. The 2-D NCHW layers go through :func:`fnn.kernels.conv2d`, on CPU a
GEMM against a banded weight for small channel counts (an ``inf``/``NaN`` input then spoils its
whole output row block, not only its receptive field; finite outputs are exact). torch7 names
keep torch7's argument order (**width before height**); PyTorch names keep PyTorch's, their 1-D
and 3-D forms being the 2-D one with another number of spatial dims (:func:`_conv_nd`,
:func:`_transpose_nd`). Default init (torch7 and PyTorch agree): ``U(±1/√fan_in)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from fnn import kernels
from fnn.core import Initializer, Module, format_shape, is_shape, leaf, uniform
from fnn.core._args import int_tuple, ints
from fnn.errors import ConfigError, ShapeError
from fnn.layers import _windows as win

_PAD_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
_LHS = {1: "NCH", 2: "NCHW", 3: "NCDHW"}  # PyTorch's layout per number of spatial dims

# --------------------------------------------------------------------------- builders


def _axes(lhs: str) -> tuple[int, tuple[int, ...]]:
    """Negative (channel axis, spatial axes) of an input laid out as ``lhs``."""
    n = len(lhs)
    return lhs.index("C") - n, tuple(i - n for i, c in enumerate(lhs) if c not in "NC")


def _letters(lhs: str, channels: int | str) -> tuple[str, ...]:
    """The letters of one example, e.g. ``("3", "H", "W")`` or ``("T", "3")``."""
    if lhs == "NWC":
        return ("T", str(channels))
    names = {"W": "W", "H": "H" if len(lhs) > 3 else "L", "D": "T"}
    return tuple(str(channels) if c == "C" else names[c] for c in lhs[1:])


def _bias_shape(lhs: str, n_out: int) -> tuple[int, ...]:
    return tuple(n_out if c == "C" else 1 for c in lhs)


def _params_fn(weight_shape: tuple[int, ...], n_out: int, bias: bool, w_init: Callable | None,
               b_init: Callable | None, fan_in: int) -> Callable:
    bound = 1.0 / math.sqrt(fan_in)
    w_init = w_init or uniform(bound)
    b_init = b_init or uniform(bound)

    def params(rng: Any, shape: Any, dtype: Any) -> dict:
        kw, kb = jax.random.split(rng)
        p = {"weight": w_init(kw, weight_shape, dtype)}
        if bias:
            p["bias"] = b_init(kb, (n_out,), dtype)
        return p

    return params


def _check_groups(name: str, n_in: int, n_out: int, groups: int) -> None:
    if n_in % groups or n_out % groups:
        raise ConfigError(f"{name}: in and out channels ({n_in}, {n_out}) must both be divisible by groups={groups}")


def _padded_check(base: Callable, mode: str | None, pads: tuple[tuple[int, int], ...],
                  spatial: tuple[int, ...]) -> Callable:
    """Adds the reflect-padding rule (pad < size) to a layout check."""
    if mode != "reflect":
        return base

    def check(shape: Any, dtype: Any) -> None:
        base(shape, dtype)
        for (lo, hi), a in zip(pads, spatial, strict=True):
            if shape[a] != -1 and max(lo, hi) >= shape[a]:
                raise ShapeError(f"reflect padding {max(lo, hi)} must be smaller than the input size {shape[a]}, "
                                 f"got input {format_shape(shape)}")

    return check


def _ref_table_check(base: Callable, n_sp: int) -> Callable:
    """Lets a layout check accept torch7's table ``(input, ref)`` too (SpatialFullConvolution)."""

    def check(shape: Any, dtype: Any) -> None:
        if not is_shape(shape):
            if len(shape) != 2 or not is_shape(shape[1]) or len(shape[1]) < n_sp:
                raise ShapeError(f"expects an input or a table (input, ref) whose ref has >= {n_sp} dims, "
                                 f"got {format_shape(shape)}")
            shape = shape[0]
        base(shape, dtype)

    return check


def conv_layer(
    name: str, kind: str, config: dict, *, n_in: int, n_out: int, kernel: tuple[int, ...], stride: tuple[int, ...],
    pads: tuple[tuple[int, int], ...], dilation: tuple[int, ...], groups: int, bias: bool, w_init: Callable | None,
    b_init: Callable | None, fan_in: int, lhs: str, weight_shape: tuple[int, ...], padding_mode: str = "zeros",
) -> Module:
    """A cross-correlation layer.

    Args:
      kernel, stride, dilation, pads: per spatial dim, in the order of ``lhs``
        (``H`` before ``W``); ``pads`` holds ``(low, high)`` pairs.
      lhs: the input layout with batch: ``"NCH"``, ``"NCHW"``, ``"NCDHW"`` or torch7's ``"NWC"``.
      weight_shape: the stored weight shape; it is reshaped (never transposed) to the
        rhs layout ``OI...`` (or ``O W I`` for ``"NWC"``).
      padding_mode: PyTorch's ``zeros``/``reflect``/``replicate``/``circular``.
    """
    if padding_mode not in _PAD_MODES:
        raise ConfigError(f"{name}: padding_mode must be one of {sorted(_PAD_MODES)}, got {padding_mode!r}")
    _check_groups(name, n_in, n_out, groups)
    spatial_letters = "".join(c for c in lhs if c not in "NC")
    dn = (lhs, "OI" + spatial_letters if lhs.index("C") == 1 else "O" + spatial_letters + "I", lhs)
    channel_axis, spatial = _axes(lhs)
    rhs_shape = (n_out, n_in // groups, *kernel) if dn[1].startswith("OI") else (n_out, *kernel, n_in // groups)
    mode = _PAD_MODES[padding_mode]
    check = win.check_layout(_letters(lhs, n_in), channel_axis=channel_axis, channels=n_in, spatial_axes=spatial,
                             out_fn=lambda i, n: win.conv_out(n, kernel[i], stride[i], *pads[i], d=dilation[i]))
    check = _padded_check(check, mode, pads, spatial)
    conv_pads = [(0, 0)] * len(kernel) if mode else list(pads)
    widths = [(0, 0)] * len(lhs)  # the non-zero padding modes: jnp.pad of the spatial axes
    for a, lohi in zip(spatial, pads, strict=True):
        widths[a] = lohi

    def forward(p: dict, x: Any, *, rng: Any, train: bool) -> Any:
        w = p["weight"]
        win.same_dtype(x, w)
        xb, single = win.batch_first(x, len(lhs) - 1)
        if mode:
            xb = jnp.pad(xb, widths, mode=mode)
        if lhs == "NCHW":  # torch-layout 2-D: fnn.kernels picks the banded-GEMM form or XLA's convolution
            y = kernels.conv2d(xb, jnp.reshape(w, rhs_shape), stride, conv_pads, dilation, groups)
        else:
            y = lax.conv_general_dilated(xb, jnp.reshape(w, rhs_shape), stride, conv_pads, rhs_dilation=dilation,
                                         dimension_numbers=dn, feature_group_count=groups)
        if bias:
            y = y + jnp.reshape(p["bias"], _bias_shape(lhs, n_out))
        return y[0] if single else y

    return leaf(name, forward, kind=kind, params=_params_fn(weight_shape, n_out, bias, w_init, b_init, fan_in),
                check=check, config=config)


def transposed_layer(
    name: str, kind: str, config: dict, *, n_in: int, n_out: int, kernel: tuple[int, ...], stride: tuple[int, ...],
    padding: tuple[int, ...], adj: tuple[int, ...], dilation: tuple[int, ...], groups: int, bias: bool,
    w_init: Callable | None, b_init: Callable | None, fan_in: int, lhs: str, ref_table: bool = False,
) -> Module:
    """A transposed convolution (torch7 "full" convolution, PyTorch ``ConvTranspose``).

    The weight is ``(n_in, n_out // groups, *kernel)``. The forward is the gradient of
    a cross-correlation: ``conv_general_dilated`` with ``lhs_dilation = stride``, the
    kernel flipped, and ``d*(k-1) - pad`` (+ ``adj`` on the high side) padding.
    With ``ref_table`` the input may be the torch7 table ``(x, ref)``: ``adj`` is
    then ``(ref_size + 2*pad - k) % stride`` per dim and ``ref`` gets a zero gradient.
    """
    for a, s, d in zip(adj, stride, dilation, strict=True):
        if a >= s and a >= d:
            raise ConfigError(f"{name}: adj/output_padding {adj} must be smaller than the stride {stride} "
                              f"(or the dilation {dilation})")
    _check_groups(name, n_in, n_out, groups)
    dn = (lhs, "IO" + lhs[2:], lhs)
    channel_axis, spatial = _axes(lhs)
    n_sp = len(kernel)
    g_in, g_out = n_in // groups, n_out // groups
    check = win.check_layout(
        _letters(lhs, n_in), channel_axis=channel_axis, channels=n_in, spatial_axes=spatial,
        out_fn=lambda i, n: win.transposed_out(n, kernel[i], stride[i], padding[i], adj[i], dilation[i]))
    check = _ref_table_check(check, n_sp) if ref_table else check

    def forward(p: dict, x: Any, *, rng: Any, train: bool) -> Any:
        a = adj
        if isinstance(x, tuple):  # torch7's (x, ref): the output takes ref's size
            x, ref = x
            a = tuple((t + 2 * q - k) % s for t, q, k, s in zip(ref.shape[-n_sp:], padding, kernel, stride,
                                                                strict=True))
        w = p["weight"]
        win.same_dtype(x, w)
        xb, single = win.batch_first(x, len(lhs) - 1)
        if groups > 1:  # (G*gi, go, k...) -> (gi, G*go, k...): the rhs I dim must be per group
            w = jnp.reshape(w, (groups, g_in, g_out, *kernel))
            w = jnp.reshape(jnp.moveaxis(w, 0, 1), (g_in, n_out, *kernel))
        w = jnp.flip(w, axis=tuple(range(2, 2 + n_sp)))
        pads = [(d * (k - 1) - q, d * (k - 1) - q + ai)
                for k, q, ai, d in zip(kernel, padding, a, dilation, strict=True)]
        y = lax.conv_general_dilated(xb, w, (1,) * n_sp, pads, lhs_dilation=stride, rhs_dilation=dilation,
                                     dimension_numbers=dn, feature_group_count=groups)
        if bias:
            y = y + jnp.reshape(p["bias"], _bias_shape(lhs, n_out))
        return y[0] if single else y

    params = _params_fn((n_in, g_out, *kernel), n_out, bias, w_init, b_init, fan_in)
    return leaf(name, forward, kind=kind, params=params, check=check, config=config)


# --------------------------------------------------------------------------- torch7 names


def _tail(d: tuple[int, ...], pads: tuple[int, ...], bias: bool, extra: str = "") -> str:
    """torch7's ``, dW,dH, padW,padH)`` tail (stride shown when either is non-default)."""
    s = ""
    if any(v != 1 for v in d) or any(pads):
        s += ", " + ",".join(map(str, d))
    if any(pads):
        s += ", " + ",".join(map(str, pads))
    return s + extra + ")" + ("" if bias else " without bias")


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

    >>> import jax, fnn
    >>> conv = fnn.SpatialConvolution(1, 6, 5, 5)
    >>> print(conv)
    nn.SpatialConvolution(1 -> 6, 5x5)
    >>> out_shape, params = conv.init(jax.random.key(0), (-1, 1, 32, 32))
    >>> out_shape, params['weight'].shape
    ((-1, 6, 28, 28), (6, 1, 5, 5))
    """
    layer = "nn.SpatialConvolution"
    padH = padW if padH is None else padH
    ints(layer, 1, n_in=n_in, n_out=n_out, kW=kW, kH=kH, dW=dW, dH=dH, dilW=dilW, dilH=dilH, groups=groups)
    ints(layer, 0, padW=padW, padH=padH)
    extra = (f", dil {dilW},{dilH}" if (dilW, dilH) != (1, 1) else "") + (f", groups {groups}" if groups != 1 else "")
    name = f"{layer}({n_in} -> {n_out}, {kW}x{kH}" + _tail((dW, dH), (padW, padH), bias, extra)
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
    name = f"{layer}({n_in} -> {n_out}, {kW}x{kH}" + _tail((dW, dH), (padW, padH), bias, extra)
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
    name = f"{layer}({n_in} -> {n_out}, {kT}x{kW}x{kH}" + _tail((dT, dW, dH), (padT, padW, padH), bias)
    cfg = {"n_in": n_in, "n_out": n_out, "kT": kT, "kW": kW, "kH": kH, "dT": dT, "dW": dW, "dH": dH,
           "padT": padT, "padW": padW, "padH": padH, "bias": bias}
    return conv_layer(
        name, "VolumetricConvolution", cfg, n_in=n_in, n_out=n_out, kernel=(kT, kH, kW), stride=(dT, dH, dW),
        pads=((padT, padT), (padH, padH), (padW, padW)), dilation=(1, 1, 1), groups=1, bias=bias,
        w_init=weight_init, b_init=bias_init, fan_in=n_in * kT * kW * kH, lhs="NCDHW",
        weight_shape=(n_out, n_in, kT, kH, kW),
    )


# --------------------------------------------------------------------------- PyTorch names


def _torch_name(cls: str, n_in: int, n_out: int, cfg: dict, nd: int) -> str:
    """PyTorch's ``extra_repr``: the non-default arguments after kernel and stride."""
    s = f"nn.{cls}({n_in}, {n_out}, kernel_size={cfg['kernel_size']}, stride={cfg['stride']}"
    for key, default in (("padding", (0,) * nd), ("dilation", (1,) * nd), ("output_padding", (0,) * nd),
                         ("groups", 1), ("bias", True), ("padding_mode", "zeros")):
        if key in cfg and cfg[key] != default:
            s += f", {key}={cfg[key]}"
    return s + ")"


def _conv_nd(nd: int, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
             dilation: Any, groups: int, bias: bool, padding_mode: str, weight_init: Initializer | None,
             bias_init: Initializer | None) -> Module:
    """``Conv{nd}d``: PyTorch's convolution over ``nd`` spatial dims."""
    cls = f"Conv{nd}d"
    layer = f"nn.{cls}"
    ints(layer, 1, in_channels=in_channels, out_channels=out_channels, groups=groups)
    k = int_tuple(layer, "kernel_size", kernel_size, nd, 1)
    s = int_tuple(layer, "stride", stride, nd, 1)
    d = int_tuple(layer, "dilation", dilation, nd, 1)
    if padding == "valid":
        pads, shown = ((0, 0),) * nd, "valid"
    elif padding == "same":
        if s != (1,) * nd:
            raise ConfigError(f"{layer}: padding='same' is not supported for strided convolutions")
        totals = [di * (ki - 1) for di, ki in zip(d, k, strict=True)]
        pads, shown = tuple((t // 2, t - t // 2) for t in totals), "same"
    else:
        p = int_tuple(layer, "padding", padding, nd, 0)
        pads, shown = tuple((v, v) for v in p), p
    cfg = {"in_channels": in_channels, "out_channels": out_channels, "kernel_size": k, "stride": s,
           "padding": shown, "dilation": d, "groups": groups, "bias": bias, "padding_mode": padding_mode}
    g_in = in_channels // groups
    return conv_layer(
        _torch_name(cls, in_channels, out_channels, cfg, nd), cls, cfg, n_in=in_channels, n_out=out_channels,
        kernel=k, stride=s, pads=pads, dilation=d, groups=groups, bias=bias, w_init=weight_init, b_init=bias_init,
        fan_in=g_in * math.prod(k), lhs=_LHS[nd], weight_shape=(out_channels, g_in, *k), padding_mode=padding_mode,
    )


def _transpose_nd(nd: int, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
                  output_padding: Any, groups: int, bias: bool, dilation: Any, padding_mode: str,
                  weight_init: Initializer | None, bias_init: Initializer | None) -> Module:
    """``ConvTranspose{nd}d``: PyTorch's transposed convolution over ``nd`` spatial dims."""
    cls = f"ConvTranspose{nd}d"
    layer = f"nn.{cls}"
    ints(layer, 1, in_channels=in_channels, out_channels=out_channels, groups=groups)
    if padding_mode != "zeros":
        raise ConfigError(f"{layer}: only padding_mode='zeros' is supported (as in PyTorch), got {padding_mode!r}")
    k = int_tuple(layer, "kernel_size", kernel_size, nd, 1)
    s = int_tuple(layer, "stride", stride, nd, 1)
    p = int_tuple(layer, "padding", padding, nd, 0)
    op = int_tuple(layer, "output_padding", output_padding, nd, 0)
    d = int_tuple(layer, "dilation", dilation, nd, 1)
    cfg = {"in_channels": in_channels, "out_channels": out_channels, "kernel_size": k, "stride": s, "padding": p,
           "output_padding": op, "groups": groups, "bias": bias, "dilation": d}
    fan_in = (out_channels // groups if out_channels % groups == 0 else 1) * math.prod(k)
    return transposed_layer(
        _torch_name(cls, in_channels, out_channels, cfg, nd), cls, cfg, n_in=in_channels, n_out=out_channels,
        kernel=k, stride=s, padding=p, adj=op, dilation=d, groups=groups, bias=bias, w_init=weight_init,
        b_init=bias_init, fan_in=fan_in, lhs=_LHS[nd],
    )


def Conv1d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
           weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.Conv1d``: :func:`Conv2d` on ``(C, L)`` or ``(B, C, L)``.

    Params: ``weight (out_channels, in_channels/groups, kL)``, ``bias (out_channels,)``.

    >>> import jax, fnn
    >>> fnn.Conv1d(2, 4, 3, padding=1).init(jax.random.key(0), (-1, 2, 10))[0]
    (-1, 4, 10)
    """
    return _conv_nd(1, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                    padding_mode, weight_init, bias_init)


def Conv2d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
           weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.Conv2d`` (PyTorch's arguments and defaults) on ``(C, H, W)`` or ``(B, C, H, W)``.

    Args:
      in_channels, out_channels: input and output channels.
      kernel_size, stride, dilation: an int or a tuple of 2 ints (height first: (kH, kW)).
      padding: an int, a tuple of 2 ints, ``'valid'`` or ``'same'`` (stride 1 only; an odd
        total pad puts the extra row/column on the high side, as PyTorch does).
      groups: grouped convolution (both channel counts divisible by it).
      bias: add a bias.
      padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default ``U(±1/√fan_in)`` with
        ``fan_in = in_channels/groups·prod(kernel_size)``.

    Shape contract: ``H' = floor((H + 2·padding - dilation·(kH-1) - 1) / stride) + 1`` (W alike).
    Params: ``weight (out_channels, in_channels/groups, kH, kW)``, ``bias (out_channels,)``.

    >>> import jax, fnn
    >>> out_shape, params = fnn.Conv2d(3, 8, (3, 5), stride=2).init(jax.random.key(0), (-1, 3, 9, 9))
    >>> out_shape, params['weight'].shape
    ((-1, 8, 4, 3), (8, 3, 3, 5))
    """
    return _conv_nd(2, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                    padding_mode, weight_init, bias_init)


def Conv3d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
           weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.Conv3d``: :func:`Conv2d` on ``(C, T, H, W)`` or ``(B, C, T, H, W)``.

    Params: ``weight (out_channels, in_channels/groups, kT, kH, kW)``, ``bias (out_channels,)``.

    >>> import jax, fnn
    >>> fnn.Conv3d(1, 2, 3).init(jax.random.key(0), (-1, 1, 4, 5, 6))[0]
    (-1, 2, 2, 3, 4)
    """
    return _conv_nd(3, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                    padding_mode, weight_init, bias_init)


def ConvTranspose1d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                    output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                    padding_mode: str = "zeros", *, weight_init: Initializer | None = None,
                    bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.ConvTranspose1d``: :func:`ConvTranspose2d` on ``(C, L)`` or ``(B, C, L)``.

    Params: ``weight (in_channels, out_channels/groups, kL)``, ``bias (out_channels,)``.

    >>> import jax, fnn
    >>> fnn.ConvTranspose1d(2, 4, 3, stride=2).init(jax.random.key(0), (-1, 2, 5))[0]
    (-1, 4, 11)
    """
    return _transpose_nd(1, in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, weight_init, bias_init)


def ConvTranspose2d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                    output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                    padding_mode: str = "zeros", *, weight_init: Initializer | None = None,
                    bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.ConvTranspose2d`` (the transpose of Conv2d) on ``(C, H, W)`` or ``(B, C, H, W)``.

    Args:
      in_channels, out_channels, groups, bias: as :func:`Conv2d`.
      kernel_size, stride, padding, output_padding, dilation: an int or a tuple of 2 ints
        (height first: (kH, kW)); ``output_padding`` must be smaller than the stride or the dilation.
      padding_mode: only ``'zeros'`` (as in PyTorch).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default ``U(±1/√fan_in)`` with PyTorch's
        ``fan_in = out_channels/groups·prod(kernel_size)`` (torch7's SpatialFullConvolution: ``n_in·kW·kH``).

    Output size per dim: ``(n-1)·stride - 2·padding + dilation·(k-1) + output_padding + 1``.
    Params: ``weight (in_channels, out_channels/groups, kH, kW)``, ``bias (out_channels,)``.

    >>> import jax, fnn
    >>> out_shape, params = fnn.ConvTranspose2d(4, 2, 4, stride=2, padding=1).init(jax.random.key(0), (-1, 4, 8, 8))
    >>> out_shape, params['weight'].shape
    ((-1, 2, 16, 16), (4, 2, 4, 4))
    """
    return _transpose_nd(2, in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, weight_init, bias_init)


def ConvTranspose3d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                    output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                    padding_mode: str = "zeros", *, weight_init: Initializer | None = None,
                    bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.ConvTranspose3d``: :func:`ConvTranspose2d` on ``(C, T, H, W)`` or ``(B, C, T, H, W)``.

    Params: ``weight (in_channels, out_channels/groups, kT, kH, kW)``, ``bias (out_channels,)``.

    >>> import jax, fnn
    >>> fnn.ConvTranspose3d(2, 2, 2, stride=2, groups=2).init(jax.random.key(0), (-1, 2, 2, 3, 3))[0]
    (-1, 2, 4, 6, 6)
    """
    return _transpose_nd(3, in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, weight_init, bias_init)

