"""Initialisers: ``(key, shape, dtype) -> array`` functions, torch7's defaults.

Every parametrised layer takes its own initialisers of this type (``weight_init=``,
``bias_init=``, ...).

>>> import jax
>>> w = uniform(0.5)(jax.random.key(0), (2, 3))
>>> w.shape, bool((abs(w) <= 0.5).all())
((2, 3), True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core._shapes import Array, Shape

# An initialiser: ``init(key, shape, dtype) -> array``.
Initializer = Callable[[Array, Shape, Any], Array]


def uniform(bound: float) -> Initializer:
    """The torch7 default initialiser: ``U(-bound, bound)``."""

    def init(key: Array, shape: Shape, dtype: Any = jnp.float32) -> Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init



def normal(key: Array, shape: Shape, dtype: Any = jnp.float32) -> Array:
    """torch7's LookupTable default initialiser: ``N(0, 1)``."""
    return jax.random.normal(key, shape, dtype)
