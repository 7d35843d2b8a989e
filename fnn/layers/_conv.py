"""The two convolution builders behind :mod:`fnn.convolution` (private).

Every convolution layer, torch7's and PyTorch's alike, is one call of
:func:`conv_layer` (a cross-correlation) or :func:`transposed_layer` (its
transpose). The forward pass is a single ``lax.conv_general_dilated`` on the
layout the layer documents (``NCHW``/``OIHW`` for Spatial, ``NWC``/``OWI`` for
torch7's channels-last Temporal), plus the bias: no transposes of the input. The
2-D NCHW cross-correlation goes through :func:`fnn.kernels.conv2d`, the banded-GEMM
form on CPU where it is faster and the same ``lax`` call elsewhere.

>>> import jax, jax.numpy as jnp
>>> m = conv_layer("nn.Demo", "Demo", {}, n_in=1, n_out=2, kernel=(3,), stride=(1,), pads=((0, 0),),
...                dilation=(1,), groups=1, bias=True, w_init=None, b_init=None, fan_in=3,
...                lhs="NCH", weight_shape=(2, 1, 3))
>>> m.init(jax.random.key(0), (-1, 1, 5))[0]
(-1, 2, 3)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from fnn import kernels
from fnn.core import Module, format_shape, is_shape, leaf, uniform
from fnn.errors import ConfigError, ShapeError
from fnn.layers import _windows as win

_PAD_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _specs(lhs: str) -> tuple[str, str, str]:
    """``lhs`` such as ``"NCHW"`` or ``"NWC"`` -> (lhs, rhs, out) dimension numbers."""
    spatial = "".join(c for c in lhs if c not in "NC")
    rhs = "OI" + spatial if lhs.index("C") == 1 else "O" + spatial + "I"
    return lhs, rhs, lhs


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
    if n_in % groups or n_out % groups:
        raise ConfigError(f"{name}: in and out channels ({n_in}, {n_out}) must both be divisible by groups={groups}")
    dn = _specs(lhs)
    channel_axis, spatial = _axes(lhs)
    rhs_shape = (n_out, n_in // groups, *kernel) if dn[1].startswith("OI") else (n_out, *kernel, n_in // groups)
    mode = _PAD_MODES[padding_mode]

    def out_fn(i: int, n: int) -> int:
        return win.conv_out(n, kernel[i], stride[i], *pads[i], d=dilation[i])

    check = win.check_layout(_letters(lhs, n_in), channel_axis=channel_axis, channels=n_in, spatial_axes=spatial,
                             out_fn=out_fn)
    check = _padded_check(check, mode, pads, spatial)
    bshape = _bias_shape(lhs, n_out)
    conv_pads = [(0, 0)] * len(kernel) if mode else list(pads)

    def forward(p: dict, x: Any, *, rng: Any, train: bool) -> Any:
        w = p["weight"]
        win.same_dtype(x, w)
        xb, single = win.batch_first(x, len(lhs) - 1)
        if mode:
            widths = [(0, 0)] * xb.ndim
            for a, lohi in zip(spatial, pads, strict=True):
                widths[a] = lohi
            xb = jnp.pad(xb, widths, mode=mode)
        if lhs == "NCHW":  # torch-layout 2-D: the banded-GEMM form on CPU where it is faster
            y = kernels.conv2d(xb, jnp.reshape(w, rhs_shape), stride, conv_pads, dilation, groups)
        else:
            y = lax.conv_general_dilated(xb, jnp.reshape(w, rhs_shape), stride, conv_pads, rhs_dilation=dilation,
                                         dimension_numbers=dn, feature_group_count=groups)
        if bias:
            y = y + jnp.reshape(p["bias"], bshape)
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
    if n_in % groups or n_out % groups:
        raise ConfigError(f"{name}: in and out channels ({n_in}, {n_out}) must both be divisible by groups={groups}")
    dn = (lhs, "IO" + lhs[2:], lhs)
    channel_axis, spatial = _axes(lhs)
    n_sp = len(kernel)
    rank = len(lhs) - 1
    g_in, g_out = n_in // groups, n_out // groups

    def sizes(i: int, n: int, a: int) -> int:
        return win.transposed_out(n, kernel[i], stride[i], padding[i], a, dilation[i])

    base = win.check_layout(_letters(lhs, n_in), channel_axis=channel_axis, channels=n_in, spatial_axes=spatial,
                            out_fn=lambda i, n: sizes(i, n, adj[i]))

    def ref_adj(ref_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple((t + 2 * p - k) % s for t, p, k, s in zip(ref_shape[-n_sp:], padding, kernel, stride, strict=True))

    def check(shape: Any, dtype: Any) -> None:
        if ref_table and not is_shape(shape):
            if len(shape) != 2 or not is_shape(shape[1]) or len(shape[1]) < n_sp:
                raise ShapeError(f"expects an input or a table (input, ref) whose ref has >= {n_sp} dims, "
                                 f"got {format_shape(shape)}")
            base(shape[0], dtype)
            return
        base(shape, dtype)

    def forward(p: dict, x: Any, *, rng: Any, train: bool) -> Any:
        a = adj
        if isinstance(x, tuple):
            x, ref = x
            a = ref_adj(ref.shape)
        w = p["weight"]
        win.same_dtype(x, w)
        xb, single = win.batch_first(x, rank)
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
