"""Conformance cases: the torch7 catalogue layers outside the convolution family (issue 15)."""

import jax
import jax.numpy as jnp
import numpy as np

import fnn
from tests.conformance.cases import Case


def _ints(n, *shape):
    return lambda: jnp.asarray(np.random.default_rng(0).integers(0, n, shape), jnp.int32)


CASES = [
    # _noise: random layers draw in training mode only; gradient-side layers
    Case("RReLU", fnn.RReLU, (2, 3), train_rng=True),
    Case("WhiteNoise", lambda: fnn.WhiteNoise(0.5, 0.2), (2, 3), train_rng=True),
    Case("GradientReversal", lambda: fnn.GradientReversal(0.5), (2, 3), grads=False),
    Case("L1Penalty", lambda: fnn.L1Penalty(0.1), (2, 3), grads=False),
    # _misc
    Case("Constant", lambda: fnn.Constant(np.arange(3.0), 1), (2, 4)),
    Case("Constant", lambda: fnn.Constant(1.5), (2, 4), batched=False, id="no-batch"),
    Case("OneHot", lambda: fnn.OneHot(4), (2, 3), dtype=jnp.int32, grads=False, x=_ints(4, 2, 3)),
    Case("Collapse", lambda: fnn.Collapse(2), (2, 3, 2)),
    Case("TemporalDynamicKMaxPooling", lambda: fnn.TemporalDynamicKMaxPooling(2, 0.5), (2, 5, 3)),
    # _composite
    Case("CReLU", lambda: fnn.CReLU(3), (2, 2, 2, 3)),
    Case("Maxout", lambda: fnn.Maxout(3, 2, 3), (2, 3)),
    Case("Maxout", lambda: fnn.Maxout(3, 2, 2, fnn.Tanh()), (2, 3), id="preprocess"),
    Case("LayerNormalization", lambda: fnn.LayerNormalization(4, 0.5), (2, 4)),
]

_R = np.random.default_rng(1)


def _index_input():
    return jnp.asarray(_R.standard_normal((3, 4))), jnp.array([2, 0, 2], jnp.int32)


def _masked_input():
    x = jnp.asarray(_R.standard_normal((2, 3)))
    return x, jnp.array([[True, False, True], [False, True, True]])


CASES += [
    # _table_ops
    Case("MixtureTable", fnn.MixtureTable, ((2, 3), ((2, 4), (2, 4), (2, 4)))),
    Case("MixtureTable", fnn.MixtureTable, ((2, 3), (2, 3, 4)), id="tensor-experts"),
    Case("MixtureTable", lambda: fnn.MixtureTable(2), ((2, 3), (2, 4, 3)), batched=False, id="dim"),
    Case("ZipTable", fnn.ZipTable, (((2, 3), (2, 2)), ((2, 1), (2, 4)))),
    Case("ZipTableOneToMany", fnn.ZipTableOneToMany, ((2, 3), ((2, 2), (2, 1)))),
    Case("CAddTensorTable", fnn.CAddTensorTable, ((2, 3), ((2, 3), (2, 3)))),
    Case("Index", lambda: fnn.Index(1), ((3, 4), (3,)), dtype=(jnp.float64, jnp.int32), batched=False,
         x=_index_input),
    Case("MaskedSelect", lambda: fnn.MaskedSelect(5), ((2, 3), (2, 3)), dtype=(jnp.float64, jnp.bool_),
         batched=False, x=_masked_input),
    Case("CosineSimilarity", lambda: fnn.CosineSimilarity(-1), ((2, 3), (2, 3))),
    Case("MM", fnn.MM, ((2, 3, 4), (2, 4, 2))),
    Case("MM", lambda: fnn.MM(True, True), ((2, 4, 3), (2, 2, 4)), id="trans"),
    Case("MV", fnn.MV, ((2, 3, 4), (2, 4))),
    Case("MV", lambda: fnn.MV(True), ((2, 4, 3), (2, 4)), id="trans"),
]

CASES += [
    # _distance
    Case("Euclidean", lambda: fnn.Euclidean(3, 4), (2, 3)),
    Case("WeightedEuclidean", lambda: fnn.WeightedEuclidean(3, 4), (2, 3)),
    Case("Cosine", lambda: fnn.Cosine(3, 4), (2, 3)),
    Case("Kmeans", lambda: fnn.Kmeans(3, 2), (4, 2), batched=False, grads=False),
]


def _sparse_pairs():
    idx = _R.integers(0, 5, (2, 4)).astype(np.float64)
    return jnp.asarray(np.stack([idx, _R.standard_normal((2, 4))], axis=-1))


def _keys_values():
    return jnp.asarray(_R.integers(0, 5, (2, 4)), jnp.int32), jnp.asarray(_R.standard_normal((2, 4)))


CASES += [
    # _weight_norm, _sparse
    Case("LinearWeightNorm", lambda: fnn.LinearWeightNorm(3, 4), (2, 3)),
    Case("WeightNorm", lambda: fnn.WeightNorm(fnn.Linear(3, 4)), (2, 3)),
    Case("WeightNorm", lambda: fnn.WeightNorm(fnn.SpatialConvolution(1, 2, 2, 2)), (2, 1, 3, 3), id="conv"),
    Case("PartialLinear", lambda: fnn.PartialLinear(3, 5, partition=[4, 0, 4]), (2, 3)),
    Case("SparseLinear", lambda: fnn.SparseLinear(5, 3), (2, 4, 2), x=_sparse_pairs),
    Case("IndexLinear", lambda: fnn.IndexLinear(5, 3), ((2, 4), (2, 4)), dtype=(jnp.int32, jnp.float64),
         x=_keys_values),
]

CASES += [
    # _wrappers
    Case("Bottle", lambda: fnn.Bottle(fnn.Linear(4, 3)), (2, 3, 4)),
    Case("Bottle", lambda: fnn.Bottle(fnn.Sum(1), 2, 1), (2, 2, 3, 4), id="rank-change"),
    # an integer target: torch7 gives the target no gradient (fnn holds it constant)
    Case("CriterionTable", lambda: fnn.CriterionTable(fnn.ClassNLLCriterion()), ((2, 3), (2,)),
         dtype=(jnp.float64, jnp.int32), batched=False,
         x=lambda: (jax.nn.log_softmax(jnp.asarray(_R.standard_normal((2, 3)))), jnp.array([2, 0], jnp.int32))),
]

_ = jax  # the cases build arrays lazily
