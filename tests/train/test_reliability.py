"""Training mistakes get the right diagnosis (issue 14): labels are checked once before fit and
evaluate run, the state a NonFiniteError hands back resumes once the data is fixed, and
examples/train_lenet.py validates its arguments with fnn's ConfigError."""

from __future__ import annotations

import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnn
from fnn.errors import ConfigError, IndexRangeError, NonFiniteError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = fnn.Sequential(fnn.Linear(4, 6), fnn.Tanh(), fnn.Linear(6, 3), fnn.LogSoftMax())
NLL = fnn.ClassNLLCriterion()
SGD = optax.sgd(0.1)


def blobs(n: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)) + 2.0 * np.eye(3, 4)[y]
    return jnp.asarray(x, jnp.float64), jnp.asarray(y, jnp.int32)


def test_out_of_range_labels_are_found_before_training_not_as_a_nan():
    x, y = blobs()
    bad = y.at[5].set(3)
    with pytest.raises(IndexRangeError, match=r"fit: data holds a class label outside .*class index 3 \(at \(5,\)\)"):
        fnn.fit(MODEL, NLL, SGD, (x, bad), epochs=1, batch_size=4, rng=0, progress=False)
    with pytest.raises(IndexRangeError, match=r"fit: eval_data holds a class label"):
        fnn.fit(MODEL, NLL, SGD, (x, y), eval_data=(x, bad.at[0].set(-2)), epochs=1, batch_size=4, rng=0,
                progress=False)
    _, params = MODEL.init(jax.random.key(0), (-1, 4), jnp.float64)
    with pytest.raises(IndexRangeError, match=r"evaluate: data holds a class label"):
        fnn.evaluate(MODEL, params, (x, bad), criterion=NLL)
    # ignore_index labels are fine; so are plain loss functions (the caller's to check)
    fit = fnn.fit(MODEL, fnn.ClassNLLCriterion(ignore_index=-100), SGD, (x, y.at[5].set(-100)), epochs=1,
                  batch_size=4, rng=0, progress=False)
    assert int(fit.step) == 3
    assert np.isfinite(fnn.evaluate(MODEL, params, (x, y), criterion=NLL)["loss"])


def test_jitted_criterion_behaviour_is_as_documented():
    """Eager: IndexRangeError. Under jit the target is abstract: that sample's loss is NaN (documented)."""
    logp = jnp.log(jnp.full((2, 3), 1 / 3))
    t = jnp.array([0, 3])
    with pytest.raises(IndexRangeError):
        NLL(logp, t)
    assert np.isnan(float(jax.jit(NLL)(logp, t)))
    assert "NaN" in fnn.criteria.__doc__ and "fit" in fnn.criteria.__doc__


def test_a_non_finite_error_state_resumes_once_the_data_is_fixed():
    x, y = blobs(12)
    poisoned = x.at[9, 0].set(jnp.nan)  # batches of 4 in order: example 9 is in step 3
    kw = dict(batch_size=4, progress=False, shuffle=False)
    with pytest.raises(NonFiniteError) as info:
        fnn.fit(MODEL, NLL, SGD, (poisoned, y), epochs=2, rng=2, **kw)
    ts = info.value.train_state
    assert int(ts.step) == 2 and int(ts.running["bad_step"]) == -1
    resumed = fnn.fit(MODEL, NLL, SGD, (x, y), epochs=2, resume=ts, **kw)
    straight = fnn.fit(MODEL, NLL, SGD, (x, y), epochs=2, rng=2, **kw)
    assert int(resumed.step) == int(straight.step) == 6
    for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(straight.params), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(resumed.history["loss"], straight.history["loss"])


def _train_lenet():
    spec = importlib.util.spec_from_file_location("train_lenet", os.path.join(ROOT, "examples", "train_lenet.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv, match", [
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--lr", "0"], "--lr must be > 0"),
    (["--batch-size", "5000"], "--batch-size 5000 exceeds the 1500 training images"),
])
def test_train_lenet_arguments_are_validated(argv, match, tmp_path):
    with pytest.raises(ConfigError, match=match):
        _train_lenet().main(argv + ["--out", str(tmp_path), "--no-progress"])


def test_opt_in_checkify_mode_reports_the_bad_index_under_jit():
    from jax.experimental import checkify

    logp, t = jnp.log(jnp.full((3, 3), 1 / 3)), jnp.array([0, -100, 4])
    with fnn.criteria.checkify_targets():
        err, loss = checkify.checkify(jax.jit(NLL))(logp, t)
    with pytest.raises(checkify.JaxRuntimeError, match=r"class index 4 outside \[0, 3\)"):
        err.throw()
    with fnn.criteria.checkify_targets():
        err, loss = checkify.checkify(jax.jit(NLL))(logp, t.at[2].set(1))  # ignore_index -100 is fine
    err.throw()
    assert np.isfinite(float(loss))
