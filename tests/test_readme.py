"""Every Python block in README.md runs as written.

Each ```python block is executed top to bottom in its own fresh namespace, in a temporary
working directory, in JAX's default mode (float32, x64 off), exactly as a user pasting it
would run it. A block that cannot run here (it needs a file only the user has) is preceded
by the line ``<!-- readme-test: skip (the reason) -->``; the reason is required.
"""

from __future__ import annotations

import pathlib
import re

import jax
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"(?P<marker><!-- readme-test: skip \((?P<why>[^)]+)\) -->\s*\n)?```python\n(?P<code>.*?)```", re.S)


def _blocks() -> list[tuple[int, str, str | None]]:
    text = README.read_text()
    return [(text[: m.start("code")].count("\n") + 1, m.group("code"), m.group("why")) for m in _BLOCK.finditer(text)]


BLOCKS = _blocks()


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize(("line", "code", "why"), BLOCKS, ids=[f"line{b[0]}" for b in BLOCKS])
def test_block_runs(line, code, why, tmp_path, monkeypatch):
    if why:
        pytest.skip(f"README.md:{line}: {why}")
    monkeypatch.chdir(tmp_path)
    with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})
