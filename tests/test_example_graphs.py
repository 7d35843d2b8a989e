"""examples/graphs.py runs to completion (it asserts its own checks), in the style of test_examples.py."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_graphs_example_runs(tmp_path):
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=path)
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "graphs.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "nn.gModule {" in result.stdout and "test accuracy" in result.stdout
    for stem in ("residual_network", "two_inputs_two_outputs"):
        dot = (tmp_path / f"{stem}.dot").read_text()
        assert dot.startswith(f'digraph "{stem}" {{')
