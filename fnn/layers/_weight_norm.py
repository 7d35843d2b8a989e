"""Weight normalisation: torch7's LinearWeightNorm and the WeightNorm wrapper.

Both reparametrise a weight as ``w = g · v / ‖v‖`` with the norm taken per output unit; the
trained params are ``v`` and ``g`` (plus the bias). The weight is recomputed from them in
every call, in training and evaluation alike (torch7 cached it at ``evaluate()``: the same
numbers).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from fnn.core import Initializer, Module, dtype_of, expect_array, format_shape, leaf, lift, same_size, shape_of, uniform
from fnn.core._args import boolean, check_number, int_arg, ints
from fnn.errors import ConfigError, FnnError, ShapeError

WEIGHT_NORM_EPS = 1e-4  # torch7's WeightNorm: ‖v‖ = sqrt(Σ v² + 1e-4)


def LinearWeightNorm(
    input_size: int,
    output_size: int,
    bias: bool = True,
    eps: float = 1e-16,
    *,
    weight_init: Initializer | None = None,
    bias_init: Initializer | None = None,
) -> Module:
    """Linear with weight normalisation: ``y = x wᵀ + b``, ``w_j = g_j · v_j / max(‖v_j‖, eps)``.

    Initialised as torch7: a Linear weight ``U(±1/√in)`` becomes ``v``, and ``g`` its row
    norms, so the initial layer equals that Linear. torch7's ``fromLinear`` / ``toLinear`` are
    :func:`linear_weight_norm_params` and :func:`linear_weight_norm_weight`.

    Args:
      input_size: size of the last input dim.
      output_size: size of the last output dim.
      bias: whether to add a bias.
      eps: the smallest norm (torch7's clamp).
      weight_init: ``(key, shape, dtype) -> array`` for the initial weight; default ``U(±1/√in)``.
      bias_init: as ``weight_init``; default ``U(±1/√in)``.

    Shape contract: ``(..., in) -> (..., out)``.
    Params: ``v (out, in)``, ``g (out, 1)``, ``bias (out,)`` (torch7's names and shapes; PyTorch's
    ``weight_norm`` calls them ``weight_v`` and ``weight_g``).

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.LinearWeightNorm(3, 2)
    >>> _, params = init(jax.random.key(0), (-1, 3))
    >>> params['v'].shape, params['g'].shape, apply(params, jnp.ones(3)).shape
    ((2, 3), (2, 1), (2,))
    """
    ints("nn.LinearWeightNorm", 1, input_size=input_size, output_size=output_size)
    bias = boolean("nn.LinearWeightNorm", "bias", bias)
    e = check_number("nn.LinearWeightNorm", "eps", eps, low=0)
    bound = 1.0 / math.sqrt(input_size)
    w_init, b_init = weight_init or uniform(bound), bias_init or uniform(bound)

    def check(shape, dtype):
        expect_array(shape)
        if len(shape) < 1 or not same_size(input_size, shape[-1]):
            raise ShapeError(f"expects input (..., {input_size}), got {format_shape(shape)}")

    def params(rng, shape, dtype):
        kw, kb = jax.random.split(rng)
        p = linear_weight_norm_params(w_init(kw, (output_size, input_size), dtype), eps=e)
        if bias:
            p["bias"] = b_init(kb, (output_size,), dtype)
        return p

    def forward(p, x, *, rng, train):
        y = jnp.matmul(x, linear_weight_norm_weight(p, e).T)
        return y + lift(p["bias"], y.ndim) if bias else y

    return leaf(f"nn.LinearWeightNorm({input_size} -> {output_size}{'' if bias else ' without bias'})", forward,
                kind="LinearWeightNorm", params=params, check=check,
                config={"input_size": input_size, "output_size": output_size, "bias": bias, "eps": e})


def linear_weight_norm_params(weight: jax.Array, bias: jax.Array | None = None, eps: float = 1e-16) -> dict:
    """torch7's ``LinearWeightNorm.fromLinear``: the ``{v, g[, bias]}`` that reproduce a Linear's weight.

    >>> import jax.numpy as jnp
    >>> linear_weight_norm_params(jnp.array([[3.0, 4.0]]))['g']
    Array([[5.]], dtype=float32)
    """
    g = jnp.maximum(jnp.linalg.norm(weight, axis=1, keepdims=True), eps)
    return {"v": weight, "g": g} | ({} if bias is None else {"bias": bias})


def linear_weight_norm_weight(params: dict, eps: float = 1e-16) -> jax.Array:
    """torch7's ``LinearWeightNorm.toLinear`` weight: ``g · v / max(‖v‖, eps)`` per row.

    >>> import jax.numpy as jnp
    >>> linear_weight_norm_weight({'v': jnp.array([[3.0, 4.0]]), 'g': jnp.array([[10.0]])})
    Array([[6., 8.]], dtype=float32)
    """
    v = params["v"]
    norm = jnp.maximum(jnp.sqrt(jnp.sum(v * v, axis=1, keepdims=True)), eps)
    return v * (params["g"] / norm)


def _moved(shape: tuple[int, ...], d: int) -> tuple[int, ...]:
    return (shape[d],) + shape[:d] + shape[d + 1:]


def WeightNorm(module: Module, output_dim: int = 0) -> Module:
    """Wraps a layer whose params have a ``weight``: ``weight = g · v / ‖v‖`` per output slice.

    The norm is taken over every dim of the weight except ``output_dim`` (torch7's
    ``outputDim``, 0-based here), as ``‖v‖ = √(Σ v² + 1e-4)`` (torch7's constant). As in torch7
    the wrapper **re-initialises**: ``v ~ N(0, √(2 / fan))`` with ``fan`` the product of the
    other dims, ``g = ‖v‖`` and the bias (if any) set to 0.

    Args:
      module: a layer with params ``{'weight': ..., ...}`` and no state (Linear, SpatialConvolution, ...).
      output_dim: the weight dim that indexes output units (0 for Linear and convolutions).

    Shape contract: the wrapped layer's.
    Params: ``v (n_out, fan)`` (the weight with ``output_dim`` moved first, flattened),
    ``g (n_out,)``, and the wrapped layer's other params (``bias``, ...).

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.WeightNorm(fnn.Linear(3, 2))
    >>> _, params = init(jax.random.key(0), (-1, 3))
    >>> sorted(params), params['v'].shape, apply(params, jnp.ones(3)).shape
    (['bias', 'g', 'v'], (2, 3), (2,))
    """
    if not isinstance(module, Module):
        raise ConfigError(f"nn.WeightNorm: module must be an fnn Module, got {module!r}")
    d = int_arg("nn.WeightNorm", "output_dim", output_dim, minimum=0)
    name = f"nn.WeightNorm({module.name.splitlines()[0]})"

    def weight_shape(x):
        # the wrapped layer's weight shape for this input, by abstract evaluation (no FLOPs)
        abstract = jax.eval_shape(lambda: module.init_fn(jax.random.key(0), shape_of(x), dtype_of(x))[2])
        return abstract["weight"].shape

    def weight_of(p, wshape):
        v, g = p["v"], p["g"]
        w = v * (g / jnp.sqrt(jnp.sum(v * v, axis=1) + WEIGHT_NORM_EPS))[:, None]
        return jnp.moveaxis(jnp.reshape(w, _moved(wshape, d)), 0, d)

    def inside(e: FnnError) -> FnnError:
        e.message = f"{e.message} (inside {name})"
        e.args = (e.message,)
        return e

    def init_fn(rng, shape, dtype):
        try:
            out_shape, out_dtype, p, s = module.init_fn(rng, shape, dtype)
        except FnnError as e:
            raise inside(e) from None
        if not isinstance(p, dict) or "weight" not in p or jax.tree.leaves(s):
            raise ConfigError(f"{name}: the wrapped layer must have a 'weight' param and no state")
        w = p["weight"]
        if not 0 <= d < w.ndim:
            raise ConfigError(f"{name}: output_dim {d} is out of range for a {w.ndim}-D weight")
        n = w.shape[d]
        fan = w.size // n
        v = jax.random.normal(jax.random.fold_in(rng, 1), (n, fan), w.dtype) * math.sqrt(2.0 / fan)
        new = {k: (jnp.zeros_like(a) if k == "bias" else a) for k, a in p.items() if k != "weight"}
        new.update(v=v, g=jnp.sqrt(jnp.sum(v * v, axis=1)))
        return out_shape, out_dtype, new, s

    def apply_fn(p, s, x, *, rng=None, train=False):
        inner = {k: a for k, a in p.items() if k not in ("v", "g")}
        try:
            inner["weight"] = weight_of(p, weight_shape(x))
            return module.apply_fn(inner, s, x, rng=rng, train=train)
        except FnnError as e:
            raise inside(e) from None

    return Module(name=name, init_fn=init_fn, apply_fn=apply_fn, kind="WeightNorm",
                  config={"output_dim": d}, children=())


__all__ = ["LinearWeightNorm", "WeightNorm", "linear_weight_norm_params", "linear_weight_norm_weight"]
