"""``bench/gpu.py`` (the GPU benchmark) runs end to end on the CPU with ``--dry-run``: its dispatch
check finds XLA's convolutions in fnn's LeNet step lowered for CUDA, and it writes its tables.

No timing is asserted: only that the rows ran and the files hold them.
"""

from __future__ import annotations

import json

import pytest

bench_gpu = pytest.importorskip("bench.gpu", reason="run from the repository root to import bench/")


def test_a_dry_run_writes_its_tables_and_passes_the_dispatch_check(tmp_path):
    out = bench_gpu.main(["--dry-run", "--models", "lenet", "--rows", "fnn", "--budget-s", "300",
                          "--out", str(tmp_path), "--tag", "smoke"])
    check = out["dispatch"]["lenet"]
    assert check["ok"] and check["same_as_xla_on_cuda"] and check["cpu_lowering_differs"]
    assert check["cuda_auto"]["convolution"] == check["cuda_xla"]["convolution"] > 0
    rows = out["models"]["lenet"]["rows"]  # one row keeps it short: bench/run.py's smoke test compares rows
    assert set(rows) == {"fnn"} and rows["fnn"]["median_ms"] > 0 and rows["fnn"]["first_call_s"] > 0
    saved = json.loads((tmp_path / "gpu-smoke.json").read_text())
    assert saved["dry_run"] and set(saved["models"]) == {"lenet"} and "_t0" not in saved
    table = (tmp_path / "gpu-smoke.md").read_text()
    assert "| lenet | yes |" in table
    assert "| fnn |" in table and "LeNet-5" in table


def test_a_spent_budget_skips_the_models_and_still_writes(tmp_path):
    out = bench_gpu.main(["--dry-run", "--models", "mlp", "--budget-s", "0", "--out", str(tmp_path), "--tag", "none"])
    assert out["skipped"] == {"mlp": "time budget"} and out["models"] == {} and out["dispatch"] == {}
    assert "MLP 784-512-512-10: skipped (time budget)" in (tmp_path / "gpu-none.md").read_text()


def test_the_compiled_hlo_counter_reads_convolutions_and_cudnn_calls():
    hlo = ('%a = f32[2,3]{1,0} convolution(f32[2] %x, f32[3] %w), metadata={op_name="jit(f)/dot(x)"}\n'
           '%b = (f32[8]{0}, u8[0]{0}) custom-call(%x), custom_call_target="__cudnn$convForward"\n'
           '%c = f32[4]{0} custom-call(%y), custom_call_target="__cublas$gemm"\n')
    assert bench_gpu.compiled_convolutions(hlo) == {"convolution_ops": 1, "conv_custom_calls": 1, "dot_ops": 0,
                                                    "gemm_custom_calls": 1}
