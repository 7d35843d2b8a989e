"""load_t7 on the torch7 rnn package's modules, built as the rnn package saves them (skips where fnn lacks them)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.io import T7List
from fnn.io._t7_load import build_t7
from tests.io.t7_writer import module

pytestmark = pytest.mark.skipif(not hasattr(fnn, "SeqLSTM"), reason="fnn has no torch7 rnn layers yet (the sequences "
                                "issue)")
RS = np.random.default_rng(0)


def _w(*shape):
    return RS.uniform(-0.5, 0.5, shape).astype(np.float32)


def _check(tree, want, want_params, x):
    model, params, state = build_t7(tree)
    assert str(model) == str(want)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), params, want_params)
    _, _, want_state = jax.eval_shape(lambda k: want.stateful.init(k, jax.tree.map(jnp.shape, x)), jax.random.key(0))
    assert jax.tree.structure(state) == jax.tree.structure(want_state)
    got, _ = model.stateful.apply(params, state, x)
    ref, _ = want.stateful.apply(jax.tree.map(jnp.asarray, want_params), state, x)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), got, ref)


def _seq_lstm(d, h, **extra):
    return module("nn.SeqLSTM", inputsize=d, hiddensize=h, outputsize=h, weight=_w(d + h, 4 * h), bias=_w(4 * h),
                  batchfirst=False, maskzero=False, cell=np.zeros(0, np.float32), _remember="neither", **extra)


def _fast_lstm(d, h):
    i2g = module("nn.Linear", weight=_w(4 * h, d), bias=_w(4 * h))
    o2g = module("nn.LinearNoBias", weight=_w(4 * h, h))
    return module("nn.FastLSTM", inputSize=d, outputSize=h, rho=9999, p=0, mono=False, i2g=i2g, o2g=o2g,
                  recurrentModule=module("nn.Sequential", modules=T7List([i2g, o2g])), step=1)


def test_seq_lstm_and_seq_gru():
    t = _seq_lstm(3, 4)
    _check(t, fnn.SeqLSTM(3, 4), {"weight": t.weight, "bias": t.bias}, jnp.asarray(_w(5, 2, 3)))
    g = module("nn.SeqGRU", inputSize=3, outputSize=2, weight=_w(5, 6), bias=_w(6), batchfirst=True, maskzero=True)
    x = jnp.asarray(_w(2, 5, 3)).at[0, 1].set(0.0)
    _check(g, fnn.SeqGRU(3, 2, True, True), {"weight": g.weight, "bias": g.bias}, x)


def test_sequencer_of_a_recursor_and_of_a_fast_lstm_with_mask_zero():
    lin = module("nn.Linear", weight=_w(2, 3), bias=_w(2))
    seq = module("nn.Sequencer", module=module("nn.Recursor", recurrentModule=lin, module=lin, modules=T7List([lin])))
    _check(seq, fnn.Sequencer(fnn.Linear(3, 2)), ({"weight": lin.weight, "bias": lin.bias},), jnp.asarray(_w(4, 2, 3)))
    lstm = _fast_lstm(3, 2)
    masked = module("nn.Sequencer", module=module("nn.MaskZero", module=lstm, nInputDim=1))
    want = fnn.Sequencer(fnn.MaskZero(fnn.FastLSTM(3, 2), 1))
    p = ({"i2g": {"weight": lstm.i2g.weight, "bias": lstm.i2g.bias}, "o2g": {"weight": lstm.o2g.weight}},)
    _check(masked, want, (p,), jnp.asarray(_w(4, 2, 3)).at[1, 0].set(0.0))


def test_seq_brnn_with_its_merge():
    fwd, bwd = _seq_lstm(3, 2), _seq_lstm(3, 2)
    p = {"forwardModule": {"weight": fwd.weight, "bias": fwd.bias},
         "backwardModule": {"weight": bwd.weight, "bias": bwd.bias}}
    plain = module("nn.SeqBRNN", forwardModule=fwd, backwardModule=bwd, merge=module("nn.CAddTable"), dim=1,
                   module=module("nn.Sequential", modules=T7List([module("nn.ConcatTable"), module("nn.CAddTable")])))
    _check(plain, fnn.SeqBRNN(3, 2), p, jnp.asarray(_w(4, 2, 3)))
    join = module("nn.JoinTable", dimension=3)
    batch_first = module("nn.SeqBRNN", forwardModule=fwd, backwardModule=bwd, merge=join, module=module(
        "nn.Sequential", modules=T7List([module("nn.Transpose", permutations=T7List([T7List([1, 2])]))])))
    _check(batch_first, fnn.SeqBRNN(3, 2, True, fnn.JoinTable(2)), {**p, "merge": ()}, jnp.asarray(_w(2, 4, 3)))


def test_what_fnn_does_not_build():
    with pytest.raises(fnn.T7Error, match="SeqLSTMP"):
        build_t7(module("nn.SeqLSTM", inputsize=3, hiddensize=4, outputsize=2, weight=_w(5, 16), bias=_w(16)))
    lstm = _fast_lstm(3, 2)
    lstm.fields["p"] = 0.5
    with pytest.raises(fnn.T7Error, match="dropout"):
        build_t7(lstm)
