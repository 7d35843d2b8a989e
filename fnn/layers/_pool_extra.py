"""More torch7 pooling: SpatialDilatedMaxPooling, VolumetricDilatedMaxPooling, the fractional
max poolings (torch7's Spatial/VolumetricFractionalMaxPooling, PyTorch's FractionalMaxPool2d/3d),
FeatureLPPooling, TemporalDynamicKMaxPooling, and PyTorch's LPPool1d/2d/3d.

The dilated poolings are the window pooling of :mod:`fnn.layers._pool` with a dilation; with
``return_indices=True`` they return ``(output, indices)`` for the unpooling layers.

**Fractional max pooling and the rng/train contract.** torch7 drew one uniform sample per
(example, plane, dim) at every forward (unless ``:fixPoolingRegions()``); the window starts of a
dim of input size ``n``, output size ``o`` and pool size ``k`` are, with ``α = (n-k)/(o-1)``,
``floor((i+u)·α) - floor(u·α)`` for ``i < o-1`` and ``n-k`` for the last (computed in the input's
dtype, as THNN and PyTorch do). In fnn:

* ``train=True`` draws the samples from the ``rng`` given to ``apply`` (one key per call, new
  regions every step, as torch7); without a key it raises :class:`~fnn.errors.MissingRNGError`;
* ``train=False`` is deterministic and needs no key: every sample is ``0.5``;
* ``samples=`` (an array ``(C, n_dims)`` or ``(B, C, n_dims)`` in ``[0, 1)``) fixes the regions in
  both modes: torch7's ``fixPoolingRegions()``, PyTorch's ``_random_samples``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from fnn.core import Module, expect_array, format_shape, leaf
from fnn.core._args import boolean, check_number, int_tuple, ints, is_int
from fnn.errors import ConfigError, MissingRNGError, ShapeError
from fnn.layers import _windows as win
from fnn.layers._pool import avg_window, sum_window, window_layer
from fnn.layers._unpool import gather_windows, indices_pool_layer, max_with_indices

_LETTERS = {1: ("C", "L"), 2: ("C", "H", "W"), 3: ("C", "T", "H", "W")}

# --------------------------------------------------------------------------- dilated max pooling


def SpatialDilatedMaxPooling(kW: int, kH: int, dW: int | None = None, dH: int | None = None, padW: int = 0,
                             padH: int = 0, dilW: int = 1, dilH: int = 1, ceil_mode: bool = False, *,
                             return_indices: bool = False) -> Module:
    """Dilated 2-D max pooling: :func:`fnn.SpatialMaxPooling` with the window taps ``dil`` apart.

    Args:
      kW, kH, dW, dH, padW, padH, ceil_mode: as :func:`fnn.SpatialMaxPooling` (strides default to the kernel).
      dilW, dilH: dilation (default 1); the padding is at most half the dilated kernel.
      return_indices: return ``(output, indices)`` (0-based flat argmax per plane) for SpatialMaxUnpooling.

    Shape contract: ``(C, H, W)`` or ``(B, C, H, W)``, ``H' = floor((H + 2·padH - dilH·(kH-1) - 1) / dH) + 1``.

    >>> import jax, fnn
    >>> fnn.SpatialDilatedMaxPooling(2, 2, 1, 1, 0, 0, 2, 2).init(jax.random.key(0), (-1, 1, 5, 5))[0]
    (-1, 1, 3, 3)
    """
    layer = "nn.SpatialDilatedMaxPooling"
    dW = kW if dW is None else dW
    dH = kH if dH is None else dH
    ints(layer, 1, kW=kW, kH=kH, dW=dW, dH=dH, dilW=dilW, dilH=dilH)
    ints(layer, 0, padW=padW, padH=padH)
    cfg = {"kW": kW, "kH": kH, "dW": dW, "dH": dH, "padW": padW, "padH": padH, "dilW": dilW, "dilH": dilH,
           "ceil_mode": ceil_mode}
    name = f"{layer}({kW}x{kH}, {dW},{dH}, {padW},{padH}, {dilW},{dilH}{', ceil' if ceil_mode else ''})"
    build = indices_pool_layer if return_indices else window_layer
    return build(name, "SpatialDilatedMaxPooling", cfg, op="max", kernel=(kH, kW), stride=(dH, dW),
                 padding=(padH, padW), dilation=(dilH, dilW), ceil=ceil_mode, letters=_LETTERS[2])


def VolumetricDilatedMaxPooling(kT: int, kW: int, kH: int, dT: int | None = None, dW: int | None = None,
                                dH: int | None = None, padT: int = 0, padW: int = 0, padH: int = 0, dilT: int = 1,
                                dilW: int = 1, dilH: int = 1, ceil_mode: bool = False, *,
                                return_indices: bool = False) -> Module:
    """Dilated 3-D max pooling on ``(C, T, H, W)`` or ``(B, C, T, H, W)``.

    Args:
      kT, kW, kH, dT, dW, dH, padT, padW, padH, ceil_mode: as :func:`fnn.VolumetricMaxPooling`.
      dilT, dilW, dilH: dilation (default 1).
      return_indices: return ``(output, indices)`` for VolumetricMaxUnpooling.

    Shape contract: ``T' = floor((T + 2·padT - dilT·(kT-1) - 1) / dT) + 1`` (H, W alike).

    >>> import jax, fnn
    >>> fnn.VolumetricDilatedMaxPooling(2, 2, 2, 1, 1, 1, 0, 0, 0, 2, 2, 2).init(jax.random.key(0), (1, 4, 4, 4))[0]
    (1, 2, 2, 2)
    """
    layer = "nn.VolumetricDilatedMaxPooling"
    dT, dW, dH = (kT if dT is None else dT), (kW if dW is None else dW), (kH if dH is None else dH)
    ints(layer, 1, kT=kT, kW=kW, kH=kH, dT=dT, dW=dW, dH=dH, dilT=dilT, dilW=dilW, dilH=dilH)
    ints(layer, 0, padT=padT, padW=padW, padH=padH)
    cfg = {"kT": kT, "kW": kW, "kH": kH, "dT": dT, "dW": dW, "dH": dH, "padT": padT, "padW": padW, "padH": padH,
           "dilT": dilT, "dilW": dilW, "dilH": dilH, "ceil_mode": ceil_mode}
    name = (f"{layer}({kT}x{kW}x{kH}, {dT},{dW},{dH}, {padT},{padW},{padH}, {dilT},{dilW},{dilH}"
            f"{', ceil' if ceil_mode else ''})")
    build = indices_pool_layer if return_indices else window_layer
    return build(name, "VolumetricDilatedMaxPooling", cfg, op="max", kernel=(kT, kH, kW), stride=(dT, dH, dW),
                 padding=(padT, padH, padW), dilation=(dilT, dilH, dilW), ceil=ceil_mode, letters=_LETTERS[3])


# --------------------------------------------------------------------------- fractional max pooling


def fractional_starts(u: Any, n: int, o: int, k: int) -> Any:
    """THNN's ``generateIntervals`` for samples ``u (..., )``: the window starts ``(..., o)``."""
    last = jnp.full(u.shape + (1,), n - k, jnp.int32)
    if o == 1:
        return last
    alpha = jnp.asarray((n - k) / (o - 1), u.dtype)
    i = jnp.reshape(jnp.arange(o - 1, dtype=u.dtype), (1,) * u.ndim + (o - 1,))
    s = jnp.floor((i + u[..., None]) * alpha) - jnp.floor(u[..., None] * alpha)
    return jnp.concatenate([s.astype(jnp.int32), last], axis=-1)


def _fractional_layer(name: str, kind: str, cfg: dict, *, kernel: tuple[int, ...], outs: tuple[Any, ...],
                      sample_cols: tuple[int, ...], samples: Any, return_indices: bool) -> Module:
    """``outs[i]`` is ``("size", n)`` or ``("ratio", r)`` per dim (dim order); ``sample_cols[i]`` the
    sample column of dim ``i``."""
    n_sp = len(kernel)
    fixed = None if samples is None else np.asarray(samples, dtype=np.float64)
    if fixed is not None and (fixed.ndim not in (2, 3) or fixed.shape[-1] != n_sp or fixed.min() < 0
                              or fixed.max() >= 1):
        raise ConfigError(f"{name}: samples must be an array (C, {n_sp}) or (B, C, {n_sp}) of values in [0, 1), "
                          f"got shape {fixed.shape}")

    def out_size(i: int, n: int) -> int:
        mode, v = outs[i]
        return v if mode == "size" else int(math.floor(n * v))

    def check(shape: Any, dtype: Any) -> None:
        win.check_layout(_LETTERS[n_sp], channel_axis=None, channels=None, spatial_axes=())(shape, dtype)
        for i, n in enumerate(shape[-n_sp:]):
            if n != -1 and (out_size(i, n) < 1 or out_size(i, n) + kernel[i] - 1 > n):
                raise ShapeError(f"got input {format_shape(shape)}: output size {out_size(i, n)} and pool size "
                                 f"{kernel[i]} need an input size >= {out_size(i, n) + kernel[i] - 1} and an output "
                                 f">= 1 (dim {i - n_sp})")

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        xb, single = win.batch_first(x, n_sp + 1)
        lead = xb.shape[:2]
        if fixed is not None:
            u = jnp.broadcast_to(jnp.asarray(fixed, xb.dtype), lead + (n_sp,))
        elif train:
            if rng is None:
                raise MissingRNGError("draws its pooling regions in training mode and needs a PRNG key; call "
                                      "apply(params, x, rng=jax.random.key(0), train=True)")
            u = jax.random.uniform(rng, lead + (n_sp,), xb.dtype)
        else:
            u = jnp.full(lead + (n_sp,), 0.5, xb.dtype)
        starts = [fractional_starts(u[..., sample_cols[i]], n, out_size(i, n), kernel[i])
                  for i, n in enumerate(xb.shape[2:])]
        y, idx = max_with_indices(*gather_windows(xb, starts, kernel, (1,) * n_sp))
        if single:
            y, idx = y[0], idx[0]
        return (y, idx) if return_indices else y

    return leaf(name + (" with indices" if return_indices else ""), forward, kind=kind, check=check,
                config=cfg | {"samples": None if fixed is None else fixed.tolist(), "return_indices": return_indices})


def _size_or_ratio(layer: str, sizes: Sequence[Any], names: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """torch7's rule: all arguments >= 1 are output sizes, otherwise ratios in (0, 1)."""
    if all(is_int(v) and v >= 1 for v in sizes):
        return tuple(("size", int(v)) for v in sizes)
    for n, v in zip(names, sizes, strict=True):
        check_number(layer, n, v)
        if not 0 < v < 1:
            raise ConfigError(f"{layer}: {', '.join(names)} must all be output sizes (ints >= 1) or all ratios in "
                              f"(0, 1), got {tuple(sizes)}")
    return tuple(("ratio", float(v)) for v in sizes)


def SpatialFractionalMaxPooling(kW: int, kH: int, outW: float, outH: float, *, samples: Any = None,
                                return_indices: bool = False) -> Module:
    """Fractional max pooling (Graham 2014): pseudo-random overlapping ``kH x kW`` windows.

    Args:
      kW, kH: pool size (>= 2 in torch7; >= 1 here).
      outW, outH: the output width and height (ints >= 1), or both ratios in (0, 1): the output is
        ``floor(input · ratio)``.
      samples: fixed samples ``(C, 2)`` or ``(B, C, 2)`` in [0, 1), column 0 for W and 1 for H
        (torch7's ``fixPoolingRegions``; PyTorch's ``_random_samples``).
      return_indices: return ``(output, indices)`` (0-based flat argmax per plane).

    Regions: see the module docstring (train draws from ``rng``, eval uses samples 0.5).
    Shape contract: ``(C, H, W)`` or ``(B, C, H, W)`` -> ``(..., outH, outW)``; ``out + k - 1 <= in``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> pool = fnn.SpatialFractionalMaxPooling(2, 2, 0.5, 0.5)
    >>> pool.init(jax.random.key(0), (-1, 3, 9, 9))[0]
    (-1, 3, 4, 4)
    >>> pool.apply((), jnp.ones((3, 9, 9)), rng=jax.random.key(1), train=True).shape
    (3, 4, 4)
    """
    layer = "nn.SpatialFractionalMaxPooling"
    ints(layer, 1, kW=kW, kH=kH)
    boolean(layer, "return_indices", return_indices)
    outs = _size_or_ratio(layer, (outH, outW), ("outH", "outW"))
    cfg = {"kW": kW, "kH": kH, "outW": outW, "outH": outH}
    return _fractional_layer(f"{layer}({kW}x{kH}, {outW},{outH})", "SpatialFractionalMaxPooling", cfg,
                             kernel=(kH, kW), outs=outs, sample_cols=(1, 0), samples=samples,
                             return_indices=return_indices)


def VolumetricFractionalMaxPooling(kT: int, kW: int, kH: int, outT: float, outW: float, outH: float, *,
                                   samples: Any = None, return_indices: bool = False) -> Module:
    """3-D fractional max pooling on ``(C, T, H, W)`` or ``(B, C, T, H, W)``.

    Args:
      kT, kW, kH: pool size (torch7 order).
      outT, outW, outH: output sizes (ints >= 1), or all ratios in (0, 1).
      samples: fixed samples ``(C, 3)`` or ``(B, C, 3)``, columns T, W, H (torch7's order).
      return_indices: return ``(output, indices)`` (0-based flat argmax per plane).

    >>> import jax, fnn
    >>> fnn.VolumetricFractionalMaxPooling(2, 2, 2, 3, 3, 3).init(jax.random.key(0), (1, 5, 5, 5))[0]
    (1, 3, 3, 3)
    """
    layer = "nn.VolumetricFractionalMaxPooling"
    ints(layer, 1, kT=kT, kW=kW, kH=kH)
    boolean(layer, "return_indices", return_indices)
    outs = _size_or_ratio(layer, (outT, outH, outW), ("outT", "outH", "outW"))
    cfg = {"kT": kT, "kW": kW, "kH": kH, "outT": outT, "outW": outW, "outH": outH}
    return _fractional_layer(f"{layer}({kT}x{kW}x{kH}, {outT},{outW},{outH})", "VolumetricFractionalMaxPooling",
                             cfg, kernel=(kT, kH, kW), outs=outs, sample_cols=(0, 2, 1), samples=samples,
                             return_indices=return_indices)


def _fractional_nd(nd: int, kernel_size: Any, output_size: Any, output_ratio: Any, return_indices: bool,
                   samples: Any) -> Module:
    cls = f"FractionalMaxPool{nd}d"
    layer = f"nn.{cls}"
    k = int_tuple(layer, "kernel_size", kernel_size, nd, 1)
    if (output_size is None) == (output_ratio is None):
        raise ConfigError(f"{layer}: give exactly one of output_size and output_ratio")
    if output_size is not None:
        outs = tuple(("size", v) for v in int_tuple(layer, "output_size", output_size, nd, 1))
    else:
        ratios = (output_ratio,) * nd if not isinstance(output_ratio, (tuple, list)) else tuple(output_ratio)
        if len(ratios) != nd:
            raise ConfigError(f"{layer}: output_ratio must be a number or a tuple of {nd}, got {output_ratio!r}")
        outs = tuple(("ratio", v) for v in ratios)
        for v in ratios:
            if check_number(layer, "output_ratio", v) <= 0 or v >= 1:
                raise ConfigError(f"{layer}: output_ratio must be in (0, 1), got {output_ratio!r}")
    cfg = {"kernel_size": k, "output_size": output_size, "output_ratio": output_ratio}
    cols = (1, 0) if nd == 2 else (0, 1, 2)  # PyTorch: 2-D samples are (W, H); 3-D ones (T, H, W)
    return _fractional_layer(f"{layer}(kernel_size={k}, output_size={output_size}, output_ratio={output_ratio})",
                             cls, cfg, kernel=k, outs=outs, sample_cols=cols, samples=samples,
                             return_indices=boolean(layer, "return_indices", return_indices))


def FractionalMaxPool2d(kernel_size: Any, output_size: Any = None, output_ratio: Any = None,
                        return_indices: bool = False, _random_samples: Any = None) -> Module:
    """PyTorch ``nn.FractionalMaxPool2d``: :func:`SpatialFractionalMaxPooling` with PyTorch's arguments
    (``kernel_size``, ``output_size`` as ``(H, W)``; ``_random_samples`` ``(B, C, 2)``, columns W, H).

    >>> import jax, fnn
    >>> fnn.FractionalMaxPool2d(3, output_ratio=0.5).init(jax.random.key(0), (-1, 2, 10, 10))[0]
    (-1, 2, 5, 5)
    """
    return _fractional_nd(2, kernel_size, output_size, output_ratio, return_indices, _random_samples)


def FractionalMaxPool3d(kernel_size: Any, output_size: Any = None, output_ratio: Any = None,
                        return_indices: bool = False, _random_samples: Any = None) -> Module:
    """PyTorch ``nn.FractionalMaxPool3d`` (``output_size`` as ``(T, H, W)``; samples columns T, H, W).

    >>> import jax, fnn
    >>> fnn.FractionalMaxPool3d(2, output_size=2).init(jax.random.key(0), (-1, 1, 4, 4, 4))[0]
    (-1, 1, 2, 2, 2)
    """
    return _fractional_nd(3, kernel_size, output_size, output_ratio, return_indices, _random_samples)


# --------------------------------------------------------------------------- LP and k-max pooling


def _power_fns(p: float) -> tuple[Any, Any]:
    if float(p).is_integer():
        return (lambda x: lax.integer_pow(x, int(p))), (lambda y: y ** (1.0 / p))
    return (lambda x: x ** p), (lambda y: y ** (1.0 / p))


def FeatureLPPooling(width: int, stride: int, power: float, batch_mode: bool = False) -> Module:
    """LP pooling over a sliding window of the **feature** dim: ``(Σ_window x^power)^(1/power)`` (no abs).

    Args:
      width: window size, 2 to 16 (torch7's limits).
      stride: 1 to 4.
      power: the norm degree (> 0).
      batch_mode: the first dim is the batch (so the feature dim is dim 1, else dim 0).

    Shape contract: ``(F, *opt)`` with 0-2 optional dims, or ``(B, F, *opt)`` in batch mode; the feature
    size becomes ``(F - width) // stride + 1``, the other dims unchanged.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.FeatureLPPooling(2, 1, 2).apply((), jnp.array([3.0, 4.0, 0.0]))
    Array([5., 4.], dtype=float32)
    """
    layer = "nn.FeatureLPPooling"
    ints(layer, 1, width=width, stride=stride)
    if not 2 <= width <= 16 or not 1 <= stride <= 4:
        raise ConfigError(f"{layer}: width must be in [2, 16] and stride in [1, 4], got {width} and {stride}")
    if check_number(layer, "power", power) <= 0:
        raise ConfigError(f"{layer}: power must be > 0, got {power!r}")
    boolean(layer, "batch_mode", batch_mode)
    pre, post = _power_fns(power)
    axis = 1 if batch_mode else 0
    ranks = (2, 3, 4) if batch_mode else (1, 2, 3)

    def check(shape: Any, dtype: Any) -> None:
        expect_array(shape)
        if len(shape) not in ranks:
            what = "(B, F), (B, F, X) or (B, F, X, Y)" if batch_mode else "(F,), (F, X) or (F, X, Y)"
            raise ShapeError(f"expects input {what}, got {format_shape(shape)}")
        n = shape[axis]
        if n != -1 and n < width:
            raise ShapeError(f"got input {format_shape(shape)} with {n} features, fewer than the width {width}")

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        y, _ = sum_window(pre(x), (axis - x.ndim,), (width,), (stride,), (0,), ceil=False)
        return post(y)

    return leaf(f"{layer}(w{width} s{stride} power {power:g} batch {int(batch_mode)})", forward,
                kind="FeatureLPPooling", check=check,
                config={"width": width, "stride": stride, "power": power, "batch_mode": batch_mode})


def _lp_pool_nd(nd: int, norm_type: float, kernel_size: Any, stride: Any, ceil_mode: bool) -> Module:
    cls = f"LPPool{nd}d"
    layer = f"nn.{cls}"
    if check_number(layer, "norm_type", norm_type) <= 0:
        raise ConfigError(f"{layer}: norm_type must be > 0, got {norm_type!r}")
    k = int_tuple(layer, "kernel_size", kernel_size, nd, 1)
    s = k if stride is None else int_tuple(layer, "stride", stride, nd, 1)
    pre, root = _power_fns(norm_type)
    cfg = {"norm_type": norm_type, "kernel_size": k, "stride": s, "ceil_mode": ceil_mode}
    axes = tuple(range(-nd, 0))
    check = win.check_layout(_LETTERS[nd], channel_axis=None, channels=None, spatial_axes=axes,
                             out_fn=lambda i, n: win.pool_out(n, k[i], s[i], 0, ceil=ceil_mode))

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        # PyTorch: avg_pool (a ceil-mode overhang window divides by its clipped size) times prod(kernel)
        y = avg_window(pre(x), axes, k, s, (0,) * nd, ceil=ceil_mode, count_include_pad=True) * math.prod(k)
        return root(jnp.maximum(y, 0))

    return leaf(f"{layer}(norm_type={norm_type}, kernel_size={k}, stride={s}, ceil_mode={ceil_mode})", forward,
                kind=cls, check=check, config=cfg)


def LPPool1d(norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Module:
    """PyTorch ``nn.LPPool1d`` on ``(C, L)`` or ``(B, C, L)``: ``(Σ_window x^p)^(1/p)`` (a negative window sum gives 0).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.LPPool1d(2, 2).apply((), jnp.array([[3.0, 4.0]]))
    Array([[5.]], dtype=float32)
    """
    return _lp_pool_nd(1, norm_type, kernel_size, stride, ceil_mode)


def LPPool2d(norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Module:
    """PyTorch ``nn.LPPool2d`` on ``(C, H, W)`` or batched (torch7's SpatialLPPooling with PyTorch's arguments).

    >>> import jax, fnn
    >>> fnn.LPPool2d(2, 2).init(jax.random.key(0), (-1, 3, 4, 4))[0]
    (-1, 3, 2, 2)
    """
    return _lp_pool_nd(2, norm_type, kernel_size, stride, ceil_mode)


def LPPool3d(norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Module:
    """PyTorch ``nn.LPPool3d`` on ``(C, T, H, W)`` or batched.

    >>> import jax, fnn
    >>> fnn.LPPool3d(1, 2).init(jax.random.key(0), (2, 4, 4, 4))[0]
    (2, 2, 2, 2)
    """
    return _lp_pool_nd(3, norm_type, kernel_size, stride, ceil_mode)
