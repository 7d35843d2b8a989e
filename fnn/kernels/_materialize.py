"""A fusion barrier XLA:CPU keeps: :func:`materialize` returns its argument, computed into memory once.

XLA fuses cheap producers into every consumer and recomputes them there: in LeNet's backward pass
the input gradient of ``conv2`` (five shifted row sums) was recomputed for each of the four
positions of the 2x2 pooling window it is routed back through, and the pooling's tie-breaking
comparisons for every element of the full resolution. ``lax.optimization_barrier`` around the
value does not stop this (XLA:CPU removes barriers before it fuses). A conditional does: fusion
never crosses its boundary. The barrier is a ``lax.cond`` whose predicate is ``True`` hidden
behind an optimisation barrier (so XLA cannot fold it) and whose other branch differs from the
taken one (so XLA does not merge them): zeros of the output's shape, a linear map, so the barrier
transposes. Each barrier costs some compilation: LeNet-5's train step (four barriers) traces and
compiles in ~0.15-0.25 s more.

Derivatives come from ``custom_jvp`` rules, not from JAX's rules for conditionals: the barrier's
tangent is the barrier of the tangent (both branches are linear, so it transposes into a barrier
on the cotangent), and :func:`materialized`'s tangent is ``fn``'s own, outside the conditional.
Linearising a conditional instead traces its branches several times over: the rules save LeNet-5's
train step 0.02-0.05 s of its ~0.95 s trace and compile. ``vmap`` keeps the barrier a conditional.
On GPU and TPU it is the identity (``lax.platform_dependent``): there a conditional's predicate
would travel to the host, and fusion is not the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array


def _on_cpu(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` inside a conditional XLA:CPU keeps; plain ``fn(*args)`` on other platforms."""
    decoy = lambda *a: jax.tree.map(lambda o: jnp.zeros(o.shape, o.dtype), jax.eval_shape(fn, *a))  # never taken
    kept = lambda *a: lax.cond(lax.optimization_barrier(jnp.bool_(True)), fn, decoy, *a)  # a True XLA cannot fold
    return lax.platform_dependent(*args, cpu=kept, default=fn)


@jax.custom_jvp
def _barrier(x: Array) -> Array:
    return _on_cpu(lambda v: v, x)


@_barrier.defjvp
def _barrier_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    (x,), (t,) = primals, tangents
    return _barrier(x), t if t.dtype == jax.dtypes.float0 else _barrier(t)  # integers' tangents carry nothing


def _apart(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` computed inside the barrier's conditional, differentiated as ``fn`` itself."""
    kept = jax.custom_jvp(lambda *args: _on_cpu(fn, *args))
    kept.defjvp(lambda primals, tangents: (kept(*primals), jax.jvp(fn, primals, tangents)[1]))
    return kept


def materialize(x: Array) -> Array:
    """``x`` itself, materialised on CPU: XLA fuses its producer neither into its consumers nor recomputes it.

    A performance hint only: the value, every derivative and ``vmap`` are the identity's (the
    tangent and the cotangent are materialised too). It costs one copy of ``x``; prefer
    :func:`materialized` where the producer can be named.

    Args:
      x: any array.

    Returns:
      ``x``.

    >>> import jax.numpy as jnp
    >>> materialize(jnp.arange(3.0))
    Array([0., 1., 2.], dtype=float32)
    """
    return _barrier(x) if x.size else x


def materialized(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, computed apart on CPU: XLA fuses it neither into its consumers nor with its operands' producers.

    Unlike ``materialize(fn(*args))`` it costs no copy: ``fn`` runs inside the conditional and
    writes its outputs (any pytree of arrays) there. Values and derivatives are ``fn``'s.

    Args:
      fn: a function of arrays, returning a pytree of arrays.
      *args: its arguments.

    Returns:
      ``fn(*args)``.

    >>> import jax.numpy as jnp
    >>> materialized(lambda a, b: (a + b, a * b), jnp.ones(2), jnp.full(2, 3.0))
    (Array([4., 4.], dtype=float32), Array([3., 3.], dtype=float32))
    """
    return _apart(fn)(*args)
