"""Batch normalisation: torch7's BatchNormalization family and PyTorch's BatchNorm1d/2d/3d.
The per-sample normalisations (LayerNorm, GroupNorm, InstanceNorm) live in ``_norm.py``, with
the channel helpers both files share.

The batch-norm layers are stateful leaves: params ``weight``, ``bias`` (when affine) and
state ``running_mean``, ``running_var`` (PyTorch's aliases also ``num_batches_tracked``).
Use the stateful pair::

    init, apply = fnn.SpatialBatchNormalization(16).stateful
    out_shape, params, state = init(key, (-1, 16, 8, 8))
    y, state = apply(params, state, x, train=True)      # updates the running statistics
    y, _ = apply(params, state, x)                      # evaluation: uses them

torch7 semantics: ``weight`` starts ``U(0, 1)`` (PyTorch: 1), ``bias`` 0;
running mean 0 and variance 1, updated only in training as ``r <- (1-m)·r + m·stat`` with
the **unbiased** batch variance, while the output is normalised with the biased one;
``eps`` inside the square root; evaluation accepts one unbatched example; a training
batch of size 1 normalises with the running statistics and leaves them unchanged.
With ``axis_name`` the batch statistics are averaged over that mapped axis
(``jax.lax.pmean``): synchronised batch norm under ``jax.vmap``/``pmap``/``shard_map``,
each device holding an equal share of the batch.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from fnn import kernels
from fnn.core import Initializer, Module, expect_array, format_shape, leaf, same_size
from fnn.errors import ConfigError, ShapeError
from fnn.layers import _windows as win
from fnn.layers._norm import (
    check_norm_args,
    normalize,
    ones_init,
    pmean,
    standardize,
    unit_uniform_init,
    zeros_init,
)


def _axis_size(axis_name: str | None) -> int:
    """The number of devices (or vmapped shards) sharing the batch statistics."""
    if axis_name is None:
        return 1
    try:
        return int(lax.axis_size(axis_name))
    except NameError:
        pmean(0.0, axis_name)  # raises the clear error
        raise


def _batch_norm(
    name: str, kind: str, config: dict, *, n: int, eps: float, momentum: float | None, affine: bool,
    axis_name: str | None, weight_init: Initializer, bias_init: Initializer, batched_ranks: tuple[int, ...],
    single_rank: int | None, expected: str, torch7: bool, track: bool = True, count: bool = False,
) -> Module:
    """The one batch-norm implementation; see the module docstring for the semantics.

    Args:
      batched_ranks: the input ranks that carry a batch dim (channels at dim 1).
      single_rank: the rank of one unbatched example (channels at dim 0), or None.
      torch7: torch7's batch-of-1 rule (else PyTorch's "more than 1 value per channel" error).
      track: keep running statistics (PyTorch's ``track_running_stats``).
      count: keep ``num_batches_tracked`` (PyTorch's aliases; ``momentum=None`` needs it).
    """

    def check(shape: Any, dtype: Any) -> None:
        expect_array(shape)
        r = len(shape)
        if r in batched_ranks:
            c = shape[1]
        elif r == single_rank:
            c = shape[0]
        else:
            raise ShapeError(f"expects input {expected}, got {format_shape(shape)}")
        if not same_size(n, c):
            raise ShapeError(f"expects input {expected}, got {format_shape(shape)}")

    def params(rng: Any, shape: Any, dtype: Any) -> dict:
        kw, kb = jax.random.split(rng)
        return {"weight": weight_init(kw, (n,), dtype), "bias": bias_init(kb, (n,), dtype)}

    def state(shape: Any, dtype: Any) -> dict:
        s = {"running_mean": jnp.zeros((n,), dtype), "running_var": jnp.ones((n,), dtype)}
        if count:
            s["num_batches_tracked"] = jnp.zeros((), jnp.int32)
        return s

    def forward(p: Any, s: Any, x: Any, *, rng: Any, train: bool) -> tuple[Any, Any]:
        single = x.ndim == single_rank and x.ndim not in batched_ranks
        if affine:
            win.same_dtype(x, p["weight"])
        if track:
            win.same_dtype(x, s["running_mean"])
        if single and train and axis_name is None:
            raise ShapeError(
                f"got one example {format_shape(x.shape)} in training mode: batch statistics need a batch "
                f"{expected.split(' or')[0]} (one example is accepted in evaluation, or under "
                "jax.vmap with axis_name)"
            )
        xb = x[None] if single else x
        use_batch = train or not track
        size = _axis_size(axis_name) if use_batch else 1
        total = math.prod(xb.shape[a] for a in range(xb.ndim) if a != 1) * size
        if use_batch:
            if torch7 and train and xb.shape[0] * size == 1:
                use_batch = False  # torch7: a batch of one normalises with the running stats, no update
            elif total <= 1:
                raise ShapeError(f"expected more than 1 value per channel when training, got input "
                                 f"{format_shape(x.shape)}")
        new_s = s
        if use_batch and axis_name is None and kernels.use_onednn_norm(xb):
            # implementation("onednn"): oneDNN's batch norm on the (B, C, ...) input as it is, stored
            # channels-last like the convolutions' output (kernels.use_onednn_norm says why not by default)
            ones = jnp.ones((n,), x.dtype)
            weight, bias = (p["weight"], p["bias"]) if affine else (ones, jnp.zeros_like(ones))
            y, mean, var = kernels.batch_norm_onednn(xb, weight, bias, eps)
            y = y.reshape(x.shape)
        else:
            # Computed on a (B, L, C) view -- spatial sizes as one axis, channels last -- with one per-channel
            # scale (_norm.affine_scale): XLA:CPU runs the normalisation and its gradients up to 2.4x faster
            # so than on (B, C, H, W) (python -m bench.norm_forms), and ResNet-20's step 5 % faster than on
            # (B, C, L), as XLA's convolutions compute channels-last (bench/HISTORY.md, round 2).
            xb = jnp.swapaxes(xb.reshape(*xb.shape[:2], math.prod(xb.shape[2:])), 1, 2)  # -1 fails on B = 0
            weight = p["weight"].reshape(1, 1, n) if affine else None
            bias = p["bias"].reshape(1, 1, n) if affine else None
            if use_batch:
                y, mean, var = normalize(xb, weight, bias, eps, (0, 1), axis_name)
            else:
                mean, var = s["running_mean"].reshape(1, 1, n), s["running_var"].reshape(1, 1, n)
                y = standardize(xb, mean, var, weight, bias, eps)
            y = jnp.swapaxes(y, 1, 2).reshape(x.shape)
        if use_batch and train and track:
            factor = momentum
            if count:
                nbt = s["num_batches_tracked"] + 1
                if momentum is None:
                    factor = 1.0 / nbt.astype(mean.dtype)
            stat_m = lax.stop_gradient(mean).reshape(n)
            stat_v = lax.stop_gradient(var).reshape(n) * (total / (total - 1))
            new_s = {"running_mean": (1 - factor) * s["running_mean"] + factor * stat_m,
                     "running_var": (1 - factor) * s["running_var"] + factor * stat_v}
            if count:
                new_s["num_batches_tracked"] = nbt
        return y, new_s

    return leaf(name, forward, kind=kind, params=params if affine else None, state=state if track else None,
                check=check, stateful=True, config=config)


def _torch7_bn(cls: str, n_dim: int, letters: tuple[str, ...], n: int, eps: float, momentum: float, affine: bool,
               axis_name: str | None, weight_init: Initializer | None, bias_init: Initializer | None) -> Module:
    layer = f"nn.{cls}"
    check_norm_args(layer, n, eps, momentum)
    if momentum is None:
        raise ConfigError(f"{layer}: momentum must be a number in [0, 1]")
    one = win.layout_text((str(n), *letters))
    batch = win.layout_text(("B", str(n), *letters))
    cfg = {"n": n, "eps": eps, "momentum": momentum, "affine": affine, "axis_name": axis_name}
    return _batch_norm(
        f"{layer} ({n_dim}D) ({n})", cls, cfg, n=n, eps=eps, momentum=momentum, affine=affine, axis_name=axis_name,
        weight_init=weight_init or unit_uniform_init, bias_init=bias_init or zeros_init, batched_ranks=(n_dim,),
        single_rank=n_dim - 1, expected=f"{batch} or, in evaluation, {one}", torch7=True,
    )


def BatchNormalization(n: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True, *,
                       axis_name: str | None = None, weight_init: Initializer | None = None,
                       bias_init: Initializer | None = None) -> Module:
    """Batch normalisation of features (torch7): ``y = (x - μ) / √(σ² + eps) · weight + bias``.

    Args:
      n: the number of features.
      eps: added to the variance inside the square root.
      momentum: running statistics ``r <- (1 - momentum)·r + momentum·batch_stat``.
      affine: learn ``weight`` and ``bias``.
      axis_name: average the batch statistics over this mapped axis (synchronised BN).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default torch7's ``U(0, 1)`` and 0.

    Shape contract: ``(B, n)``; in evaluation also one example ``(n,)``.
    Params: ``weight (n,)``, ``bias (n,)``. State: ``running_mean (n,)``, ``running_var (n,)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.BatchNormalization(3, momentum=0.5).stateful
    >>> out_shape, params, state = init(jax.random.key(0), (-1, 3))
    >>> y, state = apply(params, state, jnp.arange(12.0).reshape(4, 3), train=True)
    >>> state['running_mean']
    Array([2.25, 2.75, 3.25], dtype=float32)
    """
    return _torch7_bn("BatchNormalization", 2, (), n, eps, momentum, affine, axis_name, weight_init, bias_init)


def SpatialBatchNormalization(n: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True, *,
                              axis_name: str | None = None, weight_init: Initializer | None = None,
                              bias_init: Initializer | None = None) -> Module:
    """Batch normalisation per channel over ``(B, H, W)`` (torch7).

    Args:
      n, eps, momentum, affine, axis_name, weight_init, bias_init: as :func:`BatchNormalization`.

    Shape contract: ``(B, n, H, W)``; in evaluation also ``(n, H, W)``.

    >>> import jax, fnn
    >>> bn = fnn.SpatialBatchNormalization(16)
    >>> print(bn)
    nn.SpatialBatchNormalization (4D) (16)
    >>> bn.stateful.init(jax.random.key(0), (-1, 16, 8, 8))[0]
    (-1, 16, 8, 8)
    """
    return _torch7_bn("SpatialBatchNormalization", 4, ("H", "W"), n, eps, momentum, affine, axis_name, weight_init,
                      bias_init)


def VolumetricBatchNormalization(n: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True, *,
                                 axis_name: str | None = None, weight_init: Initializer | None = None,
                                 bias_init: Initializer | None = None) -> Module:
    """Batch normalisation per channel over ``(B, T, H, W)`` (torch7).

    Args:
      n, eps, momentum, affine, axis_name, weight_init, bias_init: as :func:`BatchNormalization`.

    Shape contract: ``(B, n, T, H, W)``; in evaluation also ``(n, T, H, W)``.

    >>> import jax, fnn
    >>> fnn.VolumetricBatchNormalization(2).stateful.init(jax.random.key(0), (-1, 2, 3, 4, 4))[0]
    (-1, 2, 3, 4, 4)
    """
    return _torch7_bn("VolumetricBatchNormalization", 5, ("T", "H", "W"), n, eps, momentum, affine, axis_name,
                      weight_init, bias_init)


def _torch_bn(nd: int, num_features: int, eps: float, momentum: float | None, affine: bool,
              track_running_stats: bool, axis_name: str | None, weight_init: Initializer | None,
              bias_init: Initializer | None) -> Module:
    cls = f"BatchNorm{nd}d"
    check_norm_args(f"nn.{cls}", num_features, eps, momentum)
    c = str(num_features)
    if nd == 1:
        ranks, single, expected = (2, 3), (1 if track_running_stats else None), f"(B, {c}) or (B, {c}, L)" + (
            f" or, in evaluation, ({c},)" if track_running_stats else "")
    else:
        letters = ("H", "W") if nd == 2 else ("T", "H", "W")
        ranks, single = (nd + 2,), (nd + 1 if track_running_stats else None)
        expected = win.layout_text(("B", c, *letters)) + (
            f" or, in evaluation, {win.layout_text((c, *letters))}" if track_running_stats else "")
    cfg = {"num_features": num_features, "eps": eps, "momentum": momentum, "affine": affine,
           "track_running_stats": track_running_stats, "axis_name": axis_name}
    name = (f"nn.{cls}({num_features}, eps={eps}, momentum={momentum}, affine={affine}, "
            f"track_running_stats={track_running_stats})")
    return _batch_norm(
        name, cls, cfg, n=num_features, eps=eps, momentum=momentum, affine=affine, axis_name=axis_name,
        weight_init=weight_init or ones_init, bias_init=bias_init or zeros_init, batched_ranks=ranks,
        single_rank=single, expected=expected, torch7=False, track=track_running_stats, count=track_running_stats,
    )


def BatchNorm1d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                track_running_stats: bool = True, *, axis_name: str | None = None,
                weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.BatchNorm1d`` (PyTorch semantics) on ``(B, C)`` or ``(B, C, L)``.

    Differs from torch7's BatchNormalization: ``weight`` starts at 1; a training batch must hold
    more than one value per channel (ShapeError otherwise, PyTorch's ValueError);
    ``momentum=None`` gives PyTorch's cumulative average; ``track_running_stats=False``
    keeps no state and always uses batch statistics. State: ``running_mean``,
    ``running_var`` and ``num_batches_tracked`` (int32), as in a PyTorch ``state_dict``.
    One example ``(C,)`` is accepted in evaluation; a ``(B, C, L)`` batch cannot be
    ``vmap``-ed into ``(C, L)`` examples (that rank means ``(B, C)``).

    Args:
      num_features: channels ``C``.
      eps: added to the variance inside the square root.
      momentum: running-average factor, or None for a cumulative average.
      affine: learn ``weight`` and ``bias``.
      track_running_stats: keep running statistics for evaluation.
      axis_name: average the batch statistics over this mapped axis (synchronised BN).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default 1 and 0.

    >>> import jax, fnn
    >>> out_shape, params, state = fnn.BatchNorm1d(4).stateful.init(jax.random.key(0), (-1, 4))
    >>> sorted(state), params['weight']
    (['num_batches_tracked', 'running_mean', 'running_var'], Array([1., 1., 1., 1.], dtype=float32))
    """
    return _torch_bn(1, num_features, eps, momentum, affine, track_running_stats, axis_name, weight_init, bias_init)


def BatchNorm2d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                track_running_stats: bool = True, *, axis_name: str | None = None,
                weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.BatchNorm2d`` (PyTorch semantics) on ``(B, C, H, W)`` (one example
    ``(C, H, W)`` in evaluation).

    Differs from torch7's SpatialBatchNormalization: ``weight`` starts at 1; a training batch must hold
    more than one value per channel (ShapeError otherwise, PyTorch's ValueError);
    ``momentum=None`` gives PyTorch's cumulative average; ``track_running_stats=False``
    keeps no state and always uses batch statistics. State: ``running_mean``,
    ``running_var`` and ``num_batches_tracked`` (int32), as in a PyTorch ``state_dict``.

    Args:
      num_features: channels ``C``.
      eps: added to the variance inside the square root.
      momentum: running-average factor, or None for a cumulative average.
      affine: learn ``weight`` and ``bias``.
      track_running_stats: keep running statistics for evaluation.
      axis_name: average the batch statistics over this mapped axis (synchronised BN).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default 1 and 0.

    >>> import jax, fnn
    >>> out_shape, params, state = fnn.BatchNorm2d(4).stateful.init(jax.random.key(0), (-1, 4, 8, 8))
    >>> sorted(state), params['weight']
    (['num_batches_tracked', 'running_mean', 'running_var'], Array([1., 1., 1., 1.], dtype=float32))
    """
    return _torch_bn(2, num_features, eps, momentum, affine, track_running_stats, axis_name, weight_init, bias_init)


def BatchNorm3d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                track_running_stats: bool = True, *, axis_name: str | None = None,
                weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.BatchNorm3d`` (PyTorch semantics) on ``(B, C, T, H, W)`` (one example
    ``(C, T, H, W)`` in evaluation).

    Differs from torch7's VolumetricBatchNormalization: ``weight`` starts at 1; a training batch must hold
    more than one value per channel (ShapeError otherwise, PyTorch's ValueError);
    ``momentum=None`` gives PyTorch's cumulative average; ``track_running_stats=False``
    keeps no state and always uses batch statistics. State: ``running_mean``,
    ``running_var`` and ``num_batches_tracked`` (int32), as in a PyTorch ``state_dict``.

    Args:
      num_features: channels ``C``.
      eps: added to the variance inside the square root.
      momentum: running-average factor, or None for a cumulative average.
      affine: learn ``weight`` and ``bias``.
      track_running_stats: keep running statistics for evaluation.
      axis_name: average the batch statistics over this mapped axis (synchronised BN).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default 1 and 0.

    >>> import jax, fnn
    >>> out_shape, params, state = fnn.BatchNorm3d(4).stateful.init(jax.random.key(0), (-1, 4, 2, 3, 3))
    >>> sorted(state), params['weight']
    (['num_batches_tracked', 'running_mean', 'running_var'], Array([1., 1., 1., 1.], dtype=float32))
    """
    return _torch_bn(3, num_features, eps, momentum, affine, track_running_stats, axis_name, weight_init, bias_init)


__all__ = [
    "BatchNormalization", "SpatialBatchNormalization", "VolumetricBatchNormalization", "BatchNorm1d", "BatchNorm2d",
    "BatchNorm3d",
]
