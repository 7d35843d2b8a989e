"""fnn.kernels: the banded-GEMM convolution and the max-of-taps pooling compute exactly what
``lax.conv_general_dilated`` and ``lax.reduce_window`` compute (values, gradients, tangents,
vmap), agree with PyTorch, and take the fast form only where the dispatch rules say so."""

from __future__ import annotations

import functools
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from fnn import kernels as ck

DN = ("NCHW", "OIHW", "NCHW")


def randn(seed: int, *shape: int) -> jax.Array:
    return jax.random.normal(jax.random.key(seed), shape, jnp.float64)


def lax_conv(x, w, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    return lax.conv_general_dilated(x, w, stride, padding, rhs_dilation=dilation, dimension_numbers=DN,
                                    feature_group_count=groups)


@functools.partial(jax.jit, static_argnums=0)  # one compiled program per form, not one per op
def value_vjp_jvp(f, x, w, dy, tx, tw):
    """``f(x, w)``, its cotangents for ``dy`` and its tangent along ``(tx, tw)``."""
    y, vjp = jax.vjp(f, x, w)
    return y, vjp(dy), jax.jvp(f, (x, w), (tx, tw))[1]


CONVS = [  # (x shape, w shape, stride, padding, dilation, block)
    ((2, 1, 8, 8), (3, 1, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), None),
    ((2, 3, 7, 9), (4, 3, 3, 2), (1, 1), ((1, 1), (1, 1)), (1, 1), None),
    ((1, 2, 9, 10), (2, 2, 3, 3), (2, 1), ((0, 1), (2, 0)), (1, 2), 3),
    ((3, 2, 6, 11), (5, 2, 2, 3), (1, 2), ((0, 0), (1, 1)), (2, 1), 2),
    ((2, 1, 6, 7), (2, 1, 1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 4),  # a block that does not divide W'
]


@pytest.mark.parametrize("xs, ws, s, p, d, block", CONVS)
def test_toeplitz_equals_xla_convolution(xs, ws, s, p, d, block):
    x, w = randn(0, *xs), randn(1, *ws)
    f = lambda x, w: ck.conv2d_toeplitz(x, w, s, p, d, block=block)
    ref = lambda x, w: lax_conv(x, w, s, p, d)
    dy = randn(2, *jax.eval_shape(ref, x, w).shape)
    tx, tw = randn(3, *xs), randn(4, *ws)
    got, want = value_vjp_jvp(f, x, w, dy, tx, tw), value_vjp_jvp(ref, x, w, dy, tx, tw)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.shape == b.shape and jnp.allclose(a, b, atol=1e-12)


def test_toeplitz_hand_computed():
    x = jnp.arange(16.0).reshape(1, 1, 4, 4)
    y = ck.conv2d_toeplitz(x, jnp.array([[[[1.0, 0.0], [0.0, -1.0]]]]))
    assert jnp.array_equal(y[0, 0], -5.0 * jnp.ones((3, 3)))  # x[i, j] - x[i + 1, j + 1]


def test_vmap_equals_the_batched_call():
    xs, w = randn(0, 3, 2, 2, 6, 6), randn(1, 4, 2, 3, 3)
    batched = jax.vmap(lambda x: ck.conv2d(x, w, impl="toeplitz"))(xs)
    assert jnp.allclose(batched, jnp.stack([lax_conv(x, w) for x in xs]), atol=1e-12)


def test_dispatch_rules():
    assert ck.use_toeplitz((128, 1, 32, 32), (6, 1, 5, 5))  # LeNet-5
    assert ck.use_toeplitz((128, 6, 14, 14), (16, 6, 5, 5))
    assert not ck.use_toeplitz((128, 64, 8, 8), (128, 64, 3, 3))  # many channels: XLA's convolution
    assert not ck.use_toeplitz((128, 16, 16, 16), (32, 16, 3, 3), stride=2)
    assert not ck.use_toeplitz((8, 4, 8, 8), (4, 2, 3, 3), groups=2)
    assert [ck.block_width(28, 5, 6), ck.block_width(10, 5, 16), ck.block_width(8, 3, 6)] == [14, 10, 8]


def test_small_convolutions_compile_without_xla_convolution_on_cpu():
    x, w = jnp.zeros((4, 1, 32, 32), jnp.float32), jnp.zeros((6, 1, 5, 5), jnp.float32)
    hlo = jax.jit(lambda x, w: ck.conv2d(x, w)).lower(x, w).as_text()
    assert ("convolution" in hlo) == (jax.default_backend() != "cpu")
    big = jax.jit(lambda x, w: ck.conv2d(x, w)).lower(jnp.zeros((2, 64, 8, 8)), jnp.zeros((8, 64, 3, 3))).as_text()
    assert "convolution" in big


@pytest.mark.parametrize("impl", ["auto", "xla", "toeplitz"])
def test_every_impl_gives_the_same_result(impl):
    x, w = randn(0, 2, 3, 8, 8), randn(1, 4, 3, 3, 3)
    assert jnp.allclose(ck.conv2d(x, w, 1, 1, impl=impl), lax_conv(x, w, padding=((1, 1), (1, 1))), atol=1e-12)


def test_grouped_convolutions_stay_on_xla():
    x, w = randn(0, 2, 4, 6, 6), randn(1, 4, 2, 3, 3)
    assert jnp.allclose(ck.conv2d(x, w, groups=2), lax_conv(x, w, groups=2), atol=1e-12)
    with pytest.raises(ValueError, match="one group"):
        ck.conv2d(x, w, groups=2, impl="toeplitz")
    with pytest.raises(ValueError, match="impl"):
        ck.conv2d(x, w, impl="fast")


def test_implementation_block_is_read_at_trace_time():
    x, w = jnp.zeros((1, 1, 8, 8)), jnp.zeros((2, 1, 3, 3))
    with ck.implementation("xla"):
        assert ck.current_implementation() == "xla"
        xla = str(jax.make_jaxpr(lambda x, w: ck.conv2d(x, w))(x, w))
        assert "conv_general_dilated" in xla and "dot_general" not in xla
        toeplitz = str(jax.make_jaxpr(lambda x, w: ck.conv2d(x, w, impl="toeplitz"))(x, w))  # impl= still wins
        assert "conv_general_dilated" not in toeplitz and "dot_general" in toeplitz
    assert ck.current_implementation() == "auto"
    # "auto" again: the Toeplitz branch is back (in a new function: JAX caches the trace of ck.conv2d above)
    assert "dot_general" in str(jax.make_jaxpr(lambda x, w: ck.conv2d(x, w))(x, w))


def test_implementation_blocks_nest_and_stay_in_their_thread():
    seen = []
    with ck.implementation("xla"):
        with ck.implementation("toeplitz"):
            seen.append(ck.current_implementation())
            thread = threading.Thread(target=lambda: seen.append(ck.current_implementation()))
            thread.start()
            thread.join()
        seen.append(ck.current_implementation())
    seen.append(ck.current_implementation())
    assert seen == ["toeplitz", "auto", "xla", "auto"]  # a new thread starts from the default


def test_implementation_is_checked_and_the_old_global_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="implementation: impl must be"), ck.implementation("fast"):
        pass
    with pytest.raises(AttributeError, match="replaced by `with fnn.kernels.implementation"):
        ck.DEFAULT_IMPL  # noqa: B018
    monkeypatch.setattr(ck, "DEFAULT_IMPL", "xla", raising=False)  # fnn 0.1 code would be silently ignored
    with pytest.raises(ValueError, match="DEFAULT_IMPL is gone"):
        ck.conv2d(jnp.zeros((1, 1, 4, 4)), jnp.zeros((1, 1, 3, 3)))


@pytest.mark.torch
@pytest.mark.parametrize("xs, ws, s, p, d, block", CONVS[:4])
def test_parity_with_pytorch(torch, xs, ws, s, p, d, block):
    (pt, pb), (pl, pr) = p
    x, w = randn(0, *xs), randn(1, *ws)
    xt = torch.tensor(np.pad(np.asarray(x), ((0, 0), (0, 0), (pt, pb), (pl, pr))), requires_grad=True)
    wt = torch.tensor(np.asarray(w), requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, stride=s, dilation=d)
    f = lambda x, w: ck.conv2d_toeplitz(x, w, s, p, d, block=block)
    y, back = jax.vjp(f, x, w)
    np.testing.assert_allclose(np.asarray(y), yt.detach().numpy(), atol=1e-12)
    dy = randn(2, *y.shape)
    yt.backward(torch.tensor(np.asarray(dy)))
    gx, gw = back(dy)
    gxt = xt.grad.numpy()[:, :, pt : pt + xs[2], pl : pl + xs[3]]
    np.testing.assert_allclose(np.asarray(gx), gxt, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gw), wt.grad.numpy(), atol=1e-12)


# --------------------------------------------------------------------------- max pooling

POOLS = [  # (shape, window, strides, padding): the windows are on the trailing dims
    ((2, 3, 8, 8), (2, 2), None, None),
    ((2, 3, 9, 7), (2, 2), None, None),  # floor mode drops the last row and column
    ((1, 2, 6, 6), (2, 2), (2, 2), ((1, 1), (1, 1))),  # -inf padding never wins
    ((2, 2, 7, 7), (3, 3), (1, 1), None),  # overlapping windows
    ((2, 2, 9, 7), (3, 3), (2, 2), None),
    ((5,), (2,), None, None),
    ((2, 4, 6), (1, 2, 3), (1, 2, 3), None),  # a full-rank window
]


def reduce_window_max(x, window, strides, padding):
    lead = x.ndim - len(window)
    strides = strides or window
    pads = [(0, 0)] * lead + list(padding or [(0, 0)] * len(window))
    return lax.reduce_window(x, -jnp.inf, lax.max, (1,) * lead + window, (1,) * lead + strides, pads)


@pytest.mark.parametrize("shape, window, strides, padding", POOLS)
def test_max_pool_equals_reduce_window_with_ties(shape, window, strides, padding):
    x = jax.random.randint(jax.random.key(0), shape, 0, 3).astype(jnp.float64)  # many ties
    f = lambda x: ck.max_pool(x, window, strides, padding)
    ref = lambda x: reduce_window_max(x, window, strides, padding)
    dy, t, x_distinct = randn(1, *jax.eval_shape(ref, x).shape), randn(2, *shape), randn(3, *shape)

    @functools.partial(jax.jit, static_argnums=0)  # one compiled program per form, not one per op
    def results(pool):
        return pool(x), jax.jvp(pool, (x,), (t,))[1], jax.jvp(pool, (x_distinct,), (t,))[1]

    (y, tangent, tangent_distinct), (y_ref, _, tangent_distinct_ref) = results(f), results(ref)
    assert jnp.array_equal(y, y_ref)
    # op by op, as jit may sum overlapping windows' gradients in another order than select_and_scatter
    grad = jax.vjp(f, x)[1](dy)[0]
    assert jnp.array_equal(grad, jax.vjp(ref, x)[1](dy)[0])  # the first max takes it all
    # Forward mode is the transpose of reverse mode (reduce_window's own jvp may pick another tied
    # element than its vjp: the two disagree on ties, so it is no reference for tangents).
    assert jnp.allclose(jnp.vdot(tangent, dy), jnp.vdot(t, grad))
    assert jnp.allclose(tangent_distinct, tangent_distinct_ref)


def test_max_pool_gradient_goes_to_the_first_max():
    x = jnp.array([[1.0, 3.0, 2.0, 2.0], [3.0, 3.0, 1.0, 0.0]])
    assert jnp.array_equal(ck.max_pool(x, (2, 2)), jnp.array([[3.0, 2.0]]))
    g = jax.grad(lambda x: jnp.sum(ck.max_pool(x, (2, 2)) * jnp.array([[1.0, 10.0]])))(x)
    assert jnp.array_equal(g, jnp.array([[0.0, 1.0, 10.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))


def test_max_pool_propagates_nan():
    x = jnp.array([[1.0, jnp.nan], [0.0, 2.0]])
    assert jnp.isnan(ck.max_pool(x, (2, 2))[0, 0])
    g = jax.grad(lambda x: jnp.sum(ck.max_pool(x, (2, 2))))(x)
    assert jnp.array_equal(jnp.isnan(g), jnp.zeros((2, 2), bool)) and float(g[0, 1]) == 1.0


def test_max_pool_dispatch_rule():
    assert ck.use_max_taps((1, 1, 2, 2), (1, 1, 2, 2))
    assert ck.use_max_taps((3, 3), (1, 1))
    assert not ck.use_max_taps((3, 3), (2, 2))
    assert not ck.use_max_taps((4, 4), (4, 4))


@pytest.mark.parametrize("impl", ["auto", "xla", "toeplitz"])
@pytest.mark.parametrize("window, strides", [((2, 2), (2, 2)), ((3, 3), (1, 1)), ((3, 3), (2, 2))])
def test_reduce_max_dispatch_gives_reduce_windows_values_and_gradients(impl, window, strides):
    x = jax.random.randint(jax.random.key(0), (2, 3, 9, 8), 0, 3).astype(jnp.float64)
    full = lambda t: (1, 1, *t)
    pads = [(0, 0), (0, 0), (1, 0), (0, 1)]
    f = lambda x: ck.reduce_max(x, full(window), full(strides), pads, impl=impl)
    ref = lambda x: lax.reduce_window(x, -jnp.inf, lax.max, full(window), full(strides), pads)
    y, back = jax.vjp(f, x)
    y_ref, back_ref = jax.vjp(ref, x)
    assert jnp.array_equal(y, y_ref)
    dy = randn(1, *y.shape)
    assert jnp.array_equal(back(dy)[0], back_ref(dy)[0])
    assert jnp.array_equal(jax.jit(jax.vmap(f))(x[:, None])[:, 0], y_ref)


def test_reduce_max_takes_the_taps_only_on_cpu_and_where_they_win():
    x, one = jnp.zeros((1, 1, 8, 8)), (1, 1)
    taps_hlo = jax.jit(lambda x: ck.reduce_max(x, (*one, 2, 2), (*one, 2, 2), [(0, 0)] * 4)).lower(x).as_text()
    assert "reduce_window" not in taps_hlo  # lowered for this (CPU) machine: the platform branch is gone
    lose = jax.jit(lambda x: ck.reduce_max(x, (*one, 3, 3), (*one, 2, 2), [(0, 0)] * 4)).lower(x).as_text()
    assert "reduce_window" in lose
    with ck.implementation("xla"):
        assert "reduce_window" in str(jax.make_jaxpr(lambda x: ck.reduce_max(x, (*one, 2, 2), (*one, 2, 2),
                                                                            [(0, 0)] * 4))(x))
    with pytest.raises(ValueError, match="reduce_max: impl"):
        ck.reduce_max(x, (1, 1, 2, 2), (1, 1, 2, 2), [(0, 0)] * 4, impl="taps")


@pytest.mark.torch
@pytest.mark.parametrize("k, s", [(2, 2), (3, 1), (3, 2)])
def test_max_pool_parity_with_pytorch(torch, k, s):
    x = jax.random.randint(jax.random.key(0), (2, 3, 7, 8), 0, 4).astype(jnp.float64)
    xt = torch.tensor(np.asarray(x), requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, k, s)
    y, back = jax.vjp(lambda x: ck.max_pool(x, (k, k), (s, s)), x)
    np.testing.assert_array_equal(np.asarray(y), yt.detach().numpy())
    dy = randn(1, *y.shape)
    yt.backward(torch.tensor(np.asarray(dy)))
    np.testing.assert_allclose(np.asarray(back(dy)[0]), xt.grad.numpy(), atol=1e-12)


def test_the_kernels_run_in_float32_and_float64():
    for dtype in (jnp.float32, jnp.float64):
        x, w = jnp.ones((1, 1, 6, 6), dtype), jnp.ones((2, 1, 3, 3), dtype)
        assert ck.conv2d_toeplitz(x, w).dtype == dtype
        assert ck.max_pool(x, (2, 2)).dtype == dtype


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="expects x"):
        ck.conv2d_toeplitz(jnp.ones((1, 2, 5, 5)), jnp.ones((1, 3, 3, 3)))
    with pytest.raises(ValueError, match="does not fit"):
        ck.conv2d_toeplitz(jnp.ones((1, 1, 2, 2)), jnp.ones((1, 1, 3, 3)))


def test_lenet_shapes_match_xla_in_float32():
    for (xs, ws) in [((4, 1, 32, 32), (6, 1, 5, 5)), ((4, 6, 14, 14), (16, 6, 5, 5))]:
        x = jax.random.normal(jax.random.key(0), xs, jnp.float32)
        w = jax.random.normal(jax.random.key(1), ws, jnp.float32)
        ref = lax_conv(x, w)
        assert jnp.allclose(ck.conv2d(x, w), ref, rtol=1e-5, atol=1e-4 * float(jnp.max(jnp.abs(ref))))



def test_non_finite_inputs_never_give_a_wrong_finite_output():
    """The band multiplies an inf by zeros (NaN across its row block): documented; every finite
    output must still be exact, and the receptive field stays non-finite."""
    x = randn(0, 2, 2, 9, 12).at[0, 1, 4, 3].set(jnp.inf).at[1, 0, 2, 7].set(jnp.nan)
    w = randn(1, 3, 2, 3, 3)
    y, ref = ck.conv2d(x, w, impl="toeplitz"), lax_conv(x, w)
    finite = jnp.isfinite(y)
    assert jnp.allclose(jnp.where(finite, y, 0.0), jnp.where(finite, ref, 0.0), atol=1e-12)
    assert not jnp.any(finite & ~jnp.isfinite(ref))
    assert jnp.array_equal(ck.conv2d(x, w, impl="xla"), ref, equal_nan=True)
