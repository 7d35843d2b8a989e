"""Class-index criteria: torch7's ClassNLL, SpatialClassNLL and CrossEntropy criteria,
with PyTorch's ``NLLLoss`` and ``CrossEntropyLoss``.

Class indices are **0-based** (torch7's were 1-based). Input layouts: ``(C)`` one sample with
a scalar target, ``(B, C)`` with a ``(B,)`` target, and for the spatial / PyTorch forms
``(B, C, d1, ..., dk)`` with a ``(B, d1, ..., dk)`` target. ``reduction='mean'`` divides by the
sum of the weights of the non-ignored targets (their number when there are no weights);
``'none'`` gives one loss per target entry (0 for ignored ones).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import format_shape, lift
from fnn.core._args import check_number, int_arg
from fnn.criteria._base import Criterion, check_reduction, make, resolve_reduction, safe_divide
from fnn.criteria._checks import as_weights, check_class_range, class_target, class_weights, float_input
from fnn.errors import ConfigError, DTypeError, ShapeError

Array = jax.Array


def _class_axis(x: Array, spatial: bool) -> int:
    """Where the classes are: dim 0 for one sample ``(C)`` (or one image ``(C, H, W)`` of a
    spatial criterion), else dim 1."""
    return 0 if x.ndim == 1 or (spatial and x.ndim == 3) else 1


def _layouts(ranks: tuple[int, ...] | None) -> str:
    all_ = {1: "(C)", 2: "(B, C)", 3: "(C, H, W)", 4: "(B, C, H, W)"}
    if ranks is None:
        return "(C), (B, C) or (B, C, d1, ..., dk)"
    return " or ".join(all_[r] for r in ranks)


def _prepare_classes(x: Any, t: Any, *, ranks: tuple[int, ...] | None, weights: Array | None,
                     ignore_index: int | None, soft: bool = False, squeeze: bool = False, spatial: bool = False):
    """Validates ``(input, target)``; returns ``(x, (target, weights, is_soft, class_axis))``."""
    x = float_input(x)
    if squeeze and x.ndim == 2 and x.shape[0] == 1:  # torch7's CrossEntropyCriterion: input:squeeze()
        x = jnp.reshape(x, x.shape[1:])
        if not isinstance(t, numbers.Number) and jnp.ndim(t) in (1, 2) and jnp.shape(t)[0] == 1:
            t = jnp.reshape(jnp.asarray(t), jnp.shape(t)[1:])
    if (ranks is not None and x.ndim not in ranks) or x.ndim == 0:
        raise ShapeError(f"expects input {_layouts(ranks)}, got {x.ndim}-D {format_shape(x.shape)}")
    axis = _class_axis(x, spatial)
    n = x.shape[axis]
    w = class_weights(weights, n, x)
    expected = x.shape[:axis] + x.shape[axis + 1:]
    if soft and not isinstance(t, numbers.Number):
        t = jnp.asarray(t)
        if jnp.issubdtype(t.dtype, jnp.floating):
            if t.shape == x.shape:  # class probabilities
                return x, (t.astype(x.dtype), w, True, axis)
            raise DTypeError(f"expects integer class indices (0-based) {format_shape(expected)} or class "
                             f"probabilities {format_shape(x.shape)} as target, got {t.dtype.name} "
                             f"{format_shape(t.shape)}")
    t = class_target(t)
    if squeeze and t.ndim == 2 and t.shape[1] == 1 and expected == t.shape[:1]:
        t = jnp.reshape(t, expected)  # torch7 squeezed the target too
    if x.ndim == 1 and t.shape == (1,):
        t = jnp.reshape(t, ())
    if t.shape != expected:
        probs = f" (or class probabilities {format_shape(x.shape)})" if soft else ""
        raise ShapeError(f"expects target {format_shape(expected)} of class indices{probs} for input "
                         f"{format_shape(x.shape)}, got {format_shape(t.shape)}")
    check_class_range(t, n, ignore_index)
    return x, (t.astype(jnp.int32), w, False, axis)


def nll_terms(logp: Array, t: Array, w: Array | None, ignore_index: int, axis: int) -> tuple[Array, Array]:
    """Per-target ``-w[t] logp[t]`` (0 where ignored, NaN where out of range) and the weights used."""
    n = logp.shape[axis]
    lp = jnp.moveaxis(logp, axis, -1)
    keep = t != ignore_index
    in_range = (t >= 0) & (t < n)
    safe = jnp.where(in_range, t, 0)
    picked = jnp.take_along_axis(lp, safe[..., None], axis=-1)[..., 0]
    wt = jnp.ones_like(picked) if w is None else w[safe]
    wt = jnp.where(keep, wt, 0)
    loss = jnp.where(keep & ~in_range, jnp.nan, -wt * picked)
    return loss, wt


def _reduce_classes(losses: Array, wt: Array, r: str, empty: float) -> Array:
    if r == "none":
        return losses
    total = jnp.sum(losses)
    return total if r == "sum" else safe_divide(total, jnp.sum(wt), empty)


def _check_ignore(name: str, ignore_index: Any) -> int:
    return int_arg(name, "ignore_index", ignore_index)


def _nll(kind: str, weights: Any, ignore_index: int, reduction: str, *, ranks: tuple[int, ...] | None,
         torch7: bool, weight_name: str = "weights", spatial: bool = False) -> Criterion:
    name = f"nn.{kind}"
    w = as_weights(name, weights, weight_name)
    ignore_index = _check_ignore(name, ignore_index)
    empty = 0.0 if torch7 else float("nan")

    def build(r: str) -> tuple[Callable, Callable]:
        def prepare(x, t):
            return _prepare_classes(x, t, ranks=ranks, weights=w, ignore_index=ignore_index, spatial=spatial)

        def loss(x, tw):
            t, wc, _, axis = tw
            losses, wt = nll_terms(x, t, wc, ignore_index, axis)
            return _reduce_classes(losses, wt, r, empty)

        return prepare, loss

    return make(kind, build, reduction, {weight_name: w, "ignore_index": ignore_index})


def ClassNLLCriterion(weights: Any = None, size_average: bool | None = None, ignore_index: int = -100, *,
                      reduction: str | None = None) -> Criterion:
    """Negative log-likelihood of 0-based class indices: ``Σ -w[t] x[t] / Σ w[t]``.

    Args:
      weights: optional per-class weights ``(C,)``.
      size_average: torch7's flag (default True): divide by the total weight of the
        non-ignored targets (their number without weights); False sums.
      ignore_index: targets equal to it add nothing to the loss, the divisor or the gradient.
      reduction: ``'mean' | 'sum' | 'none'`` (``'none'``: ``-w[t] x[t]`` per sample).

    Shape contract: input log-probabilities ``(C)`` with an int target (a Python int, a
    0-d or a 1-element array), or ``(B, C)`` with an int ``(B,)`` target.

    torch7 semantics kept: one sample ``(C)`` with weights and ``size_average`` gives
    ``-w[t] x[t] / w[t] = -x[t]`` (the weight cancels, gradient -1; torch7's docs warn to
    use ``size_average=False`` there); when every target is ignored the total weight is 0
    and the loss is 0 (PyTorch: NaN). Deviation: class indices are 0-based. An out-of-range
    index raises IndexRangeError in eager calls; under ``jit`` its sample's loss is NaN.

    >>> import jax.numpy as jnp, fnn
    >>> logp = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
    >>> fnn.ClassNLLCriterion()(logp, jnp.array([0, 2]))
    Array(0.45814535, dtype=float32)
    >>> fnn.ClassNLLCriterion().backward(logp, jnp.array([0, 2]))
    Array([[-0.5,  0. ,  0. ],
           [ 0. ,  0. , -0.5]], dtype=float32)
    """
    r = resolve_reduction("nn.ClassNLLCriterion", size_average, reduction)
    return _nll("ClassNLLCriterion", weights, ignore_index, r, ranks=(1, 2), torch7=True)


def SpatialClassNLLCriterion(weights: Any = None, size_average: bool | None = None, ignore_index: int = -100, *,
                             reduction: str | None = None) -> Criterion:
    """:func:`ClassNLLCriterion` per pixel: input ``(B, C, H, W)`` log-probs, target ``(B, H, W)``.

    The mean divides by the total weight of the non-ignored pixels. fnn also takes one
    image ``(C, H, W)`` with an ``(H, W)`` target (torch7 took batches only), so the
    criterion works under ``vmap``. ``'none'`` gives ``(B, H, W)`` losses.

    >>> import jax.numpy as jnp, fnn
    >>> logp = jnp.log(jnp.full((1, 2, 2, 2), 0.5))
    >>> fnn.SpatialClassNLLCriterion()(logp, jnp.zeros((1, 2, 2), jnp.int32))
    Array(0.6931472, dtype=float32)
    """
    r = resolve_reduction("nn.SpatialClassNLLCriterion", size_average, reduction)
    return _nll("SpatialClassNLLCriterion", weights, ignore_index, r, ranks=(3, 4), torch7=True, spatial=True)


def NLLLoss(weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean") -> Criterion:
    """PyTorch's ``nn.NLLLoss``: input ``(C)``, ``(B, C)`` or ``(B, C, d1, ..., dk)`` log-probs.

    Same numbers as :func:`ClassNLLCriterion`, except that a mean over no (non-ignored)
    targets is NaN, as in PyTorch. As in PyTorch a K-dim input needs its batch dim (a 3-D
    input is ``(B, C, d1)``); :func:`SpatialClassNLLCriterion` also takes one image.

    >>> import jax.numpy as jnp, fnn
    >>> logp = jnp.log(jnp.array([[0.5, 0.5]]))
    >>> fnn.NLLLoss(reduction='none')(logp, jnp.array([1]))
    Array([0.6931472], dtype=float32)
    """
    r = check_reduction("nn.NLLLoss", reduction)
    return _nll("NLLLoss", weight, ignore_index, r, ranks=None, torch7=False, weight_name="weight")


# --------------------------------------------------------------------------- cross-entropy


def _cross_entropy(kind: str, weights: Any, ignore_index: int, reduction: str, label_smoothing: float, *,
                   torch7: bool, weight_name: str) -> Criterion:
    name = f"nn.{kind}"
    w = as_weights(name, weights, weight_name)
    ignore_index = _check_ignore(name, ignore_index)
    eps = check_number(name, "label_smoothing", label_smoothing, low=0)
    if eps > 1:
        raise ConfigError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    empty = 0.0 if torch7 else float("nan")
    ranks = (1, 2) if torch7 else None

    def build(r: str) -> tuple[Callable, Callable]:
        def prepare(x, t):
            return _prepare_classes(x, t, ranks=ranks, weights=w, ignore_index=ignore_index, soft=True,
                                    squeeze=torch7)

        def loss(x, tw):
            t, wc, soft, axis = tw
            n = x.shape[axis]
            logp = jax.nn.log_softmax(x, axis=axis)
            lp = jnp.moveaxis(logp, axis, -1)  # (..., C)
            if soft:
                p = jnp.moveaxis(t, axis, -1)
                if eps:
                    p = p * (1 - eps) + eps / n
                if wc is not None:
                    p = p * lift(wc, p.ndim)
                losses = -jnp.sum(p * lp, axis=-1)
                if r == "mean":
                    return jnp.sum(losses) / (losses.size if losses.size else float("nan"))
                return jnp.sum(losses) if r == "sum" else losses
            losses, wt = nll_terms(logp, t, wc, ignore_index, axis)
            if eps:
                smooth = -jnp.sum(lp if wc is None else lp * lift(wc, lp.ndim), axis=-1)
                smooth = jnp.where(t != ignore_index, smooth, 0)
                losses = (1 - eps) * losses + (eps / n) * smooth
            return _reduce_classes(losses, wt, r, empty)

        return prepare, loss

    config = {weight_name: w, "ignore_index": ignore_index, "label_smoothing": eps}
    return make(kind, build, reduction, config)


def CrossEntropyCriterion(weights: Any = None, size_average: bool | None = None, ignore_index: int = -100, *,
                          label_smoothing: float = 0.0, reduction: str | None = None) -> Criterion:
    """LogSoftMax + :func:`ClassNLLCriterion` on raw scores (logits).

    Args:
      weights: optional per-class weights ``(C,)``.
      size_average: torch7's flag (default True): divide by the total target weight.
      ignore_index: a target value that is skipped (torch7 kept it on the inner ``.nll``).
      label_smoothing: ε in [0, 1]: mixes the one-hot target with the uniform distribution,
        PyTorch's formula ``(1 - ε) nll + ε/C Σ_c -w[c] logp[c]``.
      reduction: ``'mean' | 'sum' | 'none'``.

    Shape contract: input ``(C)`` or ``(B, C)`` logits; target 0-based class indices ``()``
    or ``(B,)``, or class probabilities of the input's shape (a float target, PyTorch's
    soft labels; its mean divides by the number of samples). As torch7 the input is
    squeezed first, so a ``(1, C)`` input is one sample (with ``'none'`` the loss is 0-d,
    and with weights it is ``-logp[t]``); the gradient keeps the input's shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CrossEntropyCriterion()(jnp.zeros((2, 4)), jnp.array([1, 3]))
    Array(1.3862944, dtype=float32)
    """
    r = resolve_reduction("nn.CrossEntropyCriterion", size_average, reduction)
    return _cross_entropy("CrossEntropyCriterion", weights, ignore_index, r, label_smoothing, torch7=True,
                          weight_name="weights")


def CrossEntropyLoss(weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean",
                     label_smoothing: float = 0.0) -> Criterion:
    """PyTorch's ``nn.CrossEntropyLoss``: logits ``(C)``, ``(B, C)`` or ``(B, C, d1, ..., dk)``.

    As :func:`CrossEntropyCriterion` without the squeeze (a ``(1, C)`` input is a batch of
    one) and with a NaN mean when every target is ignored, as in PyTorch.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CrossEntropyLoss(label_smoothing=0.1)(jnp.array([[2.0, 0.0]]), jnp.array([0]))
    Array(0.226928..., dtype=float32)
    """
    r = check_reduction("nn.CrossEntropyLoss", reduction)
    return _cross_entropy("CrossEntropyLoss", weight, ignore_index, r, label_smoothing, torch7=False,
                          weight_name="weight")
