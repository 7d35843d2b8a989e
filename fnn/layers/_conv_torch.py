"""PyTorch's convolution classes with PyTorch's argument conventions: ``Conv1d``, ``Conv2d``,
``Conv3d``, ``ConvTranspose1d``, ``ConvTranspose2d`` and ``ConvTranspose3d`` (re-exported by
:mod:`fnn.convolution`).

Sizes are in PyTorch's order (``(kH, kW)``, height first) and may be an int or a tuple;
inputs are ``(C, *spatial)`` or ``(B, C, *spatial)``; params are a PyTorch ``state_dict``'s:
``weight (out, in/groups, *k)`` (transposed: ``(in, out/groups, *k)``) and ``bias (out,)``.
Default init is PyTorch's ``U(±1/√fan_in)`` (what torch7 also used), with PyTorch's fan-in.
"""

from __future__ import annotations

from typing import Any

from fnn.core import Initializer, Module
from fnn.core._args import int_tuple, ints
from fnn.errors import ConfigError
from fnn.layers._conv import conv_layer, transposed_layer

Initializer = Initializer

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
    name = _torch_repr(cls, in_channels, out_channels, k, s, p, nd, d=d, groups=groups, bias=bias,
                       padding_mode=padding_mode, output_padding=op)
    fan_in = out_channels // groups if out_channels % groups == 0 else 1
    for v in k:
        fan_in *= v
    return transposed_layer(
        name, cls, cfg, n_in=in_channels, n_out=out_channels, kernel=k, stride=s, padding=p, adj=op, dilation=d,
        groups=groups, bias=bias, w_init=weight_init, b_init=bias_init, fan_in=fan_in, lhs=_LHS[nd],
    )


def Conv1d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
           weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.Conv1d`` (PyTorch's arguments and defaults) on ``(C, L)`` or ``(B, C, L)``.

    Args:
      in_channels, out_channels: input and output channels.
      kernel_size, stride, dilation: an int or a 1-tuple.
      padding: an int, a 1-tuple, ``'valid'`` or ``'same'`` (stride 1 only; an odd
        total pad puts the extra row/column on the high side, as PyTorch does).
      groups: grouped convolution (both channel counts divisible by it).
      bias: add a bias.
      padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default
        ``U(±1/√(in_channels/groups·prod(kernel_size)))``.

    Params: ``weight (out_channels, in_channels/groups, kL)``, ``bias (out_channels,)``.

    >>> import jax, fnn
    >>> out_shape, params = fnn.Conv1d(2, 4, 3, padding=1).init(jax.random.key(0), (-1, 2, 10))
    >>> out_shape, params['weight'].shape
    ((-1, 4, 10), (4, 2, 3))
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
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default
        ``U(±1/√(in_channels/groups·prod(kernel_size)))``.

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
    """PyTorch ``nn.Conv3d`` (PyTorch's arguments and defaults) on ``(C, T, H, W)`` or ``(B, C, T, H, W)``.

    Args:
      in_channels, out_channels: input and output channels.
      kernel_size, stride, dilation: an int or a tuple of 3 ints ((kT, kH, kW)).
      padding: an int, a tuple of 3 ints, ``'valid'`` or ``'same'`` (stride 1 only; an odd
        total pad puts the extra row/column on the high side, as PyTorch does).
      groups: grouped convolution (both channel counts divisible by it).
      bias: add a bias.
      padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default
        ``U(±1/√(in_channels/groups·prod(kernel_size)))``.

    Params: ``weight (out_channels, in_channels/groups, kT, kH, kW)``, ``bias (out_channels,)``.

    >>> import jax, fnn
    >>> out_shape, params = fnn.Conv3d(1, 2, 3).init(jax.random.key(0), (-1, 1, 4, 5, 6))
    >>> out_shape, params['weight'].shape
    ((-1, 2, 2, 3, 4), (2, 1, 3, 3, 3))
    """
    return _conv_nd(3, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                    padding_mode, weight_init, bias_init)


def ConvTranspose1d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                    output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                    padding_mode: str = "zeros", *, weight_init: Initializer | None = None,
                    bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.ConvTranspose1d`` (the transpose of Conv1d) on ``(C, L)`` or ``(B, C, L)``.

    Args:
      in_channels, out_channels: input and output channels.
      kernel_size, stride, padding, output_padding, dilation: an int or a 1-tuple;
        ``output_padding`` must be smaller than the stride or the dilation.
      groups: grouped transposed convolution.
      bias: add a bias.
      padding_mode: only ``'zeros'`` (as in PyTorch).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default PyTorch's
        ``U(±1/√(out_channels/groups·prod(kernel_size)))`` (torch7's SpatialFullConvolution
        takes the fan-in ``n_in·kW·kH`` instead).

    Output size per dim: ``(n-1)·stride - 2·padding + dilation·(k-1) + output_padding + 1``.
    Params: ``weight (in_channels, out_channels/groups, kL)``, ``bias (out_channels,)``.

    >>> import jax, fnn
    >>> out_shape, params = fnn.ConvTranspose1d(2, 4, 3, stride=2).init(jax.random.key(0), (-1, 2, 5))
    >>> out_shape, params['weight'].shape
    ((-1, 4, 11), (2, 4, 3))
    """
    return _transpose_nd(1, in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, weight_init, bias_init)


def ConvTranspose2d(in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                    output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                    padding_mode: str = "zeros", *, weight_init: Initializer | None = None,
                    bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.ConvTranspose2d`` (the transpose of Conv2d) on ``(C, H, W)`` or ``(B, C, H, W)``.

    Args:
      in_channels, out_channels: input and output channels.
      kernel_size, stride, padding, output_padding, dilation: an int or a tuple of 2 ints
        (height first: (kH, kW)); ``output_padding`` must be smaller than the stride or the dilation.
      groups: grouped transposed convolution.
      bias: add a bias.
      padding_mode: only ``'zeros'`` (as in PyTorch).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default PyTorch's
        ``U(±1/√(out_channels/groups·prod(kernel_size)))`` (torch7's SpatialFullConvolution
        takes the fan-in ``n_in·kW·kH`` instead).

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
    """PyTorch ``nn.ConvTranspose3d`` (the transpose of Conv3d) on ``(C, T, H, W)`` or ``(B, C, T, H, W)``.

    Args:
      in_channels, out_channels: input and output channels.
      kernel_size, stride, padding, output_padding, dilation: an int or a tuple of 3 ints
        ((kT, kH, kW)); ``output_padding`` must be smaller than the stride or the dilation.
      groups: grouped transposed convolution.
      bias: add a bias.
      padding_mode: only ``'zeros'`` (as in PyTorch).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default PyTorch's
        ``U(±1/√(out_channels/groups·prod(kernel_size)))`` (torch7's SpatialFullConvolution
        takes the fan-in ``n_in·kW·kH`` instead).

    Output size per dim: ``(n-1)·stride - 2·padding + dilation·(k-1) + output_padding + 1``.
    Params: ``weight (in_channels, out_channels/groups, kT, kH, kW)``, ``bias (out_channels,)``.

    >>> import jax, fnn
    >>> out_shape, params = fnn.ConvTranspose3d(2, 2, 2, stride=2, groups=2).init(jax.random.key(0), (-1, 2, 2, 3, 3))
    >>> out_shape, params['weight'].shape
    ((-1, 2, 4, 6, 6), (2, 1, 2, 2, 2))
    """
    return _transpose_nd(3, in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation, padding_mode, weight_init, bias_init)


__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]
LAYERS: list[str] = []  # aliases only; fnn.convolution re-exports them
