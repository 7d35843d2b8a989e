"""fnn's train step against itself with one of its choices undone: same-process A/Bs of the kernels' choices.

    python -m bench.step_variants                                   # ResNet-20, every variant (~4 min)
    python -m bench.step_variants --model vgg --variants chunk-8 chunk-32 --rounds 12

Each variant is a module-level switch of fnn (:data:`VARIANTS`), in place only while the step is
traced, or a change to the XLA options it compiles with (:data:`OPTIONS`): the fnn row's step of
``bench/run.py`` (``fnn.make_train_step``) is built once per variant, traced and lowered inside the
switch, and compiled with fnn's step options (:data:`fnn.core.STEP_COMPILER_OPTIONS`) as the variant
changes them. The compiled steps then run in alternating rounds of three steps each (the MLP and
LeNet-5: twenty; forward order on even rounds, backward on odd), on the same batch. Two cores move a
step by +-5 % between processes; within one process the ratios to the ``fnn`` row hold to about 1-2 %.

Writes ``bench/results/<tag>.{json,md}`` (``--tag``, default ``step_variants-<model>``); the figures
in ``bench/HISTORY.md`` ("Round 2", eighth to twelfth passes) come from this script.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from bench.common import write_results


@contextlib.contextmanager
def _patched(module: Any, **values: Any) -> Iterator[None]:
    """Sets module attributes for the duration of the block, then restores them."""
    saved = {name: getattr(module, name) for name in values}
    for name, value in values.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def _norm_plain() -> contextlib.AbstractContextManager:
    import fnn.layers._batch_norm as bn
    import fnn.layers._norm as norm

    stack = contextlib.ExitStack()  # the same arithmetic, differentiated by JAX as written
    for module in (bn, norm):
        stack.enter_context(_patched(module, normalize=norm.normalize.fun))
    return stack


def _chunk(n: int) -> Callable[[], contextlib.AbstractContextManager]:
    def variant() -> contextlib.AbstractContextManager:
        import fnn.kernels._chunked as ch
        import fnn.kernels._dispatch as dp

        stack = contextlib.ExitStack()
        stack.enter_context(_patched(ch, CHUNK=n))
        stack.enter_context(_patched(dp, CHUNK=n))
        return stack

    return variant


def _no_phases() -> contextlib.AbstractContextManager:
    import fnn.kernels._chunked as ch

    strided = lambda x, w, stride, padding, out_hw, groups: ch._xla(x, w, stride, padding, (1, 1), groups)
    return _patched(ch, _conv_by_phases=strided)


def _min_pixels(n: int) -> Callable[[], contextlib.AbstractContextManager]:
    def variant() -> contextlib.AbstractContextManager:
        import fnn.kernels._chunked as ch

        return _patched(ch, MIN_OUT_PIXELS=n)

    return variant


def _no_onednn() -> contextlib.AbstractContextManager:
    import fnn.kernels._dispatch as dp

    return _patched(dp, onednn_available=lambda: False)


def _onednn_everywhere() -> contextlib.AbstractContextManager:
    import fnn.kernels

    return fnn.kernels.implementation("onednn")


def _xla_kernels() -> contextlib.AbstractContextManager:
    import fnn.kernels

    return fnn.kernels.implementation("xla")


# name -> (what it changes, a context manager factory: the switch in place while the step is traced)
VARIANTS: dict[str, tuple[str, Callable[[], contextlib.AbstractContextManager]]] = {
    "fnn": ("fnn as shipped", contextlib.nullcontext),
    "no-onednn": ("the pure-JAX CPU forms, as where oneDNN is not installed", _no_onednn),
    "onednn": ("batch norm on oneDNN too (fnn.kernels.implementation('onednn'))", _onednn_everywhere),
    "norm-plain": ("normalisation differentiated as written (no custom JVP rule)", _norm_plain),
    "chunk-8": ("weight gradients summed over chunks of 8 images (fnn: 16)", _chunk(8)),
    "chunk-32": ("weight gradients summed over chunks of 32 images", _chunk(32)),
    "no-phases": ("strided convolutions' input gradient as XLA's base-dilated convolution", _no_phases),
    "min-pixels-65": ("XLA's own weight gradient at 8x8 outputs too (fnn: chunked from 64 pixels)", _min_pixels(65)),
    "xla-kernels": ("every convolution and pooling XLA's own (fnn.kernels.implementation('xla'))", _xla_kernels),
    "region-copies": ("XLA's copy insertion by region analysis: no copies of donated weights", contextlib.nullcontext),
    "xla-onednn": ("XLA:CPU's own oneDNN rewrites of dots (its two oneDNN options)", contextlib.nullcontext),
    "no-concurrency-scheduler": ("XLA:CPU's scheduler not optimised for concurrent kernels", contextlib.nullcontext),
}
# name -> XLA options the variant compiles with, over fnn.core.STEP_COMPILER_OPTIONS
OPTIONS: dict[str, dict[str, Any]] = {
    "region-copies": {"xla_cpu_copy_insertion_use_region_analysis": True},
    "xla-onednn": {"xla_cpu_use_onednn": True, "xla_cpu_experimental_onednn_custom_call": True},
    "no-concurrency-scheduler": {"xla_cpu_enable_concurrency_optimized_scheduler": False},
}


def compiler_options(name: str) -> dict[str, Any]:
    """The XLA options variant ``name`` compiles with: fnn's step options, changed by :data:`OPTIONS`."""
    from fnn.core import STEP_COMPILER_OPTIONS, cpu_compiler_options

    return cpu_compiler_options({**STEP_COMPILER_OPTIONS, **OPTIONS.get(name, {})})


def fnn_train_step(model: str) -> tuple[Callable, tuple]:
    """The train step of ``bench/run.py``'s fnn row for ``model`` (any bench model), and its initial state."""
    from bench.common import CNNS

    if model in CNNS:
        from bench.models_cnn import fnn_cnn_step

        return fnn_cnn_step(model)
    from bench.models_jax import fnn_step

    return fnn_step(model)


def step_times(model: str, variants: list[str], rounds: int, log: Callable[[str], None] = print) -> dict[str, dict]:
    """``{variant: {"ms": median ms per step, "compile_s": trace + lower + compile}}``."""
    import jax
    import jax.numpy as jnp

    from bench.common import make_batch

    xn, yn = make_batch(model)
    x, y, key = jnp.asarray(xn), jnp.asarray(yn), jax.random.key(2)
    steps = 3 if model in ("resnet20", "vgg") else 20
    runs, compile_s = {}, {}
    for name in variants:
        log(f"{model}: tracing and compiling {name}")
        step, state = fnn_train_step(model)
        t = time.perf_counter()
        with VARIANTS[name][1]():
            lowered = step.plain.trace(*state, x, y, key).lower()
        compiled = lowered.compile(compiler_options(name))
        compile_s[name] = time.perf_counter() - t
        box = {"state": list(state)}

        def run(compiled=compiled, box=box) -> None:
            for _ in range(steps):
                *box["state"], loss = compiled(*box["state"], x, y, key)
            jax.block_until_ready(loss)

        run()  # warm-up
        runs[name] = run
    times: dict[str, list[float]] = {name: [] for name in runs}
    for k in range(rounds):
        for name in list(runs) if k % 2 == 0 else reversed(list(runs)):
            t = time.perf_counter()
            runs[name]()
            times[name].append((time.perf_counter() - t) / steps)
    return {name: {"ms": 1e3 * float(np.median(v)), "compile_s": compile_s[name]} for name, v in times.items()}


def table(model: str, result: dict[str, dict]) -> str:
    """Markdown: one row per variant, its median step, its ratio to the first row, and its compile time."""
    base = next(iter(result.values()))["ms"]
    lines = [f"| {model}: variant | what it changes | ms per step | × {next(iter(result))} | compile (s) |",
             "|---|---|---:|---:|---:|"]
    for name, r in result.items():
        lines.append(f"| {name} | {VARIANTS[name][0]} | {r['ms']:.1f} | {r['ms'] / base:.3f} | {r['compile_s']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="resnet20", choices=["resnet20", "vgg", "lenet", "mlp", "lstm"])
    ap.add_argument("--variants", nargs="+", default=[v for v in VARIANTS if v != "fnn"], choices=list(VARIANTS),
                    help="variants to run beside fnn as shipped (the kernel switches apply to the CNNs)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--tag", help="output file name (default: step_variants-<model>)")
    args = ap.parse_args(argv)
    variants = ["fnn"] + [v for v in args.variants if v != "fnn"]
    result = step_times(args.model, variants, args.rounds)
    md = table(args.model, result)
    print(md)
    write_results(args.out, args.tag or f"step_variants-{args.model}", {"model": args.model, "rounds": args.rounds,
                                                             "result": result}, md + "\n")
    return result


if __name__ == "__main__":
    main()
