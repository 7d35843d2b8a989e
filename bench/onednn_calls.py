"""One convolution's forward pass and both gradients on oneDNN, on the pure-JAX forms and on XLA, by batch size.

    python -m bench.onednn_calls                            # batches 1, 4, 16, 128 (~2 min)
    python -m bench.onednn_calls --batches 1 4 --reps 50

Each cell is ``jax.jit(jax.grad(sum(conv2d(x, w) ** 2), argnums=(0, 1)))`` of one convolution
with ``impl="onednn"``, with ``"auto"`` while oneDNN is switched off (*pure*: the banded GEMM, the
chunked weight gradient or XLA's, as where the library is missing), and with ``impl="xla"``;
medians over 7 blocks of ``--reps`` calls, in microseconds. The shapes are LeNet-5's two
convolutions and ResNet-20's widest and narrowest 3x3 layers. Each oneDNN call costs ~0.1 ms of
its own, which is why ``"auto"`` calls it only from :data:`fnn.kernels.ONEDNN_MIN_ROWS` output
pixels over the batch; the "Small calls" table of ``bench/HISTORY.md`` (round 2, ninth pass) comes
from this script. Writes ``bench/results/onednn_calls.{json,md}``.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

from bench.common import write_results

SHAPES = [  # (C, H, O, k, padding)
    (1, 32, 6, 5, 0),
    (6, 14, 16, 5, 0),
    (16, 32, 16, 3, 1),
    (64, 8, 64, 3, 1),
]
FORMS = ("onednn", "pure", "xla")


def _time(f, args, reps: int) -> float:
    import jax

    jax.block_until_ready(f(*args))  # compile
    blocks = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(reps):
            out = f(*args)
        jax.block_until_ready(out)
        blocks.append((time.perf_counter() - t) / reps * 1e6)
    return float(np.median(blocks))


def call_times(batches: list[int], reps: int, shapes: list[tuple] = SHAPES) -> list[dict]:
    """One row per (batch, shape): microseconds per forward pass with both gradients, per form."""
    import jax
    import jax.numpy as jnp

    import fnn.kernels._dispatch as dispatch
    from bench.step_variants import _patched
    from fnn import kernels as ck

    rows = []
    for b in batches:
        for c, h, o, k, p in shapes:
            x, w = jnp.ones((b, c, h, h), jnp.float32), jnp.ones((o, c, k, k), jnp.float32)
            row = {"batch": b, "shape": f"{c}x{h}² -> {o}, {k}x{k}"}
            for form in FORMS:
                impl = "auto" if form == "pure" else form
                off = _patched(dispatch, onednn_available=lambda: False) if form == "pure" else contextlib.nullcontext()
                loss = lambda x, w, impl=impl: jnp.sum(ck.conv2d(x, w, padding=p, impl=impl) ** 2)
                with off:  # the choice is made when the function is traced: inside the switch
                    f = jax.jit(jax.grad(loss, argnums=(0, 1))).trace(x, w).lower().compile()
                row[form] = _time(f, (x, w), reps)
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| batch | input -> O | oneDNN | pure | XLA |", "|---:|---|---:|---:|---:|"]
    lines += [f"| {r['batch']} | {r['shape']} | {r['onednn']:.0f} | {r['pure']:.0f} | {r['xla']:.0f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16, 128])
    ap.add_argument("--reps", type=int, default=200, help="calls per timed block")
    ap.add_argument("--out", default="bench/results", help="directory for onednn_calls.{json,md}")
    args = ap.parse_args(argv)
    rows = call_times(args.batches, args.reps)
    write_results(args.out, "onednn_calls", {"unit": "us per call", "rows": rows}, table(rows))
    return rows


if __name__ == "__main__":
    main()
