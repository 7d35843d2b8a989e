"""RNN, LSTM, GRU and their cells: hand-computed cases, variable lengths, dropout, and bad input.

(PyTorch parity is in test_recurrent_torch.py, the compiled program in test_recurrent_hlo.py.)
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError, DTypeError, MissingRNGError, ShapeError

K = jax.random.key(0)


def rand(shape):
    return jax.random.normal(K, shape, jnp.float32)


def sig(v):
    return 1 / (1 + math.exp(-v))


def one_by_one(module, values):
    """Params of a 1-feature layer, every entry set from ``values`` (name -> list)."""
    _, params = module.init(K, (2, 1, 1), jnp.float64)
    return {k: jnp.asarray(values[k], jnp.float64).reshape(v.shape) for k, v in params.items()}


# --------------------------------------------------------------------------- hand-computed


def test_rnn_by_hand():
    m = fnn.RNN(1, 1)
    p = one_by_one(m, {"weight_ih_l0": [0.5], "weight_hh_l0": [0.25], "bias_ih_l0": [0.1], "bias_hh_l0": [-0.2]})
    out, h_n = m.apply(p, jnp.array([[[1.0]], [[2.0]]], jnp.float64))
    h1 = math.tanh(0.5 - 0.1)
    h2 = math.tanh(1.0 - 0.1 + 0.25 * h1)
    np.testing.assert_allclose(out[:, 0, 0], [h1, h2], rtol=1e-14)
    np.testing.assert_allclose(h_n[0, 0, 0], h2, rtol=1e-14)


def test_lstm_by_hand():
    m = fnn.LSTM(1, 1)
    w_ih, w_hh, b = [0.1, 0.2, 0.3, 0.4], [0.5, -0.6, 0.7, -0.8], [0.05, 0.0, -0.05, 0.1]
    p = one_by_one(m, {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b, "bias_hh_l0": [0] * 4})
    xs, h, c, hs = [1.0, -2.0], 0.3, -0.4, []
    for x in xs:
        i, f, g, o = (w_ih[k] * x + w_hh[k] * h + b[k] for k in range(4))  # PyTorch's gate order
        c = sig(f) * c + sig(i) * math.tanh(g)
        h = sig(o) * math.tanh(c)
        hs.append(h)
    h0, c0 = jnp.full((1, 1, 1), 0.3, jnp.float64), jnp.full((1, 1, 1), -0.4, jnp.float64)
    out, (h_n, c_n) = m.apply(p, (jnp.array(xs, jnp.float64).reshape(2, 1, 1), (h0, c0)))
    np.testing.assert_allclose(out[:, 0, 0], hs, rtol=1e-14)
    np.testing.assert_allclose([h_n[0, 0, 0], c_n[0, 0, 0]], [h, c], rtol=1e-14)


def test_gru_by_hand():
    m = fnn.GRU(1, 1)
    w_ih, w_hh, b_ih, b_hh = [0.1, 0.2, 0.3], [0.4, -0.5, 0.6], [0.01, 0.02, 0.03], [-0.1, 0.2, -0.3]
    p = one_by_one(m, {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh})
    h, hs = 0.0, []
    for x in [1.0, 0.5]:
        r = sig(w_ih[0] * x + b_ih[0] + w_hh[0] * h + b_hh[0])
        z = sig(w_ih[1] * x + b_ih[1] + w_hh[1] * h + b_hh[1])
        n = math.tanh(w_ih[2] * x + b_ih[2] + r * (w_hh[2] * h + b_hh[2]))  # b_hn inside r (...)
        h = (1 - z) * n + z * h
        hs.append(h)
    out, h_n = m.apply(p, jnp.array([[1.0], [0.5]], jnp.float64))  # unbatched (L, H_in)
    np.testing.assert_allclose(out[:, 0], hs, rtol=1e-14)
    assert h_n.shape == (1, 1)


def test_cell_is_one_step_of_the_layer():
    layer, cell = fnn.LSTM(3, 4), fnn.LSTMCell(3, 4)
    _, p = layer.init(K, (1, 2, 3))
    cp = {k.removesuffix("_l0"): v for k, v in p.items()}
    x = rand((1, 2, 3))
    _, (h_n, c_n) = layer.apply(p, x)
    h, c = cell.apply(cp, x[0])
    np.testing.assert_allclose(h, h_n[0], rtol=1e-6)
    np.testing.assert_allclose(c, c_n[0], rtol=1e-6)


# --------------------------------------------------------------------------- forms and options


def test_unbatched_batch_first_unroll_and_jit_agree():
    m, mb = fnn.GRU(3, 4, num_layers=2, bidirectional=True), fnn.GRU(3, 4, num_layers=2, bidirectional=True,
                                                                     batch_first=True, unroll=3)
    _, p = m.init(K, (5, -1, 3))
    x = rand((5, 2, 3))
    out, h_n = m.apply(p, x)
    out_b, h_b = jax.jit(mb.apply)(p, jnp.swapaxes(x, 0, 1))
    np.testing.assert_allclose(jnp.swapaxes(out_b, 0, 1), out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_b, h_n, rtol=1e-5, atol=1e-6)  # hx/h_n do not follow batch_first
    out_u, h_u = m.apply(p, x[:, 1])
    np.testing.assert_allclose(out_u, out[:, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_u, h_n[:, 1], rtol=1e-5, atol=1e-6)


def test_lengths_semantics_without_torch():
    """h_n is the last valid step; the reverse direction starts at each sequence's own end."""
    m = fnn.LSTM(2, 3, bidirectional=True)
    _, p = m.init(K, (6, -1, 2))
    x = rand((6, 2, 2))
    lengths = jnp.array([6, 3], jnp.int32)
    out, (h_n, c_n) = jax.jit(m.apply)(p, (x, lengths))
    short, (h_s, c_s) = m.apply(p, x[:3, 1])  # the second sequence alone, unpadded
    np.testing.assert_allclose(out[:3, 1], short, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_n[:, 1], h_s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_n[:, 1], c_s, rtol=1e-5, atol=1e-6)
    assert bool(jnp.all(out[3:, 1] == 0))
    gx = jax.grad(lambda x: m.apply(p, (x, lengths))[0].sum())(x)
    assert bool(jnp.all(gx[3:, 1] == 0)) and bool(jnp.all(gx[:3, 1] != 0))
    # vmap over (x, lengths) of batch_first input = the batched call (unbatched lengths are 0-d)
    mb = fnn.LSTM(2, 3, bidirectional=True, batch_first=True)
    xb = jnp.swapaxes(x, 0, 1)
    per = jax.vmap(lambda xi, li: mb.apply(p, (xi, li))[0])(xb, lengths)
    np.testing.assert_allclose(per, mb.apply(p, (xb, lengths))[0], rtol=1e-5, atol=1e-6)


def test_dropout_between_layers_in_training_only():
    m = fnn.LSTM(3, 4, num_layers=2, dropout=0.5)
    _, p = m.init(K, (5, -1, 3))
    x = rand((5, 2, 3))
    ev = m.apply(p, x)[0]
    np.testing.assert_array_equal(ev, m.apply(p, x, train=False)[0])
    tr1 = m.apply(p, x, rng=jax.random.key(1), train=True)[0]
    tr2 = m.apply(p, x, rng=jax.random.key(2), train=True)[0]
    assert not np.allclose(tr1, ev) and not np.allclose(tr1, tr2)
    with pytest.raises(MissingRNGError, match=r"nn\.LSTM.*rng=jax\.random\.key"):
        m.apply(p, x, train=True)
    # inside a container each child gets its own key
    seq = fnn.Sequential(m, fnn.SelectTable(0), fnn.Linear(4, 2))
    _, sp = seq.init(K, (5, -1, 3))
    assert seq.apply(sp, x, rng=jax.random.key(1), train=True).shape == (5, 2, 2)


def test_params_names_and_init_bound():
    _, p = fnn.LSTM(3, 8, num_layers=2, bidirectional=True, proj_size=2).init(K, (5, -1, 3))
    assert p["weight_ih_l0"].shape == (32, 3) and p["weight_ih_l1_reverse"].shape == (32, 4)
    assert p["weight_hh_l0"].shape == (32, 2) and p["weight_hr_l1"].shape == (2, 8)
    assert all(float(jnp.abs(v).max()) <= 1 / math.sqrt(8) for v in p.values())
    assert len(p) == 2 * 2 * 5
    _, p = fnn.GRU(3, 4, bias=False).init(K, (5, -1, 3))
    assert sorted(p) == ["weight_hh_l0", "weight_ih_l0"]
    assert "stateful" in fnn.LSTM.__doc__ and "NOT follow" in fnn.LSTM.__doc__


# --------------------------------------------------------------------------- bad input


def _apply(m, x, shape=(5, 2, 3)):
    _, p = m.init(K, shape)
    return m.apply(p, x)


X = jnp.zeros((5, 2, 3))

BAD = [
    ("feature-init", lambda: fnn.LSTM(3, 4).init(K, (5, -1, 4)), ShapeError, ["nn.LSTM(3 -> 4)", "input_size 3"]),
    ("feature-apply", lambda: _apply(fnn.GRU(3, 4), jnp.zeros((5, 2, 2))), ShapeError, ["nn.GRU(3 -> 4)", "(5, 2, 2)"]),
    ("4-d", lambda: _apply(fnn.RNN(3, 4), jnp.zeros((5, 2, 1, 3))), ShapeError, ["nn.RNN(3 -> 4)", "4-D"]),
    ("hx-shape", lambda: _apply(fnn.GRU(3, 4), (X, jnp.zeros((1, 2, 5)))), ShapeError, ["nn.GRU", "(1, 2, 4)"]),
    ("hx-batch-first-layout", lambda: _apply(fnn.GRU(3, 4, num_layers=2, batch_first=True), (
        jnp.zeros((3, 5, 3)), jnp.zeros((3, 2, 4))), shape=(3, 5, 3)),
     ShapeError, ["does NOT follow batch_first", "(2, 3, 4)", "got (3, 2, 4)"]),
    ("lstm-hx-not-pair", lambda: _apply(fnn.LSTM(3, 4), (X, jnp.zeros((1, 2, 4)))), ShapeError, ["(h0, c0)"]),
    ("c0-shape", lambda: _apply(fnn.LSTM(3, 4, proj_size=2), (X, (jnp.zeros((1, 2, 2)), jnp.zeros((1, 2, 2))))),
     ShapeError, ["c0", "(1, 2, 4)"]),
    ("lengths-too-long", lambda: _apply(fnn.LSTM(3, 4), (X, jnp.array([6, 2]))), ShapeError, ["nn.LSTM", "[1, 5]"]),
    ("lengths-zero", lambda: _apply(fnn.LSTM(3, 4), (X, jnp.array([0, 2]))), ShapeError, ["nn.LSTM", "[1, 5]"]),
    ("lengths-negative", lambda: _apply(fnn.RNN(3, 4), (X, jnp.array([-1, 2]))), ShapeError, ["nn.RNN", "[1, 5]"]),
    ("lengths-float", lambda: _apply(fnn.LSTM(3, 4), (X, jnp.array([2.0, 2.0]))), DTypeError, ["nn.LSTM", "integer"]),
    ("lengths-count", lambda: _apply(fnn.LSTM(3, 4), (X, jnp.array([2, 2, 2]))), ShapeError, ["(2,)", "(3,)"]),
    ("lengths-list", lambda: _apply(fnn.LSTM(3, 4), (X, [2, 2])), ShapeError, ["jnp.array"]),
    ("int-x", lambda: _apply(fnn.LSTM(3, 4), jnp.zeros((5, 2, 3), jnp.int32)), DTypeError, ["floating"]),
    ("cell-feature", lambda: fnn.LSTMCell(3, 4).init(K, (-1, 2)), ShapeError, ["nn.LSTMCell(3 -> 4)", "(N, 3)"]),
    ("cell-hx", lambda: fnn.GRUCell(3, 4).init(K, ((-1, 3), (-1, 5))), ShapeError, ["nn.GRUCell", "(-1, 4)"]),
    ("proj-size", lambda: fnn.LSTM(3, 4, proj_size=4), ConfigError, ["nn.LSTM", "proj_size"]),
    ("nonlinearity", lambda: fnn.RNN(3, 4, nonlinearity="sigmoid"), ConfigError, ["nn.RNN", "nonlinearity"]),
    ("dropout", lambda: fnn.GRU(3, 4, dropout=1.5), ConfigError, ["nn.GRU", "dropout"]),
    ("layers", lambda: fnn.GRU(3, 4, num_layers=0), ConfigError, ["nn.GRU", "num_layers"]),
]


@pytest.mark.parametrize("make,error,fragments", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(make, error, fragments):
    with pytest.raises(error) as info:
        make()
    for f in fragments:
        assert f in str(info.value), (f, str(info.value))
