"""fnn.kernels on oneDNN, batch normalization: ``batch_norm_onednn`` computes the batch-statistics
normalisation (against the same arithmetic in float64), its gradients in one oneDNN call, tangents,
second derivatives and vmaps; the batch-norm layers run it inside ``implementation("onednn")``, with
the same values and running statistics as their XLA form, and nowhere else by default."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn import kernels as ck
from fnn.kernels import _onednn_norm

pytestmark = pytest.mark.skipif(not ck.onednn_available(), reason="oneDNN is not installed (onednn-cpu-gomp)")

SHAPES = [(4, 3), (2, 3, 7), (3, 4, 5, 6), (2, 2, 3, 4, 5), (1, 5, 2, 2)]  # 0-3 spatial dims, a batch of one


def randn(seed: int, *shape: int, scale: float = 1.0, shift: float = 0.0) -> jax.Array:
    return jax.random.normal(jax.random.key(seed), shape, jnp.float32) * scale + shift


def reference(x, w, b, eps=1e-5):
    """The normalisation in float64, written out: statistics over every dim but 1, biased variance."""
    x, w, b = (np.asarray(a, np.float64) for a in (x, w, b))
    axes = (0, *range(2, x.ndim))
    view = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axes), x.var(axes)
    y = (x - mean.reshape(view)) / np.sqrt(var.reshape(view) + eps) * w.reshape(view) + b.reshape(view)
    return y, mean, var


def inputs(shape, seed=0):
    c = shape[1]
    return randn(seed, *shape, scale=2.0, shift=1.5), randn(seed + 1, c), randn(seed + 2, c)


def close(got, want, atol=1e-5):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=1e-4, atol=atol)


@pytest.mark.parametrize("shape", SHAPES)
def test_values_and_statistics_equal_the_float64_arithmetic(shape):
    x, w, b = inputs(shape)
    got = jax.jit(ck.batch_norm_onednn)(x, w, b)
    for g, r in zip(got, reference(x, w, b), strict=True):
        close(g, r)


def test_hand_computed():
    x = jnp.array([[[1.0, 3.0]], [[5.0, 7.0]]], jnp.float32)  # (N=2, C=1, L=2): mean 4, biased variance 5
    y, mean, var = ck.batch_norm_onednn(x, jnp.array([2.0], jnp.float32), jnp.array([1.0], jnp.float32), eps=0.0)
    assert mean.tolist() == [4.0] and var.tolist() == [5.0]
    close(y[:, 0].ravel(), 2 * (np.array([1.0, 3.0, 5.0, 7.0]) - 4) / np.sqrt(5) + 1)


@pytest.mark.parametrize("shape", SHAPES[1:4])
def test_gradients_equal_the_reference_forms_and_run_on_onednn(shape):
    x, w, b = inputs(shape)
    r = randn(9, *shape)

    def loss(f):
        def value(x, w, b):
            y, _, var = f(x, w, b)
            return jnp.sum(y * r) + jnp.sum(var)  # the variance's gradient too

        return value

    grad = jax.jit(jax.grad(loss(ck.batch_norm_onednn), (0, 1, 2)))
    want = jax.grad(loss(lambda x, w, b: _onednn_norm._forward_ref(x, w, b, eps=1e-5)), (0, 1, 2))(x, w, b)
    for g, r_ in zip(grad(x, w, b), want, strict=True):
        close(g, r_, atol=1e-4)
    text = grad.lower(x, w, b).as_text()
    assert "fnn_onednn_norm" in text and text.count("stablehlo.custom_call") == 2  # forward, backward


def test_tangents_second_derivatives_and_vmap():
    x, w, b = inputs((3, 2, 4, 4))
    r = randn(5, *x.shape)
    mine = lambda x, w, b: jnp.sum(ck.batch_norm_onednn(x, w, b)[0] * r)
    ref = lambda x, w, b: jnp.sum(_onednn_norm._forward_ref(x, w, b, eps=1e-5)[0] * r)
    t = (randn(6, *x.shape), randn(7, 2), randn(8, 2))
    xs = jnp.stack([x, 3 * x + 1])  # each instance its own statistics

    @functools.partial(jax.jit, static_argnums=0)
    def derivatives(f):
        return (
            jax.jvp(f, (x, w, b), t)[1],
            jax.jvp(jax.grad(f), (x, w, b), t)[1],
            jax.hessian(lambda w: f(x, w, b))(w),
            jax.vmap(jax.grad(f), (0, None, None))(xs, w, b),
        )

    for got, want in zip(derivatives(mine), derivatives(ref), strict=True):
        close(got, want, atol=1e-4)


def test_bad_input_is_reported_by_name():
    x, w, b = jnp.ones((2, 3, 4), jnp.float32), jnp.ones(3, jnp.float32), jnp.zeros(3, jnp.float32)
    with pytest.raises(TypeError, match="batch_norm_onednn: oneDNN normalises float32, got float64"):
        ck.batch_norm_onednn(x.astype(jnp.float64), w, b)
    with pytest.raises(TypeError, match=r"weight and bias must be \(3,\), got \(4,\)"):
        ck.batch_norm_onednn(x, jnp.ones(4, jnp.float32), b)
    with pytest.raises(TypeError, match="weight and bias must be float32, got float64"):
        ck.batch_norm_onednn(x, w.astype(jnp.float64), b)
    with pytest.raises(TypeError, match="non-empty"):
        ck.batch_norm_onednn(x[:0], w, b)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (lambda: fnn.BatchNorm2d(3), (4, 3, 5, 5)),
        (lambda: fnn.SpatialBatchNormalization(3, affine=False), (4, 3, 5, 5)),
        (lambda: fnn.BatchNorm1d(3, momentum=None), (4, 3, 6)),
    ],
)
def test_layers_take_it_inside_implementation_onednn_with_the_same_values(layer, shape):
    x = randn(1, *shape, scale=3.0, shift=-2.0)
    init, apply = layer().stateful
    _, params, state = init(jax.random.key(0), shape)
    results = {}
    for impl in ("auto", "onednn"):  # new functions each time: jax caches a trace by the function
        step = lambda p, s, x: apply(p, s, x, train=True)
        loss = lambda p, s, x: jnp.sum(jnp.tanh(step(p, s, x)[0]))
        with ck.implementation(impl):
            y, new_state = jax.jit(step)(params, state, x)
            grads = jax.jit(jax.grad(loss, (0, 2)))(params, state, x)
            text = jax.jit(step).lower(params, state, x).as_text()
        assert ("fnn_onednn_norm" in text) == (impl == "onednn")
        results[impl] = (y, new_state, grads)
    for got, want in zip(jax.tree.leaves(results["onednn"]), jax.tree.leaves(results["auto"]), strict=True):
        close(got, want, atol=1e-4)


def test_evaluation_float64_and_synchronised_batch_norm_keep_xla():
    init, apply = fnn.BatchNorm2d(2).stateful
    _, params, state = init(jax.random.key(0), (4, 2, 3, 3))
    x = randn(2, 4, 2, 3, 3)
    with ck.implementation("onednn"):
        assert "fnn_onednn_norm" not in jax.jit(lambda x: apply(params, state, x)[0]).lower(x).as_text()
        p64, s64 = jax.tree.map(lambda a: a.astype(jnp.float64) if a.dtype == jnp.float32 else a, (params, state))
        f64 = jax.jit(lambda x: apply(p64, s64, x, train=True)[0])
        assert "fnn_onednn_norm" not in f64.lower(x.astype(jnp.float64)).as_text()
        sync_init, sync_apply = fnn.BatchNorm2d(2, axis_name="batch").stateful
        f = jax.vmap(lambda x: sync_apply(params, state, x, train=True)[0], axis_name="batch")
        assert "fnn_onednn_norm" not in jax.jit(f).lower(x).as_text()


def test_exported_programs_lower_to_xla_ops():
    x, w, b = inputs((2, 3, 4, 4))
    exported = jax.export.export(jax.jit(jax.grad(lambda x: jnp.sum(ck.batch_norm_onednn(x, w, b)[0] ** 2))))(x)
    assert "fnn_onednn_norm" not in exported.mlir_module()
    want = jax.grad(lambda x: jnp.sum(_onednn_norm._forward_ref(x, w, b, eps=1e-5)[0] ** 2))(x)
    close(exported.call(x), want, atol=1e-4)


def test_parity_with_pytorch(torch):
    x, w, b = inputs((8, 4, 6, 6))
    xt = torch.tensor(np.asarray(x), requires_grad=True)
    yt = torch.nn.functional.batch_norm(
        xt, None, None, torch.tensor(np.asarray(w)), torch.tensor(np.asarray(b)), training=True, eps=1e-5
    )
    r = randn(3, *x.shape)
    yt.backward(torch.tensor(np.asarray(r)))
    y, vjp = jax.vjp(lambda x: ck.batch_norm_onednn(x, w, b)[0], x)
    dx = vjp(r)[0]
    close(y, yt.detach().numpy())
    close(dx, xt.grad.numpy(), atol=1e-4)
