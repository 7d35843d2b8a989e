"""``fnn.core.jit_step`` and ``jit_once``: top-level programs compiled with XLA:CPU options.

What is specified: on CPU a step compiles its convolutions off YNNPACK (onto XLA's Eigen kernels)
and keeps its dots there; the values are a plain ``jax.jit``'s up to float rounding; inside another
trace (jit, vmap, grad, scan, eval_shape) the function is a plain jit; ``lower`` and the jitted
function's other attributes are the optioned program's; options the installed XLA rejects fall back
to a plain jit (with a warning where that loses something). The speed this buys is measured, not
tested (``python -m bench.conv_threads``).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax

import fnn
from fnn.core import OptionedJit, jit_step

CPU = jax.default_backend() == "cpu"
# The step options where this process compiles with them: {} off CPU, and on a jaxlib whose XLA has no
# such option (jax 0.8, the dependency floor, predates YNNPACK: its convolutions are Eigen's anyway).
ACCEPTED = fnn.core.cpu_compiler_options(fnn.core.STEP_COMPILER_OPTIONS)


def _conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _conv_and_dot(x, w, a, b):
    return _conv(x, w), a @ b


X = jax.random.normal(jax.random.key(0), (2, 6, 6, 32), jnp.float32)
W = jax.random.normal(jax.random.key(1), (3, 3, 32, 32), jnp.float32) * 0.1
A = jax.random.normal(jax.random.key(2), (16, 32), jnp.float32)
B = jax.random.normal(jax.random.key(3), (32, 24), jnp.float32)


@pytest.mark.skipif(not ACCEPTED, reason="XLA:CPU with YNNPACK and its fusion option (jax >= 0.10)")
def test_a_step_runs_its_convolutions_on_eigen_and_its_dots_on_ynnpack():
    step = jit_step(_conv_and_dot)
    assert step.options == fnn.core.STEP_COMPILER_OPTIONS
    ours = step.lower(X, W, A, B).compile().as_text()
    plain = jax.jit(_conv_and_dot).lower(X, W, A, B).compile().as_text()
    entry = lambda hlo: hlo[hlo.index("\nENTRY"):]
    assert " convolution(" in entry(ours) and " convolution(" not in entry(plain)  # Eigen's, not YNNPACK's
    assert "ynn_fusion" in ours  # the dot
    for got, want in zip(step(X, W, A, B), jax.jit(_conv_and_dot)(X, W, A, B), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_inside_a_trace_it_is_a_plain_jit():
    # compiler options are for top-level programs: nested, a jit with options is an error in jax
    conv = jit_step(_conv)
    want = jax.jit(_conv)(X, W)
    np.testing.assert_allclose(jax.jit(lambda x: conv(x, W))(X), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jax.vmap(conv, in_axes=(0, None))(X[:, None], W)[:, 0], want, rtol=1e-5, atol=1e-5)
    g = jax.grad(lambda w: conv(X, w).sum())(W)
    np.testing.assert_allclose(g, jax.grad(lambda w: _conv(X, w).sum())(W), rtol=1e-4, atol=1e-4)
    _, ys = lax.scan(lambda c, x: (c, conv(x[None], W)[0]), 0.0, X)
    np.testing.assert_allclose(ys, want, rtol=1e-5, atol=1e-5)
    assert jax.eval_shape(conv, X, W).shape == (2, 6, 6, 32)


def test_it_has_the_jitted_functions_attributes():
    step = jit_step(_conv, donate_argnums=())
    step(X, W)
    assert step.__name__ == "_conv" and step.__wrapped__ is _conv
    assert step._cache_size() == 1  # the optioned program is the one a top-level call compiled
    assert step.trace(X, W).lower().compile().as_text() == step.lower(X, W).compile().as_text()


@pytest.mark.skipif(not CPU, reason="XLA:CPU options")
def test_options_the_installed_xla_rejects_fall_back_to_a_plain_jit():
    f = OptionedJit(_conv, {"xla_cpu_experimental_ynn_fusion_type": "NOT_A_FUSION_TYPE"})
    assert f.options == {} and f.optioned is f.plain
    np.testing.assert_allclose(f(X, W), jax.jit(_conv)(X, W), rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not CPU, reason="XLA:CPU options")
def test_a_rejected_step_option_warns_where_xla_runs_convolutions_on_ynnpack(monkeypatch):
    from fnn.core import _compile

    ynnpack = "ynn_fusion" in jax.jit(_conv).lower(X, W).compile().as_text()
    monkeypatch.setattr(_compile, "STEP_COMPILER_OPTIONS", {"xla_cpu_experimental_ynn_fusion_type": "NOT_A_TYPE"})
    _compile._check_step_options.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            step = jit_step(_conv)
        assert step.options == {}
        said = [w for w in caught if "multi-threaded Eigen" in str(w.message)]
        assert len(said) == (1 if ynnpack else 0)  # jax 0.8 has no YNNPACK convolutions: nothing lost, nothing said
    finally:
        _compile._check_step_options.cache_clear()


def test_make_train_step_compiles_with_the_step_options_and_trains_as_a_plain_jit():
    model = fnn.Sequential(fnn.SpatialConvolution(32, 32, 3, 3, 1, 1, 1, 1), fnn.ReLU(), fnn.View(-1, 32 * 36),
                           fnn.Linear(32 * 36, 5))  # fmt: skip
    _, params, state = model.stateful.init(jax.random.key(0), (-1, 32, 6, 6))
    opt, crit = optax.sgd(0.1), fnn.CrossEntropyCriterion()
    x, y, key = jnp.transpose(X, (0, 3, 1, 2)), jnp.array([1, 3]), jax.random.key(4)
    step = fnn.make_train_step(model, crit, opt, donate=False)
    assert isinstance(step, OptionedJit) and step.options == ACCEPTED
    if ACCEPTED:  # XLA's own convolution (where oneDNN does not run it) on Eigen; the dots on YNNPACK
        with fnn.kernels.implementation("xla"):
            hlo = step.lower(params, state, opt.init(params), x, y, key).compile().as_text()
        assert " convolution(" in hlo[hlo.index("\nENTRY"):] and "ynn_fusion" in hlo
    plain = fnn.make_train_step(model, crit, opt, donate=False).plain
    got, want = step(params, state, opt.init(params), x, y, key), plain(params, state, opt.init(params), x, y, key)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), got, want)
