"""Leaves: a layer built from its forward function, initialisers and shape check.

:func:`leaf` is how every fnn layer is written; :func:`derive_output` is the one place
where output shapes are derived, by abstract evaluation (``jax.eval_shape``, no FLOPs,
no memory) of the layer's own forward function with two sentinel batch sizes.

>>> import jax, jax.numpy as jnp
>>> double = elementwise("nn.Double", lambda x: 2 * x)
>>> init, apply = double
>>> init(jax.random.key(0), (-1, 3))
((-1, 3), ())
>>> apply((), jnp.ones(2))
Array([2., 2.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import _module
from fnn.core._module import Module
from fnn.core._shapes import (
    SENTINELS,
    Array,
    Params,
    ShapeTree,
    State,
    concrete,
    dtype_of,
    fill_dtype,
    format_shape,
    has_unknown,
    merge_abstract,
    shape_of,
)
from fnn.errors import DTypeError, FnnError, ShapeError

# Public as jax.dtypes.TypePromotionError only since jax 0.9; the floor (0.8) has it privately.
TypePromotionError = getattr(jax.dtypes, "TypePromotionError", None) or jax._src.dtypes.TypePromotionError


def derive_output(
    name: str, forward: Callable, params: Params, state: State, shape: ShapeTree, dtype: Any
) -> tuple[ShapeTree, Any]:
    """The output shape and dtype of ``forward`` for an input of ``shape`` (``-1`` allowed).

    Also checks that ``forward`` returns state of the same structure, shapes and dtypes
    as it was given (so ``jit`` and ``lax.scan`` carries stay stable).
    """
    outs = []
    for batch in SENTINELS if has_unknown(shape) else SENTINELS[:1]:
        x = concrete(shape, dtype, batch)
        try:
            y, new_state = jax.eval_shape(lambda p, s, x: forward(p, s, x, rng=None, train=False), params, state, x)
        except FnnError:
            raise
        except (TypeError, ValueError, IndexError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ShapeError(f"cannot take input {format_shape(shape)}: {first}") from e
        in_struct = jax.tree.structure(state)
        if jax.tree.structure(new_state) != in_struct or any(
            (a.shape, a.dtype) != (jnp.shape(b), jnp.result_type(b))
            for a, b in zip(jax.tree.leaves(new_state), jax.tree.leaves(state))
        ):
            raise FnnError("returned state of another structure than it was given")
        outs.append(y)
    if len(outs) == 1:
        return merge_abstract(outs[0], outs[0])
    return merge_abstract(outs[0], outs[1])




def _dtype_text(dtype: Any) -> str:
    return ", ".join(jnp.dtype(d).name for d in jax.tree.leaves(dtype))


def named(e: FnnError, name: str) -> FnnError:
    """Prefixes ``e``'s message with the layer name, once (nested leaves do not repeat it)."""
    if not getattr(e, "_named", False):
        e.message = f"{name} {e.message}"
        e.args = (e.message,)
        e._named = True
    return e


def leaf(
    name: str,
    forward: Callable,
    *,
    kind: str,
    params: Callable[[Array, ShapeTree, Any], Params] | None = None,
    state: Callable[[ShapeTree, Any], State] | None = None,
    check: Callable[[ShapeTree, Any], None] | None = None,
    input_dtype: Any = jnp.float32,
    float_input: bool = True,
    stateful: bool = False,
    config: dict[str, Any] | None = None,
) -> Module:
    """Builds a leaf Module from its forward function, initialisers and shape check.

    Args:
      name: torch7's printed form, e.g. ``"nn.Linear(3 -> 4)"``; it prefixes every error.
      forward: ``forward(params, x, *, rng, train) -> y``; with ``stateful=True``
        ``forward(params, state, x, *, rng, train) -> (y, state)``.
      kind: the torch7 class name.
      params: ``params(rng, in_shape, param_dtype) -> dict`` (default: no params, ``()``).
      state: ``state(in_shape, param_dtype) -> dict`` (default: no state, ``()``).
      check: ``check(in_shape, in_dtype)`` raises :class:`ShapeError` (message without the
        layer name, e.g. ``"expects input (..., 784), got (-1, 785)"``). It runs at init
        with ``-1`` for unknown sizes and at every apply (trace time, free under ``jit``).
      input_dtype: the dtype assumed when ``init`` is given none.
      float_input: reject non-floating inputs with a :class:`DTypeError`.
      stateful: ``forward`` takes and returns state.
      config: hyper-parameters, kept for printing and weight import.
    """
    step = forward if stateful else (lambda p, s, x, *, rng, train: (forward(p, x, rng=rng, train=train), s))

    def validate(shape: ShapeTree, dtype: Any) -> None:
        try:
            if float_input:
                for d in jax.tree.leaves(dtype):
                    if not jnp.issubdtype(d, jnp.floating):
                        raise DTypeError(f"expects floating-point input, got {jnp.dtype(d).name}")
            if check is not None:
                check(shape, dtype)
        except FnnError as e:
            raise named(e, name) from None

    def init_fn(rng: Array, shape: ShapeTree, dtype: Any) -> tuple[ShapeTree, Any, Params, State]:
        dtype = fill_dtype(shape, input_dtype if dtype is None else dtype)
        validate(shape, dtype)
        leaves = jax.tree.leaves(dtype)
        pdt = leaves[0] if leaves and jnp.issubdtype(leaves[0], jnp.floating) else jnp.dtype(jnp.float32)
        p = params(rng, shape, pdt) if params is not None else ()
        s = state(shape, pdt) if state is not None else ()
        try:
            out_shape, out_dtype = derive_output(name, step, p, s, shape, dtype)
        except FnnError as e:
            raise named(e, name) from None
        rows = _module.RECORDER.get()
        if rows is not None:
            rows.append((_module.PATH.get(), module, shape, out_shape, p, s))
        return out_shape, out_dtype, p, s

    def apply_fn(p: Params, s: State, x: Any, *, rng: Array | None = None, train: bool = False) -> tuple[Any, State]:
        validate(shape_of(x), dtype_of(x))
        try:
            y, s = step(p, s, x, rng=rng, train=train)
        except FnnError as e:
            raise named(e, name) from None
        except TypePromotionError as e:
            pdts = sorted({jnp.dtype(v.dtype).name for v in jax.tree.leaves(p)})
            raise DTypeError(
                f"{name} got input of dtype {_dtype_text(dtype_of(x))} but its params are {', '.join(pdts) or 'none'}; "
                "cast one to the other (init with dtype=... or x.astype(...))"
            ) from e
        hook = _module.APPLY_HOOK.get()
        if hook is not None:
            hook(_module.PATH.get(), module, y)
        return y, s

    module = Module(
        name=name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        has_state=state is not None,
        kind=kind,
        config=dict(config or {}),
    )
    return module


def elementwise(
    name: str, fn: Callable[[Array], Array], *, kind: str | None = None, config: dict[str, Any] | None = None
) -> Module:
    """A parameter-free element-wise layer ``y = fn(x)`` of any shape."""
    return leaf(name, lambda p, x, *, rng, train: fn(x), kind=kind or name.removeprefix("nn."), config=config)

