"""Bad input, everywhere: each case must give a clear fnn error — the right class, a message
naming the layer (and its path inside a container) and what was expected vs what came —
never a raw XLA/lax error and never a silently wrong result.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fnn
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

K = jax.random.key(0)
F32 = jnp.float32


def init_apply(model, shape, x, dtype=None, **kw):
    _, params = model.init(K, shape, dtype)
    return model.apply(params, x, **kw)


def stateful_apply(model, shape, x, **kw):
    init, apply = model.stateful
    _, params, state = init(K, shape)
    return apply(params, state, x, **kw)


def fit_on(x, y, model=None, criterion=None, **kw):
    model = model or fnn.Sequential(fnn.Linear(2, 2), fnn.LogSoftMax())
    criterion = criterion or fnn.ClassNLLCriterion()
    return fnn.train.fit(model, criterion, optax.sgd(0.1), (x, y), epochs=1, batch_size=2, rng=0, progress=False, **kw)


MLP = lambda: fnn.Sequential(fnn.Linear(4, 3), fnn.ReLU(), fnn.Linear(3, 2))  # noqa: E731

# (id, thunk, error class, fragments that must all appear in str(error))
CASES = [
    # ---- shapes and ranks at init
    ("linear-in-features", lambda: fnn.Linear(784, 128).init(K, (-1, 785)), ShapeError,
     ["nn.Linear(784 -> 128)", "(..., 784)", "(-1, 785)"]),
    ("nested-path",
     lambda: fnn.Sequential(fnn.Linear(4, 3), fnn.Sequential(fnn.ReLU(), fnn.Linear(4, 2))).init(K, (-1, 4)),
     ShapeError, ["at [1][1]", "nn.Linear(4 -> 2)", "(-1, 3)"]),
    ("conv-channels", lambda: fnn.SpatialConvolution(1, 6, 5, 5).init(K, (-1, 3, 32, 32)), ShapeError,
     ["nn.SpatialConvolution(1 -> 6, 5x5)", "(-1, 3, 32, 32)"]),
    ("conv-rank", lambda: fnn.SpatialConvolution(1, 6, 5, 5).init(K, (-1, 32)), ShapeError,
     ["nn.SpatialConvolution", "(-1, 32)"]),
    ("conv-too-small", lambda: fnn.SpatialConvolution(1, 6, 5, 5).init(K, (-1, 1, 3, 3)), ShapeError,
     ["nn.SpatialConvolution", "(-1, 1, 3, 3)"]),
    ("pool-too-small", lambda: fnn.SpatialMaxPooling(4, 4).init(K, (-1, 1, 2, 2)), ShapeError,
     ["nn.SpatialMaxPooling", "(-1, 1, 2, 2)"]),
    ("view-numel", lambda: fnn.View(7).init(K, (-1, 2, 3)), ShapeError, ["nn.View(7)", "-1x2x3", "(7)"]),
    ("narrow-out-of-range", lambda: fnn.Narrow(0, 3, 4).init(K, (5,)), ShapeError, ["nn.Narrow", "(5,)"]),
    ("select-dim", lambda: fnn.Select(3, 0).init(K, (2, 3)), ShapeError, ["nn.Select(3, 0)", "dim 3", "2-D"]),
    ("batchnorm-features", lambda: fnn.BatchNormalization(10).stateful.init(K, (-1, 12)), ShapeError,
     ["nn.BatchNormalization", "(-1, 12)"]),
    ("softmax-rank5", lambda: fnn.SoftMax().init(K, (1, 2, 3, 4, 5)), ShapeError, ["nn.SoftMax", "5"]),
    ("bilinear-second", lambda: fnn.Bilinear(3, 4, 2).init(K, ((-1, 3), (-1, 5))), ShapeError,
     ["nn.Bilinear", "(-1, 5)"]),
    ("concat-mismatch", lambda: fnn.Concat(0, fnn.Linear(3, 2), fnn.View(1, 3)).init(K, (3,)), ShapeError,
     ["nn.Concat", "(2,)", "(1, 3)"]),
    # ---- shapes at apply (also under jit)
    ("apply-wrong-width", lambda: init_apply(MLP(), (-1, 4), jnp.ones((2, 5), F32)), ShapeError,
     ["at [0]", "nn.Linear(4 -> 3)", "(2, 5)"]),
    ("apply-wrong-width-jit", lambda: jax.jit(MLP().apply)(MLP().init(K, (-1, 4))[1], jnp.ones((2, 5), F32)),
     ShapeError, ["nn.Linear(4 -> 3)", "(2, 5)"]),
    ("criterion-shape", lambda: fnn.ClassNLLCriterion()(jnp.zeros((4, 3), F32), jnp.zeros((5,), jnp.int32)),
     ShapeError, ["nn.ClassNLLCriterion", "4", "5"]),
    ("mse-numel", lambda: fnn.MSECriterion()(jnp.zeros((4, 3), F32), jnp.zeros((5,), F32)), ShapeError,
     ["nn.MSECriterion", "12", "5"]),
    # ---- dtypes
    ("lookup-float-indices", lambda: init_apply(fnn.LookupTable(5, 3), (2,), jnp.array([1.0, 2.0], F32), jnp.float32),
     DTypeError, ["nn.LookupTable", "float32"]),
    ("linear-int-input", lambda: init_apply(fnn.Linear(3, 2), (3,), jnp.ones(3, jnp.int32)), DTypeError,
     ["nn.Linear(3 -> 2)", "floating-point", "int32"]),
    ("conv-int-input",
     lambda: init_apply(fnn.SpatialConvolution(1, 2, 3, 3), (1, 5, 5), jnp.ones((1, 5, 5), jnp.int32)),
     DTypeError, ["nn.SpatialConvolution", "int32"]),
    ("mixed-precision", lambda: init_apply(fnn.Linear(3, 2), (3,), jnp.ones(3, jnp.float64)), DTypeError,
     ["nn.Linear(3 -> 2)", "float64", "float32"]),
    ("nll-float-target", lambda: fnn.ClassNLLCriterion()(jnp.zeros((2, 3), F32), jnp.array([0.0, 1.0], F32)),
     DTypeError, ["nn.ClassNLLCriterion", "float32"]),
    # ---- out-of-range indices (eager)
    ("nll-class-too-big", lambda: fnn.ClassNLLCriterion()(jnp.zeros((2, 3), F32), jnp.array([0, 3])),
     IndexRangeError, ["nn.ClassNLLCriterion", "3"]),
    ("nll-class-negative", lambda: fnn.ClassNLLCriterion()(jnp.zeros((2, 3), F32), jnp.array([0, -2])),
     IndexRangeError, ["nn.ClassNLLCriterion", "-2"]),
    ("cross-entropy-class", lambda: fnn.CrossEntropyCriterion()(jnp.zeros((2, 3), F32), jnp.array([7, 0])),
     IndexRangeError, ["nn.CrossEntropyCriterion", "7"]),
    ("lookup-index-too-big", lambda: init_apply(fnn.LookupTable(5, 3), (2,), jnp.array([1, 5])), IndexRangeError,
     ["nn.LookupTable", "5"]),
    ("multimargin-class", lambda: fnn.MultiMarginCriterion()(jnp.zeros((2, 3), F32), jnp.array([3, 0])),
     IndexRangeError, ["nn.MultiMarginCriterion", "3"]),
    # ---- tables
    ("parallel-table-arity", lambda: fnn.ParallelTable(fnn.Linear(3, 2), fnn.Linear(3, 2)).init(K, ((-1, 3),)),
     ShapeError, ["nn.ParallelTable", "2 inputs", "1"]),
    ("cadd-not-a-table", lambda: fnn.CAddTable().init(K, (3,)), ShapeError, ["nn.CAddTable", "table"]),
    ("cadd-mismatched", lambda: fnn.CAddTable().init(K, ((3,), (4,))), ShapeError, ["nn.CAddTable", "(3,)", "(4,)"]),
    ("csub-arity", lambda: fnn.CSubTable().init(K, ((3,), (3,), (3,))), ShapeError, ["nn.CSubTable", "3"]),
    ("join-empty", lambda: fnn.JoinTable(0).init(K, ((),)), ShapeError, ["nn.JoinTable"]),
    ("select-table-index", lambda: fnn.SelectTable(5).init(K, ((3,), (3,))), ShapeError, ["nn.SelectTable", "5"]),
    ("ranking-not-table", lambda: fnn.MarginRankingCriterion()(jnp.zeros(3, F32), jnp.ones(3, F32)), ShapeError,
     ["nn.MarginRankingCriterion"]),
    # ---- constructors
    ("linear-zero", lambda: fnn.Linear(0, 3), ConfigError, ["nn.Linear", "in_features", "0"]),
    ("conv-negative", lambda: fnn.SpatialConvolution(1, -6, 5, 5), ConfigError, ["nn.SpatialConvolution", "-6"]),
    ("dropout-p-1", lambda: fnn.Dropout(1.0), ConfigError, ["nn.Dropout", "1.0"]),
    ("dropout-p-negative", lambda: fnn.Dropout(-0.1), ConfigError, ["nn.Dropout", "-0.1"]),
    ("lookup-zero", lambda: fnn.LookupTable(0, 3), ConfigError, ["nn.LookupTable", "0"]),
    ("multimargin-p3", lambda: fnn.MultiMarginCriterion(p=3), ConfigError, ["nn.MultiMarginCriterion", "3"]),
    ("reduction-typo", lambda: fnn.MSECriterion(reduction="avg"), ConfigError, ["nn.MSECriterion", "avg"]),
    ("pool-zero-kernel", lambda: fnn.SpatialMaxPooling(0, 2), ConfigError, ["nn.SpatialMaxPooling", "0"]),
    ("sequential-non-module", lambda: fnn.Sequential(fnn.Linear(2, 2), "relu"), ConfigError, ["nn.Sequential", "str"]),
    # ---- randomness and state
    ("dropout-no-rng", lambda: init_apply(fnn.Dropout(0.5), (4,), jnp.ones(4, F32), train=True), MissingRNGError,
     ["nn.Dropout", "rng=jax.random.key"]),
    ("nested-dropout-no-rng",
     lambda: init_apply(fnn.Sequential(fnn.Linear(4, 4), fnn.Dropout(0.5)), (4,), jnp.ones(4, F32), train=True),
     MissingRNGError, ["at [1]", "nn.Dropout"]),
    ("plain-pair-on-batchnorm", lambda: fnn.Sequential(fnn.Linear(3, 3), fnn.BatchNormalization(3)).init(K, (-1, 3)),
     StatefulModelError, ["nn.BatchNormalization", "at [1]", "model.stateful"]),
    ("train-flag-traced", lambda: init_apply(fnn.Linear(2, 2), (2,), jnp.ones(2, F32), train=jnp.array(True)),
     FnnError, ["train must be a Python bool", "static_argnames"]),
    ("bn-train-unbatched", lambda: stateful_apply(fnn.BatchNormalization(3), (-1, 3), jnp.ones(3, F32), train=True),
     ShapeError, ["nn.BatchNormalization"]),
    # ---- the trainer
    ("fit-nan-data", lambda: fit_on(jnp.array([[np.nan, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], F32),
                                    jnp.array([0, 1, 0, 1])), NonFiniteError, ["loss"]),
    ("fit-inf-data", lambda: fit_on(jnp.array([[np.inf, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], F32),
                                    jnp.array([0, 1, 0, 1])), NonFiniteError, ["loss"]),
    ("fit-length-mismatch", lambda: fit_on(jnp.zeros((4, 2), F32), jnp.zeros((3,), jnp.int32)), FnnError,
     ["4", "3"]),
    ("fit-wrong-feature-size", lambda: fit_on(jnp.zeros((4, 3), F32), jnp.zeros((4,), jnp.int32)), ShapeError,
     ["nn.Linear(2 -> 2)", "3"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_fnn_error(case):
    _, thunk, cls, fragments = case
    with pytest.raises(cls) as info:
        thunk()
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in message: {msg}"
    assert "XlaRuntimeError" not in msg and "jaxlib" not in msg


def test_there_are_at_least_forty_distinct_bad_inputs():
    assert len({c[0] for c in CASES}) == len(CASES) >= 40


# ---- checkpoints: mismatched, missing, truncated, corrupt and foreign files


@pytest.fixture
def saved(tmp_path):
    _, params = MLP().init(K, (-1, 4))
    path = tmp_path / "ckpt.safetensors"
    fnn.save(path, params=params)
    return path, params


def test_checkpoint_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist|no such|not found"):
        fnn.load(tmp_path / "nope.safetensors")


def test_checkpoint_truncated(saved):
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        fnn.load(path)


def test_checkpoint_corrupt_byte(saved):
    path, _ = saved
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        fnn.load(path)


def test_checkpoint_foreign_file(tmp_path):
    path = tmp_path / "foreign.safetensors"
    path.write_text("this is not a checkpoint")
    with pytest.raises(CheckpointError):
        fnn.load(path)


def test_checkpoint_mismatch_lists_every_path(saved):
    path, _ = saved
    _, other = fnn.Sequential(fnn.Linear(4, 5), fnn.ReLU(), fnn.Linear(5, 2)).init(K, (-1, 4))
    with pytest.raises(CheckpointError) as info:
        fnn.load(path, like={"params": other})
    msg = str(info.value)
    assert "params/[0]/weight" in msg and "params/[2]/weight" in msg
    assert "float32[3, 4], expected float32[5, 4]" in msg


def test_no_pickle_in_fnn():
    root = os.path.dirname(fnn.__file__)
    files = [os.path.join(d, n) for d, _, names in os.walk(root) for n in names if n.endswith(".py")]
    assert len(files) > 30  # every sub-package is walked
    for path in files:
        with open(path) as f:
            text = f.read()
        assert "allow_pickle=True" not in text and "import pickle" not in text, path
