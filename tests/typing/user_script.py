"""What a user writes: the README's quickstart and training loop, checked by pyright and mypy.

tests/test_typing.py type-checks this file (it is never imported by the test suite; running it
trains for one epoch on the bundled digits).
"""

from __future__ import annotations

import functools
import os
import tempfile

import jax
import jax.numpy as jnp
import optax

import fnn

# The quickstart.
model = fnn.Sequential(fnn.Linear(784, 128), fnn.ReLU(), fnn.Linear(128, 10), fnn.LogSoftMax())
print(model)
init, apply = model
out_shape, params = init(jax.random.key(0), (-1, 784))
criterion = fnn.ClassNLLCriterion()
opt = optax.sgd(0.1)
opt_state = opt.init(params)


@jax.jit
def step(params: fnn.core.Params, opt_state: optax.OptState, x: jax.Array, y: jax.Array):
    loss, grads = jax.value_and_grad(lambda p: criterion(apply(p, x), y))(params)
    updates, opt_state = opt.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss


params, opt_state, loss = step(params, opt_state, jnp.ones((2, 784)), jnp.array([1, 2]))
print(fnn.summary(model, (-1, 784)))

# The training loop the trainer wraps, on a stateful model.
cnn = fnn.Sequential(fnn.SpatialConvolution(1, 4, 3, 3), fnn.SpatialBatchNormalization(4), fnn.ReLU(),
                     fnn.View(4 * 6 * 6), fnn.Linear(4 * 6 * 6, 10), fnn.LogSoftMax())
optimizer = optax.adam(1e-3)
s_init, s_apply = cnn.stateful
_, cnn_params, cnn_state = s_init(jax.random.key(0), (-1, 1, 8, 8))
cnn_opt_state = optimizer.init(cnn_params)


@functools.partial(jax.jit, donate_argnums=(0, 1, 2))
def train_step(params: fnn.core.Params, state: fnn.core.State, opt_state: optax.OptState,
               x: jax.Array, y: jax.Array, rng: jax.Array):
    def loss_fn(p: fnn.core.Params):
        out, new_state = s_apply(p, state, x, rng=rng, train=True)
        return criterion(out, y), new_state

    (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), state, opt_state, loss


# fit, checkpoints and the plot.
train, test = fnn.load_digits(size=8)
ts = fnn.fit(cnn, criterion, optimizer, train, epochs=1, batch_size=50, rng=0, eval_data=test, progress=False)
out = tempfile.mkdtemp()
fnn.plot_history(ts.history, os.path.join(out, "history.png"))
fnn.save(os.path.join(out, "model.safetensors"), params=ts.params, state=ts.state, step=int(ts.step))
fnn.save_train_state(os.path.join(out, "train_state.safetensors"), ts)
ckpt = fnn.load(os.path.join(out, "model.safetensors"), like={"params": ts.params, "state": ts.state})
print(fnn.evaluate(cnn, ts.params, test, criterion=criterion, state=ts.state))
