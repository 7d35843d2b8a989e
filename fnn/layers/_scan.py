"""The one scan every recurrent layer runs: directions of a recurrence in one ``lax.scan``.

Private helper. A recurrent layer projects its whole input sequence first (one matmul for all
time steps: the non-recurrent half of the work, done at full matrix-multiply speed), then calls
:func:`scan` with a ``step(p, x_t, carry) -> (carry, y_t)`` function that does only the recurrent
half. Several directions (a bidirectional layer's forward and reverse passes) run in the same
loop, each reading its own input stream and carrying its own state, so a bidirectional layer
costs one loop, not two.

Variable lengths are a mask ``(T, N)`` (``t < length``): where it is False the carry is kept
as it was and the output is exactly 0, through ``where`` (so the gradient reaching a padded
input is exactly 0 too). With right padding this is PyTorch's packed-sequence semantics: the
final carry of the forward direction is each sequence's last valid step, and the reverse
direction (which reads time backwards) meets the padding first, keeps its initial state
through it, and so starts at each sequence's own end.

>>> import jax.numpy as jnp
>>> step = lambda p, x, h: (h + x, h + x)          # a running sum
>>> xs = jnp.ones((3, 1, 1))                       # (T, N, F)
>>> ys, (h,) = scan(step, ((),), (xs,), (jnp.zeros((1, 1)),), reverse=(False,))
>>> ys[0][:, 0, 0], h[0, 0]
(Array([1., 2., 3.], dtype=float32), Array(3., dtype=float32))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


def length_mask(lengths: Any, steps: int) -> Any:
    """``mask[t, n] = t < lengths[n]``, shape ``(steps, N)`` (time-major)."""
    return jnp.arange(steps, dtype=lengths.dtype)[:, None] < lengths[None, :]


def _masked(mask_t: Any, new: Any, old: Any) -> Any:
    """``new`` where the step is valid, ``old`` where it is padding (rows of ``(N, ...)`` arrays)."""
    return jax.tree.map(lambda a, b: jnp.where(jnp.reshape(mask_t, mask_t.shape + (1,) * (a.ndim - 1)), a, b),
                        new, old)


def scan(
    step: Callable[[Any, Any, Any], tuple[Any, Any]],
    params: Sequence[Any],
    xs: Sequence[Any],
    carry: Sequence[Any],
    *,
    reverse: Sequence[bool],
    mask: Any = None,
    unroll: int = 1,
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Runs ``len(xs)`` directions of ``step`` over time in one ``lax.scan``.

    Args:
      step: ``step(p, x_t, carry) -> (carry, y_t)`` for one direction and one time step;
        ``x_t`` is ``xs[d][t]``, rows ``(N, ...)``.
      params: per direction, what ``step`` gets as ``p``.
      xs: per direction, the time-major (already projected) input ``(T, N, ...)``.
      carry: per direction, the initial carry (a pytree of ``(N, ...)`` arrays).
      reverse: per direction, whether it reads time backwards.
      mask: ``(T, N)`` bool, False at padded steps (carry kept, output 0), or None.
      unroll: ``lax.scan``'s unroll factor.

    Returns:
      ``(ys, carries)``: per direction the outputs ``(T, N, ...)`` in the input's time order,
      and the final carries.
    """
    flip = [bool(r) for r in reverse]
    xs = tuple(jnp.flip(x, 0) if r else x for x, r in zip(xs, flip, strict=True))
    masks = None if mask is None else tuple(jnp.flip(mask, 0) if r else mask for r in flip)

    def body(carry: tuple, inputs: tuple) -> tuple[tuple, tuple]:
        x_t, m_t = inputs
        new, ys = [], []
        for d, p in enumerate(params):
            c, y = step(p, x_t[d], carry[d])
            if m_t is not None:
                c = _masked(m_t[d], c, carry[d])
                y = _masked(m_t[d], y, jnp.zeros((), y.dtype))
            new.append(c)
            ys.append(y)
        return tuple(new), tuple(ys)

    final, ys = lax.scan(body, tuple(carry), (xs, masks), unroll=unroll)
    ys = tuple(jnp.flip(y, 0) if r else y for y, r in zip(ys, flip))
    return ys, final
