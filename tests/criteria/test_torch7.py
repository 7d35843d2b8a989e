"""torch7 semantics of the criteria, computed by hand (catalogue §7 and §10.1-7):
the sizeAverage divisors, the places where torch7 differs from PyTorch, and the
criterion object (printing, reductions, combinators)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

import fnn


def close(a, b, tol=1e-12):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# --------------------------------------------------------------------------- the object


def test_prints_like_torch7_and_unpacks_nothing():
    assert str(fnn.MSECriterion()) == "nn.MSECriterion"
    assert repr(fnn.ClassNLLCriterion()) == "nn.ClassNLLCriterion"
    assert str(fnn.CrossEntropyLoss()) == "nn.CrossEntropyLoss"
    assert fnn.MSECriterion().kind == "MSECriterion"


def test_size_average_is_the_mean_reduction():
    x, t = jnp.array([1.0, 2.0, 3.0]), jnp.zeros(3)
    assert fnn.MSECriterion().size_average and fnn.MSECriterion().reduction == "mean"
    close(fnn.MSECriterion()(x, t), 14 / 3)
    close(fnn.MSECriterion(False)(x, t), 14.0)
    close(fnn.MSECriterion(size_average=False, reduction="sum")(x, t), 14.0)
    close(fnn.MSECriterion(reduction="none")(x, t), [1.0, 4.0, 9.0])
    crit = fnn.MSECriterion().with_reduction("sum")  # torch7: crit.sizeAverage = false
    assert not crit.size_average
    close(crit(x, t), 14.0)
    close(fnn.MSECriterion().forward(x, t), 14 / 3)


def test_seed_mse_example_gradient_is_two_residuals_over_n():
    yhat, y = jnp.zeros(3), jnp.array([-1.18, 0.81, -1.85])
    close(fnn.MSECriterion().backward(yhat, y), 2 * (yhat - y) / 3)
    close(fnn.MSECriterion(False).backward(yhat, y), 2 * (yhat - y))


def test_mse_pairs_same_numel_in_storage_order():
    x = jnp.array([[1.0], [2.0], [4.0]])  # (B, 1)
    t = jnp.array([0.0, 1.0, 2.0])  # (B,)
    close(fnn.MSECriterion()(x, t), (1 + 1 + 4) / 3)
    assert fnn.MSECriterion().backward(x, t).shape == (3, 1)


def test_python_number_and_float32_targets_follow_the_input_dtype():
    x = jnp.array([1.0, 3.0])
    close(fnn.MSECriterion()(x, 1.0), 2.0)
    assert fnn.MSECriterion()(x, jnp.zeros(2, jnp.float32)).dtype == jnp.float64
    x32 = jnp.array([1.0, 3.0], jnp.float32)
    assert fnn.ClassNLLCriterion()(x32, 1).dtype == jnp.float32


# --------------------------------------------------------------------------- element-wise divisors


def test_abs_gradient_is_plus_one_over_n_at_a_tie():
    x, t = jnp.array([1.0, 0.0, -2.0]), jnp.array([1.0, 1.0, -3.0])
    close(fnn.AbsCriterion()(x, t), 2 / 3)
    close(fnn.AbsCriterion().backward(x, t), [1 / 3, -1 / 3, 1 / 3])
    close(fnn.L1Loss().backward(x, t), [0.0, -1 / 3, 1 / 3])  # PyTorch: sign(0) = 0


def test_smooth_l1_threshold_one_and_beta():
    x, t = jnp.array([0.5, -3.0, 1.0]), jnp.zeros(3)
    close(fnn.SmoothL1Criterion(False)(x, t), 0.125 + 2.5 + 0.5)
    close(fnn.SmoothL1Criterion().backward(x, t), [0.5 / 3, -1 / 3, 1 / 3])
    close(fnn.SmoothL1Criterion(False, beta=2.0)(x, t), 0.0625 + 2.0 + 0.25)
    close(fnn.HuberLoss(reduction="sum", delta=2.0)(x, t), 2.0 * (0.0625 + 2.0 + 0.25))


def test_bce_uses_eps_inside_the_logs_without_clamping():
    eps = 1e-12
    x, t = jnp.array([0.0, 0.25]), jnp.array([1.0, 0.0])
    want = -(math.log(0 + eps) + math.log(1 - 0.25 + eps)) / 2
    close(fnn.BCECriterion()(x, t), want)
    close(fnn.BCELoss()(x, t), (100 - math.log(0.75)) / 2)  # PyTorch clamps log at -100
    g = fnn.BCECriterion().backward(jnp.array([0.3, 0.6]), jnp.array([1.0, 0.0]))
    close(g, [(0.3 - 1) / ((1 - 0.3 + eps) * (0.3 + eps)) / 2, 0.6 / ((1 - 0.6 + eps) * (0.6 + eps)) / 2], 1e-10)


def test_bce_weights_repeat_over_the_batch():
    x = jnp.full((2, 2), 0.5)
    t = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    close(fnn.BCECriterion(jnp.array([1.0, 3.0]))(x, t), (1 + 3 + 1 + 3) * math.log(2) / 4, 1e-11)


def test_dist_kl_div_divides_by_numel_and_skips_zero_targets():
    x = jnp.log(jnp.array([[0.5, 0.5], [0.25, 0.75]]))
    t = jnp.array([[1.0, 0.0], [0.5, 0.5]])
    terms = 1 * (0 - math.log(0.5)) + 0.5 * (math.log(0.5) - math.log(0.25)) + 0.5 * (math.log(0.5) - math.log(0.75))
    close(fnn.DistKLDivCriterion()(x, t), terms / 4)  # numel, not the batch size 2
    close(fnn.KLDivLoss(reduction="batchmean")(x, t), terms / 2)
    close(fnn.DistKLDivCriterion().backward(x, t), -t / 4)


def test_soft_margin_and_margin():
    x, t = jnp.array([0.5, -2.0]), jnp.array([1, 1])
    close(fnn.SoftMarginCriterion()(x, t), (math.log1p(math.exp(-0.5)) + math.log1p(math.exp(2.0))) / 2)
    close(fnn.MarginCriterion()(x, t), (0.5 + 3.0) / 2)
    close(fnn.MarginCriterion(2.0, False)(x, -t), 2.5)  # max(0, 2 + 0.5) + max(0, 2 - 2)


# --------------------------------------------------------------------------- ClassNLL / CrossEntropy


def test_class_nll_batch_divides_by_total_target_weight():
    logp = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [0.2, 0.3, 0.5]]))
    t = jnp.array([0, 2, 1])
    w = jnp.array([1.0, 2.0, 4.0])
    want = -(1 * math.log(0.5) + 4 * math.log(0.8) + 2 * math.log(0.3)) / 7
    close(fnn.ClassNLLCriterion(w)(logp, t), want)
    close(fnn.ClassNLLCriterion(w, False)(logp, t), want * 7)
    g = np.zeros((3, 3))
    g[0, 0], g[1, 2], g[2, 1] = -1 / 7, -4 / 7, -2 / 7
    close(fnn.ClassNLLCriterion(w).backward(logp, t), g)


def test_class_nll_non_batch_with_weights_the_weight_cancels():
    logp = jnp.log(jnp.array([0.2, 0.3, 0.5]))
    w = jnp.array([1.0, 2.0, 4.0])
    close(fnn.ClassNLLCriterion(w)(logp, 2), -math.log(0.5))  # -w x / w
    close(fnn.ClassNLLCriterion(w).backward(logp, 2), [0.0, 0.0, -1.0])
    close(fnn.ClassNLLCriterion(w, size_average=False)(logp, 2), -4 * math.log(0.5))
    close(fnn.ClassNLLCriterion(w, size_average=False).backward(logp, 2), [0.0, 0.0, -4.0])
    close(fnn.ClassNLLCriterion()(logp, jnp.array([1])), -math.log(0.3))  # a 1-element target


def test_class_nll_ignore_index_and_all_ignored_gives_zero():
    logp = jnp.log(jnp.array([[0.5, 0.5], [0.1, 0.9]]))
    crit = fnn.ClassNLLCriterion(ignore_index=1)
    close(crit(logp, jnp.array([0, 1])), -math.log(0.5))
    close(crit.backward(logp, jnp.array([0, 1])), [[-1.0, 0.0], [0.0, 0.0]])
    close(crit(logp, jnp.array([1, 1])), 0.0)  # torch7: total weight 0 -> output 0
    close(crit.backward(logp, jnp.array([1, 1])), np.zeros((2, 2)))
    close(fnn.ClassNLLCriterion()(logp, jnp.array([-100, -100])), 0.0)
    close(crit.with_reduction("none")(logp, jnp.array([0, 1])), [-math.log(0.5), 0.0])
    assert np.isnan(fnn.NLLLoss(ignore_index=1)(logp, jnp.array([1, 1])))  # PyTorch: 0/0


def test_spatial_class_nll_per_pixel_and_single_image():
    logp = jnp.log(jnp.array([[[[0.5, 0.2]], [[0.5, 0.8]]]]))  # (1, 2, 1, 2)
    t = jnp.array([[[0, 1]]])
    w = jnp.array([1.0, 3.0])
    want = -(math.log(0.5) + 3 * math.log(0.8)) / 4
    close(fnn.SpatialClassNLLCriterion(w)(logp, t), want)
    close(fnn.SpatialClassNLLCriterion(w)(logp[0], t[0]), want)


def test_cross_entropy_is_log_softmax_plus_nll():
    x, t = jnp.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), jnp.array([1, 0])
    logp = x - jnp.log(jnp.sum(jnp.exp(x), axis=1, keepdims=True))
    close(fnn.CrossEntropyCriterion()(x, t), fnn.ClassNLLCriterion()(logp, t))


def test_cross_entropy_squeezes_a_batch_of_one():
    x = jnp.array([[1.0, 2.0, 0.5]])
    logp1 = float(jnp.log(jnp.exp(2.0) / jnp.sum(jnp.exp(x))))
    crit = fnn.CrossEntropyCriterion(jnp.array([1.0, 5.0, 1.0]), reduction="none")
    out = crit(x, jnp.array([1]))
    assert out.shape == ()  # one sample, as torch7's input:squeeze()
    close(out, -5 * logp1)
    assert fnn.CrossEntropyLoss(reduction="none")(x, jnp.array([1])).shape == (1,)
    close(fnn.CrossEntropyCriterion(jnp.array([1.0, 5.0, 1.0]))(x, 1), -logp1)  # the weight cancels
    assert fnn.CrossEntropyCriterion().backward(x, 1).shape == (1, 3)
    close(fnn.CrossEntropyCriterion()(jnp.zeros((2, 3)), jnp.array([[0], [2]])), math.log(3))  # (B, 1) target


def test_cross_entropy_label_smoothing_by_hand():
    x, eps = jnp.array([2.0, 0.0]), 0.1
    logp = np.log(np.exp([2.0, 0.0]) / np.exp([2.0, 0.0]).sum())
    want = (1 - eps) * -logp[0] + eps / 2 * -(logp[0] + logp[1])
    close(fnn.CrossEntropyCriterion(label_smoothing=eps)(x, 0), want)
    close(fnn.CrossEntropyCriterion()(x, jnp.array([1 - eps / 2, eps / 2])), want)  # soft target


# --------------------------------------------------------------------------- margins


def test_multi_margin_divides_by_classes_and_weights_after_the_power():
    x = jnp.array([[0.1, 0.2, 0.4, 0.8], [0.5, 0.1, 0.3, 0.2]])
    t = jnp.array([3, 0])
    w = jnp.array([2.0, 1.0, 1.0, 3.0])
    s0 = (1 - 0.8 + 0.1) ** 2 + (1 - 0.8 + 0.2) ** 2 + (1 - 0.8 + 0.4) ** 2
    s1 = (1 - 0.5 + 0.1) ** 2 + (1 - 0.5 + 0.3) ** 2 + (1 - 0.5 + 0.2) ** 2
    crit = fnn.MultiMarginCriterion(2, w)
    close(crit(x, t), (3 * s0 / 4 + 2 * s1 / 4) / 2)
    close(fnn.MultiMarginCriterion(2, w, size_average=False)(x, t), 3 * s0 / 4 + 2 * s1 / 4)
    close(fnn.MultiMarginCriterion(2, w)(x[0], 3), 3 * s0 / 4)  # ÷ C even for one sample
    close(fnn.MultiMarginCriterion(margin=0.0)(x[:1], jnp.array([3])), 0.0)


def test_multi_label_margin_targets_end_at_minus_one():
    x = jnp.array([0.1, 0.2, 0.4, 0.8])
    t = jnp.array([3, 0, -1, 1])  # classes {3, 0}; the 1 after -1 is ignored
    hinge = lambda a, b: max(0.0, 1 - (a - b))
    want = sum(hinge(float(x[j]), float(x[i])) for j in (3, 0) for i in (1, 2)) / 4
    close(fnn.MultiLabelMarginCriterion()(x, t), want)
    close(fnn.MultiLabelMarginCriterion()(jnp.stack([x, x]), jnp.stack([t, t])), want)
    close(fnn.MultiLabelMarginCriterion(False)(jnp.stack([x, x]), jnp.stack([t, t])), 2 * want)
    close(fnn.MultiLabelMarginCriterion()(x, jnp.array([-1, 5, 7, 9])), 0.0)  # no targets at all


def test_multi_label_soft_margin_is_sigmoid_plus_bce():
    x, t = jnp.array([[0.3, -1.2, 2.0]]), jnp.array([[1, 0, 1]])
    close(fnn.MultiLabelSoftMarginCriterion()(x, t), fnn.BCECriterion()(1 / (1 + jnp.exp(-x)), t.astype(x.dtype)))


def test_margin_ranking_divides_by_batch_and_passes_gradient_at_zero():
    x1, x2, y = jnp.array([1.0, 0.2, 0.0]), jnp.array([0.5, 0.5, 1.0]), jnp.array([1, 1, 1])
    close(fnn.MarginRankingCriterion()((x1, x2), y), (0.5 + 1.3 + 2.0) / 3)
    g1, g2 = fnn.MarginRankingCriterion(0.5)((jnp.array([1.0]), jnp.array([0.5])), 1), None  # hinge exactly 0
    close(g1, 0.0)
    g1, g2 = fnn.MarginRankingCriterion(0.5).backward((jnp.array([1.0]), jnp.array([0.5])), 1)
    close(g1, [-1.0])
    close(g2, [1.0])
    close(fnn.MarginRankingLoss()((x1, x2), -1), (0.5 + 0 + 0) / 3)  # PyTorch's default margin 0


def test_hinge_embedding_numel_and_gradient_at_the_margin():
    x, y = jnp.array([0.3, 0.2, 1.0]), jnp.array([1, -1, -1])
    close(fnn.HingeEmbeddingCriterion()(x, y), (0.3 + 0.8 + 0.0) / 3)
    close(fnn.HingeEmbeddingCriterion().backward(x, y), [1 / 3, -1 / 3, -1 / 3])  # x == margin still -1
    close(fnn.HingeEmbeddingCriterion(0.5, False)(x, -1), 0.2 + 0.3)  # one number as target


def test_cosine_embedding_divides_by_batch_and_survives_zero_vectors():
    x1, x2 = jnp.array([[1.0, 0.0], [1.0, 0.0]]), jnp.array([[0.0, 1.0], [1.0, 1.0]])
    cos = 1 / math.sqrt(2)
    close(fnn.CosineEmbeddingCriterion()((x1, x2), jnp.array([1, -1])), (1 + cos) / 2, 1e-10)
    close(fnn.CosineEmbeddingCriterion(0.5, False)((x1, x2), -1), cos - 0.5, 1e-10)
    zero = (jnp.zeros(2), jnp.array([1.0, 2.0]))
    close(fnn.CosineEmbeddingCriterion()(zero, 1), 1.0)  # 1e-12 in the norms: no NaN
    assert np.all(np.isfinite(np.asarray(fnn.CosineEmbeddingCriterion().backward(zero, 1)[1])))


def test_l1_hinge_embedding_never_averages_by_default():
    x1, x2 = jnp.array([[1.0, 2.0], [0.0, 0.0]]), jnp.array([[1.5, 2.0], [0.25, -0.5]])
    y = jnp.array([-1, 1])
    crit = fnn.L1HingeEmbeddingCriterion()
    close(crit((x1, x2), y), 0.5 + 0.75)
    close(crit((x1[0], x2[0]), 1), 0.5)
    close(crit.with_reduction("mean")((x1, x2), y), (0.5 + 0.75) / 2)
    g1, g2 = crit.backward((x1, x2), y)
    close(g1, [[1.0, 0.0], [-1.0, 1.0]])  # -sign for the hinge, sign for the distance; 0 at a tie
    close(g2, -g1)
    close(fnn.L1HingeEmbeddingCriterion(0.25)((x1[0], x2[0]), -1), 0.0)


# --------------------------------------------------------------------------- combinators


def test_multi_criterion_weighted_sum_and_add_returns_a_new_one():
    x, t = jnp.array([1.0, 3.0]), jnp.array([0.0, 0.0])
    base = fnn.MultiCriterion(fnn.MSECriterion())
    more = base.add(fnn.AbsCriterion(), 0.5)
    close(base(x, t), 5.0)
    close(more(x, t), 5.0 + 0.5 * 2.0)
    close(more.backward(x, t), [1.0 + 0.25, 3.0 + 0.25])
    close(fnn.MultiCriterion()(x, t), 0.0)
    close(fnn.MultiCriterion((fnn.MSECriterion(), 2), fnn.AbsCriterion(False))(x, t), 10.0 + 4.0)
    assert str(more) == "nn.MultiCriterion {\n  (1): 1 * nn.MSECriterion\n  (2): 0.5 * nn.AbsCriterion\n}"


def test_parallel_criterion_table_targets_and_repeat_target():
    a, b = jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0])
    par = fnn.ParallelCriterion().add(fnn.MSECriterion()).add(fnn.AbsCriterion(), 2.0)
    close(par((a, b), (jnp.zeros(2), jnp.zeros(2))), 2.5 + 2 * 3.5)
    close(par((a, b), [jnp.zeros(2), jnp.ones(2)]), 2.5 + 2 * 2.5)
    rep = fnn.ParallelCriterion(True).add(fnn.MSECriterion()).add(fnn.AbsCriterion())
    assert rep.config["repeat_target"]
    close(rep((a, b), jnp.ones(2)), 0.5 + 2.5)
    ga, gb = par.backward((a, b), (jnp.zeros(2), jnp.zeros(2)))
    close(ga, a)
    close(gb, [1.0, 1.0])
    nested = fnn.ParallelCriterion(fnn.MultiCriterion(fnn.MSECriterion()), (par, 0.5))
    close(nested((a, (a, b)), (jnp.zeros(2), (jnp.zeros(2), jnp.zeros(2)))), 2.5 + 0.5 * (2.5 + 7.0))
    assert str(nested).startswith("nn.ParallelCriterion {\n  (1): 1 * nn.MultiCriterion {\n    (1): 1 * nn.MSE")


@pytest.mark.parametrize("name", sorted(fnn.CRITERION_NAMES))
def test_every_criterion_is_exported_with_a_docstring(name):
    fn = getattr(fnn, name)
    assert fn.__doc__ and ">>>" in fn.__doc__, f"{name} needs a docstring with an example"
