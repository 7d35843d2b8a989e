"""The CIFAR-10-shaped CNN rows in fnn and raw JAX: ResNet-20 (BN) and a VGG-style net.

The architectures are :func:`bench.common.cnn_layers`'s: inputs ``(B, 3, 32, 32)`` NCHW, 10
classes, one full SGD train step (learning rate ``LR``) after a mean cross-entropy loss. BatchNorm
runs in training mode: batch statistics, running mean and (unbiased) variance updated with
momentum 0.1, as in PyTorch. Every row is jitted with params (and BN state) donated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from bench.common import LR, Row, cnn_layers, xla_memory
from bench.models_jax import _uniform, _xent, jax_row

STAGES = ((16, 16, 1), (16, 32, 2), (32, 64, 2))  # (c_in, c_out, stride) of each ResNet-20 stage
VGG_CONVS = ((3, 32, True), (32, 64, True), (64, 128, False), (128, 128, True))  # (c_in, c_out, pool after)


# --------------------------------------------------------------------------- fnn


def fnn_cnn_model(model: str) -> Any:
    """The model in fnn (torch-style layers: ``Conv2d``, ``BatchNorm2d``, residual as ConcatTable + CAddTable)."""
    import fnn

    if model == "vgg":
        layers: list = []
        for cin, cout, pool in VGG_CONVS:
            layers += [fnn.Conv2d(cin, cout, 3, padding=1), fnn.ReLU()] + ([fnn.MaxPool2d(2)] if pool else [])
        return fnn.Sequential(*layers, fnn.View(2048), fnn.Linear(2048, 256), fnn.ReLU(), fnn.Linear(256, 10))

    def conv_bn(cin: int, cout: int, k: int, stride: int) -> list:
        return [fnn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), fnn.BatchNorm2d(cout)]

    def block(cin: int, cout: int, stride: int) -> Any:
        main = fnn.Sequential(*conv_bn(cin, cout, 3, stride), fnn.ReLU(), *conv_bn(cout, cout, 3, 1))
        short = fnn.Identity() if cin == cout else fnn.Sequential(*conv_bn(cin, cout, 1, stride))
        return fnn.Sequential(fnn.ConcatTable(main, short), fnn.CAddTable(), fnn.ReLU())

    blocks = [block(cin if b == 0 else cout, cout, s if b == 0 else 1) for cin, cout, s in STAGES for b in range(3)]
    return fnn.Sequential(*conv_bn(3, 16, 3, 1), fnn.ReLU(), *blocks, fnn.SpatialAveragePooling(8, 8), fnn.View(64),
                          fnn.Linear(64, 10))  # fmt: skip


def fnn_cnn_step(model: str) -> tuple[Callable, tuple]:
    import optax

    import fnn

    net = fnn_cnn_model(model)
    _, params, state = net.stateful.init(jax.random.key(0), (-1, 3, 32, 32))
    opt = optax.sgd(LR)
    return fnn.make_train_step(net, fnn.CrossEntropyCriterion(), opt), (params, state, opt.init(params))


# --------------------------------------------------------------------------- raw JAX


def raw_cnn_params(model: str, seed: int = 0) -> tuple[dict, dict]:
    """``(params, bn_state)``: torch-layout weights keyed by layer index, BN running statistics."""
    keys = iter(jax.random.split(jax.random.key(seed), 64))
    params, state = {}, {}
    for i, (c, o, k, h) in enumerate(cnn_layers(model)):
        dense = k == 1 and h == 1
        shape = (o, c) if dense else (o, c, k, k)
        p = {"weight": _uniform(next(keys), shape, c * k * k)}
        if model == "vgg" or dense:
            p["bias"] = _uniform(next(keys), (o,), c * k * k)
        else:  # ResNet: BN after every convolution
            p["gamma"], p["beta"] = jnp.ones(o), jnp.zeros(o)
            state[str(i)] = {"mean": jnp.zeros(o), "var": jnp.ones(o)}
        params[str(i)] = p
    return params, state


def _lax_conv(x: Any, w: Any, stride: int = 1) -> Any:
    pad = w.shape[-1] // 2
    return lax.conv_general_dilated(x, w, (stride, stride), ((pad, pad), (pad, pad)),
                                    dimension_numbers=("NCHW", "OIHW", "NCHW"))


def _bn(x: Any, p: dict, s: dict, eps: float = 1e-5, momentum: float = 0.1) -> tuple[Any, dict]:
    mean = jnp.mean(x, axis=(0, 2, 3))
    var = jnp.mean(jnp.square(x - mean[None, :, None, None]), axis=(0, 2, 3))
    n = x.size // x.shape[1]
    y = (x - mean[None, :, None, None]) * lax.rsqrt(var + eps)[None, :, None, None]
    new = {"mean": (1 - momentum) * s["mean"] + momentum * lax.stop_gradient(mean),
           "var": (1 - momentum) * s["var"] + momentum * lax.stop_gradient(var) * n / (n - 1)}  # fmt: skip
    return y * p["gamma"][None, :, None, None] + p["beta"][None, :, None, None], new


def _lax_pool(x: Any) -> Any:
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def raw_cnn_forward(model: str, conv: Callable = _lax_conv, pool: Callable = _lax_pool) -> Callable:
    """``forward(params, state, x) -> (logits, new_state)`` in jax.numpy (NCHW)."""
    dense = lambda p, h: h @ p["weight"].T + p["bias"]

    def vgg(params: dict, state: dict, x: Any) -> tuple[Any, dict]:
        for i, (_, _, do_pool) in enumerate(VGG_CONVS):
            p = params[str(i)]
            x = jax.nn.relu(conv(x, p["weight"]) + p["bias"][None, :, None, None])
            x = pool(x) if do_pool else x
        x = jax.nn.relu(dense(params["4"], x.reshape(x.shape[0], -1)))
        return dense(params["5"], x), state

    def resnet(params: dict, state: dict, x: Any) -> tuple[Any, dict]:
        new: dict = {}

        def conv_bn(i: int, x: Any, stride: int = 1) -> Any:
            y, new[str(i)] = _bn(conv(x, params[str(i)]["weight"], stride), params[str(i)], state[str(i)])
            return y

        x, i = jax.nn.relu(conv_bn(0, x)), 1
        for cin, cout, s in STAGES:
            for b in range(3):
                stride = s if b == 0 else 1
                h = conv_bn(i + 1, jax.nn.relu(conv_bn(i, x, stride)))
                # the projection shortcut is numbered after the stage's six convolutions
                short = conv_bn(i + 6, x, stride) if cin != cout and b == 0 else x
                x, i = jax.nn.relu(h + short), i + 2
            i += cin != cout
        return dense(params[str(i)], jnp.mean(x, axis=(2, 3))), new

    return vgg if model == "vgg" else resnet


def raw_cnn_step(model: str, conv: Callable = _lax_conv, pool: Callable = _lax_pool) -> Callable:
    forward = raw_cnn_forward(model, conv, pool)

    def step(params: dict, state: dict, x: Any, y: Any) -> tuple:
        def loss_fn(p: dict) -> tuple:
            logits, new = forward(p, state, x)
            return _xent(logits, y), new

        (loss, new), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        return jax.tree.map(lambda p, g: p - LR * g, params, grads), new, loss

    return jax.jit(step, donate_argnums=(0, 1))


def raw_cnn_row(model: str, x: Any, y: Any, kernels: bool = False) -> Row:
    """Raw JAX on ``lax.conv_general_dilated`` (or, ``kernels=True``, on ``fnn.kernels.conv2d``: fnn's dispatch)."""
    conv, pool = _lax_conv, _lax_pool
    if kernels:
        from fnn import kernels as ck

        conv = lambda x, w, stride=1: ck.conv2d(x, w, stride, w.shape[-1] // 2)
        pool = lambda x: ck.reduce_max(x, (1, 1, 2, 2), (1, 1, 2, 2), [(0, 0)] * 4)
    name = "raw JAX + fnn kernels" if kernels else "raw JAX"
    return jax_row(name, raw_cnn_step(model, conv, pool), raw_cnn_params(model), x, y)


def fnn_cnn_row(model: str, x: Any, y: Any, xla: bool = False) -> Row:
    """fnn's ``make_train_step``; ``xla=True`` traces it inside ``fnn.kernels.implementation("xla")``."""
    from bench.models_jax import xla_convolutions

    step, state = fnn_cnn_step(model)
    key = jax.random.key(1)
    x, y = jnp.asarray(x), jnp.asarray(y)
    box = {"state": state, "loss": None}

    def run() -> None:
        *box["state"], box["loss"] = step(*box["state"], x, y, key)

    def memory() -> int | None:
        return xla_memory(step.lower(*box["state"], x, y, key).compile())

    name = "fnn, XLA conv" if xla else "fnn"
    if not xla:
        return Row(name, run, lambda: jax.block_until_ready(box["loss"]), memory, "XLA buffer assignment")
    with xla_convolutions():  # the first call traces inside the block; later calls reuse the executable
        t = time.perf_counter()
        run()
        jax.block_until_ready(box["loss"])
        compile_s = time.perf_counter() - t
    return Row(name, run, lambda: jax.block_until_ready(box["loss"]), None, "not measured", compile_s)
