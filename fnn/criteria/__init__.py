"""Criteria (torch7's ``nn.*Criterion``, PyTorch's ``nn.*Loss``): pure loss functions.

A criterion is a frozen :class:`Criterion` called as ``criterion(input, target)``; it
returns a 0-d loss, and ``criterion.backward(input, target)`` is ∂loss/∂input (torch7's
``criterion:backward``, computed by ``jax.grad``)::

    crit = fnn.ClassNLLCriterion()
    loss = crit(logp, target)
    grad = crit.backward(logp, target)
    loss, grads = jax.value_and_grad(lambda p: crit(apply(p, x), target))(params)

Defaults follow torch7: ``size_average=True``, with torch7's divisor for each criterion
(numel for the element-wise ones, the total target weight for ClassNLL / CrossEntropy,
C and then B for MultiMargin / MultiLabelMargin, B for MarginRanking / CosineEmbedding).
Every criterion also takes PyTorch's ``reduction='mean' | 'sum' | 'none'``. The PyTorch
names (``MSELoss``, ``NLLLoss``, ``CrossEntropyLoss``, ...) take PyTorch's arguments and
give PyTorch's numbers (e.g. ``BCELoss`` clamps its logs at -100 where torch7's
``BCECriterion`` adds 1e-12, and ``NLLLoss`` over only ignored targets is NaN where torch7
gives 0). Class indices are 0-based.

Errors: wrong shapes raise :class:`~fnn.ShapeError`, integer inputs or float class indices
:class:`~fnn.DTypeError`, both at call time (also under ``jit``, where shapes are static),
naming the criterion and showing expected vs actual. An out-of-range class index raises
:class:`~fnn.IndexRangeError` whenever the target is a concrete array (eager calls,
``backward``, ``jax.grad`` w.r.t. the input). Under ``jax.jit`` or ``jax.vmap`` the target is
abstract and cannot be inspected, so the loss of such a sample is NaN instead (never a
silently clamped gather); check targets before jitting when in doubt. :func:`fnn.fit` and
:func:`fnn.evaluate` do that for you: they check the labels of the datasets they receive once,
before the first step, and raise :class:`~fnn.IndexRangeError` (never a NaN loss reported as a
:class:`~fnn.NonFiniteError`). Inside ``with fnn.criteria.checkify_targets():`` (opt-in) a criterion
traced under ``jit`` also checks its indices with ``jax.experimental.checkify``.

One family a file: ``_regression.py`` (point-wise losses), ``_classification.py`` (NLL, cross
entropy), ``_margin.py``, ``_embedding.py``, ``_combinators.py`` (:func:`MultiCriterion`,
:func:`ParallelCriterion`); ``_base.py`` holds the :class:`Criterion` object, ``_checks.py``
the input and target checks they share.
"""

from fnn.criteria._base import REDUCTIONS as REDUCTIONS
from fnn.criteria._base import Criterion as Criterion
from fnn.criteria._checkify import checkify_targets as checkify_targets  # issue 14 (rel)
from fnn.criteria._classification import ClassNLLCriterion as ClassNLLCriterion
from fnn.criteria._classification import CrossEntropyCriterion as CrossEntropyCriterion
from fnn.criteria._classification import CrossEntropyLoss as CrossEntropyLoss
from fnn.criteria._classification import NLLLoss as NLLLoss
from fnn.criteria._classification import SpatialClassNLLCriterion as SpatialClassNLLCriterion
from fnn.criteria._combinators import MultiCriterion as MultiCriterion
from fnn.criteria._combinators import ParallelCriterion as ParallelCriterion
from fnn.criteria._embedding import CosineEmbeddingCriterion as CosineEmbeddingCriterion
from fnn.criteria._embedding import CosineEmbeddingLoss as CosineEmbeddingLoss
from fnn.criteria._embedding import HingeEmbeddingCriterion as HingeEmbeddingCriterion
from fnn.criteria._embedding import HingeEmbeddingLoss as HingeEmbeddingLoss
from fnn.criteria._embedding import L1HingeEmbeddingCriterion as L1HingeEmbeddingCriterion
from fnn.criteria._embedding import MarginRankingCriterion as MarginRankingCriterion
from fnn.criteria._embedding import MarginRankingLoss as MarginRankingLoss
from fnn.criteria._margin import MultiLabelMarginCriterion as MultiLabelMarginCriterion
from fnn.criteria._margin import MultiLabelMarginLoss as MultiLabelMarginLoss
from fnn.criteria._margin import MultiLabelSoftMarginCriterion as MultiLabelSoftMarginCriterion
from fnn.criteria._margin import MultiLabelSoftMarginLoss as MultiLabelSoftMarginLoss
from fnn.criteria._margin import MultiMarginCriterion as MultiMarginCriterion
from fnn.criteria._margin import MultiMarginLoss as MultiMarginLoss
from fnn.criteria._regression import AbsCriterion as AbsCriterion
from fnn.criteria._regression import BCECriterion as BCECriterion
from fnn.criteria._regression import BCELoss as BCELoss
from fnn.criteria._regression import BCEWithLogitsLoss as BCEWithLogitsLoss
from fnn.criteria._regression import DistKLDivCriterion as DistKLDivCriterion
from fnn.criteria._regression import HuberLoss as HuberLoss
from fnn.criteria._regression import KLDivLoss as KLDivLoss
from fnn.criteria._regression import L1Loss as L1Loss
from fnn.criteria._regression import MarginCriterion as MarginCriterion
from fnn.criteria._regression import MSECriterion as MSECriterion
from fnn.criteria._regression import MSELoss as MSELoss
from fnn.criteria._regression import SmoothL1Criterion as SmoothL1Criterion
from fnn.criteria._regression import SmoothL1Loss as SmoothL1Loss
from fnn.criteria._regression import SoftMarginCriterion as SoftMarginCriterion
from fnn.criteria._regression import SoftMarginLoss as SoftMarginLoss
from fnn.criteria._torch7_extra import ClassSimplexCriterion as ClassSimplexCriterion
from fnn.criteria._torch7_extra import DistanceRatioCriterion as DistanceRatioCriterion
from fnn.criteria._torch7_extra import L1Cost as L1Cost
from fnn.criteria._torch7_extra import ModuleCriterion as ModuleCriterion
from fnn.criteria._torch7_extra import SpatialAutoCropMSECriterion as SpatialAutoCropMSECriterion
from fnn.criteria._torch7_extra import WeightedMSECriterion as WeightedMSECriterion
from fnn.criteria._torch7_extra import class_simplex as class_simplex
