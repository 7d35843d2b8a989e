"""Input and target checks shared by the criterion families.

Validation happens at call time, on shapes and dtypes (free under ``jit``): a wrong shape
is a :class:`ShapeError`, integer data where floats are needed or float class indices a
:class:`DTypeError`; the :class:`~fnn.criteria.Criterion` prefixes its name to the message.
Class indices are 0-based. An out-of-range class index raises :class:`IndexRangeError` when
the target is a concrete array (eager calls, ``backward``, ``jax.grad`` w.r.t. the input);
under ``jit``/``vmap`` the target is abstract and cannot be checked, so the loss of such a
sample is NaN instead (never a silent wrong gather).
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import format_shape, shape_of
from fnn.criteria._checkify import traced_range_check
from fnn.errors import ConfigError, DTypeError, IndexRangeError, ShapeError

Array = jax.Array


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
    if t is None:  # criteria without a target (L1Cost, DistanceRatioCriterion) are called without one
        raise ShapeError("expects a target, got None")
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
    Abstract (traced) targets are not checked: under ``jit``/``vmap`` their value is unknown.
    """
    if not is_concrete(t) or (mask is not None and not is_concrete(mask)):
        traced_range_check(t, n_classes, ignore_index, mask, what)  # only inside checkify_targets()
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
