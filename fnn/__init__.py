"""fnn: torch7's ``nn`` as pure functions on JAX.

Every layer is a :class:`Module` that unpacks into ``(init, apply)``::

    import jax, fnn
    model = fnn.Sequential(fnn.Linear(784, 128), fnn.ReLU(), fnn.Linear(128, 10), fnn.LogSoftMax())
    init, apply = model
    out_shape, params = init(jax.random.key(0), (-1, 784))
    logp = apply(params, x)

Each family of layers lives in its own module and is re-exported here.
"""

from fnn import (
    checkpoint,
    convolution,
    criterion,
    data,
    debug,
    dropout,
    interop,
    linear,
    lookup,
    metrics,
    normalization,
    pooling,
    reduction,
    shaping,
    simple,
    spatial,
    table,
    testing,
    train,
    transfer,
)
from fnn.checkpoint import Checkpoint, LoadReport, load, load_train_state, save, save_train_state
from fnn.containers import Concat, ConcatTable, MapTable, Parallel, ParallelTable, Sequential
from fnn.convolution import *  # noqa: F403
from fnn.core import Module, StatefulPair, elementwise, format_shape, leaf
from fnn.criterion import *  # noqa: F403
from fnn.data import Dataset, load_digits, load_mnist
from fnn.debug import check_finite, find_nonfinite
from fnn.dropout import *  # noqa: F403
from fnn.errors import (
    CheckpointError,
    ConfigError,
    DTypeError,
    FnnError,
    IndexRangeError,
    MissingRNGError,
    NonFiniteError,
    ShapeError,
    StatefulModelError,
)
from fnn.interop import load_torch_state_dict, save_torch_state_dict, to_torch_state_dict
from fnn.linear import *  # noqa: F403
from fnn.lookup import *  # noqa: F403
from fnn.metrics import accuracy, evaluate, make_eval_step
from fnn.normalization import *  # noqa: F403
from fnn.pooling import *  # noqa: F403
from fnn.protocol import backward, count_parameters, get_parameters, update_parameters
from fnn.reduction import *  # noqa: F403
from fnn.shaping import *  # noqa: F403
from fnn.simple import *  # noqa: F403
from fnn.spatial import *  # noqa: F403
from fnn.summary import summary, summary_rows
from fnn.table import *  # noqa: F403
from fnn.train import StochasticGradient, TrainState, fit, make_train_step
from fnn.transfer import *  # noqa: F403

__version__ = "0.1.0"

_FAMILIES = (linear, simple, shaping, reduction, lookup, transfer, table, convolution, pooling, spatial,
             normalization, dropout)

# Every layer and container constructor (aliases excluded), each checked by the conformance registry.
LAYER_NAMES: tuple[str, ...] = ("Sequential", "Concat", "ConcatTable", "ParallelTable", "Parallel", "MapTable") + tuple(
    name for family in _FAMILIES for name in family.LAYERS
)
# Every criterion constructor (aliases excluded).
CRITERION_NAMES: tuple[str, ...] = tuple(criterion.LAYERS)
