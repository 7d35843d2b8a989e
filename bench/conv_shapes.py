"""One convolution, forward + both gradients, per form and shape: the figures behind ``fnn.kernels``' dispatch.

    python -m bench.conv_shapes                       # every shape of ResNet-20, VGG and LeNet-5 (~5 min)
    python -m bench.conv_shapes --shapes resnet --chunks 8 16 32 --rounds 9

Each row is one convolution of a bench model at batch 128, float32, NCHW: the forward pass and
the input and weight gradients for a given output cotangent (``jax.vjp`` inside one ``jax.jit``;
``torch.autograd.grad`` in PyTorch eager). Columns, interleaved round by round in one process:
XLA's ``lax.conv_general_dilated``; the banded GEMM (:func:`fnn.kernels.conv2d_toeplitz`, stride 1
only); the chunked weight gradient (:func:`fnn.kernels.conv2d_chunked`) for each ``--chunks``;
``fnn.kernels.conv2d``'s own choice (``auto``); PyTorch eager. Medians in milliseconds; the
fastest JAX form of each row in bold. Writes ``bench/results/conv_shapes.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bench.common import alternating_medians, write_results

# (name, c_in, c_out, k, stride, input size); padding k // 2 except LeNet's (none)
SHAPES = {
    "resnet": [("stem 3→16", 3, 16, 3, 1, 32), ("16→16", 16, 16, 3, 1, 32), ("16→32 s2", 16, 32, 3, 2, 32),
               ("32→32", 32, 32, 3, 1, 16), ("32→64 s2", 32, 64, 3, 2, 16), ("64→64", 64, 64, 3, 1, 8),
               ("1×1 16→32 s2", 16, 32, 1, 2, 32), ("1×1 32→64 s2", 32, 64, 1, 2, 16)],
    "vgg": [("3→32", 3, 32, 3, 1, 32), ("32→64", 32, 64, 3, 1, 16), ("64→128", 64, 128, 3, 1, 8),
            ("128→128", 128, 128, 3, 1, 8)],
    "lenet": [("1→6 5×5", 1, 6, 5, 1, 32), ("6→16 5×5", 6, 16, 5, 1, 14)],
    "wide": [("128→128 16²", 128, 128, 3, 1, 16), ("256→256 8²", 256, 256, 3, 1, 8), ("256→256 4²", 256, 256, 3, 1, 4),
             ("1×1 128→256", 128, 256, 1, 1, 8)],
}  # fmt: skip


def _jax_forms(k: int, stride: int, pad: int, chunks: list[int]) -> dict[str, Callable]:
    from fnn import kernels

    p = ((pad, pad), (pad, pad))
    forms: dict[str, Callable] = {"XLA": lambda x, w: kernels.conv2d(x, w, stride, p, impl="xla")}
    if stride == 1:
        forms["Toeplitz"] = lambda x, w: kernels.conv2d_toeplitz(x, w, stride, p)
    for c in chunks:
        forms[f"chunk {c}"] = lambda x, w, c=c: kernels.conv2d_chunked(x, w, (stride,) * 2, p, chunk=c)
    forms["fnn auto"] = lambda x, w: kernels.conv2d(x, w, stride, p, impl="auto")
    return forms


def _fwd_bwd(conv: Callable) -> Callable:
    def run(x: Any, w: Any, g: Any) -> tuple:
        y, vjp = jax.vjp(conv, x, w)
        return (y, *vjp(g))

    return jax.jit(run)


def _torch_fwd_bwd(x: np.ndarray, w: np.ndarray, g: np.ndarray, stride: int, pad: int) -> Callable | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    tx, tw, tg = (torch.from_numpy(a).requires_grad_(a is not g) for a in (x, w, g))

    def run() -> None:
        y = torch.nn.functional.conv2d(tx, tw, stride=stride, padding=pad)
        torch.autograd.grad(y, (tx, tw), tg)

    return run


def measure(shapes: list[tuple], chunks: list[int], rounds: int, batch: int, log: Callable) -> list[dict]:
    rows = []
    for name, c, o, k, s, h in shapes:
        pad = 0 if k == 5 else k // 2
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, c, h, h), np.float32)
        w = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
        ho = (h + 2 * pad - k) // s + 1
        g = rng.standard_normal((batch, o, ho, ho), np.float32)
        runners: dict[str, Callable] = {}
        compile_s: dict[str, float] = {}
        args = [jnp.asarray(a) for a in (x, w, g)]
        for form, conv in _jax_forms(k, s, pad, chunks).items():
            f = _fwd_bwd(conv)
            t = time.perf_counter()
            jax.block_until_ready(f(*args))
            compile_s[form] = time.perf_counter() - t
            runners[form] = lambda f=f: jax.block_until_ready(f(*args))
        torch_run = _torch_fwd_bwd(x, w, g, s, pad)
        if torch_run is not None:
            torch_run()
            runners["PyTorch eager"] = torch_run
        med = alternating_medians(runners, rounds)
        rows.append({"shape": name, "c_in": c, "c_out": o, "k": k, "stride": s, "size": h, "batch": batch,
                     "median_ms": med, "compile_s": compile_s})  # fmt: skip
        log(f"{name}: " + ", ".join(f"{f} {v:.1f}" for f, v in med.items()))
    return rows


def table(rows: list[dict]) -> str:
    forms = list(dict.fromkeys(f for r in rows for f in r["median_ms"]))
    lines = ["| convolution (batch, size) | " + " | ".join(forms) + " | auto × XLA | auto × PyTorch |",
             "|---|" + "---:|" * (len(forms) + 2)]  # fmt: skip
    for r in rows:
        med = r["median_ms"]
        best = min(v for f, v in med.items() if f != "PyTorch eager")
        cells = [("" if f not in med else f"**{med[f]:.1f}**" if med[f] == best else f"{med[f]:.1f}") for f in forms]
        torch_ratio = f"{med['fnn auto'] / med['PyTorch eager']:.2f}" if "PyTorch eager" in med else "–"
        lines.append(f"| {r['shape']} ({r['batch']}, {r['size']}²) | " + " | ".join(cells)
                     + f" | {med['fnn auto'] / med['XLA']:.2f} | {torch_ratio} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["resnet", "vgg", "lenet", "wide"], choices=list(SHAPES))
    ap.add_argument("--chunks", nargs="*", type=int, default=[8, 16, 32])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--tag", default="conv_shapes")
    a = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    rows = measure([s for group in a.shapes for s in SHAPES[group]], a.chunks, a.rounds, a.batch, log)
    out = {"rows": rows, "rounds": a.rounds, "load_start": load, "load_end": os.getloadavg()[0],
           "jax": jax.__version__}  # fmt: skip
    md = (f"Medians of {a.rounds} interleaved rounds, ms per forward + both gradients; load average "
          f"{out['load_start']:.1f} at start, {out['load_end']:.1f} at end.\n\n{table(rows)}\n")  # fmt: skip
    write_results(a.out, a.tag, out, md)
    return out


if __name__ == "__main__":
    main()
