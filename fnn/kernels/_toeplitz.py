"""The banded-GEMM (Toeplitz) form of a small 2-D convolution (see :mod:`fnn.kernels`).

Along the width, a convolution is a product with a banded matrix:
``y[b, o, h, v] = sum_{c, i, w} x[b, c, h + i, w] T[(i, c, w), (o, v)]`` with
``T[(i, c, w), (o, v)] = weight[o, c, i, w - v]`` on the band, zero elsewhere. The rows of the
left operand are ``kh`` shifted copies of the input rows (a small copy, ``kh`` times the input);
the product is one well-shaped GEMM; the output comes back as ``(b, h, o, v)`` and one transpose
(which XLA fuses into the bias / activation that follows) restores NCHW. The band wastes
multiplications by zero (a factor ``(Wb + kw - 1) / kw`` for output blocks of width ``Wb``), which
the GEMM, far faster than XLA:CPU's generic convolution, pays back when the input channels are few.
Its gradients are plain JAX autodiff of the same formulation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Pair = tuple[int, int]

# Dispatch limits for XLA:CPU (jax 0.10; figures in bench/HISTORY.md, "The CPU convolution gap" and
# "Round 2"). The Toeplitz form wins for few input channels (LeNet's 1 -> 6, 6 -> 16, a CIFAR stem's
# 3 -> 16) and loses to the chunked form (fnn.kernels._chunked) from 16 channels on, and at any stride.
MAX_PATCH = 150
MAX_CHANNELS = 8
# Narrower output blocks waste fewer zeros but make a worse-shaped GEMM: keep at least this many columns.
MIN_GEMM_COLUMNS = 64


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
    return groups == 1 and _pair(stride) == (1, 1) and ci == c and c * kh * kw <= MAX_PATCH and c <= MAX_CHANNELS


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
    # Rows (b, h', block) x (i, c, u): kh shifted copies of the input rows, cut into output blocks,
    # gathered by one concatenate straight from the input (no intermediate copy of the shifted rows).
    xt = jnp.transpose(x, (0, 2, 1, 3))  # (B, H, C, W)
    pieces = [xt[:, i * dh : i * dh + (ho - 1) * sh + 1 : sh, :, k * wb * sw : k * wb * sw + win]
              for k in range(nb) for i in range(kh)]  # each (B, H', C, win)
    lhs = jnp.stack(pieces, axis=2).reshape(b * ho * nb, kh * c * win)
    band = jnp.asarray(_band(kw, win, wb, sw, dw), w.dtype)
    rhs = jnp.einsum("ocij,juv->icuov", w, band).reshape(kh * c * win, o * wb)
    y = jnp.matmul(lhs, rhs).reshape(b, ho, nb, o, wb)
    y = jnp.transpose(y, (0, 3, 1, 2, 4)).reshape(b, o, ho, nb * wb)
    return y[..., :wo] if nb * wb != wo else y
