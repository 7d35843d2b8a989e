"""Runs the benchmark suite and writes ``bench/results/<tag>.json`` and ``<tag>.md``.

    python -m bench.run            # the full run (about 10-15 minutes on 2 cores)
    python -m bench.run --quick    # about a minute (two under load): fewer rounds, a slice of MNIST, no torch.compile

All rows run in this one process, in interleaved rounds (machines are shared and noisy):
the table reports medians with their interquartile range, and ratios of medians.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import common
from bench.common import BATCH, Row, first_call, interleaved, matmul_peak, summary, train_flops

TITLES = {"mlp": "MLP 784-512-512-10", "lenet": "LeNet-5 (1×32×32)",
          "resnet20": "ResNet-20 (BN, 3×32×32, CIFAR-10 shape)", "vgg": "VGG-style 32-64-128-128 (3×32×32)",
          "lstm": "LSTM 64-128 over 50 steps + linear head (time-major)"}
ROWS = ("fnn", "fnn-xla", "raw", "raw+kernels", "stax", "flax", "equinox", "haiku", "torch", "torch.compile")


_T0 = time.perf_counter()


def _log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def _version(mod: str) -> str | None:
    try:
        return importlib.import_module(mod).__version__
    except Exception:  # noqa: BLE001 - an absent optional library
        return None


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def builders(model: str, wanted: set[str], compile_ok: bool, memory: bool = True,
             device: str = "cpu") -> list[tuple[str, Callable, str]]:
    """``(key, build(x, y) -> Row, layout)`` for each wanted row that can run here (``device``: PyTorch's)."""
    from bench import models_jax as mj

    if model in common.CNNS:
        return _cnn_builders(model, wanted, compile_ok, device)
    if model == "lstm":
        return _lstm_builders(wanted, compile_ok, device)
    out: list[tuple[str, Callable, str]] = []
    add = lambda key, fn, layout="NCHW": out.append((key, fn, layout)) if key in wanted else None
    add("fnn", lambda x, y: mj.fnn_row(model, x, y))
    if model == "lenet":
        add("fnn-xla", lambda x, y: mj.fnn_xla_row(model, x, y, memory))
    add("raw", lambda x, y: mj.raw_row(model, x, y))
    if model == "lenet":
        add("raw+kernels", lambda x, y: mj.raw_kernels_row(model, x, y))
    add("stax", lambda x, y: mj.stax_row(model, x, y), "NHWC")
    optional = {"flax": ("flax", "flax_row", "NHWC"), "equinox": ("equinox", "equinox_row", "NCHW"),
                "haiku": ("haiku", "haiku_row", "NHWC")}  # fmt: skip
    for key, (mod, fn, layout) in optional.items():
        if key not in wanted:
            continue
        if _version(mod) is not None:
            from bench import models_libs

            build = getattr(models_libs, fn)
            add(key, lambda x, y, f=build: f(model, x, y), layout)
        else:
            _log(f"skipping {key}: not installed (pip install -e '.[bench]')")
    _torch_builders(model, wanted, compile_ok, device, add)
    return out


def _torch_builders(model: str, wanted: set[str], compile_ok: bool, device: str, add: Callable) -> None:
    if {"torch", "torch.compile"} & wanted and _version("torch") is not None:
        from bench import models_torch as mt

        add("torch", lambda x, y: mt.torch_row(model, x, y, device=device))
        if compile_ok:
            add("torch.compile", lambda x, y: mt.torch_row(model, x, y, compiled=True, device=device))


def _cnn_builders(model: str, wanted: set[str], compile_ok: bool, device: str) -> list[tuple[str, Callable, str]]:
    """The ResNet-20 / VGG rows (:mod:`bench.models_cnn`, :mod:`bench.models_cnn_libs`); no stax row."""
    from bench import models_cnn as mc

    out: list[tuple[str, Callable, str]] = []
    add = lambda key, fn, layout="NCHW": out.append((key, fn, layout)) if key in wanted else None
    add("fnn", lambda x, y: mc.fnn_cnn_row(model, x, y))
    add("fnn-xla", lambda x, y: mc.fnn_cnn_row(model, x, y, xla=True))
    add("raw", lambda x, y: mc.raw_cnn_row(model, x, y))
    add("raw+kernels", lambda x, y: mc.raw_cnn_row(model, x, y, kernels=True))
    optional = {"flax": ("flax", "flax_cnn_row", "NHWC"), "equinox": ("equinox", "equinox_cnn_row", "NCHW"),
                "haiku": ("haiku", "haiku_cnn_row", "NHWC")}  # fmt: skip
    for key, (mod, fn, layout) in optional.items():
        if key not in wanted:
            continue
        if _version(mod) is not None:
            from bench import models_cnn_libs

            build = getattr(models_cnn_libs, fn)
            add(key, lambda x, y, f=build: f(model, x, y), layout)
        else:
            _log(f"skipping {key}: not installed (pip install -e '.[bench]')")
    _torch_builders(model, wanted, compile_ok, device, add)
    return out


def _lstm_builders(wanted: set[str], compile_ok: bool, device: str) -> list[tuple[str, Callable, str]]:
    """The LSTM rows (:mod:`bench.models_lstm`): fnn, raw JAX, flax, equinox, haiku, PyTorch (time-major)."""
    from bench import models_jax as mj
    from bench import models_lstm as ml

    out: list[tuple[str, Callable, str]] = []
    add = lambda key, fn, layout="TNF": out.append((key, fn, layout)) if key in wanted else None
    add("fnn", lambda x, y: mj.fnn_row("lstm", x, y))
    add("raw", ml.raw_lstm_row)
    for key, mod, fn in (("flax", "flax", ml.flax_lstm_row), ("equinox", "equinox", ml.equinox_lstm_row),
                         ("haiku", "haiku", ml.haiku_lstm_row)):
        if key in wanted and _version(mod) is None:
            _log(f"skipping {key}: not installed (pip install -e '.[bench]')")
        else:
            add(key, fn)
    _torch_builders("lstm", wanted, compile_ok, device, add)
    return out


def bench_model(model: str, wanted: set[str], rounds: int, steps: int, compile_ok: bool, peak: float,
                memory: bool = True, device: str = "cpu", deadline: float | None = None) -> dict:
    """Builds, compiles and times one model's rows (``deadline``: a ``time.perf_counter()`` value after
    which no further row is built and no further timing round starts)."""
    rows: list[Row] = []
    meta: dict[str, dict] = {}
    for key, build, layout in builders(model, wanted, compile_ok, memory, device):
        if deadline is not None and time.perf_counter() > deadline:
            _log(f"[{model}] {key} skipped: time budget")
            meta[key] = {"error": "skipped: time budget"}
            continue
        x, y = common.make_batch(model, layout=layout)
        _log(f"[{model}] building {key}")
        try:
            row = build(x, y)
            first = first_call(row) if row.compile_s is None else row.compile_s
            if memory and row.memory_fn is not None:
                row.memory = row.memory_fn()
        except Exception as e:  # noqa: BLE001 - one failing library must not stop the others
            _log(f"[{model}] {key} failed: {type(e).__name__}: {e}")
            meta[key] = {"error": f"{type(e).__name__}: {e}"}
            continue
        rows.append(row)
        meta[row.name] = {"key": key, "first_call_s": first, "memory_bytes": row.memory, "memory_note": row.note,
                          "layout": layout if model != "mlp" else "-"}  # fmt: skip
        _log(f"[{model}] {key}: first call {first:.2f} s")
    for r in rows:  # warm every row once more before timing
        r.step()
        r.sync()
    flops = train_flops(model)
    if not rows:
        return {"flops_per_step": flops, "rows": meta}
    _log(f"[{model}] timing {len(rows)} rows: {rounds} rounds x {steps} steps")
    times = interleaved(rows, rounds, steps, log=_log, deadline=deadline)
    stats = {name: summary(v) for name, v in times.items()}
    ref = stats.get("raw JAX", {}).get("median_ms")
    fastest = min(s["median_ms"] for s in stats.values())
    result = {}
    for name, s in stats.items():
        m = meta[name]
        gflops = flops / (s["median_ms"] / 1e3) / 1e9
        result[name] = {
            **s, **m,
            "compile_s": max(m["first_call_s"] - s["median_ms"] / 1e3, 0.0),
            "ratio_raw_jax": s["median_ms"] / ref if ref else None,
            "ratio_fastest": s["median_ms"] / fastest,
            "gflops": gflops, "peak_fraction": gflops / peak,
        }  # fmt: skip
    for name, m in meta.items():
        if "error" in m:
            result[name] = m
    return {"flops_per_step": flops, "rows": result}


def table(model: str, res: dict) -> str:
    head = ("| library | compile (s) | median step (ms) | IQR (ms) | × raw JAX | × fastest | GFLOP/s | % of peak "
            "| step memory (MB) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    rows = sorted(((n, r) for n, r in res["rows"].items() if "error" not in r), key=lambda kv: kv[1]["median_ms"])
    for name, r in rows:
        mem = f"{r['memory_bytes'] / 2**20:.1f}" if r.get("memory_bytes") else "–"
        raw = f"{r['ratio_raw_jax']:.2f}" if r.get("ratio_raw_jax") else "–"
        lines.append(
            f"| {name} | {r['compile_s']:.2f} | {r['median_ms']:.2f} | {r['q1_ms']:.2f}–{r['q3_ms']:.2f} | {raw} "
            f"| {r['ratio_fastest']:.2f} | {r['gflops']:.1f} | {100 * r['peak_fraction']:.0f} % | {mem} |"
        )
    for name, r in res["rows"].items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error'][:80]} | | | | | | | |")
    title = TITLES[model]
    mflop = res["flops_per_step"] / 1e6
    return (f"### {title}, batch {common.batch_size(model)}, float32 — {mflop:.0f} MFLOP per step\n\n"
            + "\n".join(lines))


def epoch_table(ep: dict) -> str:
    lines = ["| model | bare steps (s/epoch) | fnn.fit (s/epoch) | fit / bare | steps |", "|---|---:|---:|---:|---:|"]
    for model, e in ep.items():
        b, f = np.median(e["bare steps"]), np.median(e["fnn.fit"])
        lines.append(f"| {model} | {b:.3f} | {f:.3f} | {f / b:.3f} | {e['steps']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Runs the suite (see ``--help``); returns the results that it also writes."""
    import jax

    # The rows are written in everyday JAX style: give them JAX's default promotion rules even
    # when the caller (the test suite) has made them strict.
    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        return _main(argv)


def _main(argv: list[str] | None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a one-minute run: few rounds, a slice of MNIST")
    ap.add_argument("--models", nargs="+", type=_models, default=[list(common.MODELS)],
                    help="models, space- or comma-separated: " + ",".join(common.MODELS) + " (default: all)")
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    ap.add_argument("--rounds", type=int, help="timing rounds (default 15, quick 4)")
    ap.add_argument("--steps", type=int, help="steps per row per round (default 20, quick 4)")
    ap.add_argument("--cnn-rounds", type=int, help="timing rounds of resnet20/vgg (default 7, quick 2)")
    ap.add_argument("--cnn-steps", type=int, help="steps per row per round of resnet20/vgg (default 2, quick 1)")
    ap.add_argument("--epoch-rounds", type=int, help="rounds of the epoch figure (default 5, quick 2; 0 skips it)")
    ap.add_argument("--compile", dest="compile", action="store_true", default=None,
                    help="include torch.compile (default: on, off with --quick)")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--memory", dest="memory", action="store_true", default=None,
                    help="measure each step's memory (default: on, off with --quick; costs one more compile per row)")
    ap.add_argument("--no-memory", dest="memory", action="store_false")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--tag", help="output file name (default: quick or full-<date>)")
    common.add_keep_host_memory(ap, "call fnn.core.keep_host_memory() first: every row, PyTorch's too, runs "
                                    "with glibc's malloc keeping freed memory (bench.host_memory compares the two)")
    a = ap.parse_args(argv)
    common.keep_host_memory_if_asked(ap, a)
    a.models = list(dict.fromkeys(m for group in a.models for m in group))
    rounds = a.rounds or (4 if a.quick else 15)
    steps = a.steps or (4 if a.quick else 20)
    epoch_rounds = a.epoch_rounds if a.epoch_rounds is not None else (2 if a.quick else 5)
    use_compile = (not a.quick) if a.compile is None else a.compile
    use_memory = (not a.quick) if a.memory is None else a.memory
    compile_ok = False
    if use_compile and "torch.compile" in a.rows and _version("torch"):
        from bench.models_torch import torch_compile_works

        reason = torch_compile_works()
        compile_ok = reason is None
        if reason:
            _log(f"skipping torch.compile: {reason}")
    started = datetime.datetime.now()
    load0 = os.getloadavg()
    _log("measuring the matmul peak")
    peak = matmul_peak()
    out: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"), "mode": "quick" if a.quick else "full",
        "machine": machine(), "loadavg_start": load0, "rounds": rounds, "steps_per_round": steps, "batch": BATCH,
        "versions": {m: _version(m) for m in ("jax", "jaxlib", "optax", "flax", "equinox", "haiku", "torch")},
        "matmul_peak_gflops": peak, "torch_compile": compile_ok, "models": {},
        "malloc": "fnn.core.keep_host_memory" if a.keep_host_memory else "glibc defaults",
    }  # fmt: skip
    cnn_rounds = a.cnn_rounds or (2 if a.quick else 7)
    cnn_steps = a.cnn_steps or (1 if a.quick else 2)
    out["cnn_rounds"], out["cnn_steps_per_round"] = cnn_rounds, cnn_steps
    for model in a.models:
        r, s = (cnn_rounds, cnn_steps) if model in common.CNNS else (rounds, steps)
        out["models"][model] = bench_model(model, set(a.rows), r, s, compile_ok, peak["peak"], use_memory)
    if epoch_rounds > 0 and "fnn" in a.rows:
        from bench.epoch import run_epochs

        out["epoch"] = {}
        limit = 20 * BATCH if a.quick else None
        for model in [m for m in a.models if m in ("mlp", "lenet")]:  # the epoch figure is MNIST's
            _log(f"[{model}] epoch figure")
            times = run_epochs(model, epoch_rounds, limit, log=_log)
            n = limit or 60000
            out["epoch"][model] = {**times, "steps": n // BATCH}
    out["loadavg_end"] = os.getloadavg()
    out["seconds"] = (datetime.datetime.now() - started).total_seconds()
    md = render(out)
    tag = a.tag or ("quick" if a.quick else f"full-{started:%Y%m%d-%H%M}")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, f"{tag}.json"), "w") as f:
        json.dump(out, f, indent=1)
    with open(os.path.join(a.out, f"{tag}.md"), "w") as f:
        f.write(md)
    print(md)
    return out


def _models(text: str) -> list[str]:
    """``"resnet20,vgg"`` -> ``["resnet20", "vgg"]`` (each checked against ``common.MODELS``)."""
    names = [t for t in text.split(",") if t]
    bad = [n for n in names if n not in common.MODELS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown model(s) {bad}; choose from {list(common.MODELS)}")
    return names


def render(out: dict) -> str:
    m, p = out["machine"], out["matmul_peak_gflops"]
    v = ", ".join(f"{k} {val}" for k, val in out["versions"].items() if val)
    parts = [
        f"## {out['mode']} run, {out['started']}",
        "",
        f"{m['cpu']}, {m['cores']} cores; load average {out['loadavg_start'][0]:.2f} at start, "
        f"{out['loadavg_end'][0]:.2f} at end; {out['seconds']:.0f} s in all. {v}.",
        f"Matmul peak (1024², float32): XLA {p['xla']:.0f} GFLOP/s"
        + (f", PyTorch {p['torch']:.0f} GFLOP/s" if "torch" in p else "")
        + f". {out['rounds']} interleaved rounds × {out['steps_per_round']} steps per row"
        + (f" (ResNet-20/VGG: {out['cnn_rounds']} × {out['cnn_steps_per_round']})"
           if set(out["models"]) & set(common.CNNS) else "") + "."
        + (" Every row ran with glibc's malloc keeping freed memory (`--keep-host-memory`)."
           if out.get("malloc") == "fnn.core.keep_host_memory" else ""),
    ]
    for model, res in out["models"].items():
        parts += ["", table(model, res)]
    if out.get("epoch"):
        parts += ["", "### One epoch of MNIST: fnn.fit vs bare jitted steps (medians)", "", epoch_table(out["epoch"])]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    main()
