"""What fit does before its first step, done cheaply and exactly as before.

The optimizer's init runs as one compiled program (eagerly it compiles one small program per
shape) and gives what optax's eager init gives: the same tree, values, dtypes and weak types.
An init that needs concrete values still works (it runs eagerly), and fit's copies of the
caller's arrays are real copies made without compiling.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fnn.train._state import copy_tree
from fnn.train._step import init_optimizer

PARAMS = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3, jnp.float32), "n": jnp.zeros((), jnp.int32)}

OPTIMIZERS = {
    "sgd-momentum": optax.sgd(0.1, momentum=0.9),
    "adam": optax.adam(1e-3),
    "adam, injected cosine": optax.inject_hyperparams(optax.adam)(learning_rate=optax.cosine_decay_schedule(2e-3, 10)),
    "adamw, masked": optax.adamw(1e-3, mask=lambda p: {"w": True, "b": False, "n": False}),
}


def _eager(optimizer, params):
    with jax.numpy_dtype_promotion("standard"):
        return optimizer.init(params)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_the_compiled_init_is_optaxs_eager_init(name):
    opt = OPTIMIZERS[name]
    got, want = init_optimizer(opt, PARAMS), _eager(opt, PARAMS)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype and g.weak_type == w.weak_type
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def test_an_init_that_reads_the_params_runs_eagerly():
    def init(params):  # needs concrete values: fails under jit
        return {"scale": jnp.asarray(float(jnp.sum(params["w"])))}

    opt = optax.GradientTransformation(init, lambda u, s, p=None: (u, s))
    assert float(init_optimizer(opt, PARAMS)["scale"]) == 15.0


def test_an_unhashable_optimizer_is_initialised_too():
    class Init:  # defines __eq__ without __hash__: unhashable, so not cached
        def __eq__(self, other):
            return self is other

        def __call__(self, params):
            return jax.tree.map(jnp.zeros_like, params)

    opt = optax.GradientTransformation(Init(), lambda u, s, p=None: (u, s))
    out = init_optimizer(opt, PARAMS)
    assert jax.tree.structure(out) == jax.tree.structure(PARAMS)


def test_copy_tree_copies_arrays_and_keeps_other_leaves():
    tree = {"a": jnp.arange(4.0), "key": jax.random.key(0), "np": np.ones(2), "n": 3}
    out = copy_tree(tree)
    assert out["a"].unsafe_buffer_pointer() != tree["a"].unsafe_buffer_pointer()
    np.testing.assert_array_equal(out["a"], tree["a"])
    assert jnp.array_equal(jax.random.key_data(out["key"]), jax.random.key_data(tree["key"]))
    assert out["np"] is tree["np"] and out["n"] == 3
    tree["a"].delete()  # the copy outlives the original (fit donates its copy)
    assert float(out["a"].sum()) == 6.0
