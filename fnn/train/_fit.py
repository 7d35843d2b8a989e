"""fit: the epoch loop around the train step (:func:`fnn.train.make_train_step` with a key per step).

:func:`fit` computes what the ten-line loop of :mod:`fnn.train` computes, and adds what a long
run needs without giving up the single compile:

* The data stays on the device. Each epoch draws a new permutation on the device; each
  step gathers the next step's batch on the device (an output, so the step reads a
  materialised batch with one dispatch), so no batch crosses the host.
* One compile for training and one for evaluation (and tiny ones for the shuffle and an
  epoch's first batch), whatever the data size and the number of epochs or calls (compiled
  steps are cached). The last partial batch is dropped (``drop_last=True``, the default) or
  padded with real examples and masked out of the loss (``drop_last=False``); either way every
  step has one shape.
* ``train=True`` and a fresh key per step (``fold_in``); evaluation runs in eval mode.
* The train step donates params, state and optimizer state (``donate_argnums``): the
  update happens in place.
* A non-finite loss or gradient stops training with :class:`~fnn.errors.NonFiniteError`,
  without a host sync per step: the step function records the first step whose loss or
  gradient norm is not finite and (``guard_nonfinite=True``) refuses its update and every
  later one; the trainer reads the record when the bar refreshes and at the end of each
  epoch, then raises naming the epoch, the step and the value. ``error.train_state`` is the
  state after the last finite step (with ``guard_nonfinite=False``: the state when it was
  found, possibly NaN).
* Per-epoch loss and metrics are returned as data (``TrainState.history``), a tqdm bar shows
  the running loss, optax schedules work (their step count lives in the optimizer state),
  and everything needed to resume bit-identically is a pytree of arrays (:class:`TrainState`).

More than one device: with ``mesh=``, ``batch_size`` is the global batch and each batch is
sharded over ``data_axis`` (``batch_size`` and, with ``eval_data``, ``eval_batch_size`` must
divide by its devices); params, state, optimizer state and the data are replicated once,
before the first step (:mod:`fnn.train._sharding`). XLA partitions the one compiled step;
BatchNorm statistics stay global, so the numbers are those of ``fit`` without a mesh (up to the
order of float sums). One process only: ``jax.process_count() > 1`` is a ``ConfigError``.

The pieces: ``_check_arguments``, ``_initial_state`` (fresh or resumed) and ``_start`` (the
host's counters) run once; then ``_train`` runs ``_run_epoch`` (``_run_steps`` under a progress
bar, ``_end_epoch`` for the logs and the history) until the run is complete.

The history holds ``loss``, the metrics, ``eval_*`` and, when the optimizer state carries it
(``optax.inject_hyperparams``), ``lr``: the learning rate of the epoch's last step. Optimizers
that take the loss (``optax.contrib.reduce_on_plateau``) receive each step's as ``value=``.

Keys: with ``key`` the training key, step ``s`` runs the model with ``fold_in(fold_in(key, 0),
s)``, epoch ``e`` is shuffled by ``permutation(fold_in(fold_in(key, 1), e), n)``: resuming replays.

Non-finite values are found without a host sync per step: the step function records the
first step whose loss or gradient norm is not finite and (``guard_nonfinite=True``) refuses
its update and every later one; the trainer reads the record when the bar refreshes and at
the end of each epoch, then raises :class:`~fnn.errors.NonFiniteError` naming the epoch, the
step and the value. ``error.train_state`` is the state after the last finite step (with
``guard_nonfinite=False``: the state when it was found, possibly NaN).
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fnn.core import Module
from fnn.core._args import ints
from fnn.data import Dataset, as_dataset
from fnn.errors import ConfigError, DataError, NonFiniteError
from fnn.train._callbacks import call_all, learning_rate, step_interval
from fnn.train._eval import EvalStep, Metrics, make_eval_step, resolve_metrics, run_evaluation
from fnn.train._labels import check_labels
from fnn.train._sharding import check_mesh, check_single_process, replicate
from fnn.train._state import TrainState, copy_tree, resumable, zero_running
from fnn.train._step import epoch_kernel, init_optimizer, permutation, steps_per_epoch
from fnn.train._stream import BatchStream, batch_rows, is_batch_source, prefetch

PyTree = Any
Criterion = Callable[[Any, Any], jax.Array]


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What one call of :func:`fit` fixes before its first step."""

    data: Dataset
    eval_data: Dataset | None
    eval_batch_size: int
    epochs: int
    steps: int | None  # per epoch (None: a stream without len())
    max_steps: int | None
    shuffle: bool | str
    metrics: Metrics
    guard_nonfinite: bool
    rng_impl: str
    gather: Callable  # (x_all, y_all, perm, i) -> batch i
    kernel: Callable  # (carry, batch, x_all, y_all, perm, i) -> (carry, batch i + 1)
    traces: list[int]  # traces[0] counts the kernel's Python traces
    eval_fn: EvalStep | None
    perm_fn: Callable  # (rng, epoch) -> that epoch's permutation
    tqdm: Any  # the progress bar's class; None for no bar
    refresh_seconds: float
    stream: BatchStream | None = None  # a source of host batches instead of device-resident data
    batch_size: int = 0
    drop_last: bool = True
    partial_kernel: Callable | None = None  # n -> a stream's kernel for a last batch of n < batch_size examples
    callbacks: tuple = ()  # fit's callbacks (see fnn/train/_callbacks.py)
    step_callbacks: tuple = ()  # ((callback, every_steps), ...) of those that want on_step
    mesh: Any = None  # data parallelism: data, carry and permutations replicated on it


@dataclasses.dataclass
class _Loop:
    """Where the run is: the device carry ``(params, state, opt_state, rng, step, running)`` and the host's
    counters (``pos``: the first step of the current epoch still to run, non-zero after a mid-epoch resume)."""

    carry: tuple
    epoch: int
    step: int
    pos: int
    history: dict[str, np.ndarray]

def fit(
    model: Module,
    criterion: Criterion,
    optimizer: optax.GradientTransformation,
    data: Dataset | tuple[Any, Any],
    *,
    epochs: int,
    batch_size: int | None = None,
    rng: jax.Array | int | None = None,
    params: PyTree = None,
    state: PyTree = None,
    resume: TrainState | None = None,
    eval_data: Dataset | tuple[Any, Any] | None = None,
    eval_batch_size: int = 1000,
    metrics: Mapping[str, Callable[..., Any]] | None = None,
    drop_last: bool = True,
    shuffle: bool | str = True,
    max_steps: int | None = None,
    progress: bool = True,
    refresh_seconds: float = 0.5,
    on_epoch: Callable[[TrainState, dict[str, float]], bool | None] | None = None,
    guard_nonfinite: bool = True,
    callbacks: Sequence[Any] = (),
    mesh: jax.sharding.Mesh | None = None, data_axis: str = "data",
) -> TrainState:
    """Trains ``model`` on ``data`` with mini-batch gradient steps; returns the final :class:`TrainState`.

    Args:
      model: the model (stateful models, e.g. with BatchNorm, work as they are).
      criterion: ``criterion(output, target) -> scalar``, e.g. ``fnn.ClassNLLCriterion()``.
      optimizer: an optax optimizer; schedules work (the step count is in the optimizer state).
      data: a :class:`fnn.data.Dataset` or an ``(inputs, targets)`` pair of arrays with the
        examples along the leading dimension (inputs may be a tuple of arrays, a table) — kept
        on the device — or, for data that does not fit there, a batch source: a re-iterable of
        ``(inputs, targets)`` numpy batches (a list, a ``grain.DataLoader``), a function
        ``epoch -> batches`` or a generator (one epoch), prefetched to the device by a
        background thread (see :mod:`fnn.train._stream`: order, resume, the last batch).
      epochs: train until this many epochs are complete in total (a resumed state counts its own).
      batch_size: examples per step (default 32; for a batch source, its first batch's size);
        ``1`` is torch7's per-example ``StochasticGradient``.
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
        (torch7's StochasticGradient); False keeps the data order. A batch source keeps its own
        order (shuffle it in the source, e.g. a grain sampler seeded by the epoch).
      max_steps: stop once this many steps are done in total (also mid-epoch; resume later).
      progress: show a tqdm bar per epoch with the running loss.
      refresh_seconds: how often the bar reads the running loss from the device.
      on_epoch: called after each epoch with a copy of the state and the epoch's
        ``{name: value}``; return True to stop.
      guard_nonfinite: keep the last finite state (below), at the cost of one select over params
        and optimizer state per step (it shows only for tiny models; see ``bench/HISTORY.md``, "One epoch").
      callbacks: objects with ``on_train_begin``, ``on_step``, ``on_epoch``, ``on_train_end``
        (see :class:`fnn.train.Callback`; :class:`fnn.train.CSVLogger` and
        :class:`fnn.train.TensorBoardLogger` log the history). ``on_epoch`` is called after
        ``on_epoch=``'s function; either returning True stops training.

      mesh, data_axis: data parallelism on this :class:`jax.sharding.Mesh` (one process): each global
        batch is sharded over ``data_axis`` (see "More than one device" in the module docstring).

    The history: see the module docstring.

    Returns:
      The final :class:`TrainState` (``.params``, ``.state``, ``.opt_state``, ``.history``).

    Keys and non-finite values: see the module docstring.

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
    plan, ts, loop = _prepare(model, criterion, optimizer, data, epochs, batch_size, rng, params, state, resume,
                              eval_data, eval_batch_size, metrics, drop_last, shuffle, max_steps, progress,
                              refresh_seconds, guard_nonfinite, callbacks, mesh, data_axis)
    _notify(plan, "on_train_begin", ts)
    _train(plan, loop, on_epoch)
    final = _state_now(plan, loop)
    _notify(plan, "on_train_end", final)
    return final


# --------------------------------------------------------------------------- before the first step


def _prepare(model, criterion, optimizer, data, epochs, batch_size, rng, params, state, resume, eval_data,
             eval_batch_size, metrics, drop_last, shuffle, max_steps, progress, refresh_seconds, guard_nonfinite,
             callbacks, mesh, data_axis) -> tuple[_Plan, TrainState, _Loop]:
    """Everything :func:`fit` fixes before its first step: the plan, the initial state and the loop."""
    stream = BatchStream(data) if is_batch_source(data) else None
    if stream is not None and mesh is not None:
        raise ConfigError("fit: a batch source cannot be combined with mesh= yet; give in-memory data, or shard "
                          "each batch with fnn.shard_batch in a loop around fnn.make_train_step(..., mesh=mesh)")
    if stream is not None:  # the first batch stands for the data: shapes, dtypes, default metrics
        data, batch_size = Dataset(*stream.first()), batch_size or batch_rows(stream.first()[0])
    batch_size = 32 if batch_size is None else batch_size
    data, eval_data, metric_items, spe = _check_arguments(
        data, eval_data, epochs, batch_size, eval_batch_size, max_steps, shuffle, drop_last, metrics, stream, mesh,
        data_axis)
    if stream is None:
        check_labels(model, criterion, "fit", data=data, eval_data=eval_data)  # once, before the first step
    n = batch_size if stream is not None else len(data)  # a stream's step sees one batch: its own "data"
    ts = _initial_state(model, optimizer, data, metric_items, rng, params, state, resume)
    loop = _start(ts, spe, n, batch_size, drop_last)
    if mesh is not None:  # placed once: every step then reads and writes these layouts
        loop.carry, data, eval_data = replicate((loop.carry, data, eval_data), mesh)
    gather, kernel, traces = epoch_kernel(model, criterion, optimizer, metric_items, batch_size, n,
                                          stream is None and not drop_last, ts.rng_impl, guard_nonfinite, mesh,
                                          data_axis)
    plan = _Plan(
        data=data, eval_data=eval_data, eval_batch_size=eval_batch_size, epochs=epochs, steps=spe, max_steps=max_steps,
        shuffle=shuffle, metrics=metric_items, guard_nonfinite=guard_nonfinite, rng_impl=ts.rng_impl, gather=gather,
        kernel=kernel, traces=traces, perm_fn=permutation(n, ts.rng_impl),
        eval_fn=None if eval_data is None else make_eval_step(model, criterion, metric_items, mesh=mesh,
                                                              data_axis=data_axis),
        tqdm=_tqdm() if progress else None, refresh_seconds=refresh_seconds, mesh=mesh,
        callbacks=tuple(callbacks), step_callbacks=tuple(step_interval(callbacks)),
        stream=stream, batch_size=batch_size, drop_last=drop_last,
        partial_kernel=functools.partial(epoch_kernel, model, criterion, optimizer, metric_items, batch_size,
                                         pad=True, impl=ts.rng_impl, guard=guard_nonfinite),
    )
    return plan, ts, loop


def _check_arguments(data, eval_data, epochs, batch_size, eval_batch_size, max_steps, shuffle, drop_last, metrics,
                     stream: BatchStream | None = None, mesh=None, data_axis="data"):
    """``(data, eval_data, metrics, steps per epoch)`` once every argument is known to be sane.

    A stream's steps per epoch are its ``len()`` (None when it has none); it is never shuffled by fit."""
    check_single_process("fit")
    data, eval_data = as_dataset(data, "data"), None if eval_data is None else as_dataset(eval_data, "eval_data")
    n = len(data)
    ints("fit", 1, epochs=epochs, batch_size=batch_size, eval_batch_size=eval_batch_size)
    ints("fit", 1, **({} if max_steps is None else {"max_steps": max_steps}))
    if shuffle not in (True, False, "once"):
        raise ConfigError(f"fit: shuffle must be True, False or 'once', got {shuffle!r}")
    if mesh is not None:
        check_mesh("fit", mesh, data_axis, batch_size=batch_size,
                   **({} if eval_data is None else {"eval_batch_size": eval_batch_size}))
    if stream is not None:
        if n > batch_size:
            raise ConfigError(f"fit: the data source's first batch has {n} examples, more than batch_size={batch_size}")
        return data, eval_data, resolve_metrics(metrics, data.y), stream.length
    spe = steps_per_epoch(n, batch_size, drop_last)
    if spe == 0:
        raise ConfigError(f"fit: batch_size={batch_size} exceeds the {n} examples and drop_last=True leaves no step")
    return data, eval_data, resolve_metrics(metrics, data.y), spe


def _initial_state(model, optimizer, data: Dataset, metrics: Metrics, rng, params, state,
                   resume: TrainState | None) -> TrainState:
    """A fresh :class:`TrainState`, or a checked copy of ``resume`` (fit donates it; the caller's stays valid)."""
    if resume is None:
        if rng is None:
            raise ConfigError("fit: give rng=jax.random.key(seed) (or resume=a TrainState)")
        ts = TrainState.create(model, optimizer, rng, data.input_shape, data.input_dtype, params=params, state=state,
                               metrics=metrics)
    else:
        if rng is not None or params is not None or state is not None:
            raise ConfigError("fit: resume= carries its own rng, params and state; do not pass them too")
        ts = _check_resume(resume, optimizer, metrics)
    return copy_tree(ts)


def _check_resume(ts: TrainState, optimizer, metrics: Metrics) -> TrainState:
    if not isinstance(ts, TrainState):
        raise ConfigError(f"fit: resume must be a TrainState, got {type(ts).__name__}")
    expected = set(zero_running(metrics))
    if set(ts.running) != expected:
        raise ConfigError(
            f"fit: the resumed state tracks {sorted(ts.running)} but these metrics need {sorted(expected)}; "
            "resume with the same metrics"
        )
    leaves, treedef = jax.tree.flatten(ts.params)
    want = _optimizer_structure(optimizer, treedef, tuple((np.shape(a), jnp.result_type(a)) for a in leaves))
    if jax.tree.structure(ts.opt_state) != want:
        raise ConfigError("fit: the resumed optimizer state does not match this optimizer; resume with the same one")
    return ts


@functools.lru_cache(maxsize=32)
def _optimizer_structure(optimizer, treedef, shapes: tuple) -> Any:
    """The tree structure of ``optimizer.init(params)`` for params of this structure, shapes and dtypes
    (cached: tracing the init on every resumed call costs milliseconds)."""
    params = jax.tree.unflatten(treedef, [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in shapes])
    return jax.tree.structure(jax.eval_shape(lambda p: init_optimizer(optimizer, p), params))


def _start(ts: TrainState, spe: int | None, n: int, batch_size: int, drop_last: bool) -> _Loop:
    """The loop at ``ts``, which must sit inside an epoch of ``spe`` steps."""
    step, epoch = int(ts.step), int(ts.epoch)
    pos = 0 if spe is None else step - epoch * spe  # without len(), resume from an epoch's end
    if spe is not None and not 0 <= pos < spe:
        raise ConfigError(
            f"fit: the resumed state is at step {step} of epoch {epoch}, which does not fit {spe} steps per epoch "
            f"({n} examples, batch_size={batch_size}, drop_last={drop_last}); resume with the same data and batching"
        )
    carry = (ts.params, ts.state, ts.opt_state, ts.rng, ts.step, ts.running)
    return _Loop(carry, epoch, step, pos, {k: np.asarray(v) for k, v in ts.history.items()})


def _state_now(plan: _Plan, loop: _Loop, history: dict[str, np.ndarray] | None = None) -> TrainState:
    params, state, opt_state, rng, step, running = loop.carry
    epoch = jnp.asarray(loop.epoch, jnp.int32)
    return TrainState(params, state, opt_state, rng, step, epoch, running,
                      loop.history if history is None else history, plan.rng_impl)


# --------------------------------------------------------------------------- the epoch loop


def _train(plan: _Plan, loop: _Loop, on_epoch: Callable | None) -> None:
    """Runs epochs until ``plan.epochs`` are complete, ``plan.max_steps`` are taken or ``on_epoch`` says stop."""
    traced_before = plan.traces[0]
    while loop.epoch < plan.epochs and (plan.max_steps is None or loop.step < plan.max_steps):
        logs = _run_epoch(plan, loop)
        if logs is None:  # stopped mid-epoch at max_steps
            break
        if on_epoch is None and not plan.callbacks:  # nobody to hand a snapshot to
            continue
        snapshot = copy_tree(_state_now(plan, loop, dict(loop.history)))
        stop = on_epoch is not None and on_epoch(snapshot, logs) is True
        if call_all(plan.callbacks, "on_epoch", snapshot, logs) or stop:
            break
    if plan.traces[0] - traced_before > 1:
        warnings.warn(
            f"fnn.fit: the train step was compiled {plan.traces[0] - traced_before} times in one run; "
            "check that params, optimizer state and data keep their shapes and dtypes",
            stacklevel=3,  # fit's caller
        )


def _notify(plan: _Plan, method: str, ts: TrainState) -> None:
    """Calls ``method`` of the callbacks that have it with a copy of ``ts`` (no copy without callbacks)."""
    if plan.callbacks:
        call_all(plan.callbacks, method, copy_tree(ts))


def _run_epoch(plan: _Plan, loop: _Loop) -> dict[str, float] | None:
    """The rest of the current epoch, under a progress bar; its logs, or None if it stopped at ``max_steps``."""
    bar = _open_bar(plan, loop)
    try:
        complete = _run_stream_steps(plan, loop, bar) if plan.stream is not None else _run_steps(plan, loop, bar)
        run = _check_finite(plan, loop)
        if not complete:
            return None
        logs = _end_epoch(plan, loop, run)
        if bar is not None:
            bar.set_postfix_str(_fmt(logs), refresh=False)
        return logs
    finally:
        if bar is not None:
            bar.close()


def _run_steps(plan: _Plan, loop: _Loop, bar: Any) -> bool:
    """Steps ``loop.pos`` to the epoch's last; False if it stopped before the last at ``max_steps``."""
    if plan.shuffle:
        perm = plan.perm_fn(loop.carry[3], 0 if plan.shuffle == "once" else loop.epoch)
    else:
        perm = jnp.arange(len(plan.data))
    if plan.mesh is not None:
        perm = replicate(perm, plan.mesh)
    x_all, y_all = plan.data.x, plan.data.y
    last = time.monotonic()
    batch = plan.gather(x_all, y_all, perm, loop.pos)
    for i in range(loop.pos, plan.steps):
        loop.carry, batch = plan.kernel(loop.carry, batch, x_all, y_all, perm, i)
        loop.step += 1
        last = _after_step(plan, loop, bar, last)
        if plan.max_steps is not None and loop.step >= plan.max_steps and i < plan.steps - 1:
            return False
    return True


def _run_stream_steps(plan: _Plan, loop: _Loop, bar: Any) -> bool:
    """The current epoch of a batch source (from step ``loop.pos``), prefetched to the device; as :func:`_run_steps`."""
    last, done, ended = time.monotonic(), loop.pos, False
    for x, y in prefetch(plan.stream.epoch(loop.epoch, skip=loop.pos)):
        rows = batch_rows(x)
        if ended or rows > plan.batch_size:
            what = "after a smaller batch (only an epoch's last may be smaller)" if ended else "more than batch_size"
            raise DataError(f"fit: batch {done} of epoch {loop.epoch + 1} has {rows} examples, {what}; "
                            f"batch_size={plan.batch_size}")
        if rows < plan.batch_size:
            ended = True
            if plan.drop_last:
                continue
            gather, kernel, _ = plan.partial_kernel(rows)  # padded with its own examples, masked out of the loss
            idx = jnp.arange(rows)
            loop.carry, _ = kernel(loop.carry, gather(x, y, idx, 0), x, y, idx, 0)
        else:
            loop.carry, _ = plan.kernel(loop.carry, (x, y), x, y, jnp.arange(rows), 0)
        loop.step, done = loop.step + 1, done + 1
        last = _after_step(plan, loop, bar, last)
        if plan.max_steps is not None and loop.step >= plan.max_steps and done != plan.steps:
            return False
    return True


def _after_step(plan: _Plan, loop: _Loop, bar: Any, last: float) -> float:
    """The progress bar (refreshed every ``refresh_seconds``) and the step callbacks; the last refresh time."""
    if bar is not None:
        bar.update(1)
        if time.monotonic() - last >= plan.refresh_seconds:  # the only syncs inside an epoch
            run = _check_finite(plan, loop)
            bar.set_postfix_str(_fmt({"loss": run["loss"] / max(run["count"], 1)}), refresh=False)
            last = time.monotonic()
    if plan.step_callbacks:
        _step_callbacks(plan, loop)
    return last


def _step_callbacks(plan: _Plan, loop: _Loop) -> None:
    """Calls ``on_step`` of the callbacks due at this step with the running epoch means (one host sync)."""
    due = [cb for cb, every in plan.step_callbacks if loop.step % every == 0]
    if not due:
        return
    run = _check_finite(plan, loop)
    count = max(float(run["count"]), 1.0)
    logs = {name: float(run[name]) / count for name in ["loss"] + [m for m, _ in plan.metrics]}
    lr = learning_rate(loop.carry[2])
    if lr is not None:
        logs["lr"] = float(lr)
    for cb in due:
        cb.on_step(loop.step, logs)


def _end_epoch(plan: _Plan, loop: _Loop, run: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Closes a complete epoch: its logs (evaluation included) go to the history; the running sums restart."""
    logs = {name: float(run[name] / run["count"]) for name in ["loss"] + [m for m, _ in plan.metrics]}
    lr = learning_rate(loop.carry[2])
    if lr is not None:
        logs["lr"] = float(lr)
    if plan.eval_fn is not None:
        ev = run_evaluation(plan.eval_fn, loop.carry[0], loop.carry[1], plan.eval_data, plan.eval_batch_size)
        logs.update({f"eval_{k}": v for k, v in ev.items()})
    for k, v in logs.items():
        loop.history[k] = np.append(loop.history.get(k, np.zeros((0,))), v)
    running = zero_running(plan.metrics)
    loop.carry = loop.carry[:5] + (running if plan.mesh is None else replicate(running, plan.mesh),)
    loop.epoch, loop.pos = loop.epoch + 1, 0
    return logs


def _check_finite(plan: _Plan, loop: _Loop) -> dict[str, np.ndarray]:
    """The running sums, read from the device; raises if a step found a non-finite loss or gradient."""
    run = jax.device_get(loop.carry[5])
    if int(run["bad_step"]) >= 0:
        raise _nonfinite_error(plan, loop, run)
    return run


def _nonfinite_error(plan: _Plan, loop: _Loop, run: Mapping[str, np.ndarray]) -> NonFiniteError:
    bad, epoch, spe = int(run["bad_step"]), loop.epoch, plan.steps or max(loop.step - loop.pos, 1)
    what = "loss" if not np.isfinite(run["bad_loss"]) else "gradient norm"
    value = run["bad_loss"] if what == "loss" else run["bad_grad_norm"]
    err = NonFiniteError(
        f"training stopped: the {what} became {float(value)} in step {bad + 1} (epoch {epoch + 1} of "
        f"{plan.epochs}, step {bad - epoch * spe + 1} of {spe} in that epoch; the loss was "
        f"{float(run['bad_loss'])}). "
        + (f"That update was not applied: error.train_state holds the state after the last finite step "
           f"({bad} steps). " if plan.guard_nonfinite else "error.train_state holds the state when it was found. ")
        + "Try a lower learning rate, check the data for NaN/inf, or clip gradients "
        "(optax.clip_by_global_norm)."
    )
    err.epoch, err.step, err.loss = epoch, bad, float(run["bad_loss"])
    err.train_state = resumable(_state_now(plan, loop))  # resumes once the data is fixed
    return err


# --------------------------------------------------------------------------- the progress bar


def _open_bar(plan: _Plan, loop: _Loop) -> Any:
    """A tqdm bar over the current epoch's steps, or None."""
    if plan.tqdm is None:
        return None
    return plan.tqdm(total=plan.steps, initial=loop.pos, desc=f"epoch {loop.epoch + 1}/{plan.epochs}", unit="step",
                     leave=True, dynamic_ncols=True)


def _fmt(logs: Mapping[str, float]) -> str:
    return ", ".join(f"{k.replace('accuracy', 'acc')}={float(v):.4g}" for k, v in logs.items())


def _tqdm():
    try:
        from tqdm.auto import tqdm  # in the [train] extra: no bar without it
    except ImportError:  # pragma: no cover
        warnings.warn("fnn.fit: no progress bar without tqdm: pip install 'fnn[train]' (or tqdm), or progress=False",
                      stacklevel=4)
        return None
    return tqdm


__all__ = ["fit"]
