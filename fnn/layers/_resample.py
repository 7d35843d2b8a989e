"""Resampling and 3-D padding: torch7's PixelShuffle (PyTorch's has the same name), UpSampling
(nearest or linear, spatial or volumetric), VolumetricReplicationPadding and PyTorch's
ReplicationPad3d.

The linear up-sampling is separable: one (out, in) interpolation matrix per axis
(``_windows.linear_matrix`` with align-corners, as torch7's THNN kernels).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from fnn.core import Module, expect_array, format_shape, leaf
from fnn.core._args import int_arg, ints, is_int
from fnn.errors import ConfigError, ShapeError
from fnn.layers import _windows as win

# --------------------------------------------------------------------------- pixel shuffle


def PixelShuffle(upscale_factor: int) -> Module:
    """Sub-pixel convolution's rearrangement: ``(C·r², H, W) -> (C, H·r, W·r)``.

    Args:
      upscale_factor: ``r``.

    Shape contract: ``(C·r², H, W)`` or ``(B, C·r², H, W)`` (torch7); any further leading dims are
    accepted too, as PyTorch's ``nn.PixelShuffle`` does. ``y[c, h·r + i, w·r + j] = x[c·r² + i·r + j, h, w]``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.PixelShuffle(2).apply((), jnp.arange(4.0).reshape(4, 1, 1))
    Array([[[0., 1.],
            [2., 3.]]], dtype=float32)
    """
    layer = "nn.PixelShuffle"
    r = int_arg(layer, "upscale_factor", upscale_factor, minimum=1)

    def check(shape: Any, dtype: Any) -> None:
        expect_array(shape)
        if len(shape) < 3 or (shape[-3] != -1 and shape[-3] % (r * r)):
            raise ShapeError(f"expects input (C*{r * r}, H, W) or (B, C*{r * r}, H, W) with channels divisible by "
                             f"{r * r}, got {format_shape(shape)}")

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        *lead, c, h, w = x.shape
        y = jnp.reshape(x, (*lead, c // (r * r), r, r, h, w))
        n = len(lead)
        y = jnp.transpose(y, (*range(n), n, n + 3, n + 1, n + 4, n + 2))
        return jnp.reshape(y, (*lead, c // (r * r), h * r, w * r))

    return leaf(f"{layer}({r})", forward, kind="PixelShuffle", check=check, config={"upscale_factor": r})


# --------------------------------------------------------------------------- UpSampling


_LINEAR = ("linear", "bilinear", "trilinear")


def _sizes(layer: str, params: Any, mode: str) -> tuple[int | None, dict | None]:
    """``(scale, None)`` or ``(None, {'odepth'?, 'oheight', 'owidth'})``."""
    if is_int(params):
        return int_arg(layer, "scale_factor", params, minimum=1), None
    if mode == "nearest":
        raise ConfigError(f"{layer}: nearest-neighbour up-sampling needs an integer scale_factor, got {params!r}")
    if isinstance(params, (tuple, list)) and len(params) in (2, 3):
        params = dict(zip(("oheight", "owidth") if len(params) == 2 else ("odepth", "oheight", "owidth"), params,
                          strict=True))
    if not isinstance(params, dict) or "oheight" not in params or "owidth" not in params or not set(params) <= {
            "odepth", "oheight", "owidth"}:
        raise ConfigError(f"{layer}: give an integer scale_factor, or the output sizes as a dict with 'oheight' and "
                          f"'owidth' (and 'odepth' for 5-D input) or a tuple (oheight, owidth) / (odepth, oheight, "
                          f"owidth), got {params!r}")
    ints(layer, 1, **params)
    return None, dict(params)


def UpSampling(params: Any, mode: str = "nearest") -> Module:
    """torch7's ``nn.UpSampling``: nearest or (bi/tri)linear up-sampling of a batch of images or volumes.

    Args:
      params: an integer scale factor ``s >= 1``, or (linear modes only) the output sizes: a dict
        ``{'oheight', 'owidth'}`` (plus ``'odepth'`` for 5-D input) as torch7's table, or a tuple
        ``(oheight, owidth)`` / ``(odepth, oheight, owidth)``.
      mode: ``'nearest'`` (default) or ``'linear'`` (``'bilinear'`` and ``'trilinear'`` are the same).

    Shape contract: batched input only (torch7): ``(B, C, H, W)`` or ``(B, C, D, H, W)``. With a scale
    every spatial size is multiplied by ``s`` in both modes: torch7's code does so, although its
    documentation gave ``(n-1)·(s-1) + n`` for the linear mode. The linear mode interpolates with
    aligned corners (PyTorch ``Upsample(mode='bilinear'/'trilinear', align_corners=True)``).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.UpSampling(2, 'linear').apply((), jnp.array([[[[0.0, 3.0]]]]))
    Array([[[[0., 1., 2., 3.],
             [0., 1., 2., 3.]]]], dtype=float32)
    """
    layer = "nn.UpSampling"
    if mode not in ("nearest", *_LINEAR):
        raise ConfigError(f"{layer}: mode must be 'nearest' or 'linear' ('bilinear', 'trilinear'), got {mode!r}")
    mode = "linear" if mode in _LINEAR else "nearest"
    scale, sizes = _sizes(layer, params, mode)

    def outs(shape: Any) -> tuple[int, ...]:
        n_sp = len(shape) - 2
        if scale is not None:
            return tuple(-1 if n == -1 else n * scale for n in shape[2:])
        keys = ("odepth", "oheight", "owidth")[3 - n_sp:]
        return tuple(sizes[k] for k in keys)

    def check(shape: Any, dtype: Any) -> None:
        expect_array(shape)
        if len(shape) not in (4, 5):
            raise ShapeError(f"expects a batch (B, C, H, W) or (B, C, D, H, W), got {format_shape(shape)}")
        if sizes is not None and len(shape) == 5 and "odepth" not in sizes:
            raise ShapeError(f"needs an output depth 'odepth' for volumetric input, got {format_shape(shape)}")

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        n_sp = x.ndim - 2
        for i, o in enumerate(outs(x.shape)):
            axis = i - n_sp
            if mode == "nearest":
                x = jnp.repeat(x, scale, axis=axis)
            else:
                x = win.apply_matrix(x, win.linear_matrix(x.shape[axis], o, align_corners=True), axis)
        return x

    shown = f"{scale}" if scale is not None else ", ".join(f"{k}={v}" for k, v in sizes.items())
    return leaf(f"{layer}({shown}, {mode})", forward, kind="UpSampling", check=check,
                config={"params": scale if scale is not None else sizes, "mode": mode})


# --------------------------------------------------------------------------- 3-D replication padding


def _pad3d_layer(layer: str, kind: str, pads: tuple[int, ...], name: str) -> Module:
    left, right, top, bottom, front, back = pads

    def check(shape: Any, dtype: Any) -> None:
        win.check_layout(("C", "T", "H", "W"), channel_axis=None, channels=None, spatial_axes=())(shape, dtype)

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        return jnp.pad(x, [(0, 0)] * (x.ndim - 3) + [(front, back), (top, bottom), (left, right)], mode="edge")

    return leaf(name, forward, kind=kind, check=check,
                config={"pad_l": left, "pad_r": right, "pad_t": top, "pad_b": bottom, "pad_f": front, "pad_back": back})


def VolumetricReplicationPadding(pad_l: int, pad_r: int | None = None, pad_t: int | None = None,
                                 pad_b: int | None = None, pad_f: int | None = None,
                                 pad_back: int | None = None) -> Module:
    """Edge-replicating 3-D padding of ``(C, T, H, W)`` or ``(B, C, T, H, W)``.

    Args:
      pad_l, pad_r: W padding (left, right).
      pad_t, pad_b: H padding (top, bottom).
      pad_f, pad_back: T padding (front, back). Every missing pad defaults to ``pad_l`` (torch7); all >= 0.

    >>> import jax, fnn
    >>> fnn.VolumetricReplicationPadding(1, 0, 0, 0, 2, 0).init(jax.random.key(0), (-1, 1, 2, 3, 3))[0]
    (-1, 1, 4, 3, 4)
    """
    layer = "nn.VolumetricReplicationPadding"
    pads = tuple(pad_l if v is None else v for v in (pad_l, pad_r, pad_t, pad_b, pad_f, pad_back))
    ints(layer, 0, **dict(zip(("pad_l", "pad_r", "pad_t", "pad_b", "pad_f", "pad_back"), pads, strict=True)))
    name = "{}(l={}, r={}, t={}, b={}, f={}, back={})".format(layer, *pads)
    return _pad3d_layer(layer, "VolumetricReplicationPadding", pads, name)


def ReplicationPad3d(padding: Any) -> Module:
    """PyTorch ``nn.ReplicationPad3d``: ``padding`` an int or ``(left, right, top, bottom, front, back)``, >= 0.

    >>> import jax, fnn
    >>> fnn.ReplicationPad3d((1, 0, 0, 0, 0, 1)).init(jax.random.key(0), (2, 2, 2, 2))[0]
    (2, 3, 2, 3)
    """
    layer = "nn.ReplicationPad3d"
    pads = (padding,) * 6 if is_int(padding) else padding
    if not isinstance(pads, (tuple, list)) or len(pads) != 6:
        raise ConfigError(f"{layer}: padding must be an int or a tuple of 6 ints, got {padding!r}")
    ints(layer, 0, **{f"padding[{i}]": v for i, v in enumerate(pads)})
    pads = tuple(int(v) for v in pads)
    return _pad3d_layer(layer, "ReplicationPad3d", pads, f"{layer}({pads})")
