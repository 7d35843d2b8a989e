"""How long a model's ``init`` takes on CPU: the init program at XLA's default level against ``jit_once``'s.

    python -m bench.init_time                 # the bench models and an LSTM, 5 rounds (~2 min)

A model's init is one compiled program (``fnn.core._module._InitProgram``), compiled once per model,
input shape and dtype, and run once per seed: its time is almost all compilation, and most of that is
XLA:CPU compiling the threefry hash of ``jax.random`` for each parameter's shape. ``fnn.core.jit_once``
compiles it at LLVM optimisation level 1 (``ONCE_COMPILER_OPTIONS``). Each round builds a new instance
of every model (so nothing is cached) and times its first ``init`` under both settings, alternating
which goes first; the table gives medians in seconds and whether both gave the same parameters, bit
for bit. Writes ``bench/results/init_time.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from bench.common import write_results


def _models() -> dict[str, tuple[Callable[[], Any], tuple]]:
    import fnn
    from bench.models_cnn import fnn_cnn_model
    from bench.models_jax import fnn_model

    return {"MLP": (lambda: fnn_model("mlp"), (-1, 784)),
            "LeNet-5": (lambda: fnn_model("lenet"), (-1, 1, 32, 32)),
            "ResNet-20": (lambda: fnn_cnn_model("resnet20"), (-1, 3, 32, 32)),
            "VGG-style": (lambda: fnn_cnn_model("vgg"), (-1, 3, 32, 32)),
            "LSTM 2×256, bidirectional": (lambda: fnn.LSTM(128, 256, num_layers=2, bidirectional=True),
                                          (-1, 20, 128))}  # fmt: skip


def _init_seconds(make: Callable[[], Any], shape: tuple, options: dict) -> tuple[float, list[np.ndarray]]:
    from fnn.core import _module

    saved = dict(_module.ONCE_COMPILER_OPTIONS)
    _module.ONCE_COMPILER_OPTIONS.clear()
    _module.ONCE_COMPILER_OPTIONS.update(options)
    try:
        model = make()
        t = time.perf_counter()
        _, params, state = model.stateful.init(jax.random.key(0), shape)
        jax.block_until_ready((params, state))
        return time.perf_counter() - t, [np.asarray(a) for a in jax.tree.leaves((params, state))]
    finally:
        _module.ONCE_COMPILER_OPTIONS.clear()
        _module.ONCE_COMPILER_OPTIONS.update(saved)


def measure(rounds: int, log: Callable, models: list[str] | None = None) -> list[dict]:
    from fnn.core import _module

    settings = {"XLA default": {}, "jit_once": dict(_module.ONCE_COMPILER_OPTIONS)}
    _init_seconds(lambda: _models()["MLP"][0](), (-1, 784), {})  # JAX's own first-call costs
    rows = []
    for name, (make, shape) in _models().items():
        if models and name.split()[0] not in models:
            continue
        times: dict[str, list[float]] = {k: [] for k in settings}
        same = True
        for r in range(rounds):
            order = list(settings) if r % 2 == 0 else list(settings)[::-1]
            leaves = {}
            for k in order:
                t, leaves[k] = _init_seconds(make, shape, settings[k])
                times[k].append(t)
            same &= all(np.array_equal(a, b) for a, b in zip(*leaves.values(), strict=True))
        med = {k: float(np.median(v)) for k, v in times.items()}
        rows.append({"model": name, "median_s": med, "bit_identical": bool(same)})
        log(f"{name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in med.items()) + f", same params: {same}")
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | init, XLA default (s) | init, jit_once (s) | ratio | same parameters |",
             "|---|---:|---:|---:|---|"]  # fmt: skip
    for r in rows:
        d, o = r["median_s"]["XLA default"], r["median_s"]["jit_once"]
        lines.append(f"| {r['model']} | {d:.2f} | {o:.2f} | {o / d:.2f} | {'yes' if r['bit_identical'] else 'no'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--models", nargs="*", help="first words of the model names (default: all)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--tag", default="init_time")
    a = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    rows = measure(a.rounds, log, a.models)
    out = {"rows": rows, "rounds": a.rounds, "load_start": load, "load_end": os.getloadavg()[0],
           "backend": jax.default_backend(), "jax": jax.__version__}  # fmt: skip
    md = (f"Medians of {a.rounds} rounds, seconds of a new model's first `init` (compile and run), "
          f"{out['backend']}; load average {out['load_start']:.1f} at start, {out['load_end']:.1f} at end.\n\n"
          f"{table(rows)}\n")  # fmt: skip
    write_results(a.out, a.tag, out, md)
    return out


if __name__ == "__main__":
    main()
