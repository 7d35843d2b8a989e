"""Multi-class and multi-label margin criteria: MultiMargin, MultiLabelMargin and
MultiLabelSoftMargin (torch7's criteria), with their PyTorch names.

Inputs are scores ``(C)`` for one sample or ``(B, C)`` for a batch. Class indices are 0-based.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import format_shape
from fnn.core._args import check_number
from fnn.criteria._base import BCE_EPS, Criterion, check_reduction, make, reduce, resolve_reduction
from fnn.criteria._checks import (
    as_weights,
    broadcast_target,
    broadcast_weights,
    check_class_range,
    class_target,
    class_weights,
    float_input,
    is_concrete,
    label_target,
    same_numel_target,
)
from fnn.errors import ConfigError, ShapeError

Array = jax.Array


def _scores(x: Any) -> Array:
    x = float_input(x)
    if x.ndim not in (1, 2):
        raise ShapeError(f"expects input (C) or (B, C), got {x.ndim}-D {format_shape(x.shape)}")
    return x


# --------------------------------------------------------------------------- MultiMargin


def _multi_margin(kind: str, p: int, weights: Any, margin: float, reduction: str, weight_name: str) -> Criterion:
    name = f"nn.{kind}"
    if p not in (1, 2) or isinstance(p, bool):
        raise ConfigError(f"{name}: only p = 1 or p = 2 is supported, got {p!r}")
    margin = check_number(name, "margin", margin)
    w = as_weights(name, weights, weight_name)

    def build(r: str) -> tuple[Callable, Callable]:
        def prepare(x, t):
            x = _scores(x)
            n = x.shape[-1]
            t = class_target(t)
            if x.ndim == 1 and t.shape == (1,):
                t = jnp.reshape(t, ())
            if t.shape != x.shape[:-1]:
                raise ShapeError(f"expects target {format_shape(x.shape[:-1])} of class indices for input "
                                 f"{format_shape(x.shape)}, got {format_shape(t.shape)}")
            check_class_range(t, n)
            return x, (t.astype(jnp.int32), class_weights(w, n, x, weight_name))

        def loss(x, tw):
            t, wc = tw
            n = x.shape[-1]
            in_range = (t >= 0) & (t < n)
            safe = jnp.where(in_range, t, 0)
            xt = jnp.take_along_axis(x, safe[..., None], axis=-1)
            h = jax.nn.relu(margin - xt + x)
            if p == 2:
                h = h * h
            if wc is not None:
                h = h * wc[safe][..., None]
            h = jnp.where(jax.nn.one_hot(safe, n, dtype=jnp.bool_), 0, h)
            per = jnp.where(in_range, jnp.sum(h, axis=-1) / n, jnp.nan)
            return reduce(per, r)

        return prepare, loss

    return make(kind, build, reduction, {"p": p, weight_name: w, "margin": margin})


def MultiMarginCriterion(p: int = 1, weights: Any = None, margin: float = 1.0, size_average: bool | None = None, *,
                         reduction: str | None = None) -> Criterion:
    """Multi-class hinge loss: per sample ``Σ_{i≠t} w[t] max(0, margin - x[t] + x[i])^p / C``.

    Args:
      p: 1 or 2 (torch7 allows no other).
      weights: optional per-class weights ``(C,)``; torch7 multiplies **after** the power.
      margin: the margin (default 1).
      size_average: torch7's flag (default True): the per-sample losses (always ÷ C) are
        then divided by the batch size.
      reduction: ``'mean' | 'sum' | 'none'`` (``'none'``: per sample, ÷ C).

    Shape contract: input ``(C)`` with an int target, or ``(B, C)`` with a ``(B,)`` int
    target; 0-based class indices.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MultiMarginCriterion()(jnp.array([0.1, 0.2, 0.4, 0.8]), 3)
    Array(0.325, dtype=float32)
    """
    r = resolve_reduction("nn.MultiMarginCriterion", size_average, reduction)
    return _multi_margin("MultiMarginCriterion", p, weights, margin, r, "weights")


def MultiMarginLoss(p: int = 1, margin: float = 1.0, weight: Any = None, *, reduction: str = "mean") -> Criterion:
    """PyTorch's ``nn.MultiMarginLoss(p, margin, weight)``; the same numbers as
    :func:`MultiMarginCriterion` (note PyTorch's argument order).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MultiMarginLoss(p=2)(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3]))
    Array(0.1525, dtype=float32)
    """
    r = check_reduction("nn.MultiMarginLoss", reduction)
    return _multi_margin("MultiMarginLoss", p, weight, margin, r, "weight")


# --------------------------------------------------------------------------- MultiLabelMargin


def _multi_label_margin(kind: str, reduction: str) -> Criterion:
    def build(r: str) -> tuple[Callable, Callable]:
        def prepare(x, t):
            x = _scores(x)
            t = class_target(t)
            if t.shape != x.shape:
                raise ShapeError(f"expects a target of the input's shape {format_shape(x.shape)} (class indices "
                                 f"ended by -1), got {format_shape(t.shape)}")
            if is_concrete(t):
                v = np.asarray(t)
                check_class_range(v, x.shape[-1], mask=np.cumsum(v < 0, axis=-1) == 0)
            return x, t.astype(jnp.int32)

        def loss(x, t):
            n = x.shape[-1]
            valid = jnp.cumsum(t < 0, axis=-1) == 0  # the entries before the first negative one
            in_range = t < n
            safe = jnp.where(valid & in_range, t, 0)
            hot = jax.nn.one_hot(safe, n, dtype=jnp.bool_) & valid[..., None]  # (..., J, C)
            is_target = jnp.any(hot, axis=-2)  # (..., C)
            xj = jnp.take_along_axis(x, safe, axis=-1)  # (..., J)
            h = jax.nn.relu(1 - xj[..., :, None] + x[..., None, :])  # (..., J, C)
            h = jnp.where(valid[..., :, None] & ~is_target[..., None, :], h, 0)
            per = jnp.sum(h, axis=(-2, -1)) / n
            per = jnp.where(jnp.any(valid & ~in_range, axis=-1), jnp.nan, per)
            return reduce(per, r)

        return prepare, loss

    return make(kind, build, reduction, {})


def MultiLabelMarginCriterion(size_average: bool | None = None, *, reduction: str | None = None) -> Criterion:
    """Multi-label hinge loss: per sample ``Σ_{j ∈ targets} Σ_{i ∉ targets} max(0, 1 - (x[j] - x[i])) / C``.

    Args:
      size_average: torch7's flag (default True): the per-sample losses (always ÷ C) are
        then divided by the batch size.
      reduction: ``'mean' | 'sum' | 'none'`` (``'none'``: per sample, ÷ C).

    Shape contract: input ``(C)`` or ``(B, C)``; an int target of the **same shape** holding
    0-based class indices, ended by the first negative entry (``-1``, as PyTorch; torch7's
    1-based targets ended at 0). Entries after it are ignored.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MultiLabelMarginCriterion()(jnp.array([0.1, 0.2, 0.4, 0.8]), jnp.array([3, 0, -1, 1]))
    Array(0.85, dtype=float32)
    """
    r = resolve_reduction("nn.MultiLabelMarginCriterion", size_average, reduction)
    return _multi_label_margin("MultiLabelMarginCriterion", r)


def MultiLabelMarginLoss(*, reduction: str = "mean") -> Criterion:
    """PyTorch's ``nn.MultiLabelMarginLoss``; see :func:`MultiLabelMarginCriterion`.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MultiLabelMarginLoss()(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([[3, 0, -1, 1]]))
    Array(0.85, dtype=float32)
    """
    return _multi_label_margin("MultiLabelMarginLoss", check_reduction("nn.MultiLabelMarginLoss", reduction))


# --------------------------------------------------------------------------- MultiLabelSoftMargin


def MultiLabelSoftMarginCriterion(weights: Any = None, size_average: bool | None = None, *,
                                  reduction: str | None = None) -> Criterion:
    """Sigmoid + :func:`~fnn.BCECriterion` (torch7's implementation, ε = 1e-12 in the logs).

    Args:
      weights: optional per-class weights broadcasting over the last dim.
      size_average: torch7's flag (default True): divide by numel.
      reduction: ``'mean' | 'sum' | 'none'``. As torch7 (BCE underneath), ``'sum'`` adds
        every element and ``'none'`` gives per-element losses; PyTorch's
        ``MultiLabelSoftMarginLoss`` divides each sample by C first for both.

    Shape contract: input scores ``(C)`` or ``(B, C)`` (any shape works element-wise);
    a target of 0/1 labels (ints or floats) with the same number of elements.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MultiLabelSoftMarginCriterion()(jnp.array([0.0, 0.0]), jnp.array([1, 0]))
    Array(0.6931472, dtype=float32)
    """
    r = resolve_reduction("nn.MultiLabelSoftMarginCriterion", size_average, reduction)
    w = as_weights("nn.MultiLabelSoftMarginCriterion", weights)

    def build(r: str) -> tuple[Callable, Callable]:
        def prepare(x, t):
            x = float_input(x)
            t = same_numel_target(label_target(t, x, labels="0 or 1"), x)
            return x, (t, broadcast_weights(w, x))

        def loss(x, tw):
            t, wb = tw
            s = jax.nn.sigmoid(x)
            losses = -(t * jnp.log(s + BCE_EPS) + (1 - t) * jnp.log(1 - s + BCE_EPS))
            return reduce(losses if wb is None else losses * wb, r)

        return prepare, loss

    return make("MultiLabelSoftMarginCriterion", build, r, {"weights": w})


def MultiLabelSoftMarginLoss(weight: Any = None, *, reduction: str = "mean") -> Criterion:
    """PyTorch's ``nn.MultiLabelSoftMarginLoss``: per sample
    ``-Σ_c w[c] (t log σ(x) + (1 - t) log σ(-x)) / C`` (log-sigmoid, no ε).

    Shape contract: input ``(C)`` or ``(B, C)``; a 0/1 target broadcasting to the input.
    ``'none'`` gives the per-sample losses ``(B,)`` (or ``()``), ``'mean'`` their mean.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MultiLabelSoftMarginLoss()(jnp.array([[0.0, 0.0]]), jnp.array([[1.0, 0.0]]))
    Array(0.6931472, dtype=float32)
    """
    r = check_reduction("nn.MultiLabelSoftMarginLoss", reduction)
    w = as_weights("nn.MultiLabelSoftMarginLoss", weight, "weight")

    def build(r: str) -> tuple[Callable, Callable]:
        def prepare(x, t):
            x = _scores(x)
            t = broadcast_target(label_target(t, x, labels="0 or 1"), x)
            return x, (t, broadcast_weights(w, x, "weight"))

        def loss(x, tw):
            t, wb = tw
            losses = -(t * jax.nn.log_sigmoid(x) + (1 - t) * jax.nn.log_sigmoid(-x))
            if wb is not None:
                losses = losses * wb
            return reduce(jnp.sum(losses, axis=-1) / x.shape[-1], r)

        return prepare, loss

    return make("MultiLabelSoftMarginLoss", build, r, {"weight": w})
