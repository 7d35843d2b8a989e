"""The criteria conformance registry: every criterion constructor with a concrete input and target.

Each :class:`CriterionCase` is run through ``fnn.testing.check_criterion`` by
``test_criteria.py``, which also checks that every name in ``fnn.CRITERION_NAMES`` has a case.
Inputs are float64 (the tests run with ``jax_enable_x64``) and small: the leading dim is the
batch of examples unless ``batched=False``. Inputs sit away from the kinks of hinge losses
(random normals) and inside the domain of logs (probabilities in (0.05, 0.95)), where finite
differences are meaningful.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

import fnn

R = np.random.default_rng(0)


def _n(*s: int) -> np.ndarray:
    """Standard normals (scores, logits, distances)."""
    return R.standard_normal(s)


def _u(*s: int, lo: float = 0.05, hi: float = 0.95) -> np.ndarray:
    """Uniforms: probabilities away from 0 and 1."""
    return R.uniform(lo, hi, s)


def _pm(*s: int) -> np.ndarray:
    """±1 labels (ints, as torch7 took them)."""
    return R.choice([-1, 1], s)


def _cls(c: int, *s: int) -> np.ndarray:
    """0-based class indices in ``[0, c)``."""
    return R.integers(0, c, s)


def _logp(*s: int, axis: int = 1) -> np.ndarray:
    """Log-probabilities over ``axis``."""
    x = _n(*s)
    return x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))


def _probs(*s: int) -> np.ndarray:
    """Probabilities over the last dim."""
    p = _u(*s)
    return p / np.sum(p, axis=-1, keepdims=True)


W3 = np.array([0.5, 2.0, 1.5])  # per-class weights for 3 classes


@dataclasses.dataclass(frozen=True)
class CriterionCase:
    """One registry entry.

    Attributes:
      name: the fnn constructor this case covers (e.g. ``"MSECriterion"``).
      make: builds the criterion.
      input: the input (an array, or a tuple of arrays for table criteria).
      target: the target.
      batched: whether the leading dim is a batch whose examples the criterion also takes
        one at a time (so ``vmap`` must agree with the batched call).
      grads: whether to run float64 finite differences.
      id: test id suffix, for a second case of one constructor.
    """

    name: str
    make: Callable[[], fnn.Criterion]
    input: Any
    target: Any
    batched: bool = True
    grads: bool = True
    id: str = ""

    @property
    def test_id(self) -> str:
        return self.name + (f"-{self.id}" if self.id else "")


REGRESSION = [
    CriterionCase("MSECriterion", lambda: fnn.MSECriterion(), _n(2, 3), _n(2, 3)),
    # torch7 pairs elements in storage order: a (B, 1) input with a (B,) target
    CriterionCase("MSECriterion", lambda: fnn.MSECriterion(), _n(3, 1), _n(3), id="numel"),
    CriterionCase("MSELoss", lambda: fnn.MSELoss(), _n(2, 3), _n(2, 3)),
    CriterionCase("AbsCriterion", lambda: fnn.AbsCriterion(), _n(2, 3), _n(2, 3)),
    CriterionCase("L1Loss", lambda: fnn.L1Loss(), _n(2, 3), _n(2, 3)),
    CriterionCase("SmoothL1Criterion", lambda: fnn.SmoothL1Criterion(beta=0.5), _n(2, 3), _n(2, 3)),
    CriterionCase("SmoothL1Loss", lambda: fnn.SmoothL1Loss(), _n(2, 3), _n(2, 3)),
    CriterionCase("HuberLoss", lambda: fnn.HuberLoss(delta=0.5), _n(2, 3), _n(2, 3)),
    CriterionCase("BCECriterion", lambda: fnn.BCECriterion(W3), _u(2, 3), _u(2, 3, lo=0, hi=1)),
    CriterionCase("BCELoss", lambda: fnn.BCELoss(W3), _u(2, 3), _u(2, 3, lo=0, hi=1)),
    CriterionCase("BCEWithLogitsLoss", lambda: fnn.BCEWithLogitsLoss(W3, pos_weight=W3), _n(2, 3),
                  _u(2, 3, lo=0, hi=1)),
    CriterionCase("DistKLDivCriterion", lambda: fnn.DistKLDivCriterion(), _logp(2, 3), _probs(2, 3)),
    CriterionCase("KLDivLoss", lambda: fnn.KLDivLoss(), _logp(2, 3), _probs(2, 3)),
    CriterionCase("KLDivLoss", lambda: fnn.KLDivLoss(reduction="batchmean", log_target=True), _logp(2, 3),
                  _logp(2, 3), id="batchmean-log"),
    CriterionCase("SoftMarginCriterion", lambda: fnn.SoftMarginCriterion(), _n(2, 3), _pm(2, 3)),
    CriterionCase("SoftMarginLoss", lambda: fnn.SoftMarginLoss(), _n(2, 3), _pm(2, 3).astype(float)),
    CriterionCase("MarginCriterion", lambda: fnn.MarginCriterion(0.7), _n(2, 3), _pm(2, 3)),
]

CLASSIFICATION = [
    CriterionCase("ClassNLLCriterion", lambda: fnn.ClassNLLCriterion(), _logp(3, 4), _cls(4, 3)),
    CriterionCase("ClassNLLCriterion", lambda: fnn.ClassNLLCriterion(W3, ignore_index=1), _logp(3, 3),
                  np.array([0, 1, 2]), id="weights-ignore"),
    CriterionCase("SpatialClassNLLCriterion", lambda: fnn.SpatialClassNLLCriterion(W3), _logp(2, 3, 2, 2),
                  _cls(3, 2, 2, 2)),
    CriterionCase("NLLLoss", lambda: fnn.NLLLoss(W3), _logp(2, 3), _cls(3, 2)),
    # PyTorch's K-dim layout (B, C, d1): one example (C, d1) would read as a batch, so no vmap
    CriterionCase("NLLLoss", lambda: fnn.NLLLoss(W3), _logp(2, 3, 2), _cls(3, 2, 2), batched=False, id="kdim"),
    CriterionCase("CrossEntropyCriterion", lambda: fnn.CrossEntropyCriterion(W3, label_smoothing=0.1), _n(3, 3),
                  _cls(3, 3)),
    CriterionCase("CrossEntropyLoss", lambda: fnn.CrossEntropyLoss(W3), _n(2, 3), _cls(3, 2)),
    CriterionCase("CrossEntropyLoss", lambda: fnn.CrossEntropyLoss(W3, label_smoothing=0.2), _n(2, 3, 2),
                  _cls(3, 2, 2), batched=False, id="kdim"),
    CriterionCase("CrossEntropyLoss", lambda: fnn.CrossEntropyLoss(label_smoothing=0.2), _n(2, 3), _probs(2, 3),
                  id="probs"),
    CriterionCase("CrossEntropyLoss", lambda: fnn.CrossEntropyLoss(), _n(2, 3).astype(np.float32), _cls(3, 2),
                  grads=False, id="float32"),
]

MARGIN = [
    CriterionCase("MultiMarginCriterion", lambda: fnn.MultiMarginCriterion(2, W3, 0.8), _n(3, 3), _cls(3, 3)),
    CriterionCase("MultiMarginLoss", lambda: fnn.MultiMarginLoss(), _n(2, 4), _cls(4, 2)),
    CriterionCase("MultiLabelMarginCriterion", lambda: fnn.MultiLabelMarginCriterion(), _n(2, 4),
                  np.array([[3, 0, -1, 2], [1, -1, 0, 0]])),
    CriterionCase("MultiLabelMarginLoss", lambda: fnn.MultiLabelMarginLoss(), _n(2, 4),
                  np.array([[2, -1, 3, 3], [0, 1, 3, -1]])),
    CriterionCase("MultiLabelSoftMarginCriterion", lambda: fnn.MultiLabelSoftMarginCriterion(W3), _n(2, 3),
                  _cls(2, 2, 3)),
    CriterionCase("MultiLabelSoftMarginLoss", lambda: fnn.MultiLabelSoftMarginLoss(W3), _n(2, 3),
                  _cls(2, 2, 3).astype(float)),
]

EMBEDDING = [
    CriterionCase("HingeEmbeddingCriterion", lambda: fnn.HingeEmbeddingCriterion(), _n(2, 3), _pm(2, 3)),
    CriterionCase("HingeEmbeddingLoss", lambda: fnn.HingeEmbeddingLoss(margin=2.0), _n(2, 3), _pm(2, 3)),
    CriterionCase("L1HingeEmbeddingCriterion", lambda: fnn.L1HingeEmbeddingCriterion(2.0), (_n(3, 2), _n(3, 2)),
                  _pm(3)),
    # one label for every pair: vmap shares it between the examples
    CriterionCase("L1HingeEmbeddingCriterion", lambda: fnn.L1HingeEmbeddingCriterion(5.0), (_n(3, 2), _n(3, 2)),
                  -1, id="one-label"),
    CriterionCase("CosineEmbeddingCriterion", lambda: fnn.CosineEmbeddingCriterion(0.2), (_n(3, 4), _n(3, 4)),
                  _pm(3)),
    CriterionCase("CosineEmbeddingLoss", lambda: fnn.CosineEmbeddingLoss(-0.5), (_n(3, 4), _n(3, 4)), _pm(3)),
    CriterionCase("MarginRankingCriterion", lambda: fnn.MarginRankingCriterion(), (_n(3), _n(3)), _pm(3)),
    CriterionCase("MarginRankingLoss", lambda: fnn.MarginRankingLoss(0.5), (_n(3), _n(3)), _pm(3).astype(float)),
]

COMBINATORS = [
    CriterionCase("MultiCriterion", lambda: fnn.MultiCriterion(fnn.MSECriterion(), (fnn.AbsCriterion(), 0.5)),
                  _n(2, 3), _n(2, 3)),
    CriterionCase("ParallelCriterion",
                  lambda: fnn.ParallelCriterion(fnn.MSECriterion(), (fnn.ClassNLLCriterion(), 2.0)),
                  (_n(2, 3), _logp(2, 3)), (_n(2, 3), _cls(3, 2))),
    CriterionCase("ParallelCriterion", lambda: fnn.ParallelCriterion(fnn.MSECriterion(), (fnn.SmoothL1Loss(), 0.5),
                                                                     repeat_target=True),
                  (_n(2, 3), _n(2, 3)), _n(2, 3), id="repeat-target"),
]

CASES = REGRESSION + CLASSIFICATION + MARGIN + EMBEDDING + COMBINATORS

# torch7's remaining criteria (issue 15); targets of None: the criterion takes no target
CATALOGUE = [
    CriterionCase("WeightedMSECriterion", lambda: fnn.WeightedMSECriterion(W3), _n(2, 3), _n(2, 3)),
    CriterionCase("WeightedMSECriterion", lambda: fnn.WeightedMSECriterion(_n(2, 3)), _n(2, 3), _n(2, 3),
                  batched=False, id="full-shape"),
    CriterionCase("SpatialAutoCropMSECriterion", lambda: fnn.SpatialAutoCropMSECriterion(), _n(2, 2, 2, 3),
                  _n(2, 2, 4, 4)),
    CriterionCase("ClassSimplexCriterion", lambda: fnn.ClassSimplexCriterion(4), _n(3, 4), _cls(4, 3)),
    CriterionCase("DistanceRatioCriterion", lambda: fnn.DistanceRatioCriterion(), (_u(3), _u(3)), None),
    CriterionCase("L1Cost", lambda: fnn.L1Cost(), _n(2, 3), None),
    CriterionCase("ModuleCriterion",
                  lambda: fnn.ModuleCriterion(fnn.MSECriterion(), fnn.Tanh(), fnn.MulConstant(0.5)),
                  _n(2, 3), _n(2, 3)),
]

CASES = CASES + CATALOGUE
