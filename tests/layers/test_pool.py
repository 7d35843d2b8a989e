"""Pooling: torch7's stride defaults, ceil mode, padding rules and divisors, PyTorch parity of
the forward pass and the input gradient, and output shapes against PyTorch (property-based)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fnn
from fnn.errors import ConfigError, ShapeError
from tests.layers.test_conv import declared_shape, randn, torch_parity

PARITY = [
    # (id, fnn module, torch reference (x, params) -> y, input shape, positive input)
    ("max-stride-defaults-to-kernel", lambda: fnn.SpatialMaxPooling(2, 2), lambda F: lambda x: F.max_pool2d(x, 2),
     (2, 2, 5, 5)),
    ("max-width-first-ceil-pad", lambda: fnn.SpatialMaxPooling(3, 2, 2, 2, 1, 1, ceil_mode=True),
     lambda F: lambda x: F.max_pool2d(x, (2, 3), 2, 1, ceil_mode=True), (2, 2, 6, 7)),
    ("max-ceil-drops-window-in-padding", lambda: fnn.SpatialMaxPooling(2, 2, 2, 2, 1, 1, ceil_mode=True),
     lambda F: lambda x: F.max_pool2d(x, 2, 2, 1, ceil_mode=True), (1, 1, 4, 4)),
    ("avg-stride-defaults-to-1", lambda: fnn.SpatialAveragePooling(2, 2), lambda F: lambda x: F.avg_pool2d(x, 2, 1),
     (2, 2, 5, 5)),
    ("avg-ceil-include-pad", lambda: fnn.SpatialAveragePooling(3, 3, 2, 2, 1, 1, ceil_mode=True),
     lambda F: lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), (2, 2, 6, 7)),
    ("avg-ceil-exclude-pad", lambda: fnn.SpatialAveragePooling(3, 2, 2, 1, 1, 1, True, False),
     lambda F: lambda x: F.avg_pool2d(x, (2, 3), (1, 2), 1, ceil_mode=True, count_include_pad=False), (2, 2, 6, 7)),
    ("adaptive-max", lambda: fnn.SpatialAdaptiveMaxPooling(3, 4), lambda F: lambda x: F.adaptive_max_pool2d(x, (4, 3)),
     (2, 2, 7, 5)),
    ("adaptive-avg", lambda: fnn.SpatialAdaptiveAveragePooling(3, 4),
     lambda F: lambda x: F.adaptive_avg_pool2d(x, (4, 3)), (2, 2, 7, 5)),
    ("adaptive-avg-divisible", lambda: fnn.SpatialAdaptiveAveragePooling(2, 2),
     lambda F: lambda x: F.adaptive_avg_pool2d(x, 2), (2, 2, 6, 4)),
    ("lp-p2", lambda: fnn.SpatialLPPooling(2, 2, 2, 2), lambda F: lambda x: F.lp_pool2d(x, 2, 2), (2, 2, 6, 5)),
    ("lp-p1.5-stride", lambda: fnn.SpatialLPPooling(2, 1.5, 3, 2, 1, 1),
     lambda F: lambda x: F.lp_pool2d(x, 1.5, (2, 3), 1), (2, 2, 5, 5), True),
    ("temporal-max", lambda: fnn.TemporalMaxPooling(3, 2),
     lambda F: lambda x: F.max_pool1d(x.transpose(1, 2), 3, 2).transpose(1, 2), (2, 7, 3)),
    ("volumetric-max", lambda: fnn.VolumetricMaxPooling(2, 2, 3, 1, 2, 2, 1, 1, 1, ceil_mode=True),
     lambda F: lambda x: F.max_pool3d(x, (2, 3, 2), (1, 2, 2), 1, ceil_mode=True), (2, 2, 5, 6, 7)),
    ("volumetric-avg-stride-defaults-to-kernel", lambda: fnn.VolumetricAveragePooling(2, 2, 3),
     lambda F: lambda x: F.avg_pool3d(x, (2, 3, 2)), (2, 2, 5, 6, 7)),
    ("MaxPool1d", lambda: fnn.MaxPool1d(3, 2, 1, ceil_mode=True),
     lambda F: lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True), (2, 3, 8)),
    ("MaxPool2d-dilation", lambda: fnn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
     lambda F: lambda x: F.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True), (2, 2, 8, 9)),
    ("MaxPool3d", lambda: fnn.MaxPool3d((1, 2, 2)), lambda F: lambda x: F.max_pool3d(x, (1, 2, 2)), (2, 2, 3, 4, 5)),
    ("AvgPool1d", lambda: fnn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False),
     lambda F: lambda x: F.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 8)),
    ("AvgPool2d-stride-defaults-to-kernel", lambda: fnn.AvgPool2d((2, 3)),
     lambda F: lambda x: F.avg_pool2d(x, (2, 3)), (2, 2, 6, 7)),
    ("AvgPool2d-divisor", lambda: fnn.AvgPool2d(3, 2, 1, True, divisor_override=5),
     lambda F: lambda x: F.avg_pool2d(x, 3, 2, 1, True, True, 5), (2, 2, 6, 7)),
    ("AvgPool3d", lambda: fnn.AvgPool3d(2, 1, 1, count_include_pad=False),
     lambda F: lambda x: F.avg_pool3d(x, 2, 1, 1, count_include_pad=False), (1, 2, 3, 3, 4)),
    ("AdaptiveMaxPool1d", lambda: fnn.AdaptiveMaxPool1d(3), lambda F: lambda x: F.adaptive_max_pool1d(x, 3),
     (2, 2, 7)),
    ("AdaptiveMaxPool2d", lambda: fnn.AdaptiveMaxPool2d((2, None)),
     lambda F: lambda x: F.adaptive_max_pool2d(x, (2, None)), (2, 2, 5, 4)),
    ("AdaptiveMaxPool3d", lambda: fnn.AdaptiveMaxPool3d((2, 3, 4)),
     lambda F: lambda x: F.adaptive_max_pool3d(x, (2, 3, 4)), (1, 2, 5, 7, 6)),
    ("AdaptiveAvgPool1d", lambda: fnn.AdaptiveAvgPool1d(3), lambda F: lambda x: F.adaptive_avg_pool1d(x, 3), (3, 7)),
    ("AdaptiveAvgPool2d-global", lambda: fnn.AdaptiveAvgPool2d(1), lambda F: lambda x: F.adaptive_avg_pool2d(x, 1),
     (2, 3, 4, 5)),
    ("AdaptiveAvgPool3d", lambda: fnn.AdaptiveAvgPool3d((1, 3, 2)),
     lambda F: lambda x: F.adaptive_avg_pool3d(x, (1, 3, 2)), (2, 2, 3, 5, 5)),
]


@pytest.mark.torch
@pytest.mark.parametrize("case", PARITY, ids=[p[0] for p in PARITY])
def test_parity_with_pytorch(torch, case):
    _, make, reference, shape, *positive = case
    x = randn(*shape)
    if positive:
        x = np.abs(x) + 0.1
    f = reference(torch.nn.functional)
    torch_parity(torch, make(), lambda x, p: f(x), x)


# --------------------------------------------------------------------------- torch7 rules by hand


def test_max_pooling_by_hand_and_stride_default():
    y = fnn.SpatialMaxPooling(2, 2).apply((), jnp.arange(16.0).reshape(1, 4, 4))
    np.testing.assert_array_equal(y, [[[5, 7], [13, 15]]])


def test_average_pooling_stride_defaults_to_one():
    y = fnn.SpatialAveragePooling(2, 2).apply((), jnp.arange(9.0).reshape(1, 3, 3))
    np.testing.assert_array_equal(y, [[[2, 3], [5, 6]]])
    assert fnn.AvgPool2d(2).init(jax.random.key(0), (1, 3, 3))[0] == (1, 1, 1)  # PyTorch: stride = kernel


def test_padding_never_wins_the_max():
    x = -jnp.ones((1, 2, 2)) - jnp.arange(4.0).reshape(1, 2, 2)  # all negative: a zero pad would win
    y = fnn.SpatialMaxPooling(2, 2, 2, 2, 1, 1).apply((), x)
    np.testing.assert_array_equal(y, [[[-1, -2], [-3, -4]]])


def test_count_include_pad_divides_by_the_padded_window():
    x = jnp.ones((1, 2, 2))
    incl = fnn.SpatialAveragePooling(2, 2, 2, 2, 1, 1).apply((), x)
    excl = fnn.SpatialAveragePooling(2, 2, 2, 2, 1, 1, count_include_pad=False).apply((), x)
    np.testing.assert_array_equal(incl, jnp.full((1, 2, 2), 0.25))  # each window holds 1 input + 3 pads
    np.testing.assert_array_equal(excl, jnp.ones((1, 2, 2)))


def test_ceil_mode_overhang_is_never_counted():
    # 3 columns, k=2, s=2, ceil: the second window holds column 2 and one overhang column.
    y = fnn.SpatialAveragePooling(2, 1, 2, 1, ceil_mode=True).apply((), jnp.array([[[1.0, 3.0, 5.0]]]))
    np.testing.assert_array_equal(y, [[[2.0, 5.0]]])


def test_ceil_mode_fits_one_window_larger_than_the_input():
    m = fnn.SpatialMaxPooling(4, 1, 2, 1, ceil_mode=True)  # torch7 and PyTorch: ceil((3-4)/2) + 1 = 1
    np.testing.assert_array_equal(m.apply((), jnp.array([[[1.0, 7.0, 2.0]]])), [[[7.0]]])
    with pytest.raises(ShapeError, match="output size <= 0"):
        fnn.SpatialMaxPooling(4, 1, 2, 1).init(jax.random.key(0), (-1, 1, 1, 3))  # floor mode: none


def test_adaptive_regions_overlap_as_in_torch7():
    # in=5 -> out=3: rows [0,2), [1,4), [3,5)
    y = fnn.SpatialAdaptiveMaxPooling(1, 3).apply((), jnp.array([[[5.0], [1.0], [2.0], [0.0], [4.0]]]))
    np.testing.assert_array_equal(y, [[[5.0], [2.0], [4.0]]])


def test_lp_pooling_is_the_window_p_norm():
    y = fnn.SpatialLPPooling(1, 2, 2, 1).apply((), jnp.array([[[3.0, 4.0, 6.0, 8.0]]]))
    np.testing.assert_allclose(y, [[[5.0, 10.0]]])


def test_temporal_max_pooling_is_channels_last():
    y = fnn.TemporalMaxPooling(2).apply((), jnp.array([[1.0, 8.0], [2.0, 7.0], [3.0, 6.0]]))
    np.testing.assert_array_equal(y, [[2.0, 8.0]])


def test_one_example_equals_the_batch():
    xs = jnp.asarray(randn(3, 2, 6, 6))
    for m in (fnn.SpatialMaxPooling(3, 3, 2, 2, 1, 1, True), fnn.SpatialAveragePooling(3, 3, 2, 2, 1, 1, True, False),
              fnn.SpatialAdaptiveMaxPooling(4, 4), fnn.AdaptiveAvgPool2d(4)):
        np.testing.assert_allclose(m.apply((), xs[2]), m.apply((), xs)[2], atol=1e-12)


def test_float32_stays_float32():
    x = jnp.ones((1, 4, 4), jnp.float32)
    for m in (fnn.SpatialMaxPooling(2, 2), fnn.SpatialAveragePooling(2, 2), fnn.SpatialAdaptiveAveragePooling(3, 3),
              fnn.SpatialLPPooling(1, 2, 2, 2)):
        assert m.apply((), x).dtype == jnp.float32


def test_names():
    assert str(fnn.SpatialMaxPooling(2, 2)) == "nn.SpatialMaxPooling(2x2, 2,2)"
    assert str(fnn.SpatialMaxPooling(3, 3, 2, 2, 1, 1)) == "nn.SpatialMaxPooling(3x3, 2,2, 1,1)"
    assert str(fnn.SpatialAveragePooling(7, 7)) == "nn.SpatialAveragePooling(7x7, 1,1)"
    assert str(fnn.VolumetricMaxPooling(2, 2, 2)) == "nn.VolumetricMaxPooling(2x2x2, 2,2,2)"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make", [
    lambda: fnn.SpatialMaxPooling(2, 2, 2, 2, 2, 0),  # pad > kernel / 2
    lambda: fnn.SpatialAveragePooling(0, 2),
    lambda: fnn.SpatialLPPooling(1, 0, 2, 2),
    lambda: fnn.AdaptiveMaxPool2d(2, return_indices=True),  # MaxPool2d(return_indices=True) is supported (issue 15)
    lambda: fnn.AdaptiveMaxPool2d((2, 2, 2)),
    lambda: fnn.AdaptiveAvgPool2d(0),
    lambda: fnn.AvgPool2d(2, divisor_override=0),
])
def test_invalid_constructor_arguments(make):
    with pytest.raises(ConfigError):
        make()


def test_shape_errors():
    with pytest.raises(ShapeError, match=r"nn.SpatialMaxPooling\(2x2, 2,2\) expects input \(C, H, W\) or "
                                         r"\(B, C, H, W\), got \(-1, 5\)"):
        fnn.SpatialMaxPooling(2, 2).init(jax.random.key(0), (-1, 5))
    with pytest.raises(ShapeError, match="output size <= 0"):
        fnn.SpatialMaxPooling(3, 3).init(jax.random.key(0), (-1, 1, 2, 5))
    with pytest.raises(ShapeError, match=r"expects input \(2, H, W\)"):
        fnn.SpatialLPPooling(2, 2, 2, 2).init(jax.random.key(0), (-1, 3, 4, 4))


# --------------------------------------------------------------------------- shapes, property-based


@pytest.mark.torch
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), ceil=st.booleans(), n=st.integers(1, 9),
       op=st.sampled_from(["max", "avg"]))
def test_pool_output_shapes_match_pytorch(torch, k, s, p, ceil, n, op):
    make = {"max": lambda: fnn.SpatialMaxPooling(k, 1, s, 1, p, 0, ceil_mode=ceil),
            "avg": lambda: fnn.SpatialAveragePooling(k, 1, s, 1, p, 0, ceil_mode=ceil)}[op]
    if 2 * p > k:
        with pytest.raises(ConfigError):
            make()
        return
    f = {"max": torch.nn.functional.max_pool2d, "avg": torch.nn.functional.avg_pool2d}[op]
    try:
        want = tuple(f(torch.zeros(1, 1, 3, n), (1, k), (1, s), (0, p), ceil_mode=ceil).shape)
    except RuntimeError:
        with pytest.raises(ShapeError):
            declared_shape(make(), (-1, 1, 3, n))
        return
    assert declared_shape(make(), (-1, 1, 3, n)) == (-1,) + want[1:]
    assert make().apply((), jnp.zeros((1, 3, n))).shape == want[1:]
