"""fnn.kernels keeps its CPU forms to the CPU: lowered for CUDA (on this CPU-only machine, through
``jax.export``), ``conv2d`` and ``reduce_max`` are XLA's ``convolution`` and ``reduce_window``, forward
and backward, with no banded GEMM (``dot_general``) or max of taps left; lowered for the CPU, the same
calls take the CPU forms; lowered for both, each platform's branch is kept.

oneDNN's convolutions are a custom call that only a process with fnn imported can run, so
``jax.export`` (whose programs are portable) gets XLA's convolution in their place; the tests of the
pure-JAX forms therefore run with oneDNN turned off (``pure_jax``), and the last tests check both
lowerings of oneDNN's primitive."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import pytest
from jax import export

import fnn
from fnn import kernels as ck

X = jax.ShapeDtypeStruct((4, 2, 12, 12), jnp.float32)
W = jax.ShapeDtypeStruct((3, 2, 3, 3), jnp.float32)  # C_in * kh * kw = 18: the Toeplitz form's shapes on CPU
POOL = ((1, 1, 2, 2), (1, 1, 2, 2), [(0, 0)] * 4)
X_BIG = jax.ShapeDtypeStruct((8, 2, 12, 12), jnp.float32)  # 8 x 12 x 12 output pixels: enough for oneDNN


@pytest.fixture
def pure_jax(monkeypatch):
    """``"auto"`` as on a machine without oneDNN: the pure-JAX CPU forms (traced afresh: jit's caches
    do not know about the patch)."""
    monkeypatch.setattr(ck._dispatch, "onednn_available", lambda: False)
    jax.clear_caches()
    yield
    jax.clear_caches()


def ops(f, *args, platforms=("cuda",)) -> dict[str, int]:
    """``{op: count}`` of the StableHLO module of ``jax.jit(f)`` exported for ``platforms``."""
    text = export.export(jax.jit(f), platforms=platforms)(*args).mlir_module()
    found = re.findall(r"stablehlo\.([a-z_]+)", text)
    return {op: found.count(op) for op in set(found)}


def conv(x, w):
    return ck.conv2d(x, w, padding=1)


def conv_grads(x, w):
    return jax.grad(lambda x, w: jnp.sum(jnp.sin(conv(x, w))), argnums=(0, 1))(x, w)


def pool_grad(x):
    return jax.grad(lambda x: jnp.sum(jnp.sin(ck.reduce_max(x, *POOL))))(x)


def test_the_shapes_take_the_toeplitz_form_on_cpu():
    assert ck.use_toeplitz(X.shape, W.shape) and ck.use_max_taps(*POOL[:2])


@pytest.mark.parametrize("f, n_conv", [(conv, 1), (conv_grads, 3)])  # forward, weight and input gradient
def test_conv2d_lowered_for_cuda_is_xlas_convolution(f, n_conv):
    cuda = ops(f, X, W)
    assert cuda.get("convolution") == n_conv
    assert "dot_general" not in cuda  # the banded GEMM is gone, forward and backward


@pytest.mark.parametrize("f", [conv, conv_grads])
def test_conv2d_lowered_for_cpu_is_the_banded_gemm(f, pure_jax):
    cpu = ops(f, X, W, platforms=("cpu",))
    assert "convolution" not in cpu and cpu.get("dot_general", 0) >= 1


def test_conv2d_lowered_for_both_platforms_keeps_both_forms(pure_jax):
    both = ops(conv, X, W, platforms=("cpu", "cuda"))
    assert both.get("convolution", 0) >= 1 and both.get("dot_general", 0) >= 1 and "case" in both


def test_reduce_max_lowered_for_cuda_is_reduce_window():
    fwd = ops(lambda x: ck.reduce_max(x, *POOL), X)
    assert fwd.get("reduce_window") == 1 and "maximum" in fwd  # maximum: reduce_window's body
    bwd = ops(pool_grad, X)
    assert bwd.get("select_and_scatter") == 1
    cpu = ops(pool_grad, X, platforms=("cpu",))
    assert "reduce_window" not in cpu and "select_and_scatter" not in cpu  # the max of taps and its fused selects


def test_fnn_layers_lowered_for_cuda_are_op_for_op_xlas_form(pure_jax):
    """A conv / pool / conv net's gradient through fnn's layers: on CUDA the same compute ops as the
    net traced with ``implementation("xla")``; on CPU not."""
    net = fnn.Sequential(fnn.SpatialConvolution(2, 4, 3, 3, 1, 1, 1, 1), fnn.ReLU(), fnn.SpatialMaxPooling(2, 2),
                         fnn.SpatialConvolution(4, 4, 3, 3, 1, 1, 1, 1))  # fmt: skip
    init, apply = net
    _, params = jax.eval_shape(lambda k: init(k, (-1, 2, 12, 12)), jax.random.key(0))
    loss = lambda p, x: jnp.sum(jnp.sin(apply(p, x)))
    compute = ("convolution", "dot_general", "reduce_window", "select_and_scatter", "maximum", "concatenate")

    def counts(platforms: tuple[str, ...]) -> dict[str, int]:
        got = ops(jax.grad(loss), params, X, platforms=platforms)
        return {op: got.get(op, 0) for op in compute}

    auto_cuda, auto_cpu = counts(("cuda",)), counts(("cpu",))
    with ck.implementation("xla"):
        xla_cuda = counts(("cuda",))
    assert auto_cuda == xla_cuda and auto_cuda["convolution"] == 5  # 2 forward, 2 weight grads, the 2nd's input grad
    assert auto_cpu != xla_cuda and auto_cpu["convolution"] == 0


def test_the_chunked_weight_gradient_stays_on_the_cpu(pure_jax):
    """ResNet's 16-channel convolution: on CPU eight chunks' weight gradients, on CUDA XLA's single one."""
    x, w = jax.ShapeDtypeStruct((128, 16, 8, 8), jnp.float32), jax.ShapeDtypeStruct((16, 16, 3, 3), jnp.float32)
    assert ck.chunk_size(x.shape, (8, 8)) == 16
    assert ops(conv_grads, x, w).get("convolution") == 3  # forward, input gradient, weight gradient
    assert ops(conv_grads, x, w, platforms=("cpu",)).get("convolution") == 1 + 1 + 128 // 16


@pytest.mark.skipif(not ck.onednn_available(), reason="oneDNN is not installed")
def test_onednn_runs_the_cpu_convolutions_of_a_jitted_step():
    """Compiled in this process, the forward pass and both gradients are three oneDNN calls; on
    CUDA they stay XLA's convolutions."""
    text = jax.jit(conv_grads).lower(X_BIG, W).as_text()
    assert text.count("@fnn_onednn_conv(") == 3 and "stablehlo.convolution" not in text
    assert ops(conv_grads, X_BIG, W).get("convolution") == 3


@pytest.mark.skipif(not ck.onednn_available(), reason="oneDNN is not installed")
def test_exported_programs_take_xlas_convolution_in_place_of_onednn():
    """A serialized program must run without fnn: exported for the CPU, oneDNN's primitive lowers to
    XLA's convolution (forward, input and weight gradient), and the exported program runs."""
    cpu = ops(conv_grads, X_BIG, W, platforms=("cpu",))
    assert cpu.get("convolution") == 3 and "custom_call" not in cpu
    exported = export.export(jax.jit(conv_grads), platforms=("cpu",))(X_BIG, W)
    x, w = (jax.random.normal(jax.random.key(i), s.shape, jnp.float32) for i, s in enumerate((X_BIG, W)))
    got = exported.call(x, w)
    want = conv_grads(x, w)
    for g, e in zip(got, want, strict=True):
        assert jnp.allclose(g, e, atol=1e-4, rtol=1e-4)
