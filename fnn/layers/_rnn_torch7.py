"""torch7 ``rnn`` package sequence layers: SeqLSTM, SeqGRU, SeqBRNN, FastLSTM, LinearNoBias.

These follow the Element-Research ``rnn`` package's semantics and weight layouts, so the
weights of a saved torch7 sequence model map one to one (same field names, same shapes, same
gate order). They are pure: torch7's modules kept the previous call's state
(``remember()``); here every call starts from zero state unless the initial state is given as
input (SeqLSTM's ``{c0, h0, x}`` table). The PyTorch-semantics layers are :func:`fnn.LSTM` and
friends. All run on one ``lax.scan`` over time (:func:`fnn.layers._sequencer.time_scan`), with
the input projection of every time step done as one matmul before the scan.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import (
    Initializer,
    Module,
    apply_child,
    format_shape,
    init_child,
    is_shape,
    leaf,
    named,
    same_size,
    shape_of,
    uniform,
)
from fnn.core._args import boolean, ints
from fnn.errors import ConfigError, ShapeError
from fnn.layers._linear import Linear
from fnn.layers._sequencer import CARRY_SIZES, time_scan

# --------------------------------------------------------------------------- shared by SeqLSTM and SeqGRU


def _normal(std: float) -> Initializer:
    def init(key, shape, dtype=jnp.float32):
        return std * jax.random.normal(key, shape, dtype)

    return init


def _seq_params(name: str, d: int, h: int, batchfirst: bool, maskzero: bool, n_gates: int,
                weight_init: Initializer | None, bias_init: Initializer | None):
    """Checks a Seq* layer's arguments; its params function: torch7's ``weight (D+H, G·H)``, ``bias (G·H,)``
    (defaults N(0, 1/√(D+H)) and zero bias but 1 for the second gate block)."""
    ints(name, 1, inputsize=d, outputsize=h)
    boolean(name, "batchfirst", batchfirst)
    boolean(name, "maskzero", maskzero)
    w_init = weight_init or _normal(1.0 / math.sqrt(d + h))
    b_init = bias_init or _seq_bias(h, n_gates, 1)

    def params(rng, shape, dtype):
        kw, kb = jax.random.split(rng)
        return {"weight": w_init(kw, (d + h, n_gates * h), dtype), "bias": b_init(kb, (n_gates * h,), dtype)}

    return params


def _seq_bias(size: int, n_gates: int, one_gate: int) -> Initializer:
    """torch7's Seq* bias: zeros, with gate ``one_gate`` (forget for SeqLSTM, update for SeqGRU) at 1."""

    def init(key, shape, dtype=jnp.float32):
        return jnp.zeros((n_gates, size), dtype).at[one_gate].set(1).reshape(shape)

    return init


def _check_seq(shape: Any, d: int, h: int, batchfirst: bool, states: tuple[str, ...]) -> None:
    """Checks ``x`` or the table ``(*states, x)``; x is (T, N, D), (N, T, D) or unbatched (T, D)."""
    if is_shape(shape):
        x, given = shape, ()
    else:
        if len(shape) not in range(2, len(states) + 2) or not all(is_shape(s) for s in shape):
            tables = " or ".join("(" + ", ".join(states[len(states) - k:] + ("x",)) + ")"
                                 for k in range(1, len(states) + 1))
            raise ShapeError(f"expects x or a table {tables}, got {format_shape(shape)}")
        x, given = shape[-1], tuple(zip(states[len(states) - len(shape) + 1:], shape[:-1]))
    if len(x) not in (2, 3):
        layout = "(N, T, D)" if batchfirst else "(T, N, D)"
        raise ShapeError(f"expects x of shape {layout} or unbatched (T, D) with D = {d}, got {len(x)}-D "
                         f"{format_shape(x)}")
    if not same_size(d, x[-1]):
        raise ShapeError(f"expects x with {d} features in its last dim, got {format_shape(x)}")
    batch = () if len(x) == 2 else (x[0] if batchfirst else x[1],)
    for name, s in given:
        if len(s) != len(batch) + 1 or not all(same_size(a, b) for a, b in zip(s, batch + (h,))):
            want = format_shape(batch + (h,))
            raise ShapeError(f"expects {name} of shape {want} (batch, outputsize), got {format_shape(s)}")


def _split_input(x: Any, batchfirst: bool) -> tuple[tuple, jax.Array]:
    states, x = (x[:-1], x[-1]) if isinstance(x, tuple) else ((), x)
    if batchfirst and x.ndim == 3:
        x = jnp.swapaxes(x, 0, 1)
    return states, x


def _time_major_out(y: jax.Array, batchfirst: bool) -> jax.Array:
    return jnp.swapaxes(y, 0, 1) if batchfirst and y.ndim == 3 else y


def _project(x: jax.Array, w_x: jax.Array, b: jax.Array) -> jax.Array:
    """Every step's input projection ``x Wx + b`` as one matmul, before the scan."""
    g = jnp.matmul(x, w_x)
    return g + jnp.reshape(b, (1,) * (g.ndim - 1) + b.shape)


def _zero_mask(x: jax.Array, maskzero: bool) -> jax.Array | None:
    """torch7's maskzero: a step whose input row is all zeros (norm 0)."""
    return jnp.all(x == 0, axis=-1) if maskzero else None


def _seq_config(inputsize: int, outputsize: int, batchfirst: bool, maskzero: bool) -> dict:
    return {"inputsize": inputsize, "outputsize": outputsize, "batchfirst": batchfirst, "maskzero": maskzero}


# --------------------------------------------------------------------------- SeqLSTM


def _lstm_gates(a: jax.Array, c: jax.Array, h: int, order: str) -> tuple[jax.Array, jax.Array]:
    """One LSTM cell update from the gate pre-activations ``a (..., 4h)`` in gate ``order``.

    ``order`` names the four blocks: ``"ifoz"`` for SeqLSTM (input, forget, output, input
    transform), ``"izfo"`` for FastLSTM (input, hidden, forget, output). Returns ``(h, c)``.
    """
    blocks = {k: a[..., i * h:(i + 1) * h] for i, k in enumerate(order)}
    i, f, o, z = (jax.nn.sigmoid(blocks["i"]), jax.nn.sigmoid(blocks["f"]), jax.nn.sigmoid(blocks["o"]),
                  jnp.tanh(blocks["z"]))
    c = f * c + i * z
    return o * jnp.tanh(c), c


def SeqLSTM(
    inputsize: int,
    outputsize: int,
    batchfirst: bool = False,
    maskzero: bool = False,
    *,
    weight_init: Initializer | None = None,
    bias_init: Initializer | None = None,
) -> Module:
    """torch7 ``rnn``'s ``nn.SeqLSTM``: an LSTM over a whole sequence, returning every step's ``h``.

    Each step (gates in torch7's order: input, forget, output, input transform)::

        a = x[t] Wx + h[t-1] Wh + b            Wx = weight[:D], Wh = weight[D:]
        i, f, o = σ(a[:, 0:H]), σ(a[:, H:2H]), σ(a[:, 2H:3H]);  z = tanh(a[:, 3H:4H])
        c[t] = f c[t-1] + i z;   h[t] = o tanh(c[t])

    Args:
      inputsize: ``D``, the feature size of ``x``.
      outputsize: ``H``, the size of ``h`` and ``c``.
      batchfirst: input and output are ``(N, T, ·)`` instead of ``(T, N, ·)`` (torch7's field
        ``batchfirst``).
      maskzero: a step whose input row is all zeros gives ``h = 0`` and resets ``h`` and ``c`` to
        zeros for the next step (torch7's field ``maskzero``: sequences in one stream separated by
        zero steps).
      weight_init: default torch7's ``N(0, 1/√(D+H))``.
      bias_init: default torch7's: zeros, forget-gate block ``b[H:2H]`` ones.

    Shape contract: ``x`` of ``(T, N, D)`` (``(N, T, D)`` with batchfirst) or unbatched ``(T, D)``
    (torch7 took only batches) ``-> (T, N, H)`` / ``(N, T, H)`` / ``(T, H)``. The input may be the
    table ``(h0, x)`` or ``(c0, h0, x)`` (torch7's order) with ``h0, c0`` of ``(N, H)`` (``(H,)``
    unbatched); by default both start at zeros. Only the output sequence is returned (torch7 did
    the same), so the layer sits in a Sequential.
    Params: ``weight (D+H, 4H)`` (input-major, unlike Linear), ``bias (4H,)``: torch7's fields.

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.Sequential(fnn.SeqLSTM(3, 4), fnn.SeqLSTM(4, 2))
    >>> out_shape, params = model.init(jax.random.key(0), (5, -1, 3))
    >>> out_shape, params[0]['weight'].shape, model.apply(params, jnp.ones((5, 2, 3))).shape
    ((5, -1, 2), (7, 16), (5, 2, 2))
    """
    name = "nn.SeqLSTM"
    d, h = inputsize, outputsize
    params = _seq_params(name, inputsize, outputsize, batchfirst, maskzero, 4, weight_init, bias_init)

    def forward(p, x, *, rng, train):
        states, x = _split_input(x, batchfirst)
        zeros = jnp.zeros(x.shape[1:-1] + (h,), x.dtype)
        c0, h0 = ((zeros,) * (2 - len(states)) + states)
        w = p["weight"]
        gx = _project(x, w[:d], p["bias"])

        def cell(carry, g):
            h_prev, c_prev = carry
            h_new, c_new = _lstm_gates(g + jnp.matmul(h_prev, w[d:]), c_prev, h, "ifoz")
            return (h_new, c_new), h_new

        _, ys = time_scan(cell, (h0, c0), gx, mask=_zero_mask(x, maskzero))
        return _time_major_out(ys, batchfirst)

    return leaf(
        f"{name}({d} -> {h}{', batchfirst' if batchfirst else ''}{', maskzero' if maskzero else ''})",
        forward,
        kind="SeqLSTM",
        params=params,
        check=lambda shape, dtype: _check_seq(shape, d, h, batchfirst, ("c0", "h0")),
        config=_seq_config(d, h, batchfirst, maskzero),
    )


# --------------------------------------------------------------------------- SeqGRU


def SeqGRU(
    inputsize: int,
    outputsize: int,
    batchfirst: bool = False,
    maskzero: bool = False,
    *,
    weight_init: Initializer | None = None,
    bias_init: Initializer | None = None,
) -> Module:
    """torch7 ``rnn``'s ``nn.SeqGRU``: a GRU over a whole sequence, returning every step's ``h``.

    Each step (gates: reset, update, candidate)::

        r = σ(x Wx[:, 0:H] + h[t-1] Wh[:, 0:H] + b[0:H])
        u = σ(x Wx[:, H:2H] + h[t-1] Wh[:, H:2H] + b[H:2H])
        ĥ = tanh(x Wx[:, 2H:] + (r ⊙ h[t-1]) Wh[:, 2H:] + b[2H:])
        h[t] = (1 - u) ⊙ ĥ + u ⊙ h[t-1]

    Its candidate differs from PyTorch's ``nn.GRU`` (:func:`fnn.GRU`), which applies the reset
    gate after the hidden matmul and its bias, ``tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``, and
    mixes ``(1 - z) ⊙ n + z ⊙ h`` with its own gate order (reset, update, new) and separate
    biases: the two are different functions, so this is not an alias.

    Args:
      inputsize: ``D``, the feature size of ``x``.
      outputsize: ``H``, the size of ``h``.
      batchfirst: input and output are ``(N, T, ·)`` instead of ``(T, N, ·)``.
      maskzero: a step whose input row is all zeros gives ``h = 0`` and resets ``h`` for the next step.
      weight_init: default torch7's ``N(0, 1/√(D+H))``.
      bias_init: default torch7's: zeros, update-gate block ``b[H:2H]`` ones.

    Shape contract: as :func:`SeqLSTM`; the table input is ``(h0, x)``.
    Params: ``weight (D+H, 3H)``, ``bias (3H,)``: torch7's fields.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.SeqGRU(3, 4, batchfirst=True)
    >>> out_shape, params = init(jax.random.key(0), (-1, 5, 3))
    >>> out_shape, params['weight'].shape, apply(params, jnp.ones((2, 5, 3))).shape
    ((-1, 5, 4), (7, 12), (2, 5, 4))
    """
    name = "nn.SeqGRU"
    d, h = inputsize, outputsize
    params = _seq_params(name, inputsize, outputsize, batchfirst, maskzero, 3, weight_init, bias_init)

    def forward(p, x, *, rng, train):
        states, x = _split_input(x, batchfirst)
        h0 = states[0] if states else jnp.zeros(x.shape[1:-1] + (h,), x.dtype)
        w = p["weight"]
        w_ru, w_c = w[d:, : 2 * h], w[d:, 2 * h:]
        gx = _project(x, w[:d], p["bias"])

        def cell(h_prev, g):
            ru = jax.nn.sigmoid(g[..., : 2 * h] + jnp.matmul(h_prev, w_ru))
            r, u = ru[..., :h], ru[..., h:]
            cand = jnp.tanh(g[..., 2 * h:] + jnp.matmul(r * h_prev, w_c))
            h_new = (1 - u) * cand + u * h_prev
            return h_new, h_new

        _, ys = time_scan(cell, h0, gx, mask=_zero_mask(x, maskzero))
        return _time_major_out(ys, batchfirst)

    return leaf(
        f"{name}({d} -> {h}{', batchfirst' if batchfirst else ''}{', maskzero' if maskzero else ''})",
        forward,
        kind="SeqGRU",
        params=params,
        check=lambda shape, dtype: _check_seq(shape, d, h, batchfirst, ("h0",)),
        config=_seq_config(d, h, batchfirst, maskzero),
    )


# --------------------------------------------------------------------------- SeqBRNN


def SeqBRNN(
    inputsize: int,
    outputsize: int,
    batchfirst: bool = False,
    merge: Module | None = None,
) -> Module:
    """torch7 ``rnn``'s ``nn.SeqBRNN``: a bidirectional :func:`SeqLSTM` whose two outputs are merged.

    A forward SeqLSTM reads the sequence in order; a backward SeqLSTM reads it reversed along
    time and its output is reversed back; ``merge`` joins the two per step (default: their sum,
    torch7's ``nn.CAddTable()``; ``fnn.JoinTable(-1)`` concatenates them).

    Args:
      inputsize: ``D``, the feature size of ``x``.
      outputsize: ``H``, the output size of each direction.
      batchfirst: input and output are ``(N, T, ·)`` instead of ``(T, N, ·)``.
      merge: a Module taking the table ``(forward_out, backward_out)``; default: the sum.

    Shape contract: ``(T, N, D)`` (``(N, T, D)`` with batchfirst) or unbatched ``(T, D)`` ->
    the merge's output, ``(T, N, H)`` for the sum.
    Params: ``{"forwardModule": {"weight", "bias"}, "backwardModule": {"weight", "bias"}}``
    (torch7's field names; each a SeqLSTM's params), plus ``"merge"`` when a merge module is given.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.SeqBRNN(3, 4)
    >>> out_shape, params = init(jax.random.key(0), (5, -1, 3))
    >>> out_shape, sorted(params), apply(params, jnp.ones((5, 2, 3))).shape
    ((5, -1, 4), ['backwardModule', 'forwardModule'], (5, 2, 4))
    """
    name = "nn.SeqBRNN"
    ints(name, 1, inputsize=inputsize, outputsize=outputsize)
    boolean(name, "batchfirst", batchfirst)
    if merge is not None and not isinstance(merge, Module):
        raise ConfigError(f"{name}: merge must be an fnn Module (e.g. fnn.JoinTable(-1)) or None, got {merge!r}")
    fwd, bwd = SeqLSTM(inputsize, outputsize, batchfirst), SeqLSTM(inputsize, outputsize, batchfirst)
    time_axis = 1 if batchfirst else 0

    def reverse(a):
        return jnp.flip(a, time_axis if a.ndim == 3 else 0)

    def check(shape):
        if not is_shape(shape):
            raise ShapeError(f"{m.name} expects one sequence array x, got a table {format_shape(shape)}")

    def init_fn(rng, shape, dtype):
        check(shape)
        kf, kb, km = jax.random.split(rng, 3)
        out, out_dtype, pf, _ = init_child(m, "forwardModule", fwd, kf, shape, dtype)
        _, _, pb, _ = init_child(m, "backwardModule", bwd, kb, shape, dtype)
        params, state = {"forwardModule": pf, "backwardModule": pb}, ()
        if merge is not None:
            out, out_dtype, params["merge"], s = init_child(m, "merge", merge, km, (out, out), (out_dtype,) * 2)
            state = (s,)
        return out, out_dtype, params, state

    def apply_fn(params, state, x, *, rng=None, train=False):
        check(shape_of(x))
        yf, _ = apply_child(m, "forwardModule", fwd, params["forwardModule"], (), x, None, train)
        yb, _ = apply_child(m, "backwardModule", bwd, params["backwardModule"], (), reverse(x), None, train)
        yb = reverse(yb)
        if merge is None:
            return yf + yb, state
        y, s = apply_child(m, "merge", merge, params["merge"], state[0], (yf, yb), rng, train)
        return y, (s,)

    children = () if merge is None else (merge,)

    def render(mod):
        inner = "nn.CAddTable" if merge is None else str(merge).replace("\n", "\n  ")
        return f"nn.SeqBRNN({inputsize} -> {outputsize}{', batchfirst' if batchfirst else ''}) @ merge: {inner}"

    m = Module(name=f"{name}({inputsize} -> {outputsize})", init_fn=init_fn, apply_fn=apply_fn, children=children,
               has_state=merge is not None and merge.has_state, kind="SeqBRNN", render=render,
               config={"inputsize": inputsize, "outputsize": outputsize, "batchfirst": batchfirst})
    return m


# --------------------------------------------------------------------------- LinearNoBias and FastLSTM


def LinearNoBias(
    inputsize: int, outputsize: int, *, weight_init: Initializer | None = None
) -> Module:
    """torch7 ``rnn``'s ``nn.LinearNoBias``: ``y = x Wᵀ``, a Linear without a bias.

    Args:
      inputsize: size of the last input dim.
      outputsize: size of the last output dim.
      weight_init: default torch7's ``U(±1/√inputsize)``.

    Shape contract: ``(..., in) -> (..., out)`` (torch7 took ``(in)`` or ``(B, in)``).
    Params: ``weight (out, in)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.LinearNoBias(3, 2)
    >>> _, params = init(jax.random.key(0), (-1, 3))
    >>> sorted(params), apply(params, jnp.zeros((4, 3))).sum()
    (['weight'], Array(0., dtype=float32))
    """
    ints("nn.LinearNoBias", 1, inputsize=inputsize, outputsize=outputsize)
    w_init = weight_init or uniform(1.0 / math.sqrt(inputsize))

    def check(shape, dtype):
        if not is_shape(shape) or len(shape) < 1 or not same_size(inputsize, shape[-1]):
            raise ShapeError(f"expects input (..., {inputsize}), got {format_shape(shape)}")

    return leaf(
        f"nn.LinearNoBias({inputsize} -> {outputsize})",
        lambda p, x, *, rng, train: jnp.matmul(x, p["weight"].T),
        kind="LinearNoBias",
        params=lambda rng, shape, dtype: {"weight": w_init(rng, (outputsize, inputsize), dtype)},
        check=check,
        config={"inputsize": inputsize, "outputsize": outputsize},
    )


def _check_fast(shape: Any, d: int, h: int) -> None:
    if is_shape(shape):
        x, states = shape, ()
    elif len(shape) == 3 and all(is_shape(s) for s in shape):
        x, states = shape[0], shape[1:]
    else:
        raise ShapeError(f"expects x or the step table (x, h_prev, c_prev), got {format_shape(shape)}")
    if len(x) not in (1, 2) or not same_size(d, x[-1]):
        raise ShapeError(f"expects x of shape (N, {d}) or ({d},), got {format_shape(shape)}")
    for nm, s in zip(("h_prev", "c_prev"), states):
        if len(s) != len(x) or not all(same_size(a, b) for a, b in zip(s, tuple(x[:-1]) + (h,))):
            raise ShapeError(f"expects {nm} of shape {format_shape(tuple(x[:-1]) + (h,))}, got {format_shape(s)}")


def FastLSTM(
    inputsize: int,
    outputsize: int,
    *,
    i2g_init: Initializer | None = None,
    o2g_init: Initializer | None = None,
) -> Module:
    """torch7 ``rnn``'s ``nn.FastLSTM``: one LSTM step, a recurrent step module for :func:`~fnn.Sequencer`.

    The four gates come from one ``i2g`` Linear and one ``o2g`` LinearNoBias, in torch7's
    FastLSTM order: input, hidden (the input transform), forget, output::

        a = i2g(x) + o2g(h_prev)                # (.., 4H)
        i, z, f, o = σ(a[0:H]), tanh(a[H:2H]), σ(a[2H:3H]), σ(a[3H:4H])
        c = f c_prev + i z;   h = o tanh(c)

    (SeqLSTM computes the same function with gates in the order input, forget, output,
    transform and an input-major weight.) This is the recurrent step module torch7 called the
    ``recurrentModule``: applied to the table ``(x, h_prev, c_prev)`` it returns ``(h, c)``, and
    its config carries ``carry_sizes = (H, H)`` so that :func:`~fnn.Sequencer` carries ``h`` and
    ``c`` (zeros at the first step) through its scan. Applied to a lone ``x`` it runs one step from
    zero state and returns ``h`` (torch7's first ``forward``). torch7's FastLSTM kept its state
    between calls; here the caller (usually Sequencer) carries it. Its dropout, batch-norm and
    nngraph variants are not built.

    Args:
      inputsize: ``D``, the feature size of ``x``.
      outputsize: ``H``, the size of ``h`` and ``c``.
      i2g_init: the initialiser of both i2g params; default torch7's Linear ``U(±1/√D)``.
      o2g_init: default torch7's LinearNoBias ``U(±1/√H)``.

    Shape contract: ``((N, D), (N, H), (N, H)) -> ((N, H), (N, H))``, or unbatched; ``(N, D) -> (N, H)``.
    Params: ``{"i2g": {"weight": (4H, D), "bias": (4H,)}, "o2g": {"weight": (4H, H)}}``, the params of
    its two children, as in torch7: ``fastlstm[0]`` is the ``i2g`` :func:`~fnn.Linear` and
    ``fastlstm[1]`` the ``o2g`` :func:`LinearNoBias`.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.FastLSTM(3, 4)
    >>> _, params = init(jax.random.key(0), ((-1, 3), (-1, 4), (-1, 4)))
    >>> h, c = apply(params, (jnp.ones((2, 3)), jnp.zeros((2, 4)), jnp.zeros((2, 4))))
    >>> h.shape, c.shape, params['o2g']['weight'].shape
    ((2, 4), (2, 4), (16, 4))
    """
    name = "nn.FastLSTM"
    ints(name, 1, inputsize=inputsize, outputsize=outputsize)
    d, h = inputsize, outputsize
    i2g = Linear(d, 4 * h, weight_init=i2g_init, bias_init=i2g_init)
    o2g = LinearNoBias(h, 4 * h, weight_init=o2g_init)

    def check(shape):
        try:
            _check_fast(shape, d, h)
        except ShapeError as e:
            raise named(e, m.name) from None

    def init_fn(rng, shape, dtype):
        check(shape)
        k_i, k_o = jax.random.split(rng)
        step = not is_shape(shape)
        x_shape, x_dtype = (shape[0], dtype[0] if isinstance(dtype, tuple) else dtype) if step else (shape, dtype)
        _, out_dtype, p_i, _ = init_child(m, "i2g", i2g, k_i, x_shape, x_dtype)
        _, _, p_o, _ = init_child(m, "o2g", o2g, k_o, tuple(x_shape[:-1]) + (h,), out_dtype)
        out = tuple(x_shape[:-1]) + (h,)
        return ((out, out), (out_dtype, out_dtype)) if step else (out, out_dtype), {"i2g": p_i, "o2g": p_o}, ((), ())

    def apply_fn(params, state, x, *, rng=None, train=False):
        check(shape_of(x))
        step = isinstance(x, tuple)
        if not step:
            zeros = jnp.zeros(x.shape[:-1] + (h,), x.dtype)
            x = (x, zeros, zeros)
        x_t, h_prev, c_prev = x
        a_x, _ = apply_child(m, "i2g", i2g, params["i2g"], (), x_t, None, train)
        a_h, _ = apply_child(m, "o2g", o2g, params["o2g"], (), h_prev, None, train)
        h_new, c_new = _lstm_gates(a_x + a_h, c_prev, h, "izfo")
        return ((h_new, c_new) if step else h_new), state

    def init_all(rng, shape, dtype):
        (out, out_dtype), p, s = init_fn(rng, shape, dtype)
        return out, out_dtype, p, s

    m = Module(name=f"{name}({d} -> {h})", init_fn=init_all, apply_fn=apply_fn, children=(i2g, o2g), kind="FastLSTM",
               render=lambda mod: mod.name, config={"inputsize": d, "outputsize": h, CARRY_SIZES: (h, h)})
    return m


__all__ = ["SeqLSTM", "SeqGRU", "SeqBRNN", "LinearNoBias", "FastLSTM"]
