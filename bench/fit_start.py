"""What ``fnn.fit`` spends before its first step, phase by phase, in fresh processes.

    python -m bench.fit_start                          # 5 rounds (~1 minute on 2 cores)
    python -m bench.fit_start --rounds 1 --limit 640   # a smoke run

The recipe is ``bench.time_to_accuracy``'s: the example's LeNet-5, ``ClassNLLCriterion``, Adam
with a cosine decay, batch 64, here on MNIST-shaped random data (``--limit`` images, default
60,000). Each round starts fresh child processes (nothing compiled yet, as in a user's first
``fit``):

* one runs ``fit(..., max_steps=1)`` and times its phases by wrapping them: the label check
  (a trace of the model), the state creation (the model's init, the optimizer's init, the copy
  fit donates), the first epoch's permutation, and the rest (the first batch's gather and the
  first step: trace, compile, one run);
* two time the optimizer's init alone, after the model's init: eagerly (optax's own
  ``optimizer.init``, which compiles a small program per shape and dtype) and as ``fit`` runs it
  (``fnn.train._step.init_optimizer``: one program compiled by ``jit_once``).

Medians in seconds; writes ``bench/results/<tag>.{json,md}`` (default tag ``fit_start``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

from bench.common import write_results

PHASES = ("labels", "state", "permutation", "first step", "fit, to the first step")
OPTIMIZER_FORMS = ("optax, eager", "fnn, one program")


def _recipe(n: int) -> tuple[Any, Any, Any]:
    """``(model, optimizer, (x, y))``: time_to_accuracy's LeNet-5 and Adam + cosine, ``n`` random images."""
    import optax

    from bench.time_to_accuracy import _example

    rng = np.random.default_rng(0)
    data = (rng.standard_normal((n, 1, 32, 32)).astype(np.float32), rng.integers(0, 10, n).astype(np.int32))
    schedule = optax.cosine_decay_schedule(2e-3, 15 * (n // 64))
    return _example().lenet5(), optax.inject_hyperparams(optax.adam)(learning_rate=schedule), data


def _timed(module: Any, name: str, seconds: dict[str, float], phase: str) -> None:
    """Replaces ``module.name`` by a wrapper adding its wall time to ``seconds[phase]``."""
    fn = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - t

    setattr(module, name, wrapper)


def child_fit(n: int) -> dict[str, float]:
    """``fit(..., max_steps=1)`` in this (fresh) process: seconds per phase."""
    import jax

    import fnn
    from fnn.train import _fit

    model, optimizer, data = _recipe(n)
    seconds: dict[str, float] = {}
    _timed(_fit, "check_labels", seconds, "labels")
    _timed(_fit, "_initial_state", seconds, "state")
    make_perm = _fit.permutation

    def permutation(n: int, impl: str) -> Any:
        perm = make_perm(n, impl)

        def timed(rng: Any, epoch: Any) -> Any:
            t = time.perf_counter()
            out = jax.block_until_ready(perm(rng, epoch))
            seconds["permutation"] = time.perf_counter() - t
            return out

        return timed

    _fit.permutation = permutation
    t = time.perf_counter()
    ts = fnn.fit(model, fnn.ClassNLLCriterion(), optimizer, data, epochs=1, batch_size=64, rng=jax.random.key(0),
                 max_steps=1, progress=False)
    jax.block_until_ready(ts.params)
    seconds["fit, to the first step"] = time.perf_counter() - t
    seconds["first step"] = seconds["fit, to the first step"] - sum(
        seconds[p] for p in ("labels", "state", "permutation"))
    return seconds


def child_optimizer(form: str) -> dict[str, float]:
    """The optimizer's init alone, in this (fresh) process, after the model's init."""
    import jax

    from fnn.train._step import _init, init_optimizer

    model, optimizer, _ = _recipe(64)
    _, params = model.init(jax.random.key(0), (-1, 1, 32, 32))
    jax.block_until_ready(params)
    init = _init if form == OPTIMIZER_FORMS[0] else init_optimizer
    t = time.perf_counter()
    jax.block_until_ready(init(optimizer, params))
    return {form: time.perf_counter() - t}


def _in_child(*args: str) -> dict[str, float]:
    root = os.path.join(os.path.dirname(__file__), "..")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "bench.fit_start", "--child", *args], check=True, env=env,
                          cwd=root, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(medians: dict[str, float], rounds: int) -> str:
    lines = ["| phase of `fit` (or the optimizer's init alone) | median s |", "|---|---:|"]
    lines += [f"| {name} | {medians[name]:.3f} |" for name in (*PHASES, *OPTIMIZER_FORMS)]
    return f"Medians of {rounds} rounds, each phase in fresh processes:\n\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--limit", type=int, default=60000, help="random MNIST-shaped training images (default 60000)")
    ap.add_argument("--child", nargs=1, help=argparse.SUPPRESS)  # "fit" or an optimizer form: one measurement
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--tag", default="fit_start")
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child_fit(a.limit) if a.child[0] == "fit" else child_optimizer(a.child[0])))
        return {}
    load = os.getloadavg()[0]
    samples: dict[str, list[float]] = {name: [] for name in (*PHASES, *OPTIMIZER_FORMS)}
    for r in range(a.rounds):
        for which in ("fit", *OPTIMIZER_FORMS):
            for name, s in _in_child(which, "--limit", str(a.limit)).items():
                samples[name].append(s)
        print(f"round {r + 1}/{a.rounds}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in samples.items()),
              file=sys.stderr, flush=True)
    medians = {name: float(np.median(v)) for name, v in samples.items()}
    out = {"medians_s": medians, "samples_s": samples, "rounds": a.rounds, "images": a.limit, "load_start": load,
           "load_end": os.getloadavg()[0]}
    md = (f"## fnn.fit's start: LeNet-5, Adam + cosine, batch 64, {a.limit} images\n\n"
          f"Load average {load:.1f} at start, {out['load_end']:.1f} at end. {table(medians, a.rounds)}\n")
    write_results(a.out, a.tag, out, md)
    return out


if __name__ == "__main__":
    main()
