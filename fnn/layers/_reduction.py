"""Math layers: the reductions Sum, Mean, Max, Min and the element-wise Abs, Exp, Log,
Sqrt, Square, Power, Clamp, plus Normalize (torch7's math layers).

Reductions follow torch7: ``dim`` is 0-based, a negative ``dim``
counts from the end, and a non-negative ``dim`` is shifted by one only when the input's
rank is exactly ``n_input_dims + 1``. The reduced dim is removed only when the output keeps
at least one dim, so **a 1-D input gives a 1-element tensor**, not a scalar. Because of that
quirk, ``vmap`` over 1-D examples differs from the batched call: give 2-D examples, or use
``jnp.squeeze`` afterwards.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from fnn.core import Module, elementwise, expect_array, format_shape, leaf
from fnn.core._args import boolean, check_number, int_arg, opt_int_arg
from fnn.errors import ConfigError, ShapeError

# --------------------------------------------------------------------------- reductions


def _reduce_dim(dim: int, nid: int | None, shape: tuple[int, ...]) -> int:
    rank = len(shape)
    if rank == 0:
        raise ShapeError("expects at least a 1-D input, got a 0-D one")
    d = dim + rank if dim < 0 else dim + (1 if nid is not None and rank == nid + 1 else 0)
    if not 0 <= d < rank:
        raise ShapeError(f"dim {dim} is out of range for input {format_shape(shape)}")
    return d


def _reduction(kind: str, dim: int, n_input_dims: int | None, reduce, *, squeeze: bool = True,
               config: dict | None = None) -> Module:
    d0 = int_arg(f"nn.{kind}", "dim", dim)
    nid = opt_int_arg(f"nn.{kind}", "n_input_dims", n_input_dims, minimum=0)

    def check(shape, dtype):
        expect_array(shape)
        _reduce_dim(d0, nid, tuple(shape))

    def forward(p, x, *, rng, train):
        d = _reduce_dim(d0, nid, x.shape)
        y = reduce(x, d)  # keeps dim d with size 1
        return jnp.squeeze(y, axis=d) if squeeze and y.ndim > 1 else y

    return leaf(f"nn.{kind}", forward, kind=kind, check=check,
                config={"dim": d0, "n_input_dims": nid, **(config or {})})


def Sum(dim: int = 0, n_input_dims: int | None = None, size_average: bool = False, squeeze: bool = True) -> Module:
    """Sums over ``dim`` (divided by its size when ``size_average``).

    Args:
      dim: the dim to sum over (0-based; negative counts from the end).
      n_input_dims: the rank of one example; an input of rank ``n_input_dims + 1`` is a
        batch and a non-negative ``dim`` is shifted by one.
      size_average: divide by the size of ``dim`` (this is :func:`Mean`).
      squeeze: remove the summed dim (only when the output keeps at least one dim);
        ``False`` keeps it with size 1.

    Shape contract: the input's shape without ``dim``; a 1-D input gives shape ``(1,)``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Sum().apply((), jnp.arange(1.0, 6.0))
    Array([15.], dtype=float32)
    >>> fnn.Sum(0, n_input_dims=1).apply((), jnp.ones((4, 3))).shape
    (4,)
    """
    boolean("nn.Sum", "size_average", size_average)
    boolean("nn.Sum", "squeeze", squeeze)

    def reduce(x, d):
        y = jnp.sum(x, axis=d, keepdims=True)
        return y / x.shape[d] if size_average else y

    return _reduction("Sum", dim, n_input_dims, reduce, squeeze=squeeze,
                      config={"size_average": size_average, "squeeze": squeeze})


def Mean(dim: int = 0, n_input_dims: int | None = None) -> Module:
    """The mean over ``dim``: torch7's ``Sum(dim, nInputDims, sizeAverage=true)``.

    Shape contract: as :func:`Sum`; a 1-D input gives shape ``(1,)``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Mean(1).apply((), jnp.array([[1.0, 3.0], [2.0, 6.0]]))
    Array([2., 4.], dtype=float32)
    """

    def reduce(x, d):
        return jnp.sum(x, axis=d, keepdims=True) / x.shape[d]

    return _reduction("Mean", dim, n_input_dims, reduce)


def _arg_reduce(arg):
    def reduce(x, d):
        i = arg(x, axis=d, keepdims=True)  # the first extremum, as torch7
        return jnp.take_along_axis(x, i, axis=d)

    return reduce


def Max(dim: int = 0, n_input_dims: int | None = None) -> Module:
    """The maximum over ``dim`` (values only). The gradient goes to one element per
    slice, the first maximum, as torch7's (``jnp.max`` would split it between ties).

    Shape contract: the input's shape without ``dim``; a 1-D input gives shape ``(1,)``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Max(1).apply((), jnp.array([[1.0, 3.0], [5.0, 2.0]]))
    Array([3., 5.], dtype=float32)
    """
    return _reduction("Max", dim, n_input_dims, _arg_reduce(jnp.argmax))


def Min(dim: int = 0, n_input_dims: int | None = None) -> Module:
    """The minimum over ``dim``; the mirror of :func:`Max`.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Min().apply((), jnp.array([4.0, 1.0, 3.0]))
    Array([1.], dtype=float32)
    """
    return _reduction("Min", dim, n_input_dims, _arg_reduce(jnp.argmin))


# --------------------------------------------------------------------------- element-wise


@jax.custom_jvp
def _abs(x):
    return jnp.abs(x)


@_abs.defjvp
def _abs_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return jnp.abs(x), jnp.where(x >= 0, t, -t)


@jax.custom_jvp
def _sqrt(x):
    return jnp.sqrt(x)


@_sqrt.defjvp
def _sqrt_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = jnp.sqrt(x)
    zero = y == 0
    return y, jnp.where(zero, jnp.zeros_like(t), 0.5 * t / jnp.where(zero, jnp.ones_like(y), y))


def Abs() -> Module:
    """``|x|``. The gradient at ``x = 0`` is **+1**, as torch7's (PyTorch and JAX give 0).

    >>> import jax, jax.numpy as jnp, fnn
    >>> jax.grad(lambda x: fnn.Abs().apply((), x).sum())(jnp.array([-2.0, 0.0, 3.0]))
    Array([-1.,  1.,  1.], dtype=float32)
    """
    return elementwise("nn.Abs", _abs, kind="Abs")


def Exp() -> Module:
    """``exp(x)``, element-wise.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Exp().apply((), jnp.zeros(2))
    Array([1., 1.], dtype=float32)
    """
    return elementwise("nn.Exp", jnp.exp, kind="Exp")


def Log() -> Module:
    """``log(x)``, element-wise (``-inf`` at 0 and NaN below, as torch7).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Log().apply((), jnp.ones(2))
    Array([0., 0.], dtype=float32)
    """
    return elementwise("nn.Log", jnp.log, kind="Log")


def Sqrt(eps: float = 0.0) -> Module:
    """``√x``, element-wise. The gradient is 0 where the output is 0 (torch7), not ``inf``.

    Args:
      eps: accepted for torch7 compatibility (``nn.Sqrt(b)``); like torch7, it is stored
        and not used.

    >>> import jax, jax.numpy as jnp, fnn
    >>> jax.grad(lambda x: fnn.Sqrt().apply((), x).sum())(jnp.array([0.0, 4.0]))
    Array([0.  , 0.25], dtype=float32)
    """
    check_number("nn.Sqrt", "eps", eps)
    return elementwise("nn.Sqrt", _sqrt, kind="Sqrt", config={"eps": float(eps)})


def Square() -> Module:
    """``x²``, element-wise.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Square().apply((), jnp.array([-3.0, 2.0]))
    Array([9., 4.], dtype=float32)
    """
    return elementwise("nn.Square", lambda x: x * x, kind="Square")


def Power(p: float) -> Module:
    """``x^p``, element-wise; the gradient is ``p·x^(p-1)``. Integral ``p`` works for
    negative ``x``; a fractional ``p`` gives NaN there, as torch7.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Power(3).apply((), jnp.array([-2.0, 2.0]))
    Array([-8.,  8.], dtype=float32)
    """
    check_number("nn.Power", "p", p)
    q = int(p) if float(p).is_integer() else float(p)
    fn = (lambda x: jax.lax.integer_pow(x, q)) if isinstance(q, int) else (lambda x: jnp.power(x, q))
    return elementwise(f"nn.Power({q})", fn, kind="Power", config={"p": q})


def Clamp(min_value: float, max_value: float) -> Module:
    """Clips to ``[min_value, max_value]``; the gradient is 0 **at** and beyond the bounds
    (torch7's HardTanh rule; PyTorch's clamp passes the gradient at the bounds).

    >>> import jax, jax.numpy as jnp, fnn
    >>> x = jnp.array([-2.0, -1.0, 0.5, 3.0])
    >>> fnn.Clamp(-1, 2).apply((), x), jax.grad(lambda x: fnn.Clamp(-1, 2).apply((), x).sum())(x)
    (Array([-1. , -1. ,  0.5,  2. ], dtype=float32), Array([0., 0., 1., 0.], dtype=float32))
    """
    for name, v in (("min_value", min_value), ("max_value", max_value)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise ConfigError(f"nn.Clamp: {name} must be a number, got {v!r}")
    lo, hi = float(min_value), float(max_value)
    if lo > hi:
        raise ConfigError(f"nn.Clamp: min_value {lo:g} is greater than max_value {hi:g}")

    def fn(x):
        inside = (x > lo) & (x < hi)
        return jnp.where(inside, x, jnp.clip(jax.lax.stop_gradient(x), lo, hi))

    return elementwise(f"nn.Clamp({lo:g}, {hi:g})", fn, kind="Clamp", config={"min_value": lo, "max_value": hi})


# --------------------------------------------------------------------------- Normalize


def Normalize(p: float, eps: float = 1e-10) -> Module:
    """Scales each row to unit Lp norm: ``y = x / (Σ|x|^p + eps)^(1/p)``.

    torch7 semantics: ``eps`` goes **inside** the root (PyTorch's ``F.normalize`` uses
    ``max(‖x‖, eps)``); ``p = math.inf`` divides by ``max|x| + eps``, and its gradient
    goes through one (the first) maximal element, as torch7's. Only 1-D (one vector)
    and 2-D (a batch of rows) inputs, as torch7.

    Args:
      p: the norm's order, ``> 0`` or ``math.inf``.
      eps: added to ``Σ|x|^p`` (to ``max|x|`` for ``p = inf``).

    Shape contract: ``(n) -> (n)``, ``(B, n) -> (B, n)``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Normalize(2).apply((), jnp.array([3.0, 4.0]))
    Array([0.6, 0.8], dtype=float32)
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or math.isnan(p) or p <= 0:
        raise ConfigError(f"nn.Normalize: p must be a positive number or math.inf, got {p!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ConfigError(f"nn.Normalize: eps must be a non-negative number, got {eps!r}")
    order, e = float(p), float(eps)

    def check(shape, dtype):
        expect_array(shape, (1, 2))

    def forward(params, x, *, rng, train):
        if math.isinf(order):
            a = jnp.abs(x)
            norm = jnp.take_along_axis(a, jnp.argmax(a, axis=-1, keepdims=True), axis=-1) + e
        else:
            pw = x * x if order == 2 else jnp.abs(x) ** order
            norm = (jnp.sum(pw, axis=-1, keepdims=True) + e) ** (1.0 / order)
        return x / norm

    shown = "inf" if math.isinf(order) else f"{order:g}"
    return leaf(f"nn.Normalize({shown})", forward, kind="Normalize", check=check, config={"p": order, "eps": e})


__all__ = ["Sum", "Mean", "Max", "Min", "Abs", "Exp", "Log", "Sqrt", "Square", "Power", "Clamp", "Normalize"]
