"""XLA's convolution with its weight gradient summed over batch chunks (see :mod:`fnn.kernels`).

On XLA:CPU the forward convolution and its input gradient run near the speed of a GEMM, but the
weight gradient -- a convolution that contracts over the batch and both spatial dims at once --
runs 2-5x slower than either at batch 128 and 16-128 channels (``bench/HISTORY.md``, "Round 2").
The same weight gradient computed as a sum over batch chunks of ``chunk`` images, one XLA
convolution each, keeps each chunk's input and output gradient in cache and runs 2-3x faster.

:func:`conv2d_chunked` is therefore XLA's forward convolution with a ``custom_jvp`` whose tangent
``conv(dx, w) + concat_i conv(x_i, dw)`` is linear in ``dw`` chunk by chunk: JAX transposes it (the
backward pass) into one XLA input gradient and the sum of the chunks' weight gradients. The rule
is a JVP, not a VJP, so forward mode, reverse mode, ``vmap`` and higher derivatives all work.

A strided convolution's tangent in ``x`` is written as stride-1 convolutions of the phases of the
stride (:func:`_conv_by_phases`), so that its transpose, the input gradient, is stride-1 too.

The convolutions are written channels-last (NHWC/HWIO) between explicit transposes of the NCHW
operands: XLA:CPU's convolutions compute in that layout anyway (YNNPACK needs the features
minor), and written out, XLA cancels these transposes against those of the layers around -- batch
norm computes channels-last too -- where it would otherwise copy the layout twice (ResNet-20's step
0.93-0.99x the time of the NCHW form, ``bench/HISTORY.md``, round 2, fifth pass).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

Array = jax.Array
Pair = tuple[int, int]

# Dispatch limits for XLA:CPU (jax 0.10; figures in bench/HISTORY.md, "Round 2"): chunks of CHUNK
# images, used when there are at least two of them and each image gives MIN_OUT_PIXELS output
# pixels or more (below that, at 256 channels x 4 x 4, one XLA weight gradient is faster).
CHUNK = 16
MIN_OUT_PIXELS = 64


def chunk_size(x_shape: Sequence[int], out_hw: Sequence[int]) -> int | None:
    """The batch chunk :func:`conv2d` uses on CPU for the weight gradient, or ``None`` for XLA's own.

    Args:
      x_shape: the input's ``(B, C, H, W)``.
      out_hw: the output's ``(H', W')``.

    >>> chunk_size((128, 16, 32, 32), (32, 32)), chunk_size((128, 256, 4, 4), (4, 4))
    (16, None)
    >>> chunk_size((16, 16, 8, 8), (8, 8)) is None  # a single chunk: XLA's own weight gradient
    True
    """
    if x_shape[0] < 2 * CHUNK or out_hw[0] * out_hw[1] < MIN_OUT_PIXELS:
        return None
    return CHUNK


def _xla(x: Array, w: Array, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair, groups: int) -> Array:
    """XLA's convolution of an NHWC ``x`` and an HWIO ``w``."""
    return lax.conv_general_dilated(x, w, stride, padding, rhs_dilation=dilation,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5, 6))
def _conv(x: Array, w: Array, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair, groups: int,
          chunk: int) -> Array:
    return _xla(x, w, stride, padding, dilation, groups)


def _conv_jvp(stride: Pair, padding: tuple[Pair, Pair], dilation: Pair, groups: int, chunk: int,
              primals: tuple, tangents: tuple) -> tuple[Array, Array]:
    (x, w), (tx, tw) = primals, tangents
    # Channels-last, the chunks are slices of the batch, the leading dim: each chunk's layout copy
    # reads its own images once, so x's producer needs no fusion barrier (the NCHW form needed
    # one: ResNet-20's step took 0.90x the time with it). Here the step takes 0.97x the time
    # without it, for 1.3 s more compilation (XLA fuses across the chunks).
    conv = functools.partial(_xla, stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = conv(x, w)
    parts = []
    if not isinstance(tx, SymbolicZero):  # a network's input needs no input gradient: skip its convolution
        strided = stride != (1, 1) and dilation == (1, 1)
        parts.append(_conv_by_phases(tx, w, stride, padding, y.shape[1:3], groups) if strided else conv(tx, w))
    if not isinstance(tw, SymbolicZero):
        b = x.shape[0]
        parts.append(jnp.concatenate([conv(x[i : i + chunk], tw) for i in range(0, b, chunk)], axis=0))
    if not parts:
        return y, jnp.zeros_like(y)
    return y, parts[0] if len(parts) == 1 else parts[0] + parts[1]


_conv.defjvp(_conv_jvp, symbolic_zeros=True)


def _conv_by_phases(x: Array, w: Array, stride: Pair, padding: tuple[Pair, Pair], out_hw: Sequence[int],
                    groups: int) -> Array:
    """A strided convolution (NHWC/HWIO) as the sum of stride-1 convolutions, one per phase of the stride.

    Output pixel ``i`` reads padded input pixel ``s·i + k`` through tap ``k = s·q + r``: phase ``r`` of
    the input (pixels ``s·m + r``) meets taps ``w[r::s]`` at stride 1. The value is the strided
    convolution's; what differs is the transpose JAX derives for the input gradient: stride-1
    convolutions of the output gradient, where the strided form transposes into a base-dilated
    convolution, which XLA:CPU runs on Eigen, not YNNPACK (16 -> 32 channels at 32², batch 128: the
    input gradient 7.1 against 13.8 ms; forward and both gradients 19.3 against 24.5 ms).
    """
    (sh, sw), ((top, _), (left, _)) = stride, padding  # the high sides only set out_hw
    b, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    ho, wo = out_hw
    mh, mw = ho + -(-kh // sh) - 1, wo + -(-kw // sw) - 1  # phase rows and columns the taps reach
    # Pad (or crop) to exactly (s·mh, s·mw): then a reshape splits every phase out.
    x = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (top, sh * mh - h - top, 0), (left, sw * mw - wd - left, 0),
                                            (0, 0, 0)))
    x = x.reshape(b, mh, sh, mw, sw, c)
    y = None
    for r in range(min(sh, kh)):
        for q in range(min(sw, kw)):
            k = w[r::sh, q::sw]
            phase = x[:, : ho + k.shape[0] - 1, r, : wo + k.shape[1] - 1, q, :]
            part = _xla(phase, k, (1, 1), ((0, 0), (0, 0)), (1, 1), groups)
            y = part if y is None else y + part
    return y


def conv2d_chunked(x: Array, w: Array, stride: Pair = (1, 1), padding: tuple[Pair, Pair] = ((0, 0), (0, 0)),
                   dilation: Pair = (1, 1), groups: int = 1, chunk: int = CHUNK) -> Array:
    """``lax.conv_general_dilated`` (NCHW/OIHW) whose weight gradient is a sum over batch chunks.

    The value, the input gradient and the forward-mode tangent in ``x`` are XLA's own; the weight
    gradient is the sum of ``ceil(B / chunk)`` XLA weight gradients, one per chunk of the batch (the
    last chunk may be smaller), equal to XLA's up to float rounding.

    Args:
      x: ``(B, C, H, W)``.
      w: ``(O, C // groups, kh, kw)``.
      stride: ``(sh, sw)``.
      padding: ``((top, bottom), (left, right))``.
      dilation: ``(dh, dw)`` kernel dilation.
      groups: ``feature_group_count``.
      chunk: images per chunk of the weight gradient (``>= 1``).

    Returns:
      ``(B, O, H', W')``, as ``lax.conv_general_dilated``.

    >>> import jax, jax.numpy as jnp
    >>> x, w = jnp.ones((5, 2, 4, 4)), jnp.ones((3, 2, 3, 3))
    >>> gw = jax.grad(lambda w: conv2d_chunked(x, w, chunk=2).sum())(w)
    >>> gw.shape, float(gw[0, 0, 0, 0])  # 5 images x 2 x 2 output pixels, in chunks of 2 + 2 + 1
    ((3, 2, 3, 3), 20.0)
    """
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d_chunked expects x (B, C, H, W) and w (O, C, kh, kw), got {x.shape} and {w.shape}")
    if chunk < 1:
        raise ValueError(f"conv2d_chunked: chunk must be >= 1, got {chunk}")
    stride, dilation = (int(stride[0]), int(stride[1])), (int(dilation[0]), int(dilation[1]))
    padding = tuple((int(lo), int(hi)) for lo, hi in padding)
    y = _conv(jnp.transpose(x, (0, 2, 3, 1)), jnp.transpose(w, (2, 3, 1, 0)), stride, padding, dilation, int(groups),
              int(chunk))
    return jnp.transpose(y, (0, 3, 1, 2))
