"""LSTM forward+backward: fnn.LSTM vs a hand-written lax.scan LSTM vs torch.nn.LSTM, in one run.

One step = the loss ``sum(output²)`` of a one-layer LSTM on a (T, N, H_in) float32 batch and
its gradient with respect to every parameter and to the input (T=50, N=32, H_in=64, H=128 by
default). Rows are timed in interleaved rounds (bench/common.py); the table gives medians and
interquartile ranges, ratios of medians, and the first call (trace + compile + one run) of the
JAX rows. The bidirectional rows time the same layer with ``bidirectional=True``.

    python -m bench.lstm                     # ~2 minutes on 2 shared cores
    python -m bench.lstm --rounds 3 --steps 2 --T 5 --N 2 --H-in 3 --H 4   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import fnn
from bench import common


def hand_written_lstm(p: dict, x: jax.Array, hidden: int) -> jax.Array:
    """The LSTM one writes in JAX by hand: every step's input projection in one matmul, then a scan."""
    gi = jnp.matmul(x, p["weight_ih_l0"].T) + p["bias_ih_l0"].reshape(1, 1, -1) + p["bias_hh_l0"].reshape(1, 1, -1)

    def step(carry, g):
        h, c = carry
        i, f, gg, o = jnp.split(g + jnp.matmul(h, p["weight_hh_l0"].T), 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((x.shape[1], hidden), x.dtype)
    _, ys = lax.scan(step, (zeros, zeros), gi)
    return ys


def _jax_row(name: str, forward: Any, params: Any, x: jax.Array) -> common.Row:
    grad = jax.jit(jax.grad(lambda p, x: jnp.sum(forward(p, x) ** 2), argnums=(0, 1)))
    box: dict[str, Any] = {}

    def step() -> None:
        box["g"] = grad(params, x)

    return common.Row(name, step, lambda: jax.block_until_ready(box["g"]))


def _torch_row(name: str, torch: Any, module: Any, x: np.ndarray) -> common.Row:
    xt = torch.tensor(x, requires_grad=True)

    def step() -> None:
        module.zero_grad(set_to_none=True)
        xt.grad = None
        out, _ = module(xt)
        (out**2).sum().backward()

    return common.Row(name, step, lambda: None)


def rows(args: argparse.Namespace) -> list[common.Row]:
    x = np.random.default_rng(0).standard_normal((args.T, args.N, args.H_in)).astype(np.float32)
    xj = jnp.asarray(x)
    out = []
    for bi in (False, True):
        model = fnn.LSTM(args.H_in, args.H, bidirectional=bi)
        _, params = model.init(jax.random.key(0), x.shape, jnp.float32)
        suffix = " (bidirectional)" if bi else ""
        out.append(_jax_row("fnn.LSTM" + suffix, lambda p, x, m=model: m.apply(p, x)[0], params, xj))
        if not bi:
            out.append(_jax_row("hand-written scan", lambda p, x: hand_written_lstm(p, x, args.H), params, xj))
        try:
            import torch
        except ImportError:
            print("torch is not installed: no torch.nn.LSTM row (pip install torch==2.13.0)")
            continue
        torch.manual_seed(0)
        out.append(_torch_row("torch.nn.LSTM" + suffix, torch,
                              torch.nn.LSTM(args.H_in, args.H, bidirectional=bi).float(), x))
    return out


def table(res: dict) -> str:
    names = list(res["rows"])
    base = {n: res["rows"][n]["median_ms"] for n in names}
    lines = ["| row | median ms (IQR) | / hand-written scan | / torch.nn.LSTM (same directions) | first call s |",
             "|---|---|---|---|---|"]
    for n in names:
        r = res["rows"][n]
        bi = "(bidirectional)" in n
        torch_ref = base.get("torch.nn.LSTM (bidirectional)" if bi else "torch.nn.LSTM")
        scan = base.get("hand-written scan") if not bi else None
        ratio = lambda ref: f"{r['median_ms'] / ref:.2f}x" if ref else "-"  # noqa: E731
        first = f"{r['first_call_s']:.2f}" if r.get("first_call_s") is not None else "-"
        lines.append(f"| {n} | {r['median_ms']:.2f} ({r['q1_ms']:.2f}-{r['q3_ms']:.2f}) | {ratio(scan)} "
                     f"| {ratio(torch_ref)} | {first} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, default=50)
    ap.add_argument("--N", type=int, default=32)
    ap.add_argument("--H-in", dest="H_in", type=int, default=64)
    ap.add_argument("--H", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", help="write the result as JSON to this path")
    args = ap.parse_args(argv)
    built = rows(args)
    res: dict[str, Any] = {"shape": {"T": args.T, "N": args.N, "H_in": args.H_in, "H": args.H},
                           "machine": {"cpus": os.cpu_count(), "processor": platform.processor(),
                                       "jax": jax.__version__},
                           "rows": {}}
    first = {r.name: common.first_call(r) for r in built}
    times = common.interleaved(built, args.rounds, args.steps)
    for r in built:
        res["rows"][r.name] = {**common.summary(times[r.name]),
                               "first_call_s": first[r.name] if not r.name.startswith("torch") else None}
    print(table(res))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
