"""Spatial normalisation: torch7's SpatialCrossMapLRN (PyTorch's LocalResponseNorm), the local
contrast normalisations SpatialSubtractiveNormalization, SpatialDivisiveNormalization and
SpatialContrastiveNormalization, and SpatialSoftMax / SpatialLogSoftMax (PyTorch's Softmax2d).

None of them has params. The local normalisations keep torch7's construction exactly: the
averaging kernel is normalised so that its sum over the planes is 1 (a 1-D kernel is applied
separably, once along W per plane and once along H summed over the planes), the input is zero
padded by half the kernel, and the border effect of that padding is undone by dividing by the
same filter applied to an image of ones (torch7's ``coef``).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from fnn.core import Module, expect_array, format_shape, leaf
from fnn.core._args import check_number, ints
from fnn.errors import ConfigError, ShapeError
from fnn.layers import _windows as win
from fnn.layers._activations import softmax_dim

# --------------------------------------------------------------------------- cross-map LRN


def _lrn(x: Any, axis: int, size: int, alpha: float, beta: float, k: float) -> Any:
    """``x / (k + alpha/size · Σ_{c-size//2 <= j <= c+(size-1)//2} x_j²)^beta`` along ``axis``."""
    sq = lax.integer_pow(x, 2)
    pads = [(0, 0)] * x.ndim
    pads[axis] = (size // 2, (size - 1) // 2)
    window = [1] * x.ndim
    window[axis] = size
    s = lax.reduce_window(jnp.pad(sq, pads), 0.0, lax.add, window, (1,) * x.ndim, "VALID")
    return x * (s * (alpha / size) + k) ** -beta


def _lrn_args(layer: str, size: int, alpha: float, beta: float, k: float) -> None:
    ints(layer, 1, size=size)
    for name, v in (("alpha", alpha), ("beta", beta), ("k", k)):
        check_number(layer, name, v)


def SpatialCrossMapLRN(size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Module:
    """Local response normalisation across channels (AlexNet).

    Args:
      size: the number of channels in a window (odd in torch7; an even size follows PyTorch:
        ``size//2`` channels before and ``(size-1)//2`` after).
      alpha, beta, k: ``y_c = x_c / (k + alpha/size · Σ_{window} x_j²)^beta``.

    Shape contract: ``(C, H, W)`` or ``(B, C, H, W)``, output as input; the window runs over C and
    stops at the first and last channel (zero padding).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialCrossMapLRN(3, 1.0, 1.0, 1.0).apply((), jnp.ones((2, 1, 1)))
    Array([[[0.6]],
    <BLANKLINE>
           [[0.6]]], dtype=float32)
    """
    layer = "nn.SpatialCrossMapLRN"
    _lrn_args(layer, size, alpha, beta, k)
    check = win.check_layout(("C", "H", "W"), channel_axis=None, channels=None, spatial_axes=())
    return leaf(f"{layer}({size}, {alpha:g}, {beta:g}, {k:g})",
                lambda p, x, *, rng, train: _lrn(x, -3, size, alpha, beta, k), kind="SpatialCrossMapLRN",
                check=check, config={"size": size, "alpha": alpha, "beta": beta, "k": k})


def LocalResponseNorm(size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Module:
    """PyTorch ``nn.LocalResponseNorm``: :func:`SpatialCrossMapLRN` over dim 1 of ``(N, C, *)`` (rank >= 3;
    a 3-D input is ``(N, C, L)``, not one image).

    >>> import jax, fnn
    >>> fnn.LocalResponseNorm(2).init(jax.random.key(0), (-1, 4, 5))[0]
    (-1, 4, 5)
    """
    layer = "nn.LocalResponseNorm"
    _lrn_args(layer, size, alpha, beta, k)

    def check(shape: Any, dtype: Any) -> None:
        expect_array(shape)
        if len(shape) < 3:
            raise ShapeError(f"expects input (N, C, *) of rank >= 3, got {format_shape(shape)}")

    return leaf(f"{layer}({size}, alpha={alpha}, beta={beta}, k={k})",
                lambda p, x, *, rng, train: _lrn(x, 1, size, alpha, beta, k), kind="LocalResponseNorm",
                check=check, config={"size": size, "alpha": alpha, "beta": beta, "k": k})


# --------------------------------------------------------------------------- soft-max over planes


def _softmax(kind: str, fn: Any, *, torch_rule: bool) -> Module:
    def check(shape: Any, dtype: Any) -> None:
        expect_array(shape)
        if torch_rule and len(shape) not in (3, 4):
            raise ShapeError(f"expects input (C, H, W) or (B, C, H, W), got {format_shape(shape)}")
        softmax_dim(len(shape), None)

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        return fn(x, axis=-3 if torch_rule else softmax_dim(x.ndim, None))

    return leaf(f"nn.{kind}" + ("()" if torch_rule else ""), forward, kind=kind, check=check)


def SpatialSoftMax() -> Module:
    """Soft-max over the planes at every pixel: torch7's SoftMax kernel, whose dim follows the rank
    (1-D: 0, 2-D: 1, 3-D ``(C, H, W)``: 0, 4-D ``(B, C, H, W)``: 1; other ranks are an error).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialSoftMax().apply((), jnp.zeros((2, 1, 1)))
    Array([[[0.5]],
    <BLANKLINE>
           [[0.5]]], dtype=float32)
    """
    return _softmax("SpatialSoftMax", jax.nn.softmax, torch_rule=False)


def SpatialLogSoftMax() -> Module:
    """Log-soft-max over the planes at every pixel (the dim follows the rank, as :func:`SpatialSoftMax`).

    >>> import jax, fnn
    >>> fnn.SpatialLogSoftMax().init(jax.random.key(0), (-1, 3, 4, 4))[0]
    (-1, 3, 4, 4)
    """
    return _softmax("SpatialLogSoftMax", jax.nn.log_softmax, torch_rule=False)


def Softmax2d() -> Module:
    """PyTorch ``nn.Softmax2d``: soft-max over dim -3 of ``(C, H, W)`` or ``(B, C, H, W)``.

    >>> import jax, fnn
    >>> fnn.Softmax2d().init(jax.random.key(0), (-1, 3, 4, 4))[0]
    (-1, 3, 4, 4)
    """
    return _softmax("Softmax2d", jax.nn.softmax, torch_rule=True)


# --------------------------------------------------------------------------- local contrast normalisation


def _kernel(layer: str, n_in: int, kernel: Any, sqrt_planes: bool) -> tuple[np.ndarray, tuple[int, int]]:
    """The 2-D filter torch7's estimator applies (per plane), and the padding ``(padH, padW)``.

    torch7 divides the kernel by ``sum · n_in`` (a 1-D kernel in the divisive normalisation: by
    ``sum · √n_in``) and applies a 1-D one twice, so its 2-D filter is the outer product.
    """
    ints(layer, 1, n_in=n_in)
    k = np.ones((9, 9)) if kernel is None else np.asarray(kernel, dtype=np.float64)
    if k.ndim not in (1, 2) or k.size == 0:
        raise ConfigError(f"{layer}: the averaging kernel must be 1-D or 2-D, got shape {k.shape}")
    if any(s % 2 == 0 for s in k.shape):
        raise ConfigError(f"{layer}: the averaging kernel must have odd sizes, got shape {k.shape}")
    if not np.all(np.isfinite(k)) or k.sum() == 0:
        raise ConfigError(f"{layer}: the averaging kernel must be finite with a non-zero sum")
    if k.ndim == 1:
        k = k / (k.sum() * (math.sqrt(n_in) if sqrt_planes else n_in))
        return np.outer(k, k), (k.size // 2, k.size // 2)
    return k / (k.sum() * n_in), (k.shape[0] // 2, k.shape[1] // 2)


def _estimate(x: Any, k2: np.ndarray, pad: tuple[int, int]) -> Any:
    """Σ over planes of the zero-padded filter ``k2``, replicated over the planes: ``(B, C, H, W)``."""
    c = x.shape[1]
    w = jnp.asarray(np.broadcast_to(k2, (1, c) + k2.shape), dtype=x.dtype)
    s = lax.conv_general_dilated(x, w, (1, 1), ((pad[0], pad[0]), (pad[1], pad[1])),
                                 dimension_numbers=("NCHW", "OIHW", "NCHW"), precision=lax.Precision.HIGHEST)
    return jnp.broadcast_to(s, x.shape)


def _coef(x: Any, k2: np.ndarray, pad: tuple[int, int]) -> Any:
    """The estimator applied to ones (torch7's ``coef``): a numpy constant of the shape, no gradient."""
    c, h, w = x.shape[1:]
    ones = np.pad(np.ones((h, w)), ((pad[0], pad[0]), (pad[1], pad[1])))
    s = c * np.einsum("hwij,ij->hw", np.lib.stride_tricks.sliding_window_view(ones, k2.shape), k2)
    return jnp.asarray(np.broadcast_to(s, (1, c, h, w)), dtype=x.dtype)


def _subtractive(x: Any, k2: np.ndarray, pad: tuple[int, int]) -> Any:
    return x - _estimate(x, k2, pad) / _coef(x, k2, pad)


def _divisive(x: Any, k2: np.ndarray, pad: tuple[int, int], threshold: float, thresval: float) -> Any:
    std = jnp.sqrt(_estimate(lax.integer_pow(x, 2), k2, pad)) / _coef(x, k2, pad)
    return x / jnp.where(std > threshold, std, jnp.asarray(thresval, x.dtype))


def _lcn_layer(layer: str, kind: str, n_in: int, kernel: Any, cfg: dict, fn: Any) -> Module:
    check = win.check_layout((str(n_in), "H", "W"), channel_axis=-3, channels=n_in, spatial_axes=())

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        xb, single = win.batch_first(x, 3)
        y = fn(xb)
        return y[0] if single else y

    shown = "9x9 ones" if kernel is None else "x".join(map(str, np.shape(kernel)))
    return leaf(f"{layer}({n_in}, kernel {shown})", forward, kind=kind, check=check, config=cfg)


def _thresholds(layer: str, threshold: float, thresval: float | None) -> tuple[float, float]:
    check_number(layer, "threshold", threshold)
    thresval = threshold if thresval is None else thresval
    check_number(layer, "thresval", thresval)
    return float(threshold), float(thresval)


def SpatialSubtractiveNormalization(n_in: int = 1, kernel: Any = None) -> Module:
    """Subtracts a local weighted mean taken over a neighbourhood and across all planes.

    Args:
      n_in: the number of input planes.
      kernel: the averaging kernel, 2-D ``(kH, kW)`` or 1-D (applied separably along W and H), odd
        sizes; default a 9x9 block of ones. It is normalised so that its sum over the planes is 1.

    Shape contract: ``(n_in, H, W)`` or ``(B, n_in, H, W)``, output as input;
    ``y = x - mean / coef``, ``mean`` being the zero-padded filter summed over the planes (the
    same for every plane) and ``coef`` the same filter applied to ones (it corrects the borders).

    >>> import jax.numpy as jnp, fnn
    >>> y = fnn.SpatialSubtractiveNormalization(1, jnp.ones(3)).apply((), jnp.full((1, 4, 4), 2.0))
    >>> float(abs(y).max())
    0.0
    """
    layer = "nn.SpatialSubtractiveNormalization"
    k2, pad = _kernel(layer, n_in, kernel, sqrt_planes=False)
    cfg = {"n_in": n_in, "kernel": None if kernel is None else np.asarray(kernel).tolist()}
    return _lcn_layer(layer, "SpatialSubtractiveNormalization", n_in, kernel, cfg,
                      lambda x: _subtractive(x, k2, pad))


def SpatialDivisiveNormalization(n_in: int = 1, kernel: Any = None, threshold: float = 1e-4,
                                 thresval: float | None = None) -> Module:
    """Divides by the local weighted standard deviation taken over a neighbourhood and across all planes.

    Args:
      n_in, kernel: as :func:`SpatialSubtractiveNormalization` (a 1-D kernel is normalised by
        ``sum·√n_in``, as torch7 does, since it is applied twice).
      threshold: a local deviation not above it is replaced by ``thresval`` (torch7's ``nn.Threshold``).
      thresval: defaults to ``threshold``.

    Shape contract: ``(n_in, H, W)`` or ``(B, n_in, H, W)``, output as input;
    ``std = sqrt(filter(x²)) / coef``, ``y = x / (std if std > threshold else thresval)``. The input
    is not centred first (:func:`SpatialContrastiveNormalization` does both).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SpatialDivisiveNormalization(1, jnp.ones((1, 1))).apply((), jnp.full((1, 1, 2), 2.0))
    Array([[[1., 1.]]], dtype=float32)
    """
    layer = "nn.SpatialDivisiveNormalization"
    k2, pad = _kernel(layer, n_in, kernel, sqrt_planes=True)
    threshold, thresval = _thresholds(layer, threshold, thresval)
    cfg = {"n_in": n_in, "kernel": None if kernel is None else np.asarray(kernel).tolist(), "threshold": threshold,
           "thresval": thresval}
    return _lcn_layer(layer, "SpatialDivisiveNormalization", n_in, kernel, cfg,
                      lambda x: _divisive(x, k2, pad, threshold, thresval))


def SpatialContrastiveNormalization(n_in: int = 1, kernel: Any = None, threshold: float = 1e-4,
                                    thresval: float | None = None) -> Module:
    """Local contrast normalisation: :func:`SpatialSubtractiveNormalization` then
    :func:`SpatialDivisiveNormalization` with the same kernel.

    Args:
      n_in, kernel, threshold, thresval: as :func:`SpatialDivisiveNormalization`.

    Shape contract: ``(n_in, H, W)`` or ``(B, n_in, H, W)``, output as input.

    >>> import jax, fnn
    >>> fnn.SpatialContrastiveNormalization(3).init(jax.random.key(0), (-1, 3, 12, 12))[0]
    (-1, 3, 12, 12)
    """
    layer = "nn.SpatialContrastiveNormalization"
    k_sub, pad = _kernel(layer, n_in, kernel, sqrt_planes=False)
    k_div, _ = _kernel(layer, n_in, kernel, sqrt_planes=True)
    threshold, thresval = _thresholds(layer, threshold, thresval)
    cfg = {"n_in": n_in, "kernel": None if kernel is None else np.asarray(kernel).tolist(), "threshold": threshold,
           "thresval": thresval}
    return _lcn_layer(layer, "SpatialContrastiveNormalization", n_in, kernel, cfg,
                      lambda x: _divisive(_subtractive(x, k_sub, pad), k_div, pad, threshold, thresval))
