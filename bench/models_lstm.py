"""The LSTM rows of ``bench/run.py``: one SGD train step of a sequence classifier in every library.

The model is the sequences issue's LSTM (:data:`bench.common.LSTM_T` = 50 steps of
:data:`~bench.common.LSTM_N` = 32 sequences, 64 features in, 128 hidden, one layer, time-major like
``torch.nn.LSTM``) with a 128 -> 10 linear head on the last step's output, a mean cross-entropy
and plain SGD: the step a user of each library writes for it.

* **fnn**: ``Sequential(LSTM, SelectTable(0), Select(0, -1), Linear)``, ``fnn.make_train_step``.
* **raw JAX**: :func:`bench.lstm.hand_written_lstm` (the input projection of every step in one
  matmul, then a ``lax.scan``), ``jax.grad`` and ``p - lr * g``.
* **flax (linen)**: ``nn.RNN(nn.OptimizedLSTMCell(128), time_major=True)``, ``nn.Dense``.
* **equinox**: ``eqx.nn.LSTMCell`` in a ``lax.scan`` over one sequence, ``jax.vmap``-ed over the batch.
* **dm-haiku**: ``hk.LSTM`` unrolled by ``hk.dynamic_unroll``, ``hk.Linear``.
* **PyTorch**: ``torch.nn.LSTM`` (oneDNN's fused LSTM on CPU) and ``nn.Linear``
  (:func:`bench.models_torch.torch_row`).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from bench.common import LR, LSTM_H, LSTM_IN, Row
from bench.models_jax import _xent, jax_row
from bench.models_libs import _apply_fn_row, equinox_step_row

CLASSES = 10


def fnn_lstm() -> Any:
    """The classifier in fnn (the LSTM's output table's first entry, its last time step, the head)."""
    import fnn

    return fnn.Sequential(fnn.LSTM(LSTM_IN, LSTM_H), fnn.SelectTable(0), fnn.Select(0, -1),
                          fnn.Linear(LSTM_H, CLASSES))


def raw_lstm_params(seed: int = 0) -> dict:
    """torch's names and layouts, torch's init ``U(±1/√H)`` for the LSTM and ``U(±1/√fan_in)`` for the head."""
    k = jax.random.split(jax.random.key(seed), 6)
    u = lambda key, shape, fan: jax.random.uniform(key, shape, jnp.float32, -1 / math.sqrt(fan), 1 / math.sqrt(fan))
    g = 4 * LSTM_H
    return {"weight_ih_l0": u(k[0], (g, LSTM_IN), LSTM_H), "weight_hh_l0": u(k[1], (g, LSTM_H), LSTM_H),
            "bias_ih_l0": u(k[2], (g,), LSTM_H), "bias_hh_l0": u(k[3], (g,), LSTM_H),
            "head_weight": u(k[4], (CLASSES, LSTM_H), LSTM_H), "head_bias": u(k[5], (CLASSES,), LSTM_H)}


def raw_lstm_row(x: Any, y: Any) -> Row:
    from bench.lstm import hand_written_lstm

    def forward(p: dict, x: Any) -> Any:
        return hand_written_lstm(p, x, LSTM_H)[-1] @ p["head_weight"].T + p["head_bias"]

    def step(p: dict, x: Any, y: Any) -> tuple:
        loss, grads = jax.value_and_grad(lambda p: _xent(forward(p, x), y))(p)
        return jax.tree.map(lambda a, g: a - LR * g, p, grads), loss

    return jax_row("raw JAX", jax.jit(step, donate_argnums=(0,)), (raw_lstm_params(),), x, y)


def flax_lstm_row(x: Any, y: Any) -> Row:
    import flax.linen as nn

    class Classifier(nn.Module):
        @nn.compact
        def __call__(self, xs: Any) -> Any:
            ys = nn.RNN(nn.OptimizedLSTMCell(LSTM_H), time_major=True)(xs)
            return nn.Dense(CLASSES)(ys[-1])

    net = Classifier()
    params = net.init(jax.random.key(0), jnp.asarray(x))
    return _apply_fn_row("flax (linen)", "lstm", net.apply, params, x, y)


def equinox_lstm_row(x: Any, y: Any) -> Row:
    import equinox as eqx
    import optax

    class Classifier(eqx.Module):
        cell: eqx.nn.LSTMCell
        head: eqx.nn.Linear

        def __call__(self, xs: Any) -> Any:  # one sequence, (T, F)
            def step(carry: tuple, x_t: Any) -> tuple:
                return self.cell(x_t, carry), None

            zeros = jnp.zeros(LSTM_H, xs.dtype)
            (h, _), _ = jax.lax.scan(step, (zeros, zeros), xs)
            return self.head(h)

    k1, k2 = jax.random.split(jax.random.key(0))
    net = Classifier(eqx.nn.LSTMCell(LSTM_IN, LSTM_H, key=k1), eqx.nn.Linear(LSTM_H, CLASSES, key=k2))
    opt = optax.sgd(LR)
    opt_state = opt.init(eqx.filter(net, eqx.is_array))

    @eqx.filter_jit(donate="all-except-first")
    def step(x: Any, y: Any, net: Any, opt_state: Any) -> tuple:
        loss, grads = eqx.filter_value_and_grad(lambda m: _xent(jax.vmap(m, in_axes=1)(x), y))(net)
        updates, opt_state = opt.update(grads, opt_state, eqx.filter(net, eqx.is_array))
        return eqx.apply_updates(net, updates), opt_state, loss

    return equinox_step_row(step, net, opt_state, x, y)


def haiku_lstm_row(x: Any, y: Any) -> Row:
    import haiku as hk

    def forward(xs: Any) -> Any:
        core = hk.LSTM(LSTM_H)
        ys, _ = hk.dynamic_unroll(core, xs, core.initial_state(xs.shape[1]), time_major=True)
        return hk.Linear(CLASSES)(ys[-1])

    net = hk.without_apply_rng(hk.transform(forward))
    params = net.init(jax.random.key(0), jnp.asarray(x))
    return _apply_fn_row("dm-haiku", "lstm", net.apply, params, x, y)


def torch_lstm_net() -> Any:
    """``torch.nn.LSTM`` and a linear head on its last step (time-major input)."""
    from torch import nn

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm, self.head = nn.LSTM(LSTM_IN, LSTM_H), nn.Linear(LSTM_H, CLASSES)

        def forward(self, xs: Any) -> Any:
            return self.head(self.lstm(xs)[0][-1])

    return Classifier()
