"""Training: :func:`fit` (torch7's ``StochasticGradient`` the JAX way), evaluation, resumable state.

The loop that :func:`fit` wraps is ten lines of plain JAX and optax::

    init, apply = model.stateful
    _, params, state = init(init_key, (-1, 1, 32, 32))
    opt_state = optimizer.init(params)

    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
    def step(params, state, opt_state, x, y, rng):
        def loss_fn(p):
            out, new_state = apply(p, state, x, rng=rng, train=True)
            return criterion(out, y), new_state
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    for epoch in range(epochs):     # s counts steps; key is the training key
        perm = jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 1), epoch), n)
        for i in range(n // batch_size):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            params, state, opt_state, loss = step(params, state, opt_state, xs[idx], ys[idx],
                                                  jax.random.fold_in(jax.random.fold_in(key, 0), s))

:func:`make_train_step` returns exactly that ``step``, and ``fit(..., rng=rng)`` with
``init_key, key = jax.random.split(rng)`` computes the same params. :func:`fit` adds what a
long run needs (data on the device, one compile, padding masks, a non-finite guard, a progress
bar, a history, bit-identical resume from a :class:`TrainState`) without giving up the single
compile.

Deviations from torch7's ``StochasticGradient``: mini-batches (``batch_size=1`` is torch7's
per-example SGD), any optax optimizer, and a new permutation every epoch (torch7 drew one
permutation and reused it; :class:`StochasticGradient` keeps torch7's behaviour).

* ``_state.py``: :class:`TrainState` (arrays only) and its checkpoint files
  (:func:`save_train_state`, :func:`load_train_state`).
* ``_step.py``: :func:`make_train_step`, the one jitted step, and the trainer's epoch kernel.
* ``_fit.py``: :func:`fit`, the epoch loop around it.
* ``_eval.py``: :func:`evaluate`, :func:`accuracy`, :func:`make_eval_step`.
* ``_torch7.py``: :class:`StochasticGradient` with torch7's fields, :func:`torch7_learning_rate`.
* ``_plot.py``: :func:`plot_history`.
"""

from fnn.train._callbacks import Callback as Callback
from fnn.train._callbacks import CSVLogger as CSVLogger
from fnn.train._callbacks import TensorBoardLogger as TensorBoardLogger
from fnn.train._eval import accuracy as accuracy
from fnn.train._eval import evaluate as evaluate
from fnn.train._eval import make_eval_step as make_eval_step
from fnn.train._fit import fit as fit
from fnn.train._plot import plot_history as plot_history
from fnn.train._state import TrainState as TrainState
from fnn.train._state import load_train_state as load_train_state
from fnn.train._state import save_train_state as save_train_state
from fnn.train._step import make_train_step as make_train_step
from fnn.train._step import steps_per_epoch as steps_per_epoch
from fnn.train._torch7 import StochasticGradient as StochasticGradient
from fnn.train._torch7 import torch7_learning_rate as torch7_learning_rate
