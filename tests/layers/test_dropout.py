"""Dropout: p is the drop probability; torch7's inverted Dropout and its v1 scheme; the
non-inverted SpatialDropout/VolumetricDropout with one draw per (sample, channel); PyTorch's
inverted Dropout2d/3d and AlphaDropout; the MissingRNGError call; mask statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError, MissingRNGError, ShapeError

KEY = jax.random.key(42)


def test_mask_keeps_one_minus_p_and_scales_kept_units():
    p = 0.3
    y = fnn.Dropout(p).apply((), jnp.ones(20000), rng=KEY, train=True)
    kept = np.asarray(y != 0)
    assert abs(kept.mean() - (1 - p)) < 0.01
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / (1 - p), rtol=1e-6)  # inverted: E[y] = x
    assert abs(float(y.mean()) - 1.0) < 0.02


def test_evaluation_is_the_identity_and_needs_no_key():
    x = jnp.arange(5.0)
    np.testing.assert_array_equal(fnn.Dropout(0.5).apply((), x), x)
    np.testing.assert_array_equal(fnn.Dropout2d(0.5).apply((), jnp.ones((2, 3, 3))), jnp.ones((2, 3, 3)))
    np.testing.assert_array_equal(fnn.AlphaDropout(0.5).apply((), x), x)


def test_v1_scales_at_evaluation_instead():
    x = jnp.ones(10000)
    y = fnn.Dropout(0.25, v1=True).apply((), x, rng=KEY, train=True)
    assert set(np.unique(np.asarray(y)).tolist()) == {0.0, 1.0}  # no training scale
    np.testing.assert_allclose(fnn.Dropout(0.25, v1=True).apply((), x), 0.75 * x)


def test_stochastic_inference_drops_in_evaluation():
    m = fnn.Dropout(0.5, stochastic_inference=True)
    y = m.apply((), jnp.ones(1000), rng=KEY)
    assert 0.4 < float((y == 0).mean()) < 0.6
    with pytest.raises(MissingRNGError, match=r"call apply\(params, x, rng=jax.random.key\(0\)\)"):
        m.apply((), jnp.ones(3))


def test_same_key_same_mask_other_key_other_mask():
    m = fnn.Dropout(0.5)
    a = m.apply((), jnp.ones(64), rng=KEY, train=True)
    b = m.apply((), jnp.ones(64), rng=KEY, train=True)
    c = m.apply((), jnp.ones(64), rng=jax.random.key(7), train=True)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_gradient_goes_through_the_kept_units_with_their_scale():
    g = jax.grad(lambda x: fnn.Dropout(0.5).apply((), x, rng=KEY, train=True).sum())(jnp.ones(100))
    y = fnn.Dropout(0.5).apply((), jnp.ones(100), rng=KEY, train=True)
    np.testing.assert_array_equal(g, y)  # d/dx (mask * x / (1-p)) = mask / (1-p)


def test_missing_rng_error_shows_the_exact_call():
    with pytest.raises(MissingRNGError) as e:
        fnn.Dropout(0.5).apply((), jnp.ones(3), train=True)
    assert str(e.value) == ("nn.Dropout(0.500000) needs a PRNG key in training mode to draw its dropout mask; "
                            "call apply(params, x, rng=jax.random.key(0), train=True)")
    for m in (fnn.SpatialDropout(), fnn.VolumetricDropout(), fnn.AlphaDropout(), fnn.Dropout2d(), fnn.Dropout3d()):
        with pytest.raises(MissingRNGError, match=r"rng=jax.random.key\(0\), train=True"):
            m.apply((), jnp.ones((2, 2, 2, 2)), train=True)


def test_missing_rng_inside_a_container_names_the_child():
    model = fnn.Sequential(fnn.Linear(3, 3), fnn.Dropout(0.5))
    _, params = model.init(jax.random.key(0), (-1, 3))
    with pytest.raises(MissingRNGError, match=r"at \[1\]: nn.Dropout\(0.500000\) needs a PRNG key"):
        model.apply(params, jnp.ones((2, 3), jnp.float32), train=True)


def test_p_zero_is_the_identity_and_needs_no_key():
    x = jnp.arange(4.0)
    np.testing.assert_array_equal(fnn.Dropout(0.0).apply((), x, train=True), x)
    np.testing.assert_array_equal(fnn.SpatialDropout(0.0).apply((), jnp.ones((1, 2, 2)), train=True),
                                  jnp.ones((1, 2, 2)))


@pytest.mark.parametrize("make", [
    lambda: fnn.Dropout(1.0), lambda: fnn.Dropout(-0.1), lambda: fnn.Dropout("0.5"), lambda: fnn.SpatialDropout(1),
    lambda: fnn.VolumetricDropout(2.0), lambda: fnn.AlphaDropout(1.0), lambda: fnn.Dropout2d(-1),
    lambda: fnn.Dropout3d(1),
])
def test_p_outside_0_1_is_a_config_error(make):
    with pytest.raises(ConfigError, match=r"p is the drop probability and must be in \[0, 1\)"):
        make()


# --------------------------------------------------------------------------- channel-wise dropout


def test_spatial_dropout_draws_one_mask_per_sample_and_channel_without_training_scale():
    p = 0.4
    x = jnp.ones((50, 40, 3, 3))
    y = np.asarray(fnn.SpatialDropout(p).apply((), x, rng=KEY, train=True))
    per_channel = y.reshape(50, 40, 9)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # whole feature maps kept or dropped
    assert set(np.unique(y).tolist()) == {0.0, 1.0}  # torch7: not inverted, no scaling in training
    assert abs((per_channel[..., 0] == 1).mean() - (1 - p)) < 0.03
    np.testing.assert_allclose(fnn.SpatialDropout(p).apply((), x), (1 - p) * x)  # x(1-p) at evaluation


def test_spatial_dropout_one_example():
    y = np.asarray(fnn.SpatialDropout(0.5).apply((), jnp.ones((64, 2, 2)), rng=KEY, train=True))
    assert np.all(y.reshape(64, 4).min(-1) == y.reshape(64, 4).max(-1))


def test_volumetric_dropout_masks_whole_volumes():
    y = np.asarray(fnn.VolumetricDropout(0.5).apply((), jnp.ones((4, 16, 2, 2, 2)), rng=KEY, train=True))
    flat = y.reshape(4, 16, 8)
    assert np.all(flat.min(-1) == flat.max(-1)) and set(np.unique(y).tolist()) == {0.0, 1.0}
    np.testing.assert_allclose(fnn.VolumetricDropout(0.5).apply((), jnp.ones((1, 2, 2, 2))), 0.5)


def test_dropout2d_is_inverted_unlike_spatial_dropout():
    x = jnp.ones((8, 32, 2, 2))
    a = np.asarray(fnn.Dropout2d(0.5).apply((), x, rng=KEY, train=True))
    b = np.asarray(fnn.SpatialDropout(0.5).apply((), x, rng=KEY, train=True))
    np.testing.assert_array_equal(a, 2 * b)  # same channels dropped, PyTorch scales by 1/(1-p)
    flat = fnn.Dropout3d(0.5).apply((), jnp.ones((4, 8, 2, 2, 2)), rng=KEY, train=True).reshape(4, 8, 8)
    assert bool(jnp.all(flat.min(-1) == flat.max(-1)))


def test_channel_dropout_rank_errors():
    with pytest.raises(ShapeError, match=r"nn.SpatialDropout\(0.500000\) expects input \(C, H, W\) or \(B, C, H, W\)"):
        fnn.SpatialDropout().init(jax.random.key(0), (-1, 4))
    with pytest.raises(ShapeError, match=r"expects input \(C, T, H, W\) or \(B, C, T, H, W\)"):
        fnn.Dropout3d().init(jax.random.key(0), (-1, 4, 4))


# --------------------------------------------------------------------------- AlphaDropout


def test_alpha_dropout_affine_map_matches_pytorch_constants():
    p, alpha = 0.2, 1.7580993408473766
    a = 1 / np.sqrt((alpha**2 * p + 1) * (1 - p))
    x = jnp.linspace(-2, 2, 1000)
    y = np.asarray(fnn.AlphaDropout(p).apply((), x, rng=KEY, train=True))
    kept = np.isclose(y, a * np.asarray(x) + alpha * a * p)
    dropped = np.isclose(y, alpha * a * (p - 1))
    assert np.all(kept | dropped) and abs(kept.mean() - (1 - p)) < 0.05


@pytest.mark.torch
def test_alpha_dropout_values_are_pytorchs(torch):
    """Recover PyTorch's mask from its output and check fnn's map sends x to the same values."""
    x = np.linspace(-2, 2, 201)
    yt = torch.nn.functional.alpha_dropout(torch.tensor(x), 0.3, training=True).numpy()
    p, alpha = 0.3, 1.7580993408473766
    a = 1 / np.sqrt((alpha**2 * p + 1) * (1 - p))
    kept_t = ~np.isclose(yt, alpha * a * (p - 1))
    y = np.asarray(fnn.AlphaDropout(p).apply((), jnp.asarray(x), rng=KEY, train=True))
    kept = ~np.isclose(y, alpha * a * (p - 1))
    both = kept & kept_t
    np.testing.assert_allclose(y[both], yt[both], atol=1e-12)


def test_alpha_dropout_keeps_zero_mean_unit_variance():
    x = jax.random.normal(jax.random.key(1), (200000,), jnp.float64)
    y = fnn.AlphaDropout(0.3).apply((), x, rng=KEY, train=True)
    assert abs(float(y.mean())) < 0.01 and abs(float(y.std()) - 1) < 0.01


def test_names():
    assert str(fnn.SpatialDropout(0.2)) == "nn.SpatialDropout(0.200000)"
    assert str(fnn.Dropout2d(0.2)) == "nn.Dropout2d(p=0.2)"
