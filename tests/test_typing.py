"""fnn is typed for its users: pyright sees a complete public API, and user code type-checks.

- ``pyright --verifytypes fnn`` (the completeness report for a ``py.typed`` library) scores at
  least 95 % of the exported symbols as fully known;
- ``tests/typing/user_script.py`` (the README's quickstart and training loop, ``fit``,
  ``plot_history(ts.history)``, checkpoints) is clean under both pyright and mypy.

The checkers are in the ``[test]`` extra; outside CI a missing checker skips its test.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
USER_SCRIPT = ROOT / "tests" / "typing" / "user_script.py"
THRESHOLD = 0.95


def _tool(name: str) -> list[str]:
    exe = shutil.which(name) or (pathlib.Path(sys.executable).parent / name)
    if not pathlib.Path(exe).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{name} is in the [test] extra and must be installed in CI")
        pytest.skip(f"{name} is not installed")
    return [str(exe)]


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    # The checkers resolve `fnn` from this checkout (an editable install is an import hook they cannot follow).
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_py_typed_ships_with_the_package():
    assert (ROOT / "fnn" / "py.typed").exists()
    assert "py.typed" in (ROOT / "pyproject.toml").read_text()


def test_pyright_verifytypes_completeness():
    proc = _run(_tool("pyright") + ["--verifytypes", "fnn", "--ignoreexternal", "--outputjson"])
    report = json.loads(proc.stdout)
    completeness = report["typeCompleteness"]
    unknown = [s["name"] for s in completeness["symbols"] if s["isExported"] and not s["isTypeKnown"]]
    assert completeness["completenessScore"] >= THRESHOLD, f"partially unknown public symbols: {unknown}"


def test_user_script_is_clean_under_pyright():
    proc = _run(_tool("pyright") + [str(USER_SCRIPT)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_user_script_is_clean_under_mypy():
    proc = _run(_tool("mypy") + ["--no-incremental", "--ignore-missing-imports", str(USER_SCRIPT)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
