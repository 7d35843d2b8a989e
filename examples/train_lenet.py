"""Train LeNet-5 on handwritten digits: fnn's main job.

    python examples/train_lenet.py                                   # bundled digits, about a minute on 2 cores
    python examples/train_lenet.py --data ../shared/data/mnist.npz   # genuine MNIST (npz or a directory of IDX files)

The model is the PyTorch tutorial's LeNet-5 (conv 1→6 5×5, ReLU, max-pool 2, conv 6→16 5×5,
ReLU, max-pool 2, flatten, 400→120→84→10) in torch7's terms, with a LogSoftMax output and
ClassNLLCriterion (together: cross-entropy). It takes 32×32 images:

* default: scikit-learn's bundled 8×8 digits (1,797 images; fixed seeded split, 1,500 train /
  297 test), each pixel upsampled to a 4×4 block (nearest neighbour, exact: no interpolation);
* ``--data PATH``: MNIST's 28×28 images zero-padded to 32×32 (as LeCun did).

Training: Adam with a cosine learning-rate decay to 0 over the run, mini-batches shuffled anew
each epoch, evaluation on the test set after every epoch. A tqdm bar shows the running loss.
Written to ``--out`` (default ``runs/``): ``lenet_<data>.safetensors`` (params, written
atomically, with the history and the test accuracy in its metadata) and ``lenet_<data>.png``
(loss and accuracy per epoch).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import optax

import fnn
from fnn.data import load_digits, load_mnist
from fnn.io import save
from fnn.train import fit, plot_history

# Per-dataset defaults: (epochs, batch size, peak learning rate).
DEFAULTS = {"digits": (15, 32, 3e-3), "mnist": (15, 64, 2e-3)}


def lenet5() -> fnn.Module:
    """LeNet-5 for one-channel 32×32 images, 10 classes, log-probabilities out."""
    return fnn.Sequential(
        fnn.SpatialConvolution(1, 6, 5, 5),  # 1×32×32 -> 6×28×28
        fnn.ReLU(),
        fnn.SpatialMaxPooling(2, 2, 2, 2),  # -> 6×14×14
        fnn.SpatialConvolution(6, 16, 5, 5),  # -> 16×10×10
        fnn.ReLU(),
        fnn.SpatialMaxPooling(2, 2, 2, 2),  # -> 16×5×5
        fnn.View(16 * 5 * 5, num_input_dims=3),  # -> 400 (a batch of one stays a batch)
        fnn.Linear(400, 120),
        fnn.ReLU(),
        fnn.Linear(120, 84),
        fnn.ReLU(),
        fnn.Linear(84, 10),
        fnn.LogSoftMax(),
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", help="MNIST: mnist.npz or a directory of the four IDX files (default: bundled digits)")
    p.add_argument("--epochs", type=int, help="epochs (default: 15)")
    p.add_argument("--batch-size", type=int, help="mini-batch size (default: 32 digits, 64 MNIST)")
    p.add_argument("--lr", type=float, help="peak Adam learning rate (default: 3e-3 digits, 2e-3 MNIST)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed: init, shuffling (default: 0)")
    p.add_argument("--out", default="runs", help="output directory (default: runs/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar: one line per epoch instead")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    name = "mnist" if args.data else "digits"
    epochs, batch_size, lr = DEFAULTS[name]
    epochs = args.epochs or epochs
    batch_size = args.batch_size or batch_size
    lr = args.lr or lr
    start = time.perf_counter()
    train, test = load_mnist(args.data, pad_to=32) if args.data else load_digits(size=32)
    print(f"data: {name}, {len(train)} train / {len(test)} test images of {tuple(train.x.shape[1:])}")
    model = lenet5()
    print(model)

    steps = epochs * (len(train) // batch_size)
    optimizer = optax.adam(optax.cosine_decay_schedule(lr, steps))

    def log(ts, logs):  # one line per epoch when there is no bar (logs, CI)
        if args.no_progress:
            text = ", ".join(f"{k}={v:.4f}" for k, v in logs.items())
            print(f"epoch {int(ts.epoch)}/{epochs}: {text} ({time.perf_counter() - start:.0f} s)", flush=True)
    ts = fit(
        model,
        fnn.ClassNLLCriterion(),
        optimizer,
        train,
        epochs=epochs,
        batch_size=batch_size,
        rng=jax.random.key(args.seed),
        eval_data=test,
        progress=not args.no_progress,
        on_epoch=log,
    )
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vs] for k, vs in ts.history.items()}
    acc = history["eval_accuracy"][-1]
    plural = "epoch" if epochs == 1 else "epochs"
    print(f"test accuracy: {100 * acc:.2f} % ({round(acc * len(test))}/{len(test)}) after {epochs} {plural} "
          f"({int(ts.step)} steps of {batch_size}); wall-clock {seconds:.1f} s")

    stem = os.path.join(args.out, f"lenet_{name}")
    meta = {"model": "lenet5", "data": name, "epochs": epochs, "batch_size": batch_size, "lr": lr,
            "seed": args.seed, "test_accuracy": acc, "seconds": seconds, "history": history}
    save(stem + ".safetensors", params=ts.params, state=ts.state, step=int(ts.step), meta=meta)
    plot_history(history, stem + ".png", title=f"LeNet-5 on {name}: test accuracy {100 * acc:.2f} %")
    print(f"wrote {stem}.safetensors and {stem}.png")
    return meta


if __name__ == "__main__":
    main(sys.argv[1:])
