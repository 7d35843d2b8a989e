"""Wrappers: torch7's Bottle (a Decorator) and CriterionTable (a criterion as a layer).

Bottle holds its child like the other containers: params and state are one-entry tuples,
``(child_params,)``, and errors raised inside carry the child's path.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import Module, apply_child, expect_table, format_shape, init_child, is_shape, leaf
from fnn.core._args import int_arg, opt_int_arg
from fnn.errors import ConfigError, FnnError, ShapeError

_TAB = "  "


def _render(m: Module) -> str:
    return f"nn.{m.kind} {{\n{_TAB}" + str(m.children[0]).replace("\n", "\n" + _TAB) + "\n}"


def _explained(e: FnnError, name: str, shape: Any, inner: Any) -> FnnError:
    """Says in the message that the child saw the folded shape (the child alone is named otherwise)."""
    e.message = f"{e.message} (inside {name}, which folds {format_shape(shape)} into {format_shape(inner)})"
    e.args = (e.message,)
    return e


def _folded(shape: tuple[int, ...], n_in: int) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(the leading dims kept outside, the child's input shape, the product folded into its dim 0 (-1: unknown))."""
    k = len(shape) - n_in + 1  # dims folded into the child's first
    lead = shape[:k - 1]
    squeeze = -1 if -1 in lead else math.prod(lead)
    first = -1 if -1 in shape[:k] else math.prod(shape[:k])
    return lead, (first,) + tuple(shape[k:]), squeeze


def Bottle(module: Module, n_input_dim: int = 2, n_output_dim: int | None = None) -> Module:
    """Runs a layer built for ``n_input_dim``-D input on higher-rank input.

    The leading dims are folded into the first, the module runs, and the folded dims are
    restored in front of its output: ``(p, q, r, n) -> (p·q·r, n) -> module -> (p·q·r, m) ->
    (p, q, r, m)``. Inputs of rank ``<= n_input_dim`` go straight to the module.

    Args:
      module: the wrapped layer.
      n_input_dim: the rank the module takes (torch7's default 2: a batch of vectors).
      n_output_dim: the rank the module returns (default ``n_input_dim``); another rank is a
        :class:`~fnn.errors.ShapeError`.

    Params: ``(module_params,)``; state ``(module_state,)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.Bottle(fnn.Linear(4, 3))
    >>> out_shape, params = init(jax.random.key(0), (2, 5, 4))
    >>> out_shape, apply(params, jnp.ones((2, 5, 4))).shape
    ((2, 5, 3), (2, 5, 3))
    """
    if not isinstance(module, Module):
        raise ConfigError(f"nn.Bottle: module must be an fnn Module, got {module!r}")
    n_in = int_arg("nn.Bottle", "n_input_dim", n_input_dim, minimum=1)
    n_out = opt_int_arg("nn.Bottle", "n_output_dim", n_output_dim, minimum=1)
    n_out = n_in if n_out is None else n_out

    def out_rank(shape: Any) -> None:
        if not is_shape(shape) or len(shape) != n_out:
            raise ShapeError(f"{m.name} expects the module to return {n_out} dims, got {format_shape(shape)}")

    def unfold(lead: tuple, shape: tuple, squeeze: int, x_dim: int) -> tuple:
        first = shape[0] // squeeze if squeeze > 0 and shape[0] != -1 else x_dim
        return tuple(lead) + (first,) + tuple(shape[1:])

    def init_fn(rng, shape, dtype):
        if not is_shape(shape):
            raise ShapeError(f"{m.name} expects one array, got a table {format_shape(shape)}")
        if len(shape) <= n_in:
            out, odt, p, s = init_child(m, 0, module, rng, shape, dtype)
            out_rank(out)
            return out, odt, (p,), (s,)
        lead, inner, squeeze = _folded(tuple(shape), n_in)
        try:
            out, odt, p, s = init_child(m, 0, module, rng, inner, dtype)
        except FnnError as e:
            raise _explained(e, m.name, shape, inner) from None
        out_rank(out)
        return unfold(lead, out, squeeze, shape[len(lead)]), odt, (p,), (s,)

    def apply_fn(params, state, x, *, rng=None, train=False):
        (p,), (s,) = params, state
        if not hasattr(x, "ndim"):
            raise ShapeError(f"{m.name} expects one array, got a table")
        if x.ndim <= n_in:
            y, s = apply_child(m, 0, module, p, s, x, rng, train)
            out_rank(tuple(jnp.shape(y)))
            return y, (s,)
        lead, inner, squeeze = _folded(x.shape, n_in)
        try:
            y, s = apply_child(m, 0, module, p, s, jnp.reshape(x, inner), rng, train)
        except FnnError as e:
            raise _explained(e, m.name, x.shape, inner) from None
        out_rank(tuple(jnp.shape(y)))
        return jnp.reshape(y, unfold(lead, y.shape, squeeze, x.shape[len(lead)])), (s,)

    m = Module(name="nn.Bottle", init_fn=init_fn, apply_fn=apply_fn, children=(module,), has_state=module.has_state,
               kind="Bottle", render=_render, rebuild=lambda cs: Bottle(cs[0], n_in, n_out),
               config={"n_input_dim": n_in, "n_output_dim": n_out})
    return m


def CriterionTable(criterion: Any) -> Module:
    """A criterion as a layer: input ``(input, target)`` -> ``criterion(input, target)``, a 0-d array.

    As in torch7 only ``input`` gets a gradient (the target is held constant).

    Args:
      criterion: an fnn criterion (any ``criterion(input, target) -> scalar`` works).

    Shape contract: ``(input, target)`` -> ``()``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CriterionTable(fnn.MSECriterion()).apply((), (jnp.ones(2), jnp.zeros(2)))
    Array(1., dtype=float32)
    """
    if not callable(criterion):
        raise ConfigError(f"nn.CriterionTable: criterion must be a criterion, got {criterion!r}")
    inner = getattr(criterion, "name", type(criterion).__name__)

    def check(shape, dtype):
        expect_table(shape, 2)

    def forward(p, x, *, rng, train):
        return criterion(x[0], jax.tree.map(jax.lax.stop_gradient, x[1]))

    return leaf(f"nn.CriterionTable({inner})", forward, kind="CriterionTable", check=check, float_input=False,
                config={"criterion": inner})


__all__ = ["Bottle", "CriterionTable"]
