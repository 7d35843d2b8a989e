"""torch7's transfer functions: element-wise non-linearities and the softmax family.

Every layer here takes one array of any shape (the softmax family: 1-D to 4-D unless
``dim`` is given) and returns an array of the same shape, except GatedLinearUnit,
which halves one dim. Only PReLU has parameters. The gradients follow torch7 at
the kinks: ReLU and Threshold have gradient 0 at the threshold, HardTanh and ReLU6
have gradient 0 *at* their bounds, LeakyReLU and PReLU use the negative slope at 0.

torch7's ``inplace`` flags have no meaning for pure functions and are not offered.
The PyTorch spellings are aliases: ``Softplus``, ``Softsign``, ``Hardtanh``,
``Hardshrink``, ``Softshrink``, ``Tanhshrink``, ``GLU``, ``Softmax(dim)``,
``LogSoftmax(dim)``, ``Softmin(dim)``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from fnn.core import Initializer, Module, canonical_dim, expect_array, format_shape, leaf, lift
from fnn.core._args import check_number, int_arg, reals
from fnn.errors import ConfigError, ShapeError

# SELU's constants (Klambauer et al. 2017), as in PyTorch.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _pointwise(name: str, fn: Callable[[jax.Array], jax.Array], kind: str, config: dict | None = None) -> Module:
    """A parameter-free element-wise layer ``y = fn(x)`` on one array of any shape."""

    def check(shape, dtype):
        expect_array(shape)

    return leaf(name, lambda p, x, *, rng, train: fn(x), kind=kind, check=check, config=config)


def _fmt(v: float) -> str:
    return f"{v:g}"


# --------------------------------------------------------------------------- smooth


def _expm1_neg(x: jax.Array) -> jax.Array:
    # exp(x) - 1 on the non-positive side only: no overflow (and no NaN gradient) for large
    # x, and gradient exp(0) = 1 at x = 0 (jnp.minimum would halve it at the tie).
    return jnp.expm1(jnp.where(x > 0, 0.0, x))


def Sigmoid() -> Module:
    """``y = 1 / (1 + exp(-x))``, element-wise; any shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Sigmoid().apply((), jnp.array([0.0]))
    Array([0.5], dtype=float32)
    """
    return _pointwise("nn.Sigmoid", jax.nn.sigmoid, "Sigmoid")


def Tanh() -> Module:
    """``y = tanh(x)``, element-wise; any shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Tanh().apply((), jnp.array([0.0]))
    Array([0.], dtype=float32)
    """
    return _pointwise("nn.Tanh", jnp.tanh, "Tanh")


def ELU(alpha: float = 1.0) -> Module:
    """``y = x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``, element-wise; any shape.

    The gradient at 0 is ``alpha`` (torch7 and PyTorch both take the exponential side).

    Args:
      alpha: the scale of the negative side.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.ELU().apply((), jnp.array([-1.0, 2.0]))
    Array([-0.63212055,  2.        ], dtype=float32)
    """
    reals("nn.ELU", alpha=alpha)
    return _pointwise(
        f"nn.ELU (alpha:{alpha:f})",
        lambda x: jnp.where(x > 0, x, alpha * _expm1_neg(x)),
        "ELU",
        {"alpha": alpha},
    )


def SELU() -> Module:
    """``y = scale * ELU_alpha(x)`` with PyTorch's constants (not in torch7); any shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SELU().apply((), jnp.array([1.0]))
    Array([1.050701], dtype=float32)
    """
    return _pointwise(
        "nn.SELU",
        lambda x: SELU_SCALE * jnp.where(x > 0, x, SELU_ALPHA * _expm1_neg(x)),
        "SELU",
    )


def GELU(approximate: str = "none") -> Module:
    """``y = x * Phi(x)`` (Phi the normal CDF), element-wise; any shape. Not in torch7.

    Args:
      approximate: ``"none"`` for the exact erf form, ``"tanh"`` for the tanh
        approximation (PyTorch's two options).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.GELU().apply((), jnp.array([0.0, 1.0]))
    Array([0.      , 0.841345], dtype=float32)
    """
    if approximate not in ("none", "tanh"):
        raise ConfigError(f"nn.GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
    tanh = approximate == "tanh"
    name = "nn.GELU" + ("(approximate='tanh')" if tanh else "")
    return _pointwise(name, lambda x: jax.nn.gelu(x, approximate=tanh), "GELU", {"approximate": approximate})


def SoftPlus(beta: float = 1.0, threshold: float = 20.0) -> Module:
    """``y = log(1 + exp(beta * x)) / beta``, and ``y = x`` where ``beta * x > threshold``; any shape.

    Args:
      beta: the sharpness (must be positive).
      threshold: above ``beta * x > threshold`` the layer is the identity (torch7's 20).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SoftPlus().apply((), jnp.array([0.0, 30.0]))
    Array([ 0.6931472, 30.       ], dtype=float32)
    """
    check_number("nn.SoftPlus", "beta", beta, low=0, strict=True)
    reals("nn.SoftPlus", threshold=threshold)

    def fn(x):
        bx = beta * x
        return jnp.where(bx > threshold, x, jnp.logaddexp(bx, 0.0) / beta)

    name = "nn.SoftPlus"
    if (beta, threshold) != (1.0, 20.0):
        name += f"(beta={_fmt(beta)}, threshold={_fmt(threshold)})"
    return _pointwise(name, fn, "SoftPlus", {"beta": beta, "threshold": threshold})


def SoftSign() -> Module:
    """``y = x / (1 + |x|)``, element-wise; any shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SoftSign().apply((), jnp.array([1.0, -3.0]))
    Array([ 0.5 , -0.75], dtype=float32)
    """
    return _pointwise("nn.SoftSign", lambda x: x / (1 + jnp.abs(x)), "SoftSign")


def LogSigmoid() -> Module:
    """``y = log(sigmoid(x))``, computed stably; any shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.LogSigmoid().apply((), jnp.array([0.0]))
    Array([-0.6931472], dtype=float32)
    """
    return _pointwise("nn.LogSigmoid", jax.nn.log_sigmoid, "LogSigmoid")


def TanhShrink() -> Module:
    """``y = x - tanh(x)``, element-wise; any shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.TanhShrink().apply((), jnp.array([0.0]))
    Array([0.], dtype=float32)
    """
    return _pointwise("nn.TanhShrink", lambda x: x - jnp.tanh(x), "TanhShrink")


# --------------------------------------------------------------------------- piecewise linear


def Threshold(th: float = 1e-6, v: float = 0.0) -> Module:
    """``y = x`` if ``x > th`` else ``v``; any shape. The gradient is 1 only where ``x > th``.

    Args:
      th: the threshold. **torch7's default is 1e-6, not 0** (PyTorch has no default).
      v: the value taken at and below the threshold.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Threshold().apply((), jnp.array([1e-7, 1.0]))
    Array([0., 1.], dtype=float32)
    """
    reals("nn.Threshold", th=th, v=v)
    return _pointwise(
        f"nn.Threshold({_fmt(th)}, {_fmt(v)})", lambda x: jnp.where(x > th, x, v), "Threshold", {"th": th, "v": v}
    )


def ReLU() -> Module:
    """``y = max(0, x)``: torch7's ``Threshold(0, 0)``, with gradient 0 at ``x = 0``; any shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.ReLU().apply((), jnp.array([-1.0, 0.0, 2.0]))
    Array([0., 0., 2.], dtype=float32)
    """
    return _pointwise("nn.ReLU", lambda x: jnp.where(x > 0, x, 0.0), "ReLU")


def _hardtanh(lo: float, hi: float) -> Callable[[jax.Array], jax.Array]:
    # The gradient is 1 only strictly inside (lo, hi): torch7 excludes the bounds.
    return lambda x: jnp.where(x <= lo, lo, jnp.where(x >= hi, hi, x))


def HardTanh(min_value: float = -1.0, max_value: float = 1.0) -> Module:
    """Clips to ``[min_value, max_value]``; any shape.

    The gradient is 0 for ``x <= min_value`` and ``x >= max_value``: the bounds themselves
    are excluded, as in torch7 and PyTorch.

    Args:
      min_value: the lower bound.
      max_value: the upper bound; must exceed ``min_value``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.HardTanh().apply((), jnp.array([-2.0, 0.5, 3.0]))
    Array([-1. ,  0.5,  1. ], dtype=float32)
    """
    lo, hi = min_value, max_value
    reals("nn.HardTanh", min_value=lo, max_value=hi)
    if not hi > lo:
        raise ConfigError(f"nn.HardTanh: max_value must exceed min_value, got {lo!r} and {hi!r}")
    name = "nn.HardTanh" if (lo, hi) == (-1.0, 1.0) else f"nn.HardTanh({_fmt(lo)}, {_fmt(hi)})"
    return _pointwise(name, _hardtanh(lo, hi), "HardTanh", {"min_value": lo, "max_value": hi})


def ReLU6() -> Module:
    """``y = min(max(0, x), 6)``: torch7's ``HardTanh(0, 6)`` (gradient 0 at 0 and at 6); any shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.ReLU6().apply((), jnp.array([-1.0, 3.0, 9.0]))
    Array([0., 3., 6.], dtype=float32)
    """
    return _pointwise("nn.ReLU6", _hardtanh(0.0, 6.0), "ReLU6")


def LeakyReLU(negval: float = 0.01, *, negative_slope: float | None = None) -> Module:
    """``y = x`` if ``x > 0`` else ``negval * x``; any shape. The gradient at 0 is ``negval``.

    Args:
      negval: the negative slope (torch7's name).
      negative_slope: PyTorch's name for the same argument; overrides ``negval``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.LeakyReLU(0.1).apply((), jnp.array([-2.0, 3.0]))
    Array([-0.2,  3. ], dtype=float32)
    """
    if negative_slope is not None:
        negval = negative_slope
    reals("nn.LeakyReLU", negval=negval)
    return _pointwise(f"nn.LeakyReLU({_fmt(negval)})", lambda x: jnp.where(x > 0, x, negval * x), "LeakyReLU",
                      {"negval": negval})


def HardShrink(lambd: float = 0.5) -> Module:
    """``y = x`` if ``|x| > lambd`` else 0; any shape (gradient 0 at ``±lambd``).

    Args:
      lambd: the shrinkage threshold.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.HardShrink().apply((), jnp.array([-1.0, 0.5, 0.7]))
    Array([-1. ,  0. ,  0.7], dtype=float32)
    """
    reals("nn.HardShrink", lambd=lambd)
    return _pointwise(f"nn.HardShrink({_fmt(lambd)})", lambda x: jnp.where((x > lambd) | (x < -lambd), x, 0.0),
                      "HardShrink", {"lambd": lambd})


def SoftShrink(lambd: float = 0.5) -> Module:
    """``y = x - lambd`` if ``x > lambd``, ``x + lambd`` if ``x < -lambd``, else 0; any shape.

    Args:
      lambd: the shrinkage threshold, ``>= 0``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SoftShrink().apply((), jnp.array([-1.0, 0.2, 2.0]))
    Array([-0.5,  0. ,  1.5], dtype=float32)
    """
    check_number("nn.SoftShrink", "lambd", lambd, low=0)
    return _pointwise(
        f"nn.SoftShrink({_fmt(lambd)})",
        lambda x: jnp.where(x > lambd, x - lambd, jnp.where(x < -lambd, x + lambd, 0.0)),
        "SoftShrink",
        {"lambd": lambd},
    )


def PReLU(n_output_plane: int = 0, *, init: float = 0.25, weight_init: Initializer | None = None) -> Module:
    """``y = x`` if ``x > 0`` else ``a * x`` with a learned slope ``a``.

    With ``n_output_plane`` 0 (or 1) one slope is shared by every element; with
    ``n > 1`` there is one slope per channel. As in torch7 the channel dim is
    **dim 1 whenever the input has rank > 1** (dim 0 for a 1-D input): a 2-D input
    is ``(B, C)``, a 3-D one ``(B, C, L)``, a 4-D one ``(B, C, H, W)``.

    Deviations: torch7's ``PReLU(1)`` demanded a channel dim of size 1; fnn shares
    the single slope instead (PyTorch's ``PReLU()``), which agrees wherever torch7
    worked. Because the channel dim is read from the rank, ``jax.vmap`` over a
    batch equals the batched call for per-channel slopes only on ``(B, C)``
    inputs; apply a 3-D/4-D batch directly (a single ``(C, H, W)`` image would be
    read as ``(B=C, C=H, W)``).

    Args:
      n_output_plane: 0 or 1 for one shared slope, else the number of channels.
      init: the initial slope (torch7's 0.25).
      weight_init: ``(key, shape, dtype) -> array`` overriding ``init``.

    Shape contract: any shape (shared) or ``(C,)``, ``(B, C, ...)`` (per channel); output
    as input. Params: ``weight (max(n_output_plane, 1),)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.PReLU(2)
    >>> _, params = init(jax.random.key(0), (-1, 2))
    >>> apply(params, jnp.array([[-4.0, 1.0]]))
    Array([[-1.,  1.]], dtype=float32)
    """
    int_arg("nn.PReLU", "n_output_plane", n_output_plane, minimum=0)
    reals("nn.PReLU", init=init)
    shared = n_output_plane <= 1
    n = max(n_output_plane, 1)

    def check(shape, dtype):
        expect_array(shape)
        if shared:
            return
        c = 1 if len(shape) > 1 else 0
        if len(shape) < 1 or shape[c] not in (n, -1):
            raise ShapeError(
                f"expects {n} channels in dim {c} (dim 0 of a 1-D input, else dim 1), got {format_shape(shape)}"
            )

    def params(rng, shape, dtype):
        if weight_init is not None:
            return {"weight": weight_init(rng, (n,), dtype)}
        return {"weight": jnp.full((n,), init, dtype)}

    def forward(p, x, *, rng, train):
        w = p["weight"]
        if shared:
            a = jnp.reshape(w, ())
        else:
            c = 1 if x.ndim > 1 else 0
            a = lift(jnp.reshape(w, (n,) + (1,) * (x.ndim - c - 1)), x.ndim)
        return jnp.where(x > 0, x, a * x)

    return leaf(
        "nn.PReLU" if shared else f"nn.PReLU({n})",
        forward,
        kind="PReLU",
        params=params,
        check=check,
        config={"n_output_plane": n_output_plane},
    )


# --------------------------------------------------------------------------- softmax family


def softmax_dim(rank: int, dim: int | None) -> int:
    """torch7's rank rule for SoftMax/LogSoftMax/SoftMin, 0-based: 1-D -> 0, 2-D -> 1,
    3-D -> 0 (a ``(C, H, W)`` image), 4-D -> 1; other ranks are an error. An explicit
    ``dim`` (negative counts from the end) overrides the rule."""
    if dim is not None:
        return canonical_dim(dim, rank)
    if not 1 <= rank <= 4:
        raise ShapeError(f"picks its dim from the rank and takes 1-D to 4-D input, got {rank}-D; pass dim= explicitly")
    return 0 if rank in (1, 3) else 1


def _softmax_like(kind: str, fn: Callable[..., jax.Array], dim: int | None) -> Module:
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int)):
        raise ConfigError(f"nn.{kind}: dim must be an int or None, got {dim!r}")

    def check(shape, dtype):
        expect_array(shape)
        softmax_dim(len(shape), dim)

    def forward(p, x, *, rng, train):
        return fn(x, axis=softmax_dim(x.ndim, dim))

    name = f"nn.{kind}" if dim is None else f"nn.{kind}(dim={dim})"
    return leaf(name, forward, kind=kind, check=check, config={"dim": dim})


_SOFTMAX_DOC = """

    torch7 has no dim argument: the dim follows from the rank, 0-based: 1-D -> 0,
    2-D -> 1, **3-D -> 0** (channels of a ``(C, H, W)`` image), 4-D -> 1; rank > 4
    is a :class:`ShapeError`. So a ``(T, B, V)`` tensor is normalised over T. The
    rule agrees with ``jax.vmap`` for a batch of vectors ``(B, V)`` and a batch of
    images ``(B, C, H, W)``, but not for a 3-D batch of matrices ``(B, N, V)``
    (batched: dim 0; per example: dim 1); pass ``dim=-1`` there. The optional
    ``dim`` (PyTorch's argument; negative counts from the end) overrides the rule
    and allows any rank >= 1; a non-negative ``dim`` is absolute (no batch shift).

    Args:
      dim: None for torch7's rank rule, or the dim to normalise over.
"""


def SoftMax(dim: int | None = None) -> Module:
    """``y_i = exp(x_i) / sum_j exp(x_j)`` over one dim (max-shifted, stable); output as input."""
    return _softmax_like("SoftMax", jax.nn.softmax, dim)


def LogSoftMax(dim: int | None = None) -> Module:
    """``y_i = x_i - log sum_j exp(x_j)`` over one dim (stable); output as input."""
    return _softmax_like("LogSoftMax", jax.nn.log_softmax, dim)


def SoftMin(dim: int | None = None) -> Module:
    """``y = softmax(-x)`` over one dim; output as input."""
    return _softmax_like("SoftMin", lambda x, axis: jax.nn.softmax(-x, axis=axis), dim)


SoftMax.__doc__ += _SOFTMAX_DOC + """
    >>> import jax.numpy as jnp, fnn
    >>> fnn.SoftMax().apply((), jnp.zeros((1, 4)))
    Array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)
    """
LogSoftMax.__doc__ += _SOFTMAX_DOC + """
    >>> import jax.numpy as jnp, fnn
    >>> fnn.LogSoftMax().apply((), jnp.zeros(2))
    Array([-0.6931472, -0.6931472], dtype=float32)
    """
SoftMin.__doc__ += _SOFTMAX_DOC + """
    >>> import jax.numpy as jnp, fnn
    >>> fnn.SoftMin().apply((), jnp.array([1.0, 1.0]))
    Array([0.5, 0.5], dtype=float32)
    """


def GatedLinearUnit(dim: int = -1) -> Module:
    """Splits ``dim`` into halves ``a, b`` and returns ``a * sigmoid(b)``.

    Args:
      dim: the dim to split (default the last, as in torch7); its size must be even.
        A non-negative dim is absolute (no batch shift), as in torch7 and PyTorch.

    Shape contract: ``(..., 2n, ...) -> (..., n, ...)`` along ``dim``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.GatedLinearUnit().apply((), jnp.array([2.0, 0.0]))
    Array([1.], dtype=float32)
    """
    int_arg("nn.GatedLinearUnit", "dim", dim)

    def check(shape, dtype):
        expect_array(shape)
        if len(shape) < 1:
            raise ShapeError("expects an input of rank >= 1, got a scalar")
        d = canonical_dim(dim, len(shape))
        if shape[d] != -1 and shape[d] % 2:
            raise ShapeError(f"splits dim {d} in halves, which needs an even size, got {format_shape(shape)}")

    def forward(p, x, *, rng, train):
        a, b = jnp.split(x, 2, axis=canonical_dim(dim, x.ndim))
        return a * jax.nn.sigmoid(b)

    name = "nn.GatedLinearUnit" if dim == -1 else f"nn.GatedLinearUnit({dim})"
    return leaf(name, forward, kind="GatedLinearUnit", check=check, config={"dim": dim})


# --------------------------------------------------------------------------- PyTorch aliases


def Softmax(dim: int | None = None) -> Module:
    """PyTorch's ``nn.Softmax(dim)``: :func:`SoftMax` (dim None: torch7's rank rule, which is
    also PyTorch's implicit-dim rule for ranks 1 to 4)."""
    return SoftMax(dim=dim)


def LogSoftmax(dim: int | None = None) -> Module:
    """PyTorch's ``nn.LogSoftmax(dim)``: :func:`LogSoftMax`."""
    return LogSoftMax(dim=dim)


def Softmin(dim: int | None = None) -> Module:
    """PyTorch's ``nn.Softmin(dim)``: :func:`SoftMin`."""
    return SoftMin(dim=dim)


def Hardtanh(min_val: float = -1.0, max_val: float = 1.0) -> Module:
    """PyTorch's ``nn.Hardtanh(min_val, max_val)``: :func:`HardTanh`."""
    return HardTanh(min_val, max_val)


def Hardshrink(lambd: float = 0.5) -> Module:
    """PyTorch's ``nn.Hardshrink(lambd)``: :func:`HardShrink`."""
    return HardShrink(lambd)


def Softshrink(lambd: float = 0.5) -> Module:
    """PyTorch's ``nn.Softshrink(lambd)``: :func:`SoftShrink`."""
    return SoftShrink(lambd)


def Softplus(beta: float = 1.0, threshold: float = 20.0) -> Module:
    """PyTorch's ``nn.Softplus(beta, threshold)``: :func:`SoftPlus`."""
    return SoftPlus(beta, threshold)


def Softsign() -> Module:
    """PyTorch's ``nn.Softsign()``: :func:`SoftSign`."""
    return SoftSign()


def Tanhshrink() -> Module:
    """PyTorch's ``nn.Tanhshrink()``: :func:`TanhShrink`."""
    return TanhShrink()


def GLU(dim: int = -1) -> Module:
    """PyTorch's ``nn.GLU(dim=-1)``: :func:`GatedLinearUnit`."""
    return GatedLinearUnit(dim)


__all__ = [
    "Sigmoid", "Tanh", "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "GELU", "SoftPlus", "SoftSign",
    "SoftMax", "LogSoftMax", "SoftMin", "LogSigmoid", "HardTanh", "HardShrink", "SoftShrink", "Threshold",
    "TanhShrink", "GatedLinearUnit",
    "Softmax", "LogSoftmax", "Softmin", "Hardtanh", "Hardshrink", "Softshrink", "Softplus", "Softsign",
    "Tanhshrink", "GLU",
]
