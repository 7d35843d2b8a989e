"""Specification of the math layers: Sum, Mean, Max, Min, the element-wise Abs, Exp, Log,
Sqrt, Square, Power, Clamp, and Normalize (torch7 semantics, 0-based dims)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fnn
from fnn.errors import ConfigError, ShapeError
from tests.layers.test_simple import rand, torch_parity


def grad_of(module, x):
    return jax.grad(lambda x: module.apply((), x).sum())(x)


# --------------------------------------------------------------------------- Sum / Mean


def test_sum_of_1d_is_a_one_element_tensor():
    x = jnp.arange(1.0, 6.0)
    y = fnn.Sum().apply((), x)  # seed 000: nn.Sum(1) of 1..5
    assert y.shape == (1,) and y.tolist() == [15.0]
    assert fnn.Sum(squeeze=False).apply((), x).shape == (1,)
    assert fnn.Mean().apply((), x).tolist() == [3.0]
    assert fnn.Max().apply((), x).tolist() == [5.0] and fnn.Min().apply((), x).tolist() == [1.0]


def test_sum_dims_and_batch_rule():
    x = jnp.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_allclose(fnn.Sum(0).apply((), x), x.sum(0))
    np.testing.assert_allclose(fnn.Sum(-1).apply((), x), x.sum(2))
    np.testing.assert_allclose(fnn.Sum(0, n_input_dims=2).apply((), x), x.sum(1))  # rank == n + 1: shifted
    np.testing.assert_allclose(fnn.Sum(0, n_input_dims=1).apply((), x), x.sum(0))  # rank != n + 1: as given
    np.testing.assert_allclose(fnn.Sum(-1, n_input_dims=2).apply((), x), x.sum(2))  # negative: never shifted
    np.testing.assert_allclose(fnn.Sum(1, size_average=True).apply((), x), x.mean(1))
    assert fnn.Sum(1, squeeze=False).apply((), x).shape == (2, 1, 4)
    np.testing.assert_allclose(fnn.Mean(0, n_input_dims=1).apply((), x[0]), x[0].mean(1))
    with pytest.raises(ShapeError, match="nn.Sum dim 3 is out of range for input"):
        fnn.Sum(3).apply((), x)
    with pytest.raises(ShapeError, match="nn.Mean expects at least a 1-D input"):
        fnn.Mean().apply((), jnp.array(1.0))
    with pytest.raises(ConfigError):
        fnn.Sum(size_average=1)


def test_sum_gradient_is_broadcast():
    x = jnp.ones((2, 3))
    g_in, _ = fnn.backward(fnn.Sum(1), (), x, jnp.array([2.0, 5.0]))
    np.testing.assert_allclose(g_in, [[2.0] * 3, [5.0] * 3])
    g_in, _ = fnn.backward(fnn.Mean(1), (), x, jnp.array([3.0, 6.0]))
    np.testing.assert_allclose(g_in, [[1.0] * 3, [2.0] * 3])


@settings(max_examples=15, deadline=None)
@given(dims=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_reductions_match_numpy(dims, data):
    """Sum, Mean, Max and Min over any dim of any shape equal numpy (with the 1-D quirk)."""
    dim = data.draw(st.integers(-len(dims), len(dims) - 1))
    x = np.random.default_rng(len(dims) * 10 + dim).normal(size=dims)
    for module, ref in ((fnn.Sum(dim), np.sum), (fnn.Mean(dim), np.mean), (fnn.Max(dim), np.max),
                        (fnn.Min(dim), np.min)):
        want = ref(x, axis=dim)
        if len(dims) == 1:
            want = want.reshape(1)
        np.testing.assert_allclose(np.asarray(module.apply((), jnp.asarray(x))), want, rtol=1e-12)


# --------------------------------------------------------------------------- Max / Min


def test_max_gradient_goes_to_one_argmax():
    x = jnp.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    np.testing.assert_allclose(fnn.Max(1).apply((), x), [3.0, 2.0])
    np.testing.assert_allclose(grad_of(fnn.Max(1), x), [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # first of the ties
    np.testing.assert_allclose(grad_of(fnn.Min(1), x), [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(fnn.Max(0, n_input_dims=1).apply((), x), [3.0, 2.0])
    np.testing.assert_allclose(grad_of(fnn.Max(), jnp.array([2.0, 7.0, 7.0])), [0.0, 1.0, 0.0])


# --------------------------------------------------------------------------- element-wise


def test_abs_gradient_at_zero_is_plus_one():
    x = jnp.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(fnn.Abs().apply((), x), [2.0, 0.0, 3.0])
    np.testing.assert_allclose(grad_of(fnn.Abs(), x), [-1.0, 1.0, 1.0])  # torch7, not PyTorch's 0


def test_sqrt_gradient_is_zero_where_output_is_zero():
    x = jnp.array([0.0, 4.0, 9.0])
    np.testing.assert_allclose(fnn.Sqrt().apply((), x), [0.0, 2.0, 3.0])
    np.testing.assert_allclose(grad_of(fnn.Sqrt(), x), [0.0, 0.25, 1 / 6])
    assert fnn.Sqrt(1e-3).apply((), jnp.array([0.0])).tolist() == [0.0]  # eps is stored, unused (torch7)


def test_clamp_gradient_is_zero_at_the_bounds():
    x = jnp.array([-3.0, -1.0, -0.5, 0.0, 2.0, 2.5])
    np.testing.assert_allclose(fnn.Clamp(-1, 2).apply((), x), [-1.0, -1.0, -0.5, 0.0, 2.0, 2.0])
    np.testing.assert_allclose(grad_of(fnn.Clamp(-1, 2), x), [0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    with pytest.raises(ConfigError, match="min_value 3 is greater than max_value 2"):
        fnn.Clamp(3, 2)


def test_power_square_exp_log():
    x = jnp.array([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(fnn.Power(3).apply((), x), x**3)
    np.testing.assert_allclose(grad_of(fnn.Power(3), x), 3 * x**2)
    np.testing.assert_allclose(fnn.Power(2.0).apply((), x), [4.0, 0.25, 9.0])  # integral float p: negatives fine
    assert math.isnan(float(fnn.Power(0.5).apply((), x)[0]))
    np.testing.assert_allclose(fnn.Square().apply((), x), x * x)
    np.testing.assert_allclose(grad_of(fnn.Square(), x), 2 * x)
    np.testing.assert_allclose(fnn.Exp().apply((), x), jnp.exp(x))
    np.testing.assert_allclose(fnn.Log().apply((), jnp.array([1.0, math.e])), [0.0, 1.0])
    with pytest.raises(ConfigError):
        fnn.Power(float("inf"))


# --------------------------------------------------------------------------- Normalize


def test_normalize_eps_inside_the_root():
    x = jnp.array([[3.0, 4.0], [0.0, 0.0]], jnp.float64)
    y = fnn.Normalize(2).apply((), x)
    np.testing.assert_allclose(y[0], [0.6, 0.8], rtol=1e-9)
    np.testing.assert_allclose(y[1], [0.0, 0.0])  # no NaN: (0 + eps)^(1/2) > 0
    np.testing.assert_allclose(fnn.Normalize(1, eps=1.0).apply((), jnp.array([1.0, 2.0])), [0.25, 0.5])
    np.testing.assert_allclose(fnn.Normalize(2, eps=11.0).apply((), jnp.array([3.0, 4.0])), [0.5, 2 / 3])
    np.testing.assert_allclose(fnn.Normalize(math.inf).apply((), jnp.array([1.0, -4.0])), [0.25, -1.0])
    g = grad_of(fnn.Normalize(math.inf), jnp.array([4.0, -4.0, 2.0]))  # the max's gradient: one element
    np.testing.assert_allclose(g, [(4 - 2) / 16, 0.25, 0.25], rtol=1e-8)  # d/dx0 (Σx/|x0|) = (|x0| - Σx)/x0²
    assert str(fnn.Normalize(math.inf)) == "nn.Normalize(inf)"


def test_normalize_rejects_rank_above_two():
    with pytest.raises(ShapeError, match="nn.Normalize\\(2\\) expects a 1-D or 2-D input, got 3-D"):
        fnn.Normalize(2).apply((), jnp.ones((2, 2, 2)))
    for p in (0, -1, "2"):
        with pytest.raises(ConfigError):
            fnn.Normalize(p)


# --------------------------------------------------------------------------- PyTorch parity


@pytest.mark.torch
@pytest.mark.parametrize("p", [1, 2, 3, 1.5, math.inf])
def test_normalize_matches_the_torch7_formula_in_pytorch(torch, p):
    x = rand((3, 5))

    def fn(_, t):
        if math.isinf(p):
            return t / (t.abs().max(dim=-1, keepdim=True).values + 1e-10)
        return t / (t.abs().pow(p).sum(-1, keepdim=True) + 1e-10).pow(1.0 / p)

    assert torch_parity(torch, fnn.Normalize(p), (), x, fn) == 2
    assert torch_parity(torch, fnn.Normalize(p), (), x[0], fn) == 2  # one vector


@pytest.mark.torch
def test_math_layers_match_pytorch(torch):
    x = rand((3, 4))  # away from 0 and from the clamp bounds, where torch7 and PyTorch differ
    pos = jnp.abs(x) + 0.5
    cases = [
        (fnn.Sum(1), x, lambda t: t.sum(1)),
        (fnn.Sum(0, size_average=True), x, lambda t: t.sum(0) / 3),
        (fnn.Mean(-1), x, lambda t: t.mean(-1)),
        (fnn.Max(1), x, lambda t: t.max(1).values),
        (fnn.Min(0), x, lambda t: t.min(0).values),
        (fnn.Abs(), x, torch.abs),
        (fnn.Exp(), x, torch.exp),
        (fnn.Log(), pos, torch.log),
        (fnn.Sqrt(), pos, torch.sqrt),
        (fnn.Square(), x, torch.square),
        (fnn.Power(3), x, lambda t: torch.pow(t, 3)),
        (fnn.Power(1.7), pos, lambda t: torch.pow(t, 1.7)),
        (fnn.Clamp(-0.61, 0.77), x, lambda t: torch.clamp(t, -0.61, 0.77)),
    ]
    assert not jnp.any(jnp.isin(jnp.round(x, 2), jnp.array([-0.61, 0.77])))
    compared = sum(torch_parity(torch, mod, (), xx, lambda p, t, fn=fn: fn(t)) for mod, xx, fn in cases)
    assert compared == 2 * len(cases)
