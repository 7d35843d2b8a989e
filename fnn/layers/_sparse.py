"""Sparse and partial linear layers: torch7's SparseLinear, IndexLinear and PartialLinear.

Indices are 0-based (torch7's were 1-based). Out-of-range indices raise an
:class:`~fnn.errors.IndexRangeError` naming the layer when they are concrete (eager); under
``jit`` they contribute nothing. Gradients are ``jax.grad``'s: dense arrays whose untouched
columns are zero (torch7 kept sparse updates as an optimisation; the numbers are the same).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import Initializer, Module, expect_array, format_shape, is_shape, leaf, lift, normal, same_size, uniform
from fnn.core._args import boolean, int_arg, ints
from fnn.errors import ConfigError, DTypeError, IndexRangeError, ShapeError

SPARSE_BIAS_SCALE = 1e-6  # torch7 scales SparseLinear's and IndexLinear's bias init by it


def _check_range(idx: jax.Array, n: int) -> None:
    if not isinstance(idx, jax.core.Tracer):
        v = np.asarray(idx)
        bad = (v < 0) | (v >= n)
        if bad.any():
            raise IndexRangeError(f"index out of range [0, {n}): got {int(v[bad].flat[0])}")


def _scaled(init: Initializer, scale: float) -> Initializer:
    return lambda key, shape, dtype: init(key, shape, dtype) * scale


def _given(what: str, value: Any, shape: tuple[int, ...]) -> Initializer | None:
    """An initialiser that returns a given array (torch7's ``weight``/``bias`` arguments)."""
    if value is None:
        return None
    a = np.asarray(value)
    if a.shape != shape:
        raise ConfigError(f"nn.IndexLinear: {what} must have shape {shape}, got {a.shape}")
    return lambda key, s, dtype: jnp.asarray(a, dtype)


def _sparse_rows(w: jax.Array, idx: jax.Array, vals: jax.Array) -> jax.Array:
    """``Σ_k w[:, idx_k] · vals_k`` for one example: ``idx``, ``vals`` of shape ``(nnz,)``."""
    n = w.shape[1]
    ok = (idx >= 0) & (idx < n)
    cols = jnp.take(w, jnp.where(ok, idx, 0), axis=1)  # (out, nnz)
    return cols @ jnp.where(ok, vals, 0)


def SparseLinear(
    input_size: int,
    output_size: int,
    do_grad_input: bool = False,
    *,
    weight_init: Initializer | None = None,
    bias_init: Initializer | None = None,
) -> Module:
    """Linear on sparse input: ``y = b + Σ_k W[:, i_k] · v_k`` over the ``(index, value)`` pairs.

    An example is an ``(nnz, 2)`` float array of ``[index, value]`` rows (torch7's format, index
    0-based here; a repeated index adds up). A batch is a ``(B, nnz, 2)`` array (torch7's legacy
    batch format) or a tuple of ``(nnz_i, 2)`` arrays of different lengths (torch7's table batch).
    torch7's ``doGradInput`` is always on: ``jax.grad`` gives the values' gradient, and the
    index column gets one too (meaningless, as in torch7's float input).

    Args:
      input_size: the dense input size (indices are in ``[0, input_size)``).
      output_size: size of the output.
      do_grad_input: torch7's switch for computing the input's gradient; accepted for the
        signature, no effect (``jax.grad`` computes what is asked for).
      weight_init: ``(key, shape, dtype) -> array``; default ``U(±1/√in)``.
      bias_init: default ``U(±1/√in) · 1e-6`` (torch7's tiny bias).

    Shape contract: ``(nnz, 2) -> (out,)``; ``(B, nnz, 2) -> (B, out)``; a tuple of B arrays
    ``(nnz_i, 2) -> (B, out)``. Params: ``weight (out, in)``, ``bias (out,)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> params = {"weight": jnp.arange(6.0).reshape(2, 3), "bias": jnp.zeros(2)}
    >>> fnn.SparseLinear(3, 2).apply(params, jnp.array([[2.0, 1.0], [0.0, 10.0]]))
    Array([ 2., 35.], dtype=float32)
    """
    ints("nn.SparseLinear", 1, input_size=input_size, output_size=output_size)
    boolean("nn.SparseLinear", "do_grad_input", do_grad_input)
    bound = 1.0 / math.sqrt(input_size)
    w_init = weight_init or uniform(bound)
    b_init = bias_init or _scaled(uniform(bound), SPARSE_BIAS_SCALE)

    def one_check(s):
        expect_array(s, (2, 3))
        if s[-1] != 2 and s[-1] != -1:
            raise ShapeError(f"expects [index, value] rows, shape (nnz, 2) or (B, nnz, 2), got {format_shape(s)}")

    def check(shape, dtype):
        if is_shape(shape):
            return one_check(shape)
        if not shape:
            raise ShapeError("expects an (nnz, 2) array, a (B, nnz, 2) array or a non-empty tuple of (nnz, 2) arrays")
        for s in shape:
            expect_array(s, (2,), what="batch entry")
            one_check(s)

    def params(rng, shape, dtype):
        kw, kb = jax.random.split(rng)
        return {"weight": w_init(kw, (output_size, input_size), dtype), "bias": b_init(kb, (output_size,), dtype)}

    def one(p, pairs):
        idx = jnp.round(pairs[..., 0]).astype(jnp.int32)
        _check_range(idx, input_size)
        return p["bias"] + _sparse_rows(p["weight"], idx, pairs[..., 1])

    def forward(p, x, *, rng, train):
        if isinstance(x, tuple):
            return jnp.stack([one(p, e) for e in x])
        if x.ndim == 3:
            return jax.vmap(lambda e: one(p, e))(x)
        return one(p, x)

    return leaf(f"nn.SparseLinear({input_size} -> {output_size})", forward, kind="SparseLinear", params=params,
                check=check, config={"input_size": input_size, "output_size": output_size})


def PartialLinear(
    input_size: int,
    output_size: int,
    bias: bool = True,
    partition: Sequence[int] | None = None,
    *,
    weight_init: Initializer | None = None,
) -> Module:
    """Linear that computes only the output units in ``partition`` (all of them by default).

    torch7's ``setPartition(idx)`` / ``resetPartition()`` mutate the layer; in fnn the partition
    is a constructor argument, and the params do not depend on it: build
    ``PartialLinear(in, out, partition=idx)`` and apply it with the params of the full layer.

    Args:
      input_size: size of the last input dim.
      output_size: the number of output units of the full layer.
      bias: whether to add a bias.
      partition: the output units to compute, 0-based, in order (repeats allowed); None: all.
      weight_init: ``(key, shape, dtype) -> array``; default ``N(0, 1)`` (torch7 built the
        weight as a LookupTable). The bias starts at 0.

    Shape contract: ``(..., in) -> (..., len(partition))``.
    Params: ``weight (out, in)``, ``bias (1, out)`` (torch7's shapes).

    >>> import jax, jax.numpy as jnp, fnn
    >>> full = fnn.PartialLinear(3, 4)
    >>> _, params = full.init(jax.random.key(0), (-1, 3))
    >>> part = fnn.PartialLinear(3, 4, partition=[3, 1])
    >>> bool(jnp.allclose(part.apply(params, jnp.ones(3)), full.apply(params, jnp.ones(3))[jnp.array([3, 1])]))
    True
    """
    ints("nn.PartialLinear", 1, input_size=input_size, output_size=output_size)
    bias = boolean("nn.PartialLinear", "bias", bias)
    if partition is None:
        part = tuple(range(output_size))
    else:
        part = tuple(int_arg("nn.PartialLinear", "partition entry", i) for i in partition)
        bad = [i for i in part if not 0 <= i < output_size]
        if not part or bad:
            raise ConfigError(f"nn.PartialLinear: partition must be a non-empty list of units in [0, {output_size}), "
                              f"got {list(partition)!r}")
    w_init = weight_init or normal
    sel = np.asarray(part)

    def check(shape, dtype):
        expect_array(shape)
        if len(shape) < 1 or not same_size(input_size, shape[-1]):
            raise ShapeError(f"expects input (..., {input_size}), got {format_shape(shape)}")

    def params(rng, shape, dtype):
        p = {"weight": w_init(rng, (output_size, input_size), dtype)}
        if bias:
            p["bias"] = jnp.zeros((1, output_size), dtype)
        return p

    def forward(p, x, *, rng, train):
        y = jnp.matmul(x, p["weight"][sel].T)
        return y + lift(p["bias"][0, sel], y.ndim) if bias else y

    return leaf(f"nn.PartialLinear({input_size} -> {output_size}, {len(part)} units)", forward,
                kind="PartialLinear", params=params, check=check,
                config={"input_size": input_size, "output_size": output_size, "bias": bias, "partition": part})


def IndexLinear(
    input_size: int,
    output_size: int,
    do_grad_input: bool = False,
    keys_offset: int = 0,
    weight: Any = None,
    bias: Any = None,
    normalize: bool = False,
    *,
    weight_init: Initializer | None = None,
    bias_init: Initializer | None = None,
) -> Module:
    """Linear over a very large sparse key space: ``y = b + Σ_k values_k · W[keys_k + keys_offset]``.

    The input is ``(keys, values)``: one example as two ``(K,)`` arrays (integer keys, float
    values), or a batch of two ``(B, K)`` arrays (pad shorter examples with value 0). The
    weight is stored **transposed**, ``(in, out)``, as in torch7 (one row per key). torch7's
    ``normalize`` option (running max-abs normalisation kept in extra weight columns) is not
    provided; torch7's flat ``{keys, values, sizes}`` batch is the padded ``(B, K)`` form here.

    Args (torch7's order):
      input_size: the number of keys (0-based keys in ``[0, input_size)`` after the offset).
      output_size: size of the output.
      do_grad_input: accepted for torch7's signature; no effect.
      keys_offset: added to every key (torch7's ``keysOffset``, e.g. -1 for 1-based keys).
      weight: an initial ``(in, out)`` weight (torch7's ``weight`` argument), or None.
      bias: an initial ``(out,)`` bias, or None.
      normalize: torch7's max-abs normalisation; not provided (True is a ConfigError).
      weight_init: ``(key, shape, dtype) -> array``; default ``U(±1/√in)``.
      bias_init: default ``U(±1/√in) · 1e-6``.

    Shape contract: ``((K,), (K,)) -> (out,)``; ``((B, K), (B, K)) -> (B, out)``.
    Params: ``weight (in, out)``, ``bias (out,)``, float32 by default (the first input, the
    keys, is integer); the output takes the values' dtype.

    >>> import jax, jax.numpy as jnp, fnn
    >>> params = {"weight": jnp.arange(6.0).reshape(3, 2), "bias": jnp.zeros(2)}
    >>> fnn.IndexLinear(3, 2).apply(params, (jnp.array([2, 0]), jnp.array([1.0, 10.0])))
    Array([ 4., 15.], dtype=float32)
    """
    ints("nn.IndexLinear", 1, input_size=input_size, output_size=output_size)
    boolean("nn.IndexLinear", "do_grad_input", do_grad_input)
    off = int_arg("nn.IndexLinear", "keys_offset", keys_offset)
    if boolean("nn.IndexLinear", "normalize", normalize):
        raise ConfigError("nn.IndexLinear: normalize=True (torch7's running max-abs normalisation) is not provided; "
                          "normalise the values before the layer")
    bound = 1.0 / math.sqrt(input_size)
    w_init = _given("weight", weight, (input_size, output_size)) or weight_init or uniform(bound)
    b_init = _given("bias", bias, (output_size,)) or bias_init or _scaled(uniform(bound), SPARSE_BIAS_SCALE)

    def check(shape, dtype):
        if is_shape(shape) or len(shape) != 2:
            raise ShapeError(f"expects a table (keys, values), got {format_shape(shape)}")
        ks, vs = shape
        expect_array(ks, (1, 2), what="keys")
        expect_array(vs, (1, 2), what="values")
        if len(ks) != len(vs) or not all(map(same_size, ks, vs)):
            raise ShapeError(f"expects keys and values of one shape, got {format_shape(shape)}")
        if not jnp.issubdtype(dtype[0], jnp.integer):
            raise DTypeError(f"expects integer keys, got {jnp.dtype(dtype[0]).name}")
        if not jnp.issubdtype(dtype[1], jnp.floating):
            raise DTypeError(f"expects floating-point values, got {jnp.dtype(dtype[1]).name}")

    def params(rng, shape, dtype):
        kw, kb = jax.random.split(rng)
        return {"weight": w_init(kw, (input_size, output_size), dtype), "bias": b_init(kb, (output_size,), dtype)}

    def forward(p, x, *, rng, train):
        keys, vals = x
        keys = keys + off
        _check_range(keys, input_size)
        ok = (keys >= 0) & (keys < input_size)
        # the params take the first input's dtype at init, which is the keys' (integer): compute in the values'
        rows = jnp.take(p["weight"].astype(vals.dtype), jnp.where(ok, keys, 0), axis=0)  # (..., K, out)
        y = jnp.einsum("...k,...ko->...o", jnp.where(ok, vals, 0), rows)
        return y + lift(p["bias"].astype(vals.dtype), y.ndim)

    return leaf(f"nn.IndexLinear({input_size} -> {output_size})", forward, kind="IndexLinear", params=params,
                check=check, float_input=False, config={"input_size": input_size, "output_size": output_size,
                                                        "keys_offset": off})


__all__ = ["SparseLinear", "PartialLinear", "IndexLinear"]
