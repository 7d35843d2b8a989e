"""fit on data that does not fit on the device: generators, re-iterables, epoch functions, grain loaders.

The streamed run equals the in-memory run (``shuffle=False``) for the same batches in the same order,
bit for bit: the same step function and the same per-step keys.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnn
from fnn.errors import ConfigError, DataError

N, B = 48, 8
X = np.asarray(jax.random.normal(jax.random.key(0), (N, 4)))
Y = np.asarray(jax.random.randint(jax.random.key(1), (N,), 0, 3), dtype=np.int32)
MODEL = fnn.Sequential(fnn.Linear(4, 8), fnn.Tanh(), fnn.Dropout(0.2), fnn.Linear(8, 3), fnn.LogSoftMax())
CRITERION = fnn.ClassNLLCriterion()


def _fit(data, **kw):
    kw.setdefault("epochs", 2)
    return fnn.fit(MODEL, CRITERION, optax.adam(1e-2), data, rng=3, progress=False, **kw)


def _batches(x=X, y=Y, b=B):
    return [(x[i:i + b], y[i:i + b]) for i in range(0, len(x), b)]


def _equal(a, b):
    for u, v in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert a.history.keys() == b.history.keys()
    for k in a.history:
        np.testing.assert_array_equal(a.history[k], b.history[k])


@pytest.fixture(scope="module")
def in_memory():
    return _fit((X, Y), batch_size=B, shuffle=False, eval_data=(X, Y))


def test_a_list_of_batches_equals_the_in_memory_run(in_memory):
    _equal(_fit(_batches(), eval_data=(X, Y)), in_memory)


def test_an_epoch_function_of_generators_equals_the_in_memory_run(in_memory):
    def batches(epoch):
        for i in range(0, N, B):
            yield X[i:i + B], Y[i:i + B]

    _equal(_fit(batches, eval_data=(X, Y)), in_memory)


def test_a_grain_loader_equals_the_in_memory_run(in_memory):
    grain = pytest.importorskip("grain")
    records = [(X[i], Y[i]) for i in range(N)]
    loader = grain.DataLoader(
        data_source=records,
        sampler=grain.samplers.IndexSampler(num_records=N, shuffle=False, seed=0, num_epochs=1),
        operations=[grain.transforms.Batch(B, drop_remainder=True)], worker_count=0)
    _equal(_fit(loader, eval_data=(X, Y)), in_memory)


def test_a_generator_object_trains_one_epoch_and_refuses_a_second():
    ts = _fit((b for b in _batches()), epochs=1)
    assert int(ts.epoch) == 1 and int(ts.step) == N // B
    with pytest.raises(ConfigError, match="one-shot iterator"):
        _fit((b for b in _batches()), epochs=2)


def test_the_last_partial_batch_is_dropped_or_masked():
    odd = _batches(X[:44], Y[:44])  # 5 batches of 8 and one of 4
    assert int(_fit(odd, epochs=1).step) == 5
    ts = _fit(odd, epochs=1, drop_last=False)
    assert int(ts.step) == 6 and np.isfinite(ts.history["loss"]).all()


def test_resume_mid_run_replays_the_source_bit_for_bit():
    straight = _fit(_batches(), epochs=3)
    first = _fit(_batches(), epochs=1, max_steps=3)  # stopped mid-epoch: len() tells where
    resumed = fnn.fit(MODEL, CRITERION, optax.adam(1e-2), _batches(), resume=first, epochs=3, progress=False)
    _equal(resumed, straight)


def test_bad_batches_are_data_errors():
    with pytest.raises(DataError, match="more than batch_size"):
        _fit([(X[:8], Y[:8]), (X[:16], Y[:16])])
    with pytest.raises(DataError, match="only an epoch's last may be smaller"):
        _fit([(X[:8], Y[:8]), (X[:4], Y[:4]), (X[:8], Y[:8])])
    with pytest.raises(DataError, match="expected \\(inputs, targets\\)"):
        _fit([X[:8], X[:8], X[:8]])
    with pytest.raises(DataError, match="no batch"):
        _fit([])


def test_a_pair_of_arrays_is_still_in_memory_data():
    from fnn.train._stream import is_batch_source

    assert not is_batch_source((X, Y)) and not is_batch_source([X, Y]) and not is_batch_source(fnn.Dataset(X, Y))
    assert is_batch_source(_batches()) and is_batch_source(lambda e: _batches())
    assert not is_batch_source(jnp.ones(3))
