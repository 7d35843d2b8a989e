"""Callbacks of :func:`fnn.fit`: a per-step and per-epoch interface, a CSV logger and a TensorBoard logger.

A callback is any object with some of the methods of :class:`Callback` (subclassing it is
optional: missing methods are skipped). :func:`fnn.fit` calls

* ``on_train_begin(train_state)`` once, before the first step;
* ``on_step(step, logs)`` after every ``every_steps``-th step (``every_steps = 0``: never):
  ``logs`` holds the running means of the current epoch so far (``loss`` and the metrics) and
  ``lr`` when the optimizer exposes it. Each call reads those sums from the device, one host
  sync, so pick ``every_steps`` with that in mind (the trainer otherwise never syncs mid-epoch
  except for the progress bar);
* ``on_epoch(train_state, logs)`` after every epoch with a copy of the state and the epoch's
  logs (evaluation included); returning True stops training;
* ``on_train_end(train_state)`` once, after the last step (also when a callback stopped it).

The learning rate is logged (``logs['lr']``, ``history['lr']``) when the optimizer state
carries it, i.e. for optimizers made with ``optax.inject_hyperparams``:
``optax.inject_hyperparams(optax.adam)(learning_rate=optax.cosine_decay_schedule(1e-3, 1000))``.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax

from fnn.core._args import int_arg
from fnn.errors import ConfigError


class Callback:
    """The interface :func:`fnn.fit` calls; override the methods you need (all do nothing here).

    Attributes:
      every_steps: call :meth:`on_step` after every this many steps (0: never).

    >>> import fnn
    >>> class PrintEpoch(fnn.train.Callback):
    ...     def on_epoch(self, train_state, logs):
    ...         print(int(train_state.epoch), sorted(logs))
    """

    every_steps: int = 0

    def on_train_begin(self, train_state: Any) -> None:
        """Called once before the first step with the initial (or resumed) state."""

    def on_step(self, step: int, logs: Mapping[str, float]) -> None:
        """Called after step ``step`` (counted from 1 over the whole run) every ``every_steps`` steps."""

    def on_epoch(self, train_state: Any, logs: Mapping[str, float]) -> bool | None:
        """Called after each epoch; return True to stop training."""
        return None

    def on_train_end(self, train_state: Any) -> None:
        """Called once after the last step."""


class CSVLogger(Callback):
    """Writes one CSV row per epoch (and per ``every_steps`` steps) to ``path``.

    Columns: ``kind`` (``epoch`` or ``step``), ``epoch``, ``step``, ``time`` (seconds since the
    run began), then every logged quantity (``loss``, metrics, ``eval_*``, ``lr``) in the order
    first seen; a quantity missing from a row is empty. The file is rewritten whole after each
    row (temporary file and rename: a crash never leaves a torn file), so it always parses.
    With ``append=True`` an existing file's rows are kept (a resumed run continues its log).

    Args:
      path: the CSV file (parent directories are created).
      every_steps: also write a ``step`` row every this many steps (0: epochs only).
      append: keep the rows of an existing file.

    >>> import os, tempfile, jax.numpy as jnp, optax, fnn
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> x, y = jnp.ones((8, 2)), jnp.zeros((8, 1))
    >>> ts = fnn.fit(fnn.Linear(2, 1), lambda o, t: jnp.mean((o - t) ** 2), optax.sgd(0.1), (x, y), epochs=2,
    ...              batch_size=4, rng=0, progress=False, callbacks=[fnn.train.CSVLogger(path)])
    >>> open(path).read().splitlines()[0]
    'kind,epoch,step,time,loss'
    """

    def __init__(self, path: str | os.PathLike[str], *, every_steps: int = 0, append: bool = False):
        self.path = os.fspath(path)
        self.every_steps = int_arg("CSVLogger", "every_steps", every_steps, minimum=0)
        self.rows: list[dict[str, Any]] = _read_rows(self.path) if append and os.path.exists(self.path) else []
        self._start = time.monotonic()

    def on_train_begin(self, train_state: Any) -> None:
        self._start = time.monotonic()

    def on_step(self, step: int, logs: Mapping[str, float]) -> None:
        self._write({"kind": "step", "epoch": "", "step": step, **logs})

    def on_epoch(self, train_state: Any, logs: Mapping[str, float]) -> bool | None:
        self._write({"kind": "epoch", "epoch": int(train_state.epoch), "step": int(train_state.step), **logs})
        return None

    def _write(self, row: dict[str, Any]) -> None:
        from fnn.io._safetensors import atomic_write

        row = {**row, "time": round(time.monotonic() - self._start, 3)}
        self.rows.append(row)
        columns = ["kind", "epoch", "step", "time"]
        for r in self.rows:
            columns += [k for k in r if k not in columns]

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=columns, restval="")
                writer.writeheader()
                writer.writerows(self.rows)

        atomic_write(self.path, write)


def _read_rows(path: str) -> list[dict[str, Any]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class TensorBoardLogger(Callback):
    """Writes every logged quantity as a TensorBoard scalar to an event file in ``logdir``.

    Epoch logs are written at the run's step count under ``epoch/<name>`` (``epoch/loss``,
    ``epoch/eval_accuracy``, ``epoch/lr``...), step logs under ``step/<name>``. The files are
    TensorBoard's own format, written by the ``tensorboard`` package's event writer (no
    TensorFlow needed): ``pip install 'fnn[log]'`` (or ``tensorboard``), then
    ``tensorboard --logdir <logdir>``.

    Args:
      logdir: the directory of the event files (created).
      every_steps: also log the running epoch means every this many steps (0: epochs only).
    """

    def __init__(self, logdir: str | os.PathLike[str], *, every_steps: int = 0):
        try:
            from tensorboard.compat.proto import event_pb2, summary_pb2
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError as e:
            raise ConfigError("TensorBoardLogger needs tensorboard: pip install 'fnn[log]' (or tensorboard)") from e
        self.logdir = os.fspath(logdir)
        self.every_steps = int_arg("TensorBoardLogger", "every_steps", every_steps, minimum=0)
        self._event, self._summary = event_pb2.Event, summary_pb2.Summary
        self._writer = EventFileWriter(self.logdir)

    def on_step(self, step: int, logs: Mapping[str, float]) -> None:
        self._scalars("step", step, logs)

    def on_epoch(self, train_state: Any, logs: Mapping[str, float]) -> bool | None:
        self._scalars("epoch", int(train_state.step), logs)
        self._writer.flush()
        return None

    def on_train_end(self, train_state: Any) -> None:
        self._writer.flush()

    def close(self) -> None:
        """Flushes and closes the event file."""
        self._writer.close()

    def _scalars(self, prefix: str, step: int, logs: Mapping[str, float]) -> None:
        values = [self._summary.Value(tag=f"{prefix}/{k}", simple_value=float(v)) for k, v in logs.items()]
        self._writer.add_event(self._event(wall_time=time.time(), step=step, summary=self._summary(value=values)))


def learning_rate(opt_state: Any) -> jax.Array | None:
    """The learning rate in an optimizer state made by ``optax.inject_hyperparams``, else None."""
    for node in jax.tree.leaves(opt_state, is_leaf=lambda n: hasattr(n, "hyperparams")):
        hyper = getattr(node, "hyperparams", None)
        if isinstance(hyper, Mapping) and "learning_rate" in hyper:
            return hyper["learning_rate"]
    return None


def call_all(callbacks: Sequence[Any], method: str, *args: Any) -> bool:
    """Calls ``method`` on every callback that has it; True when one of them returned True (stop)."""
    stop = False
    for cb in callbacks:
        fn = getattr(cb, method, None)
        if fn is not None and fn(*args) is True:
            stop = True
    return stop


def step_interval(callbacks: Sequence[Any]) -> list[tuple[Any, int]]:
    """The callbacks that want ``on_step``, with their ``every_steps``."""
    out = []
    for cb in callbacks:
        every = int_arg("fit", f"every_steps of callback {type(cb).__name__}", getattr(cb, "every_steps", 0) or 0,
                        minimum=0)
        if every and getattr(cb, "on_step", None) is not None:
            out.append((cb, every))
    return out


__all__ = ["CSVLogger", "Callback", "TensorBoardLogger"]
