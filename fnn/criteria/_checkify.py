"""Opt-in: class-index checks inside jitted criteria, through ``jax.experimental.checkify``.

By default a criterion checks its class indices only when the target is concrete (eager
calls); under ``jit`` the target is abstract and an out-of-range index gives that sample a NaN
loss (:func:`fnn.fit` and :func:`fnn.evaluate` check their datasets' labels once beforehand).
Inside :func:`checkify_targets`, criteria traced there also emit a ``checkify.check`` on the
range, so a function wrapped in ``checkify.checkify`` reports the bad index as an error value.
It costs one reduction per call, which is why it is opt-in; a function traced inside the block
*must* be wrapped in ``checkify.checkify`` (JAX refuses an unfunctionalised check).

>>> import jax, jax.numpy as jnp, fnn
>>> from jax.experimental import checkify
>>> crit = fnn.ClassNLLCriterion()
>>> logp, t = jnp.log(jnp.full((2, 3), 1 / 3)), jnp.array([0, 3])
>>> with fnn.criteria.checkify_targets():
...     err, loss = checkify.checkify(jax.jit(crit))(logp, t)
>>> print(err.get().split(" (`check`")[0])
target holds class index 3 outside [0, 3) (valid: 0..2)
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import jax.numpy as jnp

_ON: contextvars.ContextVar[bool] = contextvars.ContextVar("fnn_checkify_targets", default=False)


@contextlib.contextmanager
def checkify_targets() -> Iterator[None]:
    """Criteria traced inside the block check their class indices with ``checkify.check``."""
    token = _ON.set(True)
    try:
        yield
    finally:
        _ON.reset(token)


def traced_range_check(t: Any, n_classes: int, ignore_index: int | None, mask: Any, what: str) -> None:
    """Emits the checkify check for an abstract target when :func:`checkify_targets` is on."""
    if not _ON.get():
        return
    from jax.experimental import checkify

    ok = (t >= 0) & (t < n_classes)
    if ignore_index is not None:
        ok = ok | (t == ignore_index)
    if mask is not None:
        ok = ok | ~mask

    bad = jnp.where(ok, 0, t).reshape(-1)
    first = bad[jnp.argmax(~ok.reshape(-1))]
    checkify.check(jnp.all(ok), f"{what} holds class index {{bad}} outside [0, {n_classes}) "
                   f"(valid: 0..{n_classes - 1})", bad=first)


__all__ = ["checkify_targets"]
