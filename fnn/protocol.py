"""The torch7 protocol, functionally: backward, getParameters, updateParameters.

torch7's modules were stateful; here each call is a pure function over pytrees.
Nobody writes a backward pass: :func:`backward` is one ``jax.vjp``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from fnn.core import Module, as_input

PyTree = Any


def _split_float(x: Any) -> tuple[list, Callable, list, list, Any]:
    """Separates the float leaves of ``x`` (differentiable) from the others."""
    leaves, treedef = jax.tree.flatten(x)
    is_float = [jnp.issubdtype(jnp.result_type(v), jnp.inexact) for v in leaves]

    def merge(floats):
        it = iter(floats)
        return jax.tree.unflatten(treedef, [next(it) if f else v for v, f in zip(leaves, is_float)])

    return [v for v, f in zip(leaves, is_float) if f], merge, leaves, is_float, treedef


def backward(
    module: Module,
    params: PyTree,
    input: Any,
    grad_output: Any,
    *,
    state: PyTree = None,
    rng: jax.Array | None = None,
    train: bool = False,
) -> tuple[Any, PyTree]:
    """torch7's ``module:backward(input, gradOutput)`` as one ``jax.vjp``.

    Args:
      module: the model.
      params: its params.
      input: the input the forward pass saw (an array or a table).
      grad_output: ∂L/∂output, shaped like the output.
      state: the model's state (stateful models only).
      rng, train: as for ``apply``.

    Returns:
      ``(grad_input, grad_params)``: ∂L/∂input (zeros for integer inputs, as torch7's
      LookupTable returns) and ∂L/∂params, shaped like ``params``. Nothing accumulates:
      torch7's ``zeroGradParameters`` is not needed.

    >>> import jax, jax.numpy as jnp, fnn
    >>> lin = fnn.Linear(3, 2)
    >>> _, params = lin.init(jax.random.key(0), (3,))
    >>> x, g = jnp.ones(3), jnp.array([1.0, 2.0])
    >>> grad_input, grads = fnn.backward(lin, params, x, g)
    >>> bool(jnp.allclose(grad_input, params['weight'].T @ g)), bool(jnp.allclose(grads['bias'], g))
    (True, True)
    """
    x = as_input(input)
    if state is None:
        state = module._empty_state()
    floats, merge, leaves, is_float, treedef = _split_float(x)

    def f(p, fl):
        y, _ = module.stateful.apply(p, state, merge(fl), rng=rng, train=train)
        return y

    _, vjp = jax.vjp(f, params, floats)
    grad_params, grad_floats = vjp(as_input(grad_output))
    it = iter(grad_floats)
    grad_leaves = [next(it) if fl else jnp.zeros(jnp.shape(v), jnp.float32) for v, fl in zip(leaves, is_float)]
    return jax.tree.unflatten(treedef, grad_leaves), grad_params


def get_parameters(params: PyTree) -> tuple[jax.Array, Callable[[jax.Array], PyTree]]:
    """torch7's ``getParameters()``: all params as one flat vector, and the way back.

    Returns:
      ``(flat, unflatten)``: ``flat`` is a 1-D array of every param in tree order;
      ``unflatten(v)`` rebuilds a params tree from such a vector (use it on gradients too).

    >>> import jax, fnn
    >>> _, params = fnn.Linear(3, 2).init(jax.random.key(0), (3,))
    >>> flat, unflatten = fnn.get_parameters(params)
    >>> flat.shape, unflatten(flat)['weight'].shape
    ((8,), (2, 3))
    """
    return ravel_pytree(params)


def update_parameters(params: PyTree, grads: PyTree, lr: float) -> PyTree:
    """torch7's ``updateParameters(lr)``: plain SGD, ``p - lr * g`` for every param.

    >>> import jax, jax.numpy as jnp, fnn
    >>> p = {'weight': jnp.ones(2)}
    >>> fnn.update_parameters(p, {'weight': jnp.ones(2)}, 0.5)['weight']
    Array([0.5, 0.5], dtype=float32)
    """
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


def count_parameters(params: PyTree) -> int:
    """The number of scalar parameters in ``params``.

    >>> import jax, fnn
    >>> fnn.count_parameters(fnn.Linear(784, 128).init(jax.random.key(0), (784,))[1])
    100480
    """
    return int(sum(jnp.size(leaf) for leaf in jax.tree.leaves(params)))
