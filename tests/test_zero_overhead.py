"""fnn adds nothing to the compiled train step: its optimized HLO equals hand-written JAX's.

Containers, the stateful form underneath the plain pair, the per-child PRNG keys
(``fold_in``, derived only when a key is given), the shape checks and the torch
parameter layout are all trace-time Python: after XLA's optimizations the train step
that :func:`fnn.make_train_step` compiles must be the program a user would write by
hand in ``jax.numpy`` with the same mathematics. Each test builds both steps for the
benchmark models (``bench/``: MLP 784-512-512-10, the PyTorch tutorial's LeNet-5 and the
VGG-style CIFAR net, batch 128, cross-entropy, optax SGD) and compares the optimized HLO
instruction by instruction kind. No timing here: see ``bench/README.md`` for the measured figures.

"The same mathematics" means the reference computes what fnn's layers compute, with the
same primitives: ReLU as ``where(x > 0, x, 0)`` (torch7's gradient 0 at 0),
torch7's cross-entropy (with ``ignore_index``), and the convolution and max-pooling
primitive that fnn's spatial layers call (:mod:`fnn.kernels` by default, ``lax`` inside
``with kernels.implementation("xla")``: both are checked).
"""

from __future__ import annotations

import collections
import re

import jax
import jax.numpy as jnp
import optax
import pytest
from jax import lax

import fnn
from fnn import kernels

BATCH = 128
LR = 0.01


def mlp() -> fnn.Module:
    return fnn.Sequential(fnn.Linear(784, 512), fnn.ReLU(), fnn.Linear(512, 512), fnn.ReLU(), fnn.Linear(512, 10))


def lenet() -> fnn.Module:
    return fnn.Sequential(
        fnn.SpatialConvolution(1, 6, 5, 5), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2),
        fnn.SpatialConvolution(6, 16, 5, 5), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2),
        fnn.View(400), fnn.Linear(400, 120), fnn.ReLU(), fnn.Linear(120, 84), fnn.ReLU(), fnn.Linear(84, 10),
    )  # fmt: skip


def vgg() -> fnn.Module:
    """``bench.models_cnn``'s VGG-style net: 3x3 convolutions 32-64-128-128 on oneDNN, three poolings."""
    layers: list = []
    for cin, cout, do_pool in VGG_CONVS:
        layers += [fnn.Conv2d(cin, cout, 3, padding=1), fnn.ReLU()] + ([fnn.MaxPool2d(2)] if do_pool else [])
    return fnn.Sequential(*layers, fnn.View(2048), fnn.Linear(2048, 256), fnn.ReLU(), fnn.Linear(256, 10))


VGG_CONVS = ((3, 32, True), (32, 64, True), (64, 128, False), (128, 128, True))  # (c_in, c_out, pool after)
MODELS = {"mlp": (mlp, (784,)), "lenet": (lenet, (1, 32, 32)), "vgg": (vgg, (3, 32, 32))}


# --------------------------------------------------------------------------- the hand-written reference


def conv(x: jax.Array, w: jax.Array, pad: int = 0) -> jax.Array:
    """What ``SpatialConvolution(c, o, k, k, 1, 1, pad, pad)`` calls: :mod:`fnn.kernels`, or XLA's
    own convolution when traced inside ``kernels.implementation("xla")``."""
    pads = [(pad, pad), (pad, pad)]
    if kernels.current_implementation() == "xla":
        return lax.conv_general_dilated(x, w, (1, 1), pads, rhs_dilation=(1, 1),
                                        dimension_numbers=("NCHW", "OIHW", "NCHW"), feature_group_count=1)
    return kernels.conv2d(x, w, (1, 1), pads, (1, 1), 1)


def pool(x: jax.Array) -> jax.Array:
    """What ``SpatialMaxPooling(2, 2)`` calls."""
    window, pads = (1, 1, 2, 2), [(0, 0)] * 4
    if kernels.current_implementation() == "xla":
        return lax.reduce_window(x, -jnp.inf, lax.max, window, window, pads)
    return kernels.reduce_max(x, window, window, pads)


def relu(x: jax.Array) -> jax.Array:
    return jnp.where(x > 0, x, 0.0)


def dense(p: dict, x: jax.Array) -> jax.Array:
    return jnp.matmul(x, p["weight"].T) + jnp.reshape(p["bias"], (1, -1))


def reference_forward(name: str, params: list[dict], x: jax.Array) -> jax.Array:
    if name == "mlp":
        return dense(params[2], relu(dense(params[1], relu(dense(params[0], x)))))
    if name == "vgg":
        for p, (_, _, do_pool) in zip(params[:4], VGG_CONVS, strict=True):
            x = relu(conv(x, p["weight"], pad=1) + jnp.reshape(p["bias"], (1, -1, 1, 1)))
            x = pool(x) if do_pool else x
        return dense(params[5], relu(dense(params[4], jnp.reshape(x, (x.shape[0], 2048)))))
    for p in params[:2]:
        x = pool(relu(conv(x, p["weight"]) + jnp.reshape(p["bias"], (1, -1, 1, 1))))
    x = jnp.reshape(x, (x.shape[0], 400))
    return dense(params[4], relu(dense(params[3], relu(dense(params[2], x)))))


def reference_step(name: str, criterion: fnn.Criterion, opt: optax.GradientTransformation):
    def step(params, state, opt_state, x, y, rng):
        loss, grads = jax.value_and_grad(lambda p: criterion(reference_forward(name, p, x), y))(params)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = opt.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), state, opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1, 2))


# --------------------------------------------------------------------------- comparing programs

_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%\S+ = .*? ([a-z][\w-]*)\(", re.M)


def op_counts(hlo: str) -> collections.Counter:
    """Instruction kinds (``fusion``, ``dot``, ``add``, ...) over every computation of an HLO module."""
    return collections.Counter(_INSTRUCTION.findall(hlo))


def entry_kinds(hlo: str) -> collections.Counter:
    """The top-level program: one entry per kernel launch (fusion kinds, dots, copies, custom calls)."""
    entry = hlo[hlo.index("\nENTRY"):]
    body = entry[: entry.index("\n}")]
    kinds = collections.Counter()
    for line in body.splitlines()[1:]:
        m = re.match(r"\s*(?:ROOT )?%\S+ = .*? ([a-z][\w-]*)\(", line)
        if m and m.group(1) not in ("parameter", "constant", "tuple", "get-tuple-element", "bitcast"):
            kind = re.search(r"kind=(\w+)", line) if m.group(1) == "fusion" else None
            kinds[m.group(1) + (f":{kind.group(1)}" if kind else "")] += 1
    return kinds


def compiled_pair(name: str) -> tuple[str, str]:
    """Optimized HLO of fnn's train step and of the hand-written one, on the same params."""
    make, in_shape = MODELS[name]
    model = make()
    _, params, state = model.stateful.init(jax.random.key(0), (-1, *in_shape), jnp.float32)
    opt, criterion = optax.sgd(LR), fnn.CrossEntropyCriterion()
    x = jnp.zeros((BATCH, *in_shape), jnp.float32)
    y = jnp.zeros((BATCH,), jnp.int32)
    key = jax.random.key(1)
    fnn_step = fnn.make_train_step(model, criterion, opt)
    ours = fnn_step.lower(params, state, opt.init(params), x, y, key).compile().as_text()
    flat = [p for p in params if p != ()]  # the same arrays, without the layers that hold none
    with jax.numpy_dtype_promotion("standard"):
        opt_state = opt.init(flat)
    # fnn's step compiles with fnn.core.jit_step's XLA options (on CPU: convolutions on Eigen); the
    # hand-written one gets the same options, so that the two programs compare kernel for kernel.
    options = fnn.core.cpu_compiler_options(fnn.core.STEP_COMPILER_OPTIONS)
    theirs = reference_step(name, criterion, opt).lower(flat, (), opt_state, x, y, key).compile(options).as_text()
    return ours, theirs


@pytest.fixture(scope="module", params=["mlp", "lenet", "lenet-xla-conv", "vgg"])
def programs(request) -> tuple[str, str]:
    name = request.param.removesuffix("-xla-conv")
    with kernels.implementation("xla" if request.param.endswith("-xla-conv") else "auto"):
        return compiled_pair(name)


# --------------------------------------------------------------------------- the specification


def test_same_kernels_as_hand_written_jax(programs):
    """The same kernel launches, kind by kind: no extra fusion, copy, transpose or custom call."""
    ours, theirs = programs
    assert entry_kinds(ours) == entry_kinds(theirs)


def test_same_instructions_as_hand_written_jax(programs):
    """Instruction for instruction, inside every fusion too."""
    ours, theirs = programs
    assert op_counts(ours) == op_counts(theirs)


def test_unused_keys_are_not_computed(programs):
    """Containers derive a key per child with ``fold_in``; no layer of these models uses one, so
    no random-bit generation survives compilation."""
    ours, _ = programs
    assert "rng-bit-generator" not in ours and "threefry" not in ours.lower()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_reference_is_faithful(name):
    """Both steps compute the same loss and the same update (so the comparison above compares
    the same mathematics)."""
    make, in_shape = MODELS[name]
    model = make()
    _, params, state = model.stateful.init(jax.random.key(0), (-1, *in_shape), jnp.float32)
    opt, criterion = optax.sgd(LR), fnn.CrossEntropyCriterion()
    x = jax.random.normal(jax.random.key(2), (8, *in_shape), jnp.float32)
    y = jnp.arange(8, dtype=jnp.int32) % 10
    flat = [p for p in params if p != ()]
    with jax.numpy_dtype_promotion("standard"):
        opt_state = opt.init(flat)
    reference = reference_step(name, criterion, opt)
    new_ref, _, _, loss_ref = reference(jax.tree.map(jnp.copy, flat), (), opt_state, x, y, None)
    new, _, _, loss = fnn.make_train_step(model, criterion, opt)(params, state, opt.init(params), x, y,
                                                                 jax.random.key(1))
    assert jnp.allclose(loss, loss_ref, rtol=1e-6)
    for a, b in zip([p for p in new if p != ()], new_ref, strict=True):
        assert jnp.allclose(a["weight"], b["weight"], rtol=1e-6, atol=1e-7)
        assert jnp.allclose(a["bias"], b["bias"], rtol=1e-6, atol=1e-7)
