"""Shared pieces of the benchmark: model shapes, FLOP counts, data, timing and the matmul peak."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

BATCH = 128
LR = 0.01
MODELS = ("mlp", "lenet", "resnet20", "vgg", "lstm")
CNNS = ("resnet20", "vgg")  # CIFAR-10-shaped: 3x32x32 inputs, 10 classes
# The LSTM of the sequences issue's benchmark: T=50 steps of N=32 sequences, 64 features in, 128 hidden,
# time-major (T, N, F) like torch.nn.LSTM; a 128->10 linear head on the last step classifies each sequence.
LSTM_T, LSTM_N, LSTM_IN, LSTM_H = 50, 32, 64, 128
MNIST_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist.npz")


def batch_size(model: str) -> int:
    """Examples per step: :data:`BATCH`, and :data:`LSTM_N` sequences for the LSTM."""
    return LSTM_N if model == "lstm" else BATCH


def input_shape(model: str, layout: str = "NCHW") -> tuple[int, ...]:
    """One example's shape: ``(784,)`` for the MLP, ``(1, 32, 32)`` (or ``(32, 32, 1)`` NHWC) for LeNet-5,
    ``(LSTM_T, LSTM_IN)`` for the LSTM."""
    if model == "mlp":
        return (784,)
    if model == "lstm":
        return (LSTM_T, LSTM_IN)
    c = 3 if model in CNNS else 1
    return (32, 32, c) if layout == "NHWC" else (c, 32, 32)


def init_shape(model: str) -> tuple[int, ...]:
    """The input shape fnn's ``init`` takes, ``-1`` for the batch: time-major ``(LSTM_T, -1, LSTM_IN)`` for the LSTM."""
    return (LSTM_T, -1, LSTM_IN) if model == "lstm" else (-1, *input_shape(model))


def train_flops(model: str, batch: int | None = None) -> int:
    """Nominal FLOPs of one train step: multiply-adds of every matmul/convolution counted twice,
    forward + weight gradient + input gradient (none for the first layer's input). The
    elementwise work (ReLU, pooling, softmax, the gates, the update) is not counted."""
    batch = batch_size(model) if batch is None else batch
    if model in CNNS:
        return _cnn_flops(model, batch)
    if model == "lstm":  # the gates' two products at every step, then the head on the last one
        x_proj, h_proj = 2 * LSTM_T * batch * LSTM_IN * 4 * LSTM_H, 2 * LSTM_T * batch * LSTM_H * 4 * LSTM_H
        return int(3 * (x_proj + h_proj + 2 * batch * LSTM_H * 10) - x_proj)
    if model == "mlp":
        layers = [(784, 512), (512, 512), (512, 10)]
        fwd = [2 * batch * i * o for i, o in layers]
    else:
        conv = lambda c, o, k, ho: 2 * batch * ho * ho * o * c * k * k
        dense = [2 * batch * i * o for i, o in [(400, 120), (120, 84), (84, 10)]]
        fwd = [conv(1, 6, 5, 28), conv(6, 16, 5, 10), *dense]
    return int(3 * sum(fwd) - fwd[0])


def cnn_layers(model: str) -> list[tuple[int, int, int, int]]:
    """``(c_in, c_out, k, h_out)`` of every convolution (square, in order), then the dense layers as ``k = h_out = 1``.

    * ``resnet20``: He et al.'s CIFAR ResNet-20: a 3x3 stem 3->16, three stages of three basic blocks
      (two 3x3 convolutions with BN) at 16/32/64 channels on 32/16/8 pixels, stride 2 at the start of
      stages 2 and 3 with a 1x1 stride-2 convolution + BN on the shortcut ("option B"), global
      average pooling, a 64->10 dense layer. Convolutions without bias (BN follows).
    * ``vgg``: a VGG-style net without BN: 3x3 convolutions (padding 1, ReLU) 3->32, pool,
      32->64, pool, 64->128, 128->128, pool (2x2 max), then 2048->256->10 dense (ReLU between).
    """
    if model == "vgg":
        return [(3, 32, 3, 32), (32, 64, 3, 16), (64, 128, 3, 8), (128, 128, 3, 8), (2048, 256, 1, 1), (256, 10, 1, 1)]
    out = [(3, 16, 3, 32)]
    for cin, cout, h in ((16, 16, 32), (16, 32, 16), (32, 64, 8)):
        for b in range(3):
            out += [(cin if b == 0 else cout, cout, 3, h), (cout, cout, 3, h)]
        if cin != cout:
            out.append((cin, cout, 1, h))
    return out + [(64, 10, 1, 1)]


def _cnn_flops(model: str, batch: int) -> int:
    fwd = [2 * batch * h * h * o * c * k * k for c, o, k, h in cnn_layers(model)]
    return int(3 * sum(fwd) - fwd[0])


def make_batch(model: str, batch: int | None = None, seed: int = 0,
               layout: str = "NCHW") -> tuple[np.ndarray, np.ndarray]:
    """A random float32 input batch and int32 class targets (the same for every row); the LSTM's is
    time-major, ``(LSTM_T, batch, LSTM_IN)``."""
    batch = batch_size(model) if batch is None else batch
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *input_shape(model, "NCHW"))).astype(np.float32)
    if model == "lstm":
        x = np.ascontiguousarray(x.transpose(1, 0, 2))
    if layout == "NHWC" and model != "mlp":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    y = rng.integers(0, 10, batch).astype(np.int32)
    return x, y


def load_mnist(model: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Genuine MNIST training images scaled to [0, 1]: ``(n, 784)`` or zero-padded ``(n, 1, 32, 32)``.

    The path is ``$FNN_MNIST`` (default: ``shared/data/mnist.npz`` beside the repository).
    """
    path = os.environ.get("FNN_MNIST", MNIST_DEFAULT)
    with np.load(path) as d:
        x, y = d["x_train"], d["y_train"]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    x = x.astype(np.float32) / 255.0
    x = x.reshape(len(x), 784) if model == "mlp" else np.pad(x, ((0, 0), (2, 2), (2, 2)))[:, None]
    return np.ascontiguousarray(x), y.astype(np.int32)


@dataclasses.dataclass
class Row:
    """One library's train step, ready to run.

    ``step()`` runs one train step (asynchronously where the library allows);
    ``sync()`` waits for the last one. ``memory_fn()`` (called after the first step)
    returns the step's peak working memory in bytes where the library can report it;
    ``note`` says how it was measured. ``compile_s`` is preset when the row had to
    compile while it was built.
    """

    name: str
    step: Callable[[], Any]
    sync: Callable[[], Any]
    memory_fn: Callable[[], int | None] | None = None
    note: str = ""
    compile_s: float | None = None
    memory: int | None = None


def first_call(row: Row) -> float:
    """Seconds of the first step (tracing, compilation and one run)."""
    t = time.perf_counter()
    row.step()
    row.sync()
    return time.perf_counter() - t


def interleaved(rows: list[Row], rounds: int, steps: int, gap: float = 0.05, log: Callable | None = None,
                deadline: float | None = None) -> dict:
    """Per-step seconds of every row: ``rounds`` rounds, each timing ``steps`` steps of every row in
    turn (the order rotates each round, so no row always follows the same neighbour). A short
    pause between blocks lets spinning thread pools of the previous library go idle. With a
    ``deadline`` (a ``time.perf_counter()`` value) no round starts after it; the first always runs."""
    times: dict[str, list[float]] = {r.name: [] for r in rows}
    for k in range(rounds):
        if k and deadline is not None and time.perf_counter() > deadline:
            if log:
                log(f"  time budget: stopping after {k} of {rounds} rounds")
            break
        order = rows[k % len(rows):] + rows[: k % len(rows)]
        for r in order:
            gc.collect()
            time.sleep(gap)
            t = time.perf_counter()
            for _ in range(steps):
                r.step()
            r.sync()
            times[r.name].append((time.perf_counter() - t) / steps)
        if log:
            log(f"  round {k + 1}/{rounds}: " + ", ".join(f"{n} {v[-1] * 1e3:.2f}" for n, v in times.items()))
    return times


def alternating_medians(runners: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Median milliseconds of one call of each runner: ``rounds`` rounds, every runner once per
    round, in forward order on even rounds and backward on odd ones (no runner always first)."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for k in range(rounds):
        for name in list(runners) if k % 2 == 0 else reversed(list(runners)):
            t = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - t)
    return {name: 1e3 * float(np.median(v)) for name, v in times.items()}


def write_results(out_dir: str, tag: str, data: dict, md: str) -> None:
    """``out_dir/tag.json`` (``data``) and ``out_dir/tag.md`` (``md``), and ``md`` on stdout."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, f"{tag}.json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(out_dir, f"{tag}.md"), "w") as f:
        f.write(md)
    print(md)


def summary(samples: list[float]) -> dict:
    a = np.asarray(samples)
    return {
        "median_ms": float(np.median(a) * 1e3),
        "q1_ms": float(np.percentile(a, 25) * 1e3),
        "q3_ms": float(np.percentile(a, 75) * 1e3),
        "min_ms": float(a.min() * 1e3),
        "samples_ms": [float(v * 1e3) for v in a],
    }


def matmul_peak(n: int = 1024, reps: int = 10, torch_device: str = "cpu") -> dict:
    """The machine's measured float32 matmul peak (GFLOP/s): the best of XLA's (on JAX's default
    device) and PyTorch's (on ``torch_device``) ``n x n @ n x n``, best of ``reps``."""
    import jax
    import jax.numpy as jnp

    out = {}
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t)
    out["xla"] = 2 * n**3 / best / 1e9
    try:
        import torch

        b = torch.from_numpy(np.asarray(a).copy()).to(torch_device)
        sync = torch.cuda.synchronize if torch_device != "cpu" else lambda: None
        b @ b
        sync()
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            b @ b
            sync()
            best = min(best, time.perf_counter() - t)
        out["torch"] = 2 * n**3 / best / 1e9
    except ImportError:
        pass
    out["peak"] = max(out.values())
    return out


def xla_memory(compiled: Any) -> int | None:
    """Bytes of one compiled XLA step: arguments + outputs + temporaries (aliased buffers once)."""
    try:
        m = getattr(compiled, "compiled", compiled).memory_analysis()  # equinox wraps the executable
        return int(m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def add_keep_host_memory(ap: Any, help: str = "call fnn.core.keep_host_memory() first") -> None:
    """Adds ``--keep-host-memory`` to an argparse parser (apply it with :func:`keep_host_memory_if_asked`)."""
    ap.add_argument("--keep-host-memory", action="store_true", help=help)


def keep_host_memory_if_asked(ap: Any, args: Any) -> None:
    """``fnn.core.keep_host_memory()`` where ``--keep-host-memory`` was given; a usage error where it cannot
    take effect (no glibc, or JAX already started). Call it before the script's first JAX computation."""
    if not args.keep_host_memory:
        return
    import fnn

    if not fnn.core.keep_host_memory():
        ap.error("--keep-host-memory: fnn.core.keep_host_memory() could not set glibc's malloc (see its warning)")
