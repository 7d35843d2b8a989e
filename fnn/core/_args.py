"""Constructor argument checks: the one set every layer, criterion and the trainer use.

Each check takes the name of what is being built (``"nn.Linear"``, ``"fit"``) and the
argument's name, and raises a :class:`~fnn.errors.ConfigError` that names both::

    >>> int_arg("nn.Linear", "out_features", 0, minimum=1)
    Traceback (most recent call last):
    ...
    fnn.errors.ConfigError: nn.Linear: out_features must be >= 1, got 0
    >>> int_tuple("MaxPool2d", "kernel_size", 3, 2)
    (3, 3)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from fnn.errors import ConfigError


def is_int(v: Any) -> bool:
    """True for Python and numpy ints, False for bools."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def ints(layer: str, minimum: int, **values: Any) -> None:
    """Raises a ConfigError unless every value is an int ``>= minimum``."""
    for name, v in values.items():
        if not is_int(v) or v < minimum:
            what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
            raise ConfigError(f"{layer}: {name} must be {what}, got {v!r}")


def int_arg(layer: str, name: str, v: object, *, minimum: int | None = None) -> int:
    """Returns ``v`` if it is an int (not a bool) no smaller than ``minimum``; else a ConfigError."""
    if not is_int(v):
        raise ConfigError(f"{layer}: {name} must be an int, got {v!r}")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{layer}: {name} must be >= {minimum}, got {v}")
    return int(v)


def opt_int_arg(layer: str, name: str, v: object, *, minimum: int = 0) -> int | None:
    """As :func:`int_arg`, but ``None`` passes through."""
    return None if v is None else int_arg(layer, name, v, minimum=minimum)


def int_tuple(layer: str, name: str, value: Any, n: int, minimum: int = 0) -> tuple[int, ...]:
    """PyTorch's ``_pair``/``_triple``: an int or a length-``n`` sequence of ints."""
    vals = (value,) * n if is_int(value) else value
    if not isinstance(vals, (tuple, list)) or len(vals) != n or not all(is_int(v) for v in vals):
        raise ConfigError(f"{layer}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    vals = tuple(int(v) for v in vals)
    if any(v < minimum for v in vals):
        raise ConfigError(f"{layer}: {name} must be >= {minimum}, got {value!r}")
    return vals


def sizes_arg(layer: str, sizes: Sequence[object], *, allow_infer: bool) -> tuple[int, ...]:
    """torch7 took ``(d1, d2, ...)`` or one LongStorage; fnn takes ints or one tuple of ints."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if not sizes:
        raise ConfigError(f"{layer}: give at least one size")
    out = []
    for s in sizes:
        if not is_int(s) or (s <= 0 and not (allow_infer and s == -1)):
            allowed = "positive ints or one -1" if allow_infer else "positive ints"
            raise ConfigError(f"{layer}: sizes must be {allowed}, got {tuple(sizes)!r}")
        out.append(int(s))
    if out.count(-1) > 1:
        raise ConfigError(f"{layer}: only one size can be -1, got {tuple(out)}")
    return tuple(out)


def probability(layer: str, p: Any) -> float:
    """A drop probability in [0, 1)."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p < 1:
        raise ConfigError(f"{layer}: p is the drop probability and must be in [0, 1), got {p!r}")
    return float(p)


def check_number(name: str, what: str, v: Any, *, low: float | None = None, strict: bool = False) -> float:
    """A real hyper-parameter, optionally bounded below; ConfigError otherwise."""
    if not isinstance(v, numbers.Real) or isinstance(v, bool) or not np.isfinite(v):
        raise ConfigError(f"{name}: {what} must be a finite number, got {v!r}")
    if low is not None and (v < low or strict and v == low):
        raise ConfigError(f"{name}: {what} must be {'>' if strict else '>='} {low}, got {v!r}")
    return float(v)


def reals(layer: str, **values: Any) -> None:
    """Raises a ConfigError unless every value is a finite real number."""
    for name, v in values.items():
        check_number(layer, name, v)


def boolean(layer: str, name: str, v: object) -> bool:
    """Returns ``v`` if it is a Python bool; else a ConfigError."""
    if not isinstance(v, bool):
        raise ConfigError(f"{layer}: {name} must be a bool, got {v!r}")
    return v
