"""Embeddings: LookupTable (torch7) and its PyTorch alias Embedding.

``LookupTable(n_index, size)`` maps integer indices to rows of a learnable table
``weight (n_index, size)``: ``(n) -> (n, size)`` or ``(B, n) -> (B, n, size)``.

Indices are **0-based** (torch7's were 1-based) and must be integers: float indices are a
:class:`~fnn.errors.DTypeError`. Out-of-range indices:

* eagerly (concrete indices, no ``jit``/``vmap``), apply raises an
  :class:`~fnn.errors.IndexRangeError` naming the layer, the range and the bad value;
* under ``jit``/``vmap`` values are not known while tracing. The lookup uses
  ``jnp.take(..., mode="fill", fill_value=nan)``: the row of a bad index (negative ones
  included) is all **NaN**, so the mistake shows in the loss rather than silently reading a
  clamped row, and a bad index contributes no gradient;
* ``checked=True`` adds a ``jax.experimental.checkify`` check; run the jitted apply through
  ``checkify.checkify`` to get the error::

      from jax.experimental import checkify
      err, y = checkify.checkify(jax.jit(apply))(params, idx)
      err.throw()      # raises: "nn.LookupTable: index out of range [0, 10): got 12"

``max_norm`` renormalises the referenced rows in place during the forward pass in torch7 and
PyTorch. Here that write is **state**: the layer becomes stateful with
``state = {"delta": zeros(n_index, size)}``; the effective table is ``weight + delta``
(see :func:`lookup_weight`). Each forward rescales every distinct referenced row whose
``norm_type``-norm exceeds ``max_norm`` by ``max_norm / (norm + 1e-7)``, stores the change in
the new ``delta`` and returns the renormalised rows, while the gradient w.r.t. ``weight`` is the
plain scatter of the output gradient: PyTorch's ``Embedding(max_norm=...)`` step for step.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from fnn.core import Initializer, Module, expect_array, leaf, normal
from fnn.core._args import boolean, check_number, int_arg
from fnn.errors import ConfigError, DTypeError, IndexRangeError


@jax.custom_vjp
def _grad_scale(x: jax.Array, s: jax.Array) -> jax.Array:
    """Identity forward; the backward multiplies the gradient by ``s`` (broadcast on the last dim)."""
    return x


def _grad_scale_fwd(x, s):
    return x, s


def _grad_scale_bwd(s, g):
    return g * s[..., None], jnp.zeros_like(s)


_grad_scale.defvjp(_grad_scale_fwd, _grad_scale_bwd)


def lookup_weight(params: dict[str, Any], state: Any = ()) -> jax.Array:
    """The effective table of a LookupTable/Embedding: ``weight``, plus ``delta`` when it has max_norm state.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.LookupTable(4, 2, max_norm=1.0).stateful
    >>> _, params, state = init(jax.random.key(0), (3,))
    >>> _, state = apply(params, state, jnp.array([0, 1, 1]))
    >>> table = fnn.lookup_weight(params, state)
    >>> bool(jnp.all(jnp.linalg.norm(table[:2], axis=1) <= 1.0 + 1e-6))
    True
    """
    if isinstance(state, dict) and "delta" in state:
        return params["weight"] + state["delta"]
    return params["weight"]


def _lookup(
    layer: str,
    kind: str,
    n_index: int,
    size: int,
    *,
    padding: int | None,
    max_norm: float | None,
    norm_type: float,
    scale_grad_by_freq: bool,
    weight_init: Initializer | None,
    checked: bool,
    zero_padding_row: bool,
    ranks: tuple[int, ...] | None,
    config: dict,
    dtype: Any,
) -> Module:
    n = n_index
    param_dtype = jnp.dtype(dtype)
    w_init = weight_init or normal

    def check(shape, dtype):
        expect_array(shape, ranks, what="index input")
        if not jnp.issubdtype(dtype, jnp.integer):
            raise DTypeError(
                f"expects integer indices (0-based), got {jnp.dtype(dtype).name}; cast with x.astype(jnp.int32)"
            )

    def params(rng, shape, _):  # the input is integer: the table's dtype is the layer's own
        w = w_init(rng, (n, size), param_dtype)
        if zero_padding_row and padding is not None:
            w = w.at[padding].set(0)
        return {"weight": w}

    def state(shape, _):
        return {"delta": jnp.zeros((n, size), param_dtype)}

    def validate_indices(idx):
        if not isinstance(idx, jax.core.Tracer):
            values = np.asarray(idx)
            bad = (values < 0) | (values >= n)
            if bad.any():
                raise IndexRangeError(f"index out of range [0, {n}): got {int(values[bad].flat[0])}")
        if checked:
            bad = (idx < 0) | (idx >= n)
            first = jnp.ravel(idx)[jnp.argmax(jnp.ravel(bad))] if idx.size else jnp.zeros((), idx.dtype)
            checkify.check(~jnp.any(bad), f"{layer}: index out of range [0, {n}): got {{}}", first)
        # jnp.take and .at[] wrap negative indices; send them past the end instead
        return jnp.where(idx < 0, n, idx)

    def gather(table, idx):
        return jnp.take(table, idx, axis=0, mode="fill", fill_value=jnp.nan)

    def rows_of(weight, idx):
        rows = gather(weight, idx)
        if padding is None and not scale_grad_by_freq:
            return rows
        s = jnp.ones(idx.shape, weight.dtype)
        if scale_grad_by_freq:
            counts = jnp.zeros((n,), weight.dtype).at[idx].add(1, mode="drop")
            s = s / jnp.take(counts, idx, axis=0, mode="fill", fill_value=1)
        if padding is not None:
            s = jnp.where(idx == padding, jnp.zeros_like(s), s)
        return _grad_scale(rows, s)

    if max_norm is None:

        def forward(p, x, *, rng, train):
            return rows_of(p["weight"], validate_indices(x))

        return leaf(layer, forward, kind=kind, params=params, check=check, input_dtype=jnp.int32,
                    float_input=False, config=config)

    def forward_renorm(p, st, x, *, rng, train):
        idx = validate_indices(x)
        weight, delta = p["weight"], st["delta"]
        table = jax.lax.stop_gradient(weight + delta)
        referenced = jnp.zeros((n,), bool).at[idx].set(True, mode="drop")
        norms = jnp.linalg.norm(table, ord=norm_type, axis=1)
        changed = referenced & (norms > max_norm)
        scale = jnp.where(changed, max_norm / (norms + 1e-7), jnp.ones_like(norms))
        renormed = table * scale[:, None]
        new_delta = jnp.where(changed[:, None], renormed - jax.lax.stop_gradient(weight), delta)
        y = rows_of(weight, idx) + gather(jax.lax.stop_gradient(new_delta), idx)
        return y, {"delta": new_delta}

    return leaf(layer, forward_renorm, kind=kind, params=params, state=state, check=check, input_dtype=jnp.int32,
                float_input=False, stateful=True, config=config)


def _common_args(layer: str, n_index, size, max_norm, norm_type, scale_grad_by_freq, checked):
    n = int_arg(layer, "n_index", n_index, minimum=1)
    d = int_arg(layer, "size", size, minimum=1)
    mn = None if max_norm is None else check_number(layer, "max_norm", max_norm, low=0, strict=True)
    nt = check_number(layer, "norm_type", norm_type, low=0, strict=True)
    boolean(layer, "scale_grad_by_freq", scale_grad_by_freq)
    boolean(layer, "checked", checked)
    return n, d, mn, nt


def LookupTable(
    n_index: int,
    size: int,
    padding_value: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    *,
    weight_init: Initializer | None = None,
    checked: bool = False,
    dtype: Any = jnp.float32,
) -> Module:
    """A learnable table of ``n_index`` rows of ``size``, looked up by integer indices.

    Args:
      n_index: the number of rows (valid indices are ``0 .. n_index - 1``).
      size: the row size.
      padding_value: an index whose rows get **no gradient** (torch7's ``paddingValue``):
        the row is not zeroed and forward still returns its values. ``None``: no padding.
      max_norm: renormalise referenced rows whose norm exceeds it (makes the layer
        stateful; see the module docstring and :func:`lookup_weight`).
      norm_type: the p of the norm for ``max_norm``.
      scale_grad_by_freq: divide each row's gradient by its count in the input
        (torch7's ``scaleGradByFreq()``).
      weight_init: ``(key, shape, dtype) -> array``; default torch7's ``N(0, 1)``.
      checked: add a ``checkify`` range check (run the jitted apply through ``checkify.checkify``).
      dtype: the table's dtype (the input is integer, so it cannot follow the input's).

    Shape contract: indices ``(n) -> (n, size)``, ``(B, n) -> (B, n, size)`` (1-D or 2-D, as
    torch7). Params: ``weight (n_index, size)``. State (``max_norm`` only): ``delta (n_index, size)``.
    The gradient w.r.t. the (integer) input is zeros, as torch7's.
    Deviation: 0-based indices and ``padding_value``; ``padding_value=None`` replaces torch7's
    default 0 (which no 1-based index could match); out-of-range indices under ``jit`` give NaN rows.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.LookupTable(10, 4)
    >>> out_shape, params = init(jax.random.key(0), (-1, 5))
    >>> out_shape, apply(params, jnp.array([0, 9, 9])).shape
    ((-1, 5, 4), (3, 4))
    """
    layer = "nn.LookupTable"
    n, d, mn, nt = _common_args(layer, n_index, size, max_norm, norm_type, scale_grad_by_freq, checked)
    pad = None if padding_value is None else int_arg(layer, "padding_value", padding_value)
    if pad is not None and not 0 <= pad < n:
        raise ConfigError(f"{layer}: padding_value must be an index in [0, {n}) or None, got {pad}")
    return _lookup("nn.LookupTable", "LookupTable", n, d, padding=pad, max_norm=mn, norm_type=nt,
                   scale_grad_by_freq=scale_grad_by_freq, weight_init=weight_init, checked=checked,
                   zero_padding_row=False, ranks=(1, 2), dtype=dtype,
                   config={"n_index": n, "size": d, "padding_value": pad, "max_norm": mn, "norm_type": nt,
                           "scale_grad_by_freq": scale_grad_by_freq})


def Embedding(
    num_embeddings: int,
    embedding_dim: int,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    *,
    weight_init: Initializer | None = None,
    checked: bool = False,
    dtype: Any = jnp.float32,
) -> Module:
    """PyTorch's ``nn.Embedding``: :func:`LookupTable` with PyTorch's conventions.

    Differences from LookupTable: ``padding_idx`` (negative counts from the end) names a row
    that is **zeroed at init** and gets no gradient; indices of any shape are accepted,
    ``(*) -> (*, embedding_dim)``. ``max_norm`` makes the layer stateful, as LookupTable's.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.Embedding(10, 3, padding_idx=0)
    >>> _, params = init(jax.random.key(0), (2, 2))
    >>> apply(params, jnp.array([[0, 0], [0, 0]]))[0, 0]
    Array([0., 0., 0.], dtype=float32)
    """
    layer = "nn.Embedding"
    n, d, mn, nt = _common_args(layer, num_embeddings, embedding_dim, max_norm, norm_type, scale_grad_by_freq,
                                checked)
    pad = None if padding_idx is None else int_arg(layer, "padding_idx", padding_idx)
    if pad is not None:
        if not -n <= pad < n:
            raise ConfigError(f"{layer}: padding_idx must be within [-{n}, {n}), got {pad}")
        pad %= n
    return _lookup(f"nn.Embedding({n}, {d})", "Embedding", n, d, padding=pad, max_norm=mn, norm_type=nt,
                   scale_grad_by_freq=scale_grad_by_freq, weight_init=weight_init, checked=checked,
                   zero_padding_row=True, ranks=None, dtype=dtype,
                   config={"num_embeddings": n, "embedding_dim": d, "padding_idx": pad, "max_norm": mn,
                           "norm_type": nt, "scale_grad_by_freq": scale_grad_by_freq})


__all__ = ["LookupTable", "Embedding", "lookup_weight"]
