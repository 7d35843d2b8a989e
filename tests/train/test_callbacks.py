"""fit's callbacks: per-step and per-epoch calls, the CSV and TensorBoard loggers, lr in history, value=."""

import csv

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnn
from fnn.errors import ConfigError

X = jax.random.normal(jax.random.key(0), (32, 3))
Y = X @ jnp.array([[1.0], [-2.0], [0.5]])
MODEL = fnn.Linear(3, 1)


def mse(out, target):
    return jnp.mean((out - target) ** 2)


def _fit(optimizer=None, **kw):
    kw.setdefault("epochs", 3)
    return fnn.fit(MODEL, mse, optimizer or optax.sgd(0.05), (X, Y), batch_size=8, rng=1, progress=False, **kw)


class Recorder(fnn.train.Callback):
    every_steps = 3

    def __init__(self):
        self.calls = []

    def on_train_begin(self, train_state):
        self.calls.append(("begin", int(train_state.step)))

    def on_step(self, step, logs):
        self.calls.append(("step", step, sorted(logs)))

    def on_epoch(self, train_state, logs):
        self.calls.append(("epoch", int(train_state.epoch), sorted(logs)))

    def on_train_end(self, train_state):
        self.calls.append(("end", int(train_state.step)))


def test_callbacks_are_called_in_order_with_the_logs():
    rec = Recorder()
    _fit(epochs=2, callbacks=[rec])
    assert rec.calls[0] == ("begin", 0)
    assert rec.calls[-1] == ("end", 8)
    steps = [c[1] for c in rec.calls if c[0] == "step"]
    assert steps == [3, 6]
    assert [c[1] for c in rec.calls if c[0] == "epoch"] == [1, 2]
    assert all(c[2] == ["loss"] for c in rec.calls if c[0] in ("step", "epoch"))


def test_a_callback_returning_true_stops_training():
    class StopAfterOne(fnn.train.Callback):
        def on_epoch(self, train_state, logs):
            return True

    ts = _fit(epochs=5, callbacks=[StopAfterOne()])
    assert int(ts.epoch) == 1


def test_a_bad_every_steps_is_a_config_error():
    class Bad(fnn.train.Callback):
        every_steps = -1

    with pytest.raises(ConfigError, match="every_steps"):
        _fit(callbacks=[Bad()])


def test_csv_logger_writes_epoch_and_step_rows(tmp_path):
    path = tmp_path / "logs" / "run.csv"
    ts = _fit(callbacks=[fnn.CSVLogger(path, every_steps=2)])
    rows = list(csv.DictReader(path.read_text().splitlines()))
    epochs = [r for r in rows if r["kind"] == "epoch"]
    assert [int(r["epoch"]) for r in epochs] == [1, 2, 3]
    np.testing.assert_allclose([float(r["loss"]) for r in epochs], ts.history["loss"], rtol=1e-12)
    assert [int(r["step"]) for r in rows if r["kind"] == "step"] == [2, 4, 6, 8, 10, 12]


def test_csv_logger_appends_on_resume(tmp_path):
    path = tmp_path / "run.csv"
    ts = _fit(epochs=1, callbacks=[fnn.CSVLogger(path)])
    fnn.fit(MODEL, mse, optax.sgd(0.05), (X, Y), batch_size=8, resume=ts, epochs=2, progress=False,
            callbacks=[fnn.CSVLogger(path, append=True)])
    assert [r["epoch"] for r in csv.DictReader(path.read_text().splitlines())] == ["1", "2"]


def test_tensorboard_logger_writes_events_tensorboard_reads(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = fnn.TensorBoardLogger(tmp_path, every_steps=4)
    ts = _fit(callbacks=[logger], eval_data=(X, Y))
    logger.close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert {"epoch/loss", "epoch/eval_loss", "step/loss"} <= set(acc.Tags()["scalars"])
    events = acc.Scalars("epoch/loss")
    assert [e.step for e in events] == [4, 8, 12]
    np.testing.assert_allclose([e.value for e in events], ts.history["loss"], rtol=1e-6)
    assert [e.step for e in acc.Scalars("step/loss")] == [4, 8, 12]


def test_learning_rate_is_recorded_for_injected_hyperparams():
    schedule = optax.linear_schedule(0.1, 0.01, 12)
    ts = _fit(optax.inject_hyperparams(optax.sgd)(learning_rate=schedule))
    # The learning rate of each epoch's last step (steps 4, 8, 12 -> counts 3, 7, 11).
    np.testing.assert_allclose(ts.history["lr"], [schedule(3), schedule(7), schedule(11)], rtol=1e-6)


def test_reduce_on_plateau_receives_the_loss_as_value():
    optimizer = optax.chain(optax.sgd(0.05), optax.contrib.reduce_on_plateau(patience=1, cooldown=0, factor=0.5))
    ts = _fit(optimizer, epochs=4)
    assert np.all(np.isfinite(ts.history["loss"]))
    plateau = ts.opt_state[1]
    assert int(plateau.count) >= 0 and float(plateau.best_value) < 1e9  # it saw real losses, not the default


def test_make_train_step_passes_value_too():
    optimizer = optax.chain(optax.sgd(0.05), optax.contrib.reduce_on_plateau())
    _, params, state = MODEL.stateful.init(jax.random.key(0), (-1, 3), X.dtype)
    step = fnn.make_train_step(MODEL, mse, optimizer)
    params, state, opt_state, loss = step(params, state, optimizer.init(params), X, Y, jax.random.key(1))
    assert float(opt_state[1].best_value) == pytest.approx(float(loss), rel=1e-6)
