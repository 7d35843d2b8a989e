"""The history plot: losses on the left, other quantities on the right, whole-number epochs."""

import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError
from fnn.train._plot import _figure

HISTORY = {"loss": np.array([1.0, 0.5, 0.25]), "eval_loss": np.array([1.1, 0.7, 0.4]),
           "accuracy": np.array([0.6, 0.8, 0.9]), "eval_accuracy": np.array([0.5, 0.7, 0.8])}


def test_both_axes_are_labelled_and_epoch_ticks_are_integers():
    left, right = _figure(HISTORY, "t").axes
    assert left.get_ylabel() == "loss"
    assert right.get_ylabel() == "accuracy"
    for ax in (left, right):
        assert ax.get_xlabel() == "epoch"
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_plot_history_takes_a_train_state_history_of_arrays(tmp_path):
    out = fnn.plot_history(HISTORY, tmp_path / "h.png")
    assert out == str(tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_empty_history_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no epochs"):
        fnn.plot_history({"loss": []}, tmp_path / "h.png")
