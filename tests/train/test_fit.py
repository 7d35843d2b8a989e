"""The trainer: fit, the train and eval steps, TrainState resume, torch7's StochasticGradient.

Specification by small cases: a hand-written loop gives the same params as ``fit``; one
compile for training and one for evaluation; padded batches are masked exactly; a resumed
run replays bit-identically; non-finite losses stop with the exact step; PyTorch's training
loop (SGD with momentum, Adam) gives the same params.
"""

from __future__ import annotations

import importlib.util
import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnn
from fnn.errors import ConfigError, NonFiniteError
from fnn.train import (
    StochasticGradient,
    TrainState,
    accuracy,
    evaluate,
    fit,
    make_eval_step,
    make_train_step,
    steps_per_epoch,
    torch7_learning_rate,
)

# --------------------------------------------------------------------------- helpers


class Counting:
    """Wraps a criterion/metric and counts how often it is traced (called with tracers)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, out, target):
        self.calls += 1
        return self.fn(out, target)


def classifier(dropout: float = 0.0, batchnorm: bool = False):
    layers = [fnn.Linear(4, 6)] + ([fnn.BatchNormalization(6)] if batchnorm else []) + [fnn.Tanh()]
    if dropout:
        layers.append(fnn.Dropout(dropout))
    return fnn.Sequential(*layers, fnn.Linear(6, 3), fnn.LogSoftMax())


# Shared model, criterion and optimizer objects: fit caches its compiled steps per object, so
# tests that reuse them compile once (the suite runs on two shared cores).
MODEL = classifier()
NLL = fnn.ClassNLLCriterion()
SGD = optax.sgd(0.1)
SGD0 = optax.sgd(0.0)  # learning rate 0: the params stay at their init


def blobs(n: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)) + 2.0 * np.eye(3, 4)[y]
    return jnp.asarray(x, jnp.float64), jnp.asarray(y, jnp.int32)


def nll(out, target):
    return -jnp.mean(jnp.take_along_axis(out, target[:, None], axis=1))


def leaves_equal(a, b, rtol=1e-12, atol=1e-14):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=rtol, atol=atol)


def manual_loop(model, criterion, opt, x, y, *, rng, epochs, batch_size):
    """The ten-line loop of the module docstring, with fit's documented keys."""
    init_key, key = jax.random.split(rng)
    _, params, state = model.stateful.init(init_key, (-1,) + x.shape[1:], x.dtype)
    opt_state = opt.init(params)
    step = make_train_step(model, criterion, opt, donate=False)
    n, s, losses = len(y), 0, []
    for e in range(epochs):
        perm = jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 1), e), n)
        total = 0.0
        for i in range(n // batch_size):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            params, state, opt_state, loss = step(
                params, state, opt_state, x[idx], y[idx], jax.random.fold_in(jax.random.fold_in(key, 0), s)
            )
            total, s = total + float(loss), s + 1
        losses.append(total / (n // batch_size))
    return params, state, opt_state, losses


# --------------------------------------------------------------------------- fit = the ten-line loop


@pytest.mark.parametrize("kind", ["plain", "batchnorm+dropout"])
def test_fit_equals_the_hand_written_loop(kind):
    x, y = blobs(14)
    model = classifier() if kind == "plain" else classifier(dropout=0.3, batchnorm=True)
    opt = optax.sgd(0.1, momentum=0.9)
    ts = fit(model, NLL, opt, (x, y), epochs=3, batch_size=4, rng=jax.random.key(7),
             progress=False)
    params, state, opt_state, losses = manual_loop(model, NLL, opt, x, y, rng=jax.random.key(7),
                                                   epochs=3, batch_size=4)
    leaves_equal(ts.params, params)
    leaves_equal(ts.state, state)  # BatchNorm statistics are threaded through every step
    leaves_equal(ts.opt_state, opt_state)
    np.testing.assert_allclose(ts.history["loss"], losses, rtol=1e-12)
    assert (int(ts.step), int(ts.epoch)) == (9, 3)  # 14 // 4 = 3 steps per epoch, the last 2 examples dropped


def test_batch_size_one_is_torch7_per_example_sgd():
    # Linear(2 -> 1) + MSE, lr 0.1, in data order: p <- p - lr * dloss/dp after every example.
    x = np.array([[1.0, 2.0], [0.5, -1.0], [-1.0, 0.0]])
    y = np.array([[1.0], [0.0], [2.0]])
    w, b = np.array([[0.1, -0.2]]), np.array([0.3])
    for _ in range(2):
        for xi, yi in zip(x, y, strict=True):
            err = w @ xi + b - yi  # MSE of one output: (err)^2, d/dout = 2 err
            w, b = w - 0.1 * 2 * err[:, None] * xi[None, :], b - 0.1 * 2 * err
    params = ({"weight": jnp.array([[0.1, -0.2]]), "bias": jnp.array([0.3])},)
    model = fnn.Sequential(fnn.Linear(2, 1))
    ts = fit(model, fnn.MSECriterion(), SGD, (x, y), epochs=2, batch_size=1, rng=0, params=params,
             shuffle=False, progress=False)
    np.testing.assert_allclose(ts.params[0]["weight"], w, rtol=1e-12)
    np.testing.assert_allclose(ts.params[0]["bias"], b, rtol=1e-12)


def test_each_epoch_draws_a_new_permutation_and_once_reuses_the_first():
    n = 6
    x = jnp.arange(float(n))[:, None]

    def order(out, target):  # the batch order, as the digits of one number
        return jnp.sum(target[:, 0] * 10.0 ** jnp.arange(n - 1, -1, -1.0))

    model, zero = fnn.Linear(1, 1), lambda o, t: jnp.mean(o * 0.0)

    def epoch_orders(shuffle):
        ts = fit(model, zero, SGD0, (x, x), epochs=3, batch_size=n, rng=1, shuffle=shuffle,
                 metrics={"order": order}, progress=False)
        return [[int(d) for d in f"{int(round(v)):06d}"] for v in ts.history["order"]]

    key = jax.random.split(jax.random.key(1))[1]
    expected = [np.asarray(jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 1), e), n)).tolist()
                for e in range(3)]
    assert epoch_orders(True) == expected  # fold_in(fold_in(key, 1), epoch), as documented
    assert len({tuple(o) for o in expected}) == 3
    assert epoch_orders("once") == [expected[0]] * 3  # torch7: drawn once, reused
    assert epoch_orders(False) == [list(range(n))] * 3


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_the_host_sorted_permutation_is_jax_random_permutation(impl):
    # On the CPU fit draws jax.random.permutation's sort keys on the device and sorts them with numpy:
    # bit-identical to jax.random.permutation for one sort round (n <= 1625) and two (n > 1625).
    from fnn.train._step import permutation

    rng = jax.random.key_data(jax.random.key(7, impl=impl))
    for n in (1, 2, 9, 1625, 1626, 6000):
        for epoch in (0, 4):
            key = jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(rng, impl=impl), 1), epoch)
            want, got = jax.random.permutation(key, n), permutation(n, impl)(rng, epoch)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_the_host_sort_is_a_stable_argsort_of_32_bit_keys():
    # Two 16-bit radix passes: ties keep their order, the high half decides first.
    from fnn.train._step import _stable_argsort_u32

    rng = np.random.default_rng(0)
    for keys in (rng.integers(0, 4, 500), rng.integers(0, 2**32, 500), rng.choice([0, 65535, 65536, 2**32 - 1], 500),
                 np.zeros(3), np.zeros(0)):
        keys = keys.astype(np.uint32)
        np.testing.assert_array_equal(_stable_argsort_u32(keys), np.argsort(keys, kind="stable"))
    np.testing.assert_array_equal(_stable_argsort_u32(np.array([65536, 65535, 1, 65536], np.uint32)), [2, 1, 0, 3])


# --------------------------------------------------------------------------- compile once


@pytest.mark.parametrize("drop_last", [True, False])
def test_compiles_once_for_training_and_once_for_evaluation(drop_last):
    x, y = blobs(11)
    ex, ey = blobs(7, seed=1)
    crit = Counting(fnn.ClassNLLCriterion())
    metric = Counting(accuracy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ts = fit(classifier(dropout=0.1), crit, optax.adam(1e-2), (x, y), epochs=4, batch_size=4, rng=0,
                 eval_data=(ex, ey), eval_batch_size=3, metrics={"acc": metric}, drop_last=drop_last,
                 progress=False)
    assert crit.calls == 2  # one trace of the train step, one of the eval step (3 padded eval batches)
    assert metric.calls == 2
    assert not [w for w in caught if "compiled" in str(w.message)]
    assert int(ts.step) == 4 * steps_per_epoch(11, 4, drop_last)
    assert len(ts.history["eval_loss"]) == 4


def test_reuses_compiled_steps_across_fit_calls():
    x, y = blobs(8)
    model, crit, opt = classifier(), Counting(nll), optax.sgd(0.1)
    fit(model, crit, opt, (x, y), epochs=1, batch_size=4, rng=0, progress=False, eval_data=(x, y))
    fit(model, crit, opt, (x, y), epochs=2, batch_size=4, rng=1, progress=False, eval_data=(x, y))
    assert crit.calls == 2


# --------------------------------------------------------------------------- the last partial batch


def test_drop_last_false_masks_the_padding_exactly():
    x, y = blobs(10)
    model = MODEL
    _, params = model.init(jax.random.key(0), (-1, 4), jnp.float64)
    full = float(nll(model.apply(params, x), y))
    ts = fit(model, NLL, SGD0, (x, y), epochs=1, batch_size=4, params=params, rng=0,
             drop_last=False, progress=False)
    assert int(ts.step) == 3  # 4 + 4 + 2 (padded to 4, two examples masked)
    np.testing.assert_allclose(ts.history["loss"][0], full, rtol=1e-12)  # mean over all 10 examples
    acc = float(accuracy(model.apply(params, x), y))
    np.testing.assert_allclose(ts.history["accuracy"][0], acc, rtol=1e-12)


def test_drop_last_false_last_step_equals_a_step_on_the_partial_batch():
    x, y = blobs(10)
    model, opt = MODEL, SGD
    _, params = model.init(jax.random.key(0), (-1, 4), jnp.float64)
    ts = fit(model, NLL, opt, (x, y), epochs=1, batch_size=4, params=params, rng=0,
             drop_last=False, shuffle=False, progress=False)
    step = make_train_step(model, NLL, opt, donate=False)
    p, s, o = params, model._empty_state(), opt.init(params)
    for lo, hi in ((0, 4), (4, 8), (8, 10)):
        p, s, o, _ = step(p, s, o, x[lo:hi], y[lo:hi], jax.random.key(0))
    leaves_equal(ts.params, p)


def test_drop_last_true_drops_the_remainder_each_epoch():
    x, y = blobs(10)
    model = MODEL
    _, params = model.init(jax.random.key(0), (-1, 4), jnp.float64)
    ts = fit(model, NLL, SGD0, (x, y), epochs=1, batch_size=4, params=params, rng=0,
             shuffle=False, progress=False)
    assert int(ts.step) == 2
    np.testing.assert_allclose(ts.history["loss"][0], float(nll(model.apply(params, x[:8]), y[:8])), rtol=1e-12)


# --------------------------------------------------------------------------- TrainState: resume


def test_resume_after_n_steps_then_m_more_equals_n_plus_m_straight():
    x, y = blobs(14)
    ex, ey = blobs(5, seed=3)
    model = classifier(dropout=0.2, batchnorm=True)
    opt = optax.adam(optax.cosine_decay_schedule(0.05, 20))
    kw = dict(epochs=5, batch_size=4, eval_data=(ex, ey), progress=False)
    straight = fit(model, NLL, opt, (x, y), rng=jax.random.key(4), max_steps=11, **kw)
    first = fit(model, NLL, opt, (x, y), rng=jax.random.key(4), max_steps=5, **kw)
    assert (int(first.step), int(first.epoch)) == (5, 1)  # stopped mid-epoch 2
    # Round trip through host memory, as a checkpoint would: plain numpy arrays.
    restored = jax.tree.map(np.asarray, first)
    assert all(isinstance(leaf, np.ndarray) for leaf in jax.tree.leaves(restored))
    resumed = fit(model, NLL, opt, (x, y), resume=restored, max_steps=11, **kw)
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # bit-identical, history included
    assert sorted(straight.history) == ["accuracy", "eval_accuracy", "eval_loss", "loss"]
    assert len(straight.history["loss"]) == 3  # 11 steps = 3 full epochs of 3 steps, then 2 more
    # ... and finishing both runs gives the same final state again.
    a = fit(model, NLL, opt, (x, y), resume=straight, **kw)
    b = fit(model, NLL, opt, (x, y), resume=resumed, **kw)
    leaves_equal(a, b, rtol=0, atol=0)
    assert (int(a.step), int(a.epoch), len(a.history["loss"])) == (15, 5, 5)


def test_train_state_is_a_pytree_of_arrays_and_fit_does_not_consume_its_inputs():
    x, y = blobs(8)
    model, opt = MODEL, SGD
    ts = TrainState.create(model, opt, 3, (-1, 4), jnp.float64, metrics=(("accuracy", accuracy),))
    assert all(isinstance(v, jax.Array) for v in jax.tree.leaves(ts))
    assert ts.rng.dtype == jnp.uint32 and ts.key.dtype == jax.random.key(0).dtype
    params = ts.params
    out = fit(model, NLL, opt, (x, y), epochs=2, batch_size=4, resume=ts, progress=False)
    assert not any(a.is_deleted() for a in jax.tree.leaves(params))  # donation never eats the caller's arrays
    assert int(out.epoch) == 2 and int(ts.epoch) == 0
    assert jax.tree.structure(out.params) == jax.tree.structure(ts.params)


def test_resume_raises_no_deprecation_warning():
    # The optimizer-state check reads each leaf's dtype from the array (numpy 2.4 deprecates taking it
    # implicitly from an array: a future error on every resume).
    x, y = blobs(8)
    ts = fit(MODEL, NLL, SGD, (x, y), epochs=1, batch_size=4, rng=0, progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(MODEL, NLL, SGD, (x, y), epochs=2, batch_size=4, resume=ts, progress=False)
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning)], [str(w.message) for w in caught]


def test_resume_checks_its_arguments():
    x, y = blobs(8)
    model, opt = MODEL, SGD
    ts = fit(model, nll, opt, (x, y), epochs=1, batch_size=4, rng=0, progress=False)
    with pytest.raises(ConfigError, match="carries its own rng"):
        fit(model, nll, opt, (x, y), epochs=2, batch_size=4, rng=0, resume=ts, progress=False)
    with pytest.raises(ConfigError, match="does not match this optimizer"):
        fit(model, nll, optax.adam(0.1), (x, y), epochs=2, batch_size=4, resume=ts, progress=False)
    with pytest.raises(ConfigError, match="same metrics"):
        fit(model, nll, opt, (x, y), epochs=2, batch_size=4, resume=ts, metrics={}, progress=False)
    mid = fit(model, nll, opt, (x, y), epochs=3, batch_size=4, rng=0, max_steps=3, progress=False)
    with pytest.raises(ConfigError, match="steps per epoch"):
        fit(model, nll, opt, (x, y), epochs=3, batch_size=2, resume=mid, progress=False)


# --------------------------------------------------------------------------- non-finite values


def test_non_finite_loss_stops_with_the_exact_step_and_the_last_finite_state():
    x, y = blobs(12)
    x = x.at[9, 0].set(jnp.nan)  # in order, batches of 4: example 9 is in the 3rd step of epoch 1
    model, opt = MODEL, SGD
    kw = dict(batch_size=4, rng=2, shuffle=False, progress=False)
    with pytest.raises(NonFiniteError) as info:
        fit(model, NLL, opt, (x, y), epochs=4, **kw)
    err = info.value
    assert (err.step, err.epoch) == (2, 0) and np.isnan(err.loss)  # 2 steps completed before it
    assert "the loss became nan in step 3 (epoch 1 of 4, step 3 of 3 in that epoch" in str(err)
    assert "error.train_state" in str(err)
    good = fit(model, NLL, opt, (x, y), epochs=4, max_steps=2, **kw)
    leaves_equal(err.train_state.params, good.params, rtol=0, atol=0)
    assert int(err.train_state.step) == 2
    assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(err.train_state.params))
    # Without the guard the step is still exact; the state is the one at detection (NaN here).
    with pytest.raises(NonFiniteError, match="in step 3 .*state when it was found") as info:
        fit(model, NLL, opt, (x, y), epochs=4, guard_nonfinite=False, **kw)
    assert info.value.step == 2
    assert not bool(jnp.all(jnp.isfinite(info.value.train_state.params[0]["weight"])))


def test_non_finite_gradient_is_named():
    x, y = blobs(4)

    def sqrt_loss(out, target):  # finite at 0, infinite slope there
        return jnp.sqrt(jnp.sum(out * 0.0)) + nll(out, target)

    with pytest.raises(NonFiniteError, match="gradient norm became nan"):
        fit(MODEL, sqrt_loss, SGD, (x, y), epochs=1, batch_size=4, rng=0, progress=False)


def test_nan_is_found_while_the_bar_refreshes():
    x, y = blobs(8)
    with pytest.raises(NonFiniteError, match="inf"):
        fit(MODEL, lambda o, t: nll(o, t) + jnp.inf, SGD, (x, y), epochs=1, batch_size=2, rng=0,
            progress=True, refresh_seconds=0.0)


# --------------------------------------------------------------------------- optimizers, state, metrics


def test_optax_schedules_see_the_step_count():
    x, y = blobs(8)
    model = MODEL
    schedule = optax.piecewise_constant_schedule(0.1, {3: 0.0})  # lr 0 from step 3 on
    a = fit(model, nll, optax.sgd(schedule), (x, y), epochs=5, batch_size=2, rng=0, progress=False)
    b = fit(model, nll, optax.sgd(schedule), (x, y), epochs=1, batch_size=2, rng=0, progress=False, max_steps=3)
    leaves_equal(a.params, b.params, rtol=0, atol=0)
    assert int(a.step) == 20


def test_stateful_models_train_through_model_stateful():
    x, y = blobs(12)
    model = classifier(batchnorm=True)
    ts = fit(model, nll, SGD, (x, y), epochs=2, batch_size=4, rng=0, eval_data=(x, y), progress=False)
    stats = ts.state[1]
    assert stats["running_mean"].shape == (6,) and bool(jnp.any(stats["running_mean"] != 0))
    assert bool(jnp.any(stats["running_var"] != 1))
    # Evaluation runs in eval mode with the final running statistics.
    out, _ = model.stateful.apply(ts.params, ts.state, x)
    np.testing.assert_allclose(ts.history["eval_loss"][-1], float(nll(out, y)), rtol=1e-12)


def test_metrics_default_to_accuracy_for_integer_targets_only():
    x, y = blobs(8)
    ts = fit(MODEL, nll, SGD, (x, y), epochs=1, batch_size=4, rng=0, progress=False)
    assert sorted(ts.history) == ["accuracy", "loss"]
    reg = fit(fnn.Linear(4, 1), fnn.MSECriterion(), SGD, (x, x[:, :1]), epochs=1, batch_size=4, rng=0,
              progress=False)
    assert sorted(reg.history) == ["loss"]
    mae = fit(fnn.Linear(4, 1), fnn.MSECriterion(), optax.sgd(0.0), (x, x[:, :1]), epochs=1, batch_size=8, rng=0,
              eval_data=(x, x[:, :1]), metrics={"mae": lambda o, t: jnp.mean(jnp.abs(o - t))}, progress=False)
    assert sorted(mae.history) == ["eval_loss", "eval_mae", "loss", "mae"]
    np.testing.assert_allclose(mae.history["mae"], mae.history["eval_mae"], rtol=1e-12)  # lr 0, same data
    with pytest.raises(ConfigError, match="reserved"):
        fit(MODEL, nll, SGD, (x, y), epochs=1, batch_size=4, rng=0, metrics={"loss": nll})


def test_on_epoch_gets_a_safe_copy_and_can_stop():
    x, y = blobs(8)
    seen = []

    def on_epoch(ts, logs):
        seen.append((ts, logs))
        return int(ts.epoch) == 2

    out = fit(MODEL, nll, SGD, (x, y), epochs=10, batch_size=4, rng=0, progress=False,
              on_epoch=on_epoch)
    assert int(out.epoch) == 2 and len(seen) == 2
    assert set(seen[0][1]) == {"loss", "accuracy"}
    assert float(jnp.sum(seen[0][0].params[0]["weight"])) != 0.0  # still readable: not donated away


def test_progress_bar_shows_epochs_and_the_running_loss(capsys):
    x, y = blobs(8)
    fit(MODEL, nll, SGD, (x, y), epochs=2, batch_size=4, rng=0, eval_data=(x, y),
        progress=True, refresh_seconds=0.0)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "loss=" in err and "eval_acc=" in err


def test_fit_rejects_bad_arguments():
    x, y = blobs(8)
    args = (MODEL, nll, SGD, (x, y))
    with pytest.raises(ConfigError, match="batch_size must be a positive int"):
        fit(*args, epochs=1, batch_size=0, rng=0)
    with pytest.raises(ConfigError, match="exceeds the 8 examples"):
        fit(*args, epochs=1, batch_size=9, rng=0)
    with pytest.raises(ConfigError, match="give rng"):
        fit(*args, epochs=1, batch_size=4)
    with pytest.raises(ConfigError, match="shuffle must be"):
        fit(*args, epochs=1, batch_size=4, rng=0, shuffle="always")
    with pytest.raises(ConfigError, match="same leading"):
        fit(MODEL, nll, SGD, (x, y[:5]), epochs=1, batch_size=4, rng=0)
    with pytest.raises(ConfigError, match="PRNG key"):
        fit(*args, epochs=1, batch_size=4, rng="seed")


# --------------------------------------------------------------------------- the pieces


def test_make_train_step_is_value_and_grad_plus_optax_and_donates():
    x, y = blobs(6)
    model, opt = MODEL, SGD
    _, params, state = model.stateful.init(jax.random.key(0), (-1, 4), jnp.float64)
    loss, grads = jax.value_and_grad(lambda p: nll(model.apply(p, x), y))(params)
    expected = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
    donated = jax.tree.map(jnp.copy, params)
    step = make_train_step(model, nll, opt)
    new, _, _, got_loss = step(donated, state, opt.init(donated), x, y, jax.random.key(1))
    leaves_equal(new, expected)
    np.testing.assert_allclose(got_loss, loss, rtol=1e-14)
    assert all(a.is_deleted() for a in jax.tree.leaves(donated))


def test_evaluate_averages_over_every_example_in_padded_batches():
    x, y = blobs(7)
    model = MODEL
    _, params = model.init(jax.random.key(0), (-1, 4), jnp.float64)
    out = model.apply(params, x)
    got = evaluate(model, params, (x, y), criterion=fnn.ClassNLLCriterion(), batch_size=3)
    assert set(got) == {"loss", "accuracy"}
    np.testing.assert_allclose(got["loss"], float(nll(out, y)), rtol=1e-12)
    np.testing.assert_allclose(got["accuracy"], float(accuracy(out, y)), rtol=1e-12)
    # Eval mode is deterministic: Dropout is the identity and needs no key.
    noisy = classifier(dropout=0.5)
    _, p2 = noisy.init(jax.random.key(0), (-1, 4), jnp.float64)
    assert evaluate(noisy, p2, (x, y)) == evaluate(noisy, p2, (x, y))
    step = make_eval_step(model, nll, {"acc": accuracy})
    one = step(params, model._empty_state(), x, y)
    np.testing.assert_allclose(one["loss"], float(nll(out, y)), rtol=1e-12)
    assert step.traces == 1


def test_accuracy_by_hand():
    out = jnp.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.9, 0.05, 0.05]])
    assert float(accuracy(out, jnp.array([1, 0, 0, 1]))) == 0.5
    assert float(accuracy(out, jax.nn.one_hot(jnp.array([1, 0, 2, 0]), 3))) == 1.0


# --------------------------------------------------------------------------- torch7's StochasticGradient


def test_torch7_learning_rate_decays_from_the_second_epoch_with_counter_two():
    sched = torch7_learning_rate(0.1, 0.5, steps_per_epoch=3)
    got = [float(sched(jnp.asarray(c))) for c in range(9)]
    np.testing.assert_allclose(got, [0.1] * 3 + [0.1 / 2.0] * 3 + [0.1 / 2.5] * 3)


def test_stochastic_gradient_matches_torch7_by_hand(capsys):
    # torch7: one permutation drawn once; per example p <- p - lr_epoch * grad; lr_k = lr / (1 + k * decay), k >= 2.
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -0.5]])
    y = np.array([[1.0], [-1.0], [0.0], [2.0]])
    w0, b0 = np.array([[0.2, -0.1]]), np.array([0.05])
    params = ({"weight": jnp.asarray(w0), "bias": jnp.asarray(b0)},)
    trainer = StochasticGradient(fnn.Sequential(fnn.Linear(2, 1)), fnn.MSECriterion())
    trainer.learning_rate, trainer.learning_rate_decay, trainer.max_iteration = 0.1, 0.5, 3
    ts = trainer.train((x, y), rng=jax.random.key(5), params=params)
    perm = np.asarray(jax.random.permutation(
        jax.random.fold_in(jax.random.fold_in(jax.random.split(jax.random.key(5))[1], 1), 0), 4))
    w, b, errors = w0, b0, []
    for k in (1, 2, 3):
        lr, total = (0.1 if k == 1 else 0.1 / (1 + k * 0.5)), 0.0
        for i in perm:
            err = w @ x[i] + b - y[i]
            total += float(err[0] ** 2)
            w, b = w - lr * 2 * err[:, None] * x[i][None, :], b - lr * 2 * err
        errors.append(total / 4)
    np.testing.assert_allclose(ts.params[0]["weight"], w, rtol=1e-12)
    np.testing.assert_allclose(ts.params[0]["bias"], b, rtol=1e-12)
    np.testing.assert_allclose(ts.history["loss"], errors, rtol=1e-12)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# StochasticGradient: training"
    assert lines[1:4] == [f"# current error = {e:.6g}" for e in errors]
    assert lines[4] == "# StochasticGradient: you have reached the maximum number of iterations"


# --------------------------------------------------------------------------- PyTorch parity


@pytest.mark.parametrize("which", ["sgd_momentum", "adam"])
def test_fit_matches_a_pytorch_training_loop(torch, which):
    x, y = blobs(12)
    model = fnn.Sequential(fnn.Linear(4, 5), fnn.Tanh(), fnn.Linear(5, 3), fnn.LogSoftMax())
    _, params = model.init(jax.random.key(0), (-1, 4), jnp.float64)
    opt = optax.sgd(0.1, momentum=0.9) if which == "sgd_momentum" else optax.adam(0.05)
    ts = fit(model, NLL, opt, (x, y), epochs=3, batch_size=4, params=params, rng=0,
             shuffle=False, progress=False)

    net = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3), torch.nn.LogSoftmax(1))
    with torch.no_grad():
        for i, p in ((0, params[0]), (2, params[2])):
            net[i].weight.copy_(torch.tensor(np.asarray(p["weight"])))
            net[i].bias.copy_(torch.tensor(np.asarray(p["bias"])))
    topt = (torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9) if which == "sgd_momentum"
            else torch.optim.Adam(net.parameters(), lr=0.05, eps=1e-8))
    tx, ty = torch.tensor(np.asarray(x)), torch.tensor(np.asarray(y), dtype=torch.long)
    losses = []
    for _ in range(3):
        total = 0.0
        for i in range(3):
            topt.zero_grad()
            loss = torch.nn.functional.nll_loss(net(tx[4 * i : 4 * i + 4]), ty[4 * i : 4 * i + 4])
            loss.backward()
            topt.step()
            total += loss.item()
        losses.append(total / 3)
    for i, p in ((0, ts.params[0]), (2, ts.params[2])):
        np.testing.assert_allclose(p["weight"], net[i].weight.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(p["bias"], net[i].bias.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ts.history["loss"], losses, rtol=1e-10)


# --------------------------------------------------------------------------- the small examples


def run_example(name: str, argv: list[str]):
    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def test_logistic_unit_example_learns_or_with_per_example_sgd(capsys):
    result = run_example("logistic_unit", ["--epochs", "8"])
    out = capsys.readouterr().out
    assert out.count("# current error = ") == 8 and "you have reached the maximum number of iterations" in out
    assert result["loss"][-1] < result["loss"][0] and result["accuracy"] == 1.0
    np.testing.assert_array_equal(np.asarray(result["corners"]) > 0.5, [False, True, True, True])


def test_regression_3layer_example_fits_the_curve(capsys):
    result = run_example("regression_3layer", ["--epochs", "60", "--every", "30"])
    out = capsys.readouterr().out
    assert "epoch   30  train MSE" in out and "test MSE" in out
    assert result["test_mse"] < 0.03  # noise variance 0.01; the untrained net is near 0.3
    assert result["history"]["loss"][-1] < result["history"]["loss"][0] / 5
