"""The main job resumes as a first-class workflow: states saved every epoch, --resume bit-identical,
a rerun says it replaces the saved run, bad flags are ConfigErrors."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

import fnn
from tests.train.test_mnist import example

MAIN = example("train_lenet").main


def _run(out, *flags):
    return MAIN(["--out", str(out), "--no-progress", *flags])


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


def test_epochs_2_then_resume_to_4_equals_epochs_4_bit_for_bit(tmp_path):
    stopped = tmp_path / "stopped"
    _run(stopped, "--epochs", "2")
    resumed = _run(stopped, "--epochs", "4", "--resume")
    straight = _run(tmp_path / "straight", "--epochs", "4")
    for a, b in zip(_leaves(resumed["params"]), _leaves(straight["params"]), strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed["history"] == straight["history"]
    assert resumed["history"]["lr"][-1] < resumed["history"]["lr"][0]  # the schedule spans 15 epochs, not 4
    # Only the last --keep (3) train states stay, named by epoch.
    names = sorted(f for f in os.listdir(stopped) if f.endswith(".state.safetensors"))
    assert names == [f"lenet_digits.epoch{e:04d}.state.safetensors" for e in (2, 3, 4)]
    ts = fnn.load_train_state(stopped / names[-1])
    assert int(ts.epoch) == 4 and "lr" in ts.history


def test_a_rerun_without_resume_says_it_replaces_the_saved_run(tmp_path, capsys):
    _run(tmp_path, "--epochs", "1")
    capsys.readouterr()
    _run(tmp_path, "--epochs", "1")
    assert "starting afresh: replacing the run saved in" in capsys.readouterr().out
    with pytest.raises(fnn.ConfigError, match="holds no train state"):
        _run(tmp_path / "empty", "--epochs", "1", "--resume")


@pytest.mark.parametrize(("flags", "match"), [
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--batch-size", "5000"], "--batch-size 5000 exceeds the 1500 training images"),
    (["--lr", "-1"], "--lr must be > 0"),
    (["--keep", "0"], "--keep must be >= 1"),
])
def test_bad_flags_are_config_errors(tmp_path, flags, match):
    with pytest.raises(fnn.ConfigError, match=match):
        _run(tmp_path, *flags)
