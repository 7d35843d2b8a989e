"""fnn: torch7's ``nn`` as pure functions on JAX.

Every layer is a :class:`Module` that unpacks into ``(init, apply)``::

    import jax, fnn
    model = fnn.Sequential(fnn.Linear(784, 128), fnn.ReLU(), fnn.Linear(128, 10), fnn.LogSoftMax())
    init, apply = model
    out_shape, params = init(jax.random.key(0), (-1, 784))
    logp = apply(params, x)
"""

from fnn.containers import Concat, ConcatTable, MapTable, Parallel, ParallelTable, Sequential
from fnn.core import Module, StatefulPair, format_shape, leaf
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
from fnn.linear import Linear
from fnn.protocol import backward, count_parameters, get_parameters, update_parameters
from fnn.summary import summary, summary_rows

__version__ = "0.1.0"

# Every layer and container constructor, checked by the conformance registry.
LAYER_NAMES: tuple[str, ...] = (
    "Sequential",
    "Concat",
    "ConcatTable",
    "ParallelTable",
    "Parallel",
    "MapTable",
    "Linear",
)
