"""torch7 layers that were Sequential subclasses: Maxout, LayerNormalization and CReLU.

Maxout is built from the same fnn layers torch7 built it from, so its params have torch7's
structure (a tuple, one entry per inner module). LayerNormalization and CReLU are leaves
(torch7 reshaped around, or composed, parameter-free steps).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from fnn.core import Module, expect_array, format_shape, is_shape, leaf, lift, same_size, shape_of
from fnn.core._args import boolean, check_number, int_arg
from fnn.errors import ConfigError, ShapeError
from fnn.layers._containers import Sequential
from fnn.layers._linear import Linear
from fnn.layers._reduction import Max
from fnn.layers._shaping import View


def _renamed(seq: Module, name: str, kind: str, config: dict) -> Module:
    return dataclasses.replace(seq, name=name, kind=kind, config=config)


def Maxout(input_size: int, output_size: int, maxout_number: int, preprocess: Module | None = None) -> Module:
    """Maxout units: ``Linear(in, out·pieces) -> View(pieces, out) -> [preprocess] -> Max`` over pieces.

    torch7's composition exactly (``nn.Maxout`` was a Sequential): unit ``j`` is the maximum of
    the Linear outputs ``k·out + j`` for ``k < maxout_number``; the gradient goes to the first
    maximum.

    Args:
      input_size: size of the last input dim.
      output_size: number of maxout units.
      maxout_number: pieces per unit.
      preprocess: an optional Module applied to the ``(..., pieces, out)`` view before the max.

    Shape contract: ``(in)`` or ``(B, in)`` -> ``(out)`` or ``(B, out)`` (torch7's Linear ranks).
    Params: ``(linear, (), [preprocess,] ())`` with ``linear = {weight (out·pieces, in), bias}``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.Maxout(3, 2, 4)
    >>> out_shape, params = init(jax.random.key(0), (-1, 3))
    >>> out_shape, params[0]['weight'].shape
    ((-1, 2), (8, 3))
    """
    for n, v in (("input_size", input_size), ("output_size", output_size), ("maxout_number", maxout_number)):
        int_arg("nn.Maxout", n, v, minimum=1)
    if preprocess is not None and not isinstance(preprocess, Module):
        raise ConfigError(f"nn.Maxout: preprocess must be an fnn Module or None, got {preprocess!r}")
    parts = [Linear(input_size, output_size * maxout_number), View(maxout_number, output_size, num_input_dims=1)]
    parts += [preprocess] if preprocess is not None else []
    parts.append(Max(0, 2))
    name = f"nn.Maxout({input_size} -> {output_size}, {maxout_number} pieces)"
    seq = _renamed(Sequential(*parts), name, "Maxout",
                   {"input_size": input_size, "output_size": output_size, "maxout_number": maxout_number})

    def check(shape):
        if not is_shape(shape) or len(shape) not in (1, 2) or not same_size(input_size, shape[-1]):
            raise ShapeError(f"{name} expects input ({input_size}) or (B, {input_size}), got {format_shape(shape)}")

    def init_fn(rng, shape, dtype):
        check(shape)
        return seq.init_fn(rng, shape, dtype)

    def apply_fn(params, state, x, *, rng=None, train=False):
        check(shape_of(x))
        return seq.apply_fn(params, state, x, rng=rng, train=train)

    return dataclasses.replace(seq, init_fn=init_fn, apply_fn=apply_fn)


def LayerNormalization(n_output: int, bias: float = 0.0, eps: float = 1e-10, affine: bool = True) -> Module:
    """torch7's layer normalisation: ``y = √n · d / √(Σ d² + eps) · weight + bias`` with
    ``d = x − mean(x)`` over the last dim.

    torch7 composed it as ``ConcatTable(Identity, Mean -> Replicate) -> CSubTable ->
    Normalize(2, eps) -> MulConstant(√n) -> CMul(n) -> Add(n)``. For a batch that chain
    subtracts the replicated means in storage order (a ``(n, B)`` view from a ``(B, n)``
    input), which is not the per-sample mean it means; fnn computes what it means, the
    per-sample mean, and matches torch7 exactly on one example. eps goes inside the root
    (PyTorch's :func:`LayerNorm` divides by ``√(var + eps)`` instead).

    Args:
      n_output: the feature size (the last dim).
      bias: the initial value of the bias (torch7: ``Add``'s bias filled with it).
      eps: added inside the norm's root.
      affine: learn a gain ``weight`` (init 1, torch7's CMul) and a ``bias`` (torch7's Add).

    Shape contract: ``(..., n)``; output as input (torch7: ``(n)`` or ``(B, n)``).
    Params: ``weight (n,)``, ``bias (n,)`` when ``affine``, else none.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.LayerNormalization(4)
    >>> _, params = init(jax.random.key(0), (-1, 4))
    >>> [round(float(v), 3) for v in apply(params, jnp.array([1.0, 2.0, 3.0, 4.0]))]
    [-1.342, -0.447, 0.447, 1.342]
    """
    n = int_arg("nn.LayerNormalization", "n_output", n_output, minimum=1)
    b = check_number("nn.LayerNormalization", "bias", bias)
    e = check_number("nn.LayerNormalization", "eps", eps, low=0)
    affine = boolean("nn.LayerNormalization", "affine", affine)

    def check(shape, dtype):
        expect_array(shape)
        if len(shape) < 1 or not same_size(n, shape[-1]):
            raise ShapeError(f"expects input (..., {n}), got {format_shape(shape)}")

    def params(rng, shape, dtype):
        return {"weight": jnp.ones((n,), dtype), "bias": jnp.full((n,), b, dtype)} if affine else ()

    def forward(p, x, *, rng, train):
        d = x - jnp.mean(x, axis=-1, keepdims=True)
        y = d / jnp.sqrt(jnp.sum(d * d, axis=-1, keepdims=True) + e) * math.sqrt(n)
        return y * lift(p["weight"], y.ndim) + lift(p["bias"], y.ndim) if affine else y

    return leaf(f"nn.LayerNormalization({n})", forward, kind="LayerNormalization", check=check,
                params=params, config={"n_output": n, "bias": b, "eps": e, "affine": affine})


def CReLU(n_input_dims: int) -> Module:
    """Concatenated ReLU: ``concat(relu(x), relu(−x))`` along the first non-batch dim.

    torch7's batch rule: an input of rank ``n_input_dims + 1`` is a batch (dim 1 doubles);
    otherwise dim 0 doubles. torch7's ``inplace`` flag has no meaning for immutable arrays.

    Args:
      n_input_dims: the rank of one example.

    Shape contract: ``(C, ...)`` -> ``(2C, ...)``, or ``(B, C, ...)`` -> ``(B, 2C, ...)``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CReLU(1).apply((), jnp.array([1.0, -2.0]))
    Array([1., 0., 0., 2.], dtype=float32)
    """
    nid = int_arg("nn.CReLU", "n_input_dims", n_input_dims, minimum=1)

    def check(shape, dtype):
        expect_array(shape)
        if len(shape) < 1:
            raise ShapeError(f"expects an input of rank >= 1, got {format_shape(shape)}")

    def forward(p, x, *, rng, train):
        axis = 1 if x.ndim == nid + 1 else 0
        return jax.nn.relu(jnp.concatenate([x, -x], axis=axis))

    return leaf("nn.CReLU()", forward, kind="CReLU", check=check, config={"n_input_dims": nid})


__all__ = ["Maxout", "LayerNormalization", "CReLU"]
