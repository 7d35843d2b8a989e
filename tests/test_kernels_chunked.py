"""fnn.kernels.conv2d_chunked: XLA's convolution whose weight gradient is summed over batch chunks.

Its value, both gradients and its tangents equal ``lax.conv_general_dilated``'s (float64 to 1e-12,
float32 to float rounding) for every stride, padding, dilation and group count, for batches the
chunk does not divide; forward mode, vmap and second derivatives work; and the dispatch takes it on
CPU only for the shapes where it measured faster.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from jax import lax

from fnn import kernels as ck
from tests.test_kernels import value_vjp_jvp

DN = ("NCHW", "OIHW", "NCHW")


def randn(seed: int, *shape: int, dtype=jnp.float64) -> jax.Array:
    return jax.random.normal(jax.random.key(seed), shape, dtype)


CASES = [  # (x shape, w shape, stride, padding, dilation, groups, chunk)
    ((5, 3, 7, 7), (4, 3, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1, 2),  # 5 = 2 + 2 + 1
    ((4, 2, 9, 8), (3, 2, 3, 2), (2, 1), ((0, 1), (2, 0)), (1, 2), 1, 3),  # 4 = 3 + 1
    ((6, 4, 6, 6), (4, 2, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 2, 4),  # grouped
    ((3, 4, 6, 6), (5, 4, 1, 1), (2, 2), ((0, 0), (0, 0)), (1, 1), 1, 1),  # a strided 1x1 shortcut, chunks of 1
    ((2, 2, 5, 5), (2, 2, 3, 3), (1, 1), ((-1, 0), (0, 0)), (1, 1), 1, 8),  # negative padding, one chunk
]


def lax_conv(x, w, s, p, d, g):
    return lax.conv_general_dilated(x, w, s, p, rhs_dilation=d, dimension_numbers=DN, feature_group_count=g)


@pytest.mark.parametrize("xs, ws, s, p, d, g, chunk", CASES)
def test_value_gradients_and_tangents_equal_xla(xs, ws, s, p, d, g, chunk):
    x, w = randn(0, *xs), randn(1, *ws)
    f = lambda x, w: ck.conv2d_chunked(x, w, s, p, d, g, chunk)
    ref = lambda x, w: lax_conv(x, w, s, p, d, g)
    dy, tx, tw = randn(2, *jax.eval_shape(ref, x, w).shape), randn(3, *xs), randn(4, *ws)
    got, want = value_vjp_jvp(f, x, w, dy, tx, tw), value_vjp_jvp(ref, x, w, dy, tx, tw)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.shape == b.shape and jnp.allclose(a, b, atol=1e-12)


STRIDED = [  # (x shape, w shape, stride, padding, groups): the input gradient by phases of the stride
    ((3, 2, 8, 8), (4, 2, 3, 3), (2, 2), ((1, 1), (1, 1)), 1),  # ResNet's downsampling, even size
    ((2, 3, 9, 7), (2, 3, 3, 3), (2, 2), ((1, 1), (1, 1)), 1),  # odd sizes: the last row is not read
    ((2, 2, 10, 11), (3, 2, 2, 4), (3, 2), ((0, 2), (-1, 1)), 1),  # stride > kernel rows; negative padding
    ((2, 4, 7, 7), (6, 2, 3, 3), (2, 3), ((2, 0), (1, 1)), 2),  # grouped
    ((1, 1, 4, 4), (1, 1, 5, 5), (2, 2), ((2, 2), (2, 2)), 1),  # kernel larger than twice the stride
]


@pytest.mark.parametrize("xs, ws, s, p, g", STRIDED)
def test_strided_convolutions_equal_xla_and_differentiate_by_phases(xs, ws, s, p, g):
    x, w = randn(0, *xs), randn(1, *ws)
    f = lambda x, w: ck.conv2d_chunked(x, w, s, p, (1, 1), g, 1)
    ref = lambda x, w: lax_conv(x, w, s, p, (1, 1), g)
    dy, tx, tw = randn(2, *jax.eval_shape(ref, x, w).shape), randn(3, *xs), randn(4, *ws)
    got, want = value_vjp_jvp(f, x, w, dy, tx, tw), value_vjp_jvp(ref, x, w, dy, tx, tw)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.shape == b.shape and jnp.allclose(a, b, atol=1e-12)
    f32 = [a.astype(jnp.float32) for a in (x, w, dy, tx, tw)]
    got, want = value_vjp_jvp(f, *f32)[1][0], value_vjp_jvp(ref, *f32)[1][0]  # the input gradient
    assert jnp.allclose(got, want, rtol=1e-5, atol=1e-5)
    # The input gradient is stride-1 convolutions (YNNPACK on XLA:CPU), never a base-dilated one (Eigen).
    jaxpr = str(jax.make_jaxpr(jax.grad(lambda x: jnp.sum(f(x, w) ** 2)))(x))
    assert "lhs_dilation=(1, 1)" in jaxpr and "lhs_dilation=(2" not in jaxpr and "lhs_dilation=(3" not in jaxpr


def test_one_gradient_at_a_time():
    """A network's input needs no input gradient (a symbolic-zero tangent): each gradient alone is XLA's."""
    x, w = randn(0, 5, 2, 6, 6), randn(1, 3, 2, 3, 3)
    f = lambda x, w: jnp.sum(jnp.tanh(ck.conv2d_chunked(x, w, chunk=2)))
    ref = lambda x, w: jnp.sum(jnp.tanh(lax_conv(x, w, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)))
    assert jnp.allclose(jax.grad(f, 1)(x, w), jax.grad(ref, 1)(x, w), atol=1e-12)
    assert jnp.allclose(jax.grad(f, 0)(x, w), jax.grad(ref, 0)(x, w), atol=1e-12)
    # the weight gradient alone computes no input-gradient convolution: one forward + the chunks' three
    jaxpr = str(jax.make_jaxpr(jax.grad(f, 1))(x, w))
    assert jaxpr.count("conv_general_dilated") == 1 + 3


def test_hand_computed_weight_gradient():
    # all-ones: each weight tap sees every one of the 5 x 2 x 2 output pixels once, in chunks 2 + 2 + 1
    x, w = jnp.ones((5, 2, 4, 4)), jnp.ones((3, 2, 3, 3))
    gw = jax.grad(lambda w: ck.conv2d_chunked(x, w, chunk=2).sum())(w)
    assert jnp.array_equal(gw, jnp.full((3, 2, 3, 3), 20.0))


def test_float32_matches_xla_to_rounding():
    x, w = randn(0, 40, 8, 10, 10, dtype=jnp.float32), randn(1, 8, 8, 3, 3, dtype=jnp.float32)
    pads = ((1, 1), (1, 1))
    f = jax.grad(lambda x, w: jnp.sum(jnp.sin(ck.conv2d_chunked(x, w, padding=pads, chunk=16))), (0, 1))
    ref = jax.grad(lambda x, w: jnp.sum(jnp.sin(lax_conv(x, w, (1, 1), pads, (1, 1), 1))), (0, 1))
    for a, b in zip(f(x, w), ref(x, w), strict=True):
        assert a.dtype == jnp.float32
        assert jnp.max(jnp.abs(a - b)) <= 1e-5 * jnp.max(jnp.abs(b))


def test_vmap_and_second_derivatives():
    xs, w = randn(0, 3, 4, 2, 5, 5), randn(1, 2, 2, 3, 3)
    f = lambda x, w: ck.conv2d_chunked(x, w, chunk=3)
    ref = lambda x, w: lax_conv(x, w, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    assert jnp.allclose(jax.vmap(f, (0, None))(xs, w), jax.vmap(ref, (0, None))(xs, w), atol=1e-12)
    per_example = jax.vmap(jax.grad(lambda x, w: jnp.sum(f(x, w) ** 2), 1), (0, None))(xs, w)
    assert jnp.allclose(per_example, jax.vmap(jax.grad(lambda x, w: jnp.sum(ref(x, w) ** 2), 1), (0, None))(xs, w))
    x, v = xs[0], randn(2, 2, 2, 3, 3)
    hvp = lambda g: jax.jvp(jax.grad(lambda w: jnp.sum(jnp.tanh(g(x, w)))), (w,), (v,))[1]
    assert jnp.allclose(hvp(f), hvp(ref), atol=1e-12)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"conv2d_chunked expects x \(B, C, H, W\)"):
        ck.conv2d_chunked(jnp.zeros((2, 3, 4)), jnp.zeros((1, 3, 3, 3)))
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        ck.conv2d_chunked(jnp.zeros((2, 3, 4, 4)), jnp.zeros((1, 3, 3, 3)), chunk=0)


def _forms(x_shape, w_shape, **kw) -> str:
    """What conv2d traces to on this platform, ``impl="auto"``."""
    jaxpr = str(jax.make_jaxpr(lambda x, w: ck.conv2d(x, w, **kw))(jnp.zeros(x_shape), jnp.zeros(w_shape)))
    return "chunked" if "custom_jvp_call" in jaxpr else "toeplitz" if "dot_general" in jaxpr else "xla"


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the dispatch picks the CPU forms on CPU only")
def test_dispatch_takes_each_form_where_it_wins():
    assert _forms((128, 16, 32, 32), (16, 16, 3, 3), padding=1) == "chunked"  # ResNet's 16-, 32-, 64-channel stages
    assert _forms((128, 32, 16, 16), (64, 32, 1, 1), stride=2) == "chunked"  # a projection shortcut
    assert _forms((128, 3, 32, 32), (16, 3, 3, 3), padding=1) == "toeplitz"  # a CIFAR stem: 3 input channels
    assert _forms((128, 1, 32, 32), (6, 1, 5, 5)) == "toeplitz"  # LeNet
    assert _forms((128, 256, 4, 4), (256, 256, 3, 3), padding=1) == "xla"  # 16 output pixels: XLA's own is faster
    assert _forms((8, 16, 32, 32), (16, 16, 3, 3), padding=1) == "xla"  # a single chunk
    assert _forms((128, 16, 32, 32), (16, 16, 3, 3), padding=1, impl="xla") == "xla"
    assert _forms((4, 16, 8, 8), (16, 16, 3, 3), impl="chunked") == "chunked"
    with ck.implementation("chunked"):
        assert _forms((4, 1, 8, 8), (2, 1, 3, 3)) == "chunked"
    assert ck.chunk_size((128, 16, 32, 32), (32, 32)) == 16 and ck.chunk_size((16, 16, 8, 8), (8, 8)) is None


def test_fnn_layers_train_the_same_through_the_chunked_form():
    """A Conv2d-BN-ReLU block's loss gradient traced with ``implementation("chunked")`` equals XLA's."""
    import fnn

    net = fnn.Sequential(fnn.Conv2d(3, 4, 3, stride=2, padding=1), fnn.BatchNorm2d(4), fnn.ReLU(),
                         fnn.Conv2d(4, 2, 1))  # fmt: skip
    _, params, state = net.stateful.init(jax.random.key(0), (-1, 3, 6, 6), jnp.float64)
    x = randn(1, 5, 3, 6, 6)

    def grads(impl):
        with ck.implementation(impl):
            loss = lambda p: jnp.sum(jnp.tanh(net.stateful.apply(p, state, x, train=True)[0]))
            return jax.grad(loss)(params)

    for a, b in zip(jax.tree.leaves(grads("chunked")), jax.tree.leaves(grads("xla")), strict=True):
        assert jnp.allclose(a, b, atol=1e-12)


def test_the_chunked_convolution_computes_channels_last_without_a_barrier():
    """NHWC convolutions between transposes (XLA cancels them against batch norm's), and no fusion
    barrier: each chunk's layout copy reads its own slice of the batch, so nothing is recomputed."""
    x, w = jnp.ones((4, 2, 6, 6)), jnp.ones((3, 2, 3, 3))
    grads = jax.grad(lambda x, w: jnp.sum(ck.conv2d_chunked(jnp.tanh(x), w, chunk=2) ** 2), (0, 1))
    forward = str(jax.make_jaxpr(lambda x, w: ck.conv2d_chunked(x, w, chunk=2))(x, w))
    assert "lhs_spec=(0, 3, 1, 2)" in forward and "out_spec=(0, 3, 1, 2)" in forward  # NHWC in and out
    assert "conditional(" not in jax.jit(grads).lower(x, w).compile().as_text()
