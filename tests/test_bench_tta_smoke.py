"""bench/time_to_accuracy.py runs end to end on a slice of MNIST (no timing asserted: the figures are in
bench/README.md). Without the MNIST file it skips, except under ``CI``, where it must run."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import MNIST_PATH, torch_or_skip

tta = pytest.importorskip("bench.time_to_accuracy", reason="run from the repository root to import bench/")


def test_a_tiny_run_has_both_rows_and_writes_its_files(tmp_path, monkeypatch):
    if not os.path.exists(MNIST_PATH):
        if os.environ.get("CI"):
            pytest.fail(f"CI needs MNIST at {MNIST_PATH} (set FNN_MNIST)")
        pytest.skip(f"no MNIST at {MNIST_PATH} (set FNN_MNIST)")
    torch_or_skip()
    monkeypatch.setenv("FNN_MNIST", MNIST_PATH)
    js, md = tmp_path / "tta.json", tmp_path / "tta.md"
    out = tta.main(["--limit", "512", "--test-limit", "1000", "--epochs", "1", "--json", str(js), "--md", str(md)])
    runs = out["runs"]
    assert list(runs) == ["fnn.fit", "PyTorch loop"]  # fnn first
    assert out["processes"] == "one per side"  # each side trained in a fresh child process
    for r in runs.values():
        assert len(r["epochs"]) == 1 and 0.0 <= r["final_accuracy"] <= 1.0
        assert r["train_s"] > 0 and r["eval_s"] > 0
        assert (r["epochs_to_target"] is None) == (r["seconds_to_target"] is None)
    assert out["train_images"] == 512 and out["test_images"] == 1000
    assert json.loads(js.read_text())["runs"].keys() == runs.keys()
    table = md.read_text()
    assert "| fnn.fit |" in table and "| PyTorch loop |" in table and "Each side in a process of its own." in table


def test_the_torch_schedule_is_optax_cosine_decay():
    optax = pytest.importorskip("optax")
    sched = optax.cosine_decay_schedule(2e-3, 100)
    for step in (0, 1, 37, 99, 100, 150):
        assert 2e-3 * tta.cosine(step, 100) == pytest.approx(float(sched(step)), rel=1e-6, abs=1e-12)
