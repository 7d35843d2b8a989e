"""Criteria reject bad configurations and bad inputs with fnn errors that name the
criterion and show what was expected and what was given."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError, DTypeError, IndexRangeError, ShapeError

LOGP = jnp.log(jnp.full((2, 3), 1 / 3))


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("make,match", [
    (lambda: fnn.MSECriterion(reduction="avg"), "reduction must be one of 'mean', 'sum', 'none'"),
    (lambda: fnn.MSELoss(reduction="batchmean"), "reduction must be one of"),
    (lambda: fnn.ClassNLLCriterion(size_average=True, reduction="sum"), "conflicts with reduction='sum'"),
    (lambda: fnn.BCECriterion(None, False, reduction="none"), "size_average=False means reduction='sum'"),
    (lambda: fnn.AbsCriterion(size_average=1), "size_average must be a bool"),
    (lambda: fnn.MultiMarginCriterion(p=3), "only p = 1 or p = 2"),
    (lambda: fnn.MultiMarginLoss(p=True), "only p = 1 or p = 2"),
    (lambda: fnn.ClassNLLCriterion(jnp.ones((2, 2))), "weights must be a non-empty 1-D array"),
    (lambda: fnn.NLLLoss(weight=["a"]), "weight must be numbers"),
    (lambda: fnn.ClassNLLCriterion(ignore_index=1.5), "ignore_index must be an int"),
    (lambda: fnn.CrossEntropyCriterion(label_smoothing=1.5), r"label_smoothing must be in \[0, 1\]"),
    (lambda: fnn.CrossEntropyLoss(label_smoothing=-0.1), "label_smoothing must be >= 0"),
    (lambda: fnn.SmoothL1Criterion(beta=-1.0), "beta must be >= 0"),
    (lambda: fnn.HuberLoss(delta=0.0), "delta must be > 0"),
    (lambda: fnn.MarginRankingCriterion(margin="1"), "margin must be a finite number"),
    (lambda: fnn.HingeEmbeddingCriterion(margin=float("nan")), "margin must be a finite number"),
    (lambda: fnn.KLDivLoss(log_target=1), "log_target must be a bool"),
    (lambda: fnn.L1HingeEmbeddingCriterion(reduction="avg"), "reduction must be one of"),
    (lambda: fnn.MultiCriterion(fnn.Linear(2, 2)), "entry 0 must be a criterion or a"),
    (lambda: fnn.MultiCriterion((fnn.MSECriterion(), "x")), "the weight of entry 0 must be a finite number"),
    (lambda: fnn.ParallelCriterion(repeat_target="yes"), "repeat_target must be a bool"),
    (lambda: fnn.MSECriterion().add(fnn.MSECriterion()), "only those take add"),
    (lambda: fnn.MultiCriterion().with_reduction("sum"), "has no reduction to change"),
    (lambda: fnn.MSECriterion().with_reduction("avg"), "reduction must be one of"),
])
def test_bad_configuration_is_a_config_error(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("call,match", [
    (lambda: fnn.MSECriterion()(jnp.zeros((3, 4)), jnp.zeros(10)),
     r"nn.MSECriterion expects input and target with the same number of elements, got input \(3, 4\) \(12\) "
     r"and target \(10,\) \(10\)"),
    (lambda: fnn.MSELoss()(jnp.zeros((3, 1)), jnp.zeros(3)),
     r"nn.MSELoss expects a target of the input's shape \(3, 1\) \(or one that broadcasts to it\), got \(3,\)"),
    (lambda: fnn.MSECriterion()((jnp.zeros(2), jnp.zeros(2)), jnp.zeros(2)),
     r"nn.MSECriterion expects one array as input, got a table \{\(2,\), \(2,\)\}"),
    (lambda: fnn.ClassNLLCriterion()(LOGP, jnp.array([[0], [1]])),
     r"nn.ClassNLLCriterion expects target \(2,\) of class indices for input \(2, 3\), got \(2, 1\)"),
    (lambda: fnn.ClassNLLCriterion()(LOGP, 0),
     r"nn.ClassNLLCriterion expects target \(2,\) of class indices for input \(2, 3\), got \(\)"),
    (lambda: fnn.ClassNLLCriterion()(jnp.zeros((2, 3, 4)), jnp.zeros((2, 4), jnp.int32)),
     r"nn.ClassNLLCriterion expects input \(C\) or \(B, C\), got 3-D \(2, 3, 4\)"),
    (lambda: fnn.SpatialClassNLLCriterion()(LOGP, jnp.array([0, 1])),
     r"expects input \(C, H, W\) or \(B, C, H, W\), got 2-D"),
    (lambda: fnn.NLLLoss()(jnp.zeros(()), 0), r"nn.NLLLoss expects input \(C\), \(B, C\) or"),
    (lambda: fnn.ClassNLLCriterion(jnp.ones(4))(LOGP, jnp.array([0, 1])),
     r"nn.ClassNLLCriterion has weights of shape \(4,\), but the input has 3 classes"),
    (lambda: fnn.BCECriterion(jnp.ones(4))(jnp.full((2, 3), 0.5), jnp.zeros((2, 3))),
     r"nn.BCECriterion has weights of shape \(4,\) that does not broadcast to the input \(2, 3\)"),
    (lambda: fnn.MultiMarginCriterion()(LOGP, jnp.array([0, 1, 2])),
     r"nn.MultiMarginCriterion expects target \(2,\) of class indices for input \(2, 3\), got \(3,\)"),
    (lambda: fnn.MultiMarginCriterion()(jnp.zeros((2, 3, 1)), jnp.array([0, 1])),
     r"nn.MultiMarginCriterion expects input \(C\) or \(B, C\), got 3-D"),
    (lambda: fnn.MultiLabelMarginCriterion()(LOGP, jnp.array([0, 1])),
     r"nn.MultiLabelMarginCriterion expects a target of the input's shape \(2, 3\)"),
    (lambda: fnn.MarginRankingCriterion()(jnp.zeros(3), 1),
     r"nn.MarginRankingCriterion expects a table \(tuple\) of 2 arrays as input, got one array of shape \(3,\)"),
    (lambda: fnn.MarginRankingCriterion()((jnp.zeros(3), jnp.zeros(2)), 1),
     r"nn.MarginRankingCriterion expects a table of two arrays of one shape, got \{\(3,\), \(2,\)\}"),
    (lambda: fnn.MarginRankingCriterion()((jnp.zeros(3), jnp.zeros(3)), jnp.ones(2)),
     r"expects a label target \(3,\) \(or one number\), got \(2,\)"),
    (lambda: fnn.CosineEmbeddingCriterion()((jnp.zeros((2, 3)), jnp.zeros((2, 3)), jnp.zeros(3)), 1),
     r"nn.CosineEmbeddingCriterion expects a table of 2 arrays as input, got 3"),
    (lambda: fnn.CosineEmbeddingCriterion()((jnp.zeros((2, 3)), jnp.zeros((2, 4))), jnp.ones(2)),
     r"expects a table of two \(D\) or two \(B, D\) arrays of one shape, got \{\(2, 3\), \(2, 4\)\}"),
    (lambda: fnn.ParallelCriterion(fnn.MSECriterion())((jnp.zeros(2), jnp.zeros(2)), (jnp.zeros(2),)),
     r"nn.ParallelCriterion expects a table of 1 inputs \(one per criterion\), got \{\(2,\), \(2,\)\}"),
    (lambda: fnn.ParallelCriterion(fnn.MSECriterion())((jnp.zeros(2),), jnp.zeros(2)),
     r"expects a table of 1 targets \(one per criterion\), got ArrayImpl; use repeat_target=True"),
])
def test_wrong_shapes_are_shape_errors(call, match):
    with pytest.raises(ShapeError, match=match):
        call()


def test_errors_inside_combinators_carry_the_path():
    multi = fnn.MultiCriterion(fnn.MSECriterion(), fnn.ClassNLLCriterion())
    with pytest.raises(DTypeError, match=r"at \[1\]: nn.ClassNLLCriterion expects integer class indices") as e:
        multi(LOGP, jnp.zeros((2, 3)))
    assert any("inside child [1] of nn.MultiCriterion" in n for n in e.value.__notes__)


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("call,match", [
    (lambda: fnn.ClassNLLCriterion()(LOGP, jnp.array([0.0, 1.0])),
     r"nn.ClassNLLCriterion expects integer class indices \(0-based\) as target, got float64; cast with"),
    (lambda: fnn.ClassNLLCriterion()(LOGP[0], 1.0), r"expects integer class indices \(0-based\) as target, got float"),
    (lambda: fnn.ClassNLLCriterion()(LOGP[0], True), "expects integer class indices"),
    (lambda: fnn.MultiMarginCriterion()(LOGP, jnp.array([0.0, 2.0])), "expects integer class indices"),
    (lambda: fnn.MultiLabelMarginCriterion()(LOGP, jnp.zeros((2, 3))), "expects integer class indices"),
    (lambda: fnn.CrossEntropyCriterion()(LOGP, np.array([1.0, 2.0])), "expects integer class indices"),
    (lambda: fnn.CrossEntropyLoss()(LOGP, jnp.zeros((2, 4))),
     r"nn.CrossEntropyLoss expects integer class indices \(0-based\) \(2,\) or class probabilities \(2, 3\) "
     r"as target, got float64 \(2, 4\)"),
    (lambda: fnn.MSECriterion()(jnp.zeros(3, jnp.int32), jnp.zeros(3)),
     "nn.MSECriterion expects a floating-point input, got int32"),
    (lambda: fnn.MSECriterion()(jnp.zeros(3), jnp.zeros(3, jnp.int32)),
     "nn.MSECriterion expects a floating-point target, got int32"),
    (lambda: fnn.ClassNLLCriterion()(jnp.zeros((2, 3), jnp.int32), jnp.array([0, 1])),
     "expects a floating-point input, got int32"),
    (lambda: fnn.HingeEmbeddingCriterion()(jnp.zeros(2), jnp.array([True, False])),
     r"expects a target of labels \(1 or -1\) as ints or floats, got bool"),
    (lambda: fnn.MarginRankingCriterion()((jnp.zeros(2), jnp.zeros(2, jnp.float32)), 1),
     "expects input arrays of one dtype, got float64, float32"),
])
def test_wrong_dtypes_are_dtype_errors(call, match):
    with pytest.raises(DTypeError, match=match):
        call()


# --------------------------------------------------------------------------- class index ranges


@pytest.mark.parametrize("call", [
    lambda f: f(fnn.ClassNLLCriterion())(LOGP, jnp.array([0, 3])),
    lambda f: f(fnn.ClassNLLCriterion())(LOGP[0], -1),
    lambda f: f(fnn.NLLLoss(ignore_index=5))(LOGP, jnp.array([-100, 1])),
    lambda f: f(fnn.CrossEntropyCriterion())(LOGP, jnp.array([7, 1])),
    lambda f: f(fnn.CrossEntropyLoss())(jnp.zeros((2, 3, 2)), jnp.array([[0, 1], [3, 0]])),
    lambda f: f(fnn.SpatialClassNLLCriterion())(jnp.zeros((3, 2, 2)), jnp.array([[0, 1], [2, 3]])),
    lambda f: f(fnn.MultiMarginCriterion())(LOGP, jnp.array([0, 3])),
    lambda f: f(fnn.MultiLabelMarginCriterion())(LOGP, jnp.array([[0, 3, -1], [0, -1, 0]])),
], ids=["nll", "nll-negative", "nll-ignore-elsewhere", "ce", "ce-kdim", "spatial", "multimargin", "multilabel"])
@pytest.mark.parametrize("how", ["call", "backward"])
def test_out_of_range_class_index_is_an_index_range_error(call, how):
    pick = (lambda c: c) if how == "call" else (lambda c: c.backward)
    with pytest.raises(IndexRangeError, match=r"outside \[0, 3\) for input with 3 classes"):
        call(pick)


def test_index_range_message_shows_the_bad_value_and_where():
    with pytest.raises(IndexRangeError, match=r"nn.ClassNLLCriterion target holds class index 3 \(at \(1,\)\) "
                                              r"outside \[0, 3\) .*valid: 0..2 or ignore_index -100\); 1 bad entry"):
        fnn.ClassNLLCriterion()(LOGP, jnp.array([0, 3]))


def test_entries_after_the_multilabel_terminator_are_not_checked():
    assert np.isfinite(fnn.MultiLabelMarginCriterion()(LOGP, jnp.array([[0, -1, 99], [2, -1, -7]])))


def test_under_jit_an_out_of_range_index_gives_nan():
    """Traced targets cannot be checked; the loss of such a sample is NaN, never a silent clamp."""
    for crit in (fnn.ClassNLLCriterion(), fnn.CrossEntropyLoss(reduction="sum"), fnn.MultiMarginCriterion(),
                 fnn.MultiLabelMarginCriterion()):
        t = jnp.array([[0, 3, -1], [1, -1, 0]]) if "Label" in crit.name else jnp.array([0, 3])
        assert np.isnan(jax.jit(crit)(LOGP, t)), crit.name
    good = jax.jit(fnn.ClassNLLCriterion(reduction="none"))(LOGP, jnp.array([0, 3]))
    assert np.isfinite(good[0]) and np.isnan(good[1])
    assert np.isfinite(jax.jit(fnn.ClassNLLCriterion())(LOGP, jnp.array([0, 2])))
