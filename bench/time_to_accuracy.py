"""Time to accuracy: the MNIST LeNet-5 recipe trained by ``fnn.fit`` and by a plain PyTorch loop, one command.

    python -m bench.time_to_accuracy                      # 8 epochs each, fnn first, then PyTorch
    python -m bench.time_to_accuracy --only fnn --epochs 3
    python -m bench.time_to_accuracy --same-process       # both sides in this process, one after the other
    python -m bench.time_to_accuracy --limit 512 --epochs 1 --json /tmp/t.json --md /tmp/t.md   # a smoke run

The recipe is ``examples/train_lenet.py --data mnist.npz``: LeNet-5 (the PyTorch tutorial's net
with a LogSoftMax output, ClassNLL loss) on MNIST zero-padded to 32×32 and scaled to [0, 1],
Adam (β = 0.9, 0.999, ε = 1e-8) with a cosine decay from the peak learning rate 2e-3 to 0 over
``--schedule-epochs`` (default 15, as in the example, or ``--epochs`` if larger), batch 64,
shuffled anew each epoch, the last partial batch dropped.

* **fnn.fit**: the example's model, ``fnn.fit(..., progress=False, on_epoch=...)`` as a user
  calls it; the clock starts before the call, so it **includes** state creation and the
  compilation of the train step (all of it lands in epoch 1).
* **PyTorch loop**: the same architecture in ``torch.nn`` (its default initialisation is
  torch7's: weights and biases uniform in ±1/√fan_in, as fnn's), ``torch.optim.Adam`` with a
  ``LambdaLR`` computing optax's ``cosine_decay_schedule`` exactly, ``log_softmax`` +
  ``nll_loss``; the data are float32 tensors built once, shuffled each epoch by
  ``torch.randperm`` and sliced (no DataLoader); ``torch.set_num_threads(os.cpu_count())``
  (``--torch-threads`` changes it: on a loaded machine PyTorch's thread pool suffers most).

Each side runs in a process of its own (a child of this one, which prints both tables), as a
user runs either: in one process the second side inherits the first one's threads and glibc
``malloc`` state, and PyTorch's loop, run after ``fnn.fit``, took 1.5-2x as long per epoch as in a
process of its own (``--same-process`` measures it that way).

Both start from ``--seed`` (``jax.random.key(seed)``, ``torch.manual_seed(seed)``). After every
epoch each side evaluates the full 10,000-image test set (batches of 1000; ``--test-limit`` cuts
it for smoke runs); the evaluation is timed on its own and **excluded** from the training clock
(its time is reported). MNIST is
``$FNN_MNIST`` (default ``shared/data/mnist.npz`` beside the repository, as ``bench/common.py``).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from bench import common

NAMES = {"fnn": "fnn.fit", "torch": "PyTorch loop"}
RESULTS = os.path.join(os.path.dirname(__file__), "results")
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "train_lenet.py")
EVAL_BATCH = 1000


def _example() -> Any:
    """``examples/train_lenet.py`` as a module: its ``lenet5()`` and its MNIST defaults are the recipe."""
    spec = importlib.util.spec_from_file_location("train_lenet", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mnist_path() -> str:
    """The MNIST file: ``$FNN_MNIST``, else ``bench/common.py``'s default beside the repository."""
    return os.environ.get("FNN_MNIST", common.MNIST_DEFAULT)


def load_data(limit: int | None, test_limit: int | None = None) -> tuple[Any, Any]:
    """``(train, test)`` fnn Datasets of genuine MNIST padded to 32×32, cut to ``limit`` and ``test_limit`` images."""
    from fnn.data import load_mnist

    path = mnist_path()
    if not os.path.exists(path):
        raise SystemExit(f"time_to_accuracy: no MNIST at {path} (set FNN_MNIST to mnist.npz)")
    train, test = load_mnist(path, pad_to=32)
    return (train[:limit] if limit else train), (test[:test_limit] if test_limit else test)


def cosine(step: int, steps: int) -> float:
    """optax's ``cosine_decay_schedule`` factor (``alpha=0``) at ``step``: 1 at 0, 0 from ``steps`` on."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / steps))


def _record(name: str, epoch: int, epochs: int, train_s: float, prev_s: float, loss: float, acc: float,
            eval_s: float) -> dict[str, Any]:
    row = {"epoch": epoch, "train_s": train_s, "epoch_s": train_s - prev_s, "loss": loss, "test_accuracy": acc,
           "eval_s": eval_s}
    print(f"{name:>12} epoch {epoch}/{epochs}: train {train_s:7.2f} s cumulative ({train_s - prev_s:6.2f} s this "
          f"epoch), loss {loss:.4f}, test accuracy {100 * acc:.2f} % (evaluation {eval_s:.2f} s, not counted)",
          flush=True)
    return row


# --------------------------------------------------------------------------- fnn


def run_fnn(train: Any, test: Any, args: argparse.Namespace) -> dict[str, Any]:
    """``fnn.fit`` on the example's LeNet-5; each epoch's cumulative training seconds and test accuracy."""
    import jax
    import optax

    import fnn

    model = _example().lenet5()
    steps = args.schedule_epochs * (len(train) // args.batch_size)
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=optax.cosine_decay_schedule(args.lr, steps))
    epochs: list[dict[str, Any]] = []
    paused = 0.0  # seconds spent evaluating and printing, taken off the training clock

    def on_epoch(ts: Any, logs: dict[str, float]) -> None:
        nonlocal paused
        jax.block_until_ready(ts.params)
        stop = time.perf_counter()
        train_s = stop - start - paused
        t = time.perf_counter()
        acc = fnn.evaluate(model, ts.params, test, state=ts.state, batch_size=EVAL_BATCH)["accuracy"]
        prev = epochs[-1]["train_s"] if epochs else 0.0
        epochs.append(_record(NAMES["fnn"], int(ts.epoch), args.epochs, train_s, prev, float(logs["loss"]),
                              float(acc), time.perf_counter() - t))
        paused += time.perf_counter() - stop

    start = time.perf_counter()
    fnn.fit(model, fnn.ClassNLLCriterion(), optimizer, train, epochs=args.epochs, batch_size=args.batch_size,
            rng=jax.random.key(args.seed), progress=False, on_epoch=on_epoch)
    return {"epochs": epochs, "note": "training clock includes fnn.fit's state creation and the train step's "
                                      "compilation (in epoch 1); evaluation excluded"}


# --------------------------------------------------------------------------- PyTorch


def torch_lenet5(torch: Any) -> Any:
    """The same LeNet-5 in ``torch.nn``, float32 (PyTorch's default init equals torch7's, hence fnn's)."""
    from torch import nn

    f32 = {"dtype": torch.float32}
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, **f32), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5, **f32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120, **f32), nn.ReLU(), nn.Linear(120, 84, **f32), nn.ReLU(),
        nn.Linear(84, 10, **f32), nn.LogSoftmax(dim=1),
    )  # fmt: skip


def _torch_accuracy(torch: Any, model: Any, x: Any, y: Any) -> float:
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(x), EVAL_BATCH):
            correct += int((model(x[i:i + EVAL_BATCH]).argmax(1) == y[i:i + EVAL_BATCH]).sum())
    model.train()
    return correct / len(x)


def run_torch(train: Any, test: Any, args: argparse.Namespace) -> dict[str, Any]:
    """A plain PyTorch loop of the same recipe; each epoch's cumulative training seconds and test accuracy."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual name

    threads = torch.get_num_threads()
    torch.set_num_threads(args.torch_threads)
    try:
        x = torch.from_numpy(np.array(train.x, np.float32))
        y = torch.from_numpy(np.array(train.y, np.int64))
        x_test = torch.from_numpy(np.array(test.x, np.float32))
        y_test = torch.from_numpy(np.array(test.y, np.int64))
        torch.manual_seed(args.seed)
        gen = torch.Generator().manual_seed(args.seed)
        model = torch_lenet5(torch)
        spe = len(x) // args.batch_size
        steps = args.schedule_epochs * spe
        opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine(s, steps))
        epochs: list[dict[str, Any]] = []
        train_s = 0.0
        for epoch in range(1, args.epochs + 1):
            t = time.perf_counter()
            perm = torch.randperm(len(x), generator=gen)
            total = torch.zeros(())
            for i in range(spe):
                idx = perm[i * args.batch_size:(i + 1) * args.batch_size]
                loss = F.nll_loss(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.detach()
            prev, train_s = train_s, train_s + time.perf_counter() - t
            t = time.perf_counter()
            acc = _torch_accuracy(torch, model, x_test, y_test)
            epochs.append(_record(NAMES["torch"], epoch, args.epochs, train_s, prev, float(total) / spe, acc,
                                  time.perf_counter() - t))
    finally:
        torch.set_num_threads(threads)
    return {"epochs": epochs, "threads": args.torch_threads, "note": "evaluation excluded"}


# --------------------------------------------------------------------------- results


def summarise(run: dict[str, Any], target: float) -> dict[str, Any]:
    """Adds the first epoch at or above ``target`` (None if never), its training seconds and the final figures."""
    hit = next((e for e in run["epochs"] if e["test_accuracy"] >= target), None)
    last = run["epochs"][-1]
    return {**run, "target": target, "epochs_to_target": None if hit is None else hit["epoch"],
            "seconds_to_target": None if hit is None else hit["train_s"], "final_accuracy": last["test_accuracy"],
            "train_s": last["train_s"], "eval_s": sum(e["eval_s"] for e in run["epochs"])}


def render(out: dict[str, Any]) -> str:
    """The side-by-side table, then every epoch of every run (Markdown)."""
    m, target = out["machine"], out["target"]
    pct = f"{100 * target:.2f} %"
    lines = [
        f"## Time to accuracy: MNIST LeNet-5, {out['started']}",
        "",
        f"{m['cpu']}, {m['cores']} cores; load average {out['loadavg_start'][0]:.2f} at start, "
        f"{out['loadavg_end'][0]:.2f} at end. {', '.join(f'{k} {v}' for k, v in out['versions'].items())}. "
        f"{out['train_images']} training images, batch {out['batch_size']}, Adam lr {out['lr']:g} with a cosine "
        f"decay over {out['schedule_epochs']} epochs, {out['epochs']} epochs, seed {out['seed']}. fnn's training "
        f"clock includes its compilation; test evaluation ({out['test_images']:,} images) is excluded from both "
        f"clocks." + (f" PyTorch on {out['torch_threads']} threads." if NAMES["torch"] in out["runs"] else "")
        + (" Each side in a process of its own." if out.get("processes") == "one per side" else ""),
        "",
        f"| library | time to ≥ {pct} (s) | epochs to ≥ {pct} | final test accuracy | training s ({out['epochs']} "
        f"epochs) | evaluation s (excluded) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in out["runs"].items():
        when = "not reached" if r["seconds_to_target"] is None else f"{r['seconds_to_target']:.1f}"
        lines.append(f"| {name} | {when} | {r['epochs_to_target'] or '-'} | {100 * r['final_accuracy']:.2f} % "
                     f"| {r['train_s']:.1f} | {r['eval_s']:.1f} |")
    lines += ["", "| library | epoch | training s (cumulative) | epoch s | train loss | test accuracy | evaluation s |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in out["runs"].items():
        for e in r["epochs"]:
            lines.append(f"| {name} | {e['epoch']} | {e['train_s']:.2f} | {e['epoch_s']:.2f} | {e['loss']:.4f} "
                         f"| {100 * e['test_accuracy']:.2f} % | {e['eval_s']:.2f} |")
    return "\n".join(lines) + "\n"


def _versions() -> dict[str, str]:
    import jax

    out = {"jax": jax.__version__}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:
        pass
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    default_epochs, batch, lr = _example().DEFAULTS["mnist"]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochs", type=int, default=8,
                    help="epochs each side trains (default: 8; PyTorch's loop reaches 99 %% at epoch 5-7)")
    ap.add_argument("--target", type=float, default=0.99, help="test accuracy to reach (default: 0.99)")
    ap.add_argument("--only", choices=("fnn", "torch"), help="run one side only")
    ap.add_argument("--limit", type=int, help="train on the first N training images (smoke runs)")
    ap.add_argument("--test-limit", type=int, help="evaluate on the first N test images (smoke runs; default: all)")
    ap.add_argument("--torch-threads", type=int, default=os.cpu_count() or 1,
                    help="torch.set_num_threads for the PyTorch loop (default: os.cpu_count())")
    ap.add_argument("--seed", type=int, default=0, help="init and shuffling seed of both sides (default: 0)")
    ap.add_argument("--schedule-epochs", type=int,
                    help=f"epochs the cosine decay spans (default: {default_epochs}, or --epochs if larger)")
    ap.add_argument("--batch-size", type=int, default=batch, help=f"(default: {batch})")
    ap.add_argument("--lr", type=float, default=lr, help=f"peak Adam learning rate (default: {lr:g})")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one side for the parent: no tables
    ap.add_argument("--same-process", action="store_true",
                    help="run both sides in this process, one after the other (default: a child process each)")
    ap.add_argument("--json", default=os.path.join(RESULTS, "time_to_accuracy.json"), help="results as JSON")
    ap.add_argument("--md", default=os.path.join(RESULTS, "time_to_accuracy.md"), help="tables as Markdown")
    args = ap.parse_args(argv)
    if min(args.epochs, args.batch_size, args.torch_threads, args.test_limit or 1) < 1:
        ap.error("--epochs, --batch-size, --torch-threads and --test-limit must be >= 1")
    if args.limit is not None and args.limit < args.batch_size:
        ap.error(f"--limit must be at least one batch ({args.batch_size} images)")
    args.schedule_epochs = args.schedule_epochs or max(default_epochs, args.epochs)
    return args


def _in_child(key: str, args: argparse.Namespace) -> dict[str, Any]:
    """One side's summarised run, trained by ``python -m bench.time_to_accuracy --only key`` in a fresh process."""
    own = {"only", "child", "same_process", "json", "md"}  # set for the child below; the rest passes as given
    with tempfile.TemporaryDirectory() as d:
        js = os.path.join(d, "side.json")
        cmd = [sys.executable, "-m", "bench.time_to_accuracy", "--only", key, "--child", "--json", js,
               "--md", os.path.join(d, "side.md")]
        for dest, value in vars(args).items():
            if dest not in own and value is not None:
                cmd += ["--" + dest.replace("_", "-"), str(value)]
        root = os.path.join(os.path.dirname(__file__), "..")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        subprocess.run(cmd, check=True, env=env, cwd=root)
        with open(js) as f:
            return json.load(f)["runs"][NAMES[key]]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bench.run import machine

    args = parse_args(argv)
    train, test = load_data(args.limit, args.test_limit)
    out: dict[str, Any] = {
        "started": f"{datetime.datetime.now():%Y-%m-%d %H:%M}", "machine": machine(), "versions": _versions(),
        "loadavg_start": os.getloadavg(), "mnist": mnist_path(), "train_images": len(train),
        "test_images": len(test), "epochs": args.epochs, "schedule_epochs": args.schedule_epochs,
        "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "target": args.target,
        "torch_threads": args.torch_threads, "runs": {},
    }
    if not args.child:
        print(f"MNIST LeNet-5: {len(train)} train / {len(test)} test images, batch {args.batch_size}, Adam {args.lr:g} "
              f"+ cosine over {args.schedule_epochs} epochs, {args.epochs} epochs, target {100 * args.target:.2f} %")
    runners = {"fnn": run_fnn, "torch": run_torch}
    for key in [args.only] if args.only else ["fnn", "torch"]:
        if args.only or args.same_process:
            gc.collect()
            time.sleep(0.5)  # let the previous side's thread pool go idle
            out["runs"][NAMES[key]] = summarise(runners[key](train, test, args), args.target)
        else:
            out["runs"][NAMES[key]] = _in_child(key, args)
    out["processes"] = "one" if args.same_process or args.only else "one per side"
    out["loadavg_end"] = os.getloadavg()
    md = render(out)
    if not args.child:
        print("\n" + md)
    for path, text in ((args.json, json.dumps(out, indent=1)), (args.md, md)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return out


if __name__ == "__main__":
    main()
