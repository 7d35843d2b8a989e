"""Training: torch7's ``StochasticGradient``, the JAX way.

The loop that :func:`fit` wraps is ten lines of plain JAX and optax::

    init, apply = model.stateful
    _, params, state = init(init_key, (-1, 1, 32, 32))
    opt_state = optimizer.init(params)

    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
    def step(params, state, opt_state, x, y, rng):
        def loss_fn(p):
            out, new_state = apply(p, state, x, rng=rng, train=True)
            return criterion(out, y), new_state
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    for epoch in range(epochs):     # s counts steps; key is the training key
        perm = jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 1), epoch), n)
        for i in range(n // batch_size):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            params, state, opt_state, loss = step(params, state, opt_state, xs[idx], ys[idx],
                                                  jax.random.fold_in(jax.random.fold_in(key, 0), s))

:func:`make_train_step` returns exactly that ``step``, and ``fit(..., rng=rng)`` with
``init_key, key = jax.random.split(rng)`` computes the same params. It adds what a long run
needs, without giving up the single compile:

* The data stays on the device. Each epoch draws a new permutation on the device; each
  step gathers the next step's batch on the device (an output, so the step reads a
  materialised batch with one dispatch), so no batch crosses the host.
* One compile for training and one for evaluation (and tiny ones for the shuffle and an epoch's first batch), whatever
  the data size and the number of epochs or calls (compiled steps are cached). The last
  partial batch is dropped (``drop_last=True``, the default) or padded with real examples
  and masked out of the loss (``drop_last=False``); either way every step has one shape.
* ``train=True`` and a fresh key per step (``fold_in``); evaluation runs in eval mode.
* The train step donates params, state and optimizer state (``donate_argnums``): the
  update happens in place.
* A non-finite loss or gradient stops training with :class:`~fnn.errors.NonFiniteError`,
  without a host sync per step (see :func:`fit`).
* Per-epoch loss and metrics are returned as data (``TrainState.history``), a tqdm bar shows
  the running loss, optax schedules work (their step count lives in the optimizer state),
  and everything needed to resume bit-identically is a pytree of arrays (:class:`TrainState`).

Deviations from torch7's ``StochasticGradient``: mini-batches (``batch_size=1`` is torch7's
per-example SGD), any optax optimizer, and a new permutation every epoch (torch7 drew one
permutation and reused it; :class:`StochasticGradient` keeps torch7's behaviour).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnn.core import Module
from fnn.core._args import ints
from fnn.data import Dataset, as_dataset
from fnn.errors import ConfigError, NonFiniteError
from fnn.train._eval import (
    Metrics,
    float_dtype,
    make_eval_step,
    masked_mean,
    resolve_metrics,
    run_evaluation,
    take,
)

PyTree = Any
Criterion = Callable[[Any, Any], jax.Array]


# --------------------------------------------------------------------------- the state


@dataclasses.dataclass(frozen=True)
class TrainState:
    """Everything a run needs to continue, as a pytree of arrays.

    Checkpoint it with any pytree-of-arrays writer and pass it back to :func:`fit` as
    ``resume=``: training then continues bit-identically (the shuffle of every epoch and the
    key of every step are derived from ``rng``, ``epoch`` and ``step``).

    Attributes:
      params: the model params.
      state: the model state (``()`` leaves for a model without state).
      opt_state: the optimizer state (optax schedules keep their step count here).
      rng: the raw key data (``jax.random.key_data``, uint32) of the training key.
      step: int32 scalar, steps taken so far.
      epoch: int32 scalar, epochs completed so far.
      running: the current epoch's running sums (``loss``, ``count``, one per metric) and the
        first non-finite step (``bad_step``, -1 if none); zero between epochs.
      history: one array per quantity, one entry per completed epoch: ``loss`` and the training
        metrics (running means over the epoch, train mode), ``eval_loss`` and ``eval_<metric>``
        when there is eval data.
      rng_impl: the PRNG implementation of ``rng`` (static, not a leaf).
    """

    params: PyTree
    state: PyTree
    opt_state: PyTree
    rng: jax.Array
    step: jax.Array
    epoch: jax.Array
    running: dict[str, jax.Array]
    history: dict[str, np.ndarray]
    rng_impl: str = "threefry2x32"

    @property
    def key(self) -> jax.Array:
        """The training key as a typed PRNG key."""
        return jax.random.wrap_key_data(jnp.asarray(self.rng), impl=self.rng_impl)

    @classmethod
    def create(
        cls,
        model: Module,
        optimizer: optax.GradientTransformation,
        rng: jax.Array | int,
        input_shape: Any,
        dtype: Any = None,
        *,
        params: PyTree = None,
        state: PyTree = None,
        metrics: Metrics = (),
    ) -> TrainState:
        """Initialises params (unless given), state and optimizer state.

        Args:
          model: the model.
          optimizer: an optax optimizer.
          rng: a PRNG key or an int seed; ``split(rng)`` gives the init key and the training key.
          input_shape: the input shape (``-1`` for the batch).
          dtype: the input dtype (default: the model's).
          params, state: start from these instead of a fresh init.
          metrics: metric names whose running sums the state carries.
        """
        key = _as_key(rng)
        init_key, train_key = jax.random.split(key)
        if params is None or state is None:
            _, p0, s0 = model.stateful.init(init_key, input_shape, dtype)
            params = p0 if params is None else params
            state = s0 if state is None else state
        return cls(
            params=params,
            state=state,
            opt_state=optimizer.init(params),
            rng=jax.random.key_data(train_key),
            step=jnp.zeros((), jnp.int32),
            epoch=jnp.zeros((), jnp.int32),
            running=_zero_running(metrics),
            history={},
            rng_impl=str(jax.random.key_impl(train_key)),
        )


jax.tree_util.register_dataclass(
    TrainState,
    data_fields=["params", "state", "opt_state", "rng", "step", "epoch", "running", "history"],
    meta_fields=["rng_impl"],
)


def _as_key(rng: Any) -> jax.Array:
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return jax.random.key(int(rng))
    if isinstance(rng, jax.Array) and jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
        return rng
    if isinstance(rng, (jax.Array, np.ndarray)) and rng.dtype == np.uint32:
        return jax.random.wrap_key_data(jnp.asarray(rng))  # a legacy jax.random.PRNGKey
    raise ConfigError(f"rng must be a PRNG key such as jax.random.key(0) or an int seed, got {rng!r}")


def _zero_running(metrics: Metrics) -> dict[str, jax.Array]:
    f = float_dtype()
    run = {"loss": jnp.zeros((), f), "count": jnp.zeros((), f)}
    run.update({name: jnp.zeros((), f) for name, _ in metrics})
    run.update(bad_step=jnp.full((), -1, jnp.int32), bad_loss=jnp.zeros((), f), bad_grad_norm=jnp.zeros((), f))
    return run


def _copy(tree: PyTree) -> PyTree:  # fit donates its carry; a copy keeps the caller's arrays alive
    return jax.tree.map(lambda a: jnp.array(a, copy=True) if isinstance(a, jax.Array) else a, tree)


# --------------------------------------------------------------------------- the steps


def _loss_and_grads(model: Module, criterion: Criterion, params, state, x, y, rng, mask=None):
    """``((loss, (output, new_state)), grads)`` of one batch in train mode."""
    apply = model.stateful.apply

    def loss_fn(p):
        out, new_state = apply(p, state, x, rng=rng, train=True)
        loss = criterion(out, y) if mask is None else masked_mean(criterion, out, y, mask)
        return loss, (out, new_state)

    return jax.value_and_grad(loss_fn, has_aux=True)(params)


def _update(optimizer: optax.GradientTransformation, grads, opt_state, params):
    # optax is not written for jax_numpy_dtype_promotion="strict"; its update runs in standard mode.
    with jax.numpy_dtype_promotion("standard"):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state


def make_train_step(
    model: Module, criterion: Criterion, optimizer: optax.GradientTransformation, *, donate: bool = True
) -> Callable:
    """The jitted train step of the ten-line loop (see the module docstring).

    Returns:
      ``step(params, state, opt_state, x, y, rng) -> (params, state, opt_state, loss)``, one
      gradient step on the batch ``(x, y)`` in train mode with the key ``rng``. ``state`` is
      the model state (``model.stateful``; ``()`` leaves for a model without state). With
      ``donate=True`` the first three arguments are donated: do not reuse them after the call.

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
        (loss, (_, new_state)), grads = _loss_and_grads(model, criterion, params, state, x, y, rng)
        params, opt_state = _update(optimizer, grads, opt_state, params)
        return params, new_state, opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1, 2) if donate else ())


@functools.lru_cache(maxsize=32)
def _epoch_kernel(model, criterion, optimizer, metrics: Metrics, batch_size: int, n: int, pad: bool, impl: str,
                  guard: bool = True):
    """The trainer's step on batch ``i`` of the permutation ``perm``, which prefetches batch ``i + 1``.

    Returns ``(gather, step, traces)``: ``gather(x_all, y_all, perm, i) -> batch`` (jitted) and
    ``step(carry, batch, x_all, y_all, perm, i) -> (carry, next batch)`` (jitted, donating the
    carry); ``traces[0]`` counts Python traces of ``step``. A step whose loss or
    gradient is not finite changes nothing but ``running['bad_*']``; every later step is
    skipped too.

    Why the prefetch: the step must read its batch from memory. Gathered inside the step, XLA
    fuses the gather into the batch's first consumers and repeats it there (5 times for a
    5-row convolution: +20 % on a LeNet epoch, measured); gathered by a jitted call of its own,
    each step pays a second dispatch (+30 % for a dispatch-bound tiny MLP). The batch the step
    gathers for its successor is an output: materialised, and one dispatch per step.
    """
    last_batch = steps_per_epoch(n, batch_size, drop_last=not pad) - 1
    traces = [0]

    @jax.jit
    def gather(x_all, y_all, perm, i):
        pos = i * batch_size + jnp.arange(batch_size)
        idx = take(perm, pos % n)  # padding slots re-use real examples (sane BatchNorm statistics)
        return take(x_all, idx), take(y_all, idx)

    def kernel(carry, batch, x_all, y_all, perm, i):
        traces[0] += 1
        x, y = batch
        params, state, opt_state, rng, step, run = carry
        mask = (i * batch_size + jnp.arange(batch_size) < n) if pad else None
        key = jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(rng, impl=impl), 0), step)
        (loss, (out, new_state)), grads = _loss_and_grads(model, criterion, params, state, x, y, key, mask)
        new_params, new_opt = _update(optimizer, grads, opt_state, params)
        gnorm = optax.tree.norm(grads)
        f = run["loss"].dtype
        ok = jnp.isfinite(loss) & jnp.isfinite(gnorm) & (run["bad_step"] < 0)
        keep = (lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)) if guard else (
            lambda new, old: new)
        weight = jnp.sum(mask).astype(f) if pad else jnp.asarray(batch_size, f)
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
        new_carry = (
            keep(new_params, params),
            keep(new_state, state),
            keep(new_opt, opt_state),
            rng,
            step + ok.astype(jnp.int32),
            new_run,
        )
        return new_carry, gather(x_all, y_all, perm, jnp.minimum(i + 1, last_batch))  # the last step's is unused

    return gather, jax.jit(kernel, donate_argnums=(0,)), traces  # a donated batch costs two copies


@functools.lru_cache(maxsize=8)
def _permutation(n: int, impl: str):
    def perm(rng, epoch):
        key = jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(rng, impl=impl), 1), epoch)
        return jax.random.permutation(key, n)

    return jax.jit(perm)


# --------------------------------------------------------------------------- fit


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = True) -> int:
    """The number of steps in one epoch of ``n`` examples."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def fit(
    model: Module,
    criterion: Criterion,
    optimizer: optax.GradientTransformation,
    data: Dataset | tuple[Any, Any],
    *,
    epochs: int,
    batch_size: int = 32,
    rng: jax.Array | int | None = None,
    params: PyTree = None,
    state: PyTree = None,
    resume: TrainState | None = None,
    eval_data: Dataset | tuple[Any, Any] | None = None,
    eval_batch_size: int = 1000,
    metrics: Mapping[str, Callable] | None = None,
    drop_last: bool = True,
    shuffle: bool | str = True,
    max_steps: int | None = None,
    progress: bool = True,
    refresh_seconds: float = 0.5,
    on_epoch: Callable[[TrainState, dict[str, float]], bool | None] | None = None,
    guard_nonfinite: bool = True,
) -> TrainState:
    """Trains ``model`` on ``data`` with mini-batch gradient steps; returns the final :class:`TrainState`.

    Args:
      model: the model (stateful models, e.g. with BatchNorm, work as they are).
      criterion: ``criterion(output, target) -> scalar``, e.g. ``fnn.ClassNLLCriterion()``.
      optimizer: an optax optimizer; schedules work (the step count is in the optimizer state).
      data: a :class:`fnn.data.Dataset` or an ``(inputs, targets)`` pair of arrays with the
        examples along the leading dimension (inputs may be a tuple of arrays, a table).
      epochs: train until this many epochs are complete in total (a resumed state counts its own).
      batch_size: examples per step; ``1`` is torch7's per-example ``StochasticGradient``.
      rng: a key or int seed (needed unless ``resume``): ``split(rng)`` gives the init key and the
        training key (see "Keys" below).
      params, state: start from these instead of a fresh init (the optimizer state is fresh).
      resume: continue a previous run from its :class:`TrainState` (``rng``, ``params`` and
        ``state`` must then be None). ``resume`` itself stays valid (it is copied).
      eval_data: evaluated in eval mode after every epoch (``history['eval_*']``).
      eval_batch_size: examples per evaluation step (the last is padded and masked).
      metrics: ``{name: fn(output, target) -> scalar}`` averaged over examples. Default: accuracy
        when the targets are integers, none otherwise. Pass ``{}`` for none.
      drop_last: drop the last partial batch of each epoch (default: the loss is exactly
        ``criterion(output, target)``). False fills the last batch up with examples from the
        start of the permutation, masked out of the loss: every step's loss is then the mean
        of ``criterion(out[i:i+1], y[i:i+1])`` over the batch's real examples (the same value
        unless the divisor is not the number of examples: class weights, ``reduction='sum'``).
      shuffle: True draws a new permutation each epoch; ``"once"`` draws one and reuses it
        (torch7's StochasticGradient); False keeps the data order.
      max_steps: stop once this many steps are done in total (also mid-epoch; resume later).
      progress: show a tqdm bar per epoch with the running loss.
      refresh_seconds: how often the bar reads the running loss from the device.
      on_epoch: called after each epoch with a copy of the state and the epoch's
        ``{name: value}``; return True to stop.
      guard_nonfinite: keep the last finite state (below), at the cost of one select over params
        and optimizer state per step (about 0.1 ms on CPU; it shows only for tiny models).

    Returns:
      The final :class:`TrainState` (``.params``, ``.state``, ``.opt_state``, ``.history``).

    Keys: with ``key`` the training key, step ``s`` runs the model with ``fold_in(fold_in(key, 0),
    s)``, epoch ``e`` is shuffled by ``permutation(fold_in(fold_in(key, 1), e), n)``: resuming replays.

    Non-finite values are found without a host sync per step: the step function records the
    first step whose loss or gradient norm is not finite and (``guard_nonfinite=True``) refuses
    its update and every later one; the trainer reads the record when the bar refreshes and at
    the end of each epoch, then raises :class:`~fnn.errors.NonFiniteError` naming the epoch, the
    step and the value. ``error.train_state`` is the state after the last finite step (with
    ``guard_nonfinite=False``: the state when it was found, possibly NaN).

    Raises:
      NonFiniteError: the loss or the gradient became NaN or infinite.
      ConfigError: a bad argument (sizes, ``resume`` together with ``rng``, ...).

    >>> import jax, jax.numpy as jnp, optax, fnn
    >>> x = jax.random.normal(jax.random.key(0), (64, 3))
    >>> y = x @ jnp.array([[1.0], [-2.0], [0.5]])
    >>> mse = lambda out, target: jnp.mean((out - target) ** 2)
    >>> ts = fnn.fit(fnn.Linear(3, 1), mse, optax.sgd(0.1), (x, y), epochs=20, batch_size=16,
    ...              rng=jax.random.key(1), progress=False)
    >>> int(ts.epoch), int(ts.step), bool(ts.history['loss'][-1] < 1e-3)
    (20, 80, True)
    """
    data, eval_data = as_dataset(data, "data"), None if eval_data is None else as_dataset(eval_data, "eval_data")
    n = len(data)
    ints("fit", 1, epochs=epochs, batch_size=batch_size, eval_batch_size=eval_batch_size)
    ints("fit", 1, **({} if max_steps is None else {"max_steps": max_steps}))
    if shuffle not in (True, False, "once"):
        raise ConfigError(f"fit: shuffle must be True, False or 'once', got {shuffle!r}")
    spe = steps_per_epoch(n, batch_size, drop_last)
    if spe == 0:
        raise ConfigError(f"fit: batch_size={batch_size} exceeds the {n} examples and drop_last=True leaves no step")
    metric_items = resolve_metrics(metrics, data.y)

    if resume is None:
        if rng is None:
            raise ConfigError("fit: give rng=jax.random.key(seed) (or resume=a TrainState)")
        ts = TrainState.create(model, optimizer, rng, data.input_shape, data.input_dtype, params=params, state=state,
                               metrics=metric_items)
    else:
        if rng is not None or params is not None or state is not None:
            raise ConfigError("fit: resume= carries its own rng, params and state; do not pass them too")
        ts = _check_resume(resume, optimizer, metric_items)
    ts = _copy(ts)

    gather, kernel, traces = _epoch_kernel(model, criterion, optimizer, metric_items, batch_size, n,
                                           not drop_last, ts.rng_impl, guard_nonfinite)
    eval_fn = None if eval_data is None else make_eval_step(model, criterion, metric_items)
    traced_before = traces[0]
    perm_fn = _permutation(n, ts.rng_impl)
    order = jnp.arange(n)
    tqdm = _tqdm() if progress else None

    step, epoch = int(ts.step), int(ts.epoch)
    history = {k: np.asarray(v) for k, v in ts.history.items()}
    pos = step - epoch * spe
    if not 0 <= pos < spe:
        raise ConfigError(
            f"fit: the resumed state is at step {step} of epoch {epoch}, which does not fit {spe} steps per epoch "
            f"({n} examples, batch_size={batch_size}, drop_last={drop_last}); resume with the same data and batching"
        )
    carry = (ts.params, ts.state, ts.opt_state, ts.rng, ts.step, ts.running)

    def state_now(carry, epoch, history):
        params, st, opt_state, rng, step_arr, run = carry
        epoch_arr = jnp.asarray(epoch, jnp.int32)
        return TrainState(params, st, opt_state, rng, step_arr, epoch_arr, run, history, ts.rng_impl)

    def check_finite(carry, epoch):
        run = jax.device_get(carry[5])
        if int(run["bad_step"]) >= 0:
            bad = int(run["bad_step"])
            what = "loss" if not np.isfinite(run["bad_loss"]) else "gradient norm"
            value = run["bad_loss"] if what == "loss" else run["bad_grad_norm"]
            err = NonFiniteError(
                f"training stopped: the {what} became {float(value)} in step {bad + 1} (epoch {epoch + 1} of "
                f"{epochs}, step {bad - epoch * spe + 1} of {spe} in that epoch; the loss was "
                f"{float(run['bad_loss'])}). "
                + (f"That update was not applied: error.train_state holds the state after the last finite step "
                   f"({bad} steps). " if guard_nonfinite else "error.train_state holds the state when it was found. ")
                + "Try a lower learning rate, check the data for NaN/inf, or clip gradients "
                "(optax.clip_by_global_norm)."
            )
            err.epoch, err.step, err.loss = epoch, bad, float(run["bad_loss"])
            err.train_state = state_now(carry, epoch, history)
            raise err
        return run

    stop = False
    while epoch < epochs and not stop and (max_steps is None or step < max_steps):
        perm = perm_fn(carry[3], 0 if shuffle == "once" else epoch) if shuffle else order
        bar = None if tqdm is None else tqdm(
            total=spe, initial=pos, desc=f"epoch {epoch + 1}/{epochs}", unit="step", leave=True, dynamic_ncols=True
        )
        try:
            last = time.monotonic()
            batch = gather(data.x, data.y, perm, pos)
            for i in range(pos, spe):
                carry, batch = kernel(carry, batch, data.x, data.y, perm, i)
                step += 1
                if bar is not None:
                    bar.update(1)
                    if time.monotonic() - last >= refresh_seconds:  # the only syncs inside an epoch
                        run = check_finite(carry, epoch)
                        bar.set_postfix_str(_fmt({"loss": run["loss"] / max(run["count"], 1)}), refresh=False)
                        last = time.monotonic()
                if max_steps is not None and step >= max_steps and i < spe - 1:
                    stop = True
                    break
            run = check_finite(carry, epoch)
            if stop:
                break
            logs = {name: float(run[name] / run["count"]) for name in ["loss"] + [m for m, _ in metric_items]}
            if eval_fn is not None:
                ev = run_evaluation(eval_fn, carry[0], carry[1], eval_data, eval_batch_size)
                logs.update({f"eval_{k}": v for k, v in ev.items()})
            for k, v in logs.items():
                history[k] = np.append(history.get(k, np.zeros((0,))), v)
            carry = carry[:5] + (_zero_running(metric_items),)
            epoch, pos = epoch + 1, 0
            if bar is not None:
                bar.set_postfix_str(_fmt(logs), refresh=False)
        finally:
            if bar is not None:
                bar.close()
        if on_epoch is not None and on_epoch(_copy(state_now(carry, epoch, dict(history))), logs) is True:
            break

    if traces[0] - traced_before > 1:
        warnings.warn(
            f"fnn.fit: the train step was compiled {traces[0] - traced_before} times in one run; "
            "check that params, optimizer state and data keep their shapes and dtypes",
            stacklevel=2,
        )
    return state_now(carry, epoch, history)


def _check_resume(ts: TrainState, optimizer, metrics: Metrics) -> TrainState:
    if not isinstance(ts, TrainState):
        raise ConfigError(f"fit: resume must be a TrainState, got {type(ts).__name__}")
    expected = set(_zero_running(metrics))
    if set(ts.running) != expected:
        raise ConfigError(
            f"fit: the resumed state tracks {sorted(ts.running)} but these metrics need {sorted(expected)}; "
            "resume with the same metrics"
        )
    want = jax.tree.structure(jax.eval_shape(optimizer.init, ts.params))
    if jax.tree.structure(ts.opt_state) != want:
        raise ConfigError("fit: the resumed optimizer state does not match this optimizer; resume with the same one")
    return ts


def _fmt(logs: Mapping[str, float]) -> str:
    return ", ".join(f"{k.replace('accuracy', 'acc')}={float(v):.4g}" for k, v in logs.items())


def _tqdm():
    try:
        from tqdm.auto import tqdm  # in the [train] extra: no bar without it
    except ImportError:  # pragma: no cover
        return None
    return tqdm


# --------------------------------------------------------------------------- torch7's StochasticGradient


def torch7_learning_rate(learning_rate: float, decay: float, steps_per_epoch: int) -> Callable:
    """torch7's ``StochasticGradient`` schedule as an optax schedule.

    The first epoch uses ``learning_rate``; epoch ``k`` (1-based, ``k >= 2``) uses
    ``learning_rate / (1 + k * decay)`` (torch7 increments its counter before decaying).
    """
    def schedule(count):
        k = count // steps_per_epoch + 1
        return jnp.where(k == 1, learning_rate, learning_rate / (1.0 + k * decay))

    return schedule


@dataclasses.dataclass
class StochasticGradient:
    """torch7's ``nn.StochasticGradient(module, criterion)``: per-example SGD.

    Fields (torch7's, snake_case): ``learning_rate=0.01``, ``learning_rate_decay=0``,
    ``max_iteration=25`` (epochs; torch7's 0 = forever is not supported), ``shuffle_indices``
    (one permutation drawn once, as torch7), ``verbose`` (prints ``# current error = ...`` per
    epoch, torch7's format). Set them like torch7: ``trainer.learning_rate = 0.1``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> x = jnp.linspace(-1, 1, 8).reshape(8, 1); y = 2 * x
    >>> trainer = fnn.StochasticGradient(fnn.Linear(1, 1), lambda o, t: jnp.mean((o - t) ** 2))
    >>> trainer.learning_rate, trainer.verbose = 0.1, False
    >>> ts = trainer.train((x, y), rng=jax.random.key(0))
    >>> int(ts.epoch), int(ts.step), bool(ts.history['loss'][-1] < 1e-2)
    (25, 200, True)
    """

    module: Module
    criterion: Criterion
    learning_rate: float = 0.01
    learning_rate_decay: float = 0.0
    max_iteration: int = 25
    shuffle_indices: bool = True
    verbose: bool = True

    def train(self, dataset: Dataset | tuple[Any, Any], *, rng: jax.Array | int, params: PyTree = None,
              state: PyTree = None) -> TrainState:
        """Runs ``max_iteration`` epochs of per-example SGD; returns the final :class:`TrainState`."""
        data = as_dataset(dataset, "dataset")
        schedule = torch7_learning_rate(self.learning_rate, self.learning_rate_decay, len(data))
        if self.verbose:
            print("# StochasticGradient: training")
        report = (lambda ts, logs: print(f"# current error = {logs['loss']:.6g}")) if self.verbose else None
        ts = fit(self.module, self.criterion, optax.sgd(schedule), data, epochs=self.max_iteration, batch_size=1,
                 rng=rng, params=params, state=state, metrics={}, shuffle="once" if self.shuffle_indices else False,
                 progress=False, on_epoch=report)
        if self.verbose:
            print("# StochasticGradient: you have reached the maximum number of iterations")
            print(f"# training error = {float(ts.history['loss'][-1]):.6g}")
        return ts


__all__ = ["TrainState", "fit", "make_train_step", "steps_per_epoch", "StochasticGradient", "torch7_learning_rate"]
