"""torch7's miscellaneous layers: Constant, OneHot, Collapse and TemporalDynamicKMaxPooling.

Indices are 0-based (torch7's OneHot took 1-based ones).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import Module, expect_array, format_shape, leaf
from fnn.core._args import check_number, int_arg
from fnn.errors import ConfigError, DTypeError, IndexRangeError, ShapeError


def Constant(value: Any, n_input_dim: int | None = None) -> Module:
    """Outputs a fixed array, whatever the input; replicated over the batch when the input
    has more than ``n_input_dim`` dims. Its gradient with respect to the input is zero.

    Args:
      value: a number or an array (a number becomes shape ``(1,)``, as in torch7). It is a
        hyper-parameter, not a param: it is not trained.
      n_input_dim: the rank of one example; ``None``: never replicate.

    Shape contract: any input -> ``value.shape``, or ``(B,) + value.shape`` for an input of
    rank ``> n_input_dim``. The output takes the input's dtype when the input is floating.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Constant(2.0, 1).apply((), jnp.zeros((3, 4)))
    Array([[2.],
           [2.],
           [2.]], dtype=float32)
    """
    v = np.asarray(value)
    if v.dtype == object or not (np.issubdtype(v.dtype, np.number) or v.dtype == bool):
        raise ConfigError(f"nn.Constant: value must be a number or a numeric array, got {value!r}")
    if v.ndim == 0:
        v = v.reshape(1)
    nid = None if n_input_dim is None else int_arg("nn.Constant", "n_input_dim", n_input_dim, minimum=0)

    def check(shape, dtype):
        expect_array(shape)

    def forward(p, x, *, rng, train):
        out = jnp.asarray(v, x.dtype) if jnp.issubdtype(x.dtype, jnp.floating) else jnp.asarray(v)
        if nid is not None and x.ndim > nid:
            out = jnp.broadcast_to(out, (x.shape[0],) + v.shape)
        return out

    return leaf(f"nn.Constant{tuple(v.shape)}", forward, kind="Constant", check=check, float_input=False,
                config={"value": v, "n_input_dim": nid})


def OneHot(output_size: int, dtype: Any = jnp.float32) -> Module:
    """One-hot encoding: integer indices of any shape -> the same shape plus ``output_size``.

    Indices are **0-based** (torch7's were 1-based), in ``[0, output_size)``. An index out of
    range raises an :class:`~fnn.errors.IndexRangeError` when the indices are concrete (eager);
    under ``jit`` its row is all zeros.

    Args:
      output_size: the number of classes.
      dtype: the output dtype (torch7: the module's tensor type).

    Shape contract: ``(...)`` integer -> ``(..., output_size)``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.OneHot(3).apply((), jnp.array([2, 0]))
    Array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    n = int_arg("nn.OneHot", "output_size", output_size, minimum=1)
    out_dtype = jnp.dtype(dtype)

    def check(shape, dt):
        expect_array(shape, what="index input")
        if not jnp.issubdtype(dt, jnp.integer):
            raise DTypeError(f"expects integer indices (0-based), got {jnp.dtype(dt).name}")

    def forward(p, x, *, rng, train):
        if not isinstance(x, jax.core.Tracer):
            values = np.asarray(x)
            bad = (values < 0) | (values >= n)
            if bad.any():
                raise IndexRangeError(f"index out of range [0, {n}): got {int(values[bad].flat[0])}")
        return jax.nn.one_hot(x, n, dtype=out_dtype)

    return leaf(f"nn.OneHot({n})", forward, kind="OneHot", check=check, float_input=False,
                input_dtype=jnp.int32, config={"output_size": n})


def Collapse(n_input_dim: int) -> Module:
    """Flattens the non-batch dims: ``(B, ...) -> (B, -1)`` for inputs of rank ``> n_input_dim``,
    else ``(...) -> (-1,)``.

    Args:
      n_input_dim: the rank of one example.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Collapse(2).apply((), jnp.ones((5, 2, 3))).shape, fnn.Collapse(2).apply((), jnp.ones((2, 3))).shape
    ((5, 6), (6,))
    """
    nid = int_arg("nn.Collapse", "n_input_dim", n_input_dim, minimum=0)

    def check(shape, dtype):
        expect_array(shape)

    def forward(p, x, *, rng, train):
        return jnp.reshape(x, (x.shape[0], -1) if x.ndim > nid else (-1,))

    return leaf(f"nn.Collapse({nid})", forward, kind="Collapse", check=check, float_input=False,
                config={"n_input_dim": nid})


def TemporalDynamicKMaxPooling(min_k: int, factor: float = 0.0) -> Module:
    """Dynamic k-max pooling over time: keeps the ``k`` largest values of each feature along T,
    **in their original order**, with ``k = max(min_k, ceil(factor · T))``.

    Args:
      min_k: the smallest ``k`` (the sequence must be at least this long).
      factor: the fraction of T to keep when larger than ``min_k``, in [0, 1].

    Shape contract: ``(T, F) -> (k, F)`` or ``(B, T, F) -> (B, k, F)`` (torch7's time-major,
    channels-last temporal layout). The gradient goes back to the kept positions.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.TemporalDynamicKMaxPooling(2).apply((), jnp.array([[1.0], [5.0], [2.0], [4.0]]))[:, 0]
    Array([5., 4.], dtype=float32)
    """
    mk = int_arg("nn.TemporalDynamicKMaxPooling", "min_k", min_k, minimum=1)
    f = check_number("nn.TemporalDynamicKMaxPooling", "factor", factor, low=0)
    if f > 1:
        raise ConfigError(f"nn.TemporalDynamicKMaxPooling: factor must be in [0, 1], got {factor!r}")

    def k_of(t: int) -> int:
        return max(mk, math.ceil(f * t))

    def check(shape, dtype):
        expect_array(shape, (2, 3))
        t = shape[-2]
        if t != -1 and t < k_of(t):
            raise ShapeError(f"needs a sequence of at least {k_of(t)} steps (k = max(min_k, ceil(factor*T))), "
                             f"got {format_shape(shape)}")

    def forward(p, x, *, rng, train):
        xt = jnp.swapaxes(x, -1, -2)                        # (..., F, T)
        _, idx = jax.lax.top_k(xt, k_of(x.shape[-2]))
        return jnp.swapaxes(jnp.take_along_axis(xt, jnp.sort(idx, axis=-1), axis=-1), -1, -2)

    return leaf(f"nn.TemporalDynamicKMaxPooling({mk}, {f:g})", forward, kind="TemporalDynamicKMaxPooling",
                check=check, config={"min_k": mk, "factor": f})


__all__ = ["Constant", "OneHot", "Collapse", "TemporalDynamicKMaxPooling"]
