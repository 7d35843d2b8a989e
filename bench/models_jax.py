"""The JAX rows without extra dependencies: fnn, hand-written raw JAX, and ``jax.example_libraries.stax``.

Every JAX row jits one train step ``(params, opt_state, x, y) -> (params, opt_state, loss)``
with the params and optimizer state donated (updated in place), and takes plain SGD
(learning rate ``LR``) after a mean cross-entropy loss.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from bench.common import LR, Row, init_shape, xla_memory


def jax_row(name: str, step: Callable, state: tuple, x: Any, y: Any, note: str = "") -> Row:
    """A Row over a jitted ``step(*state, x, y) -> (*state, loss)``; ``state`` is updated each call."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    box = {"state": state, "loss": None}

    def run() -> None:
        *box["state"], box["loss"] = step(*box["state"], x, y)

    memory = lambda: xla_memory(step.lower(*box["state"], x, y).compile())
    return Row(name, run, lambda: jax.block_until_ready(box["loss"]), memory, note or "XLA buffer assignment")


def _uniform(key: Any, shape: tuple[int, ...], fan_in: int) -> Any:
    b = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, jnp.float32, -b, b)


def _xent(logits: Any, y: Any) -> Any:
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


# --------------------------------------------------------------------------- raw JAX


def raw_params(model: str, seed: int = 0) -> list[dict]:
    """torch-layout params: one dict per layer, ``weight`` (out, in[, kh, kw]) and ``bias``."""
    if model == "mlp":
        shapes = [((512, 784), 784), ((512, 512), 512), ((10, 512), 512)]
    else:
        shapes = [((6, 1, 5, 5), 25), ((16, 6, 5, 5), 150), ((120, 400), 400), ((84, 120), 120), ((10, 84), 84)]
    keys = jax.random.split(jax.random.key(seed), 2 * len(shapes))
    return [
        {"weight": _uniform(keys[2 * i], s, f), "bias": _uniform(keys[2 * i + 1], (s[0],), f)}
        for i, (s, f) in enumerate(shapes)
    ]


def _lax_conv(x: Any, w: Any) -> Any:
    return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))


def _lax_pool(x: Any) -> Any:
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def raw_forward(model: str, conv: Callable = _lax_conv, pool: Callable = _lax_pool) -> Callable:
    """``forward(params, x) -> logits`` in jax.numpy; LeNet-5 is the PyTorch tutorial's net (NCHW)."""
    dense = lambda p, h: h @ p["weight"].T + p["bias"]

    def mlp(params: list, x: Any) -> Any:
        h = jax.nn.relu(dense(params[0], x))
        h = jax.nn.relu(dense(params[1], h))
        return dense(params[2], h)

    def lenet(params: list, x: Any) -> Any:
        for p in params[:2]:
            x = pool(jax.nn.relu(conv(x, p["weight"]) + p["bias"][None, :, None, None]))
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(dense(params[2], x))
        x = jax.nn.relu(dense(params[3], x))
        return dense(params[4], x)

    return mlp if model == "mlp" else lenet


def raw_step(model: str, conv: Callable = _lax_conv, pool: Callable = _lax_pool) -> Callable:
    """The no-framework baseline: jax.numpy forward, ``jax.grad``, hand-written SGD."""
    forward = raw_forward(model, conv, pool)

    def step(params: list, x: Any, y: Any) -> tuple:
        loss, grads = jax.value_and_grad(lambda p: _xent(forward(p, x), y))(params)
        return jax.tree.map(lambda p, g: p - LR * g, params, grads), loss

    return jax.jit(step, donate_argnums=(0,))


def raw_row(model: str, x: Any, y: Any) -> Row:
    return jax_row("raw JAX", raw_step(model), (raw_params(model),), x, y)


def raw_kernels_row(model: str, x: Any, y: Any) -> Row:
    """Raw JAX with fnn's CPU kernels for the convolutions and the pooling (LeNet only)."""
    from fnn import kernels as ck

    window = (1, 1, 2, 2)
    step = raw_step(model, conv=lambda x, w: ck.conv2d(x, w),
                    pool=lambda x: ck.reduce_max(x, window, window, [(0, 0)] * 4))
    return jax_row("raw JAX + fnn kernels", step, (raw_params(model),), x, y)


# --------------------------------------------------------------------------- stax


def stax_row(model: str, x: Any, y: Any) -> Row:
    """``jax.example_libraries.stax`` with its own ``optimizers.sgd``; LeNet in stax's default NHWC."""
    from jax.example_libraries import optimizers, stax

    if model == "mlp":
        init, apply = stax.serial(stax.Dense(512), stax.Relu, stax.Dense(512), stax.Relu, stax.Dense(10))
        in_shape = (-1, 784)
    else:
        init, apply = stax.serial(
            stax.Conv(6, (5, 5)), stax.Relu, stax.MaxPool((2, 2), (2, 2)),
            stax.Conv(16, (5, 5)), stax.Relu, stax.MaxPool((2, 2), (2, 2)), stax.Flatten,
            stax.Dense(120), stax.Relu, stax.Dense(84), stax.Relu, stax.Dense(10),
        )  # fmt: skip
        in_shape = (-1, 32, 32, 1)
    _, params = init(jax.random.key(0), in_shape)
    opt_init, opt_update, get_params = optimizers.sgd(LR)

    def step(opt_state: Any, i: Any, x: Any, y: Any) -> tuple:
        loss, grads = jax.value_and_grad(lambda p: _xent(apply(p, x), y))(get_params(opt_state))
        return opt_update(i, grads, opt_state), i + 1, loss

    return jax_row("stax", jax.jit(step, donate_argnums=(0,)), (opt_init(params), jnp.int32(0)), x, y,
                   note="XLA buffer assignment; NHWC")


# --------------------------------------------------------------------------- fnn


def fnn_model(model: str) -> Any:
    """The model in fnn: torch7 layer names, torch layouts (NCHW, weight (out, in, kh, kw))."""
    import fnn

    if model == "lstm":
        from bench.models_lstm import fnn_lstm

        return fnn_lstm()
    if model == "mlp":
        return fnn.Sequential(fnn.Linear(784, 512), fnn.ReLU(), fnn.Linear(512, 512), fnn.ReLU(), fnn.Linear(512, 10))
    return fnn.Sequential(
        fnn.SpatialConvolution(1, 6, 5, 5), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2),
        fnn.SpatialConvolution(6, 16, 5, 5), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2),
        fnn.View(400), fnn.Linear(400, 120), fnn.ReLU(), fnn.Linear(120, 84), fnn.ReLU(), fnn.Linear(84, 10),
    )  # fmt: skip


def fnn_step(model: str) -> tuple[Callable, tuple]:
    """``fnn.make_train_step`` (optax SGD, a PRNG key per call) and its initial ``(params, state, opt_state)``."""
    import optax

    import fnn

    net = fnn_model(model)
    _, params, state = net.stateful.init(jax.random.key(0), init_shape(model))
    opt = optax.sgd(LR)
    return fnn.make_train_step(net, fnn.CrossEntropyCriterion(), opt), (params, state, opt.init(params))


def fnn_row(model: str, x: Any, y: Any, name: str = "fnn") -> Row:
    step, state = fnn_step(model)
    key = jax.random.key(1)
    x, y = jnp.asarray(x), jnp.asarray(y)
    box = {"state": state, "loss": None}

    def run() -> None:
        *box["state"], box["loss"] = step(*box["state"], x, y, key)

    memory = lambda: xla_memory(step.lower(*box["state"], x, y, key).compile())
    return Row(name, run, lambda: jax.block_until_ready(box["loss"]), memory, "XLA buffer assignment")


# --------------------------------------------------------------------------- fnn before its CPU kernels


@contextlib.contextmanager
def xla_convolutions() -> Iterator[None]:
    """Traces fnn's convolution and max-pooling layers on XLA's own ``conv_general_dilated`` and
    ``reduce_window`` inside the block (``fnn.kernels.implementation("xla")``)."""
    from fnn import kernels

    with kernels.implementation("xla"):
        yield


def fnn_xla_row(model: str, x: Any, y: Any, memory: bool = True) -> Row:
    """fnn as it was before :mod:`fnn.kernels`: XLA's convolution and pooling (LeNet only)."""
    with xla_convolutions():
        row = fnn_row(model, x, y, name="fnn, XLA conv")
        t = time.perf_counter()
        row.step()  # traces and compiles inside the block; later calls reuse the executable
        row.sync()
        row.compile_s = time.perf_counter() - t
        if memory:
            row.memory = row.memory_fn()
        row.memory_fn = None
    return row
