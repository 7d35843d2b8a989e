"""Training: :func:`fit` (torch7's ``StochasticGradient`` the JAX way), evaluation, resumable state.

* ``_state.py``: :class:`TrainState` (arrays only) and its checkpoint files.
* ``_step.py``: :func:`make_train_step`, the one jitted step.
* ``_fit.py``: :func:`fit`, the epoch loop around it.
* ``_eval.py``: :func:`evaluate`, :func:`accuracy`, :func:`make_eval_step`.
* ``_torch7.py``: :class:`StochasticGradient` with torch7's fields.
* ``_plot.py``: :func:`plot_history`.
"""

from fnn.io._checkpoint import load_train_state as load_train_state
from fnn.io._checkpoint import save_train_state as save_train_state
from fnn.train._eval import accuracy as accuracy
from fnn.train._eval import evaluate as evaluate
from fnn.train._eval import make_eval_step as make_eval_step
from fnn.train._fit import StochasticGradient as StochasticGradient
from fnn.train._fit import TrainState as TrainState
from fnn.train._fit import fit as fit
from fnn.train._fit import make_train_step as make_train_step
from fnn.train._fit import steps_per_epoch as steps_per_epoch
from fnn.train._fit import torch7_learning_rate as torch7_learning_rate
from fnn.train._plot import plot_history as plot_history
