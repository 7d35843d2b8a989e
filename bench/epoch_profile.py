"""Where ``fnn.fit``'s epoch spends its time beyond the bare steps of ``bench/epoch.py``.

    python -m bench.epoch_profile [--model mlp] [--rounds 9] [--steps 100] [--top 14]
    taskset -c 0 python -m bench.epoch_profile   # one core: a clean per-kernel split

Same model, data and optimizer as ``bench/epoch.py`` (genuine MNIST, batch 128, SGD). Three parts:

* **per call**: ``fit(..., max_steps=1)`` (everything fit does once per call, plus one step) and
  its pieces timed alone: the epoch's permutation, the label check, the initial state.
* **per step**: fit's compiled step (``fnn.train._step.epoch_kernel``) and the bare step
  (``fnn.make_train_step``), ``--steps`` steps each, in interleaved rounds: process CPU time
  per step (all threads) and wall time.
* **inside the step**: an XLA profile (``jax.profiler``) of ``--steps`` steps of each program:
  every compiled kernel ("thunk") with its time per step, and the number of kernels. Fusion
  names are XLA's; the same name in the two programs need not be the same computation.
"""

from __future__ import annotations

import argparse
import collections
import glob
import statistics
import tempfile
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

from bench.common import BATCH, LR, load_mnist
from bench.models_jax import fnn_model


def _median_ms(fn: Callable[[], object], reps: int) -> float:
    jax.block_until_ready(fn())
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def _thunks(run: Callable[[], None], steps: int) -> dict[str, float]:
    """``{kernel name: microseconds per step}`` from an XLA profile of ``run`` (``steps`` steps)."""
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d):
            run()
        path = glob.glob(f"{d}/**/*.xplane.pb", recursive=True)[0]
        data = jax.profiler.ProfileData.from_file(path)
    total: dict[str, float] = collections.defaultdict(float)
    for plane in data.planes:
        for line in plane.lines:
            if line.name == "python":
                continue
            for ev in line.events:
                if not ev.name.startswith(("ThunkExecutor", "end:", "ThreadpoolListener")):
                    total[ev.name] += ev.duration_ns / 1e3 / steps
    return dict(total)


def main(argv: list[str] | None = None) -> None:
    import optax

    import fnn
    from fnn.train._labels import check_labels
    from fnn.train._state import TrainState, copy_tree
    from fnn.train._step import epoch_kernel, permutation

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="mlp", choices=["mlp", "lenet"])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--top", type=int, default=14, help="kernels listed per program")
    a = ap.parse_args(argv)

    x, y = load_mnist(a.model)
    data, n = fnn.Dataset(x, y), len(x)
    net, crit, opt = fnn_model(a.model), fnn.CrossEntropyCriterion(), optax.sgd(LR)
    _, params0, state0 = net.stateful.init(jax.random.key(0), (-1, *x.shape[1:]))
    metrics = (("accuracy", fnn.accuracy),)

    def fit_one_step():
        return fnn.fit(net, crit, opt, data, epochs=1, batch_size=BATCH, rng=jax.random.key(2), params=params0,
                       state=state0, progress=False, max_steps=1).params

    ts = copy_tree(TrainState.create(net, opt, jax.random.key(2), data.input_shape, data.input_dtype,
                                     params=params0, state=state0, metrics=metrics))
    print(f"jax {jax.__version__}, {a.model}, {n} examples, batch {BATCH}")
    print("per call (median ms):")
    print(f"  fit(max_steps=1)             {_median_ms(fit_one_step, a.rounds):7.2f}")
    perm_fn = permutation(n, ts.rng_impl)
    print(f"  the epoch's permutation      {_median_ms(lambda: perm_fn(ts.rng, 0), a.rounds):7.2f}")
    labels = _median_ms(lambda: check_labels(net, crit, "fit", data=data), a.rounds)
    print(f"  label check                  {labels:7.2f}")
    create = lambda: copy_tree(TrainState.create(net, opt, jax.random.key(2), data.input_shape,  # noqa: E731
                                                 data.input_dtype, params=params0, state=state0, metrics=metrics))
    print(f"  initial state (+ its copy)   {_median_ms(create, a.rounds):7.2f}")

    gather, kernel, _ = epoch_kernel(net, crit, opt, metrics, BATCH, n, False, ts.rng_impl, True)
    step = fnn.make_train_step(net, crit, opt)
    perm = perm_fn(ts.rng, 0)
    spe = n // BATCH
    batches = [(data.x[i * BATCH:(i + 1) * BATCH], data.y[i * BATCH:(i + 1) * BATCH]) for i in range(spe)]
    key = jax.random.key(1)
    box = {"fit": (ts.params, ts.state, ts.opt_state, ts.rng, ts.step, ts.running),
           "bare": (jax.tree.map(jnp.copy, params0), state0, opt.init(params0))}
    at = [0]

    def run_fit() -> None:
        carry, batch = box["fit"], gather(data.x, data.y, perm, at[0] % spe)
        for i in range(at[0], at[0] + a.steps):
            carry, batch = kernel(carry, batch, data.x, data.y, perm, i % spe)
        box["fit"] = jax.block_until_ready(carry)

    def run_bare() -> None:
        carry = box["bare"]
        for i in range(at[0], at[0] + a.steps):
            *carry, loss = step(*carry, *batches[i % spe], key)
        box["bare"] = jax.block_until_ready(tuple(carry))

    runs = {"bare": run_bare, "fit": run_fit}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    wall: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(a.rounds + 1):
        for k in (list(runs) if r % 2 == 0 else list(reversed(runs))):
            c, w = time.process_time(), time.perf_counter()
            runs[k]()
            if r:  # round 0 warms up
                cpu[k].append((time.process_time() - c) / a.steps * 1e3)
                wall[k].append((time.perf_counter() - w) / a.steps * 1e3)
        at[0] += a.steps
    print(f"per step (median of {a.rounds} interleaved rounds of {a.steps} steps):")
    for k in runs:
        print(f"  {k:5s} CPU {statistics.median(cpu[k]):6.3f} ms  wall {statistics.median(wall[k]):6.3f} ms")
    ratio = statistics.median(f / b for f, b in zip(cpu["fit"], cpu["bare"]))
    ratio_w = statistics.median(f / b for f, b in zip(wall["fit"], wall["bare"]))
    print(f"  fit / bare: CPU {ratio:.3f}, wall {ratio_w:.3f} (medians of the per-round ratios)")

    print(f"inside the step (XLA profile, microseconds per step, {a.steps} steps):")
    for k, run in runs.items():
        t = _thunks(run, a.steps)
        at[0] += a.steps
        print(f"  {k}: {len(t)} kernels, {sum(t.values()):.0f} us in all")
        for name, us in sorted(t.items(), key=lambda kv: -kv[1])[:a.top]:
            print(f"    {us:8.1f}  {name}")


if __name__ == "__main__":
    main()
