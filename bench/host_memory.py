"""What :func:`fnn.core.keep_host_memory` changes: train steps with glibc's default ``malloc`` and with it.

    python -m bench.host_memory                       # ResNet-20, VGG, LeNet-5; 3 process pairs (~6 min)
    python -m bench.host_memory --models resnet20 --pairs 4 --steps 16

``keep_host_memory`` is a setting of the whole process that must come before JAX starts, so the two
sides cannot share a process: each pair runs one child process with glibc's defaults and one with the
setting (in alternating order, pair by pair), and each child times fnn's train step and PyTorch
eager's (the rows of ``bench/run.py``) in alternating blocks of two steps after ``--warmup`` steps.
Per row: its first step's time (for fnn: tracing and XLA's compilation, whose allocations the
setting also changes); per step and row: the median wall time, the process's user and system CPU
time and its minor page faults (``getrusage`` around the row's blocks); per child, its peak
resident memory. PyTorch shares each child's setting, so its rows show what the setting does to a
library whose blocks glibc already reuses.

Writes ``bench/results/<tag>.{json,md}`` (``--tag``, default ``host_memory``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import write_results

MODES = ("system", "keep")


def _child(mode: str, models: list[str], steps: int, warmup: int) -> dict[str, Any]:
    """One process's figures: ``{model: {row: {...}}}`` plus its peak resident memory."""
    import fnn

    kept = fnn.core.keep_host_memory() if mode == "keep" else False  # before JAX starts
    from bench import common
    from bench.models_cnn import fnn_cnn_row
    from bench.models_jax import fnn_row
    from bench.models_torch import torch_row

    out: dict[str, Any] = {"mode": mode, "kept": kept, "models": {}}
    for model in models:
        x, y = common.make_batch(model, common.BATCH)
        fnn_build = fnn_cnn_row if model in common.CNNS else fnn_row
        rows = [fnn_build(model, x, y), torch_row(model, x, y)]
        first = {row.name: common.first_call(row) for row in rows}  # fnn's: tracing and XLA's compilation
        for row in rows:
            for _ in range(warmup - 1):
                row.step()
            row.sync()
        figures = {row.name: {"wall": [], "user": 0.0, "sys": 0.0, "minflt": 0} for row in rows}
        for k in range(steps // 2):
            for row in rows if k % 2 == 0 else rows[::-1]:
                f, r0 = figures[row.name], resource.getrusage(resource.RUSAGE_SELF)
                for _ in range(2):
                    t = time.perf_counter()
                    row.step()
                    row.sync()
                    f["wall"].append(time.perf_counter() - t)
                r1 = resource.getrusage(resource.RUSAGE_SELF)
                f["user"] += r1.ru_utime - r0.ru_utime
                f["sys"] += r1.ru_stime - r0.ru_stime
                f["minflt"] += r1.ru_minflt - r0.ru_minflt
        n = 2 * (steps // 2)
        out["models"][model] = {name: {"wall_ms": statistics.median(f["wall"]) * 1e3, "user_ms": f["user"] / n * 1e3,
                                       "sys_ms": f["sys"] / n * 1e3, "minflt": f["minflt"] / n,
                                       "first_s": first[name]}
                                for name, f in figures.items()}  # fmt: skip
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _run_child(mode: str, a: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.host_memory", "--child", mode, "--models", *a.models,
           "--steps", str(a.steps), "--warmup", str(a.warmup)]  # fmt: skip
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    return json.loads(done.stdout.strip().splitlines()[-1])


def _table(runs: list[dict[str, Any]], models: list[str]) -> str:
    lines = ["| model | row | malloc | first step (s) | wall (ms) | user CPU (ms) | system CPU (ms) | minor faults "
             "| wall, keep / system |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for model in models:
        for name in runs[0]["models"][model]:
            med = {}
            for mode in MODES:
                figs = [r["models"][model][name] for r in runs if r["mode"] == mode]
                med[mode] = {k: statistics.median(f[k] for f in figs) for k in figs[0]}
            for mode in MODES:
                m = med[mode]
                ratio = f"**{med['keep']['wall_ms'] / med['system']['wall_ms']:.2f}**" if mode == "keep" else ""
                first = f"{m['first_s']:.2f}" if "first_s" in m else "–"
                lines.append(f"| {model} | {name} | {mode} | {first} | {m['wall_ms']:.1f} | {m['user_ms']:.1f} "
                             f"| {m['sys_ms']:.1f} | {m['minflt']:.0f} | {ratio} |")  # fmt: skip
    rss = {mode: statistics.median(r["peak_rss_mb"] for r in runs if r["mode"] == mode) for mode in MODES}
    lines += ["", f"Peak resident memory per process (median): glibc's defaults {rss['system']:.0f} MB, "
                  f"keep_host_memory {rss['keep']:.0f} MB."]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["resnet20", "vgg", "lenet"])
    ap.add_argument("--pairs", type=int, default=3, help="process pairs (one of each setting)")
    ap.add_argument("--steps", type=int, default=12, help="timed steps per row and process")
    ap.add_argument("--warmup", type=int, default=6, help="untimed steps per row first (the first compiles), >= 1")
    ap.add_argument("--tag", default="host_memory")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(_child(a.child, a.models, a.steps, a.warmup)))
        return
    runs = []
    for p in range(a.pairs):
        for mode in MODES if p % 2 == 0 else MODES[::-1]:
            runs.append(_run_child(mode, a))
            walls = ", ".join(f"{m}: " + " / ".join(f"{v['wall_ms']:.1f}" for v in rows.values())
                              for m, rows in runs[-1]["models"].items())  # fmt: skip
            print(f"pair {p + 1}/{a.pairs}, {mode}: {walls} ms", file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    md = (f"## fnn.core.keep_host_memory: train steps with glibc's default malloc and with it\n\n"
          f"{time.strftime('%Y-%m-%dT%H:%M:%S')}; {a.pairs} process pairs, {a.steps} timed steps per row and "
          f"process after {a.warmup}; medians over the processes of each setting; load average {load:.2f} at "
          f"the end. CPU time and faults are per step (all threads).\n\n" + _table(runs, a.models) + "\n")  # fmt: skip
    write_results(a.out, a.tag, {"runs": runs, "args": vars(a)}, md)


if __name__ == "__main__":
    main()
