"""RNN, LSTM, GRU and their cells against PyTorch 2.13 (``torch.nn``): forward and gradients.

The grid num_layers {1, 2, 3} x bidirectional x batch_first x bias x hx given x batched, crossed
with the modes (RNN tanh, RNN relu, LSTM, LSTM with proj_size, GRU), is sampled by a covering
set: every pair of factor values appears in some case (15 cases instead of 480). Each case loads
the torch module's ``state_dict`` into fnn (strictly, no renaming), compares output, h_n, c_n and
the gradients of a random linear functional of them with respect to every parameter and to x,
h0 and c0. float64: 1e-10; float32: 1e-5.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnn
from tests.conftest import torch_or_skip

L, N, H_IN, H, PROJ = 4, 3, 3, 4, 2

# (mode, num_layers, bidirectional, batch_first, bias, hx given, batched): all pairs covered
GRID = [
    ("rnn_tanh", 1, False, False, True, False, True),
    ("rnn_tanh", 2, True, True, False, True, False),
    ("rnn_relu", 3, False, False, True, True, False),
    ("lstm", 3, True, True, False, False, True),
    ("lstm_proj", 1, False, True, False, False, False),
    ("lstm_proj", 2, True, False, True, True, True),
    ("gru", 1, True, False, False, True, True),
    ("gru", 2, False, True, True, False, False),
    ("rnn_relu", 1, True, True, False, False, True),
    ("lstm", 1, False, False, True, True, False),
    ("rnn_tanh", 3, False, False, True, False, True),
    ("rnn_relu", 2, False, False, True, False, True),
    ("lstm", 2, False, False, True, False, True),
    ("lstm_proj", 3, False, False, True, False, True),
    ("gru", 3, False, False, True, False, True),
]


def _pair(torch, mode, layers, bi, bf, bias):
    kw = dict(num_layers=layers, bidirectional=bi, batch_first=bf, bias=bias)
    if mode.startswith("rnn"):
        kw["nonlinearity"] = mode[4:]
        return torch.nn.RNN(H_IN, H, **kw), fnn.RNN(H_IN, H, **kw)
    if mode.startswith("lstm"):
        kw["proj_size"] = PROJ if mode == "lstm_proj" else 0
        return torch.nn.LSTM(H_IN, H, **kw), fnn.LSTM(H_IN, H, **kw)
    return torch.nn.GRU(H_IN, H, **kw), fnn.GRU(H_IN, H, **kw)


def _inputs(rng, mode, layers, bi, bf, batched, dtype):
    d = layers * (2 if bi else 1)
    x_shape = ((N, L, H_IN) if bf else (L, N, H_IN)) if batched else (L, H_IN)
    lead = (d, N) if batched else (d,)
    hx = [rng.standard_normal(lead + ((PROJ if mode == "lstm_proj" else H),))]
    if mode.startswith("lstm"):
        hx.append(rng.standard_normal(lead + (H,)))
    return rng.standard_normal(x_shape).astype(dtype), [h.astype(dtype) for h in hx]


def _torch_run(torch, tm, x, hx, given, lstm, cotangents):
    xt = torch.tensor(x, requires_grad=True)
    hts = [torch.tensor(h, requires_grad=True) for h in hx]
    arg = (tuple(hts) if lstm else hts[0]) if given else None
    out, hn = tm(xt, arg)
    outs = [out, *(hn if lstm else (hn,))]
    loss = sum((o * torch.tensor(c)).sum() for o, c in zip(outs, cotangents))
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in tm.named_parameters()}
    grads["x"] = xt.grad.numpy()
    if given:
        grads.update({f"h{i}": h.grad.numpy() for i, h in enumerate(hts)})
    return [o.detach().numpy() for o in outs], grads


def _fnn_run(fm, params, x, hx, given, lstm, cotangents):
    def f(p, x, hx):
        inp = (x, (tuple(hx) if lstm else hx[0])) if given else x
        out, hn = fm.apply(p, inp)
        return [out, *(hn if lstm else (hn,))]

    @jax.jit  # one compiled program: much cheaper than tracing the scan op by op
    def run(p, x, hx, cots):
        outs, vjp = jax.vjp(f, p, x, hx)
        return outs, vjp(cots)

    hx, cots = [jnp.asarray(h) for h in hx], [jnp.asarray(c) for c in cotangents]
    outs, (gp, gx, ghx) = run(params, jnp.asarray(x), hx, cots)
    grads = {**gp, "x": gx}
    if given:
        grads.update({f"h{i}": g for i, g in enumerate(ghx)})
    return outs, grads


def _close(a, b, tol, what):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol, err_msg=what)


def _check_case(torch, case, dtype, tol):
    mode, layers, bi, bf, bias, given, batched = case
    torch.manual_seed(0)
    tm, fm = _pair(torch, mode, layers, bi, bf, bias)
    tm = tm.to(torch.float64 if dtype == np.float64 else torch.float32)
    rng = np.random.default_rng(1)
    x, hx = _inputs(rng, mode, layers, bi, bf, batched, dtype)
    lstm = mode.startswith("lstm")
    _, params = fm.init(jax.random.key(0), x.shape, jnp.dtype(dtype))
    params, _, report = fnn.load_torch_state_dict(fm, params, None, tm.state_dict())  # strict: no renaming
    assert not report.converted
    cots = _cotangents(torch, tm, x, hx, given, lstm, rng)
    t_outs, t_grads = _torch_run(torch, tm, x, hx, given, lstm, cots)
    f_outs, f_grads = _fnn_run(fm, params, x, hx, given, lstm, cots)
    for name, a, b in zip(("output", "h_n", "c_n"), t_outs, f_outs):
        assert a.shape == b.shape, (name, a.shape, b.shape)
        _close(a, b, tol, name)
    assert set(t_grads) == set(f_grads)
    for k in t_grads:
        _close(t_grads[k], f_grads[k], tol, f"gradient wrt {k}")


def _cotangents(torch, tm, x, hx, given, lstm, rng):
    """Random weights of the functional whose gradient is compared (shapes from a no-grad torch run)."""
    with torch.no_grad():
        arg = (tuple(torch.tensor(h) for h in hx) if lstm else torch.tensor(hx[0])) if given else None
        out, hn = tm(torch.tensor(x), arg)
    return [rng.standard_normal(tuple(o.shape)).astype(x.dtype) for o in [out, *(hn if lstm else (hn,))]]


@pytest.mark.parametrize("case", GRID, ids=["-".join(map(str, c)) for c in GRID])
def test_grid_float64(case):
    _check_case(torch_or_skip(), case, np.float64, 1e-10)


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize("case", GRID[:4], ids=["-".join(map(str, c)) for c in GRID[:4]])
def test_grid_float32(case):
    torch = torch_or_skip()
    try:
        torch.set_default_dtype(torch.float32)
        _check_case(torch, case, np.float32, 1e-5)
    finally:
        torch.set_default_dtype(torch.float64)


# --------------------------------------------------------------------------- lengths = packed sequences


@pytest.mark.parametrize("mode,layers,bi,bf", [("lstm", 2, True, False), ("gru", 1, True, True),
                                               ("rnn_tanh", 2, False, False), ("lstm_proj", 1, True, True)])
def test_lengths_match_packed_sequences(mode, layers, bi, bf):
    torch = torch_or_skip()
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    tm, fm = _pair(torch, mode, layers, bi, bf, True)
    lstm = mode.startswith("lstm")
    rng = np.random.default_rng(2)
    x, hx = _inputs(rng, mode, layers, bi, bf, True, np.float64)
    lengths = np.array([2, 4, 1])  # unsorted: enforce_sorted=False
    xt = torch.tensor(x, requires_grad=True)
    hts = [torch.tensor(h, requires_grad=True) for h in hx]
    packed = pack_padded_sequence(xt, torch.tensor(lengths), batch_first=bf, enforce_sorted=False)
    out_p, hn = tm(packed, tuple(hts) if lstm else hts[0])
    out, _ = pad_packed_sequence(out_p, batch_first=bf, total_length=L)
    t_outs = [out, *(hn if lstm else (hn,))]
    cots = [rng.standard_normal(tuple(o.shape)) for o in t_outs]
    sum((o * torch.tensor(c)).sum() for o, c in zip(t_outs, cots)).backward()

    _, params = fm.init(jax.random.key(0), x.shape, jnp.float64)
    params, _, _ = fnn.load_torch_state_dict(fm, params, None, tm.state_dict())

    def f(p, x, hx):
        o, h = fm.apply(p, (x, jnp.asarray(lengths, jnp.int32), tuple(hx) if lstm else hx[0]))
        return [o, *(h if lstm else (h,))]

    f_outs, vjp = jax.vjp(f, params, jnp.asarray(x), [jnp.asarray(h) for h in hx])
    gp, gx, ghx = vjp([jnp.asarray(c) for c in cots])
    for a, b in zip(t_outs, f_outs):
        _close(a.detach().numpy(), b, 1e-10, "output/h_n/c_n")
    for k, p in tm.named_parameters():
        _close(p.grad.numpy(), gp[k], 1e-10, k)
    _close(xt.grad.numpy(), gx, 1e-10, "x")
    for h, g in zip(hts, ghx):
        _close(h.grad.numpy(), g, 1e-10, "hx")
    # exactly zero: padded outputs and the gradient reaching padded inputs
    time_major_out = np.asarray(f_outs[0]) if not bf else np.swapaxes(np.asarray(f_outs[0]), 0, 1)
    time_major_gx = np.asarray(gx) if not bf else np.swapaxes(np.asarray(gx), 0, 1)
    for n, length in enumerate(lengths):
        assert np.all(time_major_out[length:, n] == 0)
        assert np.all(time_major_gx[length:, n] == 0)


# --------------------------------------------------------------------------- cells


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells(kind, batched):
    torch = torch_or_skip()
    torch.manual_seed(0)
    tm, fm = getattr(torch.nn, kind)(H_IN, H), getattr(fnn, kind)(H_IN, H)
    rng = np.random.default_rng(3)
    lead = (N,) if batched else ()
    x, h, c = (rng.standard_normal(lead + (s,)) for s in (H_IN, H, H))
    lstm = kind == "LSTMCell"
    _, params = fm.init(jax.random.key(0), x.shape, jnp.float64)
    params, _, _ = fnn.load_torch_state_dict(fm, params, None, tm.state_dict())
    want = tm(torch.tensor(x), (torch.tensor(h), torch.tensor(c)) if lstm else torch.tensor(h))
    got = fm.apply(params, (jnp.asarray(x), (jnp.asarray(h), jnp.asarray(c)) if lstm else jnp.asarray(h)))
    for a, b in zip(want if lstm else (want,), got if lstm else (got,)):
        _close(a.detach().numpy(), b, 1e-10, kind)
    # without hx: zeros, as PyTorch
    want0 = tm(torch.tensor(x))
    got0 = fm.apply(params, jnp.asarray(x))
    _close((want0[0] if lstm else want0).detach().numpy(), got0[0] if lstm else got0, 1e-10, kind)


# --------------------------------------------------------------------------- state_dict both ways


def test_state_dict_keys_and_strict_round_trips():
    torch = torch_or_skip()
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.LSTM(H_IN, H, num_layers=2, bidirectional=True, proj_size=PROJ))
    fm = fnn.Sequential(fnn.LSTM(H_IN, H, num_layers=2, bidirectional=True, proj_size=PROJ))
    _, params = fm.init(jax.random.key(0), (L, -1, H_IN), jnp.float64)
    assert set(fnn.to_torch_state_dict(params)) == set(tm.state_dict())
    assert "0.weight_ih_l0" in tm.state_dict() and "0.weight_hr_l1_reverse" in tm.state_dict()
    # torch -> fnn (strict) -> torch (strict): the same tensors
    loaded, _, report = fnn.load_torch_state_dict(fm, params, None, tm.state_dict(), strict=True)
    assert not report.missing and not report.unexpected and not report.converted
    back = fnn.to_torch_state_dict(loaded)
    tm2 = torch.nn.Sequential(torch.nn.LSTM(H_IN, H, num_layers=2, bidirectional=True, proj_size=PROJ))
    tm2.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in back.items()}, strict=True)
    for k, v in tm.state_dict().items():
        assert torch.equal(v, tm2.state_dict()[k]), k
    # fnn -> torch (strict) -> fnn (strict): the same arrays
    tm3 = torch.nn.Sequential(torch.nn.LSTM(H_IN, H, num_layers=2, bidirectional=True, proj_size=PROJ))
    tm3.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in fnn.to_torch_state_dict(params).items()},
                        strict=True)
    again, _, _ = fnn.load_torch_state_dict(fm, params, None, tm3.state_dict(), strict=True)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), params, again))
    # PyTorch's init U(±1/√H): every fnn param lies in the bound
    bound = 1 / np.sqrt(H)
    assert all(float(jnp.abs(v).max()) <= bound for v in jax.tree.leaves(params))
