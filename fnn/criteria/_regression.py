"""Element-wise criteria: torch7's MSE, Abs, SmoothL1, BCE, DistKLDiv, SoftMargin and Margin
criteria and their PyTorch names, plus ``BCEWithLogitsLoss`` and ``HuberLoss``.

All of them take an input of any shape and a target with the same number of elements
(torch7's names) or a target that broadcasts to the input's shape (PyTorch's names).
``reduction='mean'`` divides by numel, as torch7's ``sizeAverage`` did; ``'none'`` returns
the per-element losses in the input's shape.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

from fnn.core._args import boolean, check_number
from fnn.criteria._base import BCE_EPS, Criterion, abs0, check_reduction, make, reduce, resolve_reduction
from fnn.criteria._checks import (
    as_weights,
    broadcast_target,
    broadcast_weights,
    float_input,
    float_target,
    label_target,
    same_numel_target,
)

Array = jax.Array


def _pointwise(kind: str, fn: Callable[[Array, Array, Any], Array], reduction: str, config: dict, *,
               torch7: bool, target: str = "float", weights: Array | None = None,
               extra: Array | None = None, batchmean: bool = False) -> Criterion:
    """A criterion ``reduce(fn(x, t, (w, extra)))`` over elements; ``weights``/``extra`` broadcast to x."""
    as_target = float_target if target == "float" else label_target
    fit = same_numel_target if torch7 else broadcast_target

    def build(r: str):
        def prepare(x, t):
            x = float_input(x)
            if isinstance(t, numbers.Real) and not isinstance(t, bool):  # one number for every element
                t = jnp.full(x.shape, t, x.dtype)
            t = fit(as_target(t, x), x)
            w = broadcast_weights(weights, x)
            e = broadcast_weights(extra, x, "pos_weight")
            return x, (t, w, e)

        def loss(x, te):
            t, w, e = te
            losses = fn(x, t, e)
            if w is not None:
                losses = losses * w
            if r == "batchmean":
                return jnp.sum(losses) / (x.shape[0] if x.ndim else 1)
            return reduce(losses, r)

        return prepare, loss

    return make(kind, build, reduction, config)


# --------------------------------------------------------------------------- MSE, Abs, SmoothL1


def MSECriterion(size_average: bool | None = None, *, reduction: str | None = None) -> Criterion:
    """Mean squared error, ``Σ (x - t)² / numel``.

    Args:
      size_average: torch7's flag (default True): divide by numel; False sums.
      reduction: PyTorch's ``'mean' | 'sum' | 'none'`` (per-element); overrides the default.

    Shape contract: input any shape (float); target float with the **same number of
    elements** (torch7 reads it in storage order, so a ``(B, 1)`` input and a ``(B,)`` target
    pair up element-wise). Gradient ``2 (x - t) / numel``.

    >>> import jax.numpy as jnp, fnn
    >>> crit = fnn.MSECriterion()
    >>> crit(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]))
    Array(2.5, dtype=float32)
    >>> crit.backward(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]))
    Array([1., 2.], dtype=float32)
    """
    r = resolve_reduction("nn.MSECriterion", size_average, reduction)
    return _pointwise("MSECriterion", lambda x, t, _: jnp.square(x - t), r, {}, torch7=True)


def MSELoss(*, reduction: str = "mean") -> Criterion:
    """PyTorch's ``nn.MSELoss``: :func:`MSECriterion` with a target of the input's shape.

    Deviation from PyTorch: a target that would *grow* the input by broadcasting (PyTorch
    warns and broadcasts a ``(B,)`` target against a ``(B, 1)`` input to ``(B, B)``) is a
    :class:`ShapeError`; targets that broadcast to the input's own shape are accepted.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MSELoss(reduction='sum')(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]))
    Array(5., dtype=float32)
    """
    r = check_reduction("nn.MSELoss", reduction)
    return _pointwise("MSELoss", lambda x, t, _: jnp.square(x - t), r, {}, torch7=False)


def _abs_torch7(d: Array) -> Array:
    return jnp.where(d >= 0, d, -d)  # gradient +1 at d == 0, as torch7's AbsCriterion


def AbsCriterion(size_average: bool | None = None, *, reduction: str | None = None) -> Criterion:
    """Mean absolute error, ``Σ |x - t| / numel``.

    As in torch7 the gradient at ``x == t`` is ``+1/numel`` (PyTorch's ``L1Loss``: 0).
    Shapes as :func:`MSECriterion`.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.AbsCriterion().backward(jnp.array([1.0, 0.0]), jnp.array([2.0, 0.0]))
    Array([-0.5,  0.5], dtype=float32)
    """
    r = resolve_reduction("nn.AbsCriterion", size_average, reduction)
    return _pointwise("AbsCriterion", lambda x, t, _: _abs_torch7(x - t), r, {}, torch7=True)


def L1Loss(*, reduction: str = "mean") -> Criterion:
    """PyTorch's ``nn.L1Loss`` (gradient 0 at ``x == t``); shapes as :func:`MSELoss`.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.L1Loss()(jnp.array([1.0, 0.0]), jnp.array([2.0, 0.0]))
    Array(0.5, dtype=float32)
    """
    r = check_reduction("nn.L1Loss", reduction)
    return _pointwise("L1Loss", lambda x, t, _: abs0(x - t), r, {}, torch7=False)


def _smooth_l1(beta: float) -> Callable[[Array, Array, Any], Array]:
    def fn(x, t, _):
        d = x - t
        ad = abs0(d)
        if beta == 0:
            return ad
        return jnp.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta)

    return fn


def SmoothL1Criterion(size_average: bool | None = None, *, beta: float = 1.0,
                      reduction: str | None = None) -> Criterion:
    """Huber-like loss: ``0.5 d² / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``, ÷ numel.

    Args:
      size_average: torch7's flag (default True).
      beta: the threshold (torch7 fixed it at 1; ``beta=0`` is the L1 loss, as PyTorch).
      reduction: ``'mean' | 'sum' | 'none'``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SmoothL1Criterion()(jnp.array([0.5, 3.0]), jnp.array([0.0, 0.0]))
    Array(1.3125, dtype=float32)
    """
    r = resolve_reduction("nn.SmoothL1Criterion", size_average, reduction)
    beta = check_number("nn.SmoothL1Criterion", "beta", beta, low=0)
    return _pointwise("SmoothL1Criterion", _smooth_l1(beta), r, {"beta": beta}, torch7=True)


def SmoothL1Loss(*, reduction: str = "mean", beta: float = 1.0) -> Criterion:
    """PyTorch's ``nn.SmoothL1Loss(reduction, beta)``; see :func:`SmoothL1Criterion`.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SmoothL1Loss(beta=2.0)(jnp.array([1.0]), jnp.array([0.0]))
    Array(0.25, dtype=float32)
    """
    r = check_reduction("nn.SmoothL1Loss", reduction)
    beta = check_number("nn.SmoothL1Loss", "beta", beta, low=0)
    return _pointwise("SmoothL1Loss", _smooth_l1(beta), r, {"beta": beta}, torch7=False)


def HuberLoss(*, reduction: str = "mean", delta: float = 1.0) -> Criterion:
    """PyTorch's ``nn.HuberLoss``: ``0.5 d²`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)``.

    It equals ``delta * SmoothL1Loss(beta=delta)``. ``delta`` must be positive.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.HuberLoss(delta=2.0)(jnp.array([3.0]), jnp.array([0.0]))
    Array(4., dtype=float32)
    """
    r = check_reduction("nn.HuberLoss", reduction)
    delta = check_number("nn.HuberLoss", "delta", delta, low=0, strict=True)

    def fn(x, t, _):
        d = x - t
        ad = abs0(d)
        return jnp.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))

    return _pointwise("HuberLoss", fn, r, {"delta": delta}, torch7=False)


# --------------------------------------------------------------------------- binary cross-entropy


def _bce_torch7(x: Array, t: Array, _: Any) -> Array:
    return -(t * jnp.log(x + BCE_EPS) + (1 - t) * jnp.log(1 - x + BCE_EPS))


def _clamped_log(v: Array) -> Array:
    positive = v > 0
    return jnp.where(positive, jnp.maximum(jnp.log(jnp.where(positive, v, 1)), -100.0), -100.0)


def _bce_torch(x: Array, t: Array, _: Any) -> Array:
    return -(t * _clamped_log(x) + (1 - t) * _clamped_log(1 - x))


def BCECriterion(weights: Any = None, size_average: bool | None = None, *, reduction: str | None = None) -> Criterion:
    """Binary cross-entropy on probabilities, torch7's form:
    ``-Σ w [t log(x + ε) + (1 - t) log(1 - x + ε)] / numel`` with ``ε = 1e-12``.

    Args:
      weights: optional per-element weights that broadcast against the input's trailing
        dims (torch7: 1-D over the last dim, repeated over the batch).
      size_average: torch7's flag (default True): divide by numel.
      reduction: ``'mean' | 'sum' | 'none'`` (per element).

    Shape contract: input probabilities in [0, 1], any shape; float target with the same
    number of elements. torch7 adds ε inside the logs and does not clamp (PyTorch's
    ``BCELoss`` clamps the logs at -100 instead); the gradient is
    ``w (x - t) / ((1 - x + ε)(x + ε)) / numel``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.BCECriterion()(jnp.array([0.5, 0.5]), jnp.array([1.0, 0.0]))
    Array(0.6931472, dtype=float32)
    """
    r = resolve_reduction("nn.BCECriterion", size_average, reduction)
    w = as_weights("nn.BCECriterion", weights)
    return _pointwise("BCECriterion", _bce_torch7, r, {"weights": w}, torch7=True, weights=w)


def BCELoss(weight: Any = None, *, reduction: str = "mean") -> Criterion:
    """PyTorch's ``nn.BCELoss``: logs clamped at -100, no ε; ``weight`` broadcasts to the input.

    At an input of exactly 0 or 1 the clamped term has gradient 0 (PyTorch: ±1e12).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.BCELoss()(jnp.array([0.0]), jnp.array([1.0]))
    Array(100., dtype=float32)
    """
    r = check_reduction("nn.BCELoss", reduction)
    w = as_weights("nn.BCELoss", weight, "weight")
    return _pointwise("BCELoss", _bce_torch, r, {"weight": w}, torch7=False, weights=w)


def BCEWithLogitsLoss(weight: Any = None, *, reduction: str = "mean", pos_weight: Any = None) -> Criterion:
    """PyTorch's ``nn.BCEWithLogitsLoss``: sigmoid + BCE in one stable formula,
    ``w [(1 - t) x + (1 + (p - 1) t) softplus(-x)]``.

    Args:
      weight: optional weights broadcasting to the input.
      reduction: ``'mean' | 'sum' | 'none'``.
      pos_weight: optional weight of the positive term, broadcasting over the last dim
        (one per class).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.BCEWithLogitsLoss()(jnp.array([0.0]), jnp.array([1.0]))
    Array(0.6931472, dtype=float32)
    """
    r = check_reduction("nn.BCEWithLogitsLoss", reduction)
    w = as_weights("nn.BCEWithLogitsLoss", weight, "weight")
    pw = as_weights("nn.BCEWithLogitsLoss", pos_weight, "pos_weight")

    def fn(x, t, p):
        scale = 1 if p is None else 1 + (p - 1) * t
        return (1 - t) * x + scale * jax.nn.softplus(-x)

    return _pointwise("BCEWithLogitsLoss", fn, r, {"weight": w, "pos_weight": pw}, torch7=False, weights=w,
                      extra=pw)


# --------------------------------------------------------------------------- KL divergence


def DistKLDivCriterion(size_average: bool | None = None, *, reduction: str | None = None) -> Criterion:
    """KL divergence ``Σ t (log t - x)`` over the terms with ``t > 0``, ÷ **numel**.

    The input holds log-probabilities, the target probabilities of the same number of
    elements. torch7 divides by numel, not the batch size (PyTorch's ``'batchmean'``).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.DistKLDivCriterion()(jnp.log(jnp.array([0.5, 0.5])), jnp.array([1.0, 0.0]))
    Array(0.34657359, dtype=float32)
    """
    r = resolve_reduction("nn.DistKLDivCriterion", size_average, reduction)

    def fn(x, t, _):
        pos = t > 0
        return jnp.where(pos, t * (jnp.log(jnp.where(pos, t, 1)) - x), 0)

    return _pointwise("DistKLDivCriterion", fn, r, {}, torch7=True)


def KLDivLoss(*, reduction: str = "mean", log_target: bool = False) -> Criterion:
    """PyTorch's ``nn.KLDivLoss``: ``xlogy(t, t) - t x`` (or ``exp(t) (t - x)`` with ``log_target``).

    Args:
      reduction: ``'mean'`` (÷ numel, as torch7), ``'batchmean'`` (÷ batch size, the true KL
        divergence), ``'sum'`` or ``'none'``.
      log_target: the target holds log-probabilities.

    >>> import jax.numpy as jnp, fnn
    >>> x = jnp.log(jnp.array([[0.5, 0.5]]))
    >>> fnn.KLDivLoss(reduction='batchmean')(x, jnp.array([[1.0, 0.0]]))
    Array(0.6931472, dtype=float32)
    """
    r = check_reduction("nn.KLDivLoss", reduction, ("mean", "batchmean", "sum", "none"))
    boolean("nn.KLDivLoss", "log_target", log_target)

    def fn(x, t, _):
        return jnp.exp(t) * (t - x) if log_target else xlogy(t, t) - t * x

    return _pointwise("KLDivLoss", fn, r, {"log_target": log_target}, torch7=False)


# --------------------------------------------------------------------------- margins on ±1 labels


def SoftMarginCriterion(size_average: bool | None = None, *, reduction: str | None = None) -> Criterion:
    """Two-class logistic loss ``Σ log(1 + exp(-t x)) / numel`` with labels ``t ∈ {1, -1}``.

    The target (ints or floats) has the input's number of elements. fnn computes it as
    ``softplus(-t x)``, which does not overflow for large ``|x|`` (torch7's formula did).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SoftMarginCriterion()(jnp.array([0.0, 0.0]), jnp.array([1, -1]))
    Array(0.6931472, dtype=float32)
    """
    r = resolve_reduction("nn.SoftMarginCriterion", size_average, reduction)
    return _pointwise("SoftMarginCriterion", lambda x, t, _: jax.nn.softplus(-t * x), r, {}, torch7=True,
                      target="label")


def SoftMarginLoss(*, reduction: str = "mean") -> Criterion:
    """PyTorch's ``nn.SoftMarginLoss``; see :func:`SoftMarginCriterion`.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SoftMarginLoss(reduction='none')(jnp.array([0.0]), jnp.array([1.0]))
    Array([0.6931472], dtype=float32)
    """
    r = check_reduction("nn.SoftMarginLoss", reduction)
    return _pointwise("SoftMarginLoss", lambda x, t, _: jax.nn.softplus(-t * x), r, {}, torch7=False,
                      target="label")


def MarginCriterion(margin: float = 1.0, size_average: bool | None = None, *,
                    reduction: str | None = None) -> Criterion:
    """Binary hinge loss ``Σ max(0, margin - t x) / numel`` with labels ``t ∈ {1, -1}``.

    The gradient at the hinge (``t x == margin``) is 0, as torch7's ``z > 0`` test.
    No PyTorch equivalent (``relu(margin - t * x).mean()``).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MarginCriterion()(jnp.array([0.5, 2.0]), jnp.array([1, 1]))
    Array(0.25, dtype=float32)
    """
    r = resolve_reduction("nn.MarginCriterion", size_average, reduction)
    margin = check_number("nn.MarginCriterion", "margin", margin)
    return _pointwise("MarginCriterion", lambda x, t, _: jax.nn.relu(margin - t * x), r, {"margin": margin},
                      torch7=True, target="label")
