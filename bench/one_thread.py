"""LeNet-5 train step on one core: process CPU time per step, fnn vs fnn on XLA's convolution vs PyTorch eager.

    taskset -c 0 python -m bench.one_thread [--rounds 7] [--steps 10]

With every thread pinned to one core, CPU time measures the work of a step without the effects of
thread contention (PyTorch's OpenMP pool and XLA's pool degrade differently under load). Rows are
interleaved; the median over rounds is printed in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench import common
from bench import models_jax as mj
from bench.common import BATCH


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    x, y = common.make_batch("lenet", BATCH, layout="NCHW")
    rows = [mj.fnn_row("lenet", x, y), mj.fnn_xla_row("lenet", x, y, memory=False)]
    try:
        from bench import models_torch as mt

        rows.append(mt.torch_row("lenet", x, y))
    except ImportError:
        print("PyTorch not installed: no torch row")
    for r in rows:  # compile and warm up
        r.step()
        r.sync()
    cpu: dict[str, list[float]] = {r.name: [] for r in rows}
    for _ in range(args.rounds):
        for r in rows:
            t = time.process_time()
            for _ in range(args.steps):
                r.step()
            r.sync()
            cpu[r.name].append((time.process_time() - t) / args.steps * 1e3)
    for name, v in cpu.items():
        print(f"{name:16s} {statistics.median(v):6.2f} ms CPU per step (median of {args.rounds})")


if __name__ == "__main__":
    main()
