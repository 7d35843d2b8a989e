"""The benchmark tables on a CUDA GPU, and the proof that fnn runs XLA's convolutions there.

    python -m bench.gpu                    # on a machine with a CUDA GPU: at most --budget-s (420) seconds
    python -m bench.gpu --dry-run          # the same code path on the CPU, one tiny round (a smoke test)

Needs JAX with CUDA (``pip install "jax[cuda13]"`` or ``jax[cuda12]``), optax, numpy and
safetensors (fnn's own dependencies; fnn is imported from the repository root), and optionally
flax, equinox, dm-haiku and PyTorch with CUDA for their rows (a missing library's row is skipped).

What it does, in this order, inside one wall-clock budget (``--budget-s``):

1. **Dispatch check** (:func:`dispatch_check`): for every CNN in the run it traces fnn's train
   step twice, with ``fnn.kernels`` left on ``"auto"`` and forced to ``"xla"``, lowers both for
   the ``cuda`` platform with ``jax.export`` (this works on a CPU-only machine too) and compares
   their StableHLO op counts: on CUDA the ``auto`` step must hold exactly the ``convolution``,
   ``dot_general``, ``reduce_window``, ``select_and_scatter``, ``maximum`` and ``concatenate``
   ops of XLA's form (the CPU kernels' banded GEMMs are dot_general ops built with
   concatenates, their pooling is maximums). The ``cpu`` lowering of the same step
   is recorded beside it: it differs, which shows that the check can tell. On a GPU the
   ``auto`` step is also compiled, and the convolutions of the executable (``convolution`` ops
   or cuDNN custom calls) are counted and recorded; a count of zero is logged as a warning.
2. **Tables**: :func:`bench.run.bench_model` for each model (rows fnn, raw JAX, flax, equinox,
   haiku, PyTorch eager on CUDA by default), each model given an equal share of the time left;
   a model whose share runs out stops after the current round (``compile (s)`` is the first
   step minus the median step, as on the CPU).
3. Writes ``bench/results/gpu-<tag>.json`` and ``.md`` after every model (a run stopped from
   outside keeps what it finished), then exits non-zero if the dispatch check failed.

JAX is told not to pre-allocate most of the GPU (``XLA_PYTHON_CLIENT_PREALLOCATE=false``), so
PyTorch can share it. Each library keeps its own float32 defaults (JAX's matmuls and
convolutions, and cuDNN's convolutions in PyTorch, may use TF32 on Ampere and later; PyTorch's
matmuls do not): the JSON records them.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import faulthandler
import json
import os
import re
import time
from typing import Any

from bench import common, run

ROWS = ("fnn", "fnn-xla", "raw", "raw+kernels", "flax", "equinox", "haiku", "torch", "torch.compile")
DEFAULT_ROWS = ("fnn", "raw", "flax", "equinox", "haiku", "torch")
CONVNETS = ("lenet", "resnet20", "vgg")
# The ops that decide where the work goes; the wrappers of lax.platform_dependent (case, return,
# constants, and the zero residuals its untaken branch leaves) are left out of the comparison.
COMPUTE_OPS = ("convolution", "dot_general", "reduce_window", "select_and_scatter", "maximum", "concatenate")
RESERVE_S = 10.0  # kept back from the budget for writing the results


def _log(msg: str) -> None:
    run._log(msg)


def op_counts(stablehlo: str) -> collections.Counter:
    """How often each ``stablehlo.<op>`` occurs in a module's text."""
    return collections.Counter(re.findall(r"stablehlo\.([a-z_]+)", stablehlo))


def compiled_convolutions(hlo: str) -> dict[str, int]:
    """Convolutions in a compiled executable's HLO text: ``convolution`` ops and custom calls whose
    target names a convolution (cuDNN's ``__cudnn$conv...``); ``dot`` ops and GEMM custom calls."""
    hlo = re.sub(r"metadata=\{[^}]*\}", "", hlo)
    targets = re.findall(r'custom_call_target="([^"]+)"', hlo)
    return {"convolution_ops": len(re.findall(r"\sconvolution\(", hlo)),
            "conv_custom_calls": sum("conv" in t.lower() for t in targets),
            "dot_ops": len(re.findall(r"\sdot\(", hlo)),
            "gemm_custom_calls": sum(("gemm" in t.lower() or "matmul" in t.lower()) for t in targets)}  # fmt: skip


def _fnn_step(model: str) -> tuple[Any, tuple]:
    """A freshly jitted fnn train step (the kernel choice is read when it is traced) and abstract
    arguments for it (shapes only: nothing is initialised or compiled)."""
    import jax
    import optax

    import fnn
    from bench import models_cnn, models_jax

    net = models_cnn.fnn_cnn_model(model) if model in common.CNNS else models_jax.fnn_model(model)
    opt = optax.sgd(common.LR)

    def init(key: Any) -> tuple:
        _, params, state = net.stateful.init(key, common.init_shape(model))
        return params, state, opt.init(params)

    key = jax.random.key(1)
    x, y = common.make_batch(model)
    state = jax.eval_shape(init, key)
    step = fnn.make_train_step(net, fnn.CrossEntropyCriterion(), opt)
    return step, (*state, jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct(y.shape, y.dtype), key)


def dispatch_check(model: str, compile_on_device: bool) -> dict:
    """Whether fnn's ``model`` step lowered for CUDA is op for op XLA's form (module docstring, step 1)."""
    import jax

    from fnn import kernels

    def ops(step: Any, args: tuple, platform: str) -> dict[str, int]:
        counts = op_counts(jax.export.export(step, platforms=(platform,))(*args).mlir_module())
        return {op: counts[op] for op in COMPUTE_OPS}

    with kernels.implementation("auto"):
        step, args = _fnn_step(model)
        auto, cpu = ops(step, args, "cuda"), ops(step, args, "cpu")
        compiled = compiled_convolutions(step.lower(*args).compile().as_text()) if compile_on_device else None
    with kernels.implementation("xla"):
        xla = ops(*_fnn_step(model), "cuda")
    out: dict[str, Any] = {
        "cuda_auto": auto, "cuda_xla": xla, "cpu_auto": cpu,
        "same_as_xla_on_cuda": auto == xla, "cpu_lowering_differs": cpu != xla,
        "ok": auto == xla and auto["convolution"] > 0,
    }  # fmt: skip
    if compiled is not None:  # the executable JAX runs on this GPU: recorded (its text format is XLA's to change)
        out["compiled"] = compiled
        if compiled["convolution_ops"] + compiled["conv_custom_calls"] == 0:
            _log(f"[{model}] warning: no convolution found in the compiled executable's HLO text")
    _log(f"[{model}] dispatch check: {'ok' if out['ok'] else 'FAILED'} (cuda auto {auto}; cuda xla {xla}; cpu {cpu})")
    return out


def device_info(torch_device: str) -> dict:
    import jax

    d = jax.devices()[0]
    info: dict[str, Any] = {
        "jax_backend": jax.default_backend(), "jax_device": d.device_kind, "jax_platform": d.platform,
        "jax_matmul_precision": str(getattr(jax.config, "jax_default_matmul_precision", None)),
        "torch_device": torch_device,
    }  # fmt: skip
    if torch_device == "cuda":
        import torch

        info.update(torch_gpu=torch.cuda.get_device_name(0), torch_cuda=torch.version.cuda,
                    torch_tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                    torch_tf32_cudnn=torch.backends.cudnn.allow_tf32,
                    torch_cudnn_benchmark=torch.backends.cudnn.benchmark)
    return info


def _torch_device(dry_run: bool) -> str | None:
    """``"cuda"`` where PyTorch sees a GPU, ``"cpu"`` in a dry run, else None (no PyTorch rows)."""
    try:
        import torch
    except ImportError:
        return None
    if dry_run:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else None


def render(out: dict) -> str:
    d, p = out["device"], out["matmul_peak_gflops"]
    v = ", ".join(f"{k} {val}" for k, val in out["versions"].items() if val)
    parts = [
        f"## GPU run{' (dry run on the CPU)' if out['dry_run'] else ''}, {out['started']}",
        "",
        f"JAX on {d['jax_device']} ({d['jax_backend']}); PyTorch on {d.get('torch_gpu', d['torch_device'])}; "
        f"host {out['machine']['cpu']}, {out['machine']['cores']} cores. {v}.",
        f"Matmul peak ({out['peak_n']}², float32): XLA {p['xla']:.0f} GFLOP/s"
        + (f", PyTorch {p['torch']:.0f} GFLOP/s" if "torch" in p else "")
        + f". Up to {out['rounds']} interleaved rounds × {out['steps_per_round']} steps per row; "
        f"budget {out['budget_s']:.0f} s, {out.get('seconds', 0):.0f} s used.",
        "",
        "### fnn's convolutions on CUDA (StableHLO of the train step lowered for `cuda`)",
        "",
        "| model | ok | convolutions (auto / xla form) | dot_general (auto / xla form) | cpu lowering: conv / dot "
        "| compiled: conv ops + cuDNN calls |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for model, c in out["dispatch"].items():
        a, x, cpu = c["cuda_auto"], c["cuda_xla"], c["cpu_auto"]
        comp = c.get("compiled")
        comp_s = f"{comp['convolution_ops']} + {comp['conv_custom_calls']}" if comp else "– (no GPU)"
        parts.append(f"| {model} | {'yes' if c['ok'] else '**NO**'} | {a['convolution']} / {x['convolution']} "
                     f"| {a['dot_general']} / {x['dot_general']} | {cpu['convolution']} / {cpu['dot_general']} "
                     f"| {comp_s} |")
    for model, res in out["models"].items():
        parts += ["", run.table(model, res)]
    for model, why in out.get("skipped", {}).items():
        parts += ["", f"### {run.TITLES[model]}: skipped ({why})"]
    return "\n".join(parts) + "\n"


def _write(out: dict, path: str) -> str:
    out["seconds"] = time.perf_counter() - out["_t0"]
    md = render(out)
    with open(path + ".json", "w") as f:
        json.dump({k: v for k, v in out.items() if not k.startswith("_")}, f, indent=1)
    with open(path + ".md", "w") as f:
        f.write(md)
    return md


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", type=run._models, default=[list(common.MODELS)],
                    help="models, space- or comma-separated: " + ",".join(common.MODELS) + " (default: all)")
    ap.add_argument("--rows", nargs="+", default=None, choices=ROWS, help="default: " + " ".join(DEFAULT_ROWS))
    ap.add_argument("--rounds", type=int, help="timing rounds per model (default 15; dry run 1)")
    ap.add_argument("--steps", type=int, help="steps per row per round (default 50; dry run 1)")
    ap.add_argument("--budget-s", type=float, default=420.0, help="wall-clock budget of the whole run (default 420)")
    ap.add_argument("--memory", action="store_true", help="also measure each step's memory (one more compile per row)")
    ap.add_argument("--dry-run", action="store_true", help="run on the CPU with tiny rounds (a smoke test)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--tag", help="output name gpu-<tag> (default: the date, or dry-run)")
    a = ap.parse_args(argv)
    a.models = list(dict.fromkeys(m for group in a.models for m in group))
    a.rows = a.rows or list(DEFAULT_ROWS)
    a.rounds = a.rounds or (1 if a.dry_run else 15)
    a.steps = a.steps or (1 if a.dry_run else 50)
    return a


def main(argv: list[str] | None = None) -> dict:
    """Runs the GPU benchmark (see ``--help``); returns the results that it also writes."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # before JAX starts its GPU client: torch shares it
    import jax

    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        return _main(_args(argv))


def _main(a: argparse.Namespace) -> dict:
    import jax

    t0 = time.perf_counter()
    end = t0 + a.budget_s
    faulthandler.dump_traceback_later(a.budget_s + 120, exit=True)  # a hung call cannot outlive the budget long
    try:
        on_gpu = jax.default_backend() == "gpu"
        if not on_gpu and not a.dry_run:
            raise SystemExit(f"bench.gpu: JAX sees no GPU (backend {jax.default_backend()!r}); use --dry-run on a CPU")
        torch_device = _torch_device(a.dry_run)
        rows = set(a.rows) if torch_device else set(a.rows) - {"torch", "torch.compile"}
        if torch_device is None and {"torch", "torch.compile"} & set(a.rows):
            _log("skipping the PyTorch rows: no PyTorch with CUDA here")
        started = datetime.datetime.now()
        peak_n = 256 if a.dry_run else 4096
        _log(f"measuring the matmul peak ({peak_n}²)")
        out: dict[str, Any] = {
            "_t0": t0, "started": started.isoformat(timespec="seconds"), "dry_run": a.dry_run,
            "machine": run.machine(), "device": device_info(torch_device or "none"), "budget_s": a.budget_s,
            "rounds": a.rounds, "steps_per_round": a.steps, "batch": common.BATCH, "peak_n": peak_n,
            "versions": {m: run._version(m) for m in ("jax", "jaxlib", "optax", "flax", "equinox", "haiku", "torch")},
            "matmul_peak_gflops": common.matmul_peak(peak_n, 3 if a.dry_run else 20, torch_device or "cpu"),
            "dispatch": {}, "models": {}, "skipped": {},
        }  # fmt: skip
        tag = a.tag or ("dry-run" if a.dry_run else f"{started:%Y%m%d-%H%M}")
        os.makedirs(a.out, exist_ok=True)
        path = os.path.join(a.out, f"gpu-{tag}")
        for model in [m for m in a.models if m in CONVNETS]:
            out["dispatch"][model] = dispatch_check(model, compile_on_device=on_gpu)
        _write(out, path)
        for i, model in enumerate(a.models):
            left = end - RESERVE_S - time.perf_counter()
            if left <= 0:
                out["skipped"][model] = "time budget"
                _log(f"[{model}] skipped: time budget")
                continue
            deadline = time.perf_counter() + left / (len(a.models) - i)
            out["models"][model] = run.bench_model(model, rows, a.rounds, a.steps, "torch.compile" in rows,
                                                   out["matmul_peak_gflops"]["peak"], a.memory,
                                                   torch_device or "cpu", deadline)  # fmt: skip
            _write(out, path)
        md = _write(out, path)
    finally:
        faulthandler.cancel_dump_traceback_later()
    print(md)
    _log(f"wrote {path}.json and .md")
    failed = [m for m, c in out["dispatch"].items() if not c["ok"]]
    if failed:
        raise SystemExit(f"bench.gpu: fnn's {failed} steps do not run XLA's convolutions on CUDA (see {path}.md)")
    return out


if __name__ == "__main__":
    main()
