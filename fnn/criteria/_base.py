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

Validation happens at call time, on shapes and dtypes (free under ``jit``): a wrong shape
is a :class:`ShapeError`, integer data where floats are needed or float class indices a
:class:`DTypeError`, both naming the criterion and showing expected vs actual. Class
indices are 0-based. An out-of-range class index raises :class:`IndexRangeError` when the
target is a concrete array (eager calls, ``backward``, ``jax.grad`` w.r.t. the input);
under ``jit``/``vmap`` the target is abstract and cannot be checked, so the loss of such
a sample is NaN instead (never a silent wrong gather).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import as_input, format_shape, named, shape_of
from fnn.core._args import check_number
from fnn.errors import ConfigError, DTypeError, FnnError, IndexRangeError, ShapeError

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
    config: dict = dataclasses.field(default_factory=dict)
    children: tuple = ()
    remake: Callable[[str], Criterion] | None = None
    rebuild: Callable[[tuple], Criterion] | None = None

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


# --------------------------------------------------------------------------- reductions


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
    if size_average is not None and not isinstance(size_average, bool):
        raise ConfigError(f"{name}: size_average must be a bool, got {size_average!r}")
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


# --------------------------------------------------------------------------- validation


def float_input(x: Any, what: str = "input") -> Array:
    """One floating-point array, else ShapeError (a table) or DTypeError (ints)."""
    if isinstance(x, tuple):
        raise ShapeError(f"expects one array as {what}, got a table {format_shape(shape_of(x))}")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise DTypeError(f"expects a floating-point {what}, got {x.dtype.name}")
    return x


def table_input(x: Any, n: int, what: str = "input") -> tuple[Array, ...]:
    """A table (tuple) of ``n`` floating-point arrays of the same dtype."""
    if not isinstance(x, tuple):
        raise ShapeError(f"expects a table (tuple) of {n} arrays as {what}, got one array of shape "
                         f"{format_shape(shape_of(x))}")
    if len(x) != n:
        raise ShapeError(f"expects a table of {n} arrays as {what}, got {len(x)}: {format_shape(shape_of(x))}")
    arrays = tuple(float_input(a, f"{what}[{i}]") for i, a in enumerate(x))
    if len({a.dtype for a in arrays}) > 1:
        raise DTypeError(f"expects {what} arrays of one dtype, got {', '.join(a.dtype.name for a in arrays)}")
    return arrays


def _as_target(t: Any) -> Array:
    if isinstance(t, tuple):
        raise ShapeError(f"expects one array as target, got a table {format_shape(shape_of(t))}")
    return t if isinstance(t, (jax.Array, jax.core.Tracer)) else jnp.asarray(t)


def float_target(t: Any, x: Array, what: str = "target") -> Array:
    """A real-valued target in the input's dtype; integer arrays are a DTypeError.

    Python numbers are taken as the input's dtype; float arrays of another precision are
    cast to the input's dtype (targets are not differentiated).
    """
    if isinstance(t, numbers.Real) and not isinstance(t, bool):
        return jnp.asarray(t, x.dtype)
    t = _as_target(t)
    if not jnp.issubdtype(t.dtype, jnp.floating):
        raise DTypeError(f"expects a floating-point {what}, got {t.dtype.name}")
    return t.astype(x.dtype)


def label_target(t: Any, x: Array, what: str = "target", labels: str = "1 or -1") -> Array:
    """A label target (ints or floats, e.g. ±1), cast to the input's dtype."""
    if isinstance(t, numbers.Real) and not isinstance(t, bool):
        return jnp.asarray(t, x.dtype)
    t = _as_target(t)
    if not (jnp.issubdtype(t.dtype, jnp.floating) or jnp.issubdtype(t.dtype, jnp.integer)):
        raise DTypeError(f"expects a {what} of labels ({labels}) as ints or floats, got {t.dtype.name}")
    return t.astype(x.dtype)


def class_target(t: Any, what: str = "target") -> Array:
    """0-based class indices: a Python int or an integer array (floats are a DTypeError)."""
    if isinstance(t, bool) or isinstance(t, numbers.Real) and not isinstance(t, numbers.Integral):
        raise DTypeError(f"expects integer class indices (0-based) as {what}, got {type(t).__name__} {t!r}")
    t = _as_target(t)
    if not jnp.issubdtype(t.dtype, jnp.integer):
        raise DTypeError(f"expects integer class indices (0-based) as {what}, got {t.dtype.name}; "
                         "cast with target.astype(jnp.int32)")
    return t


def is_concrete(a: Any) -> bool:
    """True when ``a`` has a value now (eager), False under ``jit``/``vmap``/``grad`` tracing of it."""
    return not isinstance(a, jax.core.Tracer)


def check_class_range(t: Array, n_classes: int, ignore_index: int | None = None, mask: Array | None = None,
                      what: str = "target") -> None:
    """Raises IndexRangeError if a concrete ``t`` holds an index outside ``[0, n_classes)``.

    Entries equal to ``ignore_index`` (or where ``mask`` is False) are not checked.
    Abstract (traced) targets are not checked; see the module docstring.
    """
    if not is_concrete(t) or (mask is not None and not is_concrete(mask)):
        return
    v = np.asarray(t)
    ok = (v >= 0) & (v < n_classes)
    if ignore_index is not None:
        ok |= v == ignore_index
    if mask is not None:
        ok |= ~np.asarray(mask)
    if not ok.all():
        bad = v[~ok]
        where = tuple(int(i) for i in np.argwhere(~ok)[0])
        ignore = f" or ignore_index {ignore_index}" if ignore_index is not None else ""
        raise IndexRangeError(
            f"{what} holds class index {int(bad.flat[0])} (at {where}) outside [0, {n_classes}) for input "
            f"with {n_classes} classes (valid: 0..{n_classes - 1}{ignore}); {bad.size} bad entr"
            f"{'y' if bad.size == 1 else 'ies'} in all"
        )


def as_weights(name: str, weights: Any, what: str = "weights") -> Array | None:
    """Validates a constructor's per-class weights: None or a 1-D float array."""
    if weights is None:
        return None
    if np.asarray(weights).dtype.kind not in "fiu":
        raise ConfigError(f"{name}: {what} must be numbers, got {np.asarray(weights).dtype}")
    w = jnp.asarray(weights)
    if not jnp.issubdtype(w.dtype, jnp.floating):
        w = w.astype(jnp.result_type(float))
    if w.ndim != 1 or w.size == 0:
        raise ConfigError(f"{name}: {what} must be a non-empty 1-D array, got shape {format_shape(w.shape)}")
    return w


def class_weights(w: Array | None, n_classes: int, x: Array, what: str = "weights") -> Array | None:
    """The per-class weights in the input's dtype; ShapeError unless there are ``n_classes``."""
    if w is None:
        return None
    if w.shape != (n_classes,):
        raise ShapeError(f"has {what} of shape {format_shape(w.shape)}, but the input has {n_classes} classes "
                         f"(input {format_shape(x.shape)}); expected {what} ({n_classes},)")
    return w.astype(x.dtype)


def broadcast_weights(w: Array | None, x: Array, what: str = "weights") -> Array | None:
    """Weights broadcast against the input's trailing dims (numpy rules), in the input's dtype."""
    if w is None:
        return None
    shape = w.shape
    ok = len(shape) <= x.ndim and all(a in (1, b) for a, b in zip(shape[::-1], x.shape[::-1], strict=False))
    if not ok:
        raise ShapeError(f"has {what} of shape {format_shape(shape)} that does not broadcast to the input "
                         f"{format_shape(x.shape)}; expected ({x.shape[-1] if x.ndim else 1},) over the last dim")
    return jnp.broadcast_to(jnp.reshape(w, (1,) * (x.ndim - w.ndim) + shape), x.shape).astype(x.dtype)


def same_numel_target(t: Array, x: Array) -> Array:
    """torch7's rule: the target needs the input's number of elements (read in storage order)."""
    if t.size != x.size:
        raise ShapeError(f"expects input and target with the same number of elements, got input "
                         f"{format_shape(x.shape)} ({x.size}) and target {format_shape(t.shape)} ({t.size})")
    return jnp.reshape(t, x.shape)


def broadcast_target(t: Array, x: Array) -> Array:
    """PyTorch's rule, without growing the input: the target must broadcast to the input's shape."""
    if t.shape == x.shape:
        return t
    ok = t.ndim <= x.ndim and all(a in (1, b) for a, b in zip(t.shape[::-1], x.shape[::-1], strict=False))
    if not ok:
        raise ShapeError(f"expects a target of the input's shape {format_shape(x.shape)} (or one that broadcasts "
                         f"to it), got {format_shape(t.shape)}")
    return jnp.broadcast_to(jnp.reshape(t, (1,) * (x.ndim - t.ndim) + t.shape), x.shape)


__all__ = ["Criterion", "REDUCTIONS"]
