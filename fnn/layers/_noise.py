"""Random and gradient-side layers: torch7's RReLU, WhiteNoise, GradientReversal and L1Penalty.

The random layers follow the dropout contract: in training mode (``train=True``) they draw
from the ``rng`` key given to ``apply`` and raise :class:`~fnn.errors.MissingRNGError`
without one; evaluation is deterministic and needs no key.

GradientReversal and L1Penalty are the identity in the forward pass; their torch7 meaning
is what they do to the gradient, so they are written with ``jax.custom_vjp``: any
``jax.grad`` through them sees torch7's ``updateGradInput``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import Module, leaf
from fnn.core._args import boolean, check_number
from fnn.errors import ConfigError, MissingRNGError


def _key(kind: str, rng: Any) -> Any:
    if rng is None:
        raise MissingRNGError(f"needs a PRNG key in training mode to draw its {kind}; call "
                              "apply(params, x, rng=jax.random.key(0), train=True)")
    return rng


def RReLU(lower: float = 1 / 8, upper: float = 1 / 3) -> Module:
    """Randomized leaky ReLU: ``y = x`` for ``x > 0``, else ``a * x``.

    In training each element draws its own slope ``a ~ U(lower, upper)`` (from the ``rng``
    key); in evaluation ``a = (lower + upper) / 2``. The same name and defaults as PyTorch's
    ``nn.RReLU``; torch7's ``inplace`` flag has no meaning for immutable arrays.

    Args:
      lower: the lowest slope, ``>= 0``.
      upper: the highest slope, ``>= lower``.

    Shape contract: any shape; output as input.

    >>> import jax, jax.numpy as jnp, fnn
    >>> fnn.RReLU(0.1, 0.3).apply((), jnp.array([-1.0, 2.0]))
    Array([-0.2,  2. ], dtype=float32)
    >>> y = fnn.RReLU().apply((), -jnp.ones(4), rng=jax.random.key(0), train=True)
    >>> bool(jnp.all((y <= -1 / 8) & (y >= -1 / 3)))
    True
    """
    lower = check_number("nn.RReLU", "lower", lower, low=0)
    upper = check_number("nn.RReLU", "upper", upper, low=0)
    if lower > upper:
        raise ConfigError(f"nn.RReLU: lower must be <= upper, got lower={lower}, upper={upper}")

    def forward(p, x, *, rng, train):
        if train:
            a = jax.random.uniform(_key("slopes", rng), x.shape, x.dtype, lower, upper)
        else:
            a = jnp.asarray((lower + upper) / 2, x.dtype)
        return jnp.where(x > 0, x, x * a)

    return leaf(f"nn.RReLU (l:{lower:f}, u:{upper:f})", forward, kind="RReLU",
                config={"lower": lower, "upper": upper})


def WhiteNoise(mean: float = 0.0, std: float = 0.1) -> Module:
    """Adds Gaussian noise ``N(mean, std)`` in training, and ``mean`` in evaluation.

    The gradient passes through unchanged (torch7 raised in evaluation mode; fnn's
    gradient is the identity in both modes).

    Args:
      mean: the noise mean.
      std: the noise standard deviation, ``>= 0``.

    Shape contract: any shape; output as input.

    >>> import jax, jax.numpy as jnp, fnn
    >>> fnn.WhiteNoise(0.5).apply((), jnp.zeros(2))
    Array([0.5, 0.5], dtype=float32)
    >>> fnn.WhiteNoise().apply((), jnp.zeros(3), rng=jax.random.key(0), train=True).shape
    (3,)
    """
    mean = check_number("nn.WhiteNoise", "mean", mean)
    std = check_number("nn.WhiteNoise", "std", std, low=0)

    def forward(p, x, *, rng, train):
        if train:
            return x + (mean + std * jax.random.normal(_key("noise", rng), x.shape, x.dtype))
        return x + jnp.asarray(mean, x.dtype) if mean != 0 else x

    return leaf(f"nn.WhiteNoise mean: {mean:f}, std: {std:f}", forward, kind="WhiteNoise",
                config={"mean": mean, "std": std})


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _reverse(x: jax.Array, scale: float) -> jax.Array:
    return x


def _reverse_fwd(x, scale):
    return x, None


def _reverse_bwd(scale, _, g):
    return (-scale * g,)


_reverse.defvjp(_reverse_fwd, _reverse_bwd)


def GradientReversal(lambda_: float = 1.0) -> Module:
    """The identity forward; the backward pass returns ``-lambda_ * gradOutput``.

    torch7's ``setLambda`` is a new layer: ``GradientReversal(new_lambda)`` (it has no params).

    Args:
      lambda_: the reversal scale (torch7's ``lambda``; a Python keyword, hence the ``_``).

    Shape contract: any shape; output as input.

    >>> import jax, jax.numpy as jnp, fnn
    >>> apply = fnn.GradientReversal(0.5).apply
    >>> jax.grad(lambda x: apply((), x).sum())(jnp.ones(2))
    Array([-0.5, -0.5], dtype=float32)
    """
    lam = check_number("nn.GradientReversal", "lambda_", lambda_)
    return leaf(f"nn.GradientReversal({lam:g})", lambda p, x, *, rng, train: _reverse(x, lam),
                kind="GradientReversal", config={"lambda_": lam})


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _l1(x: jax.Array, weight: float, size_average: bool, provide_output: bool) -> jax.Array:
    return x


def _l1_fwd(x, weight, size_average, provide_output):
    return x, x


def _l1_bwd(weight, size_average, provide_output, x, g):
    m = weight / x.size if size_average else weight
    penalty = m * jnp.sign(x)
    return (penalty + g if provide_output else penalty,)


_l1.defvjp(_l1_fwd, _l1_bwd)


def l1_penalty(x: jax.Array, l1weight: float, size_average: bool = False) -> jax.Array:
    """The loss torch7's L1Penalty stored as ``self.loss``: ``l1weight * ‖x‖₁`` (÷ numel if averaged).

    >>> import jax.numpy as jnp
    >>> float(l1_penalty(jnp.array([1.0, -2.0]), 0.5))
    1.5
    """
    m = l1weight / x.size if size_average else l1weight
    return m * jnp.sum(jnp.abs(x))


def L1Penalty(l1weight: float, size_average: bool = False, provide_output: bool = True) -> Module:
    """An L1 regulariser on activations: the identity forward, whose backward adds
    ``l1weight * sign(x)`` (``÷ numel`` when ``size_average``) to the incoming gradient.

    So training through it minimises ``loss + l1weight * ‖x‖₁`` without the penalty appearing
    in the loss value (torch7 kept that value in ``self.loss``; fnn computes it with
    :func:`fnn.layers.l1_penalty` when you want to log it).

    Args:
      l1weight: the penalty weight.
      size_average: divide the penalty by the number of elements.
      provide_output: when False the gradient from above is dropped and only the penalty's
        gradient flows back (torch7's ``provideOutput = false``).

    Shape contract: any shape; output as input.

    >>> import jax, jax.numpy as jnp, fnn
    >>> apply = fnn.L1Penalty(0.1).apply
    >>> jax.grad(lambda x: apply((), x).sum())(jnp.array([2.0, -3.0, 0.0]))
    Array([1.1, 0.9, 1. ], dtype=float32)
    """
    w = check_number("nn.L1Penalty", "l1weight", l1weight)
    size_average = boolean("nn.L1Penalty", "size_average", size_average)
    provide_output = boolean("nn.L1Penalty", "provide_output", provide_output)
    return leaf(f"nn.L1Penalty({w:g})", lambda p, x, *, rng, train: _l1(x, w, size_average, provide_output),
                kind="L1Penalty", config={"l1weight": w, "size_average": size_average,
                                          "provide_output": provide_output})


__all__ = ["RReLU", "WhiteNoise", "GradientReversal", "L1Penalty", "l1_penalty"]
