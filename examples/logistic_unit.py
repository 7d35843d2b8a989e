"""A logistic unit trained by torch7's StochasticGradient (practical 2.2 of the nn tutorial).

    python examples/logistic_unit.py

One neuron, ``Linear(2 -> 1)`` then ``Sigmoid``, learns the logical OR of two inputs from
noisy examples. The loss is ``MSECriterion`` with torch7's ``sizeAverage`` (the mean over
the output elements, here one per example), and training is torch7's per-example SGD: one
permutation drawn once, one update per example, the mean error printed after every epoch.

The torch7 original::

    mlp = nn.Sequential()
    mlp:add(nn.Linear(2, 1))
    mlp:add(nn.Sigmoid())
    criterion = nn.MSECriterion()           -- criterion.sizeAverage = true
    trainer = nn.StochasticGradient(mlp, criterion)
    trainer.learningRate = 0.5
    trainer.maxIteration = 20
    trainer:train(dataset)                  -- dataset[i] = {input, target}, dataset:size()

The same with fnn (``fnn.fit(..., batch_size=1, shuffle="once")`` underneath)::

    trainer = fnn.StochasticGradient(model, fnn.MSECriterion())
    trainer.learning_rate, trainer.max_iteration = 0.5, 20
    ts = trainer.train((inputs, targets), rng=jax.random.key(0))
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np

import fnn
from fnn.train import StochasticGradient


def or_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy copies of the four corners of the unit square, labelled with their OR."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, (n, 2))
    x = corners + rng.normal(0.0, 0.1, (n, 2))
    y = np.logical_or(corners[:, 0], corners[:, 1]).astype(np.float32)[:, None]
    return x.astype(np.float32), y


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description="A logistic unit trained by torch7's StochasticGradient.")
    p.add_argument("--examples", type=int, default=100)
    p.add_argument("--epochs", type=int, default=20, help="torch7's maxIteration")
    p.add_argument("--lr", type=float, default=0.5, help="torch7's learningRate")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    x, y = or_data(args.examples, args.seed)
    model = fnn.Sequential(fnn.Linear(2, 1), fnn.Sigmoid())
    print(model)
    trainer = StochasticGradient(model, fnn.MSECriterion())
    trainer.learning_rate, trainer.max_iteration = args.lr, args.epochs
    ts = trainer.train((x, y), rng=jax.random.key(args.seed))

    corners = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], jnp.float32)
    out = model.apply(ts.params, corners)
    for c, o in zip(np.asarray(corners), np.asarray(out)[:, 0], strict=True):
        print(f"OR({int(c[0])}, {int(c[1])}) -> {o:.3f}")
    w, b = ts.params[0]["weight"], ts.params[0]["bias"]
    print("weight [" + ", ".join(f"{v:.3f}" for v in np.asarray(w).ravel()) + f"], bias {float(b[0]):.3f}")
    correct = float(jnp.mean((model.apply(ts.params, jnp.asarray(x)) > 0.5) == (jnp.asarray(y) > 0.5)))
    print(f"training accuracy: {100 * correct:.1f} %")
    return {"loss": [float(v) for v in ts.history["loss"]], "accuracy": correct, "corners": np.asarray(out)[:, 0]}


if __name__ == "__main__":
    main(sys.argv[1:])
