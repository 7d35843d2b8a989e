"""Trainer overhead: one epoch through ``fnn.fit`` against the same steps as bare jitted calls.

    python bench/trainer_overhead.py [--repeats 7] [--json bench/results/trainer_overhead.json]

Both sides run the same model, criterion, optimizer and batch size in the same process,
after a warm-up that compiles everything:

* **bare**: the ten-line loop's ``step`` (:func:`fnn.train.make_train_step`, jitted, donated)
  called once per batch on batches sliced on the device *before* timing starts, with keys
  made before timing too: the least work a Python loop can do per step (``--epochs`` passes).
* **fit**: ``fnn.fit(..., resume=state)`` for ``--epochs`` more epochs: the on-device shuffle
  and gather inside the step, the per-step key, the running loss and metric sums, the
  non-finite guard and the end-of-epoch bookkeeping (no evaluation). ``fit+bar`` adds the
  tqdm bar (written to a null stream); ``fit, no guard`` is ``guard_nonfinite=False``.

Runs are interleaved (bare, fit, fit+bar, fit no guard, bare, ...) so machine load hits all alike; the
median of ``--repeats`` runs is reported as milliseconds per step. Two workloads: LeNet-5 on
the 32×32 digits (compute-bound) and a small MLP on the 8×8 digits (dispatch-bound, where
per-step overhead shows most).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time

import jax
import optax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))

from train_lenet import lenet5  # noqa: E402

import fnn  # noqa: E402
from fnn.data import load_digits  # noqa: E402
from fnn.train import fit, make_train_step  # noqa: E402


def mlp() -> fnn.Module:
    return fnn.Sequential(fnn.View(64, num_input_dims=3), fnn.Linear(64, 64), fnn.ReLU(), fnn.Linear(64, 10),
                          fnn.LogSoftMax())


def bench(name: str, model: fnn.Module, size: int, batch_size: int, repeats: int, epochs: int) -> dict:
    train, _ = load_digits(size=size)
    criterion, optimizer = fnn.ClassNLLCriterion(), optax.adam(1e-3)
    spe = len(train) // batch_size

    # fit: warm up (compiles), then time one more epoch per run.
    warm = fit(model, criterion, optimizer, train, epochs=1, batch_size=batch_size, rng=0, progress=False)

    def run_fit(bar: bool, guard: bool = True) -> float:
        import tqdm.auto

        null = io.StringIO()
        original = tqdm.auto.tqdm
        tqdm.auto.tqdm = lambda *a, **k: original(*a, **{**k, "file": null})
        try:
            jax.block_until_ready(warm.params)
            t = time.perf_counter()
            ts = fit(model, criterion, optimizer, train, epochs=1 + epochs, batch_size=batch_size, resume=warm,
                     progress=bar, guard_nonfinite=guard)
            jax.block_until_ready(ts.params)
            return time.perf_counter() - t
        finally:
            tqdm.auto.tqdm = original

    # bare: the same step, batches and keys prepared beforehand.
    step = make_train_step(model, criterion, optimizer)
    perm = jax.random.permutation(jax.random.key(1), len(train))
    xs = [train.x[perm[i * batch_size : (i + 1) * batch_size]] for i in range(spe)]
    ys = [train.y[perm[i * batch_size : (i + 1) * batch_size]] for i in range(spe)]
    keys = [jax.random.fold_in(jax.random.key(2), i) for i in range(spe)]
    jax.block_until_ready((xs, ys, keys))

    def run_bare() -> float:
        params, state, opt_state = jax.tree.map(lambda a: a.copy(), (warm.params, warm.state, warm.opt_state))
        params, state, opt_state, _ = step(params, state, opt_state, xs[0], ys[0], keys[0])  # compiled; not timed
        jax.block_until_ready(params)
        t = time.perf_counter()
        for _ in range(epochs):
            for i in range(spe):
                params, state, opt_state, loss = step(params, state, opt_state, xs[i], ys[i], keys[i])
        jax.block_until_ready(params)
        return time.perf_counter() - t

    run_bare()
    run_fit(False, guard=False)  # compiles the unguarded step
    times: dict[str, list[float]] = {"bare": [], "fit": [], "fit+bar": [], "fit, no guard": []}
    for _ in range(repeats):
        times["bare"].append(run_bare())
        times["fit"].append(run_fit(False))
        times["fit+bar"].append(run_fit(True))
        times["fit, no guard"].append(run_fit(False, guard=False))
    ms = {k: 1000 * statistics.median(v) / (spe * epochs) for k, v in times.items()}
    over = {k: 100 * (v / ms["bare"] - 1) for k, v in ms.items() if k != "bare"}
    row = {"workload": name, "steps_per_epoch": spe, "epochs": epochs, "batch_size": batch_size, "ms_per_step": ms,
           "overhead_pct": over}
    cols = "  ".join(f"{k} {ms[k]:.3f} ({over[k]:+.0f} %)" for k in over)
    print(f"{name:32s} {spe} steps/epoch  bare {ms['bare']:.3f} ms/step  {cols}", flush=True)
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description="fnn.fit overhead against bare jitted steps")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--epochs", type=int, default=3, help="epochs per timed run (amortises fit's per-call setup)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs")
    rows = [
        bench("LeNet-5, digits 32x32, b=32", lenet5(), 32, 32, args.repeats, args.epochs),
        bench("MLP 64-64-10, digits 8x8, b=32", mlp(), 8, 32, args.repeats, args.epochs),
    ]
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
