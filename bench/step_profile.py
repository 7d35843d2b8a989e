"""Where one fnn train step of a bench model spends its time, kernel by kernel (an XLA profile).

    python -m bench.step_profile [--model resnet20] [--steps 3] [--top 20]
    python -m bench.step_profile --variant onednn   # traced with a bench.step_variants switch in place
    python -m bench.step_profile --keep-host-memory --warmup 20   # with fnn.core.keep_host_memory()

The step is the fnn row of ``bench/run.py`` (``fnn.make_train_step``, SGD, batch 128, random
inputs of the model's shape). After ``--warmup`` calls (the first compiles), ``--steps`` steps run under
``jax.profiler``; every compiled kernel ("thunk") is reported in microseconds per step, grouped
by kind (the fusion name without its number: ``ynn_fusion`` is a YNNPACK convolution or dot,
``transpose_copy_fusion`` a layout change, ``convolution`` XLA's own) and, below, the largest ones
with their output shapes.

Kernel times are summed over XLA's threads, so the total can exceed the step's wall time, and
kernels XLA runs asynchronously (its Eigen ``convolution``) show only their launch. The figures
in ``bench/HISTORY.md`` ("Round 2", second, ninth and tenth passes) come from this script.
"""

from __future__ import annotations

import argparse
import collections
import re

import jax
import jax.numpy as jnp

from bench.common import MODELS, add_keep_host_memory, batch_size, init_shape, keep_host_memory_if_asked
from bench.epoch_profile import _thunks


def kind(name: str) -> str:
    """A kernel's kind: its name without XLA's numbering.

    >>> kind("ynn_fusion.261"), kind("transpose_copy_fusion"), kind("dot.2")
    ('ynn_fusion', 'transpose_copy_fusion', 'dot')
    """
    return re.sub(r"\.\d+$", "", name)


def profile(model: str, steps: int, variant: str = "fnn", warmup: int = 1) -> tuple[dict[str, float], dict[str, str]]:
    """``({kernel: microseconds per step}, {kernel: output shape})`` of ``steps`` train steps, traced
    with one of ``bench.step_variants``' switches in place (``"fnn"``: as shipped), after ``warmup`` runs
    of ``steps`` steps."""
    from bench.step_variants import VARIANTS, fnn_train_step

    step, state = fnn_train_step(model)
    shape = tuple(batch_size(model) if d == -1 else d for d in init_shape(model))  # the LSTM's is time-major
    x = jax.random.normal(jax.random.key(1), shape, jnp.float32)
    y, key = jnp.zeros(batch_size(model), jnp.int32), jax.random.key(2)
    box = {"state": list(state)}

    def run() -> None:
        for _ in range(steps):
            *box["state"], loss = step(*box["state"], x, y, key)
        jax.block_until_ready(loss)

    with VARIANTS[variant][1]():  # read when the step is traced: by the lowering and the first run
        hlo = step.lower(*box["state"], x, y, key).compile().as_text()
        for _ in range(warmup):
            run()  # compile and warm up
    shapes = {m.group(1): m.group(2) for m in re.finditer(r"%(\S+) = (\S+) \S+\(", hlo)}
    return _thunks(run, steps), shapes


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet20", choices=sorted(MODELS))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--top", type=int, default=20, help="largest kernels listed")
    ap.add_argument("--variant", default="fnn", help="one of bench.step_variants.VARIANTS (default: fnn as shipped)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of --steps steps first (the first compiles)")
    add_keep_host_memory(ap)
    a = ap.parse_args(argv)
    keep_host_memory_if_asked(ap, a)

    times, shapes = profile(a.model, a.steps, a.variant, a.warmup)
    by_kind: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])
    for name, us in times.items():
        by_kind[kind(name)][0] += us
        by_kind[kind(name)][1] += 1
    print(f"jax {jax.__version__}, fnn {a.model} train step, batch {batch_size(a.model)}: {len(times)} kernels, "
          f"{sum(times.values()) / 1e3:.1f} ms of kernel time per step")
    print("by kind (ms per step, kernels):")
    for k, (us, n) in sorted(by_kind.items(), key=lambda kv: -kv[1][0]):
        if us >= 10:
            print(f"  {us / 1e3:9.2f}  {n:4d}  {k}")
    print(f"the {a.top} largest (ms per step, output shape):")
    for name, us in sorted(times.items(), key=lambda kv: -kv[1])[: a.top]:
        print(f"  {us / 1e3:9.2f}  {name:32s} {shapes.get(name, '')}")


if __name__ == "__main__":
    main()
