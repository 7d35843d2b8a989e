"""Spatial utilities: padding (negative crops), nearest and bilinear up-sampling (torch7's
aligned corners and ``(H-1)·s + 1``), PyTorch's Upsample modes; parity of the output and
the input gradient with PyTorch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError, ShapeError
from tests.layers.test_conv import randn, torch_parity

PARITY = [
    ("zero-pad-crop", lambda: fnn.SpatialZeroPadding(1, -1, 2, 0), lambda F: lambda x: F.pad(x, (1, -1, 2, 0)),
     (2, 2, 4, 5)),
    ("zero-pad-defaults", lambda: fnn.SpatialZeroPadding(2), lambda F: lambda x: F.pad(x, (2, 2, 2, 2)), (1, 2, 3, 3)),
    ("reflection", lambda: fnn.SpatialReflectionPadding(1, 2, 3, 0),
     lambda F: lambda x: F.pad(x, (1, 2, 3, 0), mode="reflect"), (2, 2, 4, 5)),
    ("replication", lambda: fnn.SpatialReplicationPadding(1, 2, 3, 0),
     lambda F: lambda x: F.pad(x, (1, 2, 3, 0), mode="replicate"), (2, 2, 4, 5)),
    ("nearest", lambda: fnn.SpatialUpSamplingNearest(3),
     lambda F: lambda x: F.interpolate(x, scale_factor=3, mode="nearest"), (2, 2, 4, 5)),
    ("bilinear-scale", lambda: fnn.SpatialUpSamplingBilinear(3),
     lambda F: lambda x: F.interpolate(x, size=(10, 13), mode="bilinear", align_corners=True), (2, 2, 4, 5)),
    ("bilinear-size", lambda: fnn.SpatialUpSamplingBilinear({"oheight": 7, "owidth": 3}),
     lambda F: lambda x: F.interpolate(x, size=(7, 3), mode="bilinear", align_corners=True), (2, 2, 4, 5)),
    ("ZeroPad2d", lambda: fnn.ZeroPad2d((1, -1, 2, 0)), lambda F: lambda x: F.pad(x, (1, -1, 2, 0)), (2, 4, 5)),
    ("ReflectionPad2d", lambda: fnn.ReflectionPad2d(2), lambda F: lambda x: F.pad(x, (2,) * 4, mode="reflect"),
     (2, 2, 4, 5)),
    ("ReplicationPad2d", lambda: fnn.ReplicationPad2d((0, 1, 2, 3)),
     lambda F: lambda x: F.pad(x, (0, 1, 2, 3), mode="replicate"), (2, 4, 5)),
    ("UpsamplingNearest2d", lambda: fnn.UpsamplingNearest2d(scale_factor=3),
     lambda F: lambda x: F.interpolate(x, scale_factor=3, mode="nearest"), (2, 2, 4, 5)),
    ("UpsamplingBilinear2d", lambda: fnn.UpsamplingBilinear2d(scale_factor=2),
     lambda F: lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True), (2, 2, 4, 5)),
    ("Upsample-linear", lambda: fnn.Upsample(scale_factor=2.5, mode="linear"),
     lambda F: lambda x: F.interpolate(x, scale_factor=2.5, mode="linear"), (2, 2, 5)),
    ("Upsample-trilinear-corners", lambda: fnn.Upsample(scale_factor=1.5, mode="trilinear", align_corners=True),
     lambda F: lambda x: F.interpolate(x, scale_factor=1.5, mode="trilinear", align_corners=True), (2, 2, 3, 4, 5)),
    ("Upsample-nearest-recompute", lambda: fnn.Upsample(scale_factor=1.5, recompute_scale_factor=True),
     lambda F: lambda x: F.interpolate(x, scale_factor=1.5, recompute_scale_factor=True), (2, 2, 3, 4, 5)),
]
for _mode in ("nearest", "nearest-exact", "bilinear", "bicubic", "area"):
    for _kw in ({"size": (7, 3)}, {"scale_factor": 1.7}, {"scale_factor": (2, 0.5)}):
        for _corners in ((None,) if _mode in ("nearest", "nearest-exact", "area") else (False, True)):
            PARITY.append((
                f"Upsample-{_mode}-{'-'.join(map(str, _kw.values()))}-{_corners}",
                lambda m=_mode, kw=_kw, c=_corners: fnn.Upsample(**kw, mode=m, align_corners=c),
                lambda F, m=_mode, kw=_kw, c=_corners: lambda x: F.interpolate(x, **kw, mode=m, align_corners=c),
                (2, 2, 4, 5),
            ))


@pytest.mark.torch
@pytest.mark.parametrize("case", PARITY, ids=[p[0] for p in PARITY])
def test_parity_with_pytorch(torch, case):
    _, make, reference, shape = case
    f = reference(torch.nn.functional)
    torch_parity(torch, make(), lambda x, p: f(x), randn(*shape), tol=1e-9)


# --------------------------------------------------------------------------- by hand


def test_zero_padding_negative_values_crop():
    x = jnp.arange(6.0).reshape(1, 2, 3)
    y = fnn.SpatialZeroPadding(-1, 1, 0, -1).apply((), x)
    np.testing.assert_array_equal(y, [[[1.0, 2.0, 0.0]]])


def test_padding_argument_defaults_follow_the_left_pad():
    assert fnn.SpatialZeroPadding(1).init(jax.random.key(0), (1, 2, 3))[0] == (1, 4, 5)
    assert fnn.SpatialReplicationPadding(1, 0).init(jax.random.key(0), (1, 2, 3))[0] == (1, 4, 4)


def test_bilinear_is_align_corners_with_torch7_output_size():
    x = jnp.array([[[0.0, 1.0], [2.0, 3.0]]])
    y = fnn.SpatialUpSamplingBilinear(2).apply((), x)
    assert y.shape == (1, 3, 3)  # (H-1)*s + 1, not H*s
    np.testing.assert_allclose(y, [[[0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [2.0, 2.5, 3.0]]])


def test_nearest_repeats_pixels():
    y = fnn.SpatialUpSamplingNearest(2).apply((), jnp.array([[[1.0, 2.0]]]))
    np.testing.assert_array_equal(y, [[[1, 1, 2, 2], [1, 1, 2, 2]]])


def test_one_example_equals_the_batch():
    xs = jnp.asarray(randn(2, 2, 4, 5))
    for m in (fnn.SpatialReflectionPadding(2, 1, 0, 3), fnn.SpatialUpSamplingBilinear(2),
              fnn.Upsample(scale_factor=2, mode="bicubic"), fnn.UpsamplingNearest2d(size=(5, 7))):
        np.testing.assert_allclose(m.apply((), xs[1]), m.apply((), xs)[1], atol=1e-12)


def test_names():
    assert str(fnn.SpatialZeroPadding(1, 2, 3, 4)) == "nn.SpatialZeroPadding(l=1, r=2, t=3, b=4)"
    assert str(fnn.SpatialUpSamplingBilinear(2)) == "nn.SpatialUpSamplingBilinear(2)"


# --------------------------------------------------------------------------- errors


def test_reflection_pad_must_be_smaller_than_the_input():
    with pytest.raises(ShapeError, match="reflection padding 3 must be smaller than the input size 3"):
        fnn.SpatialReflectionPadding(3).init(jax.random.key(0), (-1, 1, 3, 3))


def test_cropping_everything_is_a_shape_error():
    with pytest.raises(ShapeError, match="output size <= 0"):
        fnn.SpatialZeroPadding(-2, -1, 0, 0).init(jax.random.key(0), (-1, 1, 3, 3))


def test_rank_errors():
    with pytest.raises(ShapeError, match=r"expects input \(C, H, W\) or \(B, C, H, W\), got \(3, 3\)"):
        fnn.SpatialUpSamplingNearest(2).init(jax.random.key(0), (3, 3))
    with pytest.raises(ShapeError, match=r"expects input \(C, H, W\) or \(B, C, H, W\)"):
        fnn.Upsample(scale_factor=2, mode="bilinear").init(jax.random.key(0), (-1, 3))


@pytest.mark.parametrize("make", [
    lambda: fnn.SpatialReflectionPadding(-1),
    lambda: fnn.SpatialUpSamplingNearest(0),
    lambda: fnn.SpatialUpSamplingBilinear(2, oheight=3, owidth=3),
    lambda: fnn.Upsample(),
    lambda: fnn.Upsample(size=3, scale_factor=2),
    lambda: fnn.Upsample(size=3, mode="cubic"),
    lambda: fnn.Upsample(size=3, align_corners=True),
    lambda: fnn.Upsample(size=(3, 3), mode="linear"),
    lambda: fnn.ZeroPad2d((1, 2)),
])
def test_invalid_constructor_arguments(make):
    with pytest.raises(ConfigError):
        make()
