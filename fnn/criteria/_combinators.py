"""Combinators: :func:`MultiCriterion` (a weighted sum of criteria on one input) and
:func:`ParallelCriterion` (one criterion per entry of a table input).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from fnn.core import format_shape, shape_of
from fnn.core._args import boolean
from fnn.criteria._base import Criterion, checked_pair
from fnn.errors import FnnError, ShapeError


def _sum_children(name: str, pairs: tuple, pieces: Callable[[int], tuple[Any, Any]], like: Any) -> Any:
    total = None
    for i, (c, w) in enumerate(pairs):
        x, t = pieces(i)
        try:
            v = c(x, t)
        except FnnError as e:
            raise e.at(i, name) from None
        total = w * v if total is None else total + w * v
    if total is None:  # no criteria: torch7 returns 0
        leaves = [a for a in (like if isinstance(like, tuple) else (like,)) if hasattr(a, "dtype")]
        return jnp.zeros((), leaves[0].dtype if leaves else jnp.float32)
    return total


def MultiCriterion(*criteria: Criterion | tuple[Criterion, float]) -> Criterion:
    """The weighted sum ``Σ_i w_i c_i(input, target)``: every criterion sees the same input and target.

    Args:
      *criteria: criteria, or ``(criterion, weight)`` pairs (weight 1 when omitted).

    ``.add(criterion, weight=1)`` returns a new MultiCriterion with one more term (torch7's
    ``:add`` mutated). Errors of a term carry its index. Each term keeps its own reduction.

    >>> import jax.numpy as jnp, fnn
    >>> crit = fnn.MultiCriterion(fnn.MSECriterion()).add(fnn.AbsCriterion(), 0.5)
    >>> crit(jnp.array([1.0, 3.0]), jnp.array([0.0, 0.0]))
    Array(6., dtype=float32)
    >>> print(crit)
    nn.MultiCriterion {
      (1): 1 * nn.MSECriterion
      (2): 0.5 * nn.AbsCriterion
    }
    """
    name = "nn.MultiCriterion"
    pairs = tuple(checked_pair(name, i, e) for i, e in enumerate(criteria))

    def loss(x, t):
        return _sum_children(name, pairs, lambda i: (x, t), x)

    return Criterion(name=name, kind="MultiCriterion", prepare=lambda x, t: (x, t), loss=loss, reduction="sum",
                     children=pairs, rebuild=lambda ps: MultiCriterion(*ps))


def ParallelCriterion(*criteria: Criterion | tuple[Criterion, float], repeat_target: bool = False) -> Criterion:
    """The weighted sum ``Σ_i w_i c_i(input[i], target[i])`` over a table input.

    Args:
      *criteria: criteria, or ``(criterion, weight)`` pairs (weight 1 when omitted). torch7's
        positional ``ParallelCriterion(true)`` is accepted as ``repeat_target=True``.
      repeat_target: give the same target to every criterion instead of ``target[i]``.

    Shape contract: ``input`` is a table (tuple) with one entry per criterion; so is
    ``target`` unless ``repeat_target``. ``.add(criterion, weight=1)`` returns a new one.

    >>> import jax.numpy as jnp, fnn
    >>> crit = fnn.ParallelCriterion().add(fnn.MSECriterion()).add(fnn.ClassNLLCriterion(), 2.0)
    >>> x = (jnp.array([1.0, 3.0]), jnp.log(jnp.array([0.5, 0.5])))
    >>> crit(x, (jnp.array([0.0, 0.0]), 1))
    Array(6.386294, dtype=float32)
    """
    name = "nn.ParallelCriterion"
    if criteria and isinstance(criteria[0], bool):  # torch7: nn.ParallelCriterion(repeatTarget)
        repeat_target, criteria = criteria[0] or repeat_target, criteria[1:]
    boolean(name, "repeat_target", repeat_target)
    pairs = tuple(checked_pair(name, i, e) for i, e in enumerate(criteria))
    n = len(pairs)

    def prepare(x, t):
        if not isinstance(x, tuple) or len(x) != n:
            raise ShapeError(f"expects a table of {n} inputs (one per criterion), got {format_shape(shape_of(x))}")
        if not repeat_target and (not isinstance(t, (tuple, list)) or len(t) != n):
            got = f"a table of {len(t)}" if isinstance(t, (tuple, list)) else type(t).__name__
            raise ShapeError(f"expects a table of {n} targets (one per criterion), got {got}; "
                             "use repeat_target=True to give every criterion the same target")
        return x, t

    def loss(x, t):
        return _sum_children(name, pairs, lambda i: (x[i], t if repeat_target else t[i]), x)

    return Criterion(name=name, kind="ParallelCriterion", prepare=prepare, loss=loss, reduction="sum",
                     children=pairs, config={"repeat_target": repeat_target},
                     rebuild=lambda ps: ParallelCriterion(*ps, repeat_target=repeat_target))
