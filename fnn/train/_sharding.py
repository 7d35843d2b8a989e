"""Data parallelism on JAX's own SPMD engine: placing pytrees on a device mesh.

fnn has no distributed trainer of its own. ``jax.jit`` partitions a step over a
:class:`jax.sharding.Mesh` when its inputs say how they are laid out: the params, the model
state and the optimizer state *replicated* (every device holds all of them), each batch
*sharded* over one mesh axis (each device holds ``batch_size / devices`` examples). XLA then
runs the forward and backward pass of each device's examples on that device and sums the
gradients with one all-reduce; batch statistics (BatchNorm) are global, because the program
is still the single-device program, partitioned.

* :func:`replicate` and :func:`shard_batch` place a pytree (what ``fit(..., mesh=mesh)`` and
  ``make_train_step(..., mesh=mesh)`` do for you).
* :func:`batch_sharding` is the sharding of a batch, :func:`constrain` pins a traced value to
  one inside a jitted function, for both kinds of mesh axes: ``AxisType.Auto`` (XLA
  propagates shardings) and ``AxisType.Explicit`` (the default of ``jax.make_mesh``, where
  shardings are part of the types).
* :func:`check_mesh` is every check ``fit`` makes before it places anything: one process, a
  known axis, batch sizes that divide by the devices on it.

Nothing here touches a device at import time.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from fnn.errors import ConfigError

PyTree = Any


def _check_axis(where: str, mesh: Any, axis: str | None) -> None:
    if not isinstance(mesh, Mesh):
        raise ConfigError(f"{where}: mesh must be a jax.sharding.Mesh (e.g. jax.make_mesh((8,), ('data',))), "
                          f"got {type(mesh).__name__}")
    if axis is not None and axis not in mesh.axis_names:
        raise ConfigError(f"{where}: the mesh has axes {tuple(mesh.axis_names)}, not the data axis {axis!r}; "
                          f"pass data_axis= one of them")


def axis_devices(mesh: Mesh, axis: str) -> int:
    """How many devices the mesh has along ``axis`` (the number of shards of a batch)."""
    return int(mesh.shape[axis])


def batch_sharding(mesh: Mesh, axis: str = "data") -> NamedSharding:
    """The sharding of a batch: the leading (example) dimension split over ``axis``, the rest replicated.

    >>> import jax, fnn
    >>> mesh = jax.make_mesh((1,), ("data",))
    >>> fnn.train.batch_sharding(mesh).spec
    P('data',)
    """
    _check_axis("batch_sharding", mesh, axis)
    return NamedSharding(mesh, P(axis))


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    """``tree`` with every array replicated on every device of ``mesh`` (``PartitionSpec()``).

    Params, model state and optimizer state are replicated for data-parallel training. Arrays
    already placed so are returned as they are (no copy).

    Args:
      tree: a pytree of arrays (numpy arrays, jax arrays, PRNG keys).
      mesh: a :class:`jax.sharding.Mesh`.

    >>> import jax, jax.numpy as jnp, fnn
    >>> mesh = jax.make_mesh((1,), ("data",))
    >>> fnn.replicate({"w": jnp.ones((2, 3))}, mesh)["w"].sharding.spec
    P()
    """
    _check_axis("replicate", mesh, None)
    return jax.device_put(tree, NamedSharding(mesh, P()))


def shard_batch(tree: PyTree, mesh: Mesh, axis: str = "data") -> PyTree:
    """``tree`` with every array's leading (example) dimension split over the mesh axis ``axis``.

    Args:
      tree: a pytree of arrays with a common leading dimension (a batch, or a whole dataset).
      mesh: a :class:`jax.sharding.Mesh`.
      axis: the mesh axis the examples are split over.

    Raises:
      ConfigError: ``axis`` is not an axis of ``mesh``, or a leading dimension does not divide
        by the number of devices on it.

    >>> import jax, jax.numpy as jnp, fnn
    >>> mesh = jax.make_mesh((1,), ("data",))
    >>> fnn.shard_batch(jnp.ones((4, 3)), mesh, "data").sharding.spec
    P('data',)
    """
    _check_axis("shard_batch", mesh, axis)
    k = axis_devices(mesh, axis)
    for leaf in jax.tree.leaves(tree):
        n = leaf.shape[0] if getattr(leaf, "ndim", 0) else None
        if n is None or n % k:
            raise ConfigError(f"shard_batch: a leading dimension of {n} examples does not divide over the {k} "
                              f"devices of mesh axis {axis!r} (shape {tuple(getattr(leaf, 'shape', ()))})")
    return jax.device_put(tree, NamedSharding(mesh, P(axis)))


def _explicit(sharding: NamedSharding) -> bool:
    """Whether the mesh axes the sharding uses are Explicit ones (shardings in the types)."""
    mesh = sharding.mesh
    types = dict(zip(mesh.axis_names, mesh.axis_types, strict=True))
    used = [a for entry in sharding.spec if entry is not None for a in ((entry,) if isinstance(entry, str) else entry)]
    return any(types[a] == AxisType.Explicit for a in used)


def constrain(tree: PyTree, sharding: NamedSharding | None) -> PyTree:
    """Inside a jitted function: ``tree``'s arrays laid out as ``sharding`` (None: unchanged).

    On an Explicit mesh axis this is ``jax.sharding.reshard`` (the layout is part of the type);
    on an Auto one ``jax.lax.with_sharding_constraint`` (a hint XLA propagates).
    """
    if sharding is None:
        return tree
    if _explicit(sharding):
        return jax.tree.map(lambda a: jax.sharding.reshard(a, sharding), tree)
    return jax.lax.with_sharding_constraint(tree, sharding)


def check_single_process(where: str) -> None:
    """Raises unless this is a single-process JAX run (the only kind ``fit(mesh=)`` supports)."""
    count = jax.process_count()
    if count > 1:
        raise ConfigError(
            f"{where}: mesh= supports one process (any number of its local devices); this run has {count} "
            "processes (jax.distributed). Feed each process's part of a batch with "
            "jax.make_array_from_process_local_data and a train step from fnn.make_train_step(..., mesh=mesh) "
            "under your own loop, or run one process per host without a mesh"
        )


def check_mesh(where: str, mesh: Mesh, axis: str, **batch_sizes: int) -> int:
    """Every check before placing on ``mesh``; returns the number of devices on ``axis``.

    Raises:
      ConfigError: more than one process, ``axis`` not in the mesh, or a batch size (given by
        name) that does not divide by the devices on ``axis``.
    """
    check_single_process(where)
    _check_axis(where, mesh, axis)
    k = axis_devices(mesh, axis)
    for name, size in batch_sizes.items():
        if size % k:
            raise ConfigError(f"{where}: {name}={size} does not divide by the {k} devices of mesh axis {axis!r}; "
                              f"each device must get the same number of examples (use a multiple of {k})")
    return k



def step_shardings(mesh: Mesh | None, axis: str) -> tuple[NamedSharding | None, NamedSharding | None]:
    """``(replicated, batch)`` shardings of a train or eval step on ``mesh``; ``(None, None)`` without one."""
    if mesh is None:
        return None, None
    return NamedSharding(mesh, P()), NamedSharding(mesh, P(axis))


__all__ = ["replicate", "shard_batch", "batch_sharding"]
