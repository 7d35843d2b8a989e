"""fit(..., mesh=) on 8 fake CPU devices equals fit() on one: params, BatchNorm statistics, history.

Also: one compile of the train step, the gathered batch sharded ``P('data')``, a step whose
HLO all-reduces the gradients and gathers no batch, the errors for batch sizes that do not
divide, ``drop_last=False``, the non-finite guard and bit-identical resume on a mesh.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P

import fnn
from fnn.errors import ConfigError, NonFiniteError
from fnn.train._step import epoch_kernel

N, BATCH, EPOCHS = 64, 16, 3
_x = np.random.default_rng(0).normal(size=(N, 5)).astype(np.float32)
X, Y = jnp.asarray(_x), jnp.asarray((_x[:, 0] > 0).astype(np.int32) + (_x[:, 1] > 0.5).astype(np.int32))
EVAL = (X[:24], Y[:24])

BN_MODEL = fnn.Sequential(fnn.Linear(5, 8), fnn.BatchNormalization(8), fnn.ReLU(), fnn.Linear(8, 3), fnn.LogSoftMax())
MLP = fnn.Sequential(fnn.Linear(5, 8), fnn.Tanh(), fnn.Linear(8, 3), fnn.LogSoftMax())
NLL = fnn.ClassNLLCriterion()
SGD, ADAM = optax.sgd(0.1), optax.adam(0.01)
KW = dict(epochs=EPOCHS, batch_size=BATCH, rng=0, progress=False)


class Recording:
    """A criterion that counts its traces and records the layout of the targets it sees."""

    def __init__(self, fn):
        self.fn, self.calls, self.specs = fn, 0, []

    def __call__(self, out, y):
        self.calls += 1
        self.specs.append(jax.typeof(y).sharding.spec)
        return self.fn(out, y)


def _max_diff(a, b):
    return max((float(np.max(np.abs(np.asarray(u, np.float64) - np.asarray(v, np.float64))))
                for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)), default=0.0)


def _assert_close(ts, ref, tol):
    assert _max_diff(ts.params, ref.params) <= tol
    assert _max_diff(ts.state, ref.state) <= 1e-6  # BatchNorm running statistics
    assert sorted(ts.history) == sorted(ref.history)
    for k in ref.history:
        np.testing.assert_allclose(ts.history[k], ref.history[k], atol=1e-6, rtol=0, err_msg=k)


@pytest.fixture(scope="module")
def sgd_ref():
    return fnn.fit(BN_MODEL, NLL, SGD, (X, Y), eval_data=EVAL, eval_batch_size=8, **KW)


@pytest.fixture(scope="module")
def sgd_runs(meshes):
    runs = {}
    for name, mesh in meshes.items():
        crit = Recording(NLL)
        runs[name] = (fnn.fit(BN_MODEL, crit, SGD, (X, Y), eval_data=EVAL, eval_batch_size=8, mesh=mesh, **KW), crit)
    return runs


@pytest.mark.parametrize("kind", ["auto", "explicit"])
def test_sgd_with_batchnorm_matches_one_device(kind, sgd_runs, sgd_ref, meshes):
    ts, crit = sgd_runs[kind]
    _assert_close(ts, sgd_ref, 1e-6)
    assert int(ts.step) == EPOCHS * N // BATCH
    for leaf in jax.tree.leaves((ts.params, ts.state, ts.opt_state)):
        assert leaf.sharding.spec == P() and leaf.sharding.mesh == meshes[kind]  # replicated, on the mesh
    assert crit.calls == 2  # one trace of the train step, one of the eval step
    if kind == "explicit":  # the types carry the layout: the criterion saw batch-sharded targets
        assert crit.specs[0][0] == "data"
    # exactly one compile of the train step (and one of the first-batch gather)
    gather, kernel, _ = epoch_kernel(BN_MODEL, crit, SGD, (("accuracy", fnn.accuracy),), BATCH, N, False,
                                     "threefry2x32", True, meshes[kind], "data")
    assert kernel._cache_size() == 1 and gather._cache_size() == 1


def test_adam_matches_one_device(mesh):
    ref = fnn.fit(MLP, NLL, ADAM, (X, Y), **KW)
    ts = fnn.fit(MLP, NLL, ADAM, (X, Y), mesh=mesh, **KW)
    _assert_close(ts, ref, 1e-5)


def _collectives(hlo: str) -> tuple[int, int]:
    return len(re.findall(r"\ball-gather(-start)?\(", hlo)), len(re.findall(r"\ball-reduce(-start)?\(", hlo))


def test_batch_is_sharded_and_the_step_all_reduces_without_gathering(meshes, sgd_runs):
    mesh, crit = meshes["explicit"], sgd_runs["explicit"][1]
    gather, kernel, _ = epoch_kernel(BN_MODEL, crit, SGD, (("accuracy", fnn.accuracy),), BATCH, N, False,
                                     "threefry2x32", True, mesh, "data")
    x_all, y_all, perm = fnn.replicate((X, Y, jnp.arange(N)), mesh)
    batch = gather(x_all, y_all, perm, 0)
    assert batch[0].sharding.spec == P("data") and batch[1].sharding.spec == P("data")
    ts = fnn.TrainState.create(BN_MODEL, SGD, 0, (-1, 5), metrics=(("accuracy", fnn.accuracy),))
    carry = fnn.replicate((ts.params, ts.state, ts.opt_state, ts.rng, ts.step, ts.running), mesh)
    all_gathers, all_reduces = _collectives(kernel.lower(carry, batch, x_all, y_all, perm, 0).compile().as_text())
    assert all_gathers == 0 and all_reduces >= 1


def test_make_train_step_on_a_mesh(mesh):
    _, params, state = MLP.stateful.init(jax.random.key(0), (-1, 5))
    opt_state = ADAM.init(params)
    plain = fnn.make_train_step(MLP, NLL, ADAM, donate=False)
    step = fnn.make_train_step(MLP, NLL, ADAM, mesh=mesh, donate=False)
    args = (params, state, opt_state, X[:BATCH], Y[:BATCH], jax.random.key(1))
    want, got = plain(*args), step(*args)
    assert _max_diff(want, got) <= 1e-6
    assert all(leaf.sharding.spec == P() for leaf in jax.tree.leaves(got))
    if mesh.axis_types[0].name == "Auto":  # the compiled step: gradients all-reduced, no batch gathered
        all_gathers, all_reduces = _collectives(step.lower(*args).compile().as_text())
        assert all_gathers == 0 and all_reduces >= 1


@pytest.fixture(scope="module")
def ragged_ref():
    return fnn.fit(MLP, NLL, SGD, (X[:60], Y[:60]), drop_last=False, **KW)


def test_drop_last_false_matches_one_device(mesh, ragged_ref):
    # 60 examples, batches of 16: the last batch is padded with 4 real examples and masked
    _assert_close(fnn.fit(MLP, NLL, SGD, (X[:60], Y[:60]), drop_last=False, mesh=mesh, **KW), ragged_ref, 1e-6)


def test_resume_on_a_mesh_is_bit_identical(meshes):
    mesh, data = meshes["explicit"], (X[:60], Y[:60])
    full = fnn.fit(MLP, NLL, SGD, data, drop_last=False, mesh=mesh, **KW)
    part = fnn.fit(MLP, NLL, SGD, data, drop_last=False, mesh=mesh, max_steps=6, **KW)
    rest = fnn.fit(MLP, NLL, SGD, data, drop_last=False, mesh=mesh, resume=part, epochs=EPOCHS, batch_size=BATCH,
                   progress=False)
    for a, b in zip(jax.tree.leaves((full.params, full.opt_state)), jax.tree.leaves((rest.params, rest.opt_state)),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # bit-identical on CPU
    for k in full.history:
        np.testing.assert_array_equal(full.history[k], rest.history[k])


def test_guard_nonfinite_on_a_mesh(meshes):
    # the ragged run's compiled steps again (same model, sizes and options); example 37 is NaN
    x = X[:60].at[37, 2].set(jnp.nan)
    errors = []
    for mesh in (None, meshes["explicit"]):
        with pytest.raises(NonFiniteError) as info:
            fnn.fit(MLP, NLL, SGD, (x, Y[:60]), drop_last=False, mesh=mesh, **KW)
        errors.append(info.value)
    assert errors[0].step == errors[1].step and errors[0].epoch == errors[1].epoch
    assert _max_diff(errors[0].train_state.params, errors[1].train_state.params) <= 1e-6
    assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(errors[1].train_state.params))


def test_evaluate_on_a_mesh(mesh, sgd_ref):
    want = fnn.evaluate(BN_MODEL, sgd_ref.params, (X, Y), state=sgd_ref.state, criterion=NLL, batch_size=24)
    got = fnn.evaluate(BN_MODEL, sgd_ref.params, (X, Y), state=sgd_ref.state, criterion=NLL, batch_size=24,
                       mesh=mesh)
    assert got.keys() == want.keys()
    for k in want:
        assert abs(got[k] - want[k]) <= 1e-6


def test_sizes_that_do_not_divide_are_config_errors(meshes):
    mesh = meshes["explicit"]
    with pytest.raises(ConfigError, match="batch_size=12 does not divide by the 8 devices"):
        fnn.fit(MLP, NLL, SGD, (X, Y), epochs=1, batch_size=12, rng=0, mesh=mesh, progress=False)
    with pytest.raises(ConfigError, match="eval_batch_size=12"):
        fnn.fit(MLP, NLL, SGD, (X, Y), epochs=1, batch_size=16, rng=0, mesh=mesh, eval_data=EVAL,
                eval_batch_size=12, progress=False)
    with pytest.raises(ConfigError, match="not the data axis 'batch'"):
        fnn.fit(MLP, NLL, SGD, (X, Y), epochs=1, batch_size=16, rng=0, mesh=mesh, data_axis="batch", progress=False)
    with pytest.raises(ConfigError, match="does not divide"):
        fnn.shard_batch(X[:12], mesh, "data")
    with pytest.raises(ConfigError, match="batch_size=4"):
        fnn.evaluate(MLP, {}, (X, Y), batch_size=4, mesh=mesh)
