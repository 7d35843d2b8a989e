"""Shared arithmetic of the vision families: window output sizes,
layout checks, and the separable resampling matrices used by adaptive pooling and
interpolation.

Private to the vision files of :mod:`fnn.layers` (``_conv``, ``_pool``, ``_spatial``,
``_batch_norm``, ``_norm``); nothing here is public API.

Shape-check messages follow the core convention (no layer name; ``leaf`` adds it)::

    expects input (1, H, W) or (B, 1, H, W), got (-1, 3, 32, 32)

>>> conv_out(32, 5, 1, 0, 0)
28
>>> pool_out(5, 2, 2, 0, 1, ceil=True)
3
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from fnn.core import expect_array, format_shape, same_size
from fnn.errors import ConfigError, DTypeError, ShapeError

# --------------------------------------------------------------------------- constructor checks


def pool_padding(layer: str, kernel: Sequence[int], pad: Sequence[int], dilation: Sequence[int] | None = None) -> None:
    """torch7 and PyTorch both require ``pad <= kernel / 2`` (the dilated kernel for max-pooling)."""
    dilation = dilation or (1,) * len(kernel)
    for k, p, d in zip(kernel, pad, dilation, strict=True):
        if 2 * p > d * (k - 1) + 1:
            raise ConfigError(f"{layer}: padding {tuple(pad)} must be at most half of the kernel size {tuple(kernel)}")


# --------------------------------------------------------------------------- output sizes


def conv_out(n: int, k: int, s: int, lo: int, hi: int, d: int = 1) -> int:
    """``floor((n + lo + hi - d*(k-1) - 1) / s) + 1``; <= 0 when the input is too small."""
    span = n + lo + hi - d * (k - 1) - 1
    return span // s + 1 if span >= 0 else 0


def pool_out(n: int, k: int, s: int, p: int, d: int = 1, *, ceil: bool = False) -> int:
    """Pooling output size (torch7 THNN / PyTorch): floor or ceil mode, and the last
    window must start inside the input or the left padding. In ceil mode a window larger
    than the (padded) input still gives one output, as in torch7 and PyTorch."""
    span = n + 2 * p - d * (k - 1) - 1  # may be negative: ceil mode still fits one window
    o = (-(-span // s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return max(o, 0)


def transposed_out(n: int, k: int, s: int, p: int, adj: int, d: int = 1) -> int:
    """``(n-1)*s - 2p + d*(k-1) + adj + 1`` (torch7's ``(n-1)*s - 2p + k + adj``)."""
    return (n - 1) * s - 2 * p + d * (k - 1) + adj + 1


# --------------------------------------------------------------------------- layout checks


def layout_text(letters: Sequence[str]) -> str:
    return "(" + ", ".join(letters) + ("," if len(letters) == 1 else "") + ")"


def check_layout(
    unbatched: Sequence[str],
    *,
    channel_axis: int | None,
    channels: int | None,
    spatial_axes: Sequence[int],
    out_fn: Callable[[int, int], int] | None = None,
    batch_ok: bool = True,
    single_ok: bool = True,
) -> Callable[[Any, Any], None]:
    """A ``check(shape, dtype)`` for one example (rank ``len(unbatched)``) or a batch.

    Args:
      unbatched: the letters of one example, e.g. ``("1", "H", "W")``.
      channel_axis, channels: negative axis of the channel dim and its required size.
      spatial_axes: negative axes of the windowed dims.
      out_fn: ``out_fn(i, n)`` is the output size of windowed dim ``i`` for input size
        ``n``; a known size (not ``-1``) whose output is <= 0 raises ShapeError.
      batch_ok, single_ok: whether the batched / one-example ranks are accepted.
    """
    rank = len(unbatched)
    allowed = ([rank] if single_ok else []) + ([rank + 1] if batch_ok else [])
    texts = ([layout_text(unbatched)] if single_ok else []) + ([layout_text(("B", *unbatched))] if batch_ok else [])
    expected = " or ".join(texts)

    def check(shape: Any, dtype: Any) -> None:
        expect_array(shape)
        if len(shape) not in allowed or (channel_axis is not None and not same_size(channels, shape[channel_axis])):
            raise ShapeError(f"expects input {expected}, got {format_shape(shape)}")
        if out_fn is None:
            return
        sizes = tuple(shape[a] for a in spatial_axes)
        outs = tuple(-1 if n == -1 else out_fn(i, n) for i, n in enumerate(sizes))
        if any(o <= 0 and n != -1 for o, n in zip(outs, sizes, strict=True)):
            raise ShapeError(
                f"got input {format_shape(shape)} whose size {format_shape(sizes)} is too small: "
                f"the output size would be {format_shape(outs)} (output size <= 0)"
            )

    return check


def same_dtype(x: Any, w: Any) -> None:
    """A clear error instead of XLA's when the input and the weights disagree in dtype."""
    if x.dtype != w.dtype:
        raise DTypeError(
            f"got {jnp.dtype(x.dtype).name} input but {jnp.dtype(w.dtype).name} params; "
            f"init with dtype={jnp.dtype(x.dtype).name} or cast the input"
        )


def batch_first(x: Any, unbatched_rank: int) -> tuple[Any, bool]:
    """Adds a leading batch dim to one example; returns ``(x, was_single)``."""
    if x.ndim == unbatched_rank:
        return x[None], True
    return x, False


# --------------------------------------------------------------------------- resampling matrices
# Each builds a numpy (out, in) matrix; a separable resampling applies one per axis.


def adaptive_ranges(n_in: int, n_out: int) -> list[tuple[int, int]]:
    """Region i spans ``floor(i*in/out)`` to ``ceil((i+1)*in/out)`` (torch7 and PyTorch)."""
    return [((i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)) for i in range(n_out)]


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Adaptive average pooling (and ``mode='area'`` interpolation) as a matrix."""
    m = np.zeros((n_out, n_in))
    for i, (a, b) in enumerate(adaptive_ranges(n_in, n_out)):
        m[i, a:b] = 1.0 / (b - a)
    return m


def _scale(n_in: int, n_out: int, align_corners: bool, scale: float | None) -> float:
    """PyTorch's ``area_pixel_compute_scale``."""
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else n_in / n_out


def linear_matrix(n_in: int, n_out: int, align_corners: bool, scale: float | None = None) -> np.ndarray:
    """Linear interpolation (PyTorch ``upsample_linear1d``; torch7 SpatialUpSamplingBilinear
    is ``align_corners=True``)."""
    r = _scale(n_in, n_out, align_corners, scale)
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        src = r * i if align_corners else max(r * (i + 0.5) - 0.5, 0.0)
        i0 = min(int(src), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = src - i0
        m[i, i0] += 1.0 - lam
        m[i, i1] += lam
    return m


def cubic_matrix(n_in: int, n_out: int, align_corners: bool, scale: float | None = None) -> np.ndarray:
    """Bicubic interpolation along one axis (PyTorch: Keys' kernel, A = -0.75, clamped borders)."""
    a = -0.75
    r = _scale(n_in, n_out, align_corners, scale)

    def near(t: float) -> float:  # |t| <= 1
        return ((a + 2) * t - (a + 3)) * t * t + 1

    def far(t: float) -> float:  # 1 < |t| < 2
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a

    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        src = r * i if align_corners else r * (i + 0.5) - 0.5
        i0 = math.floor(src)
        t = src - i0
        for off, w in zip((-1, 0, 1, 2), (far(t + 1), near(t), near(1 - t), far(2 - t)), strict=True):
            m[i, min(max(i0 + off, 0), n_in - 1)] += w
    return m


def nearest_matrix(n_in: int, n_out: int, scale: float | None = None, exact: bool = False) -> np.ndarray:
    """Nearest neighbour, with PyTorch's float32 index arithmetic (``nearest`` and ``nearest-exact``)."""
    m = np.zeros((n_out, n_in))
    if n_in == n_out and not exact:
        src = list(range(n_out))
    else:
        r = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n_in) / np.float32(n_out)
        off = np.float32(0.5) if exact else np.float32(0.0)
        src = [min(int(np.floor((np.float32(i) + off) * r)), n_in - 1) for i in range(n_out)]
    m[np.arange(n_out), src] = 1.0
    return m


def apply_matrix(x: Any, m: np.ndarray, axis: int) -> Any:
    """Contracts ``x`` along ``axis`` (negative) with the (out, in) matrix ``m``."""
    mm = jnp.asarray(m, dtype=x.dtype)
    y = jnp.tensordot(x, mm, axes=((x.ndim + axis,), (1,)))  # new axis last
    return jnp.moveaxis(y, -1, axis)
