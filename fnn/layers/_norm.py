"""Per-sample normalisations with PyTorch semantics: LayerNorm, GroupNorm and
InstanceNorm1d/2d/3d, plus what the batch-norm family (``_batch_norm.py``) shares with them:
the channel helpers and :func:`normalize`, the one normalisation every layer computes, with its
derivative rule.

They normalise each sample with its own statistics (biased variance, ``eps`` inside the
square root), so training and evaluation agree, except for InstanceNorm with
``track_running_stats=True``, which keeps running statistics like batch norm.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from fnn.core import Initializer, Module, expect_array, format_shape, leaf, lift, same_size
from fnn.core._args import ints, is_int
from fnn.errors import ConfigError, FnnError, ShapeError
from fnn.layers import _windows as win


def ones_init(key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    return jnp.ones(shape, dtype)


def zeros_init(key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    return jnp.zeros(shape, dtype)


def unit_uniform_init(key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    return jax.random.uniform(key, shape, dtype)


def channel_view(v: Any, ndim: int) -> Any:
    """A per-channel vector shaped ``(1, C, 1, ...)`` for a rank-``ndim`` batch."""
    return jnp.reshape(v, (1, -1) + (1,) * (ndim - 2))


def check_norm_args(layer: str, n: int, eps: float, momentum: float | None) -> None:
    ints(layer, 1, num_features=n)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
        raise ConfigError(f"{layer}: eps must be a non-negative number, got {eps!r}")
    if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float))
                                 or not 0 <= momentum <= 1):
        raise ConfigError(f"{layer}: momentum must be in [0, 1], got {momentum!r}")


def pmean(v: Any, axis_name: str | None) -> Any:
    """``v`` averaged over the mapped axis ``axis_name`` (``lax.pmean``), or ``v`` itself for None."""
    if axis_name is None:
        return v
    try:
        return lax.pmean(v, axis_name)
    except NameError as e:
        raise FnnError(
            f"axis_name={axis_name!r} is not bound: run the training step under "
            f"jax.vmap(..., axis_name={axis_name!r}) (or pmap/shard_map with that axis name), "
            "or build the layer without axis_name"
        ) from e


# --------------------------------------------------------------------------- the normalisation
# Every normalisation layer normalises with the statistics of its input through one custom_jvp
# rule. Differentiated as written, the variance's mean reaches x a second time and XLA makes a
# reduction for each path; the rule knows that the deviations sum to zero. Its tangent applies the
# factors of the statistics' shape to the reduced tangents and adds them to the weight's and the
# bias's tangents before they broadcast, so that the backward pass JAX transposes from it reduces dy
# and xhat * dy once each, shared by the input's, weight's and bias's gradients: ResNet-20's train
# step takes 0.91-0.96x the time of the plain form (python -m bench.step_variants), one batch, group
# or instance norm + ReLU with its gradients 0.64-1.12x, 0.91 at the median (python -m
# bench.norm_forms, ResNet-20's shapes; bench/HISTORY.md, round 2, eighth pass). A JVP rule, not a
# VJP: forward mode, reverse mode, vmap and higher derivatives all work.


def moments(x: Any, axes: tuple[int, ...], axis_name: str | None = None) -> tuple[Any, Any]:
    """The mean and biased variance of ``x`` over ``axes`` (kept as size-1 dims), averaged over
    ``axis_name`` too when given."""
    mean = pmean(jnp.mean(x, axis=axes, keepdims=True), axis_name)
    return mean, pmean(jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True), axis_name)


def affine_scale(var: Any, weight: Any, eps: float) -> Any:
    """``weight / sqrt(var + eps)``, one scale (``weight`` None: 1). PyTorch's CPU kernels do the same:
    with 1/σ and the weight applied one after the other, XLA would make two passes over the input."""
    inv = lax.rsqrt(var + eps)
    return inv if weight is None else inv * weight


def standardize(x: Any, mean: Any, var: Any, weight: Any, bias: Any, eps: float) -> Any:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` with given statistics (``weight``, ``bias``: None
    for none), as one per-statistic scale (:func:`affine_scale`)."""
    y = (x - mean) * affine_scale(var, weight, eps)
    return y if bias is None else y + bias


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4, 5))
def normalize(x: Any, weight: Any, bias: Any, eps: float, axes: tuple[int, ...],
              axis_name: str | None) -> tuple[Any, Any, Any]:
    """``(y, mean, var)``: ``x`` normalised with its own statistics over ``axes`` (and ``axis_name``),
    then ``* weight + bias`` (each broadcastable to ``x``, or None).

    ``mean`` and ``var`` (the biased variance) keep ``axes`` as size-1 dims. Pass every argument
    positionally (``axes`` a tuple): the rule's non-differentiable arguments are positions 3-5.
    """
    mean, var = moments(x, axes, axis_name)
    return standardize(x, mean, var, weight, bias, eps), mean, var


@normalize.defjvp
def _normalize_jvp(eps: float, axes: tuple[int, ...], axis_name: str | None, primals: tuple,
                   tangents: tuple) -> tuple:
    (x, weight, bias), (tx, tw, tb) = primals, tangents
    mean, var = moments(x, axes, axis_name)
    inv, scale = lax.rsqrt(var + eps), affine_scale(var, weight, eps)
    xhat = (x - mean) * inv
    m1 = pmean(jnp.mean(tx, axis=axes, keepdims=True), axis_name)  # the mean's tangent
    m2 = pmean(jnp.mean(xhat * tx, axis=axes, keepdims=True), axis_name)
    # xhat' = inv * (tx - m1 - xhat * m2); y' = weight * xhat' + xhat * tw + tb
    per_xhat = -scale * m2 if weight is None else tw - scale * m2
    per_one = -scale * m1 if bias is None else tb - scale * m1
    t = scale * tx + xhat * per_xhat + per_one
    y = standardize(x, mean, var, weight, bias, eps)
    return (y, mean, var), (t, m1, 2 * m2 / inv)  # var' = 2 mean((x - mean) tx)


def LayerNorm(normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True, *,
              weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.LayerNorm``: normalise each sample over its trailing ``normalized_shape`` dims.

    ``y = (x - mean) / √(var + eps) · weight + bias`` with the biased variance, statistics
    over the last ``len(normalized_shape)`` dims. (torch7's undocumented LayerNormalization
    placed eps differently and is not provided.)

    Args:
      normalized_shape: an int or a tuple: the trailing input dims.
      eps: added to the variance inside the square root.
      elementwise_affine: learn ``weight`` (init 1) of shape ``normalized_shape``.
      bias: with ``elementwise_affine``, also learn ``bias`` (init 0).
      weight_init, bias_init: ``(key, shape, dtype) -> array``.

    Shape contract: ``(..., *normalized_shape)``, any number of leading dims.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.LayerNorm(2)
    >>> _, params = init(jax.random.key(0), (-1, 2))
    >>> apply(params, jnp.array([[1.0, 3.0]]))
    Array([[-0.999995,  0.999995]], dtype=float32)
    """
    shape = (normalized_shape,) if is_int(normalized_shape) else tuple(normalized_shape)
    ints("nn.LayerNorm", 1, **{f"normalized_shape[{i}]": v for i, v in enumerate(shape)})
    if not shape:
        raise ConfigError("nn.LayerNorm: normalized_shape must not be empty")
    check_norm_args("nn.LayerNorm", 1, eps, None)
    k = len(shape)
    w_init, b_init = weight_init or ones_init, bias_init or zeros_init

    def check(in_shape: Any, dtype: Any) -> None:
        expect_array(in_shape)
        if len(in_shape) < k or not all(same_size(a, b) for a, b in zip(shape, in_shape[-k:], strict=True)):
            raise ShapeError(f"expects input (..., {', '.join(map(str, shape))}), got {format_shape(in_shape)}")

    def params(rng: Any, in_shape: Any, dtype: Any) -> dict:
        kw, kb = jax.random.split(rng)
        p = {"weight": w_init(kw, shape, dtype)}
        if bias:
            p["bias"] = b_init(kb, shape, dtype)
        return p

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        weight = b = None
        if elementwise_affine:
            win.same_dtype(x, p["weight"])
            weight = lift(p["weight"], x.ndim)
            b = lift(p["bias"], x.ndim) if bias else None
        return normalize(x, weight, b, eps, tuple(range(x.ndim - k, x.ndim)), None)[0]

    cfg = {"normalized_shape": shape, "eps": eps, "elementwise_affine": elementwise_affine, "bias": bias}
    return leaf(f"nn.LayerNorm({shape}, eps={eps}, elementwise_affine={elementwise_affine})", forward,
                kind="LayerNorm", params=params if elementwise_affine else None, check=check, config=cfg)


def GroupNorm(num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, *,
              weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.GroupNorm``: normalise each sample over groups of channels.

    The channels are split into ``num_groups`` consecutive groups; each group of each
    sample is normalised over its channels and spatial positions (biased variance), then
    the per-channel affine map applies.

    Args:
      num_groups: groups; must divide ``num_channels``.
      num_channels: channels ``C`` (dim 1).
      eps: added to the variance inside the square root.
      affine: learn per-channel ``weight`` (init 1) and ``bias`` (init 0).
      weight_init, bias_init: ``(key, shape, dtype) -> array``.

    Shape contract: ``(B, C, *)`` as in PyTorch; the batch dim is required (a rank-2 input
    is ``(B, C)``), so one example must be passed as ``x[None]``.

    >>> import jax, fnn
    >>> fnn.GroupNorm(2, 4).init(jax.random.key(0), (-1, 4, 5, 5))[1]['weight'].shape
    (4,)
    """
    ints("nn.GroupNorm", 1, num_groups=num_groups, num_channels=num_channels)
    if num_channels % num_groups:
        raise ConfigError(f"nn.GroupNorm: num_channels={num_channels} must be divisible by num_groups={num_groups}")
    check_norm_args("nn.GroupNorm", num_channels, eps, None)
    w_init, b_init = weight_init or ones_init, bias_init or zeros_init

    def check(shape: Any, dtype: Any) -> None:
        expect_array(shape)
        if len(shape) < 2 or not same_size(num_channels, shape[1]):
            raise ShapeError(f"expects input (B, {num_channels}, *), got {format_shape(shape)}")

    def params(rng: Any, shape: Any, dtype: Any) -> dict:
        kw, kb = jax.random.split(rng)
        return {"weight": w_init(kw, (num_channels,), dtype), "bias": b_init(kb, (num_channels,), dtype)}

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        g = jnp.reshape(x, (x.shape[0], num_groups, num_channels // num_groups, math.prod(x.shape[2:])))
        weight = bias = None
        if affine:
            win.same_dtype(x, p["weight"])
            weight, bias = (jnp.reshape(p[k], (1, num_groups, -1, 1)) for k in ("weight", "bias"))
        return jnp.reshape(normalize(g, weight, bias, eps, (2, 3), None)[0], x.shape)

    cfg = {"num_groups": num_groups, "num_channels": num_channels, "eps": eps, "affine": affine}
    return leaf(f"nn.GroupNorm({num_groups}, {num_channels}, eps={eps}, affine={affine})", forward, kind="GroupNorm",
                params=params if affine else None, check=check, config=cfg)


def _instance_norm(nd: int, num_features: int, eps: float, momentum: float | None, affine: bool,
                   track_running_stats: bool, weight_init: Initializer | None, bias_init: Initializer | None) -> Module:
    cls = f"InstanceNorm{nd}d"
    check_norm_args(f"nn.{cls}", num_features, eps, momentum)
    factor = 0.0 if momentum is None else momentum  # PyTorch passes momentum=None as 0
    letters = (str(num_features), *{1: ("L",), 2: ("H", "W"), 3: ("T", "H", "W")}[nd])
    check = win.check_layout(letters, channel_axis=-nd - 1, channels=num_features, spatial_axes=())
    w_init, b_init = weight_init or ones_init, bias_init or zeros_init

    def params(rng: Any, shape: Any, dtype: Any) -> dict:
        kw, kb = jax.random.split(rng)
        return {"weight": w_init(kw, (num_features,), dtype), "bias": b_init(kb, (num_features,), dtype)}

    def state(shape: Any, dtype: Any) -> dict:
        return {"running_mean": jnp.zeros((num_features,), dtype), "running_var": jnp.ones((num_features,), dtype)}

    def forward(p: Any, s: Any, x: Any, *, rng: Any, train: bool) -> tuple[Any, Any]:
        xb, single = win.batch_first(x, nd + 1)
        axes = tuple(range(2, xb.ndim))
        new_s = s
        weight = bias = None
        if affine:
            win.same_dtype(x, p["weight"])
            weight, bias = channel_view(p["weight"], xb.ndim), channel_view(p["bias"], xb.ndim)
        if train or not track_running_stats:
            n = math.prod(xb.shape[2:])
            if n <= 1 and train:
                raise ShapeError(f"expected more than 1 spatial element per channel when training, got input "
                                 f"{format_shape(x.shape)}")
            y, mean, var = normalize(xb, weight, bias, eps, axes, None)
            if train and track_running_stats:
                win.same_dtype(x, s["running_mean"])
                m = lax.stop_gradient(jnp.mean(mean, axis=(0,) + axes))
                v = lax.stop_gradient(jnp.mean(var, axis=(0,) + axes)) * (n / (n - 1))
                new_s = {"running_mean": (1 - factor) * s["running_mean"] + factor * m,
                         "running_var": (1 - factor) * s["running_var"] + factor * v}
        else:
            win.same_dtype(x, s["running_mean"])
            mean, var = channel_view(s["running_mean"], xb.ndim), channel_view(s["running_var"], xb.ndim)
            y = standardize(xb, mean, var, weight, bias, eps)
        return (y[0] if single else y), new_s

    cfg = {"num_features": num_features, "eps": eps, "momentum": momentum, "affine": affine,
           "track_running_stats": track_running_stats}
    name = (f"nn.{cls}({num_features}, eps={eps}, momentum={momentum}, affine={affine}, "
            f"track_running_stats={track_running_stats})")
    return leaf(name, forward, kind=cls, params=params if affine else None,
                state=state if track_running_stats else None, check=check, stateful=True, config=cfg)


def InstanceNorm1d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                   track_running_stats: bool = False, *, weight_init: Initializer | None = None,
                   bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.InstanceNorm1d``: normalise each sample's channels over ``L``.

    Args:
      num_features: channels ``C``.
      eps: added to the (biased) variance inside the square root.
      momentum: running-average factor for ``track_running_stats`` (None means 0, as in PyTorch).
      affine: learn per-channel ``weight`` (init 1) and ``bias`` (init 0); off by default.
      track_running_stats: keep ``running_mean``/``running_var`` (the batch average of the
        instance statistics, unbiased variance) and use them in evaluation (a stateful layer).
      weight_init, bias_init: ``(key, shape, dtype) -> array``.

    Shape contract: ``(C, L)`` or ``(B, C, L)``. Unlike PyTorch there is no
    ``num_batches_tracked`` state (PyTorch never updates it for instance norm).

    >>> import jax, fnn
    >>> fnn.InstanceNorm1d(3).init(jax.random.key(0), (-1, 3, 7))[0]
    (-1, 3, 7)
    """
    return _instance_norm(1, num_features, eps, momentum, affine, track_running_stats, weight_init, bias_init)


def InstanceNorm2d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                   track_running_stats: bool = False, *, weight_init: Initializer | None = None,
                   bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.InstanceNorm2d``: normalise each sample's channels over ``H, W``.

    Args:
      num_features: channels ``C``.
      eps: added to the (biased) variance inside the square root.
      momentum: running-average factor for ``track_running_stats`` (None means 0, as in PyTorch).
      affine: learn per-channel ``weight`` (init 1) and ``bias`` (init 0); off by default.
      track_running_stats: keep ``running_mean``/``running_var`` (the batch average of the
        instance statistics, unbiased variance) and use them in evaluation (a stateful layer).
      weight_init, bias_init: ``(key, shape, dtype) -> array``.

    Shape contract: ``(C, H, W)`` or ``(B, C, H, W)``. Unlike PyTorch there is no
    ``num_batches_tracked`` state (PyTorch never updates it for instance norm).

    >>> import jax, fnn
    >>> fnn.InstanceNorm2d(3).init(jax.random.key(0), (-1, 3, 5, 5))[0]
    (-1, 3, 5, 5)
    """
    return _instance_norm(2, num_features, eps, momentum, affine, track_running_stats, weight_init, bias_init)


def InstanceNorm3d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                   track_running_stats: bool = False, *, weight_init: Initializer | None = None,
                   bias_init: Initializer | None = None) -> Module:
    """PyTorch ``nn.InstanceNorm3d``: normalise each sample's channels over ``T, H, W``.

    Args:
      num_features: channels ``C``.
      eps: added to the (biased) variance inside the square root.
      momentum: running-average factor for ``track_running_stats`` (None means 0, as in PyTorch).
      affine: learn per-channel ``weight`` (init 1) and ``bias`` (init 0); off by default.
      track_running_stats: keep ``running_mean``/``running_var`` (the batch average of the
        instance statistics, unbiased variance) and use them in evaluation (a stateful layer).
      weight_init, bias_init: ``(key, shape, dtype) -> array``.

    Shape contract: ``(C, T, H, W)`` or ``(B, C, T, H, W)``. Unlike PyTorch there is no
    ``num_batches_tracked`` state (PyTorch never updates it for instance norm).

    >>> import jax, fnn
    >>> fnn.InstanceNorm3d(3).init(jax.random.key(0), (-1, 3, 2, 4, 4))[0]
    (-1, 3, 2, 4, 4)
    """
    return _instance_norm(3, num_features, eps, momentum, affine, track_running_stats, weight_init, bias_init)


__all__ = ["LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]
