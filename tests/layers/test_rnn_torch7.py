"""torch7 ``rnn`` package layers (SeqLSTM, SeqGRU, SeqBRNN, FastLSTM, LinearNoBias, Sequencer,
MaskZero) against numpy transcriptions of the Lua ``updateOutput`` loops, in float64 to 1e-10.

The transcriptions below follow the Element-Research ``rnn`` sources step by step (buffers,
in-place masking and all), written with numpy so they share no code with fnn.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from fnn.errors import ConfigError, ShapeError
from fnn.layers._sequencer import carry_sizes

TOL = dict(rtol=1e-10, atol=1e-10)
K = jax.random.key(0)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# --------------------------------------------------------------------------- numpy transcriptions


def lua_seqlstm(weight, bias, x, h0=None, c0=None, maskzero=False):
    """SeqLSTM:updateOutput: x (T, N, D), weight (D+H, 4H), gates i, f, o, g; masking in place."""
    T, N, D = x.shape
    H = bias.shape[0] // 4
    Wx, Wh = weight[:D], weight[D:]
    h, c = np.zeros((T, N, H)), np.zeros((T, N, H))
    prev_h = np.zeros((N, H)) if h0 is None else h0
    prev_c = np.zeros((N, H)) if c0 is None else c0
    for t in range(T):
        cur_x = x[t]
        gates = bias[None, :] + cur_x @ Wx   # addmm(bias_expand, cur_x, Wx)
        gates = gates + prev_h @ Wh          # addmm(prev_h, Wh)
        gates[:, : 3 * H] = sigmoid(gates[:, : 3 * H])
        gates[:, 3 * H:] = np.tanh(gates[:, 3 * H:])
        i, f, o, g = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
        h[t] = i * g
        c[t] = f * prev_c + h[t]
        h[t] = np.tanh(c[t]) * o
        if maskzero:
            zero = np.linalg.norm(cur_x, axis=1) == 0
            h[t][zero] = 0
            c[t][zero] = 0
        prev_h, prev_c = h[t], c[t]
    return h


def lua_seqgru(weight, bias, x, h0=None, maskzero=False):
    """SeqGRU:updateOutput: gates r, u, candidate hc = tanh(Wx x + b + Wh (r . prev_h))."""
    T, N, D = x.shape
    H = bias.shape[0] // 3
    Wx, Wh = weight[:D], weight[D:]
    h = np.zeros((T, N, H))
    prev_h = np.zeros((N, H)) if h0 is None else h0
    for t in range(T):
        cur_x = x[t]
        gates = bias[None, :] + cur_x @ Wx
        gates[:, : 2 * H] += prev_h @ Wh[:, : 2 * H]
        gates[:, : 2 * H] = sigmoid(gates[:, : 2 * H])
        r, u = gates[:, :H], gates[:, H:2 * H]
        next_h = r * prev_h                               # temporary buffer
        gates[:, 2 * H:] += next_h @ Wh[:, 2 * H:]
        hc = np.tanh(gates[:, 2 * H:])
        next_h = hc + (-1) * u * hc                       # addcmul(hc, -1, u, hc)
        next_h = next_h + u * prev_h                      # addcmul(u, prev_h)
        if maskzero:
            next_h[np.linalg.norm(cur_x, axis=1) == 0] = 0
        h[t] = next_h
        prev_h = h[t]
    return h


def lua_fastlstm_step(p, x, prev_h, prev_c):
    """FastLSTM's recurrentModule: i2g(x) + o2g(h) -> Reshape(4, H) -> {σ, tanh, σ, σ}."""
    H = prev_h.shape[-1]
    a = x @ p["i2g"]["weight"].T + p["i2g"]["bias"] + prev_h @ p["o2g"]["weight"].T
    a = a.reshape(-1, 4, H)
    in_gate, hidden, forget, out_gate = sigmoid(a[:, 0]), np.tanh(a[:, 1]), sigmoid(a[:, 2]), sigmoid(a[:, 3])
    next_c = in_gate * hidden + forget * prev_c
    return out_gate * np.tanh(next_c), next_c


def lua_sequencer_fastlstm(p, x, maskzero=False):
    """Sequencer(FastLSTM) (optionally with lstm:maskZero(1)): zero initial state, one step per t."""
    T, N, _ = x.shape
    H = p["o2g"]["weight"].shape[1]
    h, c = np.zeros((N, H)), np.zeros((N, H))
    out = np.zeros((T, N, H))
    for t in range(T):
        h, c = lua_fastlstm_step(p, x[t], h, c)
        if maskzero:  # MaskZero zeroes the recurrentModule's output table {h, c}
            zero = np.linalg.norm(x[t], axis=1) == 0
            h, c = h.copy(), c.copy()
            h[zero], c[zero] = 0, 0
        out[t] = h
    return out


# --------------------------------------------------------------------------- helpers


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def np_params(params):
    return jax.tree.map(np.asarray, params)


def with_zero_steps(x):
    """Zeroes a few (t, n) rows, including the first step of one sequence."""
    x = x.copy()
    x[0, 1] = 0
    x[2, 0] = 0
    x[3, 1] = 0
    return x


X = rand(5, 3, 4)  # (T, N, D)


# --------------------------------------------------------------------------- SeqLSTM


@pytest.fixture(scope="module")
def lstm():
    model = fnn.SeqLSTM(4, 3)
    _, params = model.init(K, (-1, -1, 4), jnp.float64)
    return model, params


def test_seqlstm_params_are_torch7s(lstm):
    model, p = lstm
    assert set(p) == {"weight", "bias"} and p["weight"].shape == (7, 12) and p["bias"].shape == (12,)
    np.testing.assert_array_equal(p["bias"], np.r_[np.zeros(3), np.ones(3), np.zeros(6)])  # forget gate at 1
    big = fnn.SeqLSTM(60, 40).init(K, (-1, -1, 60), jnp.float64)[1]["weight"]
    assert abs(float(big.std()) - 1 / np.sqrt(100)) < 0.005  # N(0, 1/sqrt(D+H))
    assert str(model) == "nn.SeqLSTM(4 -> 3)"


def test_seqlstm_matches_the_lua_loop(lstm):
    model, p = lstm
    pn = np_params(p)
    np.testing.assert_allclose(model.apply(p, X), lua_seqlstm(pn["weight"], pn["bias"], X), **TOL)
    h0, c0 = rand(3, 3, seed=1), rand(3, 3, seed=2)
    want = lua_seqlstm(pn["weight"], pn["bias"], X, h0, c0)
    np.testing.assert_allclose(model.apply(p, (c0, h0, X)), want, **TOL)  # torch7's {c0, h0, x}
    np.testing.assert_allclose(model.apply(p, (h0, X)), lua_seqlstm(pn["weight"], pn["bias"], X, h0), **TOL)


def test_seqlstm_batchfirst_unbatched_and_maskzero(lstm):
    _, p = lstm
    pn = np_params(p)
    bf = fnn.SeqLSTM(4, 3, batchfirst=True)
    np.testing.assert_allclose(bf.apply(p, X.transpose(1, 0, 2)),
                               lua_seqlstm(pn["weight"], pn["bias"], X).transpose(1, 0, 2), **TOL)
    # unbatched (T, D) = one sequence of a batch of one
    want = lua_seqlstm(pn["weight"], pn["bias"], X[:, :1])[:, 0]
    np.testing.assert_allclose(fnn.SeqLSTM(4, 3).apply(p, X[:, 0]), want, **TOL)
    xz = with_zero_steps(X)
    mz = fnn.SeqLSTM(4, 3, maskzero=True)
    y = mz.apply(p, xz)
    np.testing.assert_allclose(y, lua_seqlstm(pn["weight"], pn["bias"], xz, maskzero=True), **TOL)
    assert not np.asarray(y[2, 0]).any() and not np.asarray(y[0, 1]).any()
    # the state is reset: the step after a zero step equals a fresh sequence's first step
    np.testing.assert_allclose(y[3, 0], mz.apply(p, xz[3:4, :1])[0, 0], **TOL)
    # no gradient flows through a masked step into the input
    g = jax.grad(lambda x: mz.apply(p, x).sum())(jnp.asarray(xz))
    assert not np.asarray(g[2, 0]).any() and np.asarray(g[1, 0]).any()
    gp = jax.grad(lambda q: mz.apply(q, jnp.asarray(xz))[2, 0].sum())(p)
    assert not np.asarray(gp["weight"]).any()


def test_seqlstm_gradients_match_finite_differences(lstm):
    _, p = lstm
    from jax.test_util import check_grads

    check_grads(lambda q, x: fnn.SeqLSTM(4, 3, maskzero=True).apply(q, x), (p, jnp.asarray(X[:3, :2])), order=1,
                modes=["rev"])


# --------------------------------------------------------------------------- SeqGRU


def test_seqgru_matches_the_lua_loop():
    model = fnn.SeqGRU(4, 3)
    _, p = model.init(K, (-1, -1, 4), jnp.float64)
    pn = np_params(p)
    assert p["weight"].shape == (7, 9)
    np.testing.assert_array_equal(p["bias"], np.r_[np.zeros(3), np.ones(3), np.zeros(3)])  # update gate at 1
    np.testing.assert_allclose(model.apply(p, X), lua_seqgru(pn["weight"], pn["bias"], X), **TOL)
    h0 = rand(3, 3, seed=3)
    np.testing.assert_allclose(model.apply(p, (h0, X)), lua_seqgru(pn["weight"], pn["bias"], X, h0), **TOL)
    xz = with_zero_steps(X)
    np.testing.assert_allclose(fnn.SeqGRU(4, 3, maskzero=True).apply(p, xz),
                               lua_seqgru(pn["weight"], pn["bias"], xz, maskzero=True), **TOL)
    np.testing.assert_allclose(fnn.SeqGRU(4, 3, batchfirst=True).apply(p, X.transpose(1, 0, 2)),
                               lua_seqgru(pn["weight"], pn["bias"], X).transpose(1, 0, 2), **TOL)


def test_seqgru_is_not_pytorchs_gru():
    """The candidate uses (r ⊙ h) Wh, not r ⊙ (h Wh + b): with a nonzero h the two differ."""
    _, p = fnn.SeqGRU(2, 2).init(K, (-1, -1, 2), jnp.float64)
    pn = np_params(p)
    x = rand(2, 1, 2, seed=4)
    h = lua_seqgru(pn["weight"], pn["bias"], x)
    # PyTorch's formula on the same weights (bias on the input side only)
    Wx, Wh, b = pn["weight"][:2], pn["weight"][2:], pn["bias"]
    r = sigmoid(x[1] @ Wx[:, :2] + h[0] @ Wh[:, :2] + b[:2])
    u = sigmoid(x[1] @ Wx[:, 2:4] + h[0] @ Wh[:, 2:4] + b[2:4])
    n = np.tanh(x[1] @ Wx[:, 4:] + b[4:] + r * (h[0] @ Wh[:, 4:]))
    assert not np.allclose((1 - u) * n + u * h[0], h[1])


# --------------------------------------------------------------------------- SeqBRNN


def test_seqbrnn_sums_a_forward_and_a_reversed_lstm():
    model = fnn.SeqBRNN(4, 3)
    _, p = model.init(K, (-1, -1, 4), jnp.float64)
    f, b = np_params(p["forwardModule"]), np_params(p["backwardModule"])
    assert not np.allclose(f["weight"], b["weight"])  # two independently initialised SeqLSTMs
    want = lua_seqlstm(f["weight"], f["bias"], X) + lua_seqlstm(b["weight"], b["bias"], X[::-1])[::-1]
    np.testing.assert_allclose(model.apply(p, X), want, **TOL)
    np.testing.assert_allclose(fnn.SeqBRNN(4, 3, batchfirst=True).apply(p, X.transpose(1, 0, 2)),
                               want.transpose(1, 0, 2), **TOL)
    np.testing.assert_allclose(model.apply(p, X[:, 1]), want[:, 1], **TOL)  # unbatched
    join = fnn.SeqBRNN(4, 3, merge=fnn.JoinTable(-1))
    out_shape, pj = join.init(K, (5, -1, 4), jnp.float64)
    assert out_shape == (5, -1, 6) and set(pj) == {"forwardModule", "backwardModule", "merge"}


# --------------------------------------------------------------------------- FastLSTM, LinearNoBias, Sequencer


@pytest.fixture(scope="module")
def fast():
    model = fnn.Sequencer(fnn.FastLSTM(4, 3))
    _, params = model.init(K, (-1, -1, 4), jnp.float64)
    return model, params


def test_fastlstm_param_tree_and_init(fast):
    _, (p,) = fast
    assert jax.tree.map(jnp.shape, p) == {"i2g": {"weight": (12, 4), "bias": (12,)}, "o2g": {"weight": (12, 3)}}
    assert float(jnp.abs(p["i2g"]["weight"]).max()) <= 0.5 and float(jnp.abs(p["o2g"]["weight"]).max()) <= 1 / 3 ** 0.5
    assert carry_sizes(fnn.FastLSTM(4, 3)) == (3, 3) and carry_sizes(fnn.MaskZero(fnn.FastLSTM(4, 3))) == (3, 3)
    assert carry_sizes(fnn.Linear(4, 3)) is None


def test_fastlstm_step_and_sequencer_match_the_lua_loop(fast):
    model, (p,) = fast
    pn = np_params(p)
    step = fnn.FastLSTM(4, 3)
    h0, c0 = rand(3, 3, seed=5), rand(3, 3, seed=6)
    h, c = step.apply(p, (X[0], h0, c0))
    wh, wc = lua_fastlstm_step(pn, X[0], h0, c0)
    np.testing.assert_allclose(h, wh, **TOL)
    np.testing.assert_allclose(c, wc, **TOL)
    np.testing.assert_allclose(step.apply(p, X[0]), lua_fastlstm_step(pn, X[0], 0 * h0, 0 * c0)[0], **TOL)
    np.testing.assert_allclose(model.apply((p,), X), lua_sequencer_fastlstm(pn, X), **TOL)
    np.testing.assert_allclose(model.apply((p,), X[:, 2]), lua_sequencer_fastlstm(pn, X[:, 2:3])[:, 0], **TOL)
    # a table of steps gives a table of outputs, as in torch7
    ys = model.apply((p,), tuple(X))
    assert isinstance(ys, tuple) and len(ys) == 5
    np.testing.assert_allclose(ys[4], lua_sequencer_fastlstm(pn, X)[4], **TOL)


def test_seqlstm_and_sequencer_fastlstm_are_one_function(fast):
    """torch7's README: SeqLSTM is a faster Sequencer(FastLSTM); only the gate order and layout differ."""
    model, (p,) = fast
    H, D = 3, 4
    blocks = lambda w: np.split(np.asarray(w), 4, axis=0)  # noqa: E731  FastLSTM's i, z, f, o
    i, z, f, o = blocks(p["i2g"]["weight"])
    hi, hz, hf, ho = blocks(p["o2g"]["weight"])
    bi, bz, bf, bo = np.split(np.asarray(p["i2g"]["bias"]), 4)
    weight = np.concatenate([np.concatenate([i, f, o, z]).T, np.concatenate([hi, hf, ho, hz]).T])
    assert weight.shape == (D + H, 4 * H)
    seq = {"weight": jnp.asarray(weight), "bias": jnp.asarray(np.r_[bi, bf, bo, bz])}
    np.testing.assert_allclose(fnn.SeqLSTM(D, H).apply(seq, X), model.apply((p,), X), **TOL)


def test_maskzero_fastlstm_in_a_sequencer_resets_the_state(fast):
    _, (p,) = fast
    pn = np_params(p)
    xz = with_zero_steps(X)
    model = fnn.Sequencer(fnn.MaskZero(fnn.FastLSTM(4, 3)))
    _, params = model.init(K, (-1, -1, 4), jnp.float64)
    assert jax.tree.structure(params) == jax.tree.structure(((p,),))
    y = model.apply(((p,),), xz)
    np.testing.assert_allclose(y, lua_sequencer_fastlstm(pn, xz, maskzero=True), **TOL)
    assert not np.asarray(y[2, 0]).any()


def test_sequencer_of_plain_layers():
    model = fnn.Sequencer(fnn.Sequential(fnn.LinearNoBias(4, 2), fnn.Tanh()))
    out_shape, params = model.init(K, (-1, -1, 4), jnp.float64)
    assert out_shape == (-1, -1, 2)
    w = np.asarray(params[0][0]["weight"])
    assert w.shape == (2, 4) and np.abs(w).max() <= 0.5  # U(±1/sqrt(in))
    np.testing.assert_allclose(model.apply(params, X), np.tanh(X @ w.T), **TOL)
    assert str(fnn.LinearNoBias(4, 2)) == "nn.LinearNoBias(4 -> 2)"
    # dropout gets one key per step: two steps of equal input get different masks
    drop = fnn.Sequencer(fnn.Dropout(0.5))
    y = drop.apply((((),)), jnp.ones((2, 1, 64)), rng=jax.random.key(1), train=True)
    assert not np.array_equal(y[0], y[1])


def test_maskzero_on_plain_layers():
    lin = fnn.Linear(4, 3)
    _, p = lin.init(K, (-1, 4), jnp.float64)
    x = np.array(rand(3, 4))
    x[1] = 0
    y = fnn.MaskZero(lin).apply((p,), x)
    np.testing.assert_allclose(y[0], lin.apply(p, x[0]), **TOL)
    assert not np.asarray(y[1]).any()  # Linear(0) = bias, masked to 0
    # n_input_dim=2: rows of matrices; table inputs take the mask from the first array
    x3 = np.ones((2, 3, 4))
    x3[0] = 0
    y3 = fnn.MaskZero(fnn.Linear(4, 3), 2).apply((p,), x3)
    assert not np.asarray(y3[0]).any() and np.asarray(y3[1]).all()
    ct = fnn.MaskZero(fnn.ConcatTable(fnn.SelectTable(0), fnn.SelectTable(1)))
    ys = ct.apply((((), ()),), (x, np.ones((3, 2))))
    assert not np.asarray(ys[1][1]).any() and np.asarray(ys[1][0]).all()


# --------------------------------------------------------------------------- errors


ERRORS = [
    (lambda: fnn.SeqLSTM(4, 3).init(K, (5, 2, 6)), ShapeError, ["nn.SeqLSTM(4 -> 3)", "4 features", "(5, 2, 6)"]),
    (lambda: fnn.SeqLSTM(4, 3).init(K, (5, 2, 1, 4)), ShapeError, ["nn.SeqLSTM(4 -> 3)", "4-D"]),
    (lambda: fnn.SeqLSTM(4, 3).init(K, (4,)), ShapeError, ["nn.SeqLSTM", "1-D"]),
    (lambda: fnn.SeqLSTM(4, 3).init(K, ((2, 2), (5, 2, 4))), ShapeError, ["nn.SeqLSTM", "h0", "(2, 3)"]),
    (lambda: fnn.SeqLSTM(4, 3, batchfirst=True).init(K, ((5, 3), (2, 3), (2, 5, 4))), ShapeError,
     ["c0", "(2, 3)", "(5, 3)"]),
    (lambda: fnn.SeqLSTM(4, 3).init(K, ((2, 3),) * 4), ShapeError, ["(c0, h0, x)"]),
    (lambda: fnn.SeqGRU(4, 3).init(K, ((2, 3), (2, 3), (5, 2, 4))), ShapeError, ["nn.SeqGRU", "(h0, x)"]),
    (lambda: fnn.SeqGRU(4, 3).apply(fnn.SeqGRU(4, 3).init(K, (5, 2, 4))[1], jnp.ones((5, 2, 2, 4))), ShapeError,
     ["nn.SeqGRU(4 -> 3)", "4-D"]),
    (lambda: fnn.SeqBRNN(4, 3).init(K, (5, 2, 3)), ShapeError, ["nn.SeqBRNN", "nn.SeqLSTM(4 -> 3)", "(5, 2, 3)"]),
    (lambda: fnn.SeqBRNN(4, 3).init(K, ((2, 3), (5, 2, 4))), ShapeError, ["nn.SeqBRNN", "table"]),
    (lambda: fnn.FastLSTM(4, 3).init(K, ((2, 4), (2, 2), (2, 3))), ShapeError, ["nn.FastLSTM(4 -> 3)", "h_prev"]),
    (lambda: fnn.FastLSTM(4, 3).init(K, (2, 5, 4)), ShapeError, ["nn.FastLSTM(4 -> 3)", "(2, 5, 4)"]),
    (lambda: fnn.Sequencer(fnn.FastLSTM(4, 3)).init(K, (5, 2, 5)), ShapeError, ["nn.Sequencer", "nn.FastLSTM", "5"]),
    (lambda: fnn.Sequencer(fnn.FastLSTM(4, 3)).init(K, (4,)), ShapeError, ["nn.Sequencer", "(T, ..., features)"]),
    (lambda: fnn.Sequencer(fnn.Linear(4, 3)).init(K, ((5, 4), (5, 3))), ShapeError, ["nn.Sequencer", "one shape"]),
    (lambda: fnn.Sequencer(fnn.MaskZero(fnn.Linear(4, 3))).apply(((fnn.Linear(4, 3).init(K, (4,))[1],),),
                                                                 (jnp.ones(4), jnp.ones(3))),
     ShapeError, ["nn.Sequencer", "one shape"]),
    (lambda: fnn.Sequencer(fnn.core.leaf("Bad", lambda p, x, *, rng, train: x[0], kind="Bad",
                                         config={"carry_sizes": (2,)})).init(K, (3, 4)),
     ShapeError, ["nn.Sequencer", "Bad", "carry_sizes", "(2,)", "(4,)"]),
    (lambda: fnn.LinearNoBias(4, 3).init(K, (2, 5)), ShapeError, ["nn.LinearNoBias(4 -> 3)", "(..., 4)", "(2, 5)"]),
    (lambda: fnn.MaskZero(fnn.Linear(4, 3), 3).init(K, (2, 4)), ShapeError, ["nn.MaskZero", "n_input_dim"]),
    (lambda: fnn.MaskZero(fnn.Sum(0)).apply(((),), jnp.ones((2, 3))), ShapeError, ["nn.MaskZero", "rows"]),
    (lambda: fnn.SeqLSTM(0, 3), ConfigError, ["nn.SeqLSTM", "inputsize"]),
    (lambda: fnn.SeqLSTM(4, 3, batchfirst=1), ConfigError, ["nn.SeqLSTM", "batchfirst"]),
    (lambda: fnn.SeqGRU(4, 3, maskzero="yes"), ConfigError, ["nn.SeqGRU", "maskzero"]),
    (lambda: fnn.SeqBRNN(4, 3, merge="sum"), ConfigError, ["nn.SeqBRNN", "merge"]),
    (lambda: fnn.FastLSTM(4, 2.5), ConfigError, ["nn.FastLSTM", "outputsize"]),
    (lambda: fnn.Sequencer(fnn.Linear), ConfigError, ["nn.Sequencer", "Module"]),
    (lambda: fnn.MaskZero(fnn.Linear(2, 2), -1), ConfigError, ["nn.MaskZero", "n_input_dim"]),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_name_the_layer(i):
    thunk, cls, fragments = ERRORS[i]
    with pytest.raises(cls) as e:
        thunk()
    text = "\n".join([str(e.value), *getattr(e.value, "__notes__", [])])  # containers add notes (PEP 678)
    for frag in fragments:
        assert frag in text, (frag, text)
