"""Linear layers: Linear and Bilinear (torch7's simple layers with parameters)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from fnn.core import Initializer, Module, expect_array, expect_table, format_shape, leaf, lift, same_size, uniform
from fnn.core._args import ints
from fnn.errors import ShapeError


def Linear(
    in_features: int,
    out_features: int,
    bias: bool = True,
    *,
    weight_init: Initializer | None = None,
    bias_init: Initializer | None = None,
) -> Module:
    """``y = x Wᵀ + b``.

    Args:
      in_features: size of the last input dim.
      out_features: size of the last output dim.
      bias: whether to add a bias (torch7's ``noBias()`` is ``bias=False``).
      weight_init: ``(key, shape, dtype) -> array``; default torch7's ``U(±1/√in)``.
      bias_init: as ``weight_init``; default ``U(±1/√in)``.

    Shape contract: ``(..., in) -> (..., out)``; torch7 took ``(in)`` or ``(B, in)``,
    fnn also broadcasts over more leading dims (as PyTorch does).
    Params: ``weight (out, in)``, ``bias (out,)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.Linear(3, 4)
    >>> out_shape, params = init(jax.random.key(0), (-1, 3))
    >>> out_shape, params['weight'].shape, apply(params, jnp.ones(3)).shape
    ((-1, 4), (4, 3), (4,))
    """
    ints("nn.Linear", 1, in_features=in_features, out_features=out_features)
    bound = 1.0 / math.sqrt(in_features)
    w_init = weight_init or uniform(bound)
    b_init = bias_init or uniform(bound)

    def check(shape, dtype):
        expect_array(shape)
        if len(shape) < 1 or not same_size(in_features, shape[-1]):
            raise ShapeError(f"expects input (..., {in_features}), got {format_shape(shape)}")

    def params(rng, shape, dtype):
        kw, kb = jax.random.split(rng)
        p = {"weight": w_init(kw, (out_features, in_features), dtype)}
        if bias:
            p["bias"] = b_init(kb, (out_features,), dtype)
        return p

    def forward(p, x, *, rng, train):
        y = jnp.matmul(x, p["weight"].T)
        return y + lift(p["bias"], y.ndim) if bias else y

    return leaf(
        f"nn.Linear({in_features} -> {out_features}{'' if bias else ' without bias'})",
        forward,
        kind="Linear",
        params=params,
        check=check,
        config={"in_features": in_features, "out_features": out_features, "bias": bias},
    )


def Bilinear(
    in1_features: int,
    in2_features: int,
    out_features: int,
    bias: bool = True,
    *,
    weight_init: Initializer | None = None,
    bias_init: Initializer | None = None,
) -> Module:
    """``y_k = x1ᵀ A_k x2 + b_k`` on a table input ``(x1, x2)``.

    Args:
      in1_features: size of the last dim of ``x1``.
      in2_features: size of the last dim of ``x2``.
      out_features: size of the last output dim.
      bias: whether to add a bias.
      weight_init: ``(key, shape, dtype) -> array``; default torch7's ``U(±1/√in1)``.
      bias_init: as ``weight_init``; default ``U(±1/√in1)``.

    Shape contract: ``((..., in1), (..., in2)) -> (..., out)`` with the same leading dims.
    torch7 took only the batch ``((B, in1), (B, in2))``; fnn also takes one example
    ``((in1,), (in2,))`` (so ``vmap`` works) and more leading dims (as PyTorch).
    Params: ``weight (out, in1, in2)``, ``bias (out,)`` (PyTorch's layout too).

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.Bilinear(3, 2, 4)
    >>> out_shape, params = init(jax.random.key(0), ((-1, 3), (-1, 2)))
    >>> out_shape, params['weight'].shape, apply(params, (jnp.ones(3), jnp.ones(2))).shape
    ((-1, 4), (4, 3, 2), (4,))
    """
    ints("nn.Bilinear", 1, in1_features=in1_features, in2_features=in2_features, out_features=out_features)
    bound = 1.0 / math.sqrt(in1_features)
    w_init = weight_init or uniform(bound)
    b_init = bias_init or uniform(bound)

    def check(shape, dtype):
        expect_table(shape, 2)
        s1, s2 = shape
        for s, n, which in ((s1, in1_features, "x1"), (s2, in2_features, "x2")):
            expect_array(s, what=which)
            if len(s) < 1 or not same_size(n, s[-1]):
                raise ShapeError(f"expects {which} (..., {n}), got {format_shape(shape)}")
        if len(s1) != len(s2) or not all(same_size(a, b) for a, b in zip(s1[:-1], s2[:-1], strict=True)):
            raise ShapeError(f"expects x1 and x2 with the same leading dims, got {format_shape(shape)}")

    def params(rng, shape, dtype):
        kw, kb = jax.random.split(rng)
        p = {"weight": w_init(kw, (out_features, in1_features, in2_features), dtype)}
        if bias:
            p["bias"] = b_init(kb, (out_features,), dtype)
        return p

    def forward(p, x, *, rng, train):
        x1, x2 = x
        y = jnp.einsum("...i,kij,...j->...k", x1, p["weight"], x2)
        return y + lift(p["bias"], y.ndim) if bias else y

    return leaf(
        f"nn.Bilinear({in1_features}x{in2_features} -> {out_features}{'' if bias else ' without bias'})",
        forward,
        kind="Bilinear",
        params=params,
        check=check,
        config={"in1_features": in1_features, "in2_features": in2_features, "out_features": out_features,
                "bias": bias},
    )


__all__ = ["Linear", "Bilinear"]
