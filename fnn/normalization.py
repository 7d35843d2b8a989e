"""Normalisation layers: torch7's BatchNormalization family and PyTorch's BatchNorm1d/2d/3d,
LayerNorm, GroupNorm and InstanceNorm1d/2d/3d.

The batch-norm layers are stateful leaves: params ``weight``, ``bias`` (when affine) and
state ``running_mean``, ``running_var`` (PyTorch's aliases also ``num_batches_tracked``).
Use the stateful pair::

    init, apply = fnn.SpatialBatchNormalization(16).stateful
    out_shape, params, state = init(key, (-1, 16, 8, 8))
    y, state = apply(params, state, x, train=True)      # updates the running statistics
    y, _ = apply(params, state, x)                      # evaluation: uses them

torch7 semantics (catalogue §10.17): ``weight`` starts ``U(0, 1)`` (PyTorch: 1), ``bias`` 0;
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

from fnn import _windows as win
from fnn.core import Module, expect_array, format_shape, leaf, lift, same_size
from fnn.errors import ConfigError, FnnError, ShapeError

Initializer = win.Initializer


def _ones(key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    return jnp.ones(shape, dtype)


def _zeros(key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    return jnp.zeros(shape, dtype)


def _unit_uniform(key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    return jax.random.uniform(key, shape, dtype)


def _channel(v: Any, ndim: int) -> Any:
    """A per-channel vector shaped ``(1, C, 1, ...)`` for a rank-``ndim`` batch."""
    return jnp.reshape(v, (1, -1) + (1,) * (ndim - 2))


def _pmean(v: Any, axis_name: str | None) -> Any:
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


def _axis_size(axis_name: str | None) -> int:
    if axis_name is None:
        return 1
    try:
        return int(lax.psum(1, axis_name))
    except NameError:
        _pmean(0.0, axis_name)  # raises the clear error
        raise


def _config_common(layer: str, n: int, eps: float, momentum: float | None) -> None:
    win.ints(layer, 1, num_features=n)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
        raise ConfigError(f"{layer}: eps must be a non-negative number, got {eps!r}")
    if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float))
                                 or not 0 <= momentum <= 1):
        raise ConfigError(f"{layer}: momentum must be in [0, 1], got {momentum!r}")


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
        axes = (0,) + tuple(range(2, xb.ndim))
        use_batch = train or not track
        new_s = s
        if use_batch:
            size = _axis_size(axis_name)
            total = math.prod(xb.shape[a] for a in axes) * size
            if torch7 and train and xb.shape[0] * size == 1:
                use_batch = False  # torch7: a batch of one normalises with the running stats, no update
            elif total <= 1:
                raise ShapeError(f"expected more than 1 value per channel when training, got input "
                                 f"{format_shape(x.shape)}")
        if use_batch:
            mean = _pmean(jnp.mean(xb, axis=axes), axis_name)
            var = _pmean(jnp.mean(jnp.square(xb - _channel(mean, xb.ndim)), axis=axes), axis_name)
            if train and track:
                factor = momentum
                if count:
                    nbt = s["num_batches_tracked"] + 1
                    if momentum is None:
                        factor = 1.0 / nbt.astype(mean.dtype)
                stat_m = lax.stop_gradient(mean)
                stat_v = lax.stop_gradient(var) * (total / (total - 1))
                new_s = {"running_mean": (1 - factor) * s["running_mean"] + factor * stat_m,
                         "running_var": (1 - factor) * s["running_var"] + factor * stat_v}
                if count:
                    new_s["num_batches_tracked"] = nbt
        else:
            mean, var = s["running_mean"], s["running_var"]
        y = (xb - _channel(mean, xb.ndim)) * _channel(lax.rsqrt(var + eps), xb.ndim)
        if affine:
            y = y * _channel(p["weight"], xb.ndim) + _channel(p["bias"], xb.ndim)
        return (y[0] if single else y), new_s

    return leaf(name, forward, kind=kind, params=params if affine else None, state=state if track else None,
                check=check, stateful=True, config=config)


def _torch7_bn(cls: str, n_dim: int, letters: tuple[str, ...], n: int, eps: float, momentum: float, affine: bool,
               axis_name: str | None, weight_init: Initializer | None, bias_init: Initializer | None) -> Module:
    layer = f"nn.{cls}"
    _config_common(layer, n, eps, momentum)
    if momentum is None:
        raise ConfigError(f"{layer}: momentum must be a number in [0, 1]")
    one = win.layout_text((str(n), *letters))
    batch = win.layout_text(("B", str(n), *letters))
    cfg = {"n": n, "eps": eps, "momentum": momentum, "affine": affine, "axis_name": axis_name}
    return _batch_norm(
        f"{layer} ({n_dim}D) ({n})", cls, cfg, n=n, eps=eps, momentum=momentum, affine=affine, axis_name=axis_name,
        weight_init=weight_init or _unit_uniform, bias_init=bias_init or _zeros, batched_ranks=(n_dim,),
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
    _config_common(f"nn.{cls}", num_features, eps, momentum)
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
        weight_init=weight_init or _ones, bias_init=bias_init or _zeros, batched_ranks=ranks, single_rank=single,
        expected=expected, torch7=False, track=track_running_stats, count=track_running_stats,
    )


_BN_DOC = """PyTorch ``nn.BatchNorm{nd}d`` (PyTorch semantics) on {shapes}.

    Differs from torch7's {torch7}: ``weight`` starts at 1; a training batch must hold
    more than one value per channel (ShapeError otherwise, as PyTorch's ValueError);
    ``momentum=None`` gives PyTorch's cumulative average; ``track_running_stats=False``
    keeps no state and always uses batch statistics. State: ``running_mean``,
    ``running_var`` and ``num_batches_tracked`` (int32), as a PyTorch ``state_dict``.{extra}

    Args:
      num_features: channels ``C``.
      eps: added to the variance inside the square root.
      momentum: running-average factor, or None for a cumulative average.
      affine: learn ``weight`` and ``bias``.
      track_running_stats: keep running statistics for evaluation.
      axis_name: average the batch statistics over this mapped axis (synchronised BN).
      weight_init, bias_init: ``(key, shape, dtype) -> array``; default 1 and 0.

    >>> import jax, fnn
    >>> out_shape, params, state = fnn.BatchNorm{nd}d(4).stateful.init(jax.random.key(0), {example})
    >>> sorted(state), params['weight']
    (['num_batches_tracked', 'running_mean', 'running_var'], Array([1., 1., 1., 1.], dtype=float32))
"""


def BatchNorm1d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                track_running_stats: bool = True, *, axis_name: str | None = None,
                weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    return _torch_bn(1, num_features, eps, momentum, affine, track_running_stats, axis_name, weight_init, bias_init)


def BatchNorm2d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                track_running_stats: bool = True, *, axis_name: str | None = None,
                weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    return _torch_bn(2, num_features, eps, momentum, affine, track_running_stats, axis_name, weight_init, bias_init)


def BatchNorm3d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                track_running_stats: bool = True, *, axis_name: str | None = None,
                weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    return _torch_bn(3, num_features, eps, momentum, affine, track_running_stats, axis_name, weight_init, bias_init)


BatchNorm1d.__doc__ = _BN_DOC.format(
    nd=1, shapes="``(B, C)`` or ``(B, C, L)``", torch7="BatchNormalization", example="(-1, 4)",
    extra="\n    One example ``(C,)`` is accepted in evaluation; a ``(B, C, L)`` batch cannot be\n"
          "    ``vmap``-ed into ``(C, L)`` examples (that rank means ``(B, C)``).")
BatchNorm2d.__doc__ = _BN_DOC.format(
    nd=2, shapes="``(B, C, H, W)`` (one example ``(C, H, W)`` in evaluation)", torch7="SpatialBatchNormalization",
    example="(-1, 4, 8, 8)", extra="")
BatchNorm3d.__doc__ = _BN_DOC.format(
    nd=3, shapes="``(B, C, T, H, W)`` (one example ``(C, T, H, W)`` in evaluation)",
    torch7="VolumetricBatchNormalization", example="(-1, 4, 2, 3, 3)", extra="")


# --------------------------------------------------------------------------- per-sample normalisations


def _moments(x: Any, axes: tuple[int, ...]) -> tuple[Any, Any]:
    mean = jnp.mean(x, axis=axes, keepdims=True)
    return mean, jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)


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
    shape = (normalized_shape,) if win._is_int(normalized_shape) else tuple(normalized_shape)
    win.ints("nn.LayerNorm", 1, **{f"normalized_shape[{i}]": v for i, v in enumerate(shape)})
    if not shape:
        raise ConfigError("nn.LayerNorm: normalized_shape must not be empty")
    _config_common("nn.LayerNorm", 1, eps, None)
    k = len(shape)
    w_init, b_init = weight_init or _ones, bias_init or _zeros

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
        mean, var = _moments(x, tuple(range(x.ndim - k, x.ndim)))
        y = (x - mean) * lax.rsqrt(var + eps)
        if elementwise_affine:
            win.same_dtype(x, p["weight"])
            y = y * lift(p["weight"], y.ndim)
            if bias:
                y = y + lift(p["bias"], y.ndim)
        return y

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
    win.ints("nn.GroupNorm", 1, num_groups=num_groups, num_channels=num_channels)
    if num_channels % num_groups:
        raise ConfigError(f"nn.GroupNorm: num_channels={num_channels} must be divisible by num_groups={num_groups}")
    _config_common("nn.GroupNorm", num_channels, eps, None)
    w_init, b_init = weight_init or _ones, bias_init or _zeros

    def check(shape: Any, dtype: Any) -> None:
        expect_array(shape)
        if len(shape) < 2 or not same_size(num_channels, shape[1]):
            raise ShapeError(f"expects input (B, {num_channels}, *), got {format_shape(shape)}")

    def params(rng: Any, shape: Any, dtype: Any) -> dict:
        kw, kb = jax.random.split(rng)
        return {"weight": w_init(kw, (num_channels,), dtype), "bias": b_init(kb, (num_channels,), dtype)}

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        g = jnp.reshape(x, (x.shape[0], num_groups, -1))
        mean, var = _moments(g, (2,))
        y = jnp.reshape((g - mean) * lax.rsqrt(var + eps), x.shape)
        if affine:
            win.same_dtype(x, p["weight"])
            y = y * _channel(p["weight"], y.ndim) + _channel(p["bias"], y.ndim)
        return y

    cfg = {"num_groups": num_groups, "num_channels": num_channels, "eps": eps, "affine": affine}
    return leaf(f"nn.GroupNorm({num_groups}, {num_channels}, eps={eps}, affine={affine})", forward, kind="GroupNorm",
                params=params if affine else None, check=check, config=cfg)


def _instance_norm(nd: int, num_features: int, eps: float, momentum: float | None, affine: bool,
                   track_running_stats: bool, weight_init: Initializer | None, bias_init: Initializer | None) -> Module:
    cls = f"InstanceNorm{nd}d"
    _config_common(f"nn.{cls}", num_features, eps, momentum)
    factor = 0.0 if momentum is None else momentum  # PyTorch passes momentum=None as 0
    letters = (str(num_features), *{1: ("L",), 2: ("H", "W"), 3: ("T", "H", "W")}[nd])
    check = win.check_layout(letters, channel_axis=-nd - 1, channels=num_features, spatial_axes=())
    w_init, b_init = weight_init or _ones, bias_init or _zeros

    def params(rng: Any, shape: Any, dtype: Any) -> dict:
        kw, kb = jax.random.split(rng)
        return {"weight": w_init(kw, (num_features,), dtype), "bias": b_init(kb, (num_features,), dtype)}

    def state(shape: Any, dtype: Any) -> dict:
        return {"running_mean": jnp.zeros((num_features,), dtype), "running_var": jnp.ones((num_features,), dtype)}

    def forward(p: Any, s: Any, x: Any, *, rng: Any, train: bool) -> tuple[Any, Any]:
        xb, single = win.batch_first(x, nd + 1)
        axes = tuple(range(2, xb.ndim))
        new_s = s
        if train or not track_running_stats:
            n = math.prod(xb.shape[2:])
            if n <= 1 and train:
                raise ShapeError(f"expected more than 1 spatial element per channel when training, got input "
                                 f"{format_shape(x.shape)}")
            mean, var = _moments(xb, axes)
            if train and track_running_stats:
                win.same_dtype(x, s["running_mean"])
                m = lax.stop_gradient(jnp.mean(mean, axis=(0,) + axes))
                v = lax.stop_gradient(jnp.mean(var, axis=(0,) + axes)) * (n / (n - 1))
                new_s = {"running_mean": (1 - factor) * s["running_mean"] + factor * m,
                         "running_var": (1 - factor) * s["running_var"] + factor * v}
        else:
            win.same_dtype(x, s["running_mean"])
            mean, var = _channel(s["running_mean"], xb.ndim), _channel(s["running_var"], xb.ndim)
        y = (xb - mean) * lax.rsqrt(var + eps)
        if affine:
            win.same_dtype(x, p["weight"])
            y = y * _channel(p["weight"], y.ndim) + _channel(p["bias"], y.ndim)
        return (y[0] if single else y), new_s

    cfg = {"num_features": num_features, "eps": eps, "momentum": momentum, "affine": affine,
           "track_running_stats": track_running_stats}
    name = (f"nn.{cls}({num_features}, eps={eps}, momentum={momentum}, affine={affine}, "
            f"track_running_stats={track_running_stats})")
    return leaf(name, forward, kind=cls, params=params if affine else None,
                state=state if track_running_stats else None, check=check, stateful=True, config=cfg)


_IN_DOC = """PyTorch ``nn.InstanceNorm{nd}d``: normalise each sample's channels over {over}.

    Args:
      num_features: channels ``C``.
      eps: added to the (biased) variance inside the square root.
      momentum: running-average factor for ``track_running_stats`` (None means 0, as PyTorch).
      affine: learn per-channel ``weight`` (init 1) and ``bias`` (init 0); off by default.
      track_running_stats: keep ``running_mean``/``running_var`` (the batch average of the
        instance statistics, unbiased variance) and use them in evaluation.
      weight_init, bias_init: ``(key, shape, dtype) -> array``.

    Shape contract: ``{one}`` or ``(B, {batched})``. Unlike PyTorch there is no
    ``num_batches_tracked`` state (PyTorch never updates it for instance norm).

    >>> import jax, fnn
    >>> fnn.InstanceNorm{nd}d(3).init(jax.random.key(0), {example})[0]
    {example}
"""


def InstanceNorm1d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                   track_running_stats: bool = False, *, weight_init: Initializer | None = None,
                   bias_init: Initializer | None = None) -> Module:
    return _instance_norm(1, num_features, eps, momentum, affine, track_running_stats, weight_init, bias_init)


def InstanceNorm2d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                   track_running_stats: bool = False, *, weight_init: Initializer | None = None,
                   bias_init: Initializer | None = None) -> Module:
    return _instance_norm(2, num_features, eps, momentum, affine, track_running_stats, weight_init, bias_init)


def InstanceNorm3d(num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                   track_running_stats: bool = False, *, weight_init: Initializer | None = None,
                   bias_init: Initializer | None = None) -> Module:
    return _instance_norm(3, num_features, eps, momentum, affine, track_running_stats, weight_init, bias_init)


for _nd, _fn in ((1, InstanceNorm1d), (2, InstanceNorm2d), (3, InstanceNorm3d)):
    _sp = {1: "L", 2: "H, W", 3: "T, H, W"}[_nd]
    _fn.__doc__ = _IN_DOC.format(nd=_nd, over=f"({_sp})", one=f"(C, {_sp})", batched=f"C, {_sp}",
                                 example={1: "(-1, 3, 7)", 2: "(-1, 3, 5, 5)", 3: "(-1, 3, 2, 4, 4)"}[_nd])



__all__ = [
    "BatchNormalization", "SpatialBatchNormalization", "VolumetricBatchNormalization", "BatchNorm1d", "BatchNorm2d",
    "BatchNorm3d", "LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
]
LAYERS = ["BatchNormalization", "SpatialBatchNormalization", "VolumetricBatchNormalization", "LayerNorm", "GroupNorm",
          "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]
