"""PyTorch parity of every criterion in float64: the loss AND ∂loss/∂input, for every
reduction, one sample and a batch, and the weights / ignore_index / margin / p options.

Each case compares fnn's ``crit(x, t)`` and ``crit.backward(x, t)`` with PyTorch's loss and
``torch.autograd.grad`` (of the summed losses for ``reduction='none'``). torch7 names are
compared with the PyTorch loss that has the same numbers (torch7-only semantics are tested
by hand in ``test_criteria_torch7.py``).
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from tests.criteria.test_torch7_extra import TORCH7_EXTRA

COMPARISONS = [0]  # parity comparisons made (value + one per gradient array), for the report


@dataclasses.dataclass(frozen=True)
class Spec:
    id: str
    ours: Callable[[str], Any]  # reduction -> fnn criterion
    theirs: Callable[[Any, str], Any]  # (torch, reduction) -> torch loss module or function
    data: Callable[[np.random.Generator, bool], tuple[Any, Any]]  # (rng, batched) -> (x, t)
    reductions: tuple[str, ...] = ("mean", "sum", "none")
    forms: tuple[bool, ...] = (False, True)  # non-batch, batch
    rtol: float = 1e-10
    none_adapter: Callable[[np.ndarray, Any], np.ndarray] | None = None  # ours 'none' -> torch's layout
    unscaled: tuple[str, ...] = ()  # reductions where torch7 does not divide by C (PyTorch does)


def _shape(batched: bool, *rest: int) -> tuple[int, ...]:
    return ((3,) if batched else ()) + rest


def randn(*shape):
    return lambda rng, b: (rng.standard_normal(_shape(b, *shape)), rng.standard_normal(_shape(b, *shape)))


def probs(*shape):
    return lambda rng, b: (rng.uniform(0.05, 0.95, _shape(b, *shape)), rng.uniform(0, 1, _shape(b, *shape)))


def signs(*shape, scale=1.0):
    def gen(rng, b):
        s = _shape(b, *shape)
        return scale * rng.standard_normal(s), rng.choice([-1.0, 1.0], s)

    return gen


def binary(*shape):
    return lambda rng, b: (2 * rng.standard_normal(_shape(b, *shape)), rng.integers(0, 2, _shape(b, *shape)) * 1.0)


def kl(*shape):
    def gen(rng, b):
        s = _shape(b, *shape)
        t = rng.uniform(0, 1, s) * (rng.uniform(0, 1, s) > 0.3)
        return np.log(rng.uniform(0.05, 1, s)), t

    return gen


def log_kl(*shape):
    def gen(rng, b):
        s = _shape(b, *shape)
        return np.log(rng.uniform(0.05, 1, s)), np.log(rng.uniform(0.05, 1, s))

    return gen


def classes(c, *spatial, ignore=None, log=True):
    def gen(rng, b):
        x = rng.standard_normal(_shape(b, c, *spatial))
        if log:
            x = x - np.log(np.sum(np.exp(x), axis=1 if b else 0, keepdims=True))
        t = rng.integers(0, c, _shape(b, *spatial))
        if ignore is not None and b:
            t.flat[0] = ignore
        return x, t

    return gen


def soft_classes(c):
    def gen(rng, b):
        x = rng.standard_normal(_shape(b, c))
        p = rng.uniform(0, 1, _shape(b, c))
        return x, p / p.sum(-1, keepdims=True)

    return gen


def multilabel(c):
    def gen(rng, b):
        x = rng.standard_normal(_shape(b, c))
        t = np.full(_shape(b, c), -1)
        for row in t.reshape(-1, c):
            k = rng.integers(1, c)
            row[:k] = rng.permutation(c)[:k]
            row[k + 1:] = rng.integers(0, c, c - k - 1)  # entries after the -1 are ignored
        return x, t

    return gen


def pair(d, *, kind="vec", scale=1.0):
    def gen(rng, b):
        s = _shape(b, d) if kind == "vec" else _shape(b)
        if kind == "vec":
            y = rng.choice([-1, 1], _shape(b)) if b else int(rng.choice([-1, 1]))
        else:
            y = rng.choice([-1.0, 1.0], s)
        return (scale * rng.standard_normal(s), scale * rng.standard_normal(s)), y

    return gen


W4 = np.array([0.2, 1.0, 2.5, 0.7])
W5 = np.array([0.5, 1.5, 1.0, 3.0, 0.25])


def tw(torch, a):
    return torch.tensor(a)


SPECS = [
    # ---------------------------------------------------------------- element-wise
    Spec("MSECriterion", lambda r: fnn.MSECriterion(reduction=r), lambda T, r: T.nn.MSELoss(reduction=r), randn(4)),
    Spec("MSELoss", lambda r: fnn.MSELoss(reduction=r), lambda T, r: T.nn.MSELoss(reduction=r), randn(2, 4)),
    Spec("AbsCriterion", lambda r: fnn.AbsCriterion(reduction=r), lambda T, r: T.nn.L1Loss(reduction=r), randn(4)),
    Spec("L1Loss", lambda r: fnn.L1Loss(reduction=r), lambda T, r: T.nn.L1Loss(reduction=r), randn(4)),
    Spec("SmoothL1Criterion", lambda r: fnn.SmoothL1Criterion(reduction=r),
         lambda T, r: T.nn.SmoothL1Loss(reduction=r), randn(6)),
    Spec("SmoothL1Criterion-beta", lambda r: fnn.SmoothL1Criterion(beta=0.5, reduction=r),
         lambda T, r: T.nn.SmoothL1Loss(reduction=r, beta=0.5), randn(6)),
    Spec("SmoothL1Loss-beta0", lambda r: fnn.SmoothL1Loss(reduction=r, beta=0.0),
         lambda T, r: T.nn.SmoothL1Loss(reduction=r, beta=0.0), randn(6)),
    Spec("SmoothL1Loss-beta2", lambda r: fnn.SmoothL1Loss(reduction=r, beta=2.0),
         lambda T, r: T.nn.SmoothL1Loss(reduction=r, beta=2.0), randn(6)),
    Spec("HuberLoss", lambda r: fnn.HuberLoss(reduction=r), lambda T, r: T.nn.HuberLoss(reduction=r), randn(6)),
    Spec("HuberLoss-delta", lambda r: fnn.HuberLoss(reduction=r, delta=0.7),
         lambda T, r: T.nn.HuberLoss(reduction=r, delta=0.7), randn(6)),
    # torch7's ε = 1e-12 inside the logs moves the numbers by ~1e-11 relative
    Spec("BCECriterion", lambda r: fnn.BCECriterion(reduction=r), lambda T, r: T.nn.BCELoss(reduction=r),
         probs(4), rtol=1e-9),
    Spec("BCECriterion-weights", lambda r: fnn.BCECriterion(W4, reduction=r),
         lambda T, r: T.nn.BCELoss(tw(T, W4), reduction=r), probs(4), rtol=1e-9),
    Spec("BCELoss", lambda r: fnn.BCELoss(reduction=r), lambda T, r: T.nn.BCELoss(reduction=r), probs(4)),
    Spec("BCELoss-weight", lambda r: fnn.BCELoss(W4, reduction=r),
         lambda T, r: T.nn.BCELoss(tw(T, W4), reduction=r), probs(4)),
    Spec("BCEWithLogitsLoss", lambda r: fnn.BCEWithLogitsLoss(reduction=r),
         lambda T, r: T.nn.BCEWithLogitsLoss(reduction=r), binary(4)),
    Spec("BCEWithLogitsLoss-weights", lambda r: fnn.BCEWithLogitsLoss(W4, reduction=r, pos_weight=W4[::-1].copy()),
         lambda T, r: T.nn.BCEWithLogitsLoss(tw(T, W4), reduction=r, pos_weight=tw(T, W4[::-1].copy())), binary(4)),
    Spec("DistKLDivCriterion", lambda r: fnn.DistKLDivCriterion(reduction=r),
         lambda T, r: T.nn.KLDivLoss(reduction=r), kl(5)),
    Spec("KLDivLoss", lambda r: fnn.KLDivLoss(reduction=r), lambda T, r: T.nn.KLDivLoss(reduction=r), kl(5),
         reductions=("mean", "batchmean", "sum", "none"), forms=(True,)),
    Spec("KLDivLoss-log_target", lambda r: fnn.KLDivLoss(reduction=r, log_target=True),
         lambda T, r: T.nn.KLDivLoss(reduction=r, log_target=True), log_kl(5),
         reductions=("mean", "batchmean", "sum", "none"), forms=(True,)),
    Spec("SoftMarginCriterion", lambda r: fnn.SoftMarginCriterion(reduction=r),
         lambda T, r: T.nn.SoftMarginLoss(reduction=r), signs(4, scale=3.0)),
    Spec("SoftMarginLoss", lambda r: fnn.SoftMarginLoss(reduction=r),
         lambda T, r: T.nn.SoftMarginLoss(reduction=r), signs(4)),
    Spec("MarginCriterion", lambda r: fnn.MarginCriterion(0.5, reduction=r),
         lambda T, r: (lambda x, t: _torch_reduce(T.relu(0.5 - t * x), r)), signs(5)),
    Spec("HingeEmbeddingCriterion", lambda r: fnn.HingeEmbeddingCriterion(reduction=r),
         lambda T, r: T.nn.HingeEmbeddingLoss(reduction=r), signs(5, scale=1.5)),
    Spec("HingeEmbeddingLoss-margin", lambda r: fnn.HingeEmbeddingLoss(0.5, reduction=r),
         lambda T, r: T.nn.HingeEmbeddingLoss(0.5, reduction=r), signs(5)),
    Spec("MultiLabelSoftMarginCriterion", lambda r: fnn.MultiLabelSoftMarginCriterion(reduction=r),
         lambda T, r: T.nn.MultiLabelSoftMarginLoss(reduction=r), binary(5), rtol=1e-9,
         none_adapter=lambda v, x: v.sum(-1), unscaled=("sum", "none")),
    Spec("MultiLabelSoftMarginCriterion-weights", lambda r: fnn.MultiLabelSoftMarginCriterion(W5, reduction=r),
         lambda T, r: T.nn.MultiLabelSoftMarginLoss(tw(T, W5), reduction=r), binary(5), rtol=1e-9,
         none_adapter=lambda v, x: v.sum(-1), unscaled=("sum", "none")),
    Spec("MultiLabelSoftMarginLoss", lambda r: fnn.MultiLabelSoftMarginLoss(W5, reduction=r),
         lambda T, r: T.nn.MultiLabelSoftMarginLoss(tw(T, W5), reduction=r), binary(5)),
    # ---------------------------------------------------------------- class indices
    Spec("ClassNLLCriterion", lambda r: fnn.ClassNLLCriterion(reduction=r),
         lambda T, r: T.nn.NLLLoss(reduction=r), classes(5)),
    Spec("ClassNLLCriterion-weights", lambda r: fnn.ClassNLLCriterion(W5, reduction=r),
         lambda T, r: T.nn.NLLLoss(tw(T, W5), reduction=r), classes(5)),
    Spec("ClassNLLCriterion-ignore", lambda r: fnn.ClassNLLCriterion(W5, ignore_index=2, reduction=r),
         lambda T, r: T.nn.NLLLoss(tw(T, W5), ignore_index=2, reduction=r), classes(5, ignore=2), forms=(True,)),
    Spec("NLLLoss-ignore", lambda r: fnn.NLLLoss(ignore_index=-100, reduction=r),
         lambda T, r: T.nn.NLLLoss(reduction=r), classes(5, ignore=-100), forms=(True,)),
    Spec("NLLLoss-4d", lambda r: fnn.NLLLoss(W4, reduction=r), lambda T, r: T.nn.NLLLoss(tw(T, W4), reduction=r),
         classes(4, 2, 3), forms=(True,)),
    Spec("SpatialClassNLLCriterion", lambda r: fnn.SpatialClassNLLCriterion(W4, ignore_index=1, reduction=r),
         lambda T, r: T.nn.NLLLoss(tw(T, W4), ignore_index=1, reduction=r), classes(4, 2, 3, ignore=1),
         forms=(True,)),
    Spec("CrossEntropyCriterion", lambda r: fnn.CrossEntropyCriterion(reduction=r),
         lambda T, r: T.nn.CrossEntropyLoss(reduction=r), classes(5, log=False)),
    Spec("CrossEntropyCriterion-weights", lambda r: fnn.CrossEntropyCriterion(W5, reduction=r),
         lambda T, r: T.nn.CrossEntropyLoss(tw(T, W5), reduction=r), classes(5, log=False)),
    Spec("CrossEntropyCriterion-smooth", lambda r: fnn.CrossEntropyCriterion(W5, ignore_index=3, label_smoothing=0.2,
                                                                            reduction=r),
         lambda T, r: T.nn.CrossEntropyLoss(tw(T, W5), ignore_index=3, label_smoothing=0.2, reduction=r),
         classes(5, ignore=3, log=False)),
    Spec("CrossEntropyLoss-smooth", lambda r: fnn.CrossEntropyLoss(label_smoothing=0.3, reduction=r),
         lambda T, r: T.nn.CrossEntropyLoss(label_smoothing=0.3, reduction=r), classes(5, ignore=-100, log=False),
         forms=(True,)),
    Spec("CrossEntropyLoss-probs", lambda r: fnn.CrossEntropyLoss(W5, label_smoothing=0.1, reduction=r),
         lambda T, r: T.nn.CrossEntropyLoss(tw(T, W5), label_smoothing=0.1, reduction=r), soft_classes(5)),
    Spec("CrossEntropyCriterion-probs", lambda r: fnn.CrossEntropyCriterion(reduction=r),
         lambda T, r: T.nn.CrossEntropyLoss(reduction=r), soft_classes(5)),
    Spec("CrossEntropyLoss-4d", lambda r: fnn.CrossEntropyLoss(W4, reduction=r),
         lambda T, r: T.nn.CrossEntropyLoss(tw(T, W4), reduction=r), classes(4, 3, 2, log=False), forms=(True,)),
    Spec("MultiMarginCriterion", lambda r: fnn.MultiMarginCriterion(reduction=r),
         lambda T, r: T.nn.MultiMarginLoss(reduction=r), classes(5, log=False)),
    Spec("MultiMarginCriterion-p2-weights", lambda r: fnn.MultiMarginCriterion(2, W5, 0.5, reduction=r),
         lambda T, r: T.nn.MultiMarginLoss(p=2, margin=0.5, weight=tw(T, W5), reduction=r), classes(5, log=False)),
    Spec("MultiMarginLoss", lambda r: fnn.MultiMarginLoss(1, 2.0, W5, reduction=r),
         lambda T, r: T.nn.MultiMarginLoss(1, 2.0, tw(T, W5), reduction=r), classes(5, log=False)),
    Spec("MultiLabelMarginCriterion", lambda r: fnn.MultiLabelMarginCriterion(reduction=r),
         lambda T, r: T.nn.MultiLabelMarginLoss(reduction=r), multilabel(5)),
    Spec("MultiLabelMarginLoss", lambda r: fnn.MultiLabelMarginLoss(reduction=r),
         lambda T, r: T.nn.MultiLabelMarginLoss(reduction=r), multilabel(4)),
    # ---------------------------------------------------------------- pairs
    Spec("MarginRankingCriterion", lambda r: fnn.MarginRankingCriterion(reduction=r),
         lambda T, r: T.nn.MarginRankingLoss(margin=1.0, reduction=r), pair(0, kind="rank"), forms=(True,)),
    Spec("MarginRankingLoss", lambda r: fnn.MarginRankingLoss(reduction=r),
         lambda T, r: T.nn.MarginRankingLoss(reduction=r), pair(0, kind="rank")),
    Spec("CosineEmbeddingCriterion", lambda r: fnn.CosineEmbeddingCriterion(reduction=r),
         lambda T, r: T.nn.CosineEmbeddingLoss(reduction=r), pair(4)),
    Spec("CosineEmbeddingLoss-margin", lambda r: fnn.CosineEmbeddingLoss(-0.3, reduction=r),
         lambda T, r: T.nn.CosineEmbeddingLoss(-0.3, reduction=r), pair(4)),
]


def _torch_reduce(v, r):
    return v if r == "none" else (v.sum() if r == "sum" else v.mean())


def _to_torch(torch, a, grad):
    if isinstance(a, tuple):
        return tuple(_to_torch(torch, e, grad) for e in a)
    if isinstance(a, (int, np.integer)) or np.issubdtype(np.asarray(a).dtype, np.integer):
        return torch.tensor(np.asarray(a), dtype=torch.int64)
    return torch.tensor(np.asarray(a, np.float64), requires_grad=grad)


def _to_jax(a):
    if isinstance(a, tuple):
        return tuple(_to_jax(e) for e in a)
    return a if isinstance(a, int) else jnp.asarray(a)


def torch_loss_and_grad(torch, spec, r, x, t):
    tx = _to_torch(torch, x, True)
    tt = _to_torch(torch, t, False)
    fn = spec.theirs(torch, r)
    out = fn(*tx, tt) if isinstance(tx, tuple) else fn(tx, tt)
    leaves = tx if isinstance(tx, tuple) else (tx,)
    grads = torch.autograd.grad(out.sum(), leaves)
    return out.detach().numpy(), [g.numpy() for g in grads]


def compare(ours, theirs, rtol, what):
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=rtol, atol=1e-12, err_msg=what)
    COMPARISONS[0] += 1


CASES = [(s, r, b) for s in SPECS for r in s.reductions for b in s.forms]


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")
@pytest.mark.parametrize("spec,reduction,batched", CASES,
                         ids=[f"{s.id}-{r}-{'batch' if b else 'single'}" for s, r, b in CASES])
def test_parity_value_and_input_gradient(torch, spec, reduction, batched):
    rng = np.random.default_rng(zlib.crc32(f"{spec.id}-{reduction}-{batched}".encode()))
    x, t = spec.data(rng, batched)
    crit = spec.ours(reduction)
    want, want_grads = torch_loss_and_grad(torch, spec, reduction, x, t)
    got = np.asarray(crit(_to_jax(x), _to_jax(t)))
    if reduction == "none" and spec.none_adapter is not None:
        got = spec.none_adapter(got, x)
    scale = 1 / np.shape(x)[-1] if reduction in spec.unscaled else 1.0
    got = got * scale
    assert got.shape == want.shape, f"{spec.id}: shape {got.shape} != torch {want.shape}"
    compare(got, want, spec.rtol, f"{spec.id} value")
    grads = crit.backward(_to_jax(x), _to_jax(t))
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(want_grads)
    for g, w in zip(grads, want_grads, strict=True):
        assert g.shape == w.shape
        compare(np.asarray(g) * scale, w, spec.rtol, f"{spec.id} input gradient")


def test_every_criterion_has_parity_or_hand_tests():
    covered = {s.id.split("-")[0] for s in SPECS} | {"L1HingeEmbeddingCriterion", "MultiCriterion",
                                                     "ParallelCriterion"}  # hand-checked and vs torch below
    covered |= TORCH7_EXTRA  # tests/criteria/test_torch7_extra.py: torch parity or the Lua code
    names = set(fnn.CRITERION_NAMES)  # torch7 and PyTorch names, by reflection
    assert not names - covered, f"criteria without parity tests: {sorted(names - covered)}"


@pytest.mark.torch
def test_combinators_match_torch_sums(torch):
    rng = np.random.default_rng(7)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    multi = fnn.MultiCriterion((fnn.MSECriterion(), 0.5), fnn.AbsCriterion()).add(fnn.SmoothL1Criterion(), 2.0)
    tx = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t)
    out = 0.5 * torch.nn.MSELoss()(tx, tt) + torch.nn.L1Loss()(tx, tt) + 2 * torch.nn.SmoothL1Loss()(tx, tt)
    (g,) = torch.autograd.grad(out, tx)
    compare(multi(jnp.asarray(x), jnp.asarray(t)), out.item(), 1e-12, "MultiCriterion value")
    compare(multi.backward(jnp.asarray(x), jnp.asarray(t)), g.numpy(), 1e-12, "MultiCriterion grad")

    logits, labels = rng.standard_normal((3, 5)), rng.integers(0, 5, 3)
    par = fnn.ParallelCriterion().add(fnn.MSECriterion(), 3.0).add(fnn.CrossEntropyCriterion())
    tl = torch.tensor(logits, requires_grad=True)
    out = 3 * torch.nn.MSELoss()(tx, tt) + torch.nn.CrossEntropyLoss()(tl, torch.tensor(labels))
    gx, gl = torch.autograd.grad(out, (tx, tl))
    inputs, targets = (jnp.asarray(x), jnp.asarray(logits)), (jnp.asarray(t), jnp.asarray(labels))
    compare(par(inputs, targets), out.item(), 1e-12, "ParallelCriterion value")
    ours = par.backward(inputs, targets)
    compare(ours[0], gx.numpy(), 1e-12, "ParallelCriterion grad[0]")
    compare(ours[1], gl.numpy(), 1e-12, "ParallelCriterion grad[1]")


def teardown_module():
    print(f"\n[criteria parity] {COMPARISONS[0]} PyTorch comparisons made")
