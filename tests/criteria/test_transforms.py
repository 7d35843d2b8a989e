"""Criteria under JAX transforms: float64 finite-difference gradients
(``fnn.testing.jacobian_error``), ``jit`` = eager, ``vmap`` over samples = the batched call,
and a hypothesis sweep of ClassNLL / CrossEntropy against PyTorch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fnn
from fnn.testing import jacobian_error

R = np.random.default_rng(0)


def _n(*s):
    return jnp.asarray(R.standard_normal(s))


def _u(*s, lo=0.05, hi=0.95):
    return jnp.asarray(R.uniform(lo, hi, s))


def _pm(*s):
    return jnp.asarray(R.choice([-1, 1], s))


def _cls(c, *s):
    return jnp.asarray(R.integers(0, c, s))


def _logp(*s, axis=1):
    x = _n(*s)
    return x - jax.scipy.special.logsumexp(x, axis=axis, keepdims=True)


W3 = jnp.array([0.5, 2.0, 1.5])
# (id, reduction -> criterion, batched input, batched target); the leading dim is the batch
CASES = [
    ("MSECriterion", lambda r: fnn.MSECriterion(reduction=r), _n(2, 3), _n(2, 3)),
    ("AbsCriterion", lambda r: fnn.AbsCriterion(reduction=r), _n(2, 3), _n(2, 3)),
    ("L1Loss", lambda r: fnn.L1Loss(reduction=r), _n(2, 3), _n(2, 3)),
    ("SmoothL1Criterion", lambda r: fnn.SmoothL1Criterion(reduction=r, beta=0.5), _n(2, 3), _n(2, 3)),
    ("SmoothL1Loss", lambda r: fnn.SmoothL1Loss(reduction=r), _n(2, 3), _n(2, 3)),
    ("HuberLoss", lambda r: fnn.HuberLoss(reduction=r, delta=0.5), _n(2, 3), _n(2, 3)),
    ("BCECriterion", lambda r: fnn.BCECriterion(W3, reduction=r), _u(2, 3), _u(2, 3, lo=0, hi=1)),
    ("BCELoss", lambda r: fnn.BCELoss(W3, reduction=r), _u(2, 3), _u(2, 3, lo=0, hi=1)),
    ("BCEWithLogitsLoss", lambda r: fnn.BCEWithLogitsLoss(W3, reduction=r, pos_weight=W3), _n(2, 3),
     _u(2, 3, lo=0, hi=1)),
    ("DistKLDivCriterion", lambda r: fnn.DistKLDivCriterion(reduction=r), _logp(2, 3), _u(2, 3, lo=0, hi=1)),
    ("KLDivLoss", lambda r: fnn.KLDivLoss(reduction=r, log_target=True), _logp(2, 3), _logp(2, 3)),
    ("SoftMarginCriterion", lambda r: fnn.SoftMarginCriterion(reduction=r), _n(2, 3), _pm(2, 3)),
    ("MarginCriterion", lambda r: fnn.MarginCriterion(0.7, reduction=r), _n(2, 3), _pm(2, 3)),
    ("HingeEmbeddingCriterion", lambda r: fnn.HingeEmbeddingCriterion(reduction=r), _n(2, 3), _pm(2, 3)),
    ("ClassNLLCriterion", lambda r: fnn.ClassNLLCriterion(W3, ignore_index=1, reduction=r), _logp(3, 3),
     jnp.array([0, 1, 2])),
    ("NLLLoss", lambda r: fnn.NLLLoss(W3, reduction=r), _logp(2, 3, 2), _cls(3, 2, 2)),
    ("SpatialClassNLLCriterion", lambda r: fnn.SpatialClassNLLCriterion(W3, reduction=r), _logp(2, 3, 2, 2),
     _cls(3, 2, 2, 2)),
    ("CrossEntropyCriterion", lambda r: fnn.CrossEntropyCriterion(W3, label_smoothing=0.1, reduction=r), _n(3, 3),
     _cls(3, 3)),
    ("CrossEntropyLoss", lambda r: fnn.CrossEntropyLoss(W3, reduction=r), _n(2, 3, 2), _cls(3, 2, 2)),
    ("CrossEntropyLoss-probs", lambda r: fnn.CrossEntropyLoss(label_smoothing=0.2, reduction=r), _n(2, 3),
     _u(2, 3, lo=0, hi=1)),
    ("MultiMarginCriterion", lambda r: fnn.MultiMarginCriterion(2, W3, 0.8, reduction=r), _n(3, 3), _cls(3, 3)),
    ("MultiLabelMarginCriterion", lambda r: fnn.MultiLabelMarginCriterion(reduction=r), _n(2, 4),
     jnp.array([[3, 0, -1, 2], [1, -1, 0, 0]])),
    ("MultiLabelSoftMarginCriterion", lambda r: fnn.MultiLabelSoftMarginCriterion(W3, reduction=r), _n(2, 3),
     _cls(2, 2, 3)),
    ("MultiLabelSoftMarginLoss", lambda r: fnn.MultiLabelSoftMarginLoss(W3, reduction=r), _n(2, 3), _cls(2, 2, 3)),
    ("MarginRankingCriterion", lambda r: fnn.MarginRankingCriterion(reduction=r), (_n(3), _n(3)), _pm(3)),
    ("CosineEmbeddingCriterion", lambda r: fnn.CosineEmbeddingCriterion(0.2, reduction=r), (_n(3, 4), _n(3, 4)),
     _pm(3)),
    ("L1HingeEmbeddingCriterion", lambda r: fnn.L1HingeEmbeddingCriterion(2.0, reduction=r), (_n(3, 2), _n(3, 2)),
     _pm(3)),
    ("MultiCriterion", lambda r: fnn.MultiCriterion(fnn.MSECriterion(reduction=r), (fnn.AbsCriterion(reduction=r),
                                                                                   0.5)), _n(2, 3), _n(2, 3)),
    ("ParallelCriterion", lambda r: fnn.ParallelCriterion(fnn.MSECriterion(reduction=r),
                                                          (fnn.ClassNLLCriterion(reduction=r), 2.0)),
     (_n(2, 3), _logp(2, 3)), (_n(2, 3), _cls(3, 2))),
]
IDS = [c[0] for c in CASES]


def _close(a, b, tol=1e-10):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=tol, atol=tol)


def _grad_fn(crit, x, t):
    """``list of float arrays -> loss`` for jacobian_error."""
    if isinstance(x, tuple):
        return lambda args: crit(tuple(args), t)
    return lambda args: crit(args[0], t)


KDIM = ("NLLLoss", "CrossEntropyLoss")  # PyTorch's K-dim layouts need the batch dim: no per-sample call


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_finite_difference_gradients(case):
    name, make, x, t = case
    crit = make("mean")
    args = list(x) if isinstance(x, tuple) else [x]
    assert jacobian_error(jax.jit(_grad_fn(crit, x, t)), args) < 1e-6


def _every_reduction(make):
    """Each reduction's loss and the mean's and sum's input gradients, as one function (one jit compile)."""
    reductions = ("mean", "sum") if make("sum").children else ("mean", "sum", "none")

    def fn(x, t):
        return [make(r)(x, t) for r in reductions], make("mean").backward(x, t), make("sum").backward(x, t)

    return fn


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jit_and_vmap_equal_the_eager_batched_call(case):
    name, make, x, t = case
    fn = _every_reduction(make)
    eager = fn(x, t)
    _close(jax.jit(fn)(x, t), eager)
    if name in KDIM:
        return
    total, none = make("sum"), make("none")
    combinator = bool(total.children)

    @jax.jit
    def per_sample(x, t):
        return (jax.vmap(total)(x, t), jax.vmap(total.backward)(x, t), None if combinator else jax.vmap(none)(x, t))

    losses, grads, nones = per_sample(x, t)
    assert losses.shape == (jax.tree.leaves(x)[0].shape[0],)
    _close(jnp.sum(losses), eager[0][1])
    _close(grads, eager[2])
    if not combinator:
        _close(nones, eager[0][2])


def test_grad_through_a_model_and_a_criterion():
    init, apply = fnn.Sequential(fnn.Linear(3, 4), fnn.LogSoftMax())
    _, params = init(jax.random.key(0), (-1, 3), jnp.float64)
    x, t = _n(5, 3), _cls(4, 5)
    crit = fnn.ClassNLLCriterion()
    loss, grads = jax.value_and_grad(lambda p: crit(apply(p, x), t))(params)
    y = apply(params, x)
    _, want = fnn.backward(fnn.Sequential(fnn.Linear(3, 4), fnn.LogSoftMax()), params, x, crit.backward(y, t))
    _close(grads, want)
    assert loss.shape == ()


# --------------------------------------------------------------------------- hypothesis vs PyTorch


@st.composite
def class_problems(draw):
    b, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, c)) * draw(st.sampled_from([0.1, 1.0, 10.0]))
    t = rng.integers(0, c, b)
    ignore = draw(st.sampled_from([-100, 0, c - 1]))
    if draw(st.booleans()):
        t[rng.random(b) < 0.3] = ignore
    w = rng.uniform(0.1, 3.0, c) if draw(st.booleans()) else None
    return x, t, w, ignore, draw(st.sampled_from(["mean", "sum", "none"])), draw(st.sampled_from([0.0, 0.25]))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=class_problems())
def test_class_nll_and_cross_entropy_match_torch_for_random_sizes(torch, problem):
    x, t, w, ignore, r, eps = problem
    tw = None if w is None else torch.tensor(w)
    tx = torch.tensor(x, requires_grad=True)
    all_ignored = bool(np.all(t == ignore))
    cases = [
        (fnn.NLLLoss(w, ignore_index=ignore, reduction=r), torch.nn.NLLLoss(tw, ignore_index=ignore, reduction=r),
         torch.log_softmax(tx, 1), False),
        (fnn.ClassNLLCriterion(w, ignore_index=ignore, reduction=r),
         torch.nn.NLLLoss(tw, ignore_index=ignore, reduction=r), torch.log_softmax(tx, 1), True),
        (fnn.CrossEntropyLoss(w, ignore_index=ignore, reduction=r, label_smoothing=eps),
         torch.nn.CrossEntropyLoss(tw, ignore_index=ignore, reduction=r, label_smoothing=eps), tx, False),
        (fnn.CrossEntropyCriterion(w, ignore_index=ignore, reduction=r, label_smoothing=eps),
         torch.nn.CrossEntropyLoss(tw, ignore_index=ignore, reduction=r, label_smoothing=eps), tx, True),
    ]
    for ours, theirs, tin, torch7 in cases:
        xin = jnp.asarray(tin.detach().numpy())
        want = theirs(tin.detach(), torch.tensor(t)).numpy()
        got = np.asarray(ours(xin, jnp.asarray(t)))
        if torch7 and r == "mean" and all_ignored:
            want = np.zeros(())  # torch7: total weight 0 -> 0 (PyTorch: NaN)
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-10, atol=1e-12, err_msg=ours.name)
        tg = tx.detach().clone().requires_grad_(True)
        tin2 = torch.log_softmax(tg, 1) if tin is not tx else tg
        out = theirs(tin2, torch.tensor(t))
        if r == "mean" and all_ignored:
            continue  # no gradient to compare (torch: 0/0 -> NaN gradients)
        (gx,) = torch.autograd.grad(out.sum(), tg)
        fx = jnp.asarray(x)
        if "NLL" in ours.name:
            g = jax.vjp(lambda v: ours(jax.nn.log_softmax(v, axis=1), jnp.asarray(t)), fx)
        else:
            g = jax.vjp(lambda v: ours(v, jnp.asarray(t)), fx)
        (gf,) = g[1](jnp.ones_like(g[0]))
        np.testing.assert_allclose(np.asarray(gf), gx.numpy(), rtol=1e-9, atol=1e-12, err_msg=ours.name)


@pytest.mark.parametrize("name", ["BCECriterion", "ClassNLLCriterion", "CrossEntropyCriterion", "MultiMarginCriterion",
                                  "CosineEmbeddingCriterion", "BCEWithLogitsLoss"])
def test_float32_inputs_stay_float32_under_strict_promotion(name):
    """Weights and constants follow the input's dtype (float64 weights, float32 input: no promotion error)."""
    _, make, x, t = CASES[IDS.index(name)]
    f32 = lambda a: a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a
    x32, t32 = jax.tree.map(f32, x), jax.tree.map(f32, t)
    crit = make("mean")
    loss, grad = jax.jit(lambda x, t: (crit(x, t), crit.backward(x, t)))(x32, t32)
    assert loss.dtype == jnp.float32
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grad))
    np.testing.assert_allclose(loss, crit(x, t), rtol=1e-5)
