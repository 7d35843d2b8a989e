"""How many cores XLA:CPU's convolutions use, and what its Eigen convolutions would change.

    python -m bench.conv_threads                  # per-layer table on 1 core and on all, then the network (~5 min)
    python -m bench.conv_threads --no-network     # the per-layer table only

**Per layer** (batch 128, NHWC/HWIO, 3×3, stride 1, padding 1, float32): the forward convolution and
the forward pass with both gradients (``jax.vjp``), each lowered once and compiled twice: with XLA's
defaults, which hand every convolution of more than 16 channels to YNNPACK, and with
:data:`EIGEN_CONVOLUTIONS` (fnn's step options: YNNPACK for dots and reductions only, so that
convolutions run on XLA's Eigen kernels);
beside them the dot of the im2col shape, ``(B·H·W × 9C) @ (9C × O)``, the same multiply-adds as a
GEMM. Every figure is taken twice, in a child process pinned to one core and in one with all the
cores (``os.sched_setaffinity`` before jax starts its thread pools): a kernel that runs as fast on
one core as on two uses one thread.

**Network**: the ResNet-20 and VGG-style train steps of ``bench/run.py``'s fnn row
(``bench.models_cnn.fnn_cnn_step``), lowered as a plain jit and compiled both ways in one process,
with PyTorch eager's step beside them where torch is installed, timed in interleaved rounds: wall ms
per step, process CPU ms per step (``time.process_time``: both threads, spinning included) and the
cores the step kept busy, CPU / wall.

Writes ``bench/results/conv_threads.{json,md}``; the figures in ``bench/HISTORY.md`` ("Round 2,
seventh pass") come from this script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

from bench.common import alternating_medians, write_results
from fnn.core import STEP_COMPILER_OPTIONS

# fnn's train-step options on CPU (fnn.core.jit_step): XLA:CPU's list of the ops YNNPACK may take (its
# default: dots, convolutions and reductions) without convolutions. Importing fnn imports jax, which
# starts no thread pool until its first computation (the children pin their cores before that).
EIGEN_CONVOLUTIONS = STEP_COMPILER_OPTIONS
# (C, O, H): ResNet-20's stages, then VGG's layers of 32-128 channels.
SHAPES = ((16, 16, 32), (32, 32, 16), (64, 64, 8), (32, 64, 16), (64, 128, 8), (128, 128, 8))
KINDS = ("forward XLA", "forward Eigen", "fwd+bwd XLA", "fwd+bwd Eigen", "im2col dot")


def layer_times(shape: tuple[int, int, int], batch: int, rounds: int) -> dict[str, float]:
    """``{kind: ms}`` for one layer shape ``(C, O, H)`` (see the module docstring)."""
    import jax
    import jax.numpy as jnp

    from fnn.kernels._chunked import _xla  # fnn's own NHWC/HWIO convolution: XLA's, as it is

    c, o, h = shape
    conv = lambda x, w: _xla(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)

    def fwd_bwd(x, w):
        y, vjp = jax.vjp(conv, x, w)
        return vjp(y)

    x = jax.random.normal(jax.random.key(0), (batch, h, h, c), jnp.float32)
    w = jax.random.normal(jax.random.key(1), (3, 3, c, o), jnp.float32) * 0.1
    fns, args = {}, {}
    for name, f in (("forward", conv), ("fwd+bwd", fwd_bwd)):
        lowered = jax.jit(f).lower(x, w)
        fns[f"{name} XLA"], fns[f"{name} Eigen"] = lowered.compile(), lowered.compile(EIGEN_CONVOLUTIONS)
        args[f"{name} XLA"] = args[f"{name} Eigen"] = (x, w)
    fns["im2col dot"] = jax.jit(lambda a, b: a @ b)
    args["im2col dot"] = (jnp.ones((batch * h * h, 9 * c), jnp.float32), jnp.ones((9 * c, o), jnp.float32))
    runners = {k: (lambda f=f, a=args[k]: jax.block_until_ready(f(*a))) for k, f in fns.items()}
    for run in runners.values():
        run()  # compile and warm up
    return alternating_medians(runners, rounds)


def _child(cores: int, batch: int, rounds: int, path: str) -> None:
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])  # before jax's thread pools exist
    out = {"x".join(map(str, s)): layer_times(s, batch, rounds) for s in SHAPES}
    with open(path, "w") as f:
        json.dump(out, f)


def per_layer(batch: int, rounds: int, log: Callable[[str], None]) -> dict[str, dict[str, dict[str, float]]]:
    """``{"1": {shape: {kind: ms}}, str(all cores): ...}``, each from its own pinned child process."""
    result = {}
    for cores in sorted({1, len(os.sched_getaffinity(0))}):
        log(f"per layer, {cores} core(s)")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "out.json")
            subprocess.run([sys.executable, "-m", "bench.conv_threads", "--child", str(cores), "--batch", str(batch),
                            "--rounds", str(rounds), "--json", path], check=True,
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # fmt: skip
            with open(path) as f:
                result[str(cores)] = json.load(f)
    return result


def network(models: list[str], rounds: int, log: Callable[[str], None],
            torch: bool = True) -> dict[str, dict[str, dict[str, float]]]:
    """``{model: {row: {"wall_ms", "cpu_ms", "cores"}}}``: the fnn train step compiled both ways ("XLA",
    "Eigen") and, with ``torch`` where it is installed, PyTorch eager's step, in interleaved rounds."""
    import gc

    import jax
    import jax.numpy as jnp

    from bench.common import make_batch
    from bench.models_cnn import fnn_cnn_step
    from bench.run import _version

    result = {}
    for model in models:
        log(f"network: {model}")
        step, state = fnn_cnn_step(model)
        xn, yn = make_batch(model)
        x, y, key = jnp.asarray(xn), jnp.asarray(yn), jax.random.key(2)
        lowered = step.plain.trace(*state, x, y, key).lower()  # the step without fnn's options: XLA's defaults
        rows: dict[str, Callable[[], None]] = {}
        for name, options in (("XLA", {}), ("Eigen", EIGEN_CONVOLUTIONS)):
            compiled = lowered.compile(options)
            box = {"state": jax.tree.map(lambda a: a.copy(), state)}  # the step donates its state

            def run(compiled=compiled, box=box) -> None:
                for _ in range(3):
                    *box["state"], loss = compiled(*box["state"], x, y, key)
                jax.block_until_ready(loss)

            rows[name] = run
        if torch and _version("torch") is not None:
            from bench.models_torch import torch_row

            row = torch_row(model, xn, yn)
            rows["PyTorch eager"] = lambda row=row: ([row.step() for _ in range(3)], row.sync())
        times = {name: {"wall": [], "cpu": []} for name in rows}
        for run in rows.values():
            run()  # warm-up
        for k in range(rounds):
            names = list(rows)[k % len(rows):] + list(rows)[: k % len(rows)]  # rotate: no row always follows another
            for name in names:
                gc.collect()
                time.sleep(0.05)  # let the previous row's spinning thread pools go idle
                w0, c0 = time.perf_counter(), time.process_time()
                rows[name]()
                times[name]["wall"].append((time.perf_counter() - w0) / 3)
                times[name]["cpu"].append((time.process_time() - c0) / 3)
        result[model] = {name: {"wall_ms": float(np.median(t["wall"]) * 1e3),
                                "cpu_ms": float(np.median(t["cpu"]) * 1e3),
                                "cores": float(np.median(np.array(t["cpu"]) / np.array(t["wall"])))}
                         for name, t in times.items()}  # fmt: skip
    return result


def layer_table(layers: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: one row per layer shape, each kind's ms on one core and on all, and their ratio."""
    n = max(layers, key=int)
    head = "| C → O at H² | " + " | ".join(f"{k}: 1 core / {n} cores (ms)" for k in KINDS) + " |"
    lines = [head, "|---|" + "---:|" * len(KINDS)]
    for shape in layers["1"]:
        c, o, h = shape.split("x")
        cells = []
        for k in KINDS:
            one, many = layers["1"][shape][k], layers[n][shape][k]
            cells.append(f"{one:.2f} / {many:.2f} ({one / many:.2f}×)")
        lines.append(f"| {c} → {o} at {h}² | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def network_table(net: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: one row per model; wall / CPU ms per step and cores of each variant, and the ratios."""
    torch = all("PyTorch eager" in r for r in net.values())
    head = ("| model | fnn, XLA: wall / CPU ms, cores | fnn, Eigen convolutions: wall / CPU ms, cores "
            "| Eigen × XLA (wall) |")
    if torch:
        head += " PyTorch eager: wall / CPU ms, cores | fnn XLA × PyTorch | fnn Eigen × PyTorch |"
    lines = [head, "|---|" + "---:|" * (head.count("|") - 2)]
    cell = lambda r: f"{r['wall_ms']:.1f} / {r['cpu_ms']:.1f}, {r['cores']:.2f}"
    for model, r in net.items():
        a, b = r["XLA"], r["Eigen"]
        line = f"| {model} | {cell(a)} | {cell(b)} | {b['wall_ms'] / a['wall_ms']:.3f} |"
        if torch:
            t = r["PyTorch eager"]
            line += f" {cell(t)} | {a['wall_ms'] / t['wall_ms']:.2f} | {b['wall_ms'] / t['wall_ms']:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=9, help="timing rounds per layer")
    ap.add_argument("--network-rounds", type=int, default=8, help="rounds of 3 steps per network variant")
    ap.add_argument("--models", nargs="*", default=["resnet20", "vgg"])
    ap.add_argument("--no-network", dest="network", action="store_false")
    ap.add_argument("--no-torch", dest="torch", action="store_false", help="leave PyTorch's row out of the network")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)  # internal: pinned to this many cores
    ap.add_argument("--json", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--tag", default="conv_threads")
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child, a.batch, a.rounds, a.json)
        return {}
    log = lambda m: print(m, file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    out: dict = {"layers": per_layer(a.batch, a.rounds, log), "batch": a.batch, "rounds": a.rounds,
                 "options": EIGEN_CONVOLUTIONS, "load_start": load}  # fmt: skip
    md = (f"Per layer: batch {a.batch}, NHWC 3×3 stride 1, float32, medians of {a.rounds} calls; XLA = XLA:CPU's "
          f"defaults (YNNPACK above 16 channels), Eigen = compiled with `{EIGEN_CONVOLUTIONS}`.\n\n"
          f"{layer_table(out['layers'])}\n")  # fmt: skip
    if a.network:
        out["network"] = network(a.models, a.network_rounds, log, a.torch)
        md += (f"\nThe train step (batch 128), both compilations of fnn's (and PyTorch eager's) in one process, "
               f"medians of {a.network_rounds} interleaved rounds × 3 steps:\n\n{network_table(out['network'])}\n")
    out["load_end"] = os.getloadavg()[0]
    md += f"\nLoad average {load:.1f} at start, {out['load_end']:.1f} at end.\n"
    write_results(a.out, a.tag, out, md)
    return out


if __name__ == "__main__":
    main()
