"""Conformance cases: Bilinear, the simple, shaping, math and lookup layers."""

import math

import jax
import jax.numpy as jnp

import fnn
from tests.conformance.cases import Case


def _positive(shape):
    return lambda: jax.random.uniform(jax.random.key(2), shape, jnp.float64, 0.5, 2.0)


def _indices(shape, high):
    return lambda: jax.random.randint(jax.random.key(2), shape, 0, high, jnp.int32)


CASES = [
    # linear.py
    Case("Bilinear", lambda: fnn.Bilinear(3, 4, 2), ((2, 3), (2, 4))),
    Case("Bilinear", lambda: fnn.Bilinear(3, 4, 2, bias=False), ((2, 3), (2, 4)), id="nobias"),
    # simple.py
    Case("CMul", lambda: fnn.CMul(3), (2, 3)),
    Case("CMul", lambda: fnn.CMul(3, 1), (2, 3, 4), id="broadcast"),
    Case("CMul", lambda: fnn.CMul(2, 3), (2, 3, 2), id="storage-order"),
    Case("CAdd", lambda: fnn.CAdd(3), (2, 3)),
    Case("CAdd", lambda: fnn.CAdd(1, 4), (2, 3, 4), id="broadcast"),
    Case("Add", lambda: fnn.Add(3), (2, 3)),
    Case("Add", lambda: fnn.Add(6), (2, 2, 3), id="flat-example"),
    Case("Add", lambda: fnn.Add(3, scalar=True), (2, 3), id="scalar"),
    Case("Mul", lambda: fnn.Mul(), (2, 3)),
    Case("MulConstant", lambda: fnn.MulConstant(-2.5), (2, 3)),
    Case("AddConstant", lambda: fnn.AddConstant(1.5), (2, 3)),
    Case("AddConstant", lambda: fnn.AddConstant([1.0, 2.0, 3.0]), (2, 3), id="vector"),
    Case("Identity", lambda: fnn.Identity(), (2, 3)),
    Case("Identity", lambda: fnn.Identity(), ((2, 3), (2, 4)), id="table"),
    Case("Replicate", lambda: fnn.Replicate(3, 0, ndim=1), (2, 4)),
    Case("Replicate", lambda: fnn.Replicate(2, -1), (2, 4), id="last"),
    Case("Padding", lambda: fnn.Padding(0, 2, n_input_dim=1), (2, 3)),
    Case("Padding", lambda: fnn.Padding(0, -2, n_input_dim=1, value=7.0, index=1), (2, 3), id="left-index"),
    # shaping.py
    Case("View", lambda: fnn.View(6), (2, 2, 3)),
    Case("View", lambda: fnn.View(-1, num_input_dims=2), (2, 2, 3), id="infer"),
    Case("View", lambda: fnn.View(3, 2), (2, 2, 3), id="2d"),
    Case("Reshape", lambda: fnn.Reshape(6), (2, 2, 3)),
    Case("Reshape", lambda: fnn.Reshape(3, 2, batch_mode=True), (2, 2, 3), batched=False, id="batch-mode"),
    Case("Transpose", lambda: fnn.Transpose((0, 1), num_input_dims=2), (2, 3, 4)),
    Case("Transpose", lambda: fnn.Transpose((-1, -2), (-1, -3)), (2, 3, 4, 5), id="negative"),
    Case("Narrow", lambda: fnn.Narrow(-1, 1, 2), (2, 4)),
    Case("Narrow", lambda: fnn.Narrow(-1, 1, -1), (2, 4), id="negative-length"),
    Case("Select", lambda: fnn.Select(-1, 0), (2, 3)),
    Case("Select", lambda: fnn.Select(-2, -1), (2, 3, 4), id="negative-index"),
    Case("Squeeze", lambda: fnn.Squeeze(num_input_dims=2), (2, 1, 3)),
    Case("Squeeze", lambda: fnn.Squeeze(0, num_input_dims=2), (2, 1, 3), id="dim"),
    Case("Unsqueeze", lambda: fnn.Unsqueeze(0, num_input_dims=1), (2, 3)),
    Case("Unsqueeze", lambda: fnn.Unsqueeze(-1), (2, 3), id="append"),
    Case("Flatten", lambda: fnn.Flatten(), (2, 3, 4), batched=False),
    Case("Unflatten", lambda: fnn.Unflatten(-1, (2, -1)), (2, 4)),
    # reduction.py
    Case("Sum", lambda: fnn.Sum(0, n_input_dims=2), (2, 3, 4)),
    Case("Sum", lambda: fnn.Sum(-1, size_average=True), (2, 3, 4), id="size-average"),
    Case("Sum", lambda: fnn.Sum(-1, squeeze=False), (2, 3, 4), id="keep"),
    Case("Mean", lambda: fnn.Mean(0, n_input_dims=2), (2, 3, 4)),
    Case("Max", lambda: fnn.Max(-1), (2, 3, 4)),
    Case("Max", lambda: fnn.Max(0, n_input_dims=2), (2, 3, 4), id="batch-shift"),
    Case("Min", lambda: fnn.Min(1, n_input_dims=2), (2, 3, 4)),
    Case("Abs", lambda: fnn.Abs(), (2, 3)),
    Case("Exp", lambda: fnn.Exp(), (2, 3)),
    Case("Log", lambda: fnn.Log(), (2, 3), x=_positive((2, 3))),
    Case("Sqrt", lambda: fnn.Sqrt(), (2, 3), x=_positive((2, 3))),
    Case("Square", lambda: fnn.Square(), (2, 3)),
    Case("Power", lambda: fnn.Power(3), (2, 3)),
    Case("Power", lambda: fnn.Power(0.5), (2, 3), x=_positive((2, 3)), id="fractional"),
    Case("Clamp", lambda: fnn.Clamp(-1.0, 1.5), (2, 3)),
    Case("Normalize", lambda: fnn.Normalize(2), (2, 5)),
    Case("Normalize", lambda: fnn.Normalize(1), (2, 5), id="p1"),
    Case("Normalize", lambda: fnn.Normalize(3), (2, 5), id="p3"),
    Case("Normalize", lambda: fnn.Normalize(math.inf), (2, 5), id="inf"),
    # lookup.py (integer inputs: the finite differences run on the table)
    Case("LookupTable", lambda: fnn.LookupTable(5, 3), (2, 4), dtype=jnp.int32, x=_indices((2, 4), 5)),
    Case("LookupTable", lambda: fnn.LookupTable(5, 3, padding_value=4), (2, 4), dtype=jnp.int32,
         x=_indices((2, 4), 4), id="padding-absent"),
    Case("LookupTable", lambda: fnn.LookupTable(5, 3, padding_value=1, scale_grad_by_freq=True), (2, 4),
         dtype=jnp.int32, x=_indices((2, 4), 5), grads=False, id="padding-freq"),
    Case("LookupTable", lambda: fnn.LookupTable(5, 3, max_norm=0.5), (2, 4), dtype=jnp.int32,
         x=_indices((2, 4), 5), grads=False, id="max-norm"),
    Case("LookupTable", lambda: fnn.LookupTable(5, 3, max_norm=100.0), (2, 4), dtype=jnp.int32,
         x=_indices((2, 4), 5), id="max-norm-inactive"),
    Case("Embedding", lambda: fnn.Embedding(5, 3, padding_idx=-1), (2, 2, 3), dtype=jnp.int32,
         x=_indices((2, 2, 3), 4)),
]
