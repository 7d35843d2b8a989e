"""Max pooling as the maximum of the strided taps, with a backward pass of fused selects (see :mod:`fnn.kernels`).

``reduce_window`` max pooling differentiates into a ``select_and_scatter`` that XLA:CPU lowers to a
serial scatter. :func:`max_pool` takes the max of the ``kh * kw`` strided taps instead, with a
``custom_jvp`` that routes the tangent to the *first* maximal tap of each window (torch's and
``reduce_window``'s tie rule), so the backward pass is a few fused selects.

Non-overlapping windows (2x2 stride 2, the common case) keep three things in memory that XLA would
otherwise recompute in every consumer (:mod:`fnn.kernels._materialize`): the pooled map (read by
the ``kh`` row copies of a following banded-GEMM convolution), the position of each window's first
maximum (``int8``, at output resolution), and the incoming gradient. The backward pass is then one
select at full resolution, ``dx = where(position == first[up], dy[up], 0)``: LeNet-5's train step
takes 0.77x the CPU time it took with the one-hot masks recomputed per element
(``bench/HISTORY.md``, round 2, third pass).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._materialize import materialize, materialized

Array = jax.Array
Pair = tuple[int, int]

# The max of taps beats reduce_window (fwd + bwd) for up to 4 taps, or 9 at stride 1; more taps' pads do not fuse.
MAX_POOL_TAPS = 4
MAX_POOL_TAPS_STRIDE_1 = 9


def _taps(x: Array, window: Sequence[int], strides: Sequence[int], outs: Sequence[int]) -> list[Array]:
    """The strided slices of ``x`` (trailing ``len(window)`` dims), one per window position."""
    lead = x.ndim - len(window)
    taps = []
    for pos in np.ndindex(*window):
        start = [0] * lead + list(pos)
        limit = list(x.shape[:lead]) + [p + (o - 1) * s + 1 for p, o, s in zip(pos, outs, strides, strict=True)]
        taps.append(lax.slice(x, start, limit, [1] * lead + list(strides)))
    return taps


def _is_max(tap: Array, y: Array) -> Array:
    """Where ``tap`` holds the max ``y`` (NaN counts as a match, as it wins the max)."""
    return (tap == y) | jnp.isnan(tap)


def _first_max(taps: list[Array], y: Array) -> list[Array]:
    """One-hot masks of the first tap equal to the max (:func:`_is_max`)."""
    taken, masks = None, []
    for a in taps:
        hit = _is_max(a, y)
        if taken is not None:
            hit = hit & ~taken
        taken = hit if taken is None else taken | hit
        masks.append(hit)
    return masks


def _max_and_position(x: Array, window: tuple[int, ...]) -> tuple[Array, Array]:
    """The max over non-overlapping windows and :func:`_first_max_position`."""
    y = _max_taps(x, window, window)
    return y, _first_max_position(_taps(x, window, window, y.shape[y.ndim - len(window):]), y)


def _first_max_position(taps: list[Array], y: Array) -> Array:
    """The index of the first tap equal to the max (:func:`_is_max`), as :func:`_position_dtype`."""
    dtype = _position_dtype(len(taps))
    first = jnp.full(y.shape, len(taps) - 1, dtype)  # the last tap is the max if no earlier one is
    for k in reversed(range(len(taps) - 1)):
        first = jnp.where(_is_max(taps[k], y), jnp.asarray(k, dtype), first)
    return first


def _position_dtype(taps: int) -> jnp.dtype:
    """``int8`` for a window's position while it fits, else ``int32``."""
    return jnp.dtype(jnp.int8 if taps <= 127 else jnp.int32)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _max_taps(x: Array, window: tuple[int, ...], strides: tuple[int, ...]) -> Array:
    outs = [(n - k) // s + 1 for n, k, s in zip(x.shape[x.ndim - len(window):], window, strides, strict=True)]
    y = None
    for t in _taps(x, window, strides, outs):
        y = t if y is None else jnp.maximum(y, t)
    return y


@_max_taps.defjvp
def _max_taps_jvp(window: tuple[int, ...], strides: tuple[int, ...], primals: tuple, tangents: tuple) -> tuple:
    (x,), (t,) = primals, tangents
    y = _max_taps(x, window, strides)
    outs = y.shape[y.ndim - len(window):]
    masks = _first_max(_taps(x, window, strides, outs), y)
    dy = None
    for m, ta in zip(masks, _taps(t, window, strides, outs), strict=True):
        part = jnp.where(m, ta, jnp.zeros_like(ta))
        dy = part if dy is None else dy + part
    return y, dy


def _blocked_shape(shape: tuple[int, ...], window: tuple[int, ...]) -> tuple[int, ...]:
    """``(..., n1, ..., nk) -> (..., n1/k1, k1, ..., nk/kk, kk)``."""
    lead, dims = shape[: len(shape) - len(window)], shape[len(shape) - len(window):]
    return lead + tuple(v for n, k in zip(dims, window, strict=True) for v in (n // k, k))


def _blocks(x: Array, window: tuple[int, ...]) -> Array:
    """``x`` in :func:`_blocked_shape` (a free reshape)."""
    return jnp.reshape(x, _blocked_shape(x.shape, window))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _max_blocks(x: Array, window: tuple[int, ...]) -> Array:
    """Max over non-overlapping windows that tile the trailing dims exactly, materialised: its consumers
    (the ``kh`` row copies of a banded-GEMM convolution, say) read it instead of recomputing it."""
    return materialized(lambda v: _max_taps(v, window, window), x)


@_max_blocks.defjvp
def _max_blocks_jvp(window: tuple[int, ...], primals: tuple, tangents: tuple) -> tuple:
    # The tangent is sum_window(mask * t) with a full-resolution one-hot mask of each window's first
    # maximum, so its transpose (the backward pass) is one fused select: dx = where(mask, dy[up], 0).
    (x,), (t,) = primals, tangents
    # The max and the first maximum's position in its window, both computed once at output
    # resolution and kept in memory (else XLA recomputes the taps' comparisons for every element
    # of the full resolution, and the max in every consumer).
    y, first = materialized(functools.partial(_max_and_position, window=window), x)
    outs = y.shape[y.ndim - len(window):]
    nd, lead = len(window), y.ndim - len(window)
    blocked = _blocked_shape(x.shape, window)
    up = jnp.broadcast_to(first.reshape(y.shape[:lead] + tuple(v for o in outs for v in (o, 1))), blocked)
    m = (up == _positions(blocked, window)).reshape(x.shape)
    picked = jnp.where(m, t, jnp.zeros_like(t))
    # The barrier on the tangent materialises the incoming gradient in the backward pass: computed
    # once, not for each position of the window it is routed back through.
    return y, materialize(jnp.sum(_blocks(picked, window), axis=tuple(range(lead + 1, lead + 2 * nd, 2))))


def _positions(blocked: tuple[int, ...], window: tuple[int, ...]) -> Array:
    """Each element's position in its window (row-major, as :func:`_taps` numbers them), in the
    blocked shape ``(..., o1, k1, ..., on, kn)``; from iotas, which XLA computes in the consumer
    instead of folding into a constant of the full shape."""
    dtype = _position_dtype(int(np.prod(window)))
    lead, pos, scale = len(blocked) - 2 * len(window), jnp.zeros((), dtype), 1
    for i in reversed(range(len(window))):
        pos = pos + lax.broadcasted_iota(dtype, blocked, lead + 2 * i + 1) * jnp.asarray(scale, dtype)
        scale *= window[i]
    return pos


def use_max_taps(window: Sequence[int], strides: Sequence[int]) -> bool:
    """Whether :func:`max_pool` beats ``reduce_window`` (forward + backward) on XLA:CPU for this window.

    >>> use_max_taps((1, 1, 2, 2), (1, 1, 2, 2)), use_max_taps((3, 3), (2, 2)), use_max_taps((3, 3), (1, 1))
    (True, False, True)
    """
    taps = int(np.prod(window))
    return taps <= MAX_POOL_TAPS or (taps <= MAX_POOL_TAPS_STRIDE_1 and all(int(s) == 1 for s in strides))


def max_pool(x: Array, window: Sequence[int], strides: Sequence[int] | None = None,
             padding: Sequence[Pair] | None = None) -> Array:
    """Max pooling over the trailing ``len(window)`` dims, as the max of the strided taps.

    The same values and gradients as ``lax.reduce_window(x, -inf, lax.max, ...)``: the
    gradient of each window goes to its first maximal element (row-major order), as in
    torch. Padding is ``-inf`` (it never wins).

    Args:
      x: any array; the last ``len(window)`` dims are pooled.
      window: window size per pooled dim.
      strides: stride per pooled dim (default: the window).
      padding: ``(low, high)`` per pooled dim (default none).

    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([[1.0, 3.0, 2.0, 2.0], [0.0, 3.0, 1.0, 0.0]])
    >>> max_pool(x, (2, 2))
    Array([[3., 2.]], dtype=float32)
    >>> jax.grad(lambda x: max_pool(x, (2, 2)).sum())(x)
    Array([[0., 1., 1., 0.],
           [0., 0., 0., 0.]], dtype=float32)
    """
    window = tuple(int(k) for k in window)
    strides = window if strides is None else tuple(int(s) for s in strides)
    if padding is not None and any(lo or hi for lo, hi in padding):
        widths = [(0, 0)] * (x.ndim - len(window)) + [(int(lo), int(hi)) for lo, hi in padding]
        x = jnp.pad(x, widths, constant_values=-jnp.inf)
    dims = x.shape[x.ndim - len(window):]
    if strides == window and all(n >= k for n, k in zip(dims, window, strict=True)):
        used = [n // k * k for n, k in zip(dims, window, strict=True)]
        if used != list(dims):  # floor mode: the tail that fills no window is dropped
            x = lax.slice(x, [0] * x.ndim, list(x.shape[: x.ndim - len(window)]) + used)
        return _max_blocks(x, window)
    return _max_taps(x, window, strides)
