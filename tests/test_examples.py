"""Every example script runs to completion (each asserts its own checks)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["nn_intro.py", "sparse_dense_linear.py", "mlp_sgd.py", "multiclass_hinge.py"]


@pytest.mark.parametrize("script", QUICK)
def test_example_runs(script, tmp_path):
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=path)
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
