"""The criterion contract: a loss is a pure function ``criterion(input, target) -> scalar``.

A :class:`Criterion` is a small frozen object (torch7's ``nn.Criterion``, without the
mutable ``output``/``gradInput`` buffers)::

    crit = fnn.ClassNLLCriterion()
    loss = crit(logp, target)              # torch7's crit:forward(logp, target)
    grad = crit.backward(logp, target)     # torch7's crit:backward(logp, target) = jax.grad

Reductions. Every criterion takes torch7's ``size_average`` flag (default ``True``) and
PyTorch's ``reduction=``: ``'mean'`` is torch7's ``sizeAverage=true`` with torch7's exact
divisor for that criterion (numel, the batch size, the sum of the target weights, ...),
``'sum'`` is ``sizeAverage=false`` and ``'none'`` returns the per-element or per-sample
losses whose sum is ``'sum'``. Giving both with different meanings is a :class:`ConfigError`.

This file holds the object, :func:`make` (a leaf criterion from its ``build(reduction)``),
the reductions and the small maths the families share; the input and target checks are in
``_checks.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import as_input, named
from fnn.core._args import boolean, check_number
from fnn.errors import ConfigError, FnnError

Array = jax.Array
REDUCTIONS = ("mean", "sum", "none")
BCE_EPS = 1e-12  # torch7's BCECriterion adds it inside the logs


# --------------------------------------------------------------------------- the Criterion


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Criterion:
    """A loss function: a frozen object called as ``criterion(input, target)``.

    Attributes:
      name: torch7's printed form, e.g. ``nn.MSECriterion``; it prefixes every error.
      kind: the constructor name (``"MSECriterion"``, ``"MSELoss"``).
      prepare: ``(input, target) -> (input, target)``: converts and validates (raises
        :class:`FnnError` subclasses without the name, which is prefixed here).
      loss: ``(input, target) -> loss``: the pure computation, reduction included.
      reduction: ``'mean'``, ``'sum'``, ``'none'`` (or ``'batchmean'`` for ``KLDivLoss``).
      config: the constructor's hyper-parameters.
      children: ``((criterion, weight), ...)`` for :func:`MultiCriterion` and
        :func:`ParallelCriterion`.
      remake: builds the same criterion with another reduction (see :meth:`with_reduction`).
      rebuild: builds the same combinator with other ``children`` (see :meth:`add`).
    """

    name: str
    kind: str
    prepare: Callable[[Any, Any], tuple[Any, Any]]
    loss: Callable[[Any, Any], Array]
    reduction: str = "mean"
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    children: tuple[tuple[Criterion, float], ...] = ()
    remake: Callable[[str], Criterion] | None = None
    rebuild: Callable[[tuple[tuple[Criterion, float], ...]], Criterion] | None = None

    def __call__(self, input: Any, target: Any) -> Array:
        """The loss: a 0-d array (or per-element/per-sample losses for ``reduction='none'``).

        Args:
          input: the prediction: an array, or a tuple of arrays for table criteria.
          target: the target (see each criterion for its shape and dtype).
        """
        return self.loss(*self._prepared(as_input(input), target))

    def _prepared(self, x: Any, target: Any) -> tuple[Any, Any]:
        try:
            return self.prepare(x, target)
        except FnnError as e:
            raise named(e, self.name) from None

    def forward(self, input: Any, target: Any) -> Array:
        """torch7's ``criterion:forward(input, target)``; the same as calling it."""
        return self(input, target)

    def backward(self, input: Any, target: Any) -> Any:
        """torch7's ``criterion:backward(input, target)``: ∂loss/∂input (``jax.grad``).

        Returns an array of the input's shape (a tuple for a table input). As in torch7
        there is no gradOutput: the upstream gradient is 1 (for ``reduction='none'`` it
        is 1 for every element, i.e. the gradient of the summed losses). It works under
        ``jit`` and ``vmap`` too.
        """
        x = as_input(input)
        self._prepared(x, target)  # readable errors before differentiating (ints cannot be differentiated)
        y, vjp = jax.vjp(lambda v: self(v, target), x)
        return vjp(jnp.ones_like(y))[0]

    @property
    def size_average(self) -> bool:
        """torch7's ``sizeAverage`` field: True when ``reduction == 'mean'``."""
        return self.reduction == "mean"

    def with_reduction(self, reduction: str) -> Criterion:
        """The same criterion with another reduction (torch7: ``crit.sizeAverage = false``)."""
        if self.remake is None:
            raise ConfigError(f"{self.name} has no reduction to change")
        return self.remake(reduction)

    def add(self, criterion: Criterion, weight: float = 1.0) -> Criterion:
        """A new combinator with ``weight * criterion`` appended (torch7's ``:add``, no mutation)."""
        if self.rebuild is None:
            raise ConfigError(f"{self.name} is not a MultiCriterion or ParallelCriterion; only those take add()")
        return self.rebuild(self.children + (checked_pair(self.name, len(self.children), (criterion, weight)),))

    def __str__(self) -> str:
        if not self.children:
            return self.name
        lines = [self.name + " {"]
        for i, (c, w) in enumerate(self.children):
            body = str(c).replace("\n", "\n  ")
            lines.append(f"  ({i + 1}): {w:g} * {body}")
        return "\n".join(lines) + "\n}"

    __repr__ = __str__


def make(kind: str, build: Callable[[str], tuple[Callable, Callable]], reduction: str, config: dict,
         name: str | None = None) -> Criterion:
    """Builds a leaf :class:`Criterion` from ``build(reduction) -> (prepare, loss)``."""
    prepare, loss = build(reduction)
    return Criterion(
        name=name or f"nn.{kind}",
        kind=kind,
        prepare=prepare,
        loss=loss,
        reduction=reduction,
        config=dict(config, reduction=reduction),
        remake=lambda r: make(kind, build, check_reduction(f"nn.{kind}", r), config, name),
    )


def checked_pair(name: str, i: int, entry: Any) -> tuple[Criterion, float]:
    """``entry`` as ``(criterion, weight)``: a Criterion alone has weight 1."""
    c, w = entry if isinstance(entry, tuple) and len(entry) == 2 else (entry, 1.0)
    if not isinstance(c, Criterion):
        raise ConfigError(f"{name}: entry {i} must be a criterion or a (criterion, weight) pair, got {entry!r}")
    return c, check_number(name, f"the weight of entry {i}", w)


# --------------------------------------------------------------------------- reductions and shared maths


def check_reduction(name: str, reduction: Any, allowed: tuple[str, ...] = REDUCTIONS) -> str:
    if reduction not in allowed:
        raise ConfigError(f"{name}: reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")
    return reduction


def resolve_reduction(name: str, size_average: bool | None, reduction: str | None,
                      allowed: tuple[str, ...] = REDUCTIONS, default: str = "mean") -> str:
    """torch7's ``size_average`` and PyTorch's ``reduction`` as one reduction string.

    ``size_average=True`` is ``'mean'`` and ``False`` is ``'sum'``; both may be given
    only when they agree.
    """
    if size_average is not None:
        boolean(name, "size_average", size_average)
    if reduction is not None:
        check_reduction(name, reduction, allowed)
    if size_average is None:
        return default if reduction is None else reduction
    implied = "mean" if size_average else "sum"
    if reduction is not None and reduction != implied:
        raise ConfigError(
            f"{name}: size_average={size_average} means reduction={implied!r}, which conflicts with "
            f"reduction={reduction!r}; give only one of them"
        )
    return implied


def reduce(losses: Array, reduction: str, divisor: Any = None) -> Array:
    """``'none'``: ``losses``; ``'sum'``: their sum; ``'mean'``: sum / ``divisor`` (default numel)."""
    if reduction == "none":
        return losses
    total = jnp.sum(losses)
    if reduction == "sum":
        return total
    return total / (losses.size if divisor is None else divisor)


def safe_divide(num: Array, den: Array, empty: float) -> Array:
    """``num / den``, or ``empty`` where ``den == 0`` (with a finite gradient)."""
    nonzero = den != 0
    return jnp.where(nonzero, num / jnp.where(nonzero, den, 1), empty)


def abs0(d: Array) -> Array:
    """``|d|`` whose gradient at 0 is 0 (PyTorch's ``sign(0)``; ``jnp.abs`` gives 1 there)."""
    return jnp.where(d > 0, d, 0) - jnp.where(d < 0, d, 0)


def hinge_ge(d: Array) -> Array:
    """``max(0, d)`` whose gradient at ``d == 0`` is 1 (torch7's ``dist >= 0`` masks)."""
    return jnp.where(d >= 0, d, 0)
