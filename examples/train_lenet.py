"""Train LeNet-5 on handwritten digits: fnn's main job.

    python examples/train_lenet.py                                   # bundled digits, about a minute on 2 cores
    python examples/train_lenet.py --data ../shared/data/mnist.npz   # genuine MNIST (npz or a directory of IDX files)

The model is the PyTorch tutorial's LeNet-5 (conv 1→6 5×5, ReLU, max-pool 2, conv 6→16 5×5,
ReLU, max-pool 2, flatten, 400→120→84→10) in torch7's terms, with a LogSoftMax output and
ClassNLLCriterion (together: cross-entropy). It takes 32×32 images:

* default: scikit-learn's bundled 8×8 digits (1,797 images; fixed seeded split, 1,500 train /
  297 test), each pixel upsampled to a 4×4 block (nearest neighbour, exact: no interpolation);
* ``--data PATH``: MNIST's 28×28 images zero-padded to 32×32 (as LeCun did).

Training: Adam with a cosine learning-rate decay to 0 over ``--schedule-epochs`` (default 15),
mini-batches shuffled anew each epoch, evaluation on the test set after every epoch. A tqdm bar
shows the running loss. Written to ``--out`` (default ``runs/``): ``lenet_<data>.safetensors``
(params, written atomically, with the history and the test accuracy in its metadata),
``lenet_<data>.png`` (loss, accuracy and learning rate per epoch) and, after every epoch, the
whole train state (params, optimizer state, keys, history) as
``lenet_<data>.epochNNNN.state.safetensors``, the last ``--keep`` of them kept.

Resume: ``--resume`` continues from the last saved state, bit for bit as if never stopped
(``--epochs 2`` then ``--resume --epochs 4`` equals ``--epochs 4``). A rerun without
``--resume`` starts afresh and says that it replaces the saved run.
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
    p.add_argument("--epochs", type=int, help="train until this many epochs are complete (default: 15)")
    p.add_argument("--schedule-epochs", type=int,
                   help="epochs the cosine learning-rate decay spans (default: 15, or --epochs if larger);\n"
                        "independent of --epochs so that a run can stop and --resume bit-identically")
    p.add_argument("--batch-size", type=int, help="mini-batch size (default: 32 digits, 64 MNIST)")
    p.add_argument("--lr", type=float, help="peak Adam learning rate (default: 3e-3 digits, 2e-3 MNIST)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed: init, shuffling (default: 0)")
    p.add_argument("--out", default="runs", help="output directory (default: runs/)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out from its last epoch")
    p.add_argument("--keep", type=int, default=3, help="train states kept in --out, one per epoch (default: 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar: one line per epoch instead")
    return p.parse_args(argv)


def _settings(args: argparse.Namespace, name: str, n_train: int) -> tuple[int, int, int, float]:
    """(epochs, schedule epochs, batch size, lr), each checked: a bad flag is a ConfigError, not a crash later."""
    default_epochs, default_batch, default_lr = DEFAULTS[name]
    epochs = default_epochs if args.epochs is None else args.epochs
    batch_size = default_batch if args.batch_size is None else args.batch_size
    lr = default_lr if args.lr is None else args.lr
    for flag, value in (("--epochs", epochs), ("--batch-size", batch_size), ("--keep", args.keep)):
        if value < 1:
            raise fnn.ConfigError(f"train_lenet: {flag} must be >= 1, got {value}")
    if args.schedule_epochs is not None and args.schedule_epochs < 1:
        raise fnn.ConfigError(f"train_lenet: --schedule-epochs must be >= 1, got {args.schedule_epochs}")
    if batch_size > n_train:
        raise fnn.ConfigError(f"train_lenet: --batch-size {batch_size} exceeds the {n_train} training images")
    if not lr > 0:
        raise fnn.ConfigError(f"train_lenet: --lr must be > 0, got {lr}")
    schedule_epochs = args.schedule_epochs or max(default_epochs, epochs)
    return epochs, schedule_epochs, batch_size, lr


def _states(stem: str) -> list[str]:
    """The per-epoch train states of the run ``stem``, oldest first."""
    folder, base = os.path.split(stem)
    if not os.path.isdir(folder or "."):
        return []
    found = [f for f in os.listdir(folder or ".") if f.startswith(base + ".epoch") and f.endswith(".state.safetensors")]
    return [os.path.join(folder, f) for f in sorted(found)]


def _start_state(args: argparse.Namespace, stem: str) -> fnn.TrainState | None:
    """The state to resume from (``--resume``), None for a fresh run (which says so when it replaces a saved run)."""
    states = _states(stem)
    if args.resume:
        if not states:
            raise fnn.ConfigError(f"train_lenet: --resume, but {args.out} holds no train state of this run")
        print(f"resuming from {states[-1]}")
        return fnn.load_train_state(states[-1])
    if states:
        print(f"starting afresh: replacing the run saved in {args.out} ({os.path.basename(states[-1])}); "
              "pass --resume to continue it instead")
    for path in states:
        os.remove(path)
    return None


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    name = "mnist" if args.data else "digits"
    start = time.perf_counter()
    train, test = load_mnist(args.data, pad_to=32) if args.data else load_digits(size=32)
    epochs, schedule_epochs, batch_size, lr = _settings(args, name, len(train))
    stem = os.path.join(args.out, f"lenet_{name}")
    resume = _start_state(args, stem)
    print(f"data: {name}, {len(train)} train / {len(test)} test images of {tuple(train.x.shape[1:])}")
    model = lenet5()
    print(model)

    steps = schedule_epochs * (len(train) // batch_size)
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=optax.cosine_decay_schedule(lr, steps))

    def on_epoch(ts, logs):  # keep the last --keep train states (written atomically), one line per epoch without a bar
        fnn.save_train_state(f"{stem}.epoch{int(ts.epoch):04d}.state.safetensors", ts)
        for old in _states(stem)[: -args.keep]:
            os.remove(old)
        if args.no_progress:
            text = ", ".join(f"{k}={v:.4g}" for k, v in logs.items())
            print(f"epoch {int(ts.epoch)}/{epochs}: {text} ({time.perf_counter() - start:.0f} s)", flush=True)

    ts = fit(
        model,
        fnn.ClassNLLCriterion(),
        optimizer,
        train,
        epochs=epochs,
        batch_size=batch_size,
        **({"resume": resume} if resume is not None else {"rng": jax.random.key(args.seed)}),
        eval_data=test,
        progress=not args.no_progress,
        on_epoch=on_epoch,
    )
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vs] for k, vs in ts.history.items()}
    acc = history["eval_accuracy"][-1]
    plural = "epoch" if epochs == 1 else "epochs"
    print(f"test accuracy: {100 * acc:.2f} % ({round(acc * len(test))}/{len(test)}) after {epochs} {plural} "
          f"({int(ts.step)} steps of {batch_size}); wall-clock {seconds:.1f} s")

    meta = {"model": "lenet5", "data": name, "epochs": epochs, "batch_size": batch_size, "lr": lr,
            "schedule_epochs": schedule_epochs, "seed": args.seed, "test_accuracy": acc, "seconds": seconds,
            "history": history}
    save(stem + ".safetensors", params=ts.params, state=ts.state, step=int(ts.step), meta=meta)
    plot_history(history, stem + ".png", title=f"LeNet-5 on {name}: test accuracy {100 * acc:.2f} %")
    print(f"wrote {stem}.safetensors, {stem}.png and the last train states ({stem}.epoch*.state.safetensors)")
    return {**meta, "params": ts.params}


if __name__ == "__main__":
    main(sys.argv[1:])
