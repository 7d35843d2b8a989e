"""The character language model example: its smoke run trains, checks its sampler, writes its files,
and its arguments are validated with fnn's ConfigError."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fnn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "char_lm.py"


def load_example():
    spec = importlib.util.spec_from_file_location("char_lm_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def test_smoke_run(tmp_path):
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=path)
    result = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--no-progress", "--out", "out"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "bits/char" in result.stdout and "perplexity" in result.stdout and "sample" in result.stdout
    for ext in (".safetensors", ".png"):
        assert (tmp_path / "out" / f"char_lm_pydoc_topics{ext}").stat().st_size > 0


@pytest.mark.parametrize("argv, fragment", [
    (["--epochs", "0"], "--epochs"),
    (["--hidden", "-3"], "--hidden"),
    (["--lr", "0"], "--lr"),
    (["--temperature", "nan"], "--temperature"),
    (["--val-fraction", "1.5"], "--val-fraction"),
])
def test_arguments_are_validated(argv, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_example().parse_args(argv)


def test_text_file_and_short_text(tmp_path):
    example = load_example()
    with pytest.raises(ConfigError, match="not a file"):
        example.load_text(str(tmp_path / "missing.txt"))
    (tmp_path / "tiny.txt").write_text("abcabc", encoding="utf-8")
    text, name = example.load_text(str(tmp_path / "tiny.txt"))
    assert (text, name) == ("abcabc", "tiny")
    with pytest.raises(ConfigError, match="too short"):
        example.make_corpus(text, 8, 0.1, 4)
    corpus = example.make_corpus("abcdefgh" * 20, 4, 0.25, 2)
    x, y = corpus.train
    assert corpus.vocab == "abcdefgh" and x.shape == (29, 4) and (x[:, 1:] == y[:, :-1]).all()
