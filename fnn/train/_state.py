"""The training state: :class:`TrainState` (a pytree of arrays) and its checkpoint files.

Everything :func:`fnn.train.fit` needs to continue a run is in one :class:`TrainState`;
:func:`save_train_state` / :func:`load_train_state` keep it in one :mod:`fnn.io` checkpoint,
so that ``fit(..., resume=load_train_state(path))`` continues bit-identically.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnn.core import Module
from fnn.errors import CheckpointError, ConfigError
from fnn.io._checkpoint import load, save
from fnn.train._eval import Metrics, float_dtype
from fnn.train._step import init_optimizer

PyTree = Any


@dataclasses.dataclass(frozen=True)
class TrainState:
    """Everything a run needs to continue, as a pytree of arrays.

    Checkpoint it with :func:`save_train_state` (or any pytree-of-arrays writer) and pass it
    back to :func:`fnn.train.fit` as ``resume=``: training then continues bit-identically (the
    shuffle of every epoch and the key of every step are derived from ``rng``, ``epoch`` and
    ``step``).

    Attributes:
      params: the model params.
      state: the model state (``()`` leaves for a model without state).
      opt_state: the optimizer state (optax schedules keep their step count here).
      rng: the raw key data (``jax.random.key_data``, uint32) of the training key.
      step: int32 scalar, steps taken so far.
      epoch: int32 scalar, epochs completed so far.
      running: the current epoch's running sums (``loss``, ``count``, one per metric) and the
        first non-finite step (``bad_step``, -1 if none); zero between epochs.
      history: one array per quantity, one entry per completed epoch: ``loss`` and the training
        metrics (running means over the epoch, train mode), ``eval_loss`` and ``eval_<metric>``
        when there is eval data.
      rng_impl: the PRNG implementation of ``rng`` (static, not a leaf).

    >>> import jax, optax, fnn
    >>> ts = fnn.TrainState.create(fnn.Linear(3, 1), optax.sgd(0.1), 0, (-1, 3))
    >>> int(ts.step), int(ts.epoch), ts.params["weight"].shape, ts.rng.dtype
    (0, 0, (1, 3), dtype('uint32'))
    """

    params: PyTree
    state: PyTree
    opt_state: PyTree
    rng: jax.Array
    step: jax.Array
    epoch: jax.Array
    running: dict[str, jax.Array]
    history: dict[str, np.ndarray]
    rng_impl: str = "threefry2x32"

    @property
    def key(self) -> jax.Array:
        """The training key as a typed PRNG key."""
        return jax.random.wrap_key_data(jnp.asarray(self.rng), impl=self.rng_impl)

    @classmethod
    def create(
        cls,
        model: Module,
        optimizer: optax.GradientTransformation,
        rng: jax.Array | int,
        input_shape: Any,
        dtype: Any = None,
        *,
        params: PyTree = None,
        state: PyTree = None,
        metrics: Metrics = (),
    ) -> TrainState:
        """Initialises params (unless given), state and optimizer state.

        Args:
          model: the model.
          optimizer: an optax optimizer.
          rng: a PRNG key or an int seed; ``split(rng)`` gives the init key and the training key.
          input_shape: the input shape (``-1`` for the batch).
          dtype: the input dtype (default: the model's).
          params, state: start from these instead of a fresh init.
          metrics: metric names whose running sums the state carries.
        """
        key = as_key(rng)
        init_key, train_key = jax.random.split(key)
        if params is None or state is None:
            _, p0, s0 = model.stateful.init(init_key, input_shape, dtype)
            params = p0 if params is None else params
            state = s0 if state is None else state
        return cls(
            params=params,
            state=state,
            opt_state=init_optimizer(optimizer, params),
            rng=jax.random.key_data(train_key),
            step=jnp.zeros((), jnp.int32),
            epoch=jnp.zeros((), jnp.int32),
            running=zero_running(metrics),
            history={},
            rng_impl=str(jax.random.key_impl(train_key)),
        )


jax.tree_util.register_dataclass(
    TrainState,
    data_fields=["params", "state", "opt_state", "rng", "step", "epoch", "running", "history"],
    meta_fields=["rng_impl"],
)


def as_key(rng: Any) -> jax.Array:
    """A typed PRNG key from a key, an int seed or a legacy ``jax.random.PRNGKey``."""
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return jax.random.key(int(rng))
    if isinstance(rng, jax.Array) and jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
        return rng
    if isinstance(rng, (jax.Array, np.ndarray)) and rng.dtype == np.uint32:
        return jax.random.wrap_key_data(jnp.asarray(rng))  # a legacy jax.random.PRNGKey
    raise ConfigError(f"rng must be a PRNG key such as jax.random.key(0) or an int seed, got {rng!r}")


def zero_running(metrics: Metrics) -> dict[str, jax.Array]:
    """The running sums of an epoch that has not started: zeros, and no non-finite step (-1)."""
    f = float_dtype()
    run = {"loss": jnp.zeros((), f), "count": jnp.zeros((), f)}
    run.update({name: jnp.zeros((), f) for name, _ in metrics})
    run.update(bad_step=jnp.full((), -1, jnp.int32), bad_loss=jnp.zeros((), f), bad_grad_norm=jnp.zeros((), f))
    return run


def resumable(ts: TrainState) -> TrainState:
    """``ts`` with its non-finite markers cleared (``bad_step`` -1, ``bad_loss``/``bad_grad_norm`` 0).

    The state a :class:`~fnn.errors.NonFiniteError` hands back is the state after the last finite
    step; without the markers, ``fit(..., resume=error.train_state)`` on fixed data continues from
    there instead of re-raising the old error. The running sums keep the epoch's finite steps.
    """
    run = dict(ts.running)
    run["bad_step"] = jnp.full((), -1, jnp.int32)
    run["bad_loss"] = jnp.zeros_like(run["bad_loss"])
    run["bad_grad_norm"] = jnp.zeros_like(run["bad_grad_norm"])
    return dataclasses.replace(ts, running=run)


def copy_tree(tree: PyTree) -> PyTree:
    """A copy of every array in ``tree``: fit donates its carry, a copy keeps the caller's arrays alive."""
    # device_put(may_alias=False) copies without compiling a program per shape (jnp.array(a, copy=True) does).
    leaves, treedef = jax.tree.flatten(tree)
    arrays = [i for i, a in enumerate(leaves) if isinstance(a, jax.Array)]
    for i, copy in zip(arrays, jax.device_put([leaves[i] for i in arrays], may_alias=False), strict=True):
        leaves[i] = copy
    return jax.tree.unflatten(treedef, leaves)


# --------------------------------------------------------------------------- checkpoint files

_SPLIT = ("params", "state", "opt_state")


def _rest(train_state: Any) -> Any:
    if not dataclasses.is_dataclass(train_state) or isinstance(train_state, type) or not all(
            hasattr(train_state, f) for f in _SPLIT):
        raise CheckpointError(
            f"expected a training state (a dataclass with params, state and opt_state, such as "
            f"fnn.train.TrainState), got {type(train_state).__name__}"
        )
    return dataclasses.replace(train_state, params=None, state=None, opt_state=None)


def save_train_state(path: str | os.PathLike[str], train_state: Any, *, meta: Mapping[str, Any] | None = None) -> None:
    """Saves a whole training state (:class:`TrainState`) so that training resumes bit-identically.

    ``params``, ``state`` and ``opt_state`` go to their usual trees (so :func:`fnn.io.load` reads
    them for inference); every other field (the key, step and epoch counters, running
    sums, history) goes to the ``extra`` tree. ``step`` is recorded from ``train_state.step``.

    Args:
      path: the file to write (atomically, as :func:`fnn.io.save`).
      train_state: a registered dataclass with ``params``, ``state`` and ``opt_state`` fields.
      meta: JSON-serialisable user metadata.

    Raises:
      CheckpointError: ``train_state`` is not a training state, or as :func:`fnn.io.save`.

    >>> import os, tempfile, jax, optax, fnn
    >>> ts = fnn.TrainState.create(fnn.Linear(3, 1), optax.adam(1e-3), 0, (-1, 3))
    >>> path = os.path.join(tempfile.mkdtemp(), "run.safetensors")
    >>> fnn.save_train_state(path, ts, meta={"note": "before training"})
    >>> fnn.io.load(path).step, fnn.io.load(path).meta
    (0, {'note': 'before training'})
    """
    step = getattr(train_state, "step", 0)
    save(path, params=train_state.params, state=train_state.state, opt_state=train_state.opt_state,
         step=int(np.asarray(step)) if np.ndim(step) == 0 else 0, meta=meta, extra=_rest(train_state))


def load_train_state(path: str | os.PathLike[str], like: Any = None) -> Any:
    """Loads a training state written by :func:`save_train_state`.

    Args:
      path: the checkpoint file.
      like: a training state of the same structure (``jax.eval_shape`` of one will do): every
        path, shape and dtype is checked against it. Its ``history`` must have as many
        entries as the saved one, so a fresh ``TrainState.create(...)`` only fits a state
        saved before the first epoch ended. Without ``like`` the state is rebuilt from the
        file (a :class:`TrainState`, whose class this module defines).

    Returns:
      The training state; pass it to ``fnn.fit(..., resume=...)``.

    Raises:
      CheckpointError: as :func:`fnn.io.load`, or the file holds no training state.

    >>> import os, tempfile, jax, optax, fnn
    >>> ts = fnn.TrainState.create(fnn.Linear(3, 1), optax.adam(1e-3), 0, (-1, 3))
    >>> path = os.path.join(tempfile.mkdtemp(), "run.safetensors")
    >>> fnn.save_train_state(path, ts)
    >>> back = fnn.load_train_state(path, like=ts)
    >>> type(back).__name__, bool((back.params["weight"] == ts.params["weight"]).all())
    ('TrainState', True)
    """
    if like is None:
        ck = load(path)
    else:
        ck = load(path, like={"params": like.params, "state": like.state, "opt_state": like.opt_state,
                              "extra": _rest(like)})
    if not dataclasses.is_dataclass(ck.extra) or not all(hasattr(ck.extra, f) for f in _SPLIT):
        raise CheckpointError(f"{os.fspath(path)} holds no training state (it was not written by save_train_state)")
    return dataclasses.replace(ck.extra, params=ck.params, state=ck.state, opt_state=ck.opt_state)


__all__ = ["TrainState", "load_train_state", "save_train_state"]
