"""torch7's remaining criteria: WeightedMSE, SpatialAutoCropMSE, ClassSimplex, DistanceRatio,
L1Cost and ModuleCriterion.

Class indices are 0-based (torch7's were 1-based). Criteria without a target (DistanceRatio,
L1Cost) are called as torch7 called them, ``criterion(input)`` (a ``target`` given is ignored).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import Module, dtype_of, format_shape, shape_of
from fnn.criteria._base import Criterion, abs0, check_reduction, make, reduce, resolve_reduction
from fnn.criteria._checks import (
    check_class_range,
    class_target,
    float_input,
    float_target,
    same_numel_target,
    table_input,
)
from fnn.errors import ConfigError, ShapeError

Array = jax.Array


def WeightedMSECriterion(weight: Any, size_average: bool | None = None, *, reduction: str | None = None) -> Criterion:
    """MSE between the input and the **weighted target**: ``Σ (x − w ⊙ t)² / numel``.

    Only the target is weighted, not the residual (torch7). ``w`` has the shape of one example
    and is repeated over the batch when the input has one dim more; otherwise it has the
    input's shape.

    Args:
      weight: the target weights (an array).
      size_average: torch7's flag (default True): divide by numel.
      reduction: ``'mean' | 'sum' | 'none'`` (per element).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.WeightedMSECriterion(jnp.array([1.0, 0.5]))(jnp.zeros((1, 2)), jnp.array([[1.0, 2.0]]))
    Array(1., dtype=float32)
    """
    w = None if weight is None else np.asarray(weight)
    if w is None or w.size == 0 or not np.issubdtype(w.dtype, np.number) or not np.all(np.isfinite(w)):
        raise ConfigError(f"nn.WeightedMSECriterion: weight must be a non-empty array of finite numbers, "
                          f"got {weight!r}")
    w = jnp.asarray(w, jnp.result_type(float))
    r = resolve_reduction("nn.WeightedMSECriterion", size_average, reduction)

    def build(red: str):
        def prepare(x, t):
            x = float_input(x)
            t = same_numel_target(float_target(t, x), x)
            if x.ndim - 1 == w.ndim and x.shape[1:] == w.shape:
                wt = jnp.broadcast_to(w.astype(x.dtype), x.shape)
            elif w.shape == x.shape:
                wt = w.astype(x.dtype)
            else:
                raise ShapeError(f"has weight {format_shape(w.shape)}, which is neither one example's shape nor "
                                 f"the input's {format_shape(x.shape)}")
            return x, t * wt

        return prepare, lambda x, t: reduce((x - t) ** 2, red)

    return make("WeightedMSECriterion", build, r, {"weight": np.asarray(w)})


def SpatialAutoCropMSECriterion(size_average: bool | None = None, *, reduction: str | None = None) -> Criterion:
    """MSE after **centre-cropping the target** to the input's height and width.

    The crop starts at ``floor((H_target − H_input) / 2)`` (and likewise for the width).

    Args:
      size_average: torch7's flag (default True): divide by the input's numel.
      reduction: ``'mean' | 'sum' | 'none'`` (per input element).

    Shape contract: input ``(C, h, w)`` or ``(B, C, h, w)``; target of the same rank with
    ``H >= h``, ``W >= w`` (and the same other dims).

    >>> import jax.numpy as jnp, fnn
    >>> t = jnp.arange(16.0).reshape(1, 4, 4)
    >>> fnn.SpatialAutoCropMSECriterion()(jnp.array([[[5.0, 6.0], [9.0, 10.0]]]), t)
    Array(0., dtype=float32)
    """
    r = resolve_reduction("nn.SpatialAutoCropMSECriterion", size_average, reduction)

    def build(red: str):
        def prepare(x, t):
            x = float_input(x)
            t = float_target(t, x)
            if x.ndim not in (3, 4) or t.ndim != x.ndim:
                raise ShapeError(f"expects input and target of one rank, 3-D or 4-D, got input "
                                 f"{format_shape(x.shape)} and target {format_shape(t.shape)}")
            (h, w), (th, tw) = x.shape[-2:], t.shape[-2:]
            if h > th or w > tw or x.shape[:-2] != t.shape[:-2]:
                raise ShapeError(f"expects a target at least as large as the input in H and W (other dims equal), "
                                 f"got input {format_shape(x.shape)} and target {format_shape(t.shape)}")
            r0, c0 = (th - h) // 2, (tw - w) // 2
            return x, t[..., r0:r0 + h, c0:c0 + w]

        return prepare, lambda x, t: reduce((x - t) ** 2, red)

    return make("SpatialAutoCropMSECriterion", build, r, {})


def class_simplex(n_classes: int) -> np.ndarray:
    """torch7's ClassSimplexCriterion targets: row ``k`` is class ``k``'s vertex of a regular
    simplex centred at the origin (unit norm), padded with zeros to ``n_classes`` columns.

    >>> class_simplex(3).round(4).tolist()
    [[1.0, 0.0, 0.0], [-0.5, 0.866, 0.0], [-0.5, -0.866, 0.0]]
    """
    n = n_classes - 1
    a = np.zeros((n + 1, n))
    for k in range(n):
        a[k, k] = 1.0 if k == 0 else math.sqrt(1 - np.sum(a[k, :k] ** 2))
        a[k + 1:, k] = (a[k, k] ** 2 - 1 - 1 / n) / a[k, k]
    return np.concatenate([a, np.zeros((n + 1, n_classes - n))], axis=1)


def ClassSimplexCriterion(n_classes: int, size_average: bool | None = None, *,
                          reduction: str | None = None) -> Criterion:
    """MSE between the input and the target class's vertex of a regular simplex in ``R^C``.

    Predictions: ``input @ fnn.criteria.class_simplex(C).T`` (torch7's ``getPredictions``),
    its argmax is ``getTopPrediction``.

    Args:
      n_classes: the number of classes ``C`` (> 1).
      size_average: torch7's flag (default True): divide by numel.
      reduction: ``'mean' | 'sum' | 'none'`` (per element).

    Shape contract: input ``(C,)`` with an int target, or ``(B, C)`` with ``(B,)`` 0-based classes.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.ClassSimplexCriterion(3)(jnp.array([1.0, 0.0, 0.0]), 0)
    Array(0., dtype=float32)
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ConfigError(f"nn.ClassSimplexCriterion: n_classes must be an int > 1, got {n_classes!r}")
    simplex = class_simplex(n_classes)
    r = resolve_reduction("nn.ClassSimplexCriterion", size_average, reduction)

    def build(red: str):
        def prepare(x, t):
            x = float_input(x)
            t = class_target(t)
            if x.shape[-1:] != (n_classes,) or x.ndim not in (1, 2) or t.shape != x.shape[:-1]:
                raise ShapeError(f"expects input ({n_classes},) with a number or ({n_classes},)-rows (B, {n_classes}) "
                                 f"with (B,) targets, got input {format_shape(x.shape)} and target "
                                 f"{format_shape(t.shape)}")
            check_class_range(t, n_classes)
            return x, jnp.take(jnp.asarray(simplex, x.dtype), t, axis=0)

        return prepare, lambda x, t: reduce((x - t) ** 2, red)

    return make("ClassSimplexCriterion", build, r, {"n_classes": n_classes})


def DistanceRatioCriterion(size_average: bool | None = None, *, reduction: str | None = None) -> Criterion:
    """Triplet loss on distances: input ``(Ds, Dd)``, loss ``Ds + log(e^{−Ds} + e^{−Dd})`` summed,
    ÷ B (the first dim of ``Ds``) when averaging. No target: ``criterion((Ds, Dd))``.

    ``Ds`` holds the distances of similar pairs, ``Dd`` of dissimilar ones: the loss is
    ``−log softmax(−D)`` of the similar entry.

    Args:
      size_average: torch7's flag (default True): divide by B.
      reduction: ``'mean' | 'sum' | 'none'`` (per element).

    >>> import jax.numpy as jnp, fnn
    >>> round(float(fnn.DistanceRatioCriterion()((jnp.array([0.0]), jnp.array([0.0])))), 4)
    0.6931
    """
    r = resolve_reduction("nn.DistanceRatioCriterion", size_average, reduction)

    def build(red: str):
        def prepare(x, t):
            ds, dd = table_input(x, 2)
            if ds.shape != dd.shape:
                raise ShapeError(f"expects two distance arrays of one shape, got "
                                 f"{{{format_shape(ds.shape)}, {format_shape(dd.shape)}}}")
            return (ds, dd), None

        def loss(x, t):
            ds, dd = x
            return reduce(ds + jnp.logaddexp(-ds, -dd), red, ds.shape[0] if ds.ndim else 1)

        return prepare, loss

    return make("DistanceRatioCriterion", build, r, {})


def L1Cost(*, reduction: str = "sum") -> Criterion:
    """``Σ |x|`` over every element; no target: ``criterion(x)``. Gradient ``sign(x)`` (0 at 0,
    torch7's THNN). torch7 never averaged: the default reduction is ``'sum'``.

    Args:
      reduction: ``'sum'`` (torch7), ``'mean'`` (÷ numel) or ``'none'`` (per element ``|x|``).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.L1Cost()(jnp.array([1.0, -2.0]))
    Array(3., dtype=float32)
    """

    def build(red: str):
        return (lambda x, t: (float_input(x), None)), (lambda x, t: reduce(abs0(x), red))

    return make("L1Cost", build, check_reduction("nn.L1Cost", reduction), {})


def _module_params(name: str, module: Module, x: Any) -> Any:
    _, _, params, state = module.init_fn(jax.random.key(0), shape_of(x), dtype_of(x))
    if jax.tree.leaves(params) or jax.tree.leaves(state):
        raise ConfigError(f"{name}: {module.name.splitlines()[0]} has params or state; ModuleCriterion's "
                          "modules must be parameter-free (torch7 could not update them either)")
    return params, state


def ModuleCriterion(criterion: Criterion, input_module: Module | None = None, target_module: Module | None = None,
                    cast_target: bool = True) -> Criterion:
    """A criterion whose input and target first go through parameter-free layers.

    ``loss = criterion(input_module(input), target_module(target))``; the gradient flows back
    through ``input_module`` (torch7's ``backward``). torch7's ``castTarget`` (cast the target
    module with ``:type()``) has no meaning here: dtypes follow the arrays.

    Args:
      criterion: the criterion.
      input_module: a parameter-free layer applied to the input, or None.
      target_module: a parameter-free layer applied to the target, or None.
      cast_target: accepted for torch7's signature; no effect.

    >>> import jax.numpy as jnp, fnn
    >>> crit = fnn.ModuleCriterion(fnn.ClassNLLCriterion(), fnn.LogSoftMax())
    >>> round(float(crit(jnp.zeros((1, 4)), jnp.array([2]))), 4)
    1.3863
    """
    name = "nn.ModuleCriterion"
    if not isinstance(criterion, Criterion):
        raise ConfigError(f"{name}: criterion must be an fnn criterion, got {criterion!r}")
    for what, m in (("input_module", input_module), ("target_module", target_module)):
        if m is not None and not isinstance(m, Module):
            raise ConfigError(f"{name}: {what} must be an fnn Module or None, got {m!r}")

    def run(m: Module | None, v: Any) -> Any:
        if m is None:
            return v
        params, state = _module_params(name, m, v)
        return m.apply_fn(params, state, v)[0]

    def build(red: str):
        inner = criterion if red == criterion.reduction else criterion.with_reduction(red)
        return (lambda x, t: (x, t)), (lambda x, t: inner(run(input_module, x), run(target_module, t)))

    return make("ModuleCriterion", build, criterion.reduction, {"criterion": criterion.name})


__all__ = ["WeightedMSECriterion", "SpatialAutoCropMSECriterion", "ClassSimplexCriterion", "class_simplex",
           "DistanceRatioCriterion", "L1Cost", "ModuleCriterion"]
