"""torch7's ``nn.StochasticGradient``: per-example SGD with torch7's fields and schedule, on :func:`fit`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from fnn.core import Module
from fnn.data import Dataset, as_dataset
from fnn.train._fit import fit
from fnn.train._state import TrainState

PyTree = Any
Criterion = Callable[[Any, Any], jax.Array]


def torch7_learning_rate(learning_rate: float, decay: float, steps_per_epoch: int) -> Callable:
    """torch7's ``StochasticGradient`` schedule as an optax schedule.

    The first epoch uses ``learning_rate``; epoch ``k`` (1-based, ``k >= 2``) uses
    ``learning_rate / (1 + k * decay)`` (torch7 increments its counter before decaying).

    Args:
      learning_rate: torch7's ``learningRate``.
      decay: torch7's ``learningRateDecay``.
      steps_per_epoch: optimizer steps per epoch (the number of examples, for per-example SGD).

    Returns:
      ``schedule(count) -> learning rate`` for ``optax.sgd(schedule)``.

    >>> from fnn.train import torch7_learning_rate
    >>> schedule = torch7_learning_rate(0.1, 0.5, steps_per_epoch=3)
    >>> [round(float(schedule(c)), 4) for c in (0, 2, 3, 6)]
    [0.1, 0.1, 0.05, 0.04]
    """
    def schedule(count):
        k = count // steps_per_epoch + 1
        return jnp.where(k == 1, learning_rate, learning_rate / (1.0 + k * decay))

    return schedule


@dataclasses.dataclass
class StochasticGradient:
    """torch7's ``nn.StochasticGradient(module, criterion)``: per-example SGD.

    Fields (torch7's, snake_case): ``learning_rate=0.01``, ``learning_rate_decay=0``,
    ``max_iteration=25`` (epochs; torch7's 0 = forever is not supported), ``shuffle_indices``
    (one permutation drawn once, as torch7), ``verbose`` (prints ``# current error = ...`` per
    epoch, torch7's format). Set them like torch7: ``trainer.learning_rate = 0.1``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> x = jnp.linspace(-1, 1, 8).reshape(8, 1); y = 2 * x
    >>> trainer = fnn.StochasticGradient(fnn.Linear(1, 1), lambda o, t: jnp.mean((o - t) ** 2))
    >>> trainer.learning_rate, trainer.verbose = 0.1, False
    >>> ts = trainer.train((x, y), rng=jax.random.key(0))
    >>> int(ts.epoch), int(ts.step), bool(ts.history['loss'][-1] < 1e-2)
    (25, 200, True)
    """

    module: Module
    criterion: Criterion
    learning_rate: float = 0.01
    learning_rate_decay: float = 0.0
    max_iteration: int = 25
    shuffle_indices: bool = True
    verbose: bool = True

    def train(self, dataset: Dataset | tuple[Any, Any], *, rng: jax.Array | int, params: PyTree = None,
              state: PyTree = None) -> TrainState:
        """Runs ``max_iteration`` epochs of per-example SGD; returns the final :class:`TrainState`."""
        data = as_dataset(dataset, "dataset")
        schedule = torch7_learning_rate(self.learning_rate, self.learning_rate_decay, len(data))
        if self.verbose:
            print("# StochasticGradient: training")
        report = (lambda ts, logs: print(f"# current error = {logs['loss']:.6g}")) if self.verbose else None
        ts = fit(self.module, self.criterion, optax.sgd(schedule), data, epochs=self.max_iteration, batch_size=1,
                 rng=rng, params=params, state=state, metrics={}, shuffle="once" if self.shuffle_indices else False,
                 progress=False, on_epoch=report)
        if self.verbose:
            print("# StochasticGradient: you have reached the maximum number of iterations")
            print(f"# training error = {float(ts.history['loss'][-1]):.6g}")
        return ts


__all__ = ["StochasticGradient", "torch7_learning_rate"]
