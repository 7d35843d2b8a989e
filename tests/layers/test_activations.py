"""Transfer functions: torch7 semantics, hand-computed cases, PyTorch parity."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fnn
from fnn.layers._activations import softmax_dim


def run(module, x, params=()):
    return module.apply(params, x)


def grad_of(module, x, params=()):
    """d(sum y)/dx: the gradient torch7's backward gives for gradOutput = ones."""
    return jax.grad(lambda x: jnp.sum(module.apply(params, x)))(x)


def arr(*v):
    return jnp.array(v, dtype=jnp.float64)


# --------------------------------------------------------------------------- kinks and defaults


def test_threshold_default_is_1e_6_not_0():
    x = arr(-1.0, 0.0, 5e-7, 1e-6, 2e-6, 1.0)
    np.testing.assert_array_equal(run(fnn.Threshold(), x), [0, 0, 0, 0, 2e-6, 1])
    np.testing.assert_array_equal(grad_of(fnn.Threshold(), x), [0, 0, 0, 0, 1, 1])


def test_threshold_value_below():
    x = arr(-1.0, 0.5, 2.0)
    np.testing.assert_array_equal(run(fnn.Threshold(0.5, -3.0), x), [-3, -3, 2])
    np.testing.assert_array_equal(grad_of(fnn.Threshold(0.5, -3.0), x), [0, 0, 1])


def test_relu_is_threshold_0_0_with_zero_gradient_at_zero():
    x = arr(-2.0, 0.0, 3.0)
    np.testing.assert_array_equal(run(fnn.ReLU(), x), [0, 0, 3])
    np.testing.assert_array_equal(grad_of(fnn.ReLU(), x), [0, 0, 1])


def test_hardtanh_gradient_is_zero_at_the_bounds():
    x = arr(-2.0, -1.0, -0.5, 0.0, 1.0, 2.0)
    np.testing.assert_array_equal(run(fnn.HardTanh(), x), [-1, -1, -0.5, 0, 1, 1])
    np.testing.assert_array_equal(grad_of(fnn.HardTanh(), x), [0, 0, 1, 1, 0, 0])
    x = arr(-1.0, 0.0, 3.0, 6.0, 7.0)
    np.testing.assert_array_equal(run(fnn.ReLU6(), x), [0, 0, 3, 6, 6])
    np.testing.assert_array_equal(grad_of(fnn.ReLU6(), x), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(grad_of(fnn.HardTanh(0.5, 2.0), arr(0.5, 1.0, 2.0)), [0, 1, 0])


def test_shrinks_have_zero_gradient_at_lambda():
    x = arr(-1.0, -0.5, 0.2, 0.5, 0.7)
    np.testing.assert_allclose(run(fnn.HardShrink(), x), [-1, 0, 0, 0, 0.7])
    np.testing.assert_array_equal(grad_of(fnn.HardShrink(), x), [1, 0, 0, 0, 1])
    np.testing.assert_allclose(run(fnn.SoftShrink(), x), [-0.5, 0, 0, 0, 0.2])
    np.testing.assert_array_equal(grad_of(fnn.SoftShrink(), x), [1, 0, 0, 0, 1])


def test_negative_slope_at_zero_for_leaky_relu_and_prelu():
    x = arr(-2.0, 0.0, 3.0)
    np.testing.assert_allclose(run(fnn.LeakyReLU(), x), [-0.02, 0, 3])
    np.testing.assert_allclose(grad_of(fnn.LeakyReLU(), x), [0.01, 0.01, 1])
    np.testing.assert_allclose(grad_of(fnn.LeakyReLU(negative_slope=0.2), x), [0.2, 0.2, 1])
    params = {"weight": arr(0.25)}
    np.testing.assert_allclose(run(fnn.PReLU(), x, params), [-0.5, 0, 3])
    np.testing.assert_allclose(grad_of(fnn.PReLU(), x, params), [0.25, 0.25, 1])


def test_elu_and_selu():
    x = arr(-1.0, 0.0, 2.0)
    np.testing.assert_allclose(run(fnn.ELU(0.5), x), [0.5 * math.expm1(-1), 0, 2])
    np.testing.assert_allclose(grad_of(fnn.ELU(0.5), x), [0.5 * math.exp(-1), 0.5, 1])  # alpha at 0, as torch7
    s, a = fnn.layers._activations.SELU_SCALE, fnn.layers._activations.SELU_ALPHA
    np.testing.assert_allclose(run(fnn.SELU(), x), [s * a * math.expm1(-1), 0, 2 * s])
    # Large inputs: no overflow in the unused exponential branch.
    assert np.all(np.isfinite(grad_of(fnn.ELU(), arr(800.0, -800.0))))


def test_softplus_switches_to_identity_above_the_threshold():
    x = arr(0.0, 10.0, 25.0, -800.0, 800.0)
    y = run(fnn.SoftPlus(), x)
    np.testing.assert_allclose(y, [math.log(2), math.log1p(math.exp(10)), 25, 0, 800])
    g = grad_of(fnn.SoftPlus(), x)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g[2:], [1, 0, 1])
    # beta * x > threshold decides, not x > threshold.
    np.testing.assert_allclose(run(fnn.SoftPlus(2.0, 1.0), arr(0.5, 0.6)), [math.log1p(math.e) / 2, 0.6])


def test_smooth_functions_by_hand():
    x = arr(-1.0, 0.0, 3.0)
    np.testing.assert_allclose(run(fnn.Sigmoid(), x), 1 / (1 + np.exp(-np.asarray(x))))
    np.testing.assert_allclose(run(fnn.Tanh(), x), np.tanh(x))
    np.testing.assert_allclose(run(fnn.SoftSign(), x), [-0.5, 0, 0.75])
    np.testing.assert_allclose(grad_of(fnn.SoftSign(), x), [0.25, 1, 1 / 16])
    np.testing.assert_allclose(run(fnn.TanhShrink(), x), np.asarray(x) - np.tanh(x))
    np.testing.assert_allclose(run(fnn.LogSigmoid(), arr(0.0, -800.0)), [-math.log(2), -800])
    np.testing.assert_allclose(run(fnn.GELU(), arr(0.0, 1.0)), [0, 0.5 * (1 + math.erf(1 / math.sqrt(2)))])


# --------------------------------------------------------------------------- softmax family


def test_softmax_dim_follows_torch7_rank_rule():
    # 1-D -> 0, 2-D -> 1, 3-D -> 0 (a (C, H, W) image), 4-D -> 1 (0-based).
    assert [softmax_dim(r, None) for r in (1, 2, 3, 4)] == [0, 1, 0, 1]
    rng = np.random.default_rng(0)
    for shape, dim in [((5,), 0), ((2, 5), 1), ((3, 2, 4), 0), ((2, 3, 2, 2), 1)]:
        x = jnp.asarray(rng.normal(size=shape))
        y = run(fnn.SoftMax(), x)
        np.testing.assert_allclose(jnp.sum(y, axis=dim), 1.0)
        np.testing.assert_allclose(run(fnn.LogSoftMax(), x), jax.nn.log_softmax(x, axis=dim))
        np.testing.assert_allclose(run(fnn.SoftMin(), x), jax.nn.softmax(-x, axis=dim))


def test_softmax_values_by_hand():
    np.testing.assert_allclose(run(fnn.SoftMax(), arr(0.0, math.log(3))), [0.25, 0.75])
    np.testing.assert_allclose(run(fnn.SoftMin(), arr(0.0, math.log(3))), [0.75, 0.25])
    np.testing.assert_allclose(run(fnn.LogSoftMax(), arr(0.0, math.log(3))), [math.log(0.25), math.log(0.75)])
    # A (T, B, V) = (2, 1, 2) tensor is normalised over T, not V.
    x = jnp.array([[[0.0, 5.0]], [[0.0, 5.0]]])
    np.testing.assert_allclose(run(fnn.SoftMax(), x), 0.5)
    # Stable for large inputs (max-shifted).
    np.testing.assert_allclose(run(fnn.SoftMax(), arr(1000.0, 1000.0)), [0.5, 0.5])


def test_softmax_rank_errors_and_explicit_dim():
    with pytest.raises(fnn.ShapeError, match=r"nn.SoftMax .*1-D to 4-D.*got 5-D"):
        run(fnn.SoftMax(), jnp.zeros((1, 1, 1, 1, 2)))
    with pytest.raises(fnn.ShapeError, match="got 0-D"):
        fnn.LogSoftMax().init(jax.random.key(0), ())
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 1, 1, 1, 3)))
    np.testing.assert_allclose(jnp.sum(run(fnn.SoftMax(dim=-1), x), axis=-1), 1.0)
    np.testing.assert_allclose(run(fnn.Softmax(dim=4), x), run(fnn.SoftMax(dim=-1), x))
    np.testing.assert_allclose(run(fnn.LogSoftmax(0), arr(1.0, 2.0)), run(fnn.LogSoftMax(), arr(1.0, 2.0)))
    np.testing.assert_allclose(run(fnn.Softmin(1), jnp.ones((2, 2))), 0.5)
    with pytest.raises(fnn.ShapeError, match="dim 2 is out of range for a 2-D input"):
        run(fnn.SoftMax(dim=2), jnp.zeros((2, 2)))


def test_softmax_vmap_agrees_only_where_the_rank_rule_is_batch_aware():
    apply = fnn.SoftMax().apply
    rng = np.random.default_rng(2)
    for shape in [(3, 4), (2, 3, 2, 2)]:  # batches of vectors / images: consistent
        x = jnp.asarray(rng.normal(size=shape))
        np.testing.assert_allclose(jax.vmap(lambda e: apply((), e))(x), apply((), x))
    x = jnp.asarray(rng.normal(size=(2, 3, 4)))  # a batch of matrices: not consistent
    assert not np.allclose(jax.vmap(lambda e: apply((), e))(x), apply((), x))
    apply_last = fnn.SoftMax(dim=-1).apply
    np.testing.assert_allclose(jax.vmap(lambda e: apply_last((), e))(x), apply_last((), x))


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=4), st.integers(0, 2**31 - 1))
def test_softmax_sums_to_one_along_the_rule_dim(shape, seed):
    x = jnp.asarray(np.random.default_rng(seed).normal(size=shape) * 10)
    dim = [0, 1, 0, 1][len(shape) - 1]
    y = run(fnn.SoftMax(), x)
    np.testing.assert_allclose(jnp.sum(y, axis=dim), 1.0, rtol=1e-12)
    np.testing.assert_allclose(jnp.exp(run(fnn.LogSoftMax(), x)), y, rtol=1e-12)


# --------------------------------------------------------------------------- PReLU


def test_prelu_params_and_init():
    _, p = fnn.PReLU().init(jax.random.key(0), (-1, 5))
    assert p["weight"].shape == (1,) and p["weight"].dtype == jnp.float32
    np.testing.assert_array_equal(p["weight"], [0.25])
    _, p = fnn.PReLU(3).init(jax.random.key(0), (-1, 3, 4, 4), jnp.float64)
    assert p["weight"].shape == (3,) and p["weight"].dtype == jnp.float64
    _, p = fnn.PReLU(3, init=0.1).init(jax.random.key(0), (3,))
    np.testing.assert_allclose(p["weight"], 0.1)
    ones = lambda key, shape, dtype: jnp.ones(shape, dtype)  # noqa: E731
    _, p = fnn.PReLU(2, weight_init=ones).init(jax.random.key(0), (2,))
    np.testing.assert_array_equal(p["weight"], [1, 1])
    # PReLU(1) shares its slope (PyTorch's PReLU()), any shape.
    out, p = fnn.PReLU(1).init(jax.random.key(0), (-1, 7, 2))
    assert out == (-1, 7, 2) and p["weight"].shape == (1,)


def test_prelu_channel_dim_is_dim_1_whenever_rank_above_1():
    w = {"weight": arr(0.1, 0.2, 0.3)}
    m = fnn.PReLU(3)
    np.testing.assert_allclose(run(m, -jnp.ones(3), w), [-0.1, -0.2, -0.3])  # 1-D: dim 0
    np.testing.assert_allclose(run(m, -jnp.ones((2, 3)), w), [[-0.1, -0.2, -0.3]] * 2)
    y = run(m, -jnp.ones((2, 3, 4)), w)  # 3-D is (B, C, L), not (C, H, W)
    np.testing.assert_allclose(y[1, :, 0], [-0.1, -0.2, -0.3])
    y = run(m, -jnp.ones((1, 3, 2, 2)), w)
    np.testing.assert_allclose(y[0, :, 1, 1], [-0.1, -0.2, -0.3])
    with pytest.raises(fnn.ShapeError, match=r"nn.PReLU\(3\) expects 3 channels in dim 1"):
        m.init(jax.random.key(0), (3, 4, 4))
    with pytest.raises(fnn.ShapeError, match="expects 3 channels in dim 0"):
        run(m, jnp.ones(4), w)


def test_prelu_weight_gradient_sums_over_nonpositive_inputs():
    x = jnp.array([[-1.0, 2.0], [-3.0, 0.0]])
    g = jax.grad(lambda p: jnp.sum(run(fnn.PReLU(2), x, p)))({"weight": arr(0.25, 0.25)})
    np.testing.assert_allclose(g["weight"], [-4.0, 0.0])
    g = jax.grad(lambda p: jnp.sum(run(fnn.PReLU(), x, p)))({"weight": arr(0.25)})
    np.testing.assert_allclose(g["weight"], [-4.0])


# --------------------------------------------------------------------------- GLU


def test_gated_linear_unit():
    x = jnp.array([[1.0, 2.0, 0.0, 100.0]])
    np.testing.assert_allclose(run(fnn.GatedLinearUnit(), x), [[0.5, 2.0]])
    assert run(fnn.GLU(0), jnp.ones((4, 3))).shape == (2, 3)
    out, _ = fnn.GatedLinearUnit().init(jax.random.key(0), (-1, 6))
    assert out == (-1, 3)
    with pytest.raises(fnn.ShapeError, match=r"nn.GatedLinearUnit splits dim 1 in halves.*even"):
        fnn.GatedLinearUnit().init(jax.random.key(0), (-1, 5))
    with pytest.raises(fnn.ShapeError, match="out of range"):
        run(fnn.GLU(2), jnp.ones((2, 2)))


# --------------------------------------------------------------------------- errors, dtypes, names


def test_bad_configuration_is_a_config_error():
    for make in [lambda: fnn.HardTanh(1, -1), lambda: fnn.SoftPlus(beta=0), lambda: fnn.SoftShrink(-1),
                 lambda: fnn.GELU("fast"), lambda: fnn.PReLU(-1), lambda: fnn.PReLU(2.5), lambda: fnn.SoftMax(1.5),
                 lambda: fnn.ELU(float("nan")), lambda: fnn.Threshold("0"), lambda: fnn.GLU(None)]:
        with pytest.raises(fnn.ConfigError):
            make()


def test_bad_inputs_name_the_layer():
    with pytest.raises(fnn.ShapeError, match=r"^nn.ReLU expects one array as input, got a table"):
        fnn.ReLU().init(jax.random.key(0), ((2,), (2,)))
    with pytest.raises(fnn.ShapeError, match="^nn.Sigmoid expects one array"):
        run(fnn.Sigmoid(), (jnp.ones(2), jnp.ones(2)))
    with pytest.raises(fnn.DTypeError, match="^nn.Tanh expects floating-point input, got int32"):
        run(fnn.Tanh(), jnp.ones(2, jnp.int32))


def test_dtype_is_preserved():
    x = jnp.array([-1.0, 2.0], jnp.float32)
    for m in [fnn.ReLU(), fnn.Threshold(), fnn.HardTanh(), fnn.SoftPlus(), fnn.ELU(), fnn.SoftMax(), fnn.HardShrink()]:
        assert run(m, x).dtype == jnp.float32, m
    _, p = fnn.PReLU(2).init(jax.random.key(0), (2,))
    assert run(fnn.PReLU(2), x, p).dtype == jnp.float32
    assert run(fnn.ReLU(), x.astype(jnp.bfloat16)).dtype == jnp.bfloat16
    with pytest.raises(fnn.DTypeError, match=r"nn.PReLU\(2\) got input of dtype float64"):
        run(fnn.PReLU(2), x.astype(jnp.float64), p)


def test_printed_names():
    assert str(fnn.ReLU()) == "nn.ReLU"
    assert str(fnn.SoftMax()) == "nn.SoftMax"
    assert str(fnn.Softmax(dim=1)) == "nn.SoftMax(dim=1)"
    assert str(fnn.ELU()) == "nn.ELU (alpha:1.000000)"  # torch7's format
    assert str(fnn.Threshold()) == "nn.Threshold(1e-06, 0)"
    assert str(fnn.PReLU()) == "nn.PReLU" and str(fnn.PReLU(4)) == "nn.PReLU(4)"
    assert str(fnn.Hardtanh(0, 6)) == "nn.HardTanh(0, 6)"
    model = fnn.Sequential(fnn.Linear(3, 2), fnn.Tanh(), fnn.LogSoftMax())
    assert str(model).splitlines()[2:] == ["  (1): nn.Linear(3 -> 2)", "  (2): nn.Tanh", "  (3): nn.LogSoftMax", "}"]


def test_pytorch_aliases_take_pytorch_arguments():
    x = arr(-3.0, 0.5, 7.0)
    np.testing.assert_allclose(run(fnn.Hardtanh(min_val=0.0, max_val=6.0), x), run(fnn.ReLU6(), x))
    np.testing.assert_allclose(run(fnn.Softplus(beta=2.0, threshold=5.0), x), run(fnn.SoftPlus(2.0, 5.0), x))
    np.testing.assert_allclose(run(fnn.Hardshrink(lambd=1.0), x), run(fnn.HardShrink(1.0), x))
    np.testing.assert_allclose(run(fnn.Softshrink(lambd=1.0), x), run(fnn.SoftShrink(1.0), x))
    np.testing.assert_allclose(run(fnn.Softsign(), x), run(fnn.SoftSign(), x))
    np.testing.assert_allclose(run(fnn.Tanhshrink(), x), run(fnn.TanhShrink(), x))
    assert fnn.GLU().kind == "GatedLinearUnit" and fnn.Softmin().kind == "SoftMin"


def test_in_a_model_with_jit_and_grad():
    model = fnn.Sequential(fnn.Linear(4, 3), fnn.PReLU(3), fnn.Linear(3, 2), fnn.LogSoftMax())
    out, params = model.init(jax.random.key(0), (-1, 4), jnp.float64)
    assert out == (-1, 2)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(5, 4)))
    y = jax.jit(model.apply)(params, x)
    np.testing.assert_allclose(jnp.sum(jnp.exp(y), axis=1), 1.0)
    g = jax.grad(lambda p: -jnp.mean(model.apply(p, x)[:, 0]))(params)
    assert g[1]["weight"].shape == (3,)


# --------------------------------------------------------------------------- PyTorch parity (float64)

# fnn constructor, torch constructor, input shape, points where the gradient convention matters.
PARITY = [
    ("Sigmoid", fnn.Sigmoid, lambda nn: nn.Sigmoid(), (3, 4), []),
    ("Tanh", fnn.Tanh, lambda nn: nn.Tanh(), (3, 4), []),
    ("ReLU", fnn.ReLU, lambda nn: nn.ReLU(), (3, 4), [0.0]),
    ("ReLU6", fnn.ReLU6, lambda nn: nn.ReLU6(), (3, 4), [0.0, 6.0, 7.0]),
    ("LeakyReLU", lambda: fnn.LeakyReLU(0.2), lambda nn: nn.LeakyReLU(0.2), (3, 4), [0.0]),
    ("ELU", lambda: fnn.ELU(0.7), lambda nn: nn.ELU(0.7), (3, 4), [0.0]),
    ("SELU", fnn.SELU, lambda nn: nn.SELU(), (3, 4), [0.0]),
    ("GELU", fnn.GELU, lambda nn: nn.GELU(), (3, 4), [0.0]),
    ("GELU-tanh", lambda: fnn.GELU("tanh"), lambda nn: nn.GELU(approximate="tanh"), (3, 4), []),
    ("SoftPlus", fnn.SoftPlus, lambda nn: nn.Softplus(), (3, 4), [20.0, 21.0]),
    ("SoftPlus-beta", lambda: fnn.SoftPlus(2.0, 1.0), lambda nn: nn.Softplus(2.0, 1.0), (3, 4), [0.5]),
    ("SoftSign", fnn.SoftSign, lambda nn: nn.Softsign(), (3, 4), [0.0]),
    ("LogSigmoid", fnn.LogSigmoid, lambda nn: nn.LogSigmoid(), (3, 4), [-50.0]),
    ("HardTanh", lambda: fnn.HardTanh(-0.5, 1.5), lambda nn: nn.Hardtanh(-0.5, 1.5), (3, 4), [-0.5, 1.5]),
    ("HardShrink", lambda: fnn.HardShrink(0.7), lambda nn: nn.Hardshrink(0.7), (3, 4), [0.7, -0.7]),
    ("SoftShrink", lambda: fnn.SoftShrink(0.7), lambda nn: nn.Softshrink(0.7), (3, 4), [0.7, -0.7]),
    ("Threshold", lambda: fnn.Threshold(0.3, -2.0), lambda nn: nn.Threshold(0.3, -2.0), (3, 4), [0.3]),
    ("TanhShrink", fnn.TanhShrink, lambda nn: nn.Tanhshrink(), (3, 4), []),
    ("GatedLinearUnit", fnn.GatedLinearUnit, lambda nn: nn.GLU(), (3, 4), []),
    ("GatedLinearUnit-dim1", lambda: fnn.GLU(1), lambda nn: nn.GLU(1), (3, 4, 2), []),
    ("SoftMax-1d", fnn.SoftMax, lambda nn: nn.Softmax(0), (5,), []),
    ("SoftMax-2d", fnn.SoftMax, lambda nn: nn.Softmax(1), (3, 4), []),
    ("SoftMax-3d", fnn.SoftMax, lambda nn: nn.Softmax(0), (3, 2, 2), []),
    ("SoftMax-4d", fnn.SoftMax, lambda nn: nn.Softmax(1), (2, 3, 2, 2), []),
    ("SoftMax-dim", lambda: fnn.Softmax(-2), lambda nn: nn.Softmax(-2), (2, 3, 4), []),
    ("LogSoftMax-2d", fnn.LogSoftMax, lambda nn: nn.LogSoftmax(1), (3, 4), []),
    ("LogSoftMax-3d", fnn.LogSoftMax, lambda nn: nn.LogSoftmax(0), (3, 2, 2), []),
    ("LogSoftMax-4d", fnn.LogSoftMax, lambda nn: nn.LogSoftmax(1), (2, 3, 2, 2), []),
    ("SoftMin-2d", fnn.SoftMin, lambda nn: nn.Softmin(1), (3, 4), []),
    ("SoftMin-3d", fnn.SoftMin, lambda nn: nn.Softmin(0), (3, 2, 2), []),
]


@pytest.mark.torch
@pytest.mark.parametrize("name,make,make_torch,shape,kinks", PARITY, ids=[p[0] for p in PARITY])
def test_pytorch_parity(torch, name, make, make_torch, shape, kinks):
    x = np.random.default_rng(0).uniform(-3, 3, shape)
    flat = x.reshape(-1)
    flat[: len(kinks)] = kinks  # exact kink points: the gradient conventions must agree too
    g = np.random.default_rng(1).normal(size=np.shape(make().apply((), jnp.asarray(x))))
    y, vjp = jax.vjp(lambda x: make().apply((), x), jnp.asarray(x))
    (gx,) = vjp(jnp.asarray(g))
    xt = torch.tensor(x, requires_grad=True)
    yt = make_torch(torch.nn)(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(np.asarray(y), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gx), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("n,shape", [(0, (3, 4)), (1, (2, 3, 4)), (3, (4, 3)), (3, (2, 3, 5)), (3, (2, 3, 2, 2))])
def test_pytorch_parity_prelu(torch, n, shape):
    rng = np.random.default_rng(2)
    x = rng.uniform(-3, 3, shape)
    x.reshape(-1)[0] = 0.0
    w = rng.uniform(0, 1, max(n, 1))
    g = rng.normal(size=shape)
    y, vjp = jax.vjp(lambda p, x: fnn.PReLU(n).apply(p, x), {"weight": jnp.asarray(w)}, jnp.asarray(x))
    gp, gx = vjp(jnp.asarray(g))
    m = torch.nn.PReLU(max(n, 1))
    with torch.no_grad():
        m.weight.copy_(torch.tensor(w))
    xt = torch.tensor(x, requires_grad=True)
    yt = m(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(np.asarray(y), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gx), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gp["weight"]), m.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
