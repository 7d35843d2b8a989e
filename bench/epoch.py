"""Whole-epoch figure: ``fnn.fit`` against a bare loop of the same jitted train step.

Both train the same fnn model on genuine MNIST with optax SGD at batch 128 for one epoch.

* bare: ``fnn.make_train_step`` called on batches that were split and put on the device
  beforehand, in a fixed order -- the floor for any trainer (no shuffling, no metrics).
* trainer: ``fnn.fit(..., epochs=1, progress=False)`` as a user calls it, everything included:
  state creation, the per-epoch device shuffle, batch gathering, the running loss and
  accuracy, the non-finite guard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from bench.common import BATCH, LR, load_mnist
from bench.models_jax import fnn_model


def epoch_runners(model: str, limit: int | None) -> dict[str, Callable[[], float]]:
    """``{"bare": run, "trainer": run}``; each run trains one epoch and returns its seconds."""
    import optax

    import fnn

    x, y = load_mnist(model, limit)
    steps = len(x) // BATCH
    net, crit, opt = fnn_model(model), fnn.CrossEntropyCriterion(), optax.sgd(LR)
    in_shape = (-1, *x.shape[1:])
    _, params0, state0 = net.stateful.init(jax.random.key(0), in_shape)
    step = fnn.make_train_step(net, crit, opt)
    batches = [(jnp.asarray(x[i * BATCH:(i + 1) * BATCH]), jnp.asarray(y[i * BATCH:(i + 1) * BATCH]))
               for i in range(steps)]  # fmt: skip
    key = jax.random.key(1)
    data = fnn.Dataset(x, y)  # on the device once, as a user would keep it

    def bare() -> float:
        carry = (jax.tree.map(jnp.copy, params0), state0, opt.init(params0))
        jax.block_until_ready(carry)
        t = time.perf_counter()
        for xb, yb in batches:
            *carry, loss = step(*carry, xb, yb, key)
        jax.block_until_ready(loss)
        return time.perf_counter() - t

    def trainer() -> float:
        t = time.perf_counter()
        ts = fnn.fit(net, crit, opt, data, epochs=1, batch_size=BATCH, rng=jax.random.key(2), params=params0,
                     state=state0, progress=False)
        jax.block_until_ready(ts.params)
        return time.perf_counter() - t

    return {"bare steps": bare, "fnn.fit": trainer}


def run_epochs(model: str, rounds: int, limit: int | None, log: Callable | None = None) -> dict[str, Any]:
    """Interleaved rounds of both runners (after one warm-up each); seconds per epoch."""
    runners = epoch_runners(model, limit)
    for f in runners.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in runners}
    for r in range(rounds):
        for k in (list(runners) if r % 2 == 0 else list(reversed(runners))):
            times[k].append(runners[k]())
        if log:
            log(f"  epoch round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()))
    return times
