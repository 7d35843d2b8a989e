"""Pooling: torch7's Temporal/Spatial/Volumetric max and average pooling, adaptive pooling and
LP pooling, and PyTorch's ``MaxPool1d/2d/3d``, ``AvgPool1d/2d/3d``, ``AdaptiveMaxPool1d/2d/3d`` and
``AdaptiveAvgPool1d/2d/3d`` (their 1-D and 3-D forms are the 2-D one with another number of dims).

Max and average pooling are one ``lax.reduce_window`` each over the windowed axes of an input of
any leading shape (so one example and a batch take the same path); max pooling goes through
:func:`fnn.kernels.reduce_max`, which on CPU takes the max of the strided taps for small windows
(its gradient is a fused select, not XLA:CPU's serial ``select_and_scatter``). Ceil mode is the
high-side padding that completes the last window; floor mode may instead drop trailing elements
(sliced off, since ``reduce_window`` cannot differentiate negative padding). Adaptive pooling is
separable: one axis at a time, a ``reduce_window`` when the size divides evenly, a gather (max)
or an averaging matrix (mean) otherwise.

torch7 rules kept: arguments put width before height; the stride defaults to the kernel **except
for SpatialAveragePooling, whose stride defaults to 1**; floor rounding by default
(``ceil_mode=True`` is torch7's ``:ceil()``); padding never wins a max (``-inf``); average pooling
divides by torch's window count, counting the padding by default (``count_include_pad=False`` is
torch7's ``:setCountExcludePad()``) but never the ceil-mode overhang; adaptive pooling takes
``(W, H)``. Spatial layers take ``(C, H, W)`` or ``(B, C, H, W)``; TemporalMaxPooling takes
torch7's channels-last ``(T, F)`` or ``(B, T, F)``. ``return_indices=True`` (Spatial/Volumetric and
MaxPool{1,2,3}d) returns ``(output, indices)`` for the unpooling layers of ``_unpool.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax

from fnn import kernels
from fnn.core import Module, leaf
from fnn.core._args import int_tuple, ints, is_int
from fnn.errors import ConfigError
from fnn.layers import _windows as win
from fnn.layers._unpool import indices_pool_layer

_LETTERS = {1: ("C", "L"), 2: ("C", "H", "W"), 3: ("C", "T", "H", "W")}

# --------------------------------------------------------------------------- builders

def _outs(x: Any, axes: Sequence[int], k: Sequence[int], s: Sequence[int], p: Sequence[int], d: Sequence[int],
          ceil: bool) -> list[int]:
    return [win.pool_out(x.shape[a], ki, si, pi, di, ceil=ceil)
            for a, ki, si, pi, di in zip(axes, k, s, p, d, strict=True)]


def _window_args(x: Any, axes: Sequence[int], k: Sequence[int], s: Sequence[int], p: Sequence[int],
                 d: Sequence[int], outs: Sequence[int]) -> tuple[Any, list, list, list, list]:
    nd = x.ndim
    window, strides, dil, pads = [1] * nd, [1] * nd, [1] * nd, [(0, 0)] * nd
    for a, ki, si, pi, di, oi in zip(axes, k, s, p, d, outs, strict=True):
        a = a % nd
        hi = (oi - 1) * si + di * (ki - 1) + 1 - x.shape[a] - pi
        if hi < 0:
            x = lax.slice_in_dim(x, 0, x.shape[a] + hi, axis=a)
            hi = 0
        window[a], strides[a], dil[a], pads[a] = ki, si, di, (pi, hi)
    return x, window, strides, dil, pads


def max_window(x: Any, axes: Sequence[int], k: Sequence[int], s: Sequence[int], p: Sequence[int], d: Sequence[int],
               *, ceil: bool) -> Any:
    """Max over windows of ``x`` along ``axes`` (negative); padding is ``-inf``.

    >>> max_window(jnp.arange(5.0), (-1,), (2,), (2,), (0,), (1,), ceil=True)
    Array([1., 3., 4.], dtype=float32)
    """
    outs = _outs(x, axes, k, s, p, d, ceil)
    x, window, strides, dil, pads = _window_args(x, axes, k, s, p, d, outs)
    if all(v == 1 for v in dil):
        # reduce_window, or on CPU the max of the taps (no select_and_scatter in the gradient)
        return kernels.reduce_max(x, window, strides, pads)
    # JAX cannot differentiate a dilated reduce_window max: take the max of the strided taps.
    x = jnp.pad(x, pads, constant_values=-jnp.inf)
    sizes = list(x.shape)
    for a, o in zip(axes, outs, strict=True):
        sizes[a % x.ndim] = o
    y = None
    for tap in itertools.product(*(range(w) for w in window)):
        start = [t * di for t, di in zip(tap, dil, strict=True)]
        limit = [st + (o - 1) * si + 1 for st, o, si in zip(start, sizes, strides, strict=True)]
        part = lax.slice(x, start, limit, strides)
        y = part if y is None else jnp.maximum(y, part)
    return y


def _counts(n: int, k: int, s: int, p: int, o: int, include_pad: bool) -> np.ndarray:
    c = []
    for i in range(o):
        start = i * s - p
        end = min(start + k, n + p)
        c.append(end - start if include_pad else min(end, n) - max(start, 0))
    return np.asarray(c, dtype=np.float64)


def sum_window(x: Any, axes: Sequence[int], k: Sequence[int], s: Sequence[int], p: Sequence[int], *,
               ceil: bool) -> tuple[Any, list[int]]:
    """Sum over windows (zero padding); returns ``(sums, output sizes)``."""
    ones = (1,) * len(axes)
    outs = _outs(x, axes, k, s, p, ones, ceil)
    x, window, strides, dil, pads = _window_args(x, axes, k, s, p, ones, outs)
    return lax.reduce_window(x, 0.0, lax.add, window, strides, pads), outs


def avg_window(x: Any, axes: Sequence[int], k: Sequence[int], s: Sequence[int], p: Sequence[int], *, ceil: bool,
               count_include_pad: bool, divisor_override: int | None = None) -> Any:
    """Average over windows with torch's divisor."""
    nd = x.ndim
    sizes = [x.shape[a] for a in axes]
    y, outs = sum_window(x, axes, k, s, p, ceil=ceil)
    if divisor_override is not None:
        return y / divisor_override
    div = np.ones([1] * nd)
    for a, n, ki, si, pi, oi in zip(axes, sizes, k, s, p, outs, strict=True):
        shape = [1] * nd
        shape[a % nd] = oi
        div = div * _counts(n, ki, si, pi, oi, count_include_pad).reshape(shape)
    return y / jnp.asarray(div, dtype=y.dtype)


# --------------------------------------------------------------------------- adaptive


def adaptive_axis(x: Any, axis: int, n_out: int, kind: str) -> Any:
    """Adaptive max (``kind='max'``) or average pooling of one axis to ``n_out``."""
    n = x.shape[axis]
    a = axis % x.ndim
    if n % n_out == 0:
        k = n // n_out
        window = [1] * x.ndim
        window[a] = k
        if kind == "max":
            return kernels.reduce_max(x, window, window, [(0, 0)] * x.ndim)
        return lax.reduce_window(x, 0.0, lax.add, window, window, "VALID") / k
    if kind == "avg":
        return win.apply_matrix(x, win.area_matrix(n, n_out), axis)
    ranges = win.adaptive_ranges(n, n_out)
    width = max(b - s for s, b in ranges)
    idx = np.asarray([[min(s + j, b - 1) for j in range(width)] for s, b in ranges])  # repeats stay inside
    g = jnp.take(x, idx.reshape(-1), axis=a)
    g = jnp.reshape(g, x.shape[:a] + (n_out, width) + x.shape[a + 1:])
    return jnp.max(g, axis=a + 1)


def adaptive_layer(name: str, kind: str, config: dict, sizes: tuple[int | None, ...], op: str,
                   letters: tuple[str, ...]) -> Module:
    """Adaptive pooling over the last ``len(sizes)`` dims; ``None`` keeps a size."""
    n_sp = len(sizes)
    check = win.check_layout(letters, channel_axis=None, channels=None, spatial_axes=tuple(range(-n_sp, 0)))

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        for i, o in enumerate(sizes):
            if o is not None:
                x = adaptive_axis(x, i - n_sp, o, op)
        return x

    return leaf(name, forward, kind=kind, check=check, config=config)


# --------------------------------------------------------------------------- window layers


def window_layer(
    name: str, kind: str, config: dict, *, op: str, kernel: tuple[int, ...], stride: tuple[int, ...],
    padding: tuple[int, ...], dilation: tuple[int, ...] | None = None, ceil: bool = False,
    count_include_pad: bool = True, divisor_override: int | None = None, letters: tuple[str, ...],
    axes: tuple[int, ...] | None = None, post: Callable[[Any], Any] | None = None,
    pre: Callable[[Any], Any] | None = None, channels: int | None = None,
) -> Module:
    """A max (``op='max'``), average (``'avg'``) or sum (``'sum'``) pooling layer.

    Args:
      kernel, stride, padding, dilation: per windowed axis, in the order of ``axes``.
      letters: the letters of one example, e.g. ``("C", "H", "W")``.
      axes: negative windowed axes (default: the last ``len(kernel)``).
      pre, post: element-wise maps around a ``'sum'`` (LP pooling).
      channels: a required channel count (dim ``-len(kernel)-1``), or None.
    """
    n_sp = len(kernel)
    axes = axes or tuple(range(-n_sp, 0))
    dilation = dilation or (1,) * n_sp
    win.pool_padding(name, kernel, padding, dilation)

    def out_fn(i: int, n: int) -> int:
        return win.pool_out(n, kernel[i], stride[i], padding[i], dilation[i], ceil=ceil)

    check = win.check_layout(letters, channel_axis=None if channels is None else -n_sp - 1, channels=channels,
                             spatial_axes=axes, out_fn=out_fn)

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        if op == "max":
            return max_window(x, axes, kernel, stride, padding, dilation, ceil=ceil)
        if op == "avg":
            return avg_window(x, axes, kernel, stride, padding, ceil=ceil, count_include_pad=count_include_pad,
                              divisor_override=divisor_override)
        y, _ = sum_window(pre(x), axes, kernel, stride, padding, ceil=ceil)
        return post(y)

    return leaf(name, forward, kind=kind, check=check, config=config)


# --------------------------------------------------------------------------- torch7 names


def _tail(k: tuple, d: tuple, pad: tuple, ceil: bool) -> str:
    """torch7's ``(kWxkH, dW,dH[, padW,padH])`` with ``, ceil`` in ceil mode."""
    s = "x".join(map(str, k)) + ", " + ",".join(map(str, d))
    if any(pad):
        s += ", " + ",".join(map(str, pad))
    return s + (", ceil" if ceil else "")


def TemporalMaxPooling(kW: int, dW: int | None = None) -> Module:
    """Max over time windows, torch7 layout: ``(T, F) -> (T', F)`` or batched ``(B, T, F)``.

    Args:
      kW: window length.
      dW: stride; defaults to ``kW``.

    Shape contract: ``T' = floor((T - kW) / dW) + 1``, the features (last dim) untouched.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.TemporalMaxPooling(2).apply((), jnp.arange(8.0).reshape(4, 2))
    Array([[2., 3.],
           [6., 7.]], dtype=float32)
    """
    dW = kW if dW is None else dW
    ints("nn.TemporalMaxPooling", 1, kW=kW, dW=dW)
    return window_layer(f"nn.TemporalMaxPooling({kW}, {dW})", "TemporalMaxPooling", {"kW": kW, "dW": dW}, op="max",
                        kernel=(kW,), stride=(dW,), padding=(0,), letters=("T", "F"), axes=(-2,))


def SpatialMaxPooling(kW: int, kH: int, dW: int | None = None, dH: int | None = None, padW: int = 0, padH: int = 0,
                      ceil_mode: bool = False, *, return_indices: bool = False) -> Module:
    """2-D max pooling: ``(C, H, W) -> (C, H', W')`` or batched.

    Args:
      kW, kH: window width and height.
      dW, dH: strides; **default to the kernel** (torch7).
      padW, padH: implicit ``-inf`` padding (it never wins); at most half the kernel.
      ceil_mode: round the output size up (torch7's ``:ceil()``); a window that would
        start in the right padding is dropped.
      return_indices: return ``(output, indices)`` (0-based flat argmax per plane) for SpatialMaxUnpooling.

    Shape contract: ``H' = floor((H + 2·padH - kH) / dH) + 1`` (ceil in ceil mode).

    >>> import jax.numpy as jnp, fnn
    >>> pool = fnn.SpatialMaxPooling(2, 2)
    >>> print(pool)
    nn.SpatialMaxPooling(2x2, 2,2)
    >>> pool.apply((), jnp.arange(16.0).reshape(1, 4, 4))
    Array([[[ 5.,  7.],
            [13., 15.]]], dtype=float32)
    """
    dW = kW if dW is None else dW
    dH = kH if dH is None else dH
    ints("nn.SpatialMaxPooling", 1, kW=kW, kH=kH, dW=dW, dH=dH)
    ints("nn.SpatialMaxPooling", 0, padW=padW, padH=padH)
    cfg = {"kW": kW, "kH": kH, "dW": dW, "dH": dH, "padW": padW, "padH": padH, "ceil_mode": ceil_mode}
    build = indices_pool_layer if return_indices else window_layer
    return build(f"nn.SpatialMaxPooling({_tail((kW, kH), (dW, dH), (padW, padH), ceil_mode)})", "SpatialMaxPooling",
                 cfg, op="max", kernel=(kH, kW), stride=(dH, dW), padding=(padH, padW), dilation=(1, 1), ceil=ceil_mode,
                 letters=_LETTERS[2])


def SpatialAveragePooling(kW: int, kH: int, dW: int = 1, dH: int = 1, padW: int = 0, padH: int = 0,
                          ceil_mode: bool = False, count_include_pad: bool = True) -> Module:
    """2-D average pooling: ``(C, H, W) -> (C, H', W')`` or batched.

    Args:
      kW, kH: window width and height.
      dW, dH: strides; **default 1** (torch7; PyTorch's AvgPool2d defaults to the kernel).
      padW, padH: zero padding; at most half the kernel.
      ceil_mode: round the output size up (torch7's ``:ceil()``).
      count_include_pad: divide by the window size including padding (torch7's default;
        ``False`` is ``:setCountExcludePad()``). The ceil-mode overhang is never counted.

    Shape contract: ``H' = floor((H + 2·padH - kH) / dH) + 1`` (ceil in ceil mode).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialAveragePooling(2, 2).apply((), jnp.arange(9.0).reshape(1, 3, 3))
    Array([[[2., 3.],
            [5., 6.]]], dtype=float32)
    """
    ints("nn.SpatialAveragePooling", 1, kW=kW, kH=kH, dW=dW, dH=dH)
    ints("nn.SpatialAveragePooling", 0, padW=padW, padH=padH)
    cfg = {"kW": kW, "kH": kH, "dW": dW, "dH": dH, "padW": padW, "padH": padH, "ceil_mode": ceil_mode,
           "count_include_pad": count_include_pad}
    name = f"nn.SpatialAveragePooling({_tail((kW, kH), (dW, dH), (padW, padH), ceil_mode)})"
    return window_layer(name + ("" if count_include_pad else " excluding pad"), "SpatialAveragePooling", cfg,
                        op="avg", kernel=(kH, kW), stride=(dH, dW), padding=(padH, padW), ceil=ceil_mode,
                        count_include_pad=count_include_pad, letters=_LETTERS[2])


def SpatialAdaptiveMaxPooling(W: int, H: int) -> Module:
    """Max pooling to a fixed output size ``(C, H, W)`` (arguments **width first**, torch7).

    Args:
      W, H: output width and height. Output cell ``i`` covers input rows
        ``floor(i·in/out)`` to ``ceil((i+1)·in/out)`` (exclusive), so cells may overlap.

    Shape contract: ``(C, Hin, Win)`` or ``(B, C, Hin, Win)`` -> ``(..., H, W)``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialAdaptiveMaxPooling(1, 2).apply((), jnp.arange(6.0).reshape(1, 3, 2))
    Array([[[3.],
            [5.]]], dtype=float32)
    """
    ints("nn.SpatialAdaptiveMaxPooling", 1, W=W, H=H)
    return adaptive_layer(f"nn.SpatialAdaptiveMaxPooling({W}x{H})", "SpatialAdaptiveMaxPooling", {"W": W, "H": H},
                          (H, W), "max", _LETTERS[2])


def SpatialAdaptiveAveragePooling(W: int, H: int) -> Module:
    """Average pooling to a fixed output size (arguments **width first**, torch7).

    Args:
      W, H: output width and height; cell ``i`` averages input rows
        ``floor(i·in/out)`` to ``ceil((i+1)·in/out)`` (exclusive).

    Shape contract: ``(C, Hin, Win)`` or ``(B, C, Hin, Win)`` -> ``(..., H, W)``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialAdaptiveAveragePooling(1, 1).apply((), jnp.arange(4.0).reshape(1, 2, 2))
    Array([[[1.5]]], dtype=float32)
    """
    ints("nn.SpatialAdaptiveAveragePooling", 1, W=W, H=H)
    return adaptive_layer(f"nn.SpatialAdaptiveAveragePooling({W}x{H})", "SpatialAdaptiveAveragePooling",
                          {"W": W, "H": H}, (H, W), "avg", _LETTERS[2])


def SpatialLPPooling(n_plane: int, p: float, kW: int, kH: int, dW: int | None = None, dH: int | None = None) -> Module:
    """LP pooling: ``(Σ_window x^p)^(1/p)`` per plane (torch7: Power, window sum, Power(1/p)).

    Args:
      n_plane: the number of input planes (checked; torch7 only stored it).
      p: the norm degree (> 0). As in torch7 there is no ``abs``: a non-integer ``p``
        needs non-negative inputs.
      kW, kH: window width and height.
      dW, dH: strides; default to the kernel.

    Shape contract: ``(n_plane, H, W)`` or ``(B, n_plane, H, W)``, floor rounding, no padding.
    (PyTorch's LPPool2d computes the same for ``x^p >= 0``.)

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialLPPooling(1, 2, 2, 1).apply((), jnp.array([[[3.0, 4.0]]]))
    Array([[[5.]]], dtype=float32)
    """
    dW = kW if dW is None else dW
    dH = kH if dH is None else dH
    ints("nn.SpatialLPPooling", 1, n_plane=n_plane, kW=kW, kH=kH, dW=dW, dH=dH)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or p <= 0:
        raise ConfigError(f"nn.SpatialLPPooling: p must be a positive number, got {p!r}")
    p = float(p)
    if p.is_integer():
        def pre(x: Any) -> Any:
            return lax.integer_pow(x, int(p))
    else:
        def pre(x: Any) -> Any:
            return x ** p

    cfg = {"n_plane": n_plane, "p": p, "kW": kW, "kH": kH, "dW": dW, "dH": dH}
    return window_layer(f"nn.SpatialLPPooling({n_plane}, p={p:g}, {_tail((kW, kH), (dW, dH), (0, 0), False)})",
                        "SpatialLPPooling", cfg, op="sum", kernel=(kH, kW), stride=(dH, dW), padding=(0, 0),
                        letters=(str(n_plane), "H", "W"), channels=n_plane, pre=pre, post=lambda y: y ** (1.0 / p))


def VolumetricMaxPooling(kT: int, kW: int, kH: int, dT: int | None = None, dW: int | None = None,
                         dH: int | None = None, padT: int = 0, padW: int = 0, padH: int = 0,
                         ceil_mode: bool = False, *, return_indices: bool = False) -> Module:
    """3-D max pooling on ``(C, T, H, W)`` or ``(B, C, T, H, W)``.

    Args:
      kT, kW, kH: window size (torch7 order).
      dT, dW, dH: strides; default to the kernel.
      padT, padW, padH: ``-inf`` padding, at most half the kernel.
      ceil_mode, return_indices: torch7's ``:ceil()``; return ``(output, indices)`` for VolumetricMaxUnpooling.

    >>> import jax, fnn
    >>> fnn.VolumetricMaxPooling(2, 2, 2).init(jax.random.key(0), (-1, 3, 4, 6, 6))[0]
    (-1, 3, 2, 3, 3)
    """
    dT, dW, dH = (kT if dT is None else dT), (kW if dW is None else dW), (kH if dH is None else dH)
    ints("nn.VolumetricMaxPooling", 1, kT=kT, kW=kW, kH=kH, dT=dT, dW=dW, dH=dH)
    ints("nn.VolumetricMaxPooling", 0, padT=padT, padW=padW, padH=padH)
    cfg = {"kT": kT, "kW": kW, "kH": kH, "dT": dT, "dW": dW, "dH": dH, "padT": padT, "padW": padW, "padH": padH,
           "ceil_mode": ceil_mode}
    name = f"nn.VolumetricMaxPooling({_tail((kT, kW, kH), (dT, dW, dH), (padT, padW, padH), ceil_mode)})"
    build = indices_pool_layer if return_indices else window_layer
    return build(name, "VolumetricMaxPooling", cfg, op="max", kernel=(kT, kH, kW), stride=(dT, dH, dW),
                 padding=(padT, padH, padW), dilation=(1, 1, 1), ceil=ceil_mode, letters=_LETTERS[3])


def VolumetricAveragePooling(kT: int, kW: int, kH: int, dT: int | None = None, dW: int | None = None,
                             dH: int | None = None) -> Module:
    """3-D average pooling on ``(C, T, H, W)`` or batched; no padding (torch7).

    Args:
      kT, kW, kH: window size (torch7 order).
      dT, dW, dH: strides; **default to the kernel** (unlike SpatialAveragePooling).

    >>> import jax, fnn
    >>> fnn.VolumetricAveragePooling(2, 2, 2).init(jax.random.key(0), (3, 4, 5, 5))[0]
    (3, 2, 2, 2)
    """
    dT, dW, dH = (kT if dT is None else dT), (kW if dW is None else dW), (kH if dH is None else dH)
    ints("nn.VolumetricAveragePooling", 1, kT=kT, kW=kW, kH=kH, dT=dT, dW=dW, dH=dH)
    cfg = {"kT": kT, "kW": kW, "kH": kH, "dT": dT, "dW": dW, "dH": dH}
    return window_layer(f"nn.VolumetricAveragePooling({_tail((kT, kW, kH), (dT, dW, dH), (0, 0, 0), False)})",
                        "VolumetricAveragePooling", cfg, op="avg", kernel=(kT, kH, kW), stride=(dT, dH, dW),
                        padding=(0, 0, 0), letters=_LETTERS[3])


# --------------------------------------------------------------------------- PyTorch names


def _max_pool_nd(nd: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any, return_indices: bool,
                 ceil_mode: bool) -> Module:
    cls = f"MaxPool{nd}d"
    k = int_tuple(f"nn.{cls}", "kernel_size", kernel_size, nd, 1)
    s = k if stride is None else int_tuple(f"nn.{cls}", "stride", stride, nd, 1)
    p = int_tuple(f"nn.{cls}", "padding", padding, nd, 0)
    d = int_tuple(f"nn.{cls}", "dilation", dilation, nd, 1)
    cfg = {"kernel_size": k, "stride": s, "padding": p, "dilation": d, "ceil_mode": ceil_mode}
    name = f"nn.{cls}(kernel_size={k}, stride={s}, padding={p}, dilation={d}, ceil_mode={ceil_mode})"
    return (indices_pool_layer if return_indices else window_layer)(
        name, cls, cfg, op="max", kernel=k, stride=s, padding=p, dilation=d, ceil=ceil_mode, letters=_LETTERS[nd])


def _avg_pool_nd(nd: int, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool, count_include_pad: bool,
                 divisor_override: int | None) -> Module:
    cls = f"AvgPool{nd}d"
    k = int_tuple(f"nn.{cls}", "kernel_size", kernel_size, nd, 1)
    s = k if stride is None else int_tuple(f"nn.{cls}", "stride", stride, nd, 1)
    p = int_tuple(f"nn.{cls}", "padding", padding, nd, 0)
    if divisor_override is not None:
        ints(f"nn.{cls}", 1, divisor_override=divisor_override)
    cfg = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil_mode, "count_include_pad": count_include_pad,
           "divisor_override": divisor_override}
    name = f"nn.{cls}(kernel_size={k}, stride={s}, padding={p})"
    return window_layer(name, cls, cfg, op="avg", kernel=k, stride=s, padding=p, ceil=ceil_mode,
                        count_include_pad=count_include_pad, divisor_override=divisor_override, letters=_LETTERS[nd])


def _adaptive_nd(nd: int, output_size: Any, op: str, return_indices: bool = False) -> Module:
    cls = f"Adaptive{'Max' if op == 'max' else 'Avg'}Pool{nd}d"
    if return_indices:
        raise ConfigError(f"nn.{cls}: return_indices=True is not supported (adaptive pooling keeps no indices)")
    sizes = (output_size,) * nd if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    if len(sizes) != nd or not all(o is None or (is_int(o) and o > 0) for o in sizes):
        raise ConfigError(f"nn.{cls}: output_size must be a positive int, None, or a tuple of {nd} of them, "
                          f"got {output_size!r}")
    shown = sizes if nd > 1 else sizes[0]
    return adaptive_layer(f"nn.{cls}(output_size={shown})", cls, {"output_size": sizes}, sizes, op, _LETTERS[nd])


def MaxPool1d(kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
              return_indices: bool = False, ceil_mode: bool = False) -> Module:
    """PyTorch ``nn.MaxPool1d``: :func:`MaxPool2d` on ``(C, L)`` or ``(B, C, L)``; sizes are ints or 1-tuples.

    >>> import jax, fnn
    >>> fnn.MaxPool1d(3, 2, 1).init(jax.random.key(0), (-1, 2, 9))[0]
    (-1, 2, 5)
    """
    return _max_pool_nd(1, kernel_size, stride, padding, dilation, return_indices, ceil_mode)


def MaxPool2d(kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
              return_indices: bool = False, ceil_mode: bool = False) -> Module:
    """PyTorch ``nn.MaxPool2d`` on ``(C, H, W)`` or ``(B, C, H, W)``; sizes in ``(H, W)`` order.

    Args:
      kernel_size, stride, padding, dilation: an int or ``(h, w)``; ``stride`` defaults to
        the kernel; padding is ``-inf``, at most half the dilated kernel.
      return_indices: return ``(output, indices)`` (0-based flat argmax per plane) for MaxUnpool2d.
      ceil_mode: round the output size up.

    >>> import jax, fnn
    >>> fnn.MaxPool2d(2).init(jax.random.key(0), (-1, 6, 28, 28))[0]
    (-1, 6, 14, 14)
    """
    return _max_pool_nd(2, kernel_size, stride, padding, dilation, return_indices, ceil_mode)


def MaxPool3d(kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
              return_indices: bool = False, ceil_mode: bool = False) -> Module:
    """PyTorch ``nn.MaxPool3d``: :func:`MaxPool2d` on ``(C, T, H, W)`` or ``(B, C, T, H, W)``; sizes ``(t, h, w)``.

    >>> import jax, fnn
    >>> fnn.MaxPool3d(2, ceil_mode=True).init(jax.random.key(0), (1, 3, 5, 5))[0]
    (1, 2, 3, 3)
    """
    return _max_pool_nd(3, kernel_size, stride, padding, dilation, return_indices, ceil_mode)


def AvgPool1d(kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
              count_include_pad: bool = True) -> Module:
    """PyTorch ``nn.AvgPool1d``: :func:`AvgPool2d` on ``(C, L)`` or ``(B, C, L)`` (no ``divisor_override``).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.AvgPool1d(2).apply((), jnp.arange(4.0).reshape(1, 4))
    Array([[0.5, 2.5]], dtype=float32)
    """
    return _avg_pool_nd(1, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def AvgPool2d(kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
              count_include_pad: bool = True, divisor_override: int | None = None) -> Module:
    """PyTorch ``nn.AvgPool2d`` on ``(C, H, W)`` or ``(B, C, H, W)``; sizes in ``(H, W)`` order.

    Args:
      kernel_size, stride, padding: an int or ``(h, w)``; ``stride`` **defaults to the kernel** (torch7's
        SpatialAveragePooling: to 1); zero padding, at most half the kernel.
      ceil_mode: round the output size up.
      count_include_pad: count the padding in the divisor.
      divisor_override: divide every window sum by this instead.

    >>> import jax, fnn
    >>> fnn.AvgPool2d(2).init(jax.random.key(0), (-1, 6, 28, 28))[0]
    (-1, 6, 14, 14)
    """
    return _avg_pool_nd(2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def AvgPool3d(kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
              count_include_pad: bool = True, divisor_override: int | None = None) -> Module:
    """PyTorch ``nn.AvgPool3d``: :func:`AvgPool2d` on ``(C, T, H, W)`` or ``(B, C, T, H, W)``; sizes ``(t, h, w)``.

    >>> import jax, fnn
    >>> fnn.AvgPool3d(2, padding=1).init(jax.random.key(0), (1, 2, 4, 4))[0]
    (1, 2, 3, 3)
    """
    return _avg_pool_nd(3, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def AdaptiveMaxPool1d(output_size: int, return_indices: bool = False) -> Module:
    """PyTorch ``nn.AdaptiveMaxPool1d`` on ``(C, L)`` or ``(B, C, L)``.

    >>> import jax, fnn
    >>> fnn.AdaptiveMaxPool1d(3).init(jax.random.key(0), (-1, 2, 7))[0]
    (-1, 2, 3)
    """
    return _adaptive_nd(1, output_size, "max", return_indices)


def AdaptiveMaxPool2d(output_size: Any, return_indices: bool = False) -> Module:
    """PyTorch ``nn.AdaptiveMaxPool2d``: ``output_size`` is an int or ``(H, W)`` (height
    first, unlike SpatialAdaptiveMaxPooling); ``None`` keeps that input size.

    >>> import jax, fnn
    >>> fnn.AdaptiveMaxPool2d((2, None)).init(jax.random.key(0), (-1, 3, 5, 7))[0]
    (-1, 3, 2, 7)
    """
    return _adaptive_nd(2, output_size, "max", return_indices)


def AdaptiveMaxPool3d(output_size: Any, return_indices: bool = False) -> Module:
    """PyTorch ``nn.AdaptiveMaxPool3d`` on ``(C, T, H, W)`` or batched: ``output_size`` an int or ``(T, H, W)``.

    >>> import jax, fnn
    >>> fnn.AdaptiveMaxPool3d(1).init(jax.random.key(0), (2, 3, 5, 7))[0]
    (2, 1, 1, 1)
    """
    return _adaptive_nd(3, output_size, "max", return_indices)


def AdaptiveAvgPool1d(output_size: int) -> Module:
    """PyTorch ``nn.AdaptiveAvgPool1d`` on ``(C, L)`` or ``(B, C, L)``.

    >>> import jax, fnn
    >>> fnn.AdaptiveAvgPool1d(4).init(jax.random.key(0), (-1, 2, 7))[0]
    (-1, 2, 4)
    """
    return _adaptive_nd(1, output_size, "avg")


def AdaptiveAvgPool2d(output_size: Any) -> Module:
    """PyTorch ``nn.AdaptiveAvgPool2d``: ``output_size`` an int or ``(H, W)`` (height first);
    ``None`` keeps that input size. ``AdaptiveAvgPool2d(1)`` is global average pooling.

    >>> import jax, fnn
    >>> fnn.AdaptiveAvgPool2d(1).init(jax.random.key(0), (-1, 512, 7, 7))[0]
    (-1, 512, 1, 1)
    """
    return _adaptive_nd(2, output_size, "avg")


def AdaptiveAvgPool3d(output_size: Any) -> Module:
    """PyTorch ``nn.AdaptiveAvgPool3d`` on ``(C, T, H, W)`` or batched: ``output_size`` an int or ``(T, H, W)``.

    >>> import jax, fnn
    >>> fnn.AdaptiveAvgPool3d((1, 2, 2)).init(jax.random.key(0), (2, 3, 5, 7))[0]
    (2, 1, 2, 2)
    """
    return _adaptive_nd(3, output_size, "avg")

