"""Embedding and ranking criteria on ±1 labels: HingeEmbedding, L1HingeEmbedding,
CosineEmbedding and MarginRanking (torch7's criteria), with their PyTorch names.

The pair criteria take a table input ``(x1, x2)`` (a tuple of two arrays). Labels ``y`` are
``1`` (similar / ``x1`` should rank higher) or ``-1``, given as ints or floats, or as a
Python number for every sample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import format_shape
from fnn.core._args import check_number
from fnn.criteria._base import Criterion, abs0, check_reduction, hinge_ge, make, reduce, resolve_reduction
from fnn.criteria._checks import float_input, label_target, table_input
from fnn.errors import ShapeError

Array = jax.Array


def _labels(y: Any, x: Array, shape: tuple[int, ...]) -> Array:
    """``y`` as labels of ``shape``: a scalar (number, 0-d or 1-element array) is repeated."""
    y = label_target(y, x)
    if y.shape == shape:
        return y
    if y.size == 1:
        return jnp.broadcast_to(jnp.reshape(y, ()), shape)
    raise ShapeError(f"expects a label target {format_shape(shape)} (or one number), got {format_shape(y.shape)}")


# --------------------------------------------------------------------------- HingeEmbedding


def _hinge_embedding(kind: str, margin: float, reduction: str) -> Criterion:
    margin = check_number(f"nn.{kind}", "margin", margin)

    def build(r: str) -> tuple[Callable, Callable]:
        def prepare(x, y):
            x = float_input(x)
            return x, _labels(y, x, x.shape)

        def loss(x, y):
            losses = jnp.where(y != -1, x, 0) + jnp.where(y != 1, hinge_ge(margin - x), 0)
            return reduce(losses, r)

        return prepare, loss

    return make(kind, build, reduction, {"margin": margin})


def HingeEmbeddingCriterion(margin: float = 1.0, size_average: bool | None = None, *,
                            reduction: str | None = None) -> Criterion:
    """Hinge embedding loss: ``x`` where ``y = 1``, ``max(0, margin - x)`` where ``y = -1``; ÷ numel.

    Args:
      margin: the margin (default 1).
      size_average: torch7's flag (default True): divide by numel.
      reduction: ``'mean' | 'sum' | 'none'`` (per element).

    Shape contract: the input holds distances, any shape; ``y`` has the input's shape or
    is one number. The gradient at ``x == margin`` for ``y = -1`` is -1 (torch7 zeroes it
    only where ``x > margin``).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.HingeEmbeddingCriterion()(jnp.array([0.3, 0.2]), jnp.array([1, -1]))
    Array(0.55, dtype=float32)
    """
    r = resolve_reduction("nn.HingeEmbeddingCriterion", size_average, reduction)
    return _hinge_embedding("HingeEmbeddingCriterion", margin, r)


def HingeEmbeddingLoss(margin: float = 1.0, *, reduction: str = "mean") -> Criterion:
    """PyTorch's ``nn.HingeEmbeddingLoss``; see :func:`HingeEmbeddingCriterion`.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.HingeEmbeddingLoss(margin=2.0, reduction='sum')(jnp.array([0.5]), jnp.array([-1]))
    Array(1.5, dtype=float32)
    """
    return _hinge_embedding("HingeEmbeddingLoss", margin, check_reduction("nn.HingeEmbeddingLoss", reduction))


# --------------------------------------------------------------------------- pairs of vectors


def _pair(x: Any, y: Any) -> tuple[tuple[Array, Array], Array]:
    x1, x2 = table_input(x, 2)
    if x1.shape != x2.shape or x1.ndim not in (1, 2):
        raise ShapeError(f"expects a table of two (D) or two (B, D) arrays of one shape, got "
                         f"{{{format_shape(x1.shape)}, {format_shape(x2.shape)}}}")
    return (x1, x2), _labels(y, x1, x1.shape[:-1])


def L1HingeEmbeddingCriterion(margin: float = 1.0, *, reduction: str = "sum") -> Criterion:
    """L1 hinge embedding: ``d = ‖x1 - x2‖₁``; ``d`` if ``y = 1``, ``max(0, margin - d)`` if ``y = -1``.

    Args:
      margin: the margin (default 1).
      reduction: ``'sum'`` (default: torch7 never averages), ``'mean'`` (÷ B) or ``'none'``.

    Shape contract: ``(x1, x2)`` of shape ``(D)`` with one label, or ``(B, D)`` with ``(B,)``
    labels (torch7 took one pair only). Deviation: at ``x1 == x2`` the gradient of ``|·|``
    is 0, where torch7 drew a random ±1.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.L1HingeEmbeddingCriterion()((jnp.array([1.0, 2.0]), jnp.array([1.5, 2.0])), -1)
    Array(0.5, dtype=float32)
    """
    margin = check_number("nn.L1HingeEmbeddingCriterion", "margin", margin)
    reduction = check_reduction("nn.L1HingeEmbeddingCriterion", reduction)

    def build(r: str) -> tuple[Callable, Callable]:
        def loss(x, y):
            d = jnp.sum(abs0(x[0] - x[1]), axis=-1)
            return reduce(jnp.where(y == -1, jax.nn.relu(margin - d), d), r)

        return _pair, loss

    return make("L1HingeEmbeddingCriterion", build, reduction, {"margin": margin})


def _cosine_embedding(kind: str, margin: float, reduction: str) -> Criterion:
    margin = check_number(f"nn.{kind}", "margin", margin)

    def build(r: str) -> tuple[Callable, Callable]:
        def loss(x, y):
            x1, x2 = x
            dot = jnp.sum(x1 * x2, axis=-1)
            cos = dot / jnp.sqrt((jnp.sum(x1 * x1, axis=-1) + 1e-12) * (jnp.sum(x2 * x2, axis=-1) + 1e-12))
            losses = jnp.where(y == 1, 1 - cos, 0) + jnp.where(y == -1, jax.nn.relu(cos - margin), 0)
            return reduce(losses, r)

        return _pair, loss

    return make(kind, build, reduction, {"margin": margin})


def CosineEmbeddingCriterion(margin: float = 0.0, size_average: bool | None = None, *,
                             reduction: str | None = None) -> Criterion:
    """Cosine embedding loss: ``1 - cos(x1, x2)`` if ``y = 1``, ``max(0, cos - margin)`` if ``y = -1``; ÷ B.

    Args:
      margin: in [-1, 1], default 0 (0.5 is a common choice).
      size_average: torch7's flag (default True): divide by the batch size.
      reduction: ``'mean' | 'sum' | 'none'`` (per pair).

    Shape contract: ``(x1, x2)`` of shape ``(D)`` with one label, or ``(B, D)`` with ``(B,)``
    labels (or one number). As torch7 (and PyTorch) 1e-12 is added to both squared norms.

    >>> import jax.numpy as jnp, fnn
    >>> x1, x2 = jnp.array([[1.0, 0.0], [1.0, 0.0]]), jnp.array([[0.0, 1.0], [1.0, 1.0]])
    >>> fnn.CosineEmbeddingCriterion()((x1, x2), jnp.array([1, -1]))
    Array(0.8535534, dtype=float32)
    """
    r = resolve_reduction("nn.CosineEmbeddingCriterion", size_average, reduction)
    return _cosine_embedding("CosineEmbeddingCriterion", margin, r)


def CosineEmbeddingLoss(margin: float = 0.0, *, reduction: str = "mean") -> Criterion:
    """PyTorch's ``nn.CosineEmbeddingLoss``; see :func:`CosineEmbeddingCriterion`.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CosineEmbeddingLoss()((jnp.array([1.0, 0.0]), jnp.array([1.0, 0.0])), 1)
    Array(0., dtype=float32)
    """
    return _cosine_embedding("CosineEmbeddingLoss", margin, check_reduction("nn.CosineEmbeddingLoss", reduction))


# --------------------------------------------------------------------------- MarginRanking


def _margin_ranking(kind: str, margin: float, reduction: str) -> Criterion:
    margin = check_number(f"nn.{kind}", "margin", margin)

    def build(r: str) -> tuple[Callable, Callable]:
        def prepare(x, y):
            x1, x2 = table_input(x, 2)
            if x1.shape != x2.shape:
                raise ShapeError(f"expects a table of two arrays of one shape, got "
                                 f"{{{format_shape(x1.shape)}, {format_shape(x2.shape)}}}")
            return (x1, x2), _labels(y, x1, x1.shape)

        def loss(x, y):
            return reduce(hinge_ge(margin - y * (x[0] - x[1])), r)

        return prepare, loss

    return make(kind, build, reduction, {"margin": margin})


def MarginRankingCriterion(margin: float = 1.0, size_average: bool | None = None, *,
                           reduction: str | None = None) -> Criterion:
    """Ranking hinge loss ``max(0, -y (x1 - x2) + margin)``, ÷ B.

    Args:
      margin: the margin (default 1; PyTorch's ``MarginRankingLoss`` defaults to 0).
      size_average: torch7's flag (default True): divide by the batch size.
      reduction: ``'mean' | 'sum' | 'none'`` (per pair).

    Shape contract: ``(x1, x2)`` of one shape, ``(1,)`` or ``(B,)`` (any shape works
    element-wise); ``y`` of that shape or one number. As torch7, the gradient passes where
    the hinge is exactly 0 (its mask is ``dist >= 0``).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MarginRankingCriterion()((jnp.array([1.0, 0.2]), jnp.array([0.5, 0.5])), jnp.array([1, 1]))
    Array(0.9, dtype=float32)
    """
    r = resolve_reduction("nn.MarginRankingCriterion", size_average, reduction)
    return _margin_ranking("MarginRankingCriterion", margin, r)


def MarginRankingLoss(margin: float = 0.0, *, reduction: str = "mean") -> Criterion:
    """PyTorch's ``nn.MarginRankingLoss`` (margin 0 by default); see :func:`MarginRankingCriterion`.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MarginRankingLoss()((jnp.array([1.0]), jnp.array([2.0])), jnp.array([1.0]))
    Array(1., dtype=float32)
    """
    return _margin_ranking("MarginRankingLoss", margin, check_reduction("nn.MarginRankingLoss", reduction))
