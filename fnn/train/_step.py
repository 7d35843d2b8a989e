"""The train step: :func:`make_train_step`, and the trainer's epoch kernel built from the same pieces.

Both share :func:`loss_and_grads` (the loss and its gradient in train mode) and :func:`update`
(the optimizer's update, applied). :func:`epoch_kernel` adds what :func:`fnn.train.fit` needs
around them: the batch gathered on the device, a fresh key per step, running sums, padding
masks and the non-finite guard.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnn.core import Module, jit_once, jit_step
from fnn.train._eval import Metrics, masked_mean, take
from fnn.train._sharding import check_mesh, constrain, step_shardings

Criterion = Callable[[Any, Any], jax.Array]


def loss_and_grads(model: Module, criterion: Criterion, params, state, x, y, rng, mask=None):
    """``((loss, (output, new_state)), grads)`` of one batch in train mode (``mask``: real examples)."""
    apply = model.stateful.apply

    def loss_fn(p):
        out, new_state = apply(p, state, x, rng=rng, train=True)
        loss = criterion(out, y) if mask is None else masked_mean(criterion, out, y, mask)
        return loss, (out, new_state)

    return jax.value_and_grad(loss_fn, has_aux=True)(params)


def init_optimizer(optimizer: optax.GradientTransformation, params):
    """``optimizer.init(params)``, in standard dtype promotion (schedules mix Python floats and int counts).

    One compiled program per optimizer (:func:`fnn.core.jit_once`): run eagerly, an init builds
    its zeros and counts one small program per shape and dtype (``python -m bench.fit_start``:
    LeNet-5's Adam in a fresh process, 0.52 s eagerly against 0.09 s as one program). An init
    that needs concrete values (it reads the params) runs eagerly.
    """
    try:
        compiled = _compiled_init(optimizer)
    except TypeError:  # an unhashable optimizer: not cached
        return _init(optimizer, params)
    try:
        return compiled(params)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
            jax.errors.TracerIntegerConversionError):  # (TracerBoolConversionError is a ConcretizationTypeError)
        return _init(optimizer, params)


def _init(optimizer: optax.GradientTransformation, params):
    with jax.numpy_dtype_promotion("standard"):
        return optimizer.init(params)


@functools.lru_cache(maxsize=32)
def _compiled_init(optimizer: optax.GradientTransformation) -> Callable:
    return jit_once(functools.partial(_init, optimizer))


def update(optimizer: optax.GradientTransformation, grads, opt_state, params, loss=None):
    """``(new_params, new_opt_state)``: one optimizer update, applied.

    The batch's ``loss`` goes to optimizers that take it as ``value=`` (optax's
    ``reduce_on_plateau``, line searches); the others ignore it (``with_extra_args_support``).
    """
    # optax is not written for jax_numpy_dtype_promotion="strict"; its update runs in standard mode.
    with jax.numpy_dtype_promotion("standard"):
        if loss is None:
            updates, opt_state = optimizer.update(grads, opt_state, params)
        else:
            updates, opt_state = optax.with_extra_args_support(optimizer).update(grads, opt_state, params, value=loss)
        return optax.apply_updates(params, updates), opt_state


def make_train_step(
    model: Module, criterion: Criterion, optimizer: optax.GradientTransformation, *, donate: bool = True,
    mesh: jax.sharding.Mesh | None = None, data_axis: str = "data",
) -> Callable:
    """The jitted train step of the ten-line loop (see :mod:`fnn.train`).

    Args:
      model: the model (its stateful form is used, so models with state work as they are).
      criterion: ``criterion(output, target) -> scalar``.
      optimizer: an optax optimizer.
      donate: donate params, state and optimizer state to the step (updated in place).
      mesh: data parallelism on this :class:`jax.sharding.Mesh`: the step takes params, state,
        optimizer state and key replicated, ``x`` and ``y`` sharded over ``data_axis`` (their
        leading dimension must divide by its devices), and returns everything replicated.
        Uncommitted arrays are placed on the call; place committed ones with
        :func:`fnn.replicate` and :func:`fnn.shard_batch`.
      data_axis: the mesh axis the batch is split over.

    Returns:
      ``step(params, state, opt_state, x, y, rng) -> (params, state, opt_state, loss)``, one
      gradient step on the batch ``(x, y)`` in train mode with the key ``rng``. ``state`` is
      the model state (``model.stateful``; ``()`` leaves for a model without state). With
      ``donate=True`` the first three arguments are donated: do not reuse them after the call.
      The step is jitted by :func:`fnn.core.jit_step`: on CPU its convolutions compile to XLA's
      multi-threaded Eigen kernels; ``step.lower(...)`` lowers what a call runs.

    >>> import jax, jax.numpy as jnp, optax, fnn
    >>> model = fnn.Linear(3, 1)
    >>> _, params, state = model.stateful.init(jax.random.key(0), (-1, 3))
    >>> opt = optax.sgd(0.1)
    >>> step = fnn.make_train_step(model, lambda out, y: jnp.mean((out - y) ** 2), opt)
    >>> x, y = jnp.ones((4, 3)), jnp.zeros((4, 1))
    >>> params, state, opt_state, loss = step(params, state, opt.init(params), x, y, jax.random.key(1))
    >>> loss.shape, loss.dtype
    ((), dtype('float32'))
    """

    def step(params, state, opt_state, x, y, rng):
        (loss, (_, new_state)), grads = loss_and_grads(model, criterion, params, state, x, y, rng)
        params, opt_state = update(optimizer, grads, opt_state, params, loss)
        return params, new_state, opt_state, loss

    donate_argnums = (0, 1, 2) if donate else ()
    if mesh is None:
        return jit_step(step, donate_argnums=donate_argnums)
    check_mesh("make_train_step", mesh, data_axis)
    rep, batch = step_shardings(mesh, data_axis)
    return jit_step(step, donate_argnums=donate_argnums, in_shardings=(rep, rep, rep, batch, batch, rep),
                    out_shardings=rep)


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = True) -> int:
    """The number of steps in one epoch of ``n`` examples.

    >>> from fnn.train import steps_per_epoch
    >>> steps_per_epoch(10, 4), steps_per_epoch(10, 4, drop_last=False)
    (2, 3)
    """
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def _accumulate(run: dict, metrics: Metrics, ok, step, loss, gnorm, out, y, mask, weight) -> dict:
    """The running sums after one step: a step that is not ``ok`` adds nothing and, if it is the
    first such step, is recorded in ``bad_*``."""
    f = run["loss"].dtype
    new_run = dict(run)
    new_run["loss"] = run["loss"] + jnp.where(ok, loss.astype(f) * weight, 0.0)
    new_run["count"] = run["count"] + jnp.where(ok, weight, 0.0)
    for name, fn in metrics:
        value = fn(out, y) if mask is None else masked_mean(fn, out, y, mask)
        new_run[name] = run[name] + jnp.where(ok, value.astype(f) * weight, 0.0)
    first_bad = (~ok) & (run["bad_step"] < 0)
    new_run["bad_step"] = jnp.where(first_bad, step, run["bad_step"])
    new_run["bad_loss"] = jnp.where(first_bad, loss.astype(f), run["bad_loss"])
    new_run["bad_grad_norm"] = jnp.where(first_bad, gnorm.astype(f), run["bad_grad_norm"])
    return new_run


@functools.lru_cache(maxsize=32)
def epoch_kernel(model, criterion, optimizer, metrics: Metrics, batch_size: int, n: int, pad: bool, impl: str,
                 guard: bool = True, mesh: jax.sharding.Mesh | None = None, axis: str = "data"):
    """The trainer's step on batch ``i`` of the permutation ``perm``, which prefetches batch ``i + 1``.

    Returns ``(gather, step, traces)``: ``gather(x_all, y_all, perm, i) -> batch`` (jitted) and
    ``step(carry, batch, x_all, y_all, perm, i) -> (carry, next batch)`` (jitted, donating the
    carry ``(params, state, opt_state, rng, step, running)``); ``traces[0]`` counts Python traces
    of ``step``. A step whose loss or gradient is not finite changes nothing but
    ``running['bad_*']``; every later step is skipped too. With ``guard=False`` such steps
    still update params, state and optimizer state (one select per array less).

    Why the prefetch: the step must read its batch from memory. Gathered inside the step, XLA
    fuses the gather into the batch's first consumers and repeats it there (5 times for a
    5-row convolution); gathered by a jitted call of its own, each step pays a second dispatch.
    The batch the step gathers for its successor is an output: materialised, and one dispatch
    per step. The measured costs of each choice are in ``bench/HISTORY.md`` (round 1, "One epoch").

    With a ``mesh``, each batch is sharded over ``axis`` and the carry stays replicated (see
    :mod:`fnn.train._sharding`): XLA partitions the one step over the devices.
    """
    rep, bsh = step_shardings(mesh, axis)
    last_batch = steps_per_epoch(n, batch_size, drop_last=not pad) - 1
    traces = [0]

    @functools.partial(jax.jit, **({} if mesh is None else {"out_shardings": bsh}))  # the kernel's layout
    def gather(x_all, y_all, perm, i):
        pos = i * batch_size + jnp.arange(batch_size)
        idx = take(perm, pos % n)  # padding slots re-use real examples (sane BatchNorm statistics)
        return constrain((take(x_all, idx), take(y_all, idx)), bsh)

    def kernel(carry, batch, x_all, y_all, perm, i):
        traces[0] += 1
        x, y = batch
        params, state, opt_state, rng, step, run = carry
        mask = constrain(i * batch_size + jnp.arange(batch_size) < n, bsh) if pad else None
        key = jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(rng, impl=impl), 0), step)
        (loss, (out, new_state)), grads = loss_and_grads(model, criterion, params, state, x, y, key, mask)
        new_params, new_opt = update(optimizer, grads, opt_state, params, loss)
        gnorm = optax.tree.norm(grads)
        ok = jnp.isfinite(loss) & jnp.isfinite(gnorm) & (run["bad_step"] < 0)
        keep = (lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)) if guard else (
            lambda new, old: new)
        weight = jnp.sum(mask).astype(run["loss"].dtype) if pad else jnp.asarray(batch_size, run["loss"].dtype)
        new_run = _accumulate(run, metrics, ok, step, loss, gnorm, out, y, mask, weight)
        new_carry = (keep(new_params, params), keep(new_state, state), keep(new_opt, opt_state), rng,
                     step + ok.astype(jnp.int32), new_run)
        return new_carry, gather(x_all, y_all, perm, jnp.minimum(i + 1, last_batch))  # the last step's is unused

    shardings = {} if mesh is None else {"out_shardings": (rep, bsh)}  # one layout: one compile
    return gather, jit_step(kernel, donate_argnums=(0,), **shardings), traces  # a donated batch costs two copies


@functools.lru_cache(maxsize=8)
def permutation(n: int, impl: str) -> Callable:
    """``perm(rng, epoch) = jax.random.permutation(fold_in(fold_in(key, 1), epoch), n)``, an epoch's shuffle.

    ``jax.random.permutation`` draws 32-bit sort keys on the device and sorts by them, one or more
    rounds. XLA:CPU sorts key-value pairs with a generic comparator: 24 ms for 60 000 examples, 1 %
    of an MNIST MLP epoch. Where the key lives on the CPU, the keys are drawn the same way and
    sorted by numpy (about 3 ms in all): the same permutation, bit for bit (see :func:`_sort_rounds`).
    On an accelerator the permutation stays on the device.
    """
    rounds = int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))  # as jax.random's _shuffle

    def epoch_key(rng, epoch):
        return jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(rng, impl=impl), 1), epoch)

    def sort_keys(rng, epoch):  # the keys of each round of jax.random.permutation (its _shuffle)
        key, out = epoch_key(rng, epoch), []
        for _ in range(rounds):
            key, sub = jax.random.split(key)
            out.append(jax.random.bits(sub, (n,), jnp.uint32))
        return jnp.stack(out) if out else jnp.zeros((0, n), jnp.uint32)

    # Compiled at LLVM level 1 (jit_once): they run once an epoch, and the keys' threefry hash for
    # 60,000 examples compiles in 0.17-0.20 s instead of 0.25-0.34 s (JAX_LOG_COMPILES=1).
    on_device = jit_once(lambda rng, epoch: jax.random.permutation(epoch_key(rng, epoch), n))
    keys = jit_once(sort_keys)

    def perm(rng, epoch):
        devices = rng.devices() if isinstance(rng, jax.Array) else jax.devices()[:1]  # where a jit puts it
        if n >= 2**32 or any(d.platform != "cpu" for d in devices):
            return on_device(rng, epoch)
        dtype = jnp.arange(0).dtype  # int32, or int64 under jax_enable_x64: jax.random.permutation's
        return jnp.asarray(_sort_rounds(np.asarray(keys(rng, epoch)), n).astype(dtype))

    return perm


def _sort_rounds(keys: np.ndarray, n: int) -> np.ndarray:
    """``arange(n)`` stably sorted by ``keys[0]``, the result stably sorted by ``keys[1]``, ...:
    ``lax.sort_key_val`` (stable) of each round."""
    x = np.arange(n, dtype=np.int64)
    for k in keys:
        x = x[_stable_argsort_u32(k)]
    return x


def _stable_argsort_u32(k: np.ndarray) -> np.ndarray:
    """``np.argsort(k, kind="stable")`` for 32-bit keys, as two stable passes over 16-bit halves.

    numpy sorts 16-bit integers stably by a linear radix sort, wider ones by timsort: two radix
    passes take 0.8 ms for 60 000 keys, against 3.9 ms (timsort) or 2.4 ms (one ``np.sort`` of
    ``key << 32 | position``).
    """
    k = k.astype(np.uint32, copy=False)
    low = np.argsort((k & 0xFFFF).astype(np.uint16), kind="stable")
    return low[np.argsort((k[low] >> 16).astype(np.uint16), kind="stable")]


__all__ = ["make_train_step", "steps_per_epoch"]
