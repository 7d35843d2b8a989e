"""Regression with a 3-layer neural network (practical 2.2 of the nn tutorial).

    python examples/regression_3layer.py [--plot runs/regression.png]

Three Linear layers with Tanh between them, ``1 -> 32 -> 32 -> 1``, fit the noisy curve
``y = sin(2x) + x/2 + noise`` on ``x`` in ``[-3, 3]`` with ``MSECriterion``: 256 training
points, mini-batches of 16, Adam. A held-out set of 256 points on a grid measures the fit;
its mean squared error approaches the noise variance (0.1² = 0.01) as the net learns the
curve. The loss is printed every ``--every`` epochs; ``--plot`` draws data, truth and fit.

torch7 equivalent of the model::

    mlp = nn.Sequential()
    mlp:add(nn.Linear(1, 32)); mlp:add(nn.Tanh())
    mlp:add(nn.Linear(32, 32)); mlp:add(nn.Tanh())
    mlp:add(nn.Linear(32, 1))
    criterion = nn.MSECriterion()
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnn
from fnn.data import Dataset
from fnn.train import evaluate, fit

NOISE = 0.1


def truth(x: np.ndarray) -> np.ndarray:
    return np.sin(2.0 * x) + 0.5 * x


def make_data(n: int, seed: int) -> tuple[Dataset, Dataset]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3.0, 3.0, (n, 1)).astype(np.float32)
    y = (truth(x) + rng.normal(0.0, NOISE, x.shape)).astype(np.float32)
    grid = np.linspace(-3.0, 3.0, 256, dtype=np.float32)[:, None]
    y_grid = (truth(grid) + rng.normal(0.0, NOISE, grid.shape)).astype(np.float32)
    return Dataset(x, y), Dataset(grid, y_grid)


def three_layer(hidden: int = 32) -> fnn.Module:
    return fnn.Sequential(
        fnn.Linear(1, hidden), fnn.Tanh(), fnn.Linear(hidden, hidden), fnn.Tanh(), fnn.Linear(hidden, 1)
    )


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description="Regression with a 3-layer neural network.")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--every", type=int, default=20, help="print the loss every this many epochs")
    p.add_argument("--plot", help="write a PNG of the data, the true curve and the fit")
    args = p.parse_args(argv)

    train, test = make_data(256, args.seed)
    model = three_layer()
    print(model)
    steps = args.epochs * (len(train) // args.batch_size)

    def report(ts, logs):
        epoch = int(ts.epoch)
        if epoch % args.every == 0 or epoch == 1:
            print(f"epoch {epoch:4d}  train MSE {logs['loss']:.5f}  test MSE {logs['eval_loss']:.5f}")

    ts = fit(model, fnn.MSECriterion(), optax.adam(optax.cosine_decay_schedule(args.lr, steps)), train,
             epochs=args.epochs, batch_size=args.batch_size, rng=jax.random.key(args.seed), eval_data=test,
             progress=False, on_epoch=report)
    final = evaluate(model, ts.params, test, criterion=fnn.MSECriterion())
    print(f"test MSE {final['loss']:.5f} (noise variance {NOISE ** 2:.5f})")
    if args.plot:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        grid = np.asarray(test.x)
        ax.plot(np.asarray(train.x), np.asarray(train.y), ".", alpha=0.5, label="training data")
        ax.plot(grid, truth(grid), "k--", label="truth")
        ax.plot(grid, np.asarray(model.apply(ts.params, jnp.asarray(grid))), label="3-layer net")
        ax.legend()
        os.makedirs(os.path.dirname(os.path.abspath(args.plot)), exist_ok=True)
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return {"test_mse": final["loss"], "history": {k: list(map(float, v)) for k, v in ts.history.items()}}


if __name__ == "__main__":
    main(sys.argv[1:])
