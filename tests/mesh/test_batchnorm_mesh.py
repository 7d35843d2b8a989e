"""BatchNorm on 8 devices: the shard_map recipe of the README and its gradient scale.

Under ``fit(mesh=)`` the statistics are global with no help (``test_fit_mesh.py`` compares the
running statistics). Under ``shard_map`` each device sees its shard, so the layer needs
``axis_name``; with shard_map's default ``check_vma``, ``grad`` of the ``pmean``-ed loss with
respect to replicated params already sums over devices. The pmap-era recipe (local loss, then
``pmean`` of the gradients) gives 8x the gradient on 8 devices.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

import fnn

NLL = fnn.ClassNLLCriterion()
_x = np.random.default_rng(0).normal(size=(32, 5)).astype(np.float32)
X, Y = jnp.asarray(_x), jnp.asarray((_x[:, 0] > 0).astype(np.int32))


def _model(axis_name):
    return fnn.Sequential(fnn.Linear(5, 8), fnn.BatchNormalization(8, axis_name=axis_name), fnn.ReLU(),
                          fnn.Linear(8, 3), fnn.LogSoftMax())


def test_shard_map_recipe_gives_the_global_gradient_and_the_pmap_recipe_n_times_it(meshes):
    mesh = meshes["explicit"]
    plain, model = _model(None), _model("data")
    _, params, state = plain.stateful.init(jax.random.key(0), (-1, 5), jnp.float32)
    apply = model.stateful.apply

    # The recipe (README, "More than one device"): pmean the loss, not the gradients.
    def loss_fn(p, state, x, y):
        out, new_state = apply(p, state, x, train=True)
        return jax.lax.pmean(NLL(out, y), "data"), new_state

    @jax.jit
    @partial(jax.shard_map, mesh=mesh, in_specs=(P(), P(), P("data"), P("data")), out_specs=(P(), P(), P()))
    def grads(params, state, x, y):
        (loss, new_state), g = jax.value_and_grad(loss_fn, has_aux=True)(params, state, x, y)
        return loss, new_state, g

    # The pmap-era recipe: local loss, pmean of the gradients (wrong under check_vma).
    def local_loss(p, state, x, y):
        out, new_state = apply(p, state, x, train=True)
        return NLL(out, y), new_state

    @jax.jit
    @partial(jax.shard_map, mesh=mesh, in_specs=(P(), P(), P("data"), P("data")), out_specs=P())
    def old_grads(params, state, x, y):
        g = jax.grad(lambda p: local_loss(p, state, x, y)[0])(params)
        return jax.lax.pmean(g, "data")

    def full_loss(p):
        out, new_state = plain.stateful.apply(p, state, X, train=True)
        return NLL(out, Y), new_state

    (want_loss, want_state), want = jax.value_and_grad(full_loss, has_aux=True)(params)
    placed = (*fnn.replicate((params, state), mesh), *fnn.shard_batch((X, Y), mesh, "data"))
    loss, new_state, got = grads(*placed)
    assert abs(float(loss) - float(want_loss)) <= 1e-6
    for a, b in zip(jax.tree.leaves((want, want_state)), jax.tree.leaves((got, new_state)), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-6, rtol=0)
    old = old_grads(*placed)
    w_old, w_want = old[3]["weight"], want[3]["weight"]  # the output layer's weight: a sizeable gradient
    np.testing.assert_allclose(np.asarray(w_old), 8 * np.asarray(w_want), rtol=1e-5, atol=1e-6)
