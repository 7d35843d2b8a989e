"""Class labels checked once, before training or evaluation starts.

An fnn criterion checks its class indices whenever the target is a concrete array (an eager
call raises :class:`~fnn.errors.IndexRangeError`). Inside the jitted train and eval steps the
target is abstract and cannot be inspected, so an out-of-range label gives that sample a NaN
loss; :func:`fnn.fit` would then stop with a :class:`~fnn.errors.NonFiniteError` that advises a
lower learning rate, a wrong diagnosis. :func:`check_labels` prevents that: :func:`fnn.fit` and
:func:`fnn.evaluate` call it once on the datasets they receive, before the first step. It runs
the criterion's own target checks (its class count, ``ignore_index``, multi-label padding)
eagerly on the labels against an output of the model's shape (zeros; no forward pass, no
gradients), in chunks of at most ~4M output elements, so its cost is one pass over the labels.

It applies to fnn criteria (:class:`fnn.criteria.Criterion`) with integer targets; a plain
Python loss function is the caller's to check. Any problem other than an out-of-range label
(a shape mismatch, ...) is left to the train step, which reports it as before.

>>> import jax.numpy as jnp, fnn
>>> from fnn.train._labels import check_labels
>>> data = fnn.Dataset(jnp.zeros((4, 3)), jnp.array([0, 1, 2, 3]))
>>> try:
...     check_labels(fnn.Linear(3, 3), fnn.ClassNLLCriterion(), "fit", data=data)
... except fnn.IndexRangeError as e:
...     print(str(e)[:68])
fit: data holds a class label outside what the model's output allows
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import Module, is_shape, normalize_shape
from fnn.errors import FnnError, IndexRangeError

_CHUNK_ELEMENTS = 1 << 22


def _output(model: Module, data: Any) -> tuple[Any, Any] | None:
    """The model's output shape and dtype for ``data`` (abstract init: no FLOPs), or None.

    Cached per model, input shape and dtype, and ``jax_enable_x64`` (modules are immutable):
    tracing the init costs 5-10 ms, which every :func:`fnn.fit` call would otherwise pay again."""
    key = (model, data.input_shape, data.input_dtype, bool(jax.config.jax_enable_x64))
    try:
        return _output_of(*key)
    except TypeError:  # an unhashable input structure (a dict of inputs): not cached
        return _output_of.__wrapped__(*key)


@functools.lru_cache(maxsize=32)
def _output_of(model: Module, input_shape: Any, input_dtype: Any, x64: bool) -> tuple[Any, Any] | None:
    del x64  # a key only: the dtypes follow it
    box: dict = {}

    def run():
        box["shape"], box["dtype"], params, state = model.init_fn(
            jax.random.key(0), normalize_shape(input_shape), input_dtype)
        return params, state

    try:
        jax.eval_shape(run)
    except (FnnError, TypeError, ValueError, IndexError, KeyError, AttributeError):
        return None
    return box["shape"], box["dtype"]


def check_labels(model: Module, criterion: Any, where: str, **datasets: Any) -> None:
    """Raises :class:`IndexRangeError` if a dataset's ``y`` holds a class label ``criterion`` refuses.

    Args:
      model: the model whose output the criterion receives.
      criterion: the loss; only fnn criteria are checked (None or a plain function: nothing to do).
      where: the caller, for the message (``"fit"``, ``"evaluate"``).
      **datasets: the :class:`fnn.Dataset` s by argument name (``data=...``, ``eval_data=...``; None is skipped).
    """
    for what, data in datasets.items():
        _check(model, criterion, data, where, what)


def _check(model: Module, criterion: Any, data: Any, where: str, what: str) -> None:
    prepare = getattr(criterion, "_prepared", None)
    y = getattr(data, "y", None)
    if prepare is None or not isinstance(y, (jax.Array, np.ndarray)) or not jnp.issubdtype(y.dtype, jnp.integer):
        return
    out = _output(model, data)
    if out is None or not is_shape(out[0]) or not out[0]:
        return
    per_example = math.prod(d for d in out[0][1:] if d > 0)
    n = int(y.shape[0])
    chunk = max(1, min(n, _CHUNK_ELEMENTS // max(per_example, 1)))
    labels = np.asarray(y)
    for start in range(0, n, chunk):
        target = labels[start:start + chunk]
        zeros = jnp.zeros((len(target),) + tuple(max(d, 1) for d in out[0][1:]), out[1])
        try:
            prepare(zeros, target)
        except IndexRangeError as e:
            span = f" (in examples {start}..{start + len(target) - 1})" if chunk < n else ""
            raise IndexRangeError(
                f"{where}: {what} holds a class label outside what the model's output allows{span}, checked "
                f"before the first step (inside the jitted step it would give a NaN loss): {e}"
            ) from None
        except FnnError:
            return  # not a label problem: the step reports it as before


__all__ = ["check_labels"]
