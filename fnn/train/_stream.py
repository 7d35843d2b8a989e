"""Data that does not fit on the device: :func:`fnn.fit` from any source of host batches.

``fit(model, criterion, optimizer, batches, ...)`` accepts, instead of a device-resident
:class:`fnn.data.Dataset`, a *batch source*:

* any re-iterable of ``(inputs, targets)`` batches (a list, a ``grain.DataLoader``, a
  ``grain.MapDataset`` ``.batch(...)``, an object whose ``__iter__`` starts over), iterated
  once per epoch;
* a callable ``epoch -> iterable of batches`` (a Python generator function, or a function
  returning a loader seeded by the epoch: the way to shuffle anew each epoch reproducibly);
* a one-shot iterator or generator object, for a single epoch.

Batches are numpy (or jax) arrays, inputs possibly a tuple (a table). A background thread
puts the next batches on the device while the current step runs (``prefetch`` batches ahead).
Every batch must have ``batch_size`` examples, except the last of an epoch, which is dropped
(``drop_last=True``) or padded with its own examples and masked out of the loss.

Determinism and resume: the trainer adds no randomness of its own to the order; the step keys
are the in-memory run's (``fold_in(fold_in(key, 0), step)``), so the same batches in the same
order give bit-identical results to the in-memory run with ``shuffle=False``. Resuming
replays the source: a resumed epoch skips the batches already done, which is exact when the
source yields the same batches for the same epoch (a callable seeded by ``epoch``, a grain
loader with a fixed seed). A source without ``len()`` can be resumed only from the end of an
epoch (the states ``on_epoch`` receives).
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import numpy as np

from fnn.data import Dataset
from fnn.errors import ConfigError, DataError


def is_batch_source(data: Any) -> bool:
    """Whether ``fit``'s ``data`` is a batch source rather than a Dataset or an ``(inputs, targets)`` pair."""
    if isinstance(data, Dataset) or hasattr(data, "shape"):
        return False
    if isinstance(data, (tuple, list)) and len(data) == 2 and not _looks_like_batch_list(data):
        return False  # an (inputs, targets) pair
    return callable(data) or isinstance(data, Iterable)


def _looks_like_batch_list(data: tuple | list) -> bool:
    return all(isinstance(b, (tuple, list)) and len(b) == 2 for b in data)


class BatchStream:
    """A batch source, normalised: ``first()`` (a peek at the first batch) and ``epoch(e)`` (its batches).

    Args:
      source: see the module docstring.
    """

    def __init__(self, source: Any):
        self.source = source
        self.length: int | None = None
        if callable(source) and not isinstance(source, Iterable):
            self._make: Callable[[int], Iterable[Any]] = source
        elif iter(source) is source:  # an iterator or generator object: one pass only
            self._once: Iterator[Any] | None = source
            self._make = self._one_pass
        else:
            self._make = lambda epoch: source
            self.length = len(source) if hasattr(source, "__len__") else None
        self._peeked: Any = None

    def _one_pass(self, epoch: int) -> Iterable[Any]:
        if self._once is None:
            raise ConfigError(
                "fit: the data is a one-shot iterator (a generator object) and was used up after one epoch; "
                "pass a re-iterable (a list, a grain loader) or a function epoch -> batches for more epochs")
        it, self._once = self._once, None
        return it

    def first(self) -> tuple[Any, Any]:
        """The first batch of epoch 0 (kept, so a one-shot source loses nothing)."""
        if self._peeked is None:
            it = iter(self._make(0))
            try:
                first = next(it)
            except StopIteration:
                raise DataError("fit: the data source yielded no batch") from None
            self._peeked = _as_pair(first, 0)
            if hasattr(self, "_once"):
                self._once = itertools.chain([first], it)
        return self._peeked

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[tuple[Any, Any]]:
        """The host batches of ``epoch``, without the first ``skip`` (a resumed epoch)."""
        for i, batch in enumerate(self._make(epoch)):
            if i >= skip:
                yield _as_pair(batch, i)


def _as_pair(batch: Any, i: int) -> tuple[Any, Any]:
    if isinstance(batch, dict) and set(batch) >= {"x", "y"}:
        batch = (batch["x"], batch["y"])
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise DataError(f"fit: batch {i} of the data source is a {type(batch).__name__}; expected (inputs, targets)")
    return batch[0], batch[1]


def batch_rows(x: Any) -> int:
    """The number of examples in a batch's inputs (an array or a tuple of arrays)."""
    leaves = jax.tree.leaves(x)
    rows = {int(np.shape(a)[0]) if np.ndim(a) else -1 for a in leaves}
    if len(rows) != 1 or -1 in rows:
        raise DataError(f"fit: a batch's inputs disagree on the number of examples (leading sizes {sorted(rows)})")
    return rows.pop()


def prefetch(batches: Iterator[tuple[Any, Any]], size: int = 2) -> Iterator[tuple[Any, Any]]:
    """``batches`` put on the device by a background thread, ``size`` ahead of the consumer."""
    q: queue.Queue[Any] = queue.Queue(maxsize=max(size, 1))
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                q.put(jax.device_put(batch))
            q.put(done)
        except BaseException as e:  # re-raised in the consumer, with its traceback
            q.put(e)

    thread = threading.Thread(target=work, daemon=True, name="fnn-prefetch")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.01)


__all__: list[str] = []
