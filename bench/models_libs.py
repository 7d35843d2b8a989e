"""The optional JAX libraries (``pip install -e ".[bench]"``): flax (linen), equinox, dm-haiku.

Each uses its own idiom with optax SGD: ``flax.linen`` modules with a ``jax.jit`` step,
equinox modules with ``eqx.filter_jit``/``filter_value_and_grad``, haiku ``transform``.
Convolutions use each library's default layout: NHWC for flax and haiku, and for
equinox one ``(C, H, W)`` example vmapped over the batch (NCHW).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from bench.common import LR, Row, xla_memory
from bench.models_jax import _xent, jax_row


def _apply_fn_row(name: str, model: str, apply: Any, params: Any, x: Any, y: Any) -> Row:
    """A Row for a library whose model is ``apply(params, x)``: a jitted optax SGD step, params and state donated."""
    import optax

    opt = optax.sgd(LR)

    def step(params: Any, opt_state: Any, x: Any, y: Any) -> tuple:
        loss, grads = jax.value_and_grad(lambda p: _xent(apply(p, x), y))(params)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    note = "XLA buffer assignment" + ("; NHWC" if model == "lenet" else "")
    return jax_row(name, jax.jit(step, donate_argnums=(0, 1)), (params, opt.init(params)), x, y, note)


def flax_row(model: str, x: Any, y: Any) -> Row:
    import flax.linen as nn

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, h: Any) -> Any:
            h = nn.relu(nn.Dense(512)(h))
            h = nn.relu(nn.Dense(512)(h))
            return nn.Dense(10)(h)

    class LeNet(nn.Module):
        @nn.compact
        def __call__(self, h: Any) -> Any:
            h = nn.max_pool(nn.relu(nn.Conv(6, (5, 5), padding="VALID")(h)), (2, 2), (2, 2))
            h = nn.max_pool(nn.relu(nn.Conv(16, (5, 5), padding="VALID")(h)), (2, 2), (2, 2))
            h = h.reshape(h.shape[0], -1)
            h = nn.relu(nn.Dense(120)(h))
            h = nn.relu(nn.Dense(84)(h))
            return nn.Dense(10)(h)

    net = MLP() if model == "mlp" else LeNet()
    params = net.init(jax.random.key(0), jnp.asarray(x[:1]))
    return _apply_fn_row("flax (linen)", model, net.apply, params, x, y)


def equinox_row(model: str, x: Any, y: Any) -> Row:
    import equinox as eqx
    import optax

    k = jax.random.split(jax.random.key(0), 5)
    if model == "mlp":
        layers = [eqx.nn.Linear(784, 512, key=k[0]), jax.nn.relu, eqx.nn.Linear(512, 512, key=k[1]), jax.nn.relu,
                  eqx.nn.Linear(512, 10, key=k[2])]  # fmt: skip
    else:
        layers = [
            eqx.nn.Conv2d(1, 6, 5, key=k[0]), jax.nn.relu, eqx.nn.MaxPool2d(2, 2),
            eqx.nn.Conv2d(6, 16, 5, key=k[1]), jax.nn.relu, eqx.nn.MaxPool2d(2, 2), jnp.ravel,
            eqx.nn.Linear(400, 120, key=k[2]), jax.nn.relu, eqx.nn.Linear(120, 84, key=k[3]), jax.nn.relu,
            eqx.nn.Linear(84, 10, key=k[4]),
        ]  # fmt: skip
    net = eqx.nn.Sequential([eqx.nn.Lambda(f) if not isinstance(f, eqx.Module) else f for f in layers])
    opt = optax.sgd(LR)
    opt_state = opt.init(eqx.filter(net, eqx.is_array))

    @eqx.filter_jit(donate="all-except-first")
    def step(x: Any, y: Any, net: Any, opt_state: Any) -> tuple:
        loss, grads = eqx.filter_value_and_grad(lambda m: _xent(jax.vmap(m)(x), y))(net)
        updates, opt_state = opt.update(grads, opt_state, eqx.filter(net, eqx.is_array))
        return eqx.apply_updates(net, updates), opt_state, loss

    return equinox_step_row(step, net, opt_state, x, y)


def equinox_step_row(step: Any, net: Any, opt_state: Any, x: Any, y: Any) -> Row:
    """The equinox Row over a filter-jitted ``step(x, y, net, opt_state) -> (net, opt_state, loss)``."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    box = {"state": (net, opt_state), "loss": None}

    def run() -> None:
        *box["state"], box["loss"] = step(x, y, *box["state"])

    memory = lambda: xla_memory(step.lower(x, y, *box["state"]).compile())
    return Row("equinox", run, lambda: jax.block_until_ready(box["loss"]), memory, "XLA buffer assignment")


def haiku_row(model: str, x: Any, y: Any) -> Row:
    import haiku as hk

    def forward(h: Any) -> Any:
        if model == "mlp":
            return hk.nets.MLP([512, 512, 10])(h)
        for c in (6, 16):
            h = jax.nn.relu(hk.Conv2D(c, 5, padding="VALID")(h))
            h = hk.max_pool(h, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        h = hk.Flatten()(h)
        return hk.nets.MLP([120, 84, 10])(h)

    net = hk.without_apply_rng(hk.transform(forward))
    params = net.init(jax.random.key(0), jnp.asarray(x[:1]))
    return _apply_fn_row("dm-haiku", model, net.apply, params, x, y)
