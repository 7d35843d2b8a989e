"""How long a model's ``init`` takes on CPU: the init program at XLA's default level against ``jit_once``'s.

    python -m bench.init_time                 # the bench models and an LSTM, 5 rounds (~2 min)

A model's init is one compiled program (``fnn.core._module._InitProgram``), compiled once per model,
input shape and dtype, and run once per seed: its time is almost all compilation, and most of that is
XLA:CPU compiling the threefry hash of ``jax.random`` for each parameter's shape. ``fnn.core.jit_once``
compiles it at LLVM optimisation level 1 (``ONCE_COMPILER_OPTIONS``). Each round builds a new instance
of every model (so nothing is cached) and times its first ``init`` under both settings, alternating
which goes first; the table gives medians in seconds and whether both gave the same parameters, bit
for bit. A second table does the same for one ``jax.random.uniform`` draw under ``jit_once``: the
first call (compile and run) at a conv weight's shapes, and the second call (run only) of a 4096²
draw, so that the compile and run figures of ``jit_once``'s docstring have a command.
Writes ``bench/results/init_time.{json,md}``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def _compiler_options(options: dict) -> Iterator[None]:
    """``fnn.core._compile.ONCE_COMPILER_OPTIONS`` set to ``options`` inside the block (restored after)."""
    from fnn.core import _compile

    saved = dict(_compile.ONCE_COMPILER_OPTIONS)
    _compile.ONCE_COMPILER_OPTIONS.clear()
    _compile.ONCE_COMPILER_OPTIONS.update(options)
    try:
        yield
    finally:
        _compile.ONCE_COMPILER_OPTIONS.clear()
        _compile.ONCE_COMPILER_OPTIONS.update(saved)


def _init_seconds(make: Callable[[], Any], shape: tuple, options: dict) -> tuple[float, list[np.ndarray]]:
    with _compiler_options(options):
        model = make()
        t = time.perf_counter()
        _, params, state = model.stateful.init(jax.random.key(0), shape)
        jax.block_until_ready((params, state))
        return time.perf_counter() - t, [np.asarray(a) for a in jax.tree.leaves((params, state))]


def _draw_seconds(shape: tuple, options: dict) -> tuple[float, float, np.ndarray]:
    """First call (compile and run) and second call of ``jit_once`` of one ``jax.random.uniform`` draw."""
    from fnn.core import jit_once

    with _compiler_options(options):
        draw = jit_once(lambda k: jax.random.uniform(k, shape, minval=-0.1, maxval=0.1))
        t = time.perf_counter()
        first = jax.block_until_ready(draw(jax.random.key(0)))
        t1 = time.perf_counter()
        jax.block_until_ready(draw(jax.random.key(0)))
        return t1 - t, time.perf_counter() - t1, np.asarray(first)


def measure_draws(rounds: int, log: Callable) -> list[dict]:
    """One draw of a conv weight's shape (compile time) and of 4096² (run time), under both settings."""
    from fnn.core import _compile

    settings = {"XLA default": {}, "jit_once": dict(_compile.ONCE_COMPILER_OPTIONS)}
    rows = []
    for shape in [(16, 3, 3, 3), (64, 64, 3, 3), (4096, 4096)]:
        first: dict[str, list[float]] = {k: [] for k in settings}
        second: dict[str, list[float]] = {k: [] for k in settings}
        same = True
        for r in range(rounds):
            values = {}
            for k in list(settings) if r % 2 == 0 else list(settings)[::-1]:
                t1, t2, values[k] = _draw_seconds(shape, settings[k])
                first[k].append(t1)
                second[k].append(t2)
            same &= np.array_equal(*values.values())
        row = {"shape": list(shape), "first_call_s": {k: float(np.median(v)) for k, v in first.items()},
               "run_s": {k: float(np.median(v)) for k, v in second.items()}, "bit_identical": bool(same)}  # fmt: skip
        rows.append(row)
        log(f"uniform {shape}: first call {row['first_call_s']}, run {row['run_s']}, same draws: {same}")
    return rows


def measure(rounds: int, log: Callable, models: list[str] | None = None) -> list[dict]:
    from fnn.core import _compile

    settings = {"XLA default": {}, "jit_once": dict(_compile.ONCE_COMPILER_OPTIONS)}
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


def draws_table(rows: list[dict]) -> str:
    lines = ["| one `jax.random.uniform` | first call, XLA default (s) | first call, jit_once (s) "
             "| run, XLA default (ms) | run, jit_once (ms) | same draws |",
             "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for r in rows:
        f, run = r["first_call_s"], r["run_s"]
        lines.append(f"| {tuple(r['shape'])} | {f['XLA default']:.3f} | {f['jit_once']:.3f} | "
                     f"{run['XLA default'] * 1e3:.2f} | {run['jit_once'] * 1e3:.2f} | "
                     f"{'yes' if r['bit_identical'] else 'no'} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--models", nargs="*", help="first words of the model names (default: all)")
    ap.add_argument("--no-draws", dest="draws", action="store_false", help="skip the single-draw table")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--tag", default="init_time")
    a = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    rows = measure(a.rounds, log, a.models)
    draws = measure_draws(a.rounds, log) if a.draws else []
    out = {"rows": rows, "draws": draws, "rounds": a.rounds, "load_start": load, "load_end": os.getloadavg()[0],
           "backend": jax.default_backend(), "jax": jax.__version__}  # fmt: skip
    md = (f"Medians of {a.rounds} rounds, seconds of a new model's first `init` (compile and run), "
          f"{out['backend']}; load average {out['load_start']:.1f} at start, {out['load_end']:.1f} at end.\n\n"
          f"{table(rows)}\n")  # fmt: skip
    if draws:
        md += ("\nOne draw, a new function each round (first call: compile and run; run: the second call):\n\n"
               f"{draws_table(draws)}\n")
    write_results(a.out, a.tag, out, md)
    return out


if __name__ == "__main__":
    main()
