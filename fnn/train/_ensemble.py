"""vmap over models: ensembles (:func:`ensemble_init`) and per-example gradients.

An fnn model is a pair of pure functions, so ``jax.vmap`` maps it over anything: over init
keys it builds an ensemble whose members are stacked along a new leading axis, over examples
it gives per-example gradients. Nothing here needs more than one device.

Per-example gradients are ``vmap(grad(loss))`` over examples, each seen as a batch of one
(the model is batched; ``x[None]`` adds the batch axis back):

>>> import jax, jax.numpy as jnp, fnn
>>> model, crit = fnn.Linear(3, 2), fnn.MSECriterion()
>>> _, params = model.init(jax.random.key(0), (-1, 3))
>>> x, y = jnp.ones((5, 3)), jnp.zeros((5, 2))
>>> def loss(p, xi, yi):
...     return crit(model.apply(p, xi[None]), yi[None])
>>> per_example = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(params, x, y)
>>> per_example["weight"].shape
(5, 2, 3)

The mean of the per-example gradients is the gradient of the batch's mean loss. With state
(BatchNorm in train mode) an example alone has no batch statistics: per-example gradients
need eval mode there, or a model without batch statistics.

An ensemble trains with one vmapped step over its members (``in_axes=0`` for params and
optimizer state; all members see the same batch):

>>> import optax
>>> keys = jax.random.split(jax.random.key(1), 4)
>>> _, members = fnn.ensemble_init(model, keys, (-1, 3))
>>> opt = optax.sgd(0.1)
>>> def step(p, o):
...     g = jax.grad(lambda q: crit(model.apply(q, x), y))(p)
...     u, o = opt.update(g, o, p)
...     return optax.apply_updates(p, u), o
>>> members, opt_state = jax.jit(jax.vmap(step))(members, jax.vmap(opt.init)(members))
>>> members["weight"].shape
(4, 2, 3)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import Module, StatefulPair
from fnn.errors import ConfigError

PyTree = Any


def _check_keys(keys: Any) -> jax.Array:
    keys = jnp.asarray(keys) if not isinstance(keys, jax.Array) else keys
    typed = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
    if typed and keys.ndim == 1 and keys.shape[0] >= 1:
        return keys
    if not typed and keys.dtype == jnp.uint32 and keys.ndim == 2 and keys.shape[0] >= 1:
        return keys  # raw key data, one row per member (jax.random.PRNGKey's kind)
    raise ConfigError(
        "ensemble_init: keys must be a 1-D array of PRNG keys, one per member (e.g. "
        f"jax.random.split(jax.random.key(0), n)), got dtype {keys.dtype} and shape {tuple(keys.shape)}"
    )


def ensemble_init(model: Module | StatefulPair, keys: jax.Array, input_shape: Any, dtype: Any = None) -> tuple:
    """Initialises one member per key, stacked: ``jax.vmap`` of ``model.init`` over ``keys``.

    Member ``i`` (``jax.tree.map(lambda a: a[i], params)``) equals ``model.init(keys[i],
    input_shape, dtype)`` exactly. Train the members together with one vmapped step (see
    :mod:`fnn.train._ensemble`), and run them with ``jax.vmap(model.apply, in_axes=(0, None))``.

    Args:
      model: a :class:`~fnn.core.Module` (returns ``(out_shape, params)``), or its
        ``model.stateful`` view (returns ``(out_shape, params, state)``).
      keys: PRNG keys ``(M,)``, one per member (``jax.random.split(key, M)``).
      input_shape: the input shape, as for ``init``.
      dtype: the params' dtype, as for ``init``.

    Returns:
      ``(out_shape, params)`` (or ``(out_shape, params, state)``), every array with a new
      leading axis of size ``M``; ``out_shape`` is one member's.

    Raises:
      ConfigError: ``keys`` is not a 1-D array of keys, or ``model`` is not a model.

    >>> import jax, fnn
    >>> model = fnn.Linear(3, 2)
    >>> keys = jax.random.split(jax.random.key(0), 5)
    >>> out_shape, params = fnn.ensemble_init(model, keys, (-1, 3))
    >>> out_shape, params["weight"].shape
    ((-1, 2), (5, 2, 3))
    >>> bool((params["weight"][3] == model.init(keys[3], (-1, 3))[1]["weight"]).all())
    True
    """
    if not isinstance(model, (Module, StatefulPair)):
        raise ConfigError(f"ensemble_init: model must be an fnn Module (or its .stateful), got {type(model).__name__}")
    keys = _check_keys(keys)
    shapes: list[Any] = []

    def one(key):
        out = model.init(key, input_shape, dtype)
        shapes.append(out[0])  # static: the same for every member
        return out[1:]

    trees = jax.vmap(one)(keys)
    return (shapes[0], *trees)


__all__ = ["ensemble_init"]
