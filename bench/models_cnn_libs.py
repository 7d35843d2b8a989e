"""The CIFAR-10-shaped CNN rows in flax (linen), equinox and dm-haiku (see :mod:`bench.models_cnn`).

Each library in its own idiom with optax SGD and BatchNorm in training mode (batch statistics,
running averages updated, momentum 0.1 in PyTorch's terms): flax and haiku in their default NHWC
layout with explicit ``(1, 1)`` padding for 3x3 convolutions; equinox one ``(C, H, W)`` example
vmapped over the batch (NCHW) with ``BatchNorm(mode="batch")`` over the vmapped axis.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from bench.common import LR, Row, xla_memory
from bench.models_cnn import STAGES, VGG_CONVS
from bench.models_jax import _xent, jax_row


def _stateful_row(name: str, apply: Any, params: Any, state: Any, x: Any, y: Any, note: str) -> Row:
    """A Row over ``apply(params, state, x) -> (logits, new_state)``: jitted optax SGD, all state donated."""
    import optax

    opt = optax.sgd(LR)

    def step(params: Any, state: Any, opt_state: Any, x: Any, y: Any) -> tuple:
        def loss_fn(p: Any) -> tuple:
            logits, new = apply(p, state, x)
            return _xent(logits, y), new

        (loss, new), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), new, opt_state, loss

    return jax_row(name, jax.jit(step, donate_argnums=(0, 1, 2)), (params, state, opt.init(params)), x, y, note)


def flax_cnn_row(model: str, x: Any, y: Any) -> Row:
    import flax.linen as nn

    same = ((1, 1), (1, 1))

    class VGG(nn.Module):
        @nn.compact
        def __call__(self, h: Any) -> Any:
            for _, cout, pool in VGG_CONVS:
                h = nn.relu(nn.Conv(cout, (3, 3), padding=same)(h))
                h = nn.max_pool(h, (2, 2), (2, 2)) if pool else h
            h = nn.relu(nn.Dense(256)(h.reshape(h.shape[0], -1)))
            return nn.Dense(10)(h)

    class ResNet(nn.Module):
        @nn.compact
        def __call__(self, h: Any) -> Any:
            bn = lambda: nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)
            conv = lambda c, k, s: nn.Conv(c, (k, k), (s, s), padding=same if k == 3 else "VALID", use_bias=False)
            h = nn.relu(bn()(conv(16, 3, 1)(h)))
            for cin, cout, s in STAGES:
                for b in range(3):
                    stride = s if b == 0 else 1
                    r = bn()(conv(cout, 3, 1)(nn.relu(bn()(conv(cout, 3, stride)(h)))))
                    short = bn()(conv(cout, 1, stride)(h)) if cin != cout and b == 0 else h
                    h = nn.relu(r + short)
            return nn.Dense(10)(jnp.mean(h, axis=(1, 2)))

    note = "XLA buffer assignment; NHWC"
    if model == "vgg":
        net = VGG()
        params = net.init(jax.random.key(0), jnp.asarray(x[:1]))
        return _stateful_row("flax (linen)", lambda p, s, x: (net.apply(p, x), s), params, (), x, y, note)
    net = ResNet()
    variables = net.init(jax.random.key(0), jnp.asarray(x[:2]))

    def apply(p: Any, s: Any, x: Any) -> tuple:
        out, new = net.apply({"params": p, "batch_stats": s}, x, mutable=["batch_stats"])
        return out, new["batch_stats"]

    return _stateful_row("flax (linen)", apply, variables["params"], variables["batch_stats"], x, y, note)


def haiku_cnn_row(model: str, x: Any, y: Any) -> Row:
    import haiku as hk

    same = ((1, 1), (1, 1))

    def forward(h: Any) -> Any:
        if model == "vgg":
            for _, cout, pool in VGG_CONVS:
                h = jax.nn.relu(hk.Conv2D(cout, 3, padding=same)(h))
                h = hk.max_pool(h, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") if pool else h
            return hk.nets.MLP([256, 10])(hk.Flatten()(h))
        bn = lambda h: hk.BatchNorm(True, True, decay_rate=0.9, eps=1e-5)(h, is_training=True)
        conv = lambda c, k, s: hk.Conv2D(c, k, s, padding=same if k == 3 else "VALID", with_bias=False)
        h = jax.nn.relu(bn(conv(16, 3, 1)(h)))
        for cin, cout, s in STAGES:
            for b in range(3):
                stride = s if b == 0 else 1
                r = bn(conv(cout, 3, 1)(jax.nn.relu(bn(conv(cout, 3, stride)(h)))))
                short = bn(conv(cout, 1, stride)(h)) if cin != cout and b == 0 else h
                h = jax.nn.relu(r + short)
        return hk.Linear(10)(jnp.mean(h, axis=(1, 2)))

    net = hk.without_apply_rng(hk.transform_with_state(forward))
    params, state = net.init(jax.random.key(0), jnp.asarray(x[:2]))
    return _stateful_row("dm-haiku", net.apply, params, state, x, y, "XLA buffer assignment; NHWC")


def _equinox_net(model: str) -> Any:
    import equinox as eqx

    keys = iter(jax.random.split(jax.random.key(0), 64))

    class VGG(eqx.Module):
        convs: list
        fc: list

        def __init__(self) -> None:
            self.convs = [eqx.nn.Conv2d(cin, cout, 3, padding=1, key=next(keys)) for cin, cout, _ in VGG_CONVS]
            self.fc = [eqx.nn.Linear(2048, 256, key=next(keys)), eqx.nn.Linear(256, 10, key=next(keys))]

        def __call__(self, h: Any, state: Any) -> tuple:
            pool = eqx.nn.MaxPool2d(2, 2)
            for conv, (_, _, do_pool) in zip(self.convs, VGG_CONVS, strict=True):
                h = jax.nn.relu(conv(h))
                h = pool(h) if do_pool else h
            return self.fc[1](jax.nn.relu(self.fc[0](jnp.ravel(h)))), state

    class ConvBN(eqx.Module):
        conv: Any
        bn: Any

        def __init__(self, cin: int, cout: int, k: int, s: int) -> None:
            self.conv = eqx.nn.Conv2d(cin, cout, k, s, padding=k // 2, use_bias=False, key=next(keys))
            self.bn = eqx.nn.BatchNorm(cout, axis_name="batch", momentum=0.9, mode="batch")

        def __call__(self, h: Any, state: Any) -> tuple:
            return self.bn(self.conv(h), state)

    class ResNet(eqx.Module):
        stem: Any
        blocks: list
        fc: Any

        def __init__(self) -> None:
            self.stem = ConvBN(3, 16, 3, 1)
            self.blocks = []
            for cin, cout, s in STAGES:
                for b in range(3):
                    c0, stride = (cin, s) if b == 0 else (cout, 1)
                    short = ConvBN(c0, cout, 1, stride) if c0 != cout else None
                    self.blocks.append((ConvBN(c0, cout, 3, stride), ConvBN(cout, cout, 3, 1), short))
            self.fc = eqx.nn.Linear(64, 10, key=next(keys))

        def __call__(self, h: Any, state: Any) -> tuple:
            h, state = self.stem(h, state)
            h = jax.nn.relu(h)
            for c1, c2, short in self.blocks:
                r, state = c1(h, state)
                r, state = c2(jax.nn.relu(r), state)
                if short is not None:
                    h, state = short(h, state)
                h = jax.nn.relu(r + h)
            return self.fc(jnp.mean(h, axis=(1, 2))), state

    net = VGG() if model == "vgg" else ResNet()
    # eqx.nn.State may hold one buffer in several entries: copy every array so that each can be donated.
    return jax.tree.map(lambda a: jnp.array(a, copy=True) if eqx.is_array(a) else a, (net, eqx.nn.State(net)))


def equinox_cnn_row(model: str, x: Any, y: Any) -> Row:
    import equinox as eqx
    import optax

    net, state = _equinox_net(model)
    opt = optax.sgd(LR)
    opt_state = opt.init(eqx.filter(net, eqx.is_array))

    @eqx.filter_jit(donate="all-except-first")
    def step(x: Any, y: Any, net: Any, state: Any, opt_state: Any) -> tuple:
        def loss_fn(m: Any) -> tuple:
            out, new = jax.vmap(m, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)
            return _xent(out, y), new

        (loss, new), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(net)
        updates, opt_state = opt.update(grads, opt_state, eqx.filter(net, eqx.is_array))
        return eqx.apply_updates(net, updates), new, opt_state, loss

    x, y = jnp.asarray(x), jnp.asarray(y)
    box = {"state": (net, state, opt_state), "loss": None}

    def run() -> None:
        *box["state"], box["loss"] = step(x, y, *box["state"])

    memory = lambda: xla_memory(step.lower(x, y, *box["state"]).compile())
    return Row("equinox", run, lambda: jax.block_until_ready(box["loss"]), memory, "XLA buffer assignment")
