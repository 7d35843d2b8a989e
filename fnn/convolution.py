"""Convolutions (torch7 ``doc/convolution.md``): Temporal, Spatial, Spatial full (transposed),
Spatial dilated and Volumetric, with the PyTorch aliases ``Conv1d/2d/3d`` and
``ConvTranspose1d/2d/3d`` in PyTorch's argument conventions.

torch7 conventions kept here: constructor arguments put **width before height**
(``kW, kH, dW, dH, padW, padH``; Volumetric ``kT, kW, kH``), weights are stored
``(n_out, n_in, [kT,] kH, kW)`` (transposed: ``(n_in, n_out, kH, kW)``), activations are
``NCHW`` and a layer takes one example ``(C, H, W)`` or a batch ``(B, C, H, W)``.
TemporalConvolution is time-major and channels-last: ``(T, F)`` or ``(B, T, F)``.
Default init (torch7 and PyTorch agree): weight and bias ``U(±1/√fan_in)``.

Every forward is one ``lax.conv_general_dilated`` on the stored layout plus the bias.
"""

from __future__ import annotations

from typing import Any

from fnn import _windows as win
from fnn._conv import conv_layer, transposed_layer
from fnn.core import Module
from fnn.errors import ConfigError

Initializer = win.Initializer


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
    win.ints(layer, 1, in_frame=in_frame, out_frame=out_frame, kW=kW, dW=dW)
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
    win.ints(layer, 1, n_in=n_in, n_out=n_out, kW=kW, kH=kH, dW=dW, dH=dH, dilW=dilW, dilH=dilH, groups=groups)
    win.ints(layer, 0, padW=padW, padH=padH)
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
    win.ints(layer, 1, n_in=n_in, n_out=n_out, kW=kW, kH=kH, dW=dW, dH=dH, dilW=dilW, dilH=dilH)
    win.ints(layer, 0, padW=padW, padH=padH)
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
    win.ints(layer, 1, n_in=n_in, n_out=n_out, kW=kW, kH=kH, dW=dW, dH=dH)
    win.ints(layer, 0, padW=padW, padH=padH, adjW=adjW, adjH=adjH)
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
    win.ints(layer, 1, n_in=n_in, n_out=n_out, kT=kT, kW=kW, kH=kH, dT=dT, dW=dW, dH=dH)
    win.ints(layer, 0, padT=padT, padW=padW, padH=padH)
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


# --------------------------------------------------------------------------- PyTorch aliases

_LHS = {1: "NCH", 2: "NCHW", 3: "NCDHW"}


def _torch_repr(cls: str, n_in: int, n_out: int, k: tuple, s: tuple, padding: Any, nd: int, *, d: tuple,
                groups: int, bias: bool, padding_mode: str, output_padding: tuple | None = None) -> str:
    s_ = f"nn.{cls}({n_in}, {n_out}, kernel_size={k}, stride={s}"
    if padding != (0,) * nd:
        s_ += f", padding={padding}"
    if d != (1,) * nd:
        s_ += f", dilation={d}"
    if output_padding is not None and output_padding != (0,) * nd:
        s_ += f", output_padding={output_padding}"
    if groups != 1:
        s_ += f", groups={groups}"
    if not bias:
        s_ += ", bias=False"
    if padding_mode != "zeros":
        s_ += f", padding_mode={padding_mode}"
    return s_ + ")"


def _conv_nd(nd: int, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
             dilation: Any, groups: int, bias: bool, padding_mode: str, weight_init: Initializer | None,
             bias_init: Initializer | None) -> Module:
    cls = f"Conv{nd}d"
    layer = f"nn.{cls}"
    win.ints(layer, 1, in_channels=in_channels, out_channels=out_channels, groups=groups)
    k = win.int_tuple(layer, "kernel_size", kernel_size, nd, 1)
    s = win.int_tuple(layer, "stride", stride, nd, 1)
    d = win.int_tuple(layer, "dilation", dilation, nd, 1)
    if padding == "valid":
        pads, shown = ((0, 0),) * nd, "valid"
    elif padding == "same":
        if s != (1,) * nd:
            raise ConfigError(f"{layer}: padding='same' is not supported for strided convolutions")
        totals = [di * (ki - 1) for di, ki in zip(d, k, strict=True)]
        pads, shown = tuple((t // 2, t - t // 2) for t in totals), "same"
    else:
        p = win.int_tuple(layer, "padding", padding, nd, 0)
        pads, shown = tuple((v, v) for v in p), p
    cfg = {"in_channels": in_channels, "out_channels": out_channels, "kernel_size": k, "stride": s,
           "padding": shown, "dilation": d, "groups": groups, "bias": bias, "padding_mode": padding_mode}
    name = _torch_repr(cls, in_channels, out_channels, k, s, shown if isinstance(shown, str) else shown, nd, d=d,
                       groups=groups, bias=bias, padding_mode=padding_mode)
    g_in = in_channels // groups
    fan_in = g_in
    for v in k:
        fan_in *= v
    return conv_layer(
        name, cls, cfg, n_in=in_channels, n_out=out_channels, kernel=k, stride=s, pads=pads, dilation=d,
        groups=groups, bias=bias, w_init=weight_init, b_init=bias_init, fan_in=fan_in, lhs=_LHS[nd],
        weight_shape=(out_channels, g_in, *k), padding_mode=padding_mode,
    )


def _transpose_nd(nd: int, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
                  output_padding: Any, groups: int, bias: bool, dilation: Any, padding_mode: str,
                  weight_init: Initializer | None, bias_init: Initializer | None) -> Module:
    cls = f"ConvTranspose{nd}d"
    layer = f"nn.{cls}"
    win.ints(layer, 1, in_channels=in_channels, out_channels=out_channels, groups=groups)
    if padding_mode != "zeros":
        raise ConfigError(f"{layer}: only padding_mode='zeros' is supported (as in PyTorch), got {padding_mode!r}")
    k = win.int_tuple(layer, "kernel_size", kernel_size, nd, 1)
    s = win.int_tuple(layer, "stride", stride, nd, 1)
    p = win.int_tuple(layer, "padding", padding, nd, 0)
    op = win.int_tuple(layer, "output_padding", output_padding, nd, 0)
    d = win.int_tuple(layer, "dilation", dilation, nd, 1)
    cfg = {"in_channels": in_channels, "out_channels": out_channels, "kernel_size": k, "stride": s, "padding": p,
           "output_padding": op, "groups": groups, "bias": bias, "dilation": d}
    name = _torch_repr(cls, in_channels, out_channels, k, s, p, nd, d=d, groups=groups, bias=bias,
                       padding_mode=padding_mode, output_padding=op)
    fan_in = out_channels // groups if out_channels % groups == 0 else 1
    for v in k:
        fan_in *= v
    return transposed_layer(
        name, cls, cfg, n_in=in_channels, n_out=out_channels, kernel=k, stride=s, padding=p, adj=op, dilation=d,
        groups=groups, bias=bias, w_init=weight_init, b_init=bias_init, fan_in=fan_in, lhs=_LHS[nd],
    )


_CONV_DOC = """PyTorch ``nn.Conv{n}d`` (PyTorch argument conventions), on ``(C, {dims})`` or ``(B, C, {dims})``.

    Args:
      in_channels, out_channels: input and output channels.
      kernel_size, stride, padding, dilation: an int or a tuple of {n} ints, in PyTorch's
        order ({order}); ``padding`` may also be ``'valid'`` or ``'same'`` (stride 1 only;
        the odd extra pad goes on the high side, as in PyTorch).
      groups: grouped convolution.
      bias: add a bias.
      padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default PyTorch's
        ``U(±1/√(in_channels/groups·prod(kernel_size)))``.

    Params: ``weight (out_channels, in_channels/groups, *kernel_size)``, ``bias (out_channels,)``,
    exactly a PyTorch ``state_dict``'s.
"""

_TRANSPOSE_DOC = """PyTorch ``nn.ConvTranspose{n}d`` on ``(C, {dims})`` or ``(B, C, {dims})``.

    Args:
      in_channels, out_channels: input and output channels.
      kernel_size, stride, padding, output_padding, dilation: an int or a tuple of {n} ints
        ({order}); ``output_padding`` must be smaller than the stride or the dilation.
      groups: grouped transposed convolution.
      bias: add a bias.
      padding_mode: only ``'zeros'`` (as in PyTorch).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default PyTorch's
        ``U(±1/√(out_channels/groups·prod(kernel_size)))`` (torch7's SpatialFullConvolution
        uses the fan-in ``n_in·kW·kH`` instead).

    Output size: ``(n-1)·stride - 2·padding + dilation·(k-1) + output_padding + 1``.
    Params: ``weight (in_channels, out_channels/groups, *kernel_size)``, ``bias (out_channels,)``.
"""


def Conv1d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
           weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    return _conv_nd(1, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                    padding_mode, weight_init, bias_init)


def Conv2d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
           weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    return _conv_nd(2, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                    padding_mode, weight_init, bias_init)


def Conv3d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
           weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    return _conv_nd(3, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                    padding_mode, weight_init, bias_init)


def ConvTranspose1d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                    output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                    padding_mode: str = "zeros", *, weight_init: Initializer | None = None,
                    bias_init: Initializer | None = None) -> Module:
    return _transpose_nd(1, in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, weight_init, bias_init)


def ConvTranspose2d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                    output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                    padding_mode: str = "zeros", *, weight_init: Initializer | None = None,
                    bias_init: Initializer | None = None) -> Module:
    return _transpose_nd(2, in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, weight_init, bias_init)


def ConvTranspose3d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                    output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                    padding_mode: str = "zeros", *, weight_init: Initializer | None = None,
                    bias_init: Initializer | None = None) -> Module:
    return _transpose_nd(3, in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, weight_init, bias_init)


_DIMS = {1: ("L", "L"), 2: ("H, W", "(kH, kW), height first"), 3: ("T, H, W", "(kT, kH, kW)")}
_EXAMPLES = {
    "Conv1d": ("fnn.Conv1d(2, 4, 3, padding=1)", "(-1, 2, 10)", "((-1, 4, 10), (4, 2, 3))"),
    "Conv2d": ("fnn.Conv2d(3, 8, (3, 5), stride=2)", "(-1, 3, 9, 9)", "((-1, 8, 4, 3), (8, 3, 3, 5))"),
    "Conv3d": ("fnn.Conv3d(1, 2, 3)", "(-1, 1, 4, 5, 6)", "((-1, 2, 2, 3, 4), (2, 1, 3, 3, 3))"),
    "ConvTranspose1d": ("fnn.ConvTranspose1d(2, 4, 3, stride=2)", "(-1, 2, 5)", "((-1, 4, 11), (2, 4, 3))"),
    "ConvTranspose2d": ("fnn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)", "(-1, 4, 8, 8)",
                        "((-1, 2, 16, 16), (4, 2, 4, 4))"),
    "ConvTranspose3d": ("fnn.ConvTranspose3d(2, 2, 2, stride=2, groups=2)", "(-1, 2, 2, 3, 3)",
                        "((-1, 2, 4, 6, 6), (2, 1, 2, 2, 2))"),
}
for _fn, _tmpl in ((Conv1d, _CONV_DOC), (Conv2d, _CONV_DOC), (Conv3d, _CONV_DOC), (ConvTranspose1d, _TRANSPOSE_DOC),
                   (ConvTranspose2d, _TRANSPOSE_DOC), (ConvTranspose3d, _TRANSPOSE_DOC)):
    _n = int(_fn.__name__[-2])
    _make, _shape, _out = _EXAMPLES[_fn.__name__]
    _fn.__doc__ = _tmpl.format(n=_n, dims=_DIMS[_n][0], order=_DIMS[_n][1]) + (
        "\n    >>> import jax, fnn\n"
        f"    >>> out_shape, params = {_make}.init(jax.random.key(0), {_shape})\n"
        "    >>> out_shape, params['weight'].shape\n"
        f"    {_out}\n"
    )


__all__ = [
    "TemporalConvolution", "SpatialConvolution", "SpatialDilatedConvolution", "SpatialFullConvolution",
    "VolumetricConvolution", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
]
LAYERS = ["TemporalConvolution", "SpatialConvolution", "SpatialDilatedConvolution", "SpatialFullConvolution",
          "VolumetricConvolution"]
