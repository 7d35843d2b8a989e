"""vmap over fnn models: ensembles (``ensemble_init``) and per-example gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnn
from fnn.errors import ConfigError

MODEL = fnn.Sequential(fnn.Linear(3, 4), fnn.PReLU(), fnn.Linear(4, 2))
BN_MODEL = fnn.Sequential(fnn.Linear(3, 4), fnn.BatchNormalization(4), fnn.Tanh(), fnn.Linear(4, 2))


def test_ensemble_members_equal_init_of_their_key():
    keys = jax.random.split(jax.random.key(7), 3)
    out_shape, params = fnn.ensemble_init(MODEL, keys, (-1, 3))
    assert out_shape == MODEL.init(jax.random.key(0), (-1, 3))[0]
    for i in range(3):
        _, want = MODEL.init(keys[i], (-1, 3))
        member = jax.tree.map(lambda a, i=i: a[i], params)
        for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(member), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # exactly
    _, from_raw = fnn.ensemble_init(MODEL, jax.random.key_data(keys), (-1, 3))  # raw uint32 key data works too
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(from_raw), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_ensemble_of_a_stateful_model_stacks_the_state_too():
    keys = jax.random.split(jax.random.key(1), 2)
    _, params, state = fnn.ensemble_init(BN_MODEL.stateful, keys, (-1, 3))
    _, want_params, want_state = BN_MODEL.stateful.init(keys[1], (-1, 3))
    for a, b in zip(jax.tree.leaves((want_params, want_state)), jax.tree.leaves((params, state)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b[1]))


def test_an_ensemble_trains_with_one_vmapped_step():
    model, crit, opt = fnn.Linear(3, 1), fnn.MSECriterion(), optax.sgd(0.1)
    keys = jax.random.split(jax.random.key(0), 4)
    _, members = fnn.ensemble_init(model, keys, (-1, 3))
    x = jax.random.normal(jax.random.key(1), (8, 3), jnp.float32)
    y = x @ jnp.array([[1.0], [2.0], [-1.0]], jnp.float32)

    def step(p, o):
        g = jax.grad(lambda q: crit(model.apply(q, x), y))(p)
        u, o = opt.update(g, o, p)
        return optax.apply_updates(p, u), o

    new, _ = jax.jit(jax.vmap(step))(members, jax.vmap(opt.init)(members))
    for i in range(4):  # member i took the step it would take alone
        member = jax.tree.map(lambda a, i=i: a[i], members)
        alone, _ = step(member, opt.init(member))
        np.testing.assert_allclose(np.asarray(new["weight"][i]), np.asarray(alone["weight"]), atol=1e-6)


def test_ensemble_init_rejects_bad_keys():
    with pytest.raises(ConfigError, match="1-D array of PRNG keys"):
        fnn.ensemble_init(MODEL, jax.random.key(0), (-1, 3))
    with pytest.raises(ConfigError, match="must be an fnn Module"):
        fnn.ensemble_init(lambda k: k, jax.random.split(jax.random.key(0), 2), (-1, 3))


def test_per_example_mean_gradient_equals_the_batch_gradient():
    model = fnn.Sequential(fnn.Linear(3, 5), fnn.Tanh(), fnn.Linear(5, 4), fnn.LogSoftMax())
    crit = fnn.ClassNLLCriterion()
    _, params = model.init(jax.random.key(0), (-1, 3))
    x = jax.random.normal(jax.random.key(1), (6, 3), jnp.float32)
    y = jnp.array([0, 1, 2, 3, 1, 0])

    def loss(p, xi, yi):
        return crit(model.apply(p, xi[None]), yi[None])

    per_example = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(params, x, y)
    batch = jax.grad(lambda p: crit(model.apply(p, x), y))(params)
    for a, b in zip(jax.tree.leaves(per_example), jax.tree.leaves(batch), strict=True):
        assert a.shape == (6, *b.shape)
        np.testing.assert_allclose(np.asarray(jnp.mean(a, axis=0)), np.asarray(b), atol=1e-6)
