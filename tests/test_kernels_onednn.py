"""fnn.kernels on oneDNN: ``conv2d_onednn`` computes ``lax.conv_general_dilated``'s values, both
gradients, tangents, second derivatives and vmaps (against XLA's convolution in float64 on the same
float32 inputs), agrees with PyTorch, is what ``"auto"`` runs on CPU for float32, reports bad input
and failures in the library as fnn errors, and steps aside where it is off or does not apply."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from fnn import kernels as ck
from fnn.kernels import _onednn, _xla_ffi

pytestmark = pytest.mark.skipif(not ck.onednn_available(), reason="oneDNN is not installed (onednn-cpu-gomp)")

DN = ("NCHW", "OIHW", "NCHW")

CONVS = [  # (x shape, w shape, stride, padding, dilation)
    ((2, 1, 8, 8), (3, 1, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1)),
    ((2, 3, 7, 9), (4, 3, 3, 2), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    ((1, 2, 9, 10), (2, 2, 3, 3), (2, 1), ((0, 1), (2, 0)), (1, 2)),  # asymmetric padding, dilation
    ((3, 2, 6, 11), (5, 2, 2, 3), (1, 2), ((0, 0), (1, 1)), (2, 1)),
    ((4, 16, 8, 8), (16, 16, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),  # ResNet-20's block, its JIT kernel
    ((4, 16, 8, 8), (32, 16, 1, 1), (2, 2), ((0, 0), (0, 0)), (1, 1)),  # ResNet-20's 1x1 projection
    ((2, 6, 14, 14), (16, 6, 5, 5), (1, 1), ((0, 0), (0, 0)), (1, 1)),  # LeNet-5's second convolution
]


def randn(seed: int, *shape: int) -> jax.Array:
    return jax.random.normal(jax.random.key(seed), shape, jnp.float32)


def lax_conv(x, w, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1)):
    """XLA's convolution in float64: the reference for oneDNN's float32 results."""
    x, w = x.astype(jnp.float64), w.astype(jnp.float64)
    return lax.conv_general_dilated(x, w, stride, padding, rhs_dilation=dilation, dimension_numbers=DN)


def close(got, want, scale=None):
    """float32 against float64: within 1e-5 of the reference's magnitude."""
    assert got.shape == want.shape and got.dtype == jnp.float32
    scale = float(jnp.max(jnp.abs(want))) if scale is None else scale
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want), rtol=0, atol=1e-5 * max(scale, 1.0))


@pytest.mark.parametrize("xs, ws, s, p, d", CONVS)
def test_forward_and_both_gradients_equal_xlas_convolution(xs, ws, s, p, d):
    x, w = randn(0, *xs), randn(1, *ws)
    f = jax.jit(lambda x, w: ck.conv2d_onednn(x, w, s, p, d))
    ref = lambda x, w: lax_conv(x, w, s, p, d)
    y = f(x, w)
    close(y, ref(x, w))
    dy = randn(2, *y.shape)
    got = jax.jit(lambda x, w, dy: jax.vjp(f, x, w)[1](dy))(x, w, dy)
    want = jax.vjp(ref, x, w)[1](dy.astype(jnp.float64))
    for a, b in zip(got, want, strict=True):
        close(a, b)


def test_hand_computed():
    x = jnp.arange(16.0, dtype=jnp.float32).reshape(1, 1, 4, 4)
    y = ck.conv2d_onednn(x, jnp.array([[[[1.0, 0.0], [0.0, -1.0]]]], jnp.float32))
    assert jnp.array_equal(y[0, 0], -5.0 * jnp.ones((3, 3), jnp.float32))  # x[i, j] - x[i + 1, j + 1]
    ones = ck.conv2d_onednn(jnp.ones((2, 1, 5, 5), jnp.float32), jnp.ones((3, 1, 3, 3), jnp.float32),
                            padding=((1, 1), (1, 1)))  # fmt: skip
    assert float(ones[1, 2, 0, 0]) == 4.0 and float(ones[1, 2, 2, 2]) == 9.0 and float(ones[0, 0, 0, 2]) == 6.0


def test_tangents_and_second_derivatives():
    """jvp, linearize and a Hessian-vector product: each a composition of the three operations."""
    xs, ws, s, p, d = CONVS[2]
    x, w, tx, tw = randn(0, *xs), randn(1, *ws), randn(2, *xs), randn(3, *ws)
    f = lambda x, w: ck.conv2d_onednn(x, w, s, p, d)
    ref = lambda x, w: lax_conv(x, w, s, p, d)
    (y, ty), (y_ref, ty_ref) = jax.jvp(f, (x, w), (tx, tw)), jax.jvp(ref, (x, w), (tx, tw))
    close(y, y_ref)
    close(ty, ty_ref)
    close(jax.linearize(f, x, w)[1](tx, tw), ty_ref)
    loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))
    hvp = lambda f: jax.jvp(jax.grad(loss(f), argnums=(0, 1)), (x, w), (tx, tw))[1]
    for a, b in zip(hvp(f), hvp(ref), strict=True):
        close(a, b)


def test_vmap_over_images_folds_into_one_call_and_per_example_gradients_are_exact():
    xs, ws, s, p, d = CONVS[1]
    x, w = randn(0, 3, *xs), randn(1, *ws)
    f = lambda x, w: ck.conv2d_onednn(x, w, s, p, d)
    jaxpr = str(jax.make_jaxpr(jax.vmap(f, in_axes=(0, None)))(x, w))
    assert jaxpr.count("fnn_onednn_conv") == 1 and "6,3,7,9" in jaxpr.replace(" ", "")  # 3 x 2 images at once
    close(jax.vmap(f, in_axes=(0, None))(x, w), jax.vmap(lambda x: lax_conv(x, w, s, p, d))(x))
    per_example = lambda f: jax.vmap(jax.grad(lambda w, x: jnp.sum(jnp.sin(f(x, w)))), in_axes=(None, 0))
    close(per_example(f)(w, x), per_example(lambda x, w: lax_conv(x, w, s, p, d))(w, x))
    ensemble = jax.vmap(f, in_axes=(None, 0))(x[0], jnp.stack([w, 2 * w]))  # stacked weights
    close(ensemble[1], 2 * lax_conv(x[0], w, s, p, d))


def test_auto_runs_float32_on_onednn_and_float64_and_small_calls_on_the_pure_jax_forms():
    x, w = jnp.zeros((16, 3, 8, 8), jnp.float32), jnp.zeros((4, 3, 3, 3), jnp.float32)  # 16 x 8 x 8 = 1024 rows
    conv = lambda x, w: ck.conv2d(x, w, padding=1)
    assert "fnn_onednn_conv" in jax.jit(conv).lower(x, w).as_text()
    assert "fnn_onednn_conv" not in jax.jit(conv).lower(x.astype(jnp.float64), w.astype(jnp.float64)).as_text()
    assert "fnn_onednn_conv" not in jax.jit(conv).lower(x[:15], w).as_text()  # 960 rows: below ONEDNN_MIN_ROWS
    pad = ((1, 1), (1, 1))
    assert ck.use_onednn(x, w, 1, pad) and not ck.use_onednn(x, w, 3, pad) and not ck.use_onednn(x[:15], w, 1, pad)
    assert not ck.use_onednn(x, w, 1, pad, stride=(2, 2))  # 16 x 4 x 4 rows
    assert not ck.use_onednn(x.astype(jnp.float64), w.astype(jnp.float64), 1, pad)
    assert ck._dispatch.ONEDNN_MIN_ROWS == 1024


def test_impl_onednn_falls_back_to_xla_where_it_does_not_apply():
    x, w = randn(0, 2, 4, 6, 6), randn(1, 4, 2, 3, 3)
    grouped = lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=DN, feature_group_count=2)
    np.testing.assert_allclose(ck.conv2d(x, w, groups=2, impl="onednn"), grouped, rtol=1e-6, atol=1e-6)
    x64, w64 = x.astype(jnp.float64), randn(1, 4, 4, 3, 3).astype(jnp.float64)
    assert ck.conv2d(x64, w64, impl="onednn").dtype == jnp.float64
    with ck.implementation("onednn"):
        assert "fnn_onednn_conv" in str(jax.make_jaxpr(lambda x, w: ck.conv2d(x, w))(x, randn(1, 4, 4, 3, 3)))


def test_bad_input_is_reported_by_name():
    x, w = jnp.ones((1, 2, 5, 5), jnp.float32), jnp.ones((3, 2, 3, 3), jnp.float32)
    with pytest.raises(TypeError, match=r"conv2d_onednn: expected x \(B, C, H, W\)"):
        ck.conv2d_onednn(x, jnp.ones((3, 1, 3, 3), jnp.float32))
    with pytest.raises(TypeError, match="oneDNN convolves float32, got float64"):
        ck.conv2d_onednn(x.astype(jnp.float64), w)
    with pytest.raises(TypeError, match="padding must be >= 0"):
        ck.conv2d_onednn(x, w, padding=((-1, 0), (0, 0)))
    with pytest.raises(TypeError, match="give no output"):
        ck.conv2d_onednn(x, jnp.ones((3, 2, 7, 7), jnp.float32))


def test_a_failure_inside_the_ffi_handler_becomes_an_error_with_its_message():
    def fails(key, inputs, outputs):
        raise ValueError(f"no plan for {key.decode()}")

    def doubles(key, inputs, outputs):
        array = (ctypes.c_float * 3).from_address(inputs[0])
        (ctypes.c_float * 3).from_address(outputs[0])[:] = [2 * v for v in array]

    _xla_ffi.register("fnn_test_fails", fails)
    _xla_ffi.register("fnn_test_doubles", doubles)
    x, out = jnp.arange(3.0, dtype=jnp.float32), jax.ShapeDtypeStruct((3,), jnp.float32)
    assert jnp.array_equal(jax.ffi.ffi_call("fnn_test_doubles", out)(x, key="k"), 2 * x)
    with pytest.raises(Exception, match="no plan for the key"):
        jax.block_until_ready(jax.ffi.ffi_call("fnn_test_fails", out)(x, key="the key"))


def test_calls_from_two_threads_at_once_stay_correct():
    xs, ws, s, p, d = CONVS[4]
    f = jax.jit(jax.grad(lambda x, w: jnp.sum(ck.conv2d_onednn(x, w, s, p, d) ** 2), argnums=(0, 1)))
    inputs = [(randn(i, *xs), randn(10 + i, *ws)) for i in range(2)]
    want = [jax.grad(lambda x, w: jnp.sum(lax_conv(x, w, s, p, d) ** 2), argnums=(0, 1))(*a) for a in inputs]
    results: dict[int, list] = {0: [], 1: []}

    def work(i):
        results[i].extend(f(*inputs[i]) for _ in range(5))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        for got in results[i]:
            for a, b in zip(got, want[i], strict=True):
                close(a, b)


def test_a_plan_names_the_kernel_oneDNN_chose():
    g = _onednn.Geometry((4, 16, 8, 8), (16, 16, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1))
    plan = _onednn.plan(g)
    assert plan is _onednn.plan(g)  # one plan per geometry
    assert all(op.implementation for op in plan.ops.values()) and g.y_shape == (4, 16, 8, 8)


def test_fnn_onednn_0_turns_it_off():
    code = ("import jax.numpy as jnp; from fnn import kernels as ck; assert not ck.onednn_available(); "
            "x, w = jnp.ones((128, 2, 5, 5), jnp.float32), jnp.ones((3, 2, 3, 3), jnp.float32); "
            "assert float(ck.conv2d(x, w)[0, 0, 0, 0]) == 18.0; "
            "import jax; assert 'fnn_onednn_conv' not in jax.jit(ck.conv2d).lower(x, w).as_text()")  # fmt: skip
    env = {**os.environ, "FNN_ONEDNN": "0", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.torch
@pytest.mark.parametrize("xs, ws, s, p, d", [c for c in CONVS if c[3][0][0] == c[3][0][1] and c[3][1][0] == c[3][1][1]])
def test_parity_with_pytorch(torch, xs, ws, s, p, d):
    x, w = randn(0, *xs), randn(1, *ws)
    y, vjp = jax.vjp(lambda x, w: ck.conv2d_onednn(x, w, s, p, d), x, w)
    dy = randn(2, *y.shape)
    dx, dw = vjp(dy)
    tx = torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(np.asarray(w), dtype=torch.float64, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, stride=s, padding=(p[0][0], p[1][0]), dilation=d)
    ty.backward(torch.tensor(np.asarray(dy), dtype=torch.float64))
    for got, want in ((y, ty), (dx, tx.grad), (dw, tw.grad)):
        close(got, jnp.asarray(want.detach().numpy()))
