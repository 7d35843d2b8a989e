"""Data parallelism: ``fnn.fit`` step time without a mesh and with ``mesh=`` (Auto and Explicit axes).

    python bench/data_parallel.py [--model mlp|lenet] [--batch 128] [--steps 20] [--repeats 5]
                                  [--cpu-devices 8] [--json bench/results/data_parallel.json]

On CPU the mesh is ``--cpu-devices`` fake devices (``--xla_force_host_platform_device_count``,
set here before jax starts): they share the same cores, so the figure is the *cost of
correctness* (partitioning, all-reduces, per-device dispatch), not a speed-up. On a machine
with accelerators the mesh spans every accelerator (1 GPU: a one-device mesh, which measures
what ``mesh=`` itself costs), and the figures are absolute step times.

Every row trains the same model with the same global batch on synthetic data (no download):
``--steps`` steps per timed ``fit`` call (resumed from the row's previous state, so nothing
compiles while timed), rows interleaved, the median of ``--repeats`` calls reported in
milliseconds per step, with the final loss of each row (the rows compute the same numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["mlp", "lenet"], default="mlp")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="steps per timed fit call (one epoch)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--cpu-devices", type=int, default=8, help="fake CPU devices (CPU runs only)")
    p.add_argument("--json", default=None)
    return p.parse_args(argv)


def _model(fnn, name):
    if name == "mlp":
        return (fnn.Sequential(fnn.Linear(784, 512), fnn.ReLU(), fnn.Linear(512, 512), fnn.ReLU(),
                               fnn.Linear(512, 10), fnn.LogSoftMax()), (784,))
    return (fnn.Sequential(fnn.SpatialConvolution(1, 6, 5, 5), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2),
                           fnn.SpatialConvolution(6, 16, 5, 5), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2),
                           fnn.View(16 * 5 * 5), fnn.Linear(400, 120), fnn.ReLU(), fnn.Linear(120, 84), fnn.ReLU(),
                           fnn.Linear(84, 10), fnn.LogSoftMax()), (1, 32, 32))


def main(argv=None) -> dict:
    args = _args(argv)
    flag = f"--xla_force_host_platform_device_count={args.cpu_devices}"
    if "jax" in sys.modules:
        print("note: jax was imported before this script set XLA_FLAGS; the CPU device count is what it was")
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()
    sys.path.insert(0, ROOT)  # this checkout's fnn

    import jax
    import numpy as np
    import optax
    from jax.sharding import AxisType

    import fnn

    devices = jax.devices()
    platform = devices[0].platform
    n_dev = len(devices)
    model, shape = _model(fnn, args.model)
    n = args.batch * args.steps
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    crit, opt = fnn.ClassNLLCriterion(), optax.sgd(0.01, momentum=0.9)

    rows = {"no mesh": None}
    for t in (AxisType.Auto, AxisType.Explicit):
        rows[f"mesh {n_dev} {platform} device{'s' * (n_dev > 1)}, {t.name}"] = jax.make_mesh(
            (n_dev,), ("data",), axis_types=(t,), devices=devices)
    states = {}
    for name, mesh in rows.items():  # warm-up: one epoch compiles everything
        states[name] = fnn.fit(model, crit, opt, (x, y), epochs=1, batch_size=args.batch, rng=0, progress=False,
                               mesh=mesh, metrics={})
    samples = {name: [] for name in rows}
    for _ in range(args.repeats):
        for name, mesh in rows.items():
            ts = states[name]
            start = time.perf_counter()
            ts = fnn.fit(model, crit, opt, (x, y), epochs=int(ts.epoch) + 1, batch_size=args.batch, resume=ts,
                         progress=False, mesh=mesh, metrics={})
            jax.block_until_ready(ts.params)
            samples[name].append((time.perf_counter() - start) / args.steps * 1e3)
            states[name] = ts
    base = statistics.median(samples["no mesh"])
    out = {"platform": platform, "devices": n_dev, "device_kind": devices[0].device_kind, "model": args.model,
           "batch": args.batch, "steps": args.steps, "repeats": args.repeats, "jax": jax.__version__,
           "command": "python bench/data_parallel.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "rows": {name: {"median_ms": statistics.median(s), "samples_ms": s,
                           "ratio_no_mesh": statistics.median(s) / base,
                           "final_loss": float(states[name].history["loss"][-1])} for name, s in samples.items()}}
    print(f"{args.model}, global batch {args.batch}, {platform} ({devices[0].device_kind}), {n_dev} device(s), "
          f"jax {jax.__version__}")
    print("| run | ms / step (median) | vs no mesh | final loss |")
    print("|---|---:|---:|---:|")
    for name, r in out["rows"].items():
        print(f"| {name} | {r['median_ms']:.2f} | {r['ratio_no_mesh']:.2f}x | {r['final_loss']:.6f} |")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
