"""Spatial utilities (torch7's convolution family): zero, reflection and replication
padding, nearest and bilinear up-sampling, with the PyTorch aliases ``ZeroPad2d``,
``ReflectionPad2d``, ``ReplicationPad2d``, ``Upsample``, ``UpsamplingNearest2d`` and
``UpsamplingBilinear2d``.

Every layer takes one example ``(C, H, W)`` or a batch ``(B, C, H, W)`` (``Upsample``
also 1-D and 3-D inputs). Padding arguments follow torch7 and PyTorch: ``(left, right,
top, bottom)``. Interpolation is separable: one ``(out, in)`` matrix per axis, built
once from the static sizes (its gradient is the matrix transpose).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jax import lax

from fnn.core import Module, format_shape, is_shape, leaf
from fnn.core import _sharded as sharded
from fnn.core._args import ints, is_int
from fnn.errors import ConfigError, ShapeError
from fnn.layers import _windows as win

_IMAGE = ("C", "H", "W")


def _image_check(out_fn: Any = None) -> Any:
    return win.check_layout(_IMAGE, channel_axis=None, channels=None, spatial_axes=(-2, -1), out_fn=out_fn)


def _pads(layer: str, left: int, right: int | None, top: int | None, bottom: int | None,
          minimum: int | None) -> tuple[int, ...]:
    right = left if right is None else right
    top = left if top is None else top
    bottom = left if bottom is None else bottom
    for name, v in (("pad_l", left), ("pad_r", right), ("pad_t", top), ("pad_b", bottom)):
        if not is_int(v) or (minimum is not None and v < minimum):
            raise ConfigError(f"{layer}: pad {name} must be an int{'' if minimum is None else ' >= 0'}, got {v!r}")
    return int(left), int(right), int(top), int(bottom)


def _edge_pad(x: Any, axis: int, lo: int, hi: int) -> Any:
    """``x`` with its first and last slice along ``axis`` repeated ``lo`` and ``hi`` times."""
    n = x.shape[axis]
    first, last = lax.slice_in_dim(x, 0, 1, axis=axis), lax.slice_in_dim(x, n - 1, n, axis=axis)
    return jnp.concatenate([jnp.repeat(first, lo, axis=axis), x, jnp.repeat(last, hi, axis=axis)], axis=axis)


def _pad_layer(layer: str, kind: str, pads: tuple[int, int, int, int], mode: str, name: str) -> Module:
    left, right, top, bottom = pads

    def out_fn(i: int, n: int) -> int:
        return n + (top + bottom if i == 0 else left + right)

    base = _image_check(out_fn)

    def check(shape: Any, dtype: Any) -> None:
        base(shape, dtype)
        if mode == "reflect":
            for n, (lo, hi) in zip(shape[-2:], ((top, bottom), (left, right)), strict=True):
                if n != -1 and max(lo, hi) >= n:
                    raise ShapeError(f"reflection padding {max(lo, hi)} must be smaller than the input size {n}, "
                                     f"got input {format_shape(shape)}")

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        if mode == "constant":  # lax.pad crops with negative widths
            widths = [(0, 0, 0)] * (x.ndim - 2) + [(top, bottom, 0), (left, right, 0)]
            return lax.pad(x, jnp.zeros((), x.dtype), widths)
        if mode == "edge":  # jnp.pad slices every axis, the sharded batch too: pad the last two only
            return _edge_pad(_edge_pad(x, -1, left, right), -2, top, bottom)
        return jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)], mode=mode)

    config = {"pad_l": left, "pad_r": right, "pad_t": top, "pad_b": bottom}
    return leaf(name, forward, kind=kind, check=check, config=config)


def _torch_pads(cls: str, padding: Any) -> tuple[int, int, int, int]:
    if is_int(padding):
        return (int(padding),) * 4
    if isinstance(padding, (tuple, list)) and len(padding) == 4 and all(is_int(v) for v in padding):
        return tuple(int(v) for v in padding)
    raise ConfigError(f"nn.{cls}: padding must be an int or (left, right, top, bottom), got {padding!r}")


def SpatialZeroPadding(pad_l: int, pad_r: int | None = None, pad_t: int | None = None,
                       pad_b: int | None = None) -> Module:
    """Zero-pads W by ``(l, r)`` and H by ``(t, b)``; **negative values crop** (torch7).

    Args:
      pad_l: left padding; the others default to it.
      pad_r, pad_t, pad_b: right, top and bottom padding.

    Shape contract: ``(C, H, W) -> (C, H + pad_t + pad_b, W + pad_l + pad_r)``, or batched.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialZeroPadding(1, -1, 0, 0).apply((), jnp.ones((1, 1, 3)))
    Array([[[0., 1., 1.]]], dtype=float32)
    """
    pads = _pads("nn.SpatialZeroPadding", pad_l, pad_r, pad_t, pad_b, None)
    name = "nn.SpatialZeroPadding(l={}, r={}, t={}, b={})".format(*pads)
    return _pad_layer("nn.SpatialZeroPadding", "SpatialZeroPadding", pads, "constant", name)


def SpatialReflectionPadding(pad_l: int, pad_r: int | None = None, pad_t: int | None = None,
                             pad_b: int | None = None) -> Module:
    """Reflection padding (the edge is not repeated): ``[a b c]`` -> ``[b a b c b]``.

    Args:
      pad_l, pad_r, pad_t, pad_b: non-negative pads (left, right, top, bottom; the last
        three default to ``pad_l``), each smaller than the padded dimension.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialReflectionPadding(1, 1, 0, 0).apply((), jnp.array([[[1.0, 2.0, 3.0]]]))
    Array([[[2., 1., 2., 3., 2.]]], dtype=float32)
    """
    pads = _pads("nn.SpatialReflectionPadding", pad_l, pad_r, pad_t, pad_b, 0)
    name = "nn.SpatialReflectionPadding(l={}, r={}, t={}, b={})".format(*pads)
    return _pad_layer("nn.SpatialReflectionPadding", "SpatialReflectionPadding", pads, "reflect", name)


def SpatialReplicationPadding(pad_l: int, pad_r: int | None = None, pad_t: int | None = None,
                              pad_b: int | None = None) -> Module:
    """Edge-replicating padding: ``[a b c]`` -> ``[a a b c c]``.

    Args:
      pad_l, pad_r, pad_t, pad_b: non-negative pads (left, right, top, bottom; the last
        three default to ``pad_l``).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialReplicationPadding(1, 1, 0, 0).apply((), jnp.array([[[1.0, 2.0, 3.0]]]))
    Array([[[1., 1., 2., 3., 3.]]], dtype=float32)
    """
    pads = _pads("nn.SpatialReplicationPadding", pad_l, pad_r, pad_t, pad_b, 0)
    name = "nn.SpatialReplicationPadding(l={}, r={}, t={}, b={})".format(*pads)
    return _pad_layer("nn.SpatialReplicationPadding", "SpatialReplicationPadding", pads, "edge", name)


def ZeroPad2d(padding: Any) -> Module:
    """PyTorch ``nn.ZeroPad2d``: ``padding`` an int or ``(left, right, top, bottom)``; negative crops.

    >>> import jax, fnn
    >>> fnn.ZeroPad2d((1, 2, 0, 0)).init(jax.random.key(0), (-1, 3, 4, 4))[0]
    (-1, 3, 4, 7)
    """
    pads = _torch_pads("ZeroPad2d", padding)
    return _pad_layer("nn.ZeroPad2d", "ZeroPad2d", pads, "constant", f"nn.ZeroPad2d({pads})")


def ReflectionPad2d(padding: Any) -> Module:
    """PyTorch ``nn.ReflectionPad2d``: ``padding`` an int or ``(left, right, top, bottom)``, >= 0.

    >>> import jax, fnn
    >>> fnn.ReflectionPad2d(2).init(jax.random.key(0), (-1, 3, 4, 4))[0]
    (-1, 3, 8, 8)
    """
    pads = _torch_pads("ReflectionPad2d", padding)
    _pads("nn.ReflectionPad2d", *pads, 0)
    return _pad_layer("nn.ReflectionPad2d", "ReflectionPad2d", pads, "reflect", f"nn.ReflectionPad2d({pads})")


def ReplicationPad2d(padding: Any) -> Module:
    """PyTorch ``nn.ReplicationPad2d``: ``padding`` an int or ``(left, right, top, bottom)``, >= 0.

    >>> import jax, fnn
    >>> fnn.ReplicationPad2d((1, 0, 2, 0)).init(jax.random.key(0), (3, 4, 4))[0]
    (3, 6, 5)
    """
    pads = _torch_pads("ReplicationPad2d", padding)
    _pads("nn.ReplicationPad2d", *pads, 0)
    return _pad_layer("nn.ReplicationPad2d", "ReplicationPad2d", pads, "edge", f"nn.ReplicationPad2d({pads})")


# --------------------------------------------------------------------------- up-sampling

_SPATIAL = {1: ("L",), 2: ("H", "W"), 3: ("T", "H", "W")}
_MODES = {"nearest": None, "nearest-exact": None, "area": None, "linear": 1, "bilinear": 2, "bicubic": 2,
          "trilinear": 3}


def _axis_matrix(mode: str, n_in: int, n_out: int, align_corners: bool, scale: float | None) -> Any:
    if mode in ("nearest", "nearest-exact"):
        return win.nearest_matrix(n_in, n_out, scale, exact=mode == "nearest-exact")
    if mode == "area":
        return win.area_matrix(n_in, n_out)
    if mode == "bicubic":
        return win.cubic_matrix(n_in, n_out, align_corners, scale)
    return win.linear_matrix(n_in, n_out, align_corners, scale)


def _resample(x: Any, sizes: tuple[int, ...], mode: str, align_corners: bool, scales: tuple[float | None, ...]) -> Any:
    n_sp = len(sizes)
    for i, (o, s) in enumerate(zip(sizes, scales, strict=True)):
        axis = i - n_sp
        if o != x.shape[axis] or mode not in ("nearest", "area"):
            x = win.apply_matrix(x, _axis_matrix(mode, x.shape[axis], o, align_corners, s), axis)
    return x


def _nearest_integer(x: Any, s: int) -> Any:
    """Integer-scale nearest up-sampling as broadcast + reshape (no gathers, no matrices)."""
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    y = jnp.broadcast_to(x[..., :, None, :, None], (*lead, h, s, w, s))
    return sharded.reshape(y, (*lead, h * s, w * s))


def SpatialUpSamplingNearest(scale: int) -> Module:
    """Nearest-neighbour up-sampling by an integer factor: ``(C, H, W) -> (C, H·s, W·s)``.

    Args:
      scale: the integer factor ``s`` >= 1 (torch7 takes no other).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialUpSamplingNearest(2).apply((), jnp.array([[[1.0, 2.0]]]))
    Array([[[1., 1., 2., 2.],
            [1., 1., 2., 2.]]], dtype=float32)
    """
    ints("nn.SpatialUpSamplingNearest", 1, scale=scale)
    return leaf(f"nn.SpatialUpSamplingNearest({scale})", lambda p, x, *, rng, train: _nearest_integer(x, scale),
                kind="SpatialUpSamplingNearest", check=_image_check(), config={"scale": scale})


def SpatialUpSamplingBilinear(scale: Any = None, *, oheight: int | None = None, owidth: int | None = None) -> Module:
    """Bilinear up-sampling with **aligned corners** (torch7): corner pixels map to corner pixels.

    Args:
      scale: an integer factor ``s``: ``(H, W) -> ((H-1)·s + 1, (W-1)·s + 1)`` (not ``H·s``);
        or torch7's table as a dict ``{'oheight': h, 'owidth': w}``, or a tuple ``(h, w)``.
      oheight, owidth: the output size, instead of ``scale``.

    Shape contract: ``(C, H, W)`` or ``(B, C, H, W)``. PyTorch equivalent:
    ``Upsample(size, mode='bilinear', align_corners=True)``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialUpSamplingBilinear(2).apply((), jnp.array([[[0.0, 1.0]]]))
    Array([[[0. , 0.5, 1. ]]], dtype=float32)
    """
    layer = "nn.SpatialUpSamplingBilinear"
    if isinstance(scale, dict):
        oheight, owidth, scale = scale.get("oheight"), scale.get("owidth"), None
    elif isinstance(scale, (tuple, list)):
        (oheight, owidth), scale = scale, None
    if scale is not None:
        if oheight is not None or owidth is not None:
            raise ConfigError(f"{layer}: give either a scale or an output size (oheight, owidth), not both")
        ints(layer, 1, scale=scale)
        name = f"{layer}({scale})"
    else:
        ints(layer, 1, oheight=oheight, owidth=owidth)
        name = f"{layer}(oheight={oheight}, owidth={owidth})"

    def size(n: int, o: int | None) -> int:
        return (n - 1) * scale + 1 if scale is not None else o

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        sizes = (size(x.shape[-2], oheight), size(x.shape[-1], owidth))
        return _resample(x, sizes, "bilinear", True, (None, None))

    cfg = {"scale": scale, "oheight": oheight, "owidth": owidth}
    return leaf(name, forward, kind="SpatialUpSamplingBilinear", check=_image_check(), config=cfg)


def _upsample(name: str, kind: str, size: Any, scale_factor: Any, mode: str, align_corners: bool | None,
              recompute_scale_factor: bool | None) -> Module:
    layer = name.split("(")[0]
    if mode not in _MODES:
        raise ConfigError(f"{layer}: mode must be one of {sorted(_MODES)}, got {mode!r}")
    if (size is None) == (scale_factor is None):
        raise ConfigError(f"{layer}: give exactly one of size and scale_factor")
    if align_corners is not None and mode not in ("linear", "bilinear", "bicubic", "trilinear"):
        raise ConfigError(f"{layer}: align_corners only applies to the linear, bilinear, bicubic and trilinear modes")
    given = size if size is not None else scale_factor
    n_sp = _MODES[mode] or (len(given) if isinstance(given, (tuple, list)) else None)
    if isinstance(given, (tuple, list)) and n_sp != len(given):
        raise ConfigError(f"{layer}: mode {mode!r} needs {n_sp} spatial sizes, got {given!r}")
    for v in given if isinstance(given, (tuple, list)) else (given,):
        bad_size = size is not None and not is_int(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 or bad_size:
            raise ConfigError(f"{layer}: size must hold positive ints and scale_factor positive numbers, got {given!r}")
    corners = bool(align_corners)
    if n_sp is None:
        def check(shape: Any, dtype: Any) -> None:
            if not is_shape(shape) or not 3 <= len(shape) <= 5:
                raise ShapeError(f"expects input (B, C, L), (B, C, H, W) or (B, C, T, H, W), got {format_shape(shape)}")
    else:
        check = win.check_layout(("C", *_SPATIAL[n_sp]), channel_axis=None, channels=None, spatial_axes=())

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        k = n_sp or x.ndim - 2
        if size is not None:
            sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * k
            scales: tuple = (None,) * k
        else:
            sf = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * k
            sizes = tuple(int(n * s) for n, s in zip(x.shape[-k:], sf, strict=True))
            scales = (None,) * k if recompute_scale_factor else tuple(float(s) for s in sf)
        return _resample(x, sizes, mode, corners, scales)

    cfg = {"size": size, "scale_factor": scale_factor, "mode": mode, "align_corners": align_corners,
           "recompute_scale_factor": recompute_scale_factor}
    return leaf(name, forward, kind=kind, check=check, config=cfg)


def _shown(size: Any, scale_factor: Any) -> str:
    return f"size={size}" if size is not None else f"scale_factor={scale_factor}"


def Upsample(size: Any = None, scale_factor: Any = None, mode: str = "nearest", align_corners: bool | None = None,
             recompute_scale_factor: bool | None = None) -> Module:
    """PyTorch ``nn.Upsample`` / ``F.interpolate`` on ``(B, C, *spatial)``.

    Args:
      size: the output spatial size, an int or a tuple (one per spatial dim).
      scale_factor: a number or a tuple; the output is ``floor(n·scale)``.
      mode: ``'nearest'``, ``'nearest-exact'``, ``'linear'`` (3-D input), ``'bilinear'``,
        ``'bicubic'`` (4-D), ``'trilinear'`` (5-D) or ``'area'``.
      align_corners: for the (bi/tri)linear and bicubic modes (default False, as PyTorch).
      recompute_scale_factor: compute the source coordinates from the sizes rather than
        from ``scale_factor`` (PyTorch's flag).

    Shape contract: as in PyTorch the input has a batch dim, ``(B, C, *spatial)``. When the
    spatial rank is fixed by the mode (linear 1, bilinear/bicubic 2, trilinear 3) or by a
    tuple ``size``/``scale_factor``, one example ``(C, *spatial)`` is accepted too.

    >>> import jax, fnn
    >>> fnn.Upsample(scale_factor=2, mode='bilinear').init(jax.random.key(0), (-1, 3, 4, 5))[0]
    (-1, 3, 8, 10)
    """
    name = f"nn.Upsample({_shown(size, scale_factor)}, mode='{mode}'" + (
        f", align_corners={align_corners})" if align_corners is not None else ")")
    return _upsample(name, "Upsample", size, scale_factor, mode, align_corners, recompute_scale_factor)


def _pair(v: Any) -> Any:
    return v if v is None or isinstance(v, (tuple, list)) else (v, v)


def UpsamplingNearest2d(size: Any = None, scale_factor: Any = None) -> Module:
    """PyTorch ``nn.UpsamplingNearest2d``: ``Upsample(size, scale_factor, mode='nearest')`` on
    ``(C, H, W)`` or ``(B, C, H, W)``.

    >>> import jax, fnn
    >>> fnn.UpsamplingNearest2d(scale_factor=2).init(jax.random.key(0), (3, 4, 5))[0]
    (3, 8, 10)
    """
    return _upsample(f"nn.UpsamplingNearest2d({_shown(size, scale_factor)})", "UpsamplingNearest2d", _pair(size),
                     _pair(scale_factor), "nearest", None, None)


def UpsamplingBilinear2d(size: Any = None, scale_factor: Any = None) -> Module:
    """PyTorch ``nn.UpsamplingBilinear2d``: bilinear with ``align_corners=True``; the output
    is ``floor(n·scale)``, unlike torch7's SpatialUpSamplingBilinear ``(n-1)·s + 1``.

    >>> import jax, fnn
    >>> fnn.UpsamplingBilinear2d(size=(7, 9)).init(jax.random.key(0), (-1, 3, 4, 5))[0]
    (-1, 3, 7, 9)
    """
    return _upsample(f"nn.UpsamplingBilinear2d({_shown(size, scale_factor)})", "UpsamplingBilinear2d", _pair(size),
                     _pair(scale_factor), "bilinear", True, None)


__all__ = [
    "SpatialZeroPadding", "SpatialReflectionPadding", "SpatialReplicationPadding", "SpatialUpSamplingNearest",
    "SpatialUpSamplingBilinear", "ZeroPad2d", "ReflectionPad2d", "ReplicationPad2d", "Upsample",
    "UpsamplingNearest2d", "UpsamplingBilinear2d",
]
