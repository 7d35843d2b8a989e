"""PixelShuffle, UpSampling, Volumetric/3-D replication padding (fnn/layers/_resample.py) against
PyTorch (forward and gradients, float64), and DepthConcat (fnn/layers/_depth_concat.py) against a
numpy transcription of torch7's ``windowNarrow``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError, ShapeError
from tests.layers.test_conv import randn, torch_parity

PARITY = [
    ("pixel-shuffle", lambda: fnn.PixelShuffle(2), lambda t: t.nn.PixelShuffle(2), (2, 8, 2, 3)),
    ("pixel-shuffle-single", lambda: fnn.PixelShuffle(3), lambda t: t.nn.PixelShuffle(3), (9, 2, 1)),
    ("up-nearest-2d", lambda: fnn.UpSampling(2), lambda t: t.nn.Upsample(scale_factor=2), (2, 2, 2, 3)),
    ("up-nearest-3d", lambda: fnn.UpSampling(3), lambda t: t.nn.Upsample(scale_factor=3), (1, 2, 2, 1, 2)),
    ("up-linear-2d", lambda: fnn.UpSampling(3, "bilinear"),
     lambda t: t.nn.Upsample(scale_factor=3, mode="bilinear", align_corners=True), (2, 1, 3, 2)),
    ("up-linear-3d", lambda: fnn.UpSampling({"odepth": 3, "oheight": 4, "owidth": 5}, "trilinear"),
     lambda t: t.nn.Upsample(size=(3, 4, 5), mode="trilinear", align_corners=True), (1, 2, 2, 3, 2)),
    ("up-linear-size", lambda: fnn.UpSampling((5, 2), "linear"),
     lambda t: t.nn.Upsample(size=(5, 2), mode="bilinear", align_corners=True), (2, 1, 3, 3)),
    ("vol-replication", lambda: fnn.VolumetricReplicationPadding(1, 2, 0, 1, 2, 0),
     lambda t: t.nn.ReplicationPad3d((1, 2, 0, 1, 2, 0)), (2, 1, 2, 3, 2)),
    ("vol-replication-default", lambda: fnn.VolumetricReplicationPadding(1),
     lambda t: t.nn.ReplicationPad3d(1), (1, 2, 2, 2)),
    ("replication-pad3d", lambda: fnn.ReplicationPad3d((0, 1, 1, 0, 1, 1)),
     lambda t: t.nn.ReplicationPad3d((0, 1, 1, 0, 1, 1)), (2, 1, 2, 2, 3)),
]


@pytest.mark.parametrize("make,ref,shape", [p[1:] for p in PARITY], ids=[p[0] for p in PARITY])
def test_torch_parity(torch, make, ref, shape):
    torch_parity(torch, make(), ref(torch), randn(*shape))


def _depth_concat_ref(outputs, dim):
    """torch7 DepthConcat: sizes = sum along dim, max elsewhere; each output narrowed into place at
    ``floor((max - size) / 2)`` in the other dims."""
    rank = outputs[0].ndim
    size = [max(o.shape[k] for o in outputs) for k in range(rank)]
    size[dim] = sum(o.shape[dim] for o in outputs)
    out = np.zeros(size)
    offset = 0
    for o in outputs:
        idx = []
        for k in range(rank):
            if k == dim:
                idx.append(slice(offset, offset + o.shape[k]))
            else:
                start = (size[k] - o.shape[k]) // 2
                idx.append(slice(start, start + o.shape[k]))
        out[tuple(idx)] = o
        offset += o.shape[dim]
    return out


def test_depth_concat_matches_torch7():
    conv = fnn.SpatialConvolution(2, 3, 3, 3)
    pool = fnn.SpatialMaxPooling(2, 2, 1, 1)
    model = fnn.DepthConcat(-3, fnn.Identity(), conv, pool)
    x = randn(2, 2, 6, 5)
    out_shape, params = model.init(jax.random.key(0), x.shape, jnp.float64)
    assert out_shape == (2, 7, 6, 5)
    y = model.apply(params, jnp.asarray(x))
    parts = [x, np.asarray(conv.apply(params[1], jnp.asarray(x))), np.asarray(pool.apply((), jnp.asarray(x)))]
    np.testing.assert_allclose(y, _depth_concat_ref(parts, 1), rtol=1e-12, atol=1e-12)
    single = model.apply(params, jnp.asarray(x[0]))
    np.testing.assert_allclose(single, y[0], rtol=1e-12, atol=1e-12)
    g = jax.grad(lambda v: jnp.sum(model.apply(params, v)))(jnp.asarray(x))
    assert g.shape == x.shape
    assert str(model).startswith("nn.DepthConcat {")


@pytest.mark.parametrize("make,shape,match", [
    (lambda: fnn.PixelShuffle(2), (2, 3, 3), "PixelShuffle"),
    (lambda: fnn.PixelShuffle(2), (4, 3), "PixelShuffle"),
    (lambda: fnn.UpSampling(2), (2, 3, 3), "UpSampling"),
    (lambda: fnn.UpSampling((3, 3), "linear"), (1, 1, 2, 2, 2), "odepth"),
    (lambda: fnn.VolumetricReplicationPadding(1), (2, 2, 2), "VolumetricReplicationPadding"),
    (lambda: fnn.ReplicationPad3d(1), (1, 2, 2, 2, 2, 2), "ReplicationPad3d"),
    (lambda: fnn.DepthConcat(0, fnn.Identity(), fnn.Sum(0)), (3, 2), "DepthConcat.*ranks"),
    (lambda: fnn.DepthConcat(0), (3, 2), "DepthConcat"),
])
def test_bad_inputs(make, shape, match):
    with pytest.raises(ShapeError, match=match):
        make().init(jax.random.key(0), shape)


@pytest.mark.parametrize("make,match", [
    (lambda: fnn.PixelShuffle(0), "upscale_factor"),
    (lambda: fnn.UpSampling((3, 3)), "nearest"),
    (lambda: fnn.UpSampling(2, "cubic"), "mode"),
    (lambda: fnn.UpSampling({"oheight": 3}, "linear"), "owidth"),
    (lambda: fnn.VolumetricReplicationPadding(1, -1), "pad_r"),
    (lambda: fnn.ReplicationPad3d((1, 1)), "6 ints"),
    (lambda: fnn.DepthConcat(1, "conv"), "DepthConcat"),
])
def test_bad_config(make, match):
    with pytest.raises(ConfigError, match=match):
        make()
