"""Distance layers with parameters: torch7's Cosine, Euclidean, WeightedEuclidean and Kmeans.

Euclidean and WeightedEuclidean store their templates as torch7 did, **transposed** relative
to Linear: ``weight (in, out)``. Their gradients follow torch7's ``updateGradInput``, which
divides by ``y + 1e-7`` so a zero distance gives a zero (not NaN) gradient.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from fnn.core import Initializer, Module, expect_array, format_shape, leaf, lift, same_size, uniform
from fnn.core._args import check_number, ints
from fnn.errors import ConfigError, ShapeError

EUCLID_EPS = 1e-7  # torch7 adds it to the distance before dividing in the backward pass
COSINE_EPS = 1e-12  # torch7 adds it to both norms


@jax.custom_vjp
def _norm0(d: jax.Array) -> jax.Array:
    """‖d‖₂ over dim -2 (the input dim of an ``(..., in, out)`` difference)."""
    return jnp.sqrt(jnp.sum(d * d, axis=-2))


def _norm0_fwd(d):
    y = _norm0(d)
    return y, (d, y)


def _norm0_bwd(res, g):
    d, y = res
    return (d * jnp.expand_dims(g / (y + EUCLID_EPS), -2),)


_norm0.defvjp(_norm0_fwd, _norm0_bwd)


def _vector_input(in_size: int):
    def check(shape, dtype):
        expect_array(shape, (1, 2))
        if not same_size(in_size, shape[-1]):
            raise ShapeError(f"expects input ({in_size}) or (B, {in_size}), got {format_shape(shape)}")

    return check


def Euclidean(input_size: int, output_size: int, *, weight_init: Initializer | None = None) -> Module:
    """``y_j = ‖x − w_j‖₂``: the distance from the input to each of ``output_size`` templates.

    Args:
      input_size: size of the input vectors.
      output_size: number of templates.
      weight_init: ``(key, shape, dtype) -> array``; default torch7's ``U(±1/√in)``.

    Shape contract: ``(in)`` -> ``(out)`` or ``(B, in)`` -> ``(B, out)``.
    Params: ``weight (in, out)`` (column ``j`` is template ``w_j``; torch7's layout).

    >>> import jax, jax.numpy as jnp, fnn
    >>> params = {"weight": jnp.array([[0.0, 3.0], [0.0, 4.0]])}
    >>> fnn.Euclidean(2, 2).apply(params, jnp.zeros(2))
    Array([0., 5.], dtype=float32)
    """
    ints("nn.Euclidean", 1, input_size=input_size, output_size=output_size)
    w_init = weight_init or uniform(1.0 / math.sqrt(input_size))

    def forward(p, x, *, rng, train):
        d = x[..., :, None]
        return _norm0(d - lift(p["weight"], d.ndim))

    return leaf(f"nn.Euclidean({input_size} -> {output_size})", forward, kind="Euclidean",
                params=lambda rng, shape, dtype: {"weight": w_init(rng, (input_size, output_size), dtype)},
                check=_vector_input(input_size), config={"input_size": input_size, "output_size": output_size})


def WeightedEuclidean(input_size: int, output_size: int, *, weight_init: Initializer | None = None) -> Module:
    """``y_j = ‖c_j ⊙ (x − w_j)‖₂``: Euclidean distance with a learnable diagonal scale per template.

    Args:
      input_size: size of the input vectors.
      output_size: number of templates.
      weight_init: ``(key, shape, dtype) -> array``; default torch7's ``U(±1/√in)``.

    Shape contract: ``(in)`` -> ``(out)`` or ``(B, in)`` -> ``(B, out)``.
    Params: ``weight (in, out)`` (init as above), ``diagCov (in, out)`` (init 1); torch7's names.

    >>> import jax, jax.numpy as jnp, fnn
    >>> params = {"weight": jnp.zeros((2, 1)), "diagCov": jnp.array([[2.0], [0.5]])}
    >>> fnn.WeightedEuclidean(2, 1).apply(params, jnp.array([1.5, 4.0]))
    Array([3.6055512], dtype=float32)
    """
    ints("nn.WeightedEuclidean", 1, input_size=input_size, output_size=output_size)
    w_init = weight_init or uniform(1.0 / math.sqrt(input_size))

    def params(rng, shape, dtype):
        return {"weight": w_init(rng, (input_size, output_size), dtype),
                "diagCov": jnp.ones((input_size, output_size), dtype)}

    def forward(p, x, *, rng, train):
        d = x[..., :, None]
        return _norm0(lift(p["diagCov"], d.ndim) * (d - lift(p["weight"], d.ndim)))

    return leaf(f"nn.WeightedEuclidean({input_size} -> {output_size})", forward, kind="WeightedEuclidean",
                params=params, check=_vector_input(input_size),
                config={"input_size": input_size, "output_size": output_size})


def Cosine(input_size: int, output_size: int, *, weight_init: Initializer | None = None) -> Module:
    """``y_j = (w_j · x) / ((‖w_j‖ + 1e-12)(‖x‖ + 1e-12))``: cosine similarity to each template.

    Args:
      input_size: size of the input vectors.
      output_size: number of templates.
      weight_init: ``(key, shape, dtype) -> array``; default torch7's ``U(±1/√out)`` (the fan
        torch7 used is ``weight:size(1)``, the number of templates).

    Shape contract: ``(in)`` -> ``(out)`` or ``(B, in)`` -> ``(B, out)``.
    Params: ``weight (out, in)`` (Linear's layout, unlike Euclidean).

    >>> import jax, jax.numpy as jnp, fnn
    >>> params = {"weight": jnp.array([[1.0, 0.0], [1.0, 1.0]])}
    >>> fnn.Cosine(2, 2).apply(params, jnp.array([2.0, 0.0]))
    Array([1.       , 0.7071068], dtype=float32)
    """
    ints("nn.Cosine", 1, input_size=input_size, output_size=output_size)
    w_init = weight_init or uniform(1.0 / math.sqrt(output_size))

    def forward(p, x, *, rng, train):
        w = p["weight"]
        wn = jnp.sqrt(jnp.sum(w * w, axis=1)) + COSINE_EPS
        xn = jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True)) + COSINE_EPS
        y = jnp.matmul(x, w.T)
        return y / lift(wn, y.ndim) / xn

    return leaf(f"nn.Cosine({input_size} -> {output_size})", forward, kind="Cosine",
                params=lambda rng, shape, dtype: {"weight": w_init(rng, (output_size, input_size), dtype)},
                check=_vector_input(input_size), config={"input_size": input_size, "output_size": output_size})


def Kmeans(k: int, dim: int, scale: float = 1.0, *, weight_init: Initializer | None = None) -> Module:
    """Online k-means: outputs the index of the nearest centroid; training moves the centroids.

    The centroids are **state**, not params (gradients do not train them): in training mode
    (``train=True``) every call moves each centroid towards the mean of the samples assigned
    to it, ``c_k ← c_k + scale · Σ_{i→k} (x_i − c_k) / (n_k + 1e-7)`` (``scale = 1``: Lloyd's
    step). That is torch7's ``backward`` followed by ``updateParameters(lr)`` with
    ``scale = lr · scale_torch7``. Evaluation leaves the state unchanged.

    Args:
      k: the number of clusters.
      dim: the size of the samples.
      scale: the step size of the centroid update, > 0.
      weight_init: ``(key, shape, dtype) -> array`` for the centroids; default torch7's ``U(±1)``.
        (torch7's ``initRandom`` / ``initKmeansPlus`` are :func:`fnn.layers.kmeans_init_random` /
        :func:`fnn.layers.kmeans_init_plus`: put their result in ``state['weight']``.)

    Shape contract: ``(B, dim)`` float -> ``(B,)`` int32, 0-based cluster indices.
    State: ``weight (k, dim)`` (the centroids), ``cluster_sample_count (k,)`` and ``loss ()``
    (the within-cluster sum of squared distances of the last training batch).

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.Kmeans(2, 1).stateful
    >>> _, params, state = init(jax.random.key(0), (-1, 1))
    >>> state = {**state, "weight": jnp.array([[0.0], [10.0]])}
    >>> idx, state = apply(params, state, jnp.array([[1.0], [9.0], [3.0]]), train=True)
    >>> idx, state["weight"].round(3)
    (Array([0, 1, 0], dtype=int32), Array([[2.],
           [9.]], dtype=float32))
    """
    ints("nn.Kmeans", 1, k=k, dim=dim)
    s = check_number("nn.Kmeans", "scale", scale, low=0, strict=True)
    w_init = weight_init or uniform(1.0)

    def check(shape, dtype):
        expect_array(shape, (2,))
        if not same_size(dim, shape[-1]):
            raise ShapeError(f"expects input (B, {dim}), got {format_shape(shape)}")

    def state(shape, dtype):
        # the centroids are drawn from init's key below; zeros here fix the structure
        return {"weight": jnp.zeros((k, dim), dtype), "cluster_sample_count": jnp.zeros((k,), dtype),
                "loss": jnp.zeros((), dtype)}

    def forward(p, st, x, *, rng, train):
        c = st["weight"]
        d2 = jnp.sum((x[:, None, :] - c[None, :, :]) ** 2, axis=-1)
        idx = jnp.argmin(d2, axis=1).astype(jnp.int32)
        if not train:
            return idx, st
        onehot = jax.nn.one_hot(idx, k, dtype=x.dtype)
        counts = jnp.sum(onehot, axis=0)
        step = (onehot.T @ x - counts[:, None] * c) / (counts[:, None] + 1e-7)
        new = {"weight": c + s * step, "cluster_sample_count": counts, "loss": jnp.sum(jnp.min(d2, axis=1))}
        return idx, jax.lax.stop_gradient(new)

    module = leaf(f"nn.Kmeans({k}, {dim})", forward, kind="Kmeans", state=state, check=check, stateful=True,
                  config={"k": k, "dim": dim, "scale": s})

    def init_fn(rng, shape, dtype):
        out_shape, out_dtype, p, st = module.init_fn(rng, shape, dtype)
        st = {**st, "weight": w_init(rng, (k, dim), st["weight"].dtype)}
        return out_shape, out_dtype, p, st

    return dataclasses.replace(module, init_fn=init_fn)


def kmeans_init_random(x: jax.Array, k: int, key: jax.Array) -> jax.Array:
    """torch7's ``Kmeans:initRandom``: ``k`` centroids drawn from the samples (with replacement).

    Put them in the state: ``state = {**state, "weight": kmeans_init_random(x, k, key)}``.

    >>> import jax, jax.numpy as jnp
    >>> c = kmeans_init_random(jnp.arange(8.0).reshape(4, 2), 3, jax.random.key(0))
    >>> c.shape, bool(jnp.all(c[:, 1] == c[:, 0] + 1))
    ((3, 2), True)
    """
    ints("kmeans_init_random", 1, k=k)
    if x.ndim != 2 or x.shape[0] < k:
        raise ShapeError(f"kmeans_init_random expects (n, dim) samples with n >= k = {k}, got {format_shape(x.shape)}")
    return x[jax.random.randint(key, (k,), 0, x.shape[0])]


def kmeans_init_plus(x: jax.Array, k: int, key: jax.Array, p: float = 0.95) -> jax.Array:
    """torch7's ``Kmeans:initKmeansPlus``: the first centroid is a random sample; each next one
    is drawn uniformly from the ``ceil((1 − p)·n)`` samples (at least 1) farthest from the
    centroids chosen so far (squared Euclidean distance to the nearest one).

    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([[0.0], [0.1], [10.0]])
    >>> c = kmeans_init_plus(x, 2, jax.random.key(0), p=1.0)
    >>> bool(jnp.any(c[:, 0] == 10.0))   # the far sample is always one of the two
    True
    """
    ints("kmeans_init_plus", 1, k=k)
    check_number("kmeans_init_plus", "p", p, low=0)
    if p > 1:
        raise ConfigError(f"kmeans_init_plus: p must be in [0, 1], got {p!r}")
    if x.ndim != 2 or x.shape[0] < k:
        raise ShapeError(f"kmeans_init_plus expects (n, dim) samples with n >= k = {k}, got {format_shape(x.shape)}")
    n = x.shape[0]
    top = max(1, math.ceil((1 - p) * n))
    keys = jax.random.split(key, k)
    chosen = [x[jax.random.randint(keys[0], (), 0, n)]]
    dist = jnp.full((n,), jnp.inf, x.dtype)
    for i in range(1, k):
        dist = jnp.minimum(dist, jnp.sum((x - chosen[-1][None, :]) ** 2, axis=1))
        order = jnp.argsort(-dist, stable=True)
        chosen.append(x[order[jax.random.randint(keys[i], (), 0, top)]])
    return jnp.stack(chosen)


__all__ = ["Euclidean", "WeightedEuclidean", "Cosine", "Kmeans", "kmeans_init_random", "kmeans_init_plus"]
