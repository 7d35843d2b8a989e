"""Recurrent cells with PyTorch's semantics: RNNCell, LSTMCell, GRUCell (one time step).

The step functions here are the mathematics of one time step given the **already projected**
input ``gi = x Wᵢₕᵀ + bᵢₕ (+ bₕₕ)``; the cells below and the sequence layers of
``_recurrent.py`` share them, so a cell and one step of the sequence layer compute the same.

Gate order and parameter layout are PyTorch's (``torch.nn.RNNCell``/``LSTMCell``/``GRUCell``):

* RNN:  ``h' = act(Wᵢₕ x + bᵢₕ + Wₕₕ h + bₕₕ)``, ``act`` tanh or relu;
* LSTM: gates ``i, f, g, o`` stacked in ``weight_ih (4H, in)``;
  ``c' = σ(f) c + σ(i) tanh(g)``, ``h' = σ(o) tanh(c')`` (then ``h' = W_hr h'`` with a projection);
* GRU:  gates ``r, z, n`` stacked in ``weight_ih (3H, in)``;
  ``n = tanh(Wᵢₙ x + bᵢₙ + r (Wₕₙ h + bₕₙ))``, ``h' = (1 - z) n + z h``.

>>> import jax, jax.numpy as jnp, fnn
>>> init, apply = fnn.GRUCell(3, 2)
>>> _, params = init(jax.random.key(0), ((-1, 3), (-1, 2)))
>>> apply(params, (jnp.ones((4, 3)), jnp.zeros((4, 2)))).shape
(4, 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import Initializer, Module, format_shape, is_shape, leaf, lift, uniform
from fnn.core._args import boolean, ints
from fnn.errors import ConfigError, DTypeError, ShapeError

# mode -> number of stacked gates in weight_ih / weight_hh
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# --------------------------------------------------------------------------- one time step


def rnn_step(act: Callable[[Any], Any]) -> Callable:
    """``h' = act(gi + h Wₕₕᵀ)``; ``gi`` already holds ``x Wᵢₕᵀ + bᵢₕ + bₕₕ``."""

    def step(p: dict, gi: Any, h: Any) -> tuple[Any, Any]:
        h = act(gi + jnp.matmul(h, p["w_hh"].T))
        return h, h

    return step


def lstm_step(p: dict, gi: Any, carry: tuple[Any, Any]) -> tuple[tuple[Any, Any], Any]:
    """One LSTM step; ``gi = x Wᵢₕᵀ + bᵢₕ + bₕₕ`` (gates i, f, g, o); carry ``(h, c)``."""
    h, c = carry
    gates = gi + jnp.matmul(h, p["w_hh"].T)
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    if "w_hr" in p:
        h = jnp.matmul(h, p["w_hr"].T)
    return (h, c), h


def gru_step(p: dict, gi: Any, h: Any) -> tuple[Any, Any]:
    """One GRU step; ``gi = x Wᵢₕᵀ + bᵢₕ`` (gates r, z, n); ``bₕₕ`` stays inside (n needs ``r (Wₕₙ h + bₕₙ)``)."""
    gh = jnp.matmul(h, p["w_hh"].T)
    if "b_hh" in p:
        gh = gh + lift(p["b_hh"], gh.ndim)
    i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
    r = jax.nn.sigmoid(i_r + h_r)
    z = jax.nn.sigmoid(i_z + h_z)
    n = jnp.tanh(i_n + r * h_n)
    h = (1 - z) * n + z * h
    return h, h


def relu(x: Any) -> Any:
    return jnp.where(x > 0, x, jnp.zeros((), x.dtype))


def step_fn(mode: str) -> Callable:
    """The step function of ``mode`` (``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"``, ``"GRU"``)."""
    return {"RNN_TANH": rnn_step(jnp.tanh), "RNN_RELU": rnn_step(relu), "LSTM": lstm_step, "GRU": gru_step}[mode]


def project(mode: str, x: Any, w_ih: Any, b_ih: Any | None, b_hh: Any | None) -> Any:
    """The input projection ``x Wᵢₕᵀ + bᵢₕ (+ bₕₕ)`` for every leading position at once (one matmul).

    RNN and LSTM fold ``bₕₕ`` in here (it is added every step anyway); GRU keeps it in the step.
    """
    gi = jnp.matmul(x, w_ih.T)
    if b_ih is not None:
        gi = gi + lift(b_ih, gi.ndim)
        if mode != "GRU":
            gi = gi + lift(b_hh, gi.ndim)
    return gi


def step_params(mode: str, p: dict, suffix: str) -> dict:
    """The per-step weights of one layer/direction, under the short names the step functions read."""
    sp = {"w_hh": p[f"weight_hh{suffix}"]}
    if mode == "GRU" and f"bias_hh{suffix}" in p:
        sp["b_hh"] = p[f"bias_hh{suffix}"]
    if f"weight_hr{suffix}" in p:
        sp["w_hr"] = p[f"weight_hr{suffix}"]
    return sp


def nonlinearity_mode(layer: str, nonlinearity: Any) -> str:
    if nonlinearity not in ("tanh", "relu"):
        raise ConfigError(f"{layer}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


# --------------------------------------------------------------------------- the cells


def _cell(kind: str, mode: str, input_size: int, hidden_size: int, bias: bool,
          weight_init: Initializer | None, bias_init: Initializer | None) -> Module:
    name = f"nn.{kind}({input_size} -> {hidden_size}{'' if bias else ' without bias'})"
    ints(f"nn.{kind}", 1, input_size=input_size, hidden_size=hidden_size)
    boolean(f"nn.{kind}", "bias", bias)
    g = GATES[mode] * hidden_size
    bound = 1.0 / math.sqrt(hidden_size)
    w_init, b_init = weight_init or uniform(bound), bias_init or uniform(bound)
    lstm, step = mode == "LSTM", step_fn(mode)

    def split(shape: Any) -> tuple[Any, Any]:
        """``(x shape, hx shapes or None)``; hx shapes is a tuple (one entry, or h and c for LSTM)."""
        if is_shape(shape):
            return shape, None
        if len(shape) != 2:
            raise ShapeError(f"expects x or a table (x, hx), got {format_shape(shape)}")
        x, hx = shape
        if lstm:
            if is_shape(hx) or len(hx) != 2 or not all(is_shape(s) for s in hx):
                raise ShapeError(f"expects hx = (h, c), a table of two arrays, got {format_shape(hx)}")
            return x, tuple(hx)
        if not is_shape(hx):
            raise ShapeError(f"expects hx to be one array, got a table {format_shape(hx)}")
        return x, (hx,)

    def check(shape: Any, dtype: Any) -> None:
        xs, hs = split(shape)
        for d in jax.tree.leaves(dtype):
            if not jnp.issubdtype(d, jnp.floating):
                raise DTypeError(f"expects floating-point x and hx, got {jnp.dtype(d).name}")
        if len(xs) not in (1, 2) or xs[-1] not in (input_size, -1):
            raise ShapeError(f"expects x of shape (N, {input_size}) or ({input_size},), got {format_shape(xs)}")
        want = xs[:-1] + (hidden_size,)
        for s, what in zip(hs or (), ("h", "c")):
            if len(s) != len(want) or not all(a == b or -1 in (a, b) for a, b in zip(s, want)):
                raise ShapeError(f"expects {what if lstm else 'hx'} of shape {format_shape(want)} "
                                 f"for x of shape {format_shape(xs)}, got {format_shape(s)}")

    def params(rng: Any, shape: Any, dtype: Any) -> dict:
        k = jax.random.split(rng, 4)
        p = {"weight_ih": w_init(k[0], (g, input_size), dtype), "weight_hh": w_init(k[1], (g, hidden_size), dtype)}
        if bias:
            p["bias_ih"], p["bias_hh"] = b_init(k[2], (g,), dtype), b_init(k[3], (g,), dtype)
        return p

    def forward(p: dict, inp: Any, *, rng: Any, train: bool) -> Any:
        x, hx = (inp, None) if not isinstance(inp, tuple) else inp
        if hx is None:
            zero = jnp.zeros(x.shape[:-1] + (hidden_size,), x.dtype)
            hx = (zero, zero) if lstm else zero
        gi = project(mode, x, p["weight_ih"], p.get("bias_ih"), p.get("bias_hh"))
        carry, _ = step(step_params(mode, p, ""), gi, tuple(hx) if lstm else hx)
        return carry

    config = {"input_size": input_size, "hidden_size": hidden_size, "bias": bias}
    return leaf(name, forward, kind=kind, params=params, check=check, float_input=False, config=config)


def RNNCell(input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", *,
            weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """An Elman RNN cell, ``h' = act(x Wᵢₕᵀ + bᵢₕ + h Wₕₕᵀ + bₕₕ)`` (PyTorch's ``nn.RNNCell``).

    Args:
      input_size: features of ``x``.
      hidden_size: features of ``h``.
      bias: whether to use ``bias_ih`` and ``bias_hh``.
      nonlinearity: ``'tanh'`` or ``'relu'``.
      weight_init: ``(key, shape, dtype) -> array``; default PyTorch's ``U(±1/√hidden_size)``.
      bias_init: as ``weight_init``; same default.

    Shape contract: ``x (N, in)`` or ``(in,)``, or a table ``(x, hx)`` with ``hx (N, H)`` or ``(H,)``
    (zeros when absent) ``-> h' (N, H)`` or ``(H,)``.
    Params: ``weight_ih (H, in)``, ``weight_hh (H, H)``, ``bias_ih (H,)``, ``bias_hh (H,)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.RNNCell(3, 2)
    >>> _, params = init(jax.random.key(0), (-1, 3))
    >>> apply(params, jnp.ones((4, 3))).shape, apply(params, (jnp.ones(3), jnp.zeros(2))).shape
    ((4, 2), (2,))
    """
    mode = nonlinearity_mode("nn.RNNCell", nonlinearity)
    return _cell("RNNCell", mode, input_size, hidden_size, bias, weight_init, bias_init)


def LSTMCell(input_size: int, hidden_size: int, bias: bool = True, *,
             weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """A long short-term memory cell (PyTorch's ``nn.LSTMCell``), gates ``i, f, g, o``.

    Args:
      input_size: features of ``x``.
      hidden_size: features of ``h`` and ``c``.
      bias: whether to use ``bias_ih`` and ``bias_hh``.
      weight_init: ``(key, shape, dtype) -> array``; default PyTorch's ``U(±1/√hidden_size)``.
      bias_init: as ``weight_init``; same default.

    Shape contract: ``x (N, in)`` or ``(in,)``, or a table ``(x, (h, c))`` with ``h, c (N, H)`` or
    ``(H,)`` (zeros when absent) ``-> (h', c')``.
    Params: ``weight_ih (4H, in)``, ``weight_hh (4H, H)``, ``bias_ih (4H,)``, ``bias_hh (4H,)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.LSTMCell(3, 2)
    >>> _, params = init(jax.random.key(0), (-1, 3))
    >>> h, c = apply(params, jnp.ones((4, 3)))
    >>> h.shape, c.shape, params["weight_ih"].shape
    ((4, 2), (4, 2), (8, 3))
    """
    return _cell("LSTMCell", "LSTM", input_size, hidden_size, bias, weight_init, bias_init)


def GRUCell(input_size: int, hidden_size: int, bias: bool = True, *,
            weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """A gated recurrent unit cell (PyTorch's ``nn.GRUCell``), gates ``r, z, n``.

    ``n = tanh(Wᵢₙ x + bᵢₙ + r (Wₕₙ h + bₕₙ))``, ``h' = (1 - z) n + z h``.

    Args:
      input_size: features of ``x``.
      hidden_size: features of ``h``.
      bias: whether to use ``bias_ih`` and ``bias_hh``.
      weight_init: ``(key, shape, dtype) -> array``; default PyTorch's ``U(±1/√hidden_size)``.
      bias_init: as ``weight_init``; same default.

    Shape contract: ``x (N, in)`` or ``(in,)``, or a table ``(x, hx)`` -> ``h' (N, H)`` or ``(H,)``.
    Params: ``weight_ih (3H, in)``, ``weight_hh (3H, H)``, ``bias_ih (3H,)``, ``bias_hh (3H,)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.GRUCell(3, 2)
    >>> _, params = init(jax.random.key(0), (-1, 3))
    >>> apply(params, jnp.ones(3)).shape
    (2,)
    """
    return _cell("GRUCell", "GRU", input_size, hidden_size, bias, weight_init, bias_init)


__all__ = ["RNNCell", "LSTMCell", "GRUCell"]
