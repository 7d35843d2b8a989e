"""Plots of a training history (matplotlib, optional: ``pip install 'fnn[train]'``).

:func:`plot_history` draws the per-epoch curves of :attr:`fnn.train.TrainState.history`:
the losses in one panel, every other quantity (accuracy, custom metrics) in a second one,
training and evaluation curves together. It uses matplotlib's object API with the Agg
canvas, so it needs no display, never changes the global pyplot backend and is safe in
scripts, notebooks and threads. The PNG is written atomically by fnn.io's one atomic writer
(temporary file, fsync, ``os.replace``): a crash mid-write never leaves a half-written picture.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fnn.errors import ConfigError
from fnn.io._safetensors import atomic_write


def _pairs(history: Mapping[str, np.ndarray]) -> tuple[list[str], list[str]]:
    """The loss keys and the metric keys (without the ``eval_`` prefix), in a stable order."""
    bases = []
    for key in history:
        base = key.removeprefix("eval_")
        if base not in bases:
            bases.append(base)
    losses = [b for b in bases if b == "loss" or b.endswith("loss")]
    return losses, [b for b in bases if b not in losses]


def plot_history(
    history: Mapping[str, ArrayLike],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    dpi: int = 120,
) -> str:
    """Writes the per-epoch curves of ``history`` to a PNG file; returns its path.

    Args:
      history: ``{name: per-epoch values}``, e.g. ``TrainState.history``: ``loss``,
        ``accuracy``, ``eval_loss``, ``eval_accuracy``, ... (``eval_x`` is drawn next to ``x``).
      path: the PNG to write (parent directories are created).
      title: a title above the panels.
      dpi: the resolution.

    Raises:
      ConfigError: the history is empty or its curves have no epochs.

    >>> import os, tempfile, fnn
    >>> out = os.path.join(tempfile.mkdtemp(), "history.png")
    >>> history = {"loss": [1.0, 0.5], "eval_loss": [1.1, 0.7], "accuracy": [0.6, 0.8], "eval_accuracy": [0.5, 0.7]}
    >>> fnn.train.plot_history(history, out) == out, os.path.getsize(out) > 0
    (True, True)
    """
    path = os.fspath(path)
    fig = _figure(history, title)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    return path


def _figure(history: Mapping[str, ArrayLike], title: str | None) -> Any:
    """The matplotlib Figure of :func:`plot_history`: losses left, other quantities right."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise ConfigError("plot_history needs matplotlib: pip install 'fnn[train]' (or matplotlib)") from e

    curves = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in history.items()}
    if not curves or not any(len(v) for v in curves.values()):
        raise ConfigError("plot_history: the history has no epochs to draw")
    losses, metrics = _pairs(curves)
    rates = [m for m in metrics if m == "lr"]  # the learning rate gets a panel of its own (another scale)
    metrics = [m for m in metrics if m != "lr"]
    panels = [p for p in (losses, metrics, rates) if p]
    fig = Figure(figsize=(5.0 * len(panels), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    for i, bases in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for base in bases:
            for key, style, label in ((base, "-", "train"), (f"eval_{base}", "--", "eval")):
                if key in curves and len(curves[key]):
                    epochs = np.arange(1, len(curves[key]) + 1)
                    ax.plot(epochs, curves[key], style, marker="o", markersize=3, label=f"{base} ({label})")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_ylabel(", ".join(bases))
        if bases is losses and all(np.all(curves.get(k, np.ones(1)) > 0) for b in bases for k in (b, f"eval_{b}")):
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


__all__ = ["plot_history"]
