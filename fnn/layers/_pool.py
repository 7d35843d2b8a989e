"""The pooling builders behind :mod:`fnn.pooling` (private).

Max and average pooling are one ``lax.reduce_window`` each over the windowed axes
of an input of any leading shape (so one example and a batch take the same path);
max pooling goes through :func:`fnn.kernels.reduce_max`, which on CPU takes the
max of the strided taps for small windows (its gradient is a fused select, not XLA:CPU's
serial ``select_and_scatter``).
Ceil mode is the high-side padding that completes the last window; floor mode may
instead drop trailing elements (sliced off, since ``reduce_window`` cannot
differentiate negative padding). Padding never wins a max (``-inf``); an average
divides by torch's window count (``count_include_pad`` counts the padding but never
the ceil-mode overhang). Adaptive pooling is separable: one axis at a time, a
``reduce_window`` when the size divides evenly, a gather (max) or an averaging
matrix (mean) otherwise.

>>> import jax.numpy as jnp
>>> max_window(jnp.arange(5.0), (-1,), (2,), (2,), (0,), (1,), ceil=True)
Array([1., 3., 4.], dtype=float32)
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
from fnn.layers import _windows as win


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
    """Max over windows of ``x`` along ``axes`` (negative); padding is ``-inf``."""
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
