"""Winograd convolutions on XLA:CPU: measured against XLA's own and fnn's chunked form, and not kept.

    python -m bench.winograd                  # the three 3×3 stride-1 shapes of ResNet-20 (~1 min)
    python -m bench.winograd --network 9 --network-channels 32 64   # and ResNet-20's step with a
                                                                    # Winograd weight gradient (~4 min)

The issue that asked for faster CPU convolutions named Winograd-style GEMMs as a candidate. This
script is the record of that measurement (``bench/HISTORY.md``, round 2, sixth pass). A 3×3 stride-1
convolution (padding 1, NHWC/HWIO) is written as Winograd's F(m×m, 3×3) minimal filtering
(Lavin & Gray, 2016): tiles of (m+2)² input pixels are transformed (``Bᵀ d B``), multiplied by the
transformed filter (``G g Gᵀ``) in (m+2)² batched GEMMs over the channels, and transformed back to m²
output pixels (``Aᵀ M A``). F(2, 3) and F(4, 3) take 2.25× and 4× fewer multiplications than the direct
convolution, but on XLA:CPU the batched GEMMs are memory bound at 16-64 channels (each is a
(tiles × C) by (C × C) product) and the transforms are separate passes over 2.25-4× the input.

Per shape, medians in ms, one process, interleaved rounds:

* forward: XLA's convolution, F(2, 3), F(4, 3), PyTorch eager;
* input gradient: XLA's (what fnn uses), PyTorch eager;
* weight gradient: XLA's, fnn's chunked one (``fnn.kernels.conv2d_chunked``), F(4, 3) in the
  Winograd domain (``Gᵀ [Σ_tiles Vᵀ (A dY Aᵀ)] G``, the input transform recomputed), the GEMM forms
  (im2col and one GEMM, the same per chunk of 16 images, nine GEMMs one per tap), PyTorch eager;
* the largest error of the F(4, 3) forms against XLA, relative to the largest magnitude.

``--network R``: ResNet-20's fnn train step with the chunked weight gradient (the default) against
the same step whose 3×3 stride-1 convolutions of ≥ C channels take the F(4, 3) weight gradient, one
variant per ``--network-channels C`` (default 32), ``R`` alternating rounds of 3 steps. The Winograd
rule is installed on ``fnn.kernels``' custom JVP only while its step is traced, then the library's
own rule is put back.
Writes ``bench/results/winograd.{json,md}``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bench.common import alternating_medians, write_results

# Winograd's matrices (Lavin & Gray, 2016): input transform Bᵀ, filter transform G, output transform Aᵀ.
F23 = {"m": 2, "BT": [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
       "G": [[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]],
       "AT": [[1, 1, 1, 0], [0, 1, -1, -1]]}  # fmt: skip
F43 = {"m": 4, "BT": [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                      [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
       "G": [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
             [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
       "AT": [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]}  # fmt: skip
SHAPES = [("16→16", 16, 32), ("32→32", 32, 16), ("64→64", 64, 8)]  # (name, channels, size): ResNet-20's
DN = ("NHWC", "HWIO", "NHWC")


def _combine(coefs: Sequence[float], parts: Sequence[Any]) -> Any:
    """``Σ coefs[i] · parts[i]``, skipping zeros and multiplying by ±1 as a sign (what XLA fuses)."""
    acc = None
    for c, p in zip(coefs, parts, strict=True):
        if c:
            t = p if c == 1 else -p if c == -1 else c * p
            acc = t if acc is None else acc + t
    return acc


def _tiles(h: int, m: int) -> int:
    return -(-h // m)


def input_transform(x: jax.Array, f: dict) -> jax.Array:
    """``(B, H, W, C)`` → ``((m+2)², tiles, C)``: ``Bᵀ d B`` of every (m+2)² tile, tiles m apart, padding 1."""
    m, bt = f["m"], f["BT"]
    a, (b, h, w, c) = m + 2, x.shape
    th, tw = _tiles(h, m), _tiles(w, m)
    x = jnp.pad(x, ((0, 0), (1, th * m + 1 - h), (1, tw * m + 1 - w), (0, 0)))
    rows = [x[:, i : i + m * (th - 1) + 1 : m] for i in range(a)]  # row i of every tile, one strided slice
    v = jnp.stack([_combine(bt[r], rows) for r in range(a)])
    cols = [v[:, :, :, i : i + m * (tw - 1) + 1 : m] for i in range(a)]
    return jnp.stack([_combine(bt[r], cols) for r in range(a)], 1).reshape(a * a, b * th * tw, c)


def filter_transform(w: jax.Array, f: dict) -> jax.Array:
    """``(3, 3, C, O)`` → ``((m+2)², C, O)``: ``G g Gᵀ``."""
    g = jnp.asarray(f["G"], w.dtype)
    return jnp.einsum("ai,ijco,bj->abco", g, w, g).reshape(-1, *w.shape[2:])


def output_transform(mm: jax.Array, f: dict, shape: Sequence[int]) -> jax.Array:
    """``((m+2)², tiles, O)`` → ``(B, H, W, O)``: ``Aᵀ M A`` of every tile, cropped to ``shape``'s ``(B, H, W)``."""
    m, at = f["m"], f["AT"]
    a, (b, h, w) = m + 2, shape[:3]
    th, tw = _tiles(h, m), _tiles(w, m)
    mm = mm.reshape(a, a, b, th, tw, -1)
    y = jnp.stack([_combine(at[j], [mm[i] for i in range(a)]) for j in range(m)])
    y = jnp.stack([_combine(at[j], [y[:, i] for i in range(a)]) for j in range(m)], 1)
    return jnp.transpose(y, (2, 3, 0, 4, 1, 5)).reshape(b, th * m, tw * m, -1)[:, :h, :w]


def output_transform_t(dy: jax.Array, f: dict) -> jax.Array:
    """The transpose of :func:`output_transform`: ``(B, H, W, O)`` → ``((m+2)², tiles, O)``, ``A dY Aᵀ``."""
    m, at = f["m"], f["AT"]
    a, (b, h, w, o) = m + 2, dy.shape
    th, tw = _tiles(h, m), _tiles(w, m)
    dy = jnp.pad(dy, ((0, 0), (0, th * m - h), (0, tw * m - w), (0, 0))).reshape(b, th, m, tw, m, o)
    rows = [_combine([at[i][r] for i in range(m)], [dy[:, :, i] for i in range(m)]) for r in range(a)]
    d = [[_combine([at[j][s] for j in range(m)], [r[:, :, :, j] for j in range(m)]) for s in range(a)] for r in rows]
    return jnp.stack([jnp.stack(r) for r in d]).reshape(a * a, b * th * tw, o)


def winograd_conv(x: jax.Array, w: jax.Array, f: dict) -> jax.Array:
    """A 3×3, stride-1, padding-1 NHWC/HWIO convolution by F(m×m, 3×3)."""
    return output_transform(jnp.einsum("kpc,kco->kpo", input_transform(x, f), filter_transform(w, f)), f, x.shape)


def winograd_weight_grad(x: jax.Array, dy: jax.Array, f: dict) -> jax.Array:
    """The weight gradient of :func:`winograd_conv` for the output cotangent ``dy``: ``Gᵀ [Σ Vᵀ (A dY Aᵀ)] G``."""
    a, g = f["m"] + 2, jnp.asarray(f["G"], x.dtype)
    du = jnp.einsum("kpc,kpo->kco", input_transform(x, f), output_transform_t(dy, f))
    return jnp.einsum("ai,abco,bj->ijco", g, du.reshape(a, a, *du.shape[1:]), g)


def _xla(x: jax.Array, w: jax.Array) -> jax.Array:
    from fnn.kernels._chunked import _xla as nhwc_conv  # fnn's own NHWC/HWIO convolution

    return nhwc_conv(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)


def _chunked(x: jax.Array, w: jax.Array) -> jax.Array:
    from fnn.kernels._chunked import CHUNK, _conv

    return _conv(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, CHUNK)


def _patches(x: jax.Array) -> list[jax.Array]:
    """The nine shifted views of ``x`` (padding 1) that meet the nine taps of a 3×3 kernel."""
    h, w = x.shape[1:3]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return [xp[:, i : i + h, j : j + w] for i in range(3) for j in range(3)]


def im2col_weight_grad(x: jax.Array, dy: jax.Array, chunk: int | None = None) -> jax.Array:
    """The weight gradient as one GEMM of the im2col patches (``(B·H·W) × 9C``) and ``dy``, per ``chunk`` images."""
    b, c = x.shape[0], x.shape[3]
    step = chunk or b
    dw = sum(jnp.einsum("nhwk,nhwo->ko", jnp.concatenate(_patches(x[i : i + step]), axis=-1), dy[i : i + step])
             for i in range(0, b, step))  # fmt: skip
    return dw.reshape(3, 3, c, -1)


def taps_weight_grad(x: jax.Array, dy: jax.Array) -> jax.Array:
    """The weight gradient as nine GEMMs, one per tap: ``Σ_{n,h,w} x[n, h+i, w+j]ᵀ dy[n, h, w]``."""
    c = x.shape[3]
    return jnp.stack([jnp.einsum("nhwc,nhwo->co", p, dy) for p in _patches(x)]).reshape(3, 3, c, -1)


def _weight_grad(conv: Callable) -> Callable:
    return jax.jit(lambda x, w, dy: jax.vjp(lambda w: conv(x, w), w)[1](dy)[0])


def _input_grad(conv: Callable) -> Callable:
    return jax.jit(lambda x, w, dy: jax.vjp(lambda x: conv(x, w), x)[1](dy)[0])


def _rel_err(a: jax.Array, b: jax.Array) -> float:
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


def _torch_runners(x: np.ndarray, w: np.ndarray, dy: np.ndarray) -> dict[str, Callable]:
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(os.cpu_count() or 1)
    tx, tdy = (torch.from_numpy(np.ascontiguousarray(np.transpose(a, (0, 3, 1, 2)))) for a in (x, dy))
    tw = torch.from_numpy(np.ascontiguousarray(np.transpose(w, (3, 2, 0, 1))))
    backward = functools.partial(torch.ops.aten.convolution_backward, tdy, tx, tw, None, [1, 1], [1, 1], [1, 1],
                                 False, [0, 0], 1)  # fmt: skip

    def no_grad(fn: Callable) -> Callable:
        def run() -> None:
            with torch.no_grad():
                fn()

        return run

    return {"forward PyTorch": no_grad(lambda: torch.nn.functional.conv2d(tx, tw, padding=1)),
            "input grad PyTorch": no_grad(lambda: backward([True, False, False])),
            "weight grad PyTorch": no_grad(lambda: backward([False, True, False]))}  # fmt: skip


def measure_layers(rounds: int, batch: int, log: Callable) -> list[dict]:
    rows = []
    for name, c, h in SHAPES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, h, h, c), np.float32)
        w = (rng.standard_normal((3, 3, c, c)) / np.sqrt(9 * c)).astype(np.float32)
        dy = rng.standard_normal((batch, h, h, c), np.float32)
        jx, jw, jdy = (jnp.asarray(a) for a in (x, w, dy))
        f43_weight_grad = jax.jit(functools.partial(winograd_weight_grad, f=F43))
        im2col_chunks = jax.jit(functools.partial(im2col_weight_grad, chunk=16))
        jitted = {"forward XLA": (jax.jit(_xla), (jx, jw)),
                  "forward F(2,3)": (jax.jit(functools.partial(winograd_conv, f=F23)), (jx, jw)),
                  "forward F(4,3)": (jax.jit(functools.partial(winograd_conv, f=F43)), (jx, jw)),
                  "input grad XLA": (_input_grad(_xla), (jx, jw, jdy)),
                  "weight grad XLA": (_weight_grad(_xla), (jx, jw, jdy)),
                  "weight grad chunked": (_weight_grad(_chunked), (jx, jw, jdy)),
                  "weight grad F(4,3)": (f43_weight_grad, (jx, jdy)),
                  "weight grad im2col": (jax.jit(im2col_weight_grad), (jx, jdy)),
                  "weight grad im2col, chunks of 16": (im2col_chunks, (jx, jdy)),
                  "weight grad 9 tap GEMMs": (jax.jit(taps_weight_grad), (jx, jdy))}  # fmt: skip
        values = {k: jax.block_until_ready(fn(*args)) for k, (fn, args) in jitted.items()}
        runners = {k: (lambda fn=fn, args=args: jax.block_until_ready(fn(*args))) for k, (fn, args) in jitted.items()}
        for k, run in _torch_runners(x, w, dy).items():
            run()
            runners[k] = run
        med = alternating_medians(runners, rounds)
        errors = {"forward F(4,3)": _rel_err(values["forward F(4,3)"], values["forward XLA"]),
                  "weight grad F(4,3)": _rel_err(values["weight grad F(4,3)"], values["weight grad XLA"])}  # fmt: skip
        rows.append({"shape": name, "channels": c, "size": h, "batch": batch, "median_ms": med, "rel_error": errors})
        log(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()))
    return rows


def _winograd_jvp(min_channels: int, stride: Any, padding: Any, dilation: Any, groups: int, chunk: int,
                  primals: tuple, tangents: tuple) -> tuple:
    """fnn's chunked JVP rule, except that a 3×3 stride-1 convolution of ≥ ``min_channels`` channels writes
    its tangent in ``w`` (whose transpose is the weight gradient) as F(4, 3) of ``x``."""
    from jax.custom_derivatives import SymbolicZero

    from fnn.kernels import _chunked

    (x, w), (tx, tw) = primals, tangents
    eligible = (stride, padding, dilation, groups) == ((1, 1), ((1, 1), (1, 1)), (1, 1), 1) and w.shape[:2] == (3, 3)
    if isinstance(tw, SymbolicZero) or not eligible or x.shape[3] < min_channels:
        return _chunked._conv_jvp(stride, padding, dilation, groups, chunk, primals, tangents)
    y, tangent = _chunked._conv_jvp(stride, padding, dilation, groups, chunk, primals,
                                    (tx, SymbolicZero(jax.typeof(w))))  # fmt: skip
    by_w = output_transform(jnp.einsum("kpc,kco->kpo", input_transform(x, F43), filter_transform(tw, F43)), F43,
                            x.shape)  # fmt: skip
    return y, tangent + by_w


def measure_network(rounds: int, log: Callable, min_channels: Sequence[int] = (32,)) -> dict[str, float]:
    from bench.models_cnn import fnn_cnn_step
    from fnn.kernels import _chunked

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((128, 3, 32, 32), np.float32))
    y = jnp.asarray(rng.integers(0, 10, 128))
    key = jax.random.key(1)
    steps = {}
    rules = [("chunked weight gradient", _chunked._conv_jvp)]
    rules += [(f"F(4,3) weight gradient from {c} channels", functools.partial(_winograd_jvp, c)) for c in min_channels]
    for name, rule in rules:
        _chunked._conv.defjvp(rule, symbolic_zeros=True)
        try:
            step, state = fnn_cnn_step("resnet20")
            state = list(step(*state, x, y, key)[:3])  # traced and compiled under `rule`
        finally:
            _chunked._conv.defjvp(_chunked._conv_jvp, symbolic_zeros=True)
        steps[name] = [step, state]

    def runner(name: str) -> Callable:
        def run() -> None:
            step, state = steps[name]
            for _ in range(3):
                *state, loss = step(*state, x, y, key)
            jax.block_until_ready(loss)
            steps[name][1] = state

        return run

    med = {k: v / 3 for k, v in alternating_medians({k: runner(k) for k in steps}, rounds).items()}
    log("ResNet-20 step: " + ", ".join(f"{k} {v:.1f} ms" for k, v in med.items()))
    return med


def table(rows: list[dict]) -> str:
    cols = list(rows[0]["median_ms"])
    lines = ["| convolution (batch, size) | " + " | ".join(cols) + " | F(4,3) error: forward, weight grad |",
             "|---|" + "---:|" * (len(cols) + 1)]  # fmt: skip
    for r in rows:
        e = r["rel_error"]
        lines.append(f"| {r['shape']} ({r['batch']}, {r['size']}²) | "
                     + " | ".join(f"{r['median_ms'].get(c, float('nan')):.2f}" for c in cols)
                     + f" | {e['forward F(4,3)']:.1e}, {e['weight grad F(4,3)']:.1e} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--network", type=int, default=0, metavar="R", help="also time ResNet-20's step, R rounds")
    ap.add_argument("--network-channels", type=int, nargs="+", default=[32], metavar="C",
                    help="one network variant per C: the F(4,3) weight gradient from C channels up (default: 32)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--tag", default="winograd")
    a = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    rows = measure_layers(a.rounds, a.batch, log)
    out: dict = {"rows": rows, "rounds": a.rounds, "load_start": load, "jax": jax.__version__}
    md = (f"Medians of {a.rounds} interleaved rounds, ms; 3×3 stride-1 convolutions, NHWC, float32.\n\n"
          f"{table(rows)}\n")  # fmt: skip
    if a.network:
        out["resnet20_step_ms"] = net = measure_network(a.network, log, a.network_channels)
        base = next(iter(net.values()))
        md += (f"\nResNet-20 train step, {a.network} alternating rounds of 3 steps: "
               + ", ".join(f"{k} {v:.1f} ms ({v / base:.3f}×)" for k, v in net.items()) + ".\n")  # fmt: skip
    out["load_end"], out["seconds"] = os.getloadavg()[0], time.perf_counter() - t0
    md += f"\nLoad average {out['load_start']:.1f} at start, {out['load_end']:.1f} at end.\n"
    write_results(a.out, a.tag, out, md)
    return out


if __name__ == "__main__":
    main()
