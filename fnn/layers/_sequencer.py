"""torch7 ``rnn`` package decorators: Sequencer and MaskZero, and the recurrent step protocol.

The recurrent step protocol
---------------------------
A *recurrent step module* is a Module that computes one time step and whose ``config``
has the key ``"carry_sizes"`` (:data:`CARRY_SIZES`): a tuple of ``k >= 1`` ints, the sizes
of the arrays it carries from one step to the next. It is applied to the table
``(x_t, s_1, ..., s_k)``, where ``s_j`` has shape ``x_t.shape[:-1] + (carry_sizes[j],)``
(batched or not), and returns the table ``(s'_1, ..., s'_k)`` of the next step's carry,
whose first entry is also the step's output (a bare array is accepted when ``k == 1``).
This is torch7's ``recurrentModule`` contract: :func:`~fnn.FastLSTM` maps
``{x, h, c} -> {h, c}`` and its output is ``h``. :func:`Sequencer` reads the key to know
that it must carry state (zeros at the first step) through its scan, and
:func:`MaskZero` keeps the key of the module it wraps. :func:`carry_sizes` reads it.

The one private scan over time used by the torch7 sequence layers is :func:`time_scan`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from fnn.core import Module, apply_child, format_shape, init_child, is_shape, shape_of
from fnn.core._args import int_arg
from fnn.errors import ConfigError, ShapeError

#: The ``Module.config`` key that marks a recurrent step module (see the module docstring).
CARRY_SIZES = "carry_sizes"


def carry_sizes(module: Module) -> tuple[int, ...] | None:
    """The sizes of the arrays a recurrent step module carries, or None for a plain layer.

    >>> import fnn
    >>> carry_sizes(fnn.FastLSTM(3, 4)), carry_sizes(fnn.Linear(3, 4))
    ((4, 4), None)
    """
    sizes = module.config.get(CARRY_SIZES)
    return None if sizes is None else tuple(sizes)


def time_scan(
    cell: Callable[[Any, Any], tuple[Any, jax.Array]],
    carry: Any,
    xs: Any,
    *,
    mask: jax.Array | None = None,
    reverse: bool = False,
) -> tuple[Any, jax.Array]:
    """Runs ``cell(carry, x_t) -> (carry, y_t)`` over the leading (time) axis of ``xs``.

    Args:
      cell: one step; ``x_t`` is ``xs`` without its leading axis.
      carry: the initial carry (a pytree of arrays whose leading dims are the batch dims).
      xs: the per-step inputs (a pytree of arrays with time as their leading axis).
      mask: optional booleans ``(T, *batch)``; where True, the step's output and every carried
        array are set to exactly 0 (torch7's ``maskzero``: the next step starts from zeros,
        and no gradient flows through a masked row).
      reverse: run from the last step to the first (outputs stay in time order).

    Returns:
      ``(last_carry, ys)`` with ``ys`` stacked along time.
    """

    def body(c, inp):
        x_t, m = inp
        c, y = cell(c, x_t)
        if m is not None:
            zero = lambda a: jnp.where(jnp.reshape(m, m.shape + (1,) * (a.ndim - m.ndim)), 0, a)  # noqa: E731
            c, y = jax.tree.map(zero, c), zero(y)
        return c, y

    return lax.scan(body, carry, (xs, mask), reverse=reverse)


# --------------------------------------------------------------------------- shape helpers


def _first_array_shape(shape: Any) -> tuple:
    return shape if is_shape(shape) else _first_array_shape(shape[0])


def _first_array(x: Any) -> jax.Array:
    return x if not isinstance(x, tuple) else _first_array(x[0])


def _render(m: Module) -> str:
    inner = str(m.children[0]).replace("\n", "\n  ")
    return f"nn.{m.kind} {{\n  {inner}\n}}"


def _decorator(kind: str, child: Module, init_fn: Callable, apply_fn: Callable, config: dict) -> Module:
    return Module(name=f"nn.{kind}", init_fn=init_fn, apply_fn=apply_fn, children=(child,),
                  has_state=child.has_state, kind=kind, render=_render, config=config)


def _check_module(kind: str, module: Any) -> Module:
    if not isinstance(module, Module):
        raise ConfigError(f"nn.{kind}: expects an fnn Module, got {type(module).__name__}")
    return module


# --------------------------------------------------------------------------- Sequencer


def Sequencer(module: Module) -> Module:
    """Applies a per-step module to every step of a sequence (torch7 ``rnn``'s ``nn.Sequencer``).

    The step module is either a plain layer (``Linear``, ``Dropout``, a ``Sequential``, ...),
    applied to each step with the same params, or a recurrent step module such as
    :func:`~fnn.FastLSTM` (see the recurrent step protocol in this file's docstring), whose
    carried state (``h`` and ``c`` for FastLSTM) starts at zeros and is carried through a
    ``lax.scan`` over time. As torch7's default (``remember('neither')``), every call starts from
    zero state. Layer state (BatchNorm statistics) is threaded through the steps in order; in
    training each step gets its own key, ``fold_in(fold_in(rng, t), 0)``.

    Args:
      module: the step module.

    Shape contract: ``(T, *step_in) -> (T, *step_out)``, time first (torch7's Sequencer had no
    batch-first mode); e.g. ``(T, N, F) -> (T, N, H)`` or unbatched ``(T, F) -> (T, H)``. A table
    (tuple) of ``T`` step inputs of one shape gives a tuple of ``T`` step outputs, as in torch7.
    Params layout: ``params[0]`` is the step module's params (one set shared by every step).

    The recurrent step protocol: a module is a recurrent step module when its ``config`` has the
    key ``"carry_sizes"``, a tuple of ``k`` ints. Sequencer then calls it on the table
    ``(x_t, s_1, ..., s_k)`` with ``s_j`` of shape ``x_t.shape[:-1] + (carry_sizes[j],)`` (zeros at
    ``t = 0``) and takes its output table ``(s'_1, ..., s'_k)`` as the next carry and ``s'_1`` as
    the step's output (a bare array when ``k == 1``). :func:`~fnn.FastLSTM` declares ``(H, H)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.Sequencer(fnn.FastLSTM(3, 4))
    >>> out_shape, params = model.init(jax.random.key(0), (-1, 2, 3))
    >>> out_shape, model.apply(params, jnp.ones((5, 2, 3))).shape
    ((-1, 2, 4), (5, 2, 4))

    A recurrent step module of your own, a running sum ``s_t = s_{t-1} + x_t``:

    >>> from fnn.core import leaf
    >>> running_sum = leaf("RunningSum", lambda p, x, *, rng, train: x[0] + x[1], kind="RunningSum",
    ...                    config={"carry_sizes": (2,)})
    >>> fnn.Sequencer(running_sum).apply(((),), jnp.ones((3, 2)))
    Array([[1., 1.],
           [2., 2.],
           [3., 3.]], dtype=float32)
    """
    child = _check_module("Sequencer", module)
    sizes = carry_sizes(child)
    min_rank = 1 if sizes is None else 2  # time, then a recurrent step's features

    def step_input_shape(step_shape):
        if sizes is None:
            return step_shape
        return (step_shape,) + tuple(step_shape[:-1] + (n,) for n in sizes)

    def init_fn(rng, shape, dtype):
        table = not is_shape(shape)
        if table:
            if not shape or len({tuple(s) if is_shape(s) else None for s in shape}) != 1 or not is_shape(shape[0]):
                raise ShapeError(f"{m.name} expects a sequence (T, ...) or a table of step inputs of one shape, "
                                 f"got {format_shape(shape)}")
            step_shape, step_dtype = tuple(shape[0]), dtype[0] if isinstance(dtype, tuple) else dtype
        else:
            if len(shape) < min_rank:
                raise ShapeError(f"{m.name} expects a sequence (T, ..., features), got {format_shape(shape)}")
            step_shape, step_dtype = tuple(shape[1:]), dtype
        in_dtype = step_dtype if sizes is None or step_dtype is None else (step_dtype,) * (1 + len(sizes))
        out, out_dtype, p, s = init_child(m, 0, child, rng, step_input_shape(step_shape), in_dtype)
        if sizes is not None:
            carried, want = ((out,) if is_shape(out) else tuple(out)), step_input_shape(step_shape)[1:]
            if carried != want:
                raise ShapeError(f"{m.name}: the recurrent step module {child.name} declares carry_sizes "
                                 f"{tuple(sizes)}, so it must return {format_shape(want)}, got {format_shape(out)}")
            out, out_dtype = (out[0], out_dtype[0]) if not is_shape(out) else (out, out_dtype)
        if table:
            return tuple(out for _ in shape), tuple(out_dtype for _ in shape), (p,), (s,)
        return (shape[0],) + tuple(out), out_dtype, (p,), (s,)

    def apply_fn(params, state, x, *, rng=None, train=False):
        table = isinstance(x, tuple)
        if table and len({jnp.shape(e) for e in x}) > 1:
            raise ShapeError(f"{m.name} expects a table of step inputs of one shape, got {format_shape(shape_of(x))}")
        if (table and not x) or (not table and jnp.ndim(x) < min_rank):
            raise ShapeError(f"{m.name} expects a sequence (T, ..., features), got {format_shape(shape_of(x))}")
        xs = jnp.stack(x) if table else x
        (p,), (s0,) = params, state
        batch = xs.shape[1:-1]
        carry0 = () if sizes is None else tuple(jnp.zeros(batch + (n,), xs.dtype) for n in sizes)

        def cell(c, inp):
            s, carry = c
            x_t, t = inp
            key = None if rng is None else jax.random.fold_in(rng, t)
            out, s = apply_child(m, 0, child, p, s, x_t if sizes is None else (x_t,) + carry, key, train)
            if sizes is None:
                return (s, carry), out
            carry = out if isinstance(out, tuple) else (out,)
            return (s, carry), carry[0]

        (s, _), ys = time_scan(cell, (s0, carry0), (xs, jnp.arange(xs.shape[0])))
        return (tuple(ys) if table else ys), (s,)

    m = _decorator("Sequencer", child, init_fn, apply_fn, {})
    return m


# --------------------------------------------------------------------------- MaskZero


def MaskZero(module: Module, n_input_dim: int = 1) -> Module:
    """Zeroes the output rows of ``module`` whose input rows are all zeros (torch7 ``rnn``'s ``nn.MaskZero``).

    The mask is taken from the first array of the input (depth first in a table): a row is
    masked when all of its last ``n_input_dim`` dims are 0. Every output array (each entry of a
    table output) is set to exactly 0 in the masked rows, so their gradients are 0 too.

    Carried state: wrapping a recurrent step module (``Sequencer(MaskZero(FastLSTM(...)))``, what
    torch7's ``lstm:maskZero(1)`` does to its internal step module) zeroes that step's output *and*
    the carried ``h`` and ``c`` of the masked rows, since the carry is the step's output. So a zero
    step both gives zeros and resets the state: the next step starts from zeros, as at the start
    of a sequence. torch7 users separated independent sequences in one stream this way. The
    recurrent step protocol (``carry_sizes``) of ``module`` is kept.

    Args:
      module: the decorated module.
      n_input_dim: the number of non-batch dims of the first input array (torch7's
        ``nInputDim``, required there; default 1, a feature vector).

    Shape contract: as ``module``'s. The output rows are the leading dims of the first input
    array, without its last ``n_input_dim`` dims; every output array must start with them.
    torch7 took one or no batch dim; fnn takes any number of leading dims.

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.MaskZero(fnn.Linear(2, 3))
    >>> _, params = model.init(jax.random.key(0), (-1, 2))
    >>> model.apply(params, jnp.array([[1., 2.], [0., 0.]]))[1]
    Array([0., 0., 0.], dtype=float32)
    """
    child = _check_module("MaskZero", module)
    n_input_dim = int_arg("nn.MaskZero", "n_input_dim", n_input_dim, minimum=0)

    def check_rank(shape):
        first = _first_array_shape(shape)
        if len(first) < n_input_dim:
            raise ShapeError(f"{m.name} expects a first input array of at least {n_input_dim} dims "
                             f"(n_input_dim), got {format_shape(shape)}")
        return tuple(first[: len(first) - n_input_dim])

    def init_fn(rng, shape, dtype):
        check_rank(shape)
        return init_child(m, 0, child, rng, shape, dtype)

    def apply_fn(params, state, x, *, rng=None, train=False):
        rows = check_rank(shape_of(x))
        first = _first_array(x)
        mask = jnp.all(jnp.reshape(first == 0, rows + (-1,)), axis=-1)
        y, s = apply_child(m, 0, child, params[0], state[0], x, rng, train)

        def zero(a):
            if tuple(a.shape[: len(rows)]) != rows:
                raise ShapeError(f"{m.name}: output {format_shape(shape_of(y))} does not start with the input's "
                                 f"rows {format_shape(rows)}, so it cannot be masked")
            return jnp.where(jnp.reshape(mask, rows + (1,) * (a.ndim - len(rows))), 0, a)

        return jax.tree.map(zero, y), (s,)

    def wrapped_init(rng, shape, dtype):
        out, out_dtype, p, s = init_fn(rng, shape, dtype)
        return out, out_dtype, (p,), (s,)

    config = {"n_input_dim": n_input_dim}
    if carry_sizes(child) is not None:
        config[CARRY_SIZES] = carry_sizes(child)
    m = _decorator("MaskZero", child, wrapped_init, apply_fn, config)
    return m


__all__ = ["Sequencer", "MaskZero", "carry_sizes", "time_scan", "CARRY_SIZES"]
