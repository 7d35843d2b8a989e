"""Layers on an Explicit mesh: keeping a batch-sharded input's layout through reshapes and gathers.

Under ``jax.sharding.AxisType.Explicit`` (the default of ``jax.make_mesh``) an array's layout
is part of its type, and JAX refuses the few operations whose output layout it cannot infer
(a gather from a replicated table by sharded indices, a reshape it cannot map dimension by
dimension). These helpers say it: the output keeps the input's leading (batch) sharding. For
any other input (no mesh, an Auto mesh, a replicated input) they are the plain operation.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P


def batch_axis(x: Any) -> Any:
    """The Explicit mesh axis (or axes) ``x``'s leading dimension is sharded over, else None."""
    try:
        sharding = jax.typeof(x).sharding
    except (TypeError, AttributeError):  # not an array
        return None
    spec, mesh = getattr(sharding, "spec", None), getattr(sharding, "mesh", None)
    if not spec or spec[0] is None or mesh is None or mesh.empty:
        return None
    names = (spec[0],) if isinstance(spec[0], str) else tuple(spec[0])
    types = dict(zip(mesh.axis_names, mesh.axis_types, strict=True))
    return spec[0] if any(types.get(a) == AxisType.Explicit for a in names) else None


def is_batch_sharded(x: Any) -> bool:
    """Whether ``x``'s leading dimension is sharded over an Explicit mesh axis (see :func:`batch_axis`)."""
    return batch_axis(x) is not None


def _leading(x: Any, ndim: int) -> Any:
    """The sharding of an ``ndim``-dimensional result that keeps ``x``'s leading sharding, else None."""
    axis = batch_axis(x)
    if axis is None:
        return None
    return jax.typeof(x).sharding.update(spec=P(axis, *([None] * (ndim - 1))))


def reshape(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``jnp.reshape(x, shape)``; a batch-sharded ``x`` whose leading size is kept stays sharded so."""
    shape = tuple(shape)
    out = _leading(x, len(shape)) if shape and shape[0] == x.shape[0] else None
    return jnp.reshape(x, shape) if out is None else jnp.reshape(x, shape, out_sharding=out)


def take_rows(table: jax.Array, idx: jax.Array, **kwargs: Any) -> jax.Array:
    """``table.at[idx].get(**kwargs)`` (rows of a table, ``(*idx.shape, *table.shape[1:])``); with
    batch-sharded indices the rows are sharded as the indices are."""
    out = _leading(idx, idx.ndim + table.ndim - 1)
    return table.at[idx].get(**kwargs) if out is None else table.at[idx].get(out_sharding=out, **kwargs)



def scatter(target: jax.Array, idx: jax.Array, values: Any, op: str = "add", **kwargs: Any) -> jax.Array:
    """``target.at[idx].<op>(values, **kwargs)`` (``op``: ``"add"`` or ``"set"``); with batch-sharded
    indices into a replicated ``target`` the result is replicated (the updates of every shard summed)."""
    ref = getattr(target.at[idx], op)
    if batch_axis(idx) is None:
        return ref(values, **kwargs)
    return ref(values, out_sharding=jax.typeof(idx).sharding.update(spec=P()), **kwargs)


__all__: list[str] = []
