"""Fast CPU formulations of small convolutions and of max pooling.

XLA's CPU backend runs ``lax.conv_general_dilated`` through a generic spatial
convolution that is slow when the channel counts are small (LeNet's ``1 -> 6`` and
``6 -> 16``), and ``reduce_window`` max pooling differentiates into a
``select_and_scatter`` that XLA:CPU lowers to a serial scatter. This module
re-expresses both with the operations XLA:CPU runs well, behind the same NCHW/OIHW
contract (measured figures: ``bench/README.md``, "The CPU convolution gap"):

* :func:`conv2d_toeplitz` -- the convolution as **one matrix product against a
  banded (Toeplitz) weight matrix**. Along the width, a convolution is a product with
  a banded matrix: ``y[b, o, h, v] = sum_{c, i, w} x[b, c, h + i, w] T[(i, c, w), (o, v)]``
  with ``T[(i, c, w), (o, v)] = weight[o, c, i, w - v]`` on the band, zero elsewhere.
  The rows of the left operand are ``kh`` shifted copies of the input rows (a small
  copy, ``kh`` times the input); the product is one well-shaped GEMM; the output
  comes back as ``(b, h, o, v)`` and one transpose (which XLA fuses into the bias /
  activation that follows) restores NCHW. The band wastes multiplications by zero
  (a factor ``(Wb + kw - 1) / kw`` for output blocks of width ``Wb``), which the GEMM,
  far faster than the generic convolution, pays back when the channels are few. Its
  gradients are plain JAX autodiff of the same formulation: the weight gradient and the
  input gradient are GEMMs as well, and forward-mode, ``vmap`` and higher derivatives
  work unchanged.
* :func:`conv2d` -- dispatch: the Toeplitz form on CPU for the shapes where it wins
  (stride 1, one group, ``C_in * kh * kw <= MAX_PATCH``), ``lax.conv_general_dilated``
  otherwise and on every other platform (``lax.platform_dependent``).
* :func:`max_pool` -- max pooling as the maximum of the ``kh * kw`` strided taps,
  with a ``custom_jvp`` that routes the tangent to the *first* maximal tap of each
  window (torch's and ``reduce_window``'s tie rule), so the backward pass is a few
  fused selects instead of a scatter; :func:`reduce_max` dispatches between it and
  ``lax.reduce_window`` as :func:`conv2d` does.

fnn's ``SpatialConvolution`` family (NCHW, 2-D) calls :func:`conv2d` and its max-pooling
layers call :func:`reduce_max`. Which form they take is chosen when a call is traced: by
its ``impl=`` argument, else by the innermost ``with fnn.kernels.implementation(...)``
block around the tracing (:func:`current_implementation` tells which), else ``"auto"``.
``with fnn.kernels.implementation("xla"):`` around the first call of a jitted model
restores XLA's own convolution and ``reduce_window`` everywhere.

Non-finite inputs: the band multiplies every input column of a block by the zeros
around the kernel, so an ``inf`` or ``NaN`` in the input of the Toeplitz form makes the
whole output row block it reads ``NaN`` (``0 * inf``), where XLA's convolution keeps it to
the receptive field. Outputs are never a wrong *finite* number -- every finite output is
exact -- and the first non-finite layer is still the one before the convolution; use
``implementation("xla")`` when the exact placement of non-finite values matters.

>>> import jax, jax.numpy as jnp
>>> from jax import lax
>>> x = jax.random.normal(jax.random.key(0), (2, 3, 9, 9))
>>> w = jax.random.normal(jax.random.key(1), (4, 3, 3, 3))
>>> ref = lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW"))
>>> y = conv2d_toeplitz(x, w, padding=((1, 1), (1, 1)))
>>> y.shape, bool(jnp.allclose(y, ref, atol=1e-4))
((2, 4, 9, 9), True)
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "IMPLS",
    "block_width",
    "conv2d",
    "conv2d_toeplitz",
    "current_implementation",
    "implementation",
    "max_pool",
    "reduce_max",
    "use_max_taps",
    "use_toeplitz",
]

Array = jax.Array
Pair = tuple[int, int]

# Dispatch limits for XLA:CPU (jax 0.10; figures in bench/README.md). The Toeplitz form wins up to
# C_in*kh*kw = 288 at stride 1 and loses from 576 on, and at any larger stride.
MAX_PATCH = 300
# Narrower output blocks waste fewer zeros but make a worse-shaped GEMM: keep at least this many columns.
MIN_GEMM_COLUMNS = 64
# The max of taps beats reduce_window (fwd + bwd) for up to 4 taps, or 9 at stride 1; more taps' pads do not fuse.
MAX_POOL_TAPS = 4
MAX_POOL_TAPS_STRIDE_1 = 9

# The implementations conv2d and reduce_max choose between:
# "auto" -- the CPU forms where they win, on CPU only; "xla" -- XLA's own convolution and
# reduce_window everywhere (what fnn did before these kernels); "toeplitz" -- the CPU forms
# wherever they apply, on any platform (tests).
IMPLS = ("auto", "xla", "toeplitz")
# The default for calls traced in this context (thread, task), set by `implementation`.
_IMPL: contextvars.ContextVar[str] = contextvars.ContextVar("fnn.kernels.implementation", default="auto")


def _checked(fn: str, impl: str) -> str:
    if impl not in IMPLS:
        raise ValueError(f"{fn}: impl must be 'auto', 'xla' or 'toeplitz', got {impl!r}")
    return impl


@contextlib.contextmanager
def implementation(impl: str) -> Iterator[str]:
    """Sets the implementation :func:`conv2d` and :func:`reduce_max` use for calls traced inside the block.

    The choice is read when a call is *traced*. JAX caches the trace of a function
    (``jax.jit``, ``jax.make_jaxpr``) without looking at this setting, so wrap the first call
    of a jitted function: one traced before the block keeps the implementation it was traced
    with. An explicit ``impl=`` argument still wins. The setting is a :mod:`contextvars` variable:
    it is local to the thread (and asyncio task) that enters the block, is restored on exit,
    and blocks nest.

    Args:
      impl: ``"auto"`` (the CPU forms where they win, on CPU only), ``"xla"`` (XLA's own
        convolution and ``reduce_window`` everywhere) or ``"toeplitz"`` (the CPU forms wherever
        they apply, on any platform).

    Yields:
      ``impl``.

    Raises:
      ValueError: ``impl`` is not one of :data:`IMPLS`.

    >>> import jax, jax.numpy as jnp
    >>> x, w = jnp.zeros((1, 1, 8, 8)), jnp.zeros((2, 1, 3, 3))
    >>> with implementation("xla"):
    ...     jaxpr = jax.make_jaxpr(conv2d)(x, w)
    >>> "conv_general_dilated" in str(jaxpr), current_implementation()
    (True, 'auto')
    """
    token = _IMPL.set(_checked("implementation", impl))
    try:
        yield impl
    finally:
        _IMPL.reset(token)


def current_implementation() -> str:
    """The implementation that calls traced here and now take without ``impl=`` (see :func:`implementation`).

    >>> current_implementation()
    'auto'
    """
    return _IMPL.get()


def __getattr__(name: str) -> Any:
    if name == "DEFAULT_IMPL":  # fnn 0.1's mutable global
        raise AttributeError(
            "fnn.kernels.DEFAULT_IMPL was replaced by `with fnn.kernels.implementation(...)`; "
            "read the current one with fnn.kernels.current_implementation()"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _pair(v: int | Sequence[int]) -> Pair:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def _pads(padding: Any) -> tuple[Pair, Pair]:
    if isinstance(padding, (int, np.integer)):
        return ((int(padding),) * 2,) * 2
    (a, b), (c, d) = padding
    return ((int(a), int(b)), (int(c), int(d)))


def _out(n: int, k: int, s: int, d: int) -> int:
    return (n - (k - 1) * d - 1) // s + 1


def block_width(w_out: int, kw: int, n_out: int) -> int:
    """The output block width ``Wb`` of the Toeplitz product.

    The smallest divisor of ``w_out`` that exceeds ``kw`` and gives the GEMM at least
    ``MIN_GEMM_COLUMNS`` columns (``n_out * Wb``); ``w_out`` itself when none does. Small
    blocks waste fewer multiplications by zero (the band of a ``Wb``-block is
    ``Wb + kw - 1`` wide), large blocks make a better-shaped GEMM.

    >>> block_width(28, 5, 6), block_width(10, 5, 16), block_width(8, 3, 6)
    (14, 10, 8)
    """
    for d in range(kw + 1, w_out):
        if w_out % d == 0 and n_out * d >= MIN_GEMM_COLUMNS:
            return d
    return max(w_out, 1)


def use_toeplitz(x_shape: Sequence[int], w_shape: Sequence[int], stride: Any = 1, dilation: Any = 1,
                 groups: int = 1) -> bool:
    """Whether :func:`conv2d` takes the Toeplitz form on CPU for these shapes.

    >>> use_toeplitz((128, 1, 32, 32), (6, 1, 5, 5)), use_toeplitz((128, 64, 8, 8), (128, 64, 3, 3))
    (True, False)
    """
    _, c, _, _ = x_shape
    _, ci, kh, kw = w_shape
    return groups == 1 and _pair(stride) == (1, 1) and ci == c and c * kh * kw <= MAX_PATCH


def _band(kw: int, win: int, wb: int, sw: int, dw: int) -> np.ndarray:
    """``E[j, u, v] = 1`` where input column ``u`` meets tap ``j`` of output column ``v`` (in a block)."""
    e = np.zeros((kw, win, wb), np.float32)
    for j in range(kw):
        for v in range(wb):
            e[j, v * sw + j * dw, v] = 1.0
    return e


def conv2d_toeplitz(x: Array, w: Array, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                    block: int | None = None) -> Array:
    """A 2-D cross-correlation as one GEMM against a banded weight matrix.

    Same result as ``lax.conv_general_dilated(x, w, stride, padding, rhs_dilation=dilation,
    dimension_numbers=("NCHW", "OIHW", "NCHW"))`` (up to float rounding), for one group.

    Args:
      x: ``(B, C, H, W)`` input.
      w: ``(O, C, kh, kw)`` weight (torch's layout).
      stride: ``s`` or ``(sh, sw)``.
      padding: ``p``, or ``((top, bottom), (left, right))`` zero padding.
      dilation: ``d`` or ``(dh, dw)`` kernel dilation.
      block: the output block width (default :func:`block_width`).

    Returns:
      ``(B, O, H', W')`` with ``H' = (H + top + bottom - (kh - 1) * dh - 1) // sh + 1`` (and W' alike).

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d_toeplitz(x, jnp.ones((1, 1, 2, 2)))[0, 0]
    Array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]], dtype=float32)
    """
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    (pt, pb), (pl, pr) = _pads(padding)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(f"conv2d_toeplitz expects x (B, C, H, W) and w (O, C, kh, kw), got {x.shape} and {w.shape}")
    o, c, kh, kw = w.shape
    b, _, h, wd = x.shape
    ho, wo = _out(h + pt + pb, kh, sh, dh), _out(wd + pl + pr, kw, sw, dw)
    if ho <= 0 or wo <= 0:
        raise ValueError(f"conv2d_toeplitz: kernel {(kh, kw)} does not fit input {x.shape} with padding {padding}")
    wb = min(block or block_width(wo, kw, o), wo)
    nb = -(-wo // wb)
    win = (wb - 1) * sw + (kw - 1) * dw + 1  # input columns one output block reads
    width = (nb * wb - 1) * sw + (kw - 1) * dw + 1  # input columns all blocks read
    right = max(width - (wd + pl + pr), 0) + pr
    if pt or pb or pl or right:
        x = jnp.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, right)))
    # Rows (b, h', block) x (i, c, u): kh shifted copies of the input rows, cut into output blocks.
    xt = jnp.transpose(x, (0, 2, 1, 3))  # (B, H, C, W)
    rows = jnp.stack([xt[:, i * dh : i * dh + (ho - 1) * sh + 1 : sh] for i in range(kh)], axis=2)  # (B, H', kh, C, W)
    if nb == 1:
        lhs = rows[..., :win].reshape(b * ho, kh * c * win)
    else:
        blocks = [rows[..., k * wb * sw : k * wb * sw + win] for k in range(nb)]
        lhs = jnp.stack(blocks, axis=2).reshape(b * ho * nb, kh * c * win)
    band = jnp.asarray(_band(kw, win, wb, sw, dw), w.dtype)
    rhs = jnp.einsum("ocij,juv->icuov", w, band).reshape(kh * c * win, o * wb)
    y = jnp.matmul(lhs, rhs).reshape(b, ho, nb, o, wb)
    y = jnp.transpose(y, (0, 3, 1, 2, 4)).reshape(b, o, ho, nb * wb)
    return y[..., :wo] if nb * wb != wo else y


def _batch_sharded(x: Array) -> bool:
    """Whether ``x``'s leading dim is sharded over a mesh axis in its type (an Explicit mesh; this module
    imports nothing from fnn, so it does not use ``fnn.core._sharded``)."""
    spec = getattr(getattr(jax.typeof(x), "sharding", None), "spec", None)
    return bool(spec) and spec[0] is not None


def _lax_conv(x: Array, w: Array, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair, groups: int) -> Array:
    return lax.conv_general_dilated(x, w, stride, padding, rhs_dilation=dilation,
                                    dimension_numbers=("NCHW", "OIHW", "NCHW"), feature_group_count=groups)


def _impl(fn: str, impl: str | None) -> str:
    if "DEFAULT_IMPL" in globals():  # set by code written for fnn 0.1, which would otherwise be ignored
        raise ValueError(f"{fn}: fnn.kernels.DEFAULT_IMPL is gone; use `with fnn.kernels.implementation(...)`")
    return _checked(fn, _IMPL.get() if impl is None else impl)


def conv2d(x: Array, w: Array, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
           *, impl: str | None = None) -> Array:
    """NCHW/OIHW 2-D cross-correlation: ``lax.conv_general_dilated``'s result, faster on CPU.

    Args:
      x: ``(B, C, H, W)``.
      w: ``(O, C // groups, kh, kw)``.
      stride, padding, dilation: as in :func:`conv2d_toeplitz` (padding may be ``"VALID"``).
      groups: ``feature_group_count``.
      impl: ``"auto"`` (Toeplitz on CPU where :func:`use_toeplitz` says so, XLA's
        convolution otherwise and on GPU/TPU), ``"xla"`` or ``"toeplitz"``; default
        :func:`current_implementation` (``"auto"`` outside any :func:`implementation` block),
        read when the call is traced.

    Returns:
      ``(B, O, H', W')``.

    >>> import jax, jax.numpy as jnp
    >>> x, w = jnp.ones((2, 1, 6, 6)), jnp.ones((3, 1, 3, 3))
    >>> conv2d(x, w).shape, float(conv2d(x, w)[0, 0, 0, 0])
    ((2, 3, 4, 4), 9.0)
    """
    impl = _impl("conv2d", impl)
    s, d = _pair(stride), _pair(dilation)
    p = ((0, 0), (0, 0)) if isinstance(padding, str) and padding.upper() == "VALID" else _pads(padding)
    xla = functools.partial(_lax_conv, stride=s, padding=p, dilation=d, groups=groups)
    toeplitz = functools.partial(conv2d_toeplitz, stride=s, padding=p, dilation=d)
    if impl == "xla":
        return xla(x, w)
    if impl == "toeplitz":
        if groups != 1:
            raise ValueError("conv2d: the Toeplitz form takes one group; use impl='xla'")
        return toeplitz(x, w)
    if not use_toeplitz(x.shape, w.shape, s, d, groups) or min(v for pair in p for v in pair) < 0:
        return xla(x, w)
    if _batch_sharded(x):  # its reshapes merge the batch, which an Explicit mesh shards: XLA's conv
        return xla(x, w)
    return lax.platform_dependent(x, w, cpu=toeplitz, default=xla)


# --------------------------------------------------------------------------- max pooling


def _taps(x: Array, window: Sequence[int], strides: Sequence[int], outs: Sequence[int]) -> list[Array]:
    """The strided slices of ``x`` (trailing ``len(window)`` dims), one per window position."""
    lead = x.ndim - len(window)
    taps = []
    for pos in np.ndindex(*window):
        start = [0] * lead + list(pos)
        limit = list(x.shape[:lead]) + [p + (o - 1) * s + 1 for p, o, s in zip(pos, outs, strides, strict=True)]
        taps.append(lax.slice(x, start, limit, [1] * lead + list(strides)))
    return taps


def _first_max(taps: list[Array], y: Array) -> list[Array]:
    """One-hot masks of the first tap equal to the max (NaN counts as a match, as it wins the max)."""
    taken, masks = None, []
    for a in taps:
        hit = (a == y) | jnp.isnan(a)
        if taken is not None:
            hit = hit & ~taken
        taken = hit if taken is None else taken | hit
        masks.append(hit)
    return masks


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


def _blocks(x: Array, window: tuple[int, ...]) -> Array:
    """``(..., n1, ..., nk) -> (..., n1/k1, k1, ..., nk/kk, kk)`` (a free reshape)."""
    lead = x.shape[: x.ndim - len(window)]
    dims = x.shape[x.ndim - len(window):]
    return jnp.reshape(x, lead + tuple(v for n, k in zip(dims, window, strict=True) for v in (n // k, k)))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _max_blocks(x: Array, window: tuple[int, ...]) -> Array:
    """Max over non-overlapping windows that tile the trailing dims exactly."""
    return _max_taps(x, window, window)


@_max_blocks.defjvp
def _max_blocks_jvp(window: tuple[int, ...], primals: tuple, tangents: tuple) -> tuple:
    # The tangent is sum_window(mask * t) with a full-resolution one-hot mask of each window's first
    # maximum, so its transpose (the backward pass) is one fused select: dx = where(mask, dy[up], 0).
    (x,), (t,) = primals, tangents
    y = _max_taps(x, window, window)
    outs = y.shape[y.ndim - len(window):]
    masks = _first_max(_taps(x, window, window, outs), y)  # one per window position, at output resolution
    nd, lead = len(window), y.ndim - len(window)
    m = jnp.stack(masks, axis=-1).reshape(y.shape + window)  # (..., o1..ok, k1..kk)
    order = list(range(lead)) + [a for i in range(nd) for a in (lead + i, lead + nd + i)]
    m = jnp.transpose(m, order).reshape(x.shape)
    picked = jnp.where(m, t, jnp.zeros_like(t))
    return y, jnp.sum(_blocks(picked, window), axis=tuple(range(lead + 1, lead + 2 * nd, 2)))


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


def reduce_max(x: Array, window: Sequence[int], strides: Sequence[int], padding: Sequence[Pair],
               *, impl: str | None = None) -> Array:
    """Max pooling dispatch: ``lax.reduce_window(x, -inf, lax.max, ...)``'s values and gradients, faster on CPU.

    Args:
      x: any array.
      window, strides: one entry per dim of ``x`` (1 for the dims not pooled).
      padding: ``(low, high)`` per dim of ``x``.
      impl: ``"auto"`` (:func:`max_pool` on CPU where :func:`use_max_taps` says so,
        ``reduce_window`` otherwise and on GPU/TPU), ``"xla"`` or ``"toeplitz"`` (the
        taps wherever they apply); default :func:`current_implementation`, read when the
        call is traced.

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(16.0).reshape(1, 1, 4, 4)
    >>> reduce_max(x, (1, 1, 2, 2), (1, 1, 2, 2), [(0, 0)] * 4)[0, 0]
    Array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    """
    impl = _impl("reduce_max", impl)
    window, strides = tuple(int(k) for k in window), tuple(int(s) for s in strides)
    padding = [(int(lo), int(hi)) for lo, hi in padding]
    xla = lambda x: lax.reduce_window(x, -jnp.inf, lax.max, window, strides, padding)
    taps = lambda x: max_pool(x, window, strides, padding)
    if impl == "xla" or (impl == "auto" and not use_max_taps(window, strides)):
        return xla(x)
    if impl == "auto" and _batch_sharded(x):  # the taps' reshapes merge the batch, sharded on an Explicit mesh
        return xla(x)
    if impl == "toeplitz":
        return taps(x)
    return lax.platform_dependent(x, cpu=taps, default=xla)
