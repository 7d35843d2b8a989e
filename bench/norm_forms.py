"""One normalisation + ReLU, forward and backward, per arithmetic form: the figures behind fnn's batch norm.

    python -m bench.norm_forms                   # batch, group and instance norm at ResNet-20's shapes (~1 min)
    python -m bench.norm_forms --rounds 3 --batch 8  # a smoke run

Each row is the loss ``sum(relu(norm(x)) * r)`` and its gradient with respect to ``x`` and the
affine weight and bias (one ``jax.jit`` of ``jax.value_and_grad``; ``torch.autograd.grad`` in
PyTorch eager), float32, NCHW, training mode. Columns, interleaved round by round in one process:

* ``1/σ then γ``: ``(x - μ)·rsqrt(σ² + eps)·γ + β`` on the 4-D input -- fnn's form before the
  fourth pass of round 2 (``bench/HISTORY.md``);
* ``one scale``: ``(x - μ)·(γ·rsqrt(σ² + eps)) + β`` on the 4-D input (batch norm only);
* ``fnn, no rule``: the fnn layer with its normalisation differentiated by JAX as written, not
  through fnn's derivative rule (``fnn.layers._norm.normalize``; round 2, eighth pass);
* ``fnn``: the fnn layer as it is (``fnn.BatchNorm2d``, ``fnn.GroupNorm``, ``fnn.InstanceNorm2d``);
* ``fnn, oneDNN``: ``fnn.BatchNorm2d`` traced inside ``fnn.kernels.implementation("onednn")``:
  oneDNN's batch normalization (round 2, tenth pass; batch norm only);
* ``PyTorch eager``: ``torch.nn`` 's layer.

Medians in milliseconds. Writes ``bench/results/norm_forms.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from bench.common import alternating_medians, write_results

SIZES = [(16, 32), (32, 16), (64, 8)]  # (channels, height = width): ResNet-20's three stages
GROUPS = 4
EPS = 1e-5


def _stats(x: Any, axes: tuple[int, ...]) -> tuple[Any, Any]:
    mean = jnp.mean(x, axis=axes, keepdims=True)
    return mean, jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)


def _two_multiplies(kind: str) -> Callable:
    """The form with ``1/σ`` and ``γ`` applied one after the other, on the 4-D input."""

    def norm(x: Any, w: Any, b: Any) -> Any:
        cv = lambda v: v.reshape(1, -1, 1, 1)
        if kind == "group":
            g = x.reshape(x.shape[0], GROUPS, -1)
            mean, var = _stats(g, (2,))
            return ((g - mean) * lax.rsqrt(var + EPS)).reshape(x.shape) * cv(w) + cv(b)
        mean, var = _stats(x, (0, 2, 3) if kind == "batch" else (2, 3))
        return (x - mean) * lax.rsqrt(var + EPS) * cv(w) + cv(b)

    return norm


def _one_scale_4d(x: Any, w: Any, b: Any) -> Any:
    mean, var = _stats(x, (0, 2, 3))
    return (x - mean) * (lax.rsqrt(var + EPS) * w.reshape(1, -1, 1, 1)) + b.reshape(1, -1, 1, 1)


def _fnn_layer(kind: str, c: int, variant: str = "fnn") -> Callable:
    """The fnn layer, traced with one of ``bench.step_variants``' switches in place: ``"norm-plain"``
    differentiates the normalisation as written instead of through fnn's derivative rule,
    ``"onednn"`` runs batch norm on oneDNN."""
    import fnn
    from bench.step_variants import VARIANTS

    layer = {"batch": fnn.BatchNorm2d(c), "group": fnn.GroupNorm(GROUPS, c),
             "instance": fnn.InstanceNorm2d(c, affine=True)}[kind]
    _, apply = layer.stateful
    _, _, state = layer.stateful.init(jax.random.key(0), (-1, c, 4, 4))

    def norm(x: Any, w: Any, b: Any) -> Any:
        with VARIANTS[variant][1]():  # read when traced
            return apply({"weight": w, "bias": b}, state, x, train=True)[0]

    return norm


def jax_forms(kind: str, c: int) -> dict[str, Callable]:
    forms = {"1/σ then γ": _two_multiplies(kind)}
    if kind == "batch":
        forms["one scale"] = _one_scale_4d
    forms["fnn, no rule"] = _fnn_layer(kind, c, "norm-plain")
    forms["fnn"] = _fnn_layer(kind, c)
    if kind == "batch":
        forms["fnn, oneDNN"] = _fnn_layer(kind, c, "onednn")
    return forms


def _loss_and_grads(norm: Callable) -> Callable:
    loss = lambda x, w, b, r: jnp.sum(jnp.maximum(norm(x, w, b), 0) * r)
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))


def _torch_run(kind: str, x: np.ndarray, r: np.ndarray) -> Callable | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    c = x.shape[1]
    layer = {"batch": lambda: torch.nn.BatchNorm2d(c), "group": lambda: torch.nn.GroupNorm(GROUPS, c),
             "instance": lambda: torch.nn.InstanceNorm2d(c, affine=True)}[kind]().float().train()  # fmt: skip
    tx, tr = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(r)

    def run() -> None:
        loss = (torch.relu(layer(tx)) * tr).sum()
        torch.autograd.grad(loss, (tx, layer.weight, layer.bias))

    return run


def measure(kinds: list[str], rounds: int, batch: int, log: Callable) -> list[dict]:
    rows = []
    for kind in kinds:
        for c, h in SIZES:
            rng = np.random.default_rng(0)
            x = (3 * rng.standard_normal((batch, c, h, h)) + 5).astype(np.float32)
            r = rng.standard_normal((batch, c, h, h)).astype(np.float32)
            args = (jnp.asarray(x), jnp.ones(c, jnp.float32), jnp.zeros(c, jnp.float32), jnp.asarray(r))
            runners: dict[str, Callable] = {}
            for form, norm in jax_forms(kind, c).items():
                f = _loss_and_grads(norm)
                jax.block_until_ready(f(*args))
                runners[form] = lambda f=f: jax.block_until_ready(f(*args))
            torch_run = _torch_run(kind, x, r)
            if torch_run is not None:
                torch_run()
                runners["PyTorch eager"] = torch_run
            med = alternating_medians(runners, rounds)
            rows.append({"norm": kind, "channels": c, "size": h, "batch": batch, "median_ms": med})
            log(f"{kind} norm {c}×{h}²: " + ", ".join(f"{f} {v:.2f}" for f, v in med.items()))
    return rows


def table(rows: list[dict]) -> str:
    forms = list(dict.fromkeys(f for r in rows for f in r["median_ms"]))
    lines = ["| norm + ReLU (batch, C, H×W) | " + " | ".join(forms) + " | fnn × before | fnn × no rule |",
             "|---|" + "---:|" * (len(forms) + 2)]  # fmt: skip
    for r in rows:
        med = r["median_ms"]
        cells = [f"{med[f]:.2f}" if f in med else "" for f in forms]
        cells += [f"{med['fnn'] / med['1/σ then γ']:.2f}", f"{med['fnn'] / med['fnn, no rule']:.2f}"]
        lines.append(f"| {r['norm']} ({r['batch']}, {r['channels']}, {r['size']}²) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    kinds = ["batch", "group", "instance"]
    ap.add_argument("--norms", nargs="+", default=kinds, choices=kinds)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--tag", default="norm_forms")
    a = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    rows = measure(a.norms, a.rounds, a.batch, log)
    out = {"rows": rows, "rounds": a.rounds, "load_start": load, "load_end": os.getloadavg()[0], "jax": jax.__version__}
    md = (f"Medians of {a.rounds} interleaved rounds, ms per forward + backward; load average "
          f"{out['load_start']:.1f} at start, {out['load_end']:.1f} at end.\n\n{table(rows)}\n")  # fmt: skip
    write_results(a.out, a.tag, out, md)
    return out


if __name__ == "__main__":
    main()
