"""fnn's LSTM adds nothing to the compiled program: its forward+backward HLO equals a hand-written
``lax.scan`` LSTM's (as tests/test_zero_overhead.py does for the MLP and LeNet train steps).

The input forms, the shape checks, the per-direction tuples of the scan helper and the
``(num_layers*D, N, H)`` stacking of ``h_n`` are trace-time Python or fold away: after XLA's
optimizations both programs must have the same kernels and the same instructions. No timing
here: the measured figures are in bench/README.md (``python -m bench.lstm``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from jax import lax

import fnn
from tests.test_zero_overhead import entry_kinds, op_counts

T, N, H_IN, H = 7, 4, 5, 6


def hand_written_lstm(p: dict, x: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """A one-layer LSTM as one would write it in JAX: project every step at once, scan the rest."""
    gi = jnp.matmul(x, p["weight_ih_l0"].T) + p["bias_ih_l0"].reshape(1, 1, -1) + p["bias_hh_l0"].reshape(1, 1, -1)

    def step(carry, g):
        h, c = carry
        i, f, gg, o = jnp.split(g + jnp.matmul(h, p["weight_hh_l0"].T), 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((x.shape[1], H), x.dtype)
    (h, c), ys = lax.scan(step, (zeros, zeros), gi)
    return ys, (h[None], c[None])


def _loss(forward):
    def loss(p, x):
        out, (h_n, c_n) = forward(p, x)
        return jnp.sum(out * out) + jnp.sum(h_n) + jnp.sum(c_n)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))


@pytest.fixture(scope="module")
def setup():
    model = fnn.LSTM(H_IN, H)
    _, params = model.init(jax.random.key(0), (T, N, H_IN), jnp.float32)
    x = jax.random.normal(jax.random.key(1), (T, N, H_IN), jnp.float32)
    return model, params, x


@pytest.fixture(scope="module")
def programs(setup):
    model, params, x = setup
    ours = _loss(model.apply).lower(params, x).compile().as_text()
    theirs = _loss(hand_written_lstm).lower(params, x).compile().as_text()
    return ours, theirs


def test_same_kernels_as_a_hand_written_scan(programs):
    ours, theirs = programs
    assert entry_kinds(ours) == entry_kinds(theirs)


def test_same_instructions_as_a_hand_written_scan(programs):
    ours, theirs = programs
    assert op_counts(ours) == op_counts(theirs)


def test_the_reference_is_faithful(setup):
    model, params, x = setup
    (l1, (gp1, gx1)), (l2, (gp2, gx2)) = _loss(model.apply)(params, x), _loss(hand_written_lstm)(params, x)
    assert jnp.allclose(l1, l2, rtol=1e-6)
    assert jnp.allclose(gx1, gx2, rtol=1e-5, atol=1e-6)
    for k in gp1:
        assert jnp.allclose(gp1[k], gp2[k], rtol=1e-5, atol=1e-6), k
