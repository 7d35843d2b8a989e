"""Recurrent layers with PyTorch's semantics: RNN, LSTM and GRU over whole sequences.

Each is a pure layer on ``lax.scan``: the input projection of every time step is one matmul
before the loop, the loop does only the recurrent half (``_scan.py``), and a bidirectional
layer runs both directions in the same loop. Names, arguments, input forms, outputs and the
parameter names and layouts are PyTorch's (``torch.nn.RNN``/``LSTM``/``GRU``), so a PyTorch
``state_dict`` loads with :func:`fnn.load_torch_state_dict` with no renaming.

**Why not torch7's** ``rnn`` **package** ``nn.LSTM``: that module is stateful by design. It keeps
its hidden and cell state (and its step clones) inside the module object between calls,
``forward`` steps one time step and remembers it, and ``forget()``/``remember()`` control the
memory. fnn layers are pure functions ``apply(params, x) -> y`` with no hidden object state, so
the carried state must be an explicit input and output: here ``(x, hx) -> (output, h_n)`` over a
whole sequence at once, PyTorch's contract. (torch7's sequence modules ``SeqLSTM``, ``SeqGRU``
and ``Sequencer`` map onto that contract and live in their own family file.)

Input forms (``hx`` optional, zeros when absent)::

    x                    (L, N, H_in), or (N, L, H_in) with batch_first, or unbatched (L, H_in)
    (x, hx)              hx = h0 for RNN/GRU, (h0, c0) for LSTM
    (x, lengths)         lengths: int (N,) (unbatched: a 0-d int), right-padded sequences
    (x, lengths, hx)

**hx layout:** ``h0``/``c0`` and ``h_n``/``c_n`` are ``(num_layers * num_directions, N, H)`` —
this does **NOT** follow ``batch_first``, exactly as in PyTorch (unbatched: ``(num_layers *
num_directions, H)``).

>>> import jax, jax.numpy as jnp, fnn
>>> init, apply = fnn.GRU(3, 4, num_layers=2, batch_first=True)
>>> _, params = init(jax.random.key(0), (-1, 5, 3))
>>> out, h_n = apply(params, jnp.ones((2, 5, 3)))
>>> out.shape, h_n.shape
((2, 5, 4), (2, 2, 4))
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import Initializer, Module, format_shape, is_shape, leaf, uniform
from fnn.core._args import boolean, check_number, int_arg, ints
from fnn.errors import ConfigError, DTypeError, MissingRNGError, ShapeError
from fnn.layers import _cells, _scan


class _Config:
    """The hyper-parameters of one RNN/LSTM/GRU (plain Python, never in the pytree)."""

    def __init__(self, kind: str, mode: str, input_size: int, hidden_size: int, num_layers: int, bias: bool,
                 batch_first: bool, dropout: float, bidirectional: bool, proj_size: int, unroll: int) -> None:
        layer = f"nn.{kind}"
        ints(layer, 1, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        for name, v in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            boolean(layer, name, v)
        dropout = check_number(layer, "dropout", dropout, low=0.0)
        if dropout >= 1:
            raise ConfigError(f"{layer}: dropout is the drop probability between layers, in [0, 1); got {dropout!r}")
        proj_size = int_arg(layer, "proj_size", proj_size, minimum=0)
        if proj_size >= hidden_size:
            raise ConfigError(f"{layer}: proj_size must be smaller than hidden_size ({hidden_size}), got {proj_size}")
        self.kind, self.mode, self.layer = kind, mode, layer
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.proj_size = bias, batch_first, dropout, proj_size
        self.unroll = int_arg(layer, "unroll", unroll, minimum=1)
        self.dirs = 2 if bidirectional else 1
        self.lstm = mode == "LSTM"
        self.out_size = proj_size or hidden_size  # the size of h

    def suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.dirs]

    def layer_input(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.dirs * self.out_size

    def name(self) -> str:
        extra = [f"num_layers={self.num_layers}"] if self.num_layers > 1 else []
        extra += [] if self.mode != "RNN_RELU" else ["relu"]
        extra += [f"proj_size={self.proj_size}"] if self.proj_size else []
        extra += ["bidirectional"] if self.dirs == 2 else []
        extra += ["batch_first"] if self.batch_first else []
        extra += ["without bias"] if not self.bias else []
        extra += [f"dropout={self.dropout:g}"] if self.dropout else []
        return f"nn.{self.kind}({self.input_size} -> {self.hidden_size}{''.join(', ' + e for e in extra)})"


# --------------------------------------------------------------------------- input forms


def _split(inp: Any, lstm: bool, leafy: Any, rank: Any) -> tuple[Any, Any, Any]:
    """``(x, lengths, hx)`` of any input form (shape trees or arrays); missing entries are None."""
    if leafy(inp):
        return inp, None, None
    if len(inp) == 2:
        x, a = inp
        if leafy(a) and rank(a) <= 1:
            return x, a, None
        return x, None, a
    if len(inp) == 3:
        return inp
    raise ShapeError(f"expects x, (x, hx), (x, lengths) or (x, lengths, hx); got a table of {len(inp)}")


def _split_shapes(shape: Any, lstm: bool) -> tuple[Any, Any, Any]:
    x, lengths, hx = _split(shape, lstm, is_shape, len)
    if not is_shape(x):
        raise ShapeError(f"expects x to be one array, got a table {format_shape(x)}")
    if lengths is not None and not is_shape(lengths):
        raise ShapeError(f"expects lengths to be one int array, got a table {format_shape(lengths)}")
    if hx is not None and not is_shape(hx) and all(is_shape(s) and not s for s in hx):
        raise ShapeError("expects lengths as one int array such as jnp.array([5, 3]), got a list of numbers")
    if hx is not None:
        if lstm and (is_shape(hx) or len(hx) != 2 or not all(is_shape(s) for s in hx)):
            raise ShapeError(f"expects hx = (h0, c0), a table of two arrays, got {format_shape(hx)}")
        if not lstm and not is_shape(hx):
            raise ShapeError(f"expects hx = h0, one array, got a table {format_shape(hx)}")
    return x, lengths, hx


def _split_dtypes(dtype: Any, shape: Any, lstm: bool) -> tuple[Any, Any, Any]:
    if is_shape(shape):
        return dtype, None, None
    if len(shape) == 3:
        return dtype
    x, a = dtype
    return (x, a, None) if is_shape(shape[1]) and len(shape[1]) <= 1 else (x, None, a)


def _check_hx(cfg: _Config, hx: Any, batch: int | None) -> None:
    d = cfg.num_layers * cfg.dirs
    names = ("h0", "c0") if cfg.lstm else ("h0",)
    sizes = (cfg.out_size, cfg.hidden_size)
    for s, what, size in zip((hx if cfg.lstm else (hx,)), names, sizes):
        want = (d, size) if batch is None else (d, batch, size)
        if len(s) != len(want) or not all(a == b or -1 in (a, b) for a, b in zip(s, want)):
            raise ShapeError(
                f"expects {what} of shape {format_shape(want)}: (num_layers * num_directions, "
                f"{'' if batch is None else 'N, '}{'proj_size' if what == 'h0' and cfg.proj_size else 'hidden_size'})"
                f", PyTorch's layout, which does NOT follow batch_first; got {format_shape(s)}")


def _check(cfg: _Config, shape: Any, dtype: Any) -> None:
    x, lengths, hx = _split_shapes(shape, cfg.lstm)
    xd, ld, hd = _split_dtypes(dtype, shape, cfg.lstm)
    if len(x) not in (2, 3):
        layout = "(N, L, H_in)" if cfg.batch_first else "(L, N, H_in)"
        raise ShapeError(f"expects a 3-D input {layout} or an unbatched 2-D (L, H_in), got {len(x)}-D "
                         f"{format_shape(x)}")
    for d in [xd, *jax.tree.leaves(hd)]:
        if not jnp.issubdtype(d, jnp.floating):
            raise DTypeError(f"expects floating-point x and hx, got {jnp.dtype(d).name}")
    if x[-1] not in (cfg.input_size, -1):
        raise ShapeError(f"expects input_size {cfg.input_size} features in the last dim of x, got {format_shape(x)}")
    batch = None if len(x) == 2 else x[0 if cfg.batch_first else 1]
    if lengths is not None:
        if not jnp.issubdtype(ld, jnp.integer):
            raise DTypeError(f"expects integer lengths (one per sequence), got {jnp.dtype(ld).name} (at init, "
                             "give the dtypes too: init(key, (x_shape, (N,)), (jnp.float32, jnp.int32)))")
        want = () if batch is None else (batch,)
        if len(lengths) != len(want) or not all(a == b or -1 in (a, b) for a, b in zip(lengths, want)):
            raise ShapeError(f"expects lengths of shape {format_shape(want)} (one per sequence) for x of shape "
                             f"{format_shape(x)}, got {format_shape(lengths)}")
    if hx is not None:
        _check_hx(cfg, hx, batch)


def _check_lengths(lengths: Any, steps: int) -> None:
    """Eagerly (concrete lengths), every length must be in [1, L]; under jit values cannot be read."""
    if isinstance(lengths, jax.core.Tracer):
        return
    v = np.asarray(lengths)
    if v.size and (v.min() < 1 or v.max() > steps):
        raise ShapeError(f"expects lengths in [1, {steps}] (the sequence length L={steps}), got {v.tolist()}")


# --------------------------------------------------------------------------- params


def _params(cfg: _Config, w_init: Initializer, b_init: Initializer) -> Any:
    g = _cells.GATES[cfg.mode] * cfg.hidden_size

    def params(rng: Any, shape: Any, dtype: Any) -> dict:
        p, i = {}, 0
        for layer in range(cfg.num_layers):
            for s in cfg.suffixes(layer):
                k = jax.random.split(jax.random.fold_in(rng, i), 5)
                i += 1
                p[f"weight_ih{s}"] = w_init(k[0], (g, cfg.layer_input(layer)), dtype)
                p[f"weight_hh{s}"] = w_init(k[1], (g, cfg.out_size), dtype)
                if cfg.bias:
                    p[f"bias_ih{s}"] = b_init(k[2], (g,), dtype)
                    p[f"bias_hh{s}"] = b_init(k[3], (g,), dtype)
                if cfg.proj_size:
                    p[f"weight_hr{s}"] = w_init(k[4], (cfg.proj_size, cfg.hidden_size), dtype)
        return p

    return params


# --------------------------------------------------------------------------- forward


def _dropout(cfg: _Config, x: Any, rng: Any, layer: int) -> Any:
    keep = 1.0 - cfg.dropout
    mask = jax.random.bernoulli(jax.random.fold_in(rng, layer), keep, x.shape)
    return jnp.where(mask, x / keep, jnp.zeros((), x.dtype))


def _initial(cfg: _Config, hx: Any, x: Any) -> tuple[Any, Any]:
    """``(h0, c0)`` as ``(num_layers*D, N, ·)`` arrays (c0 None for RNN/GRU), zeros when absent."""
    n, d = x.shape[1], cfg.num_layers * cfg.dirs
    if hx is None:
        h0 = jnp.zeros((d, n, cfg.out_size), x.dtype)
        return h0, (jnp.zeros((d, n, cfg.hidden_size), x.dtype) if cfg.lstm else None)
    return (tuple(hx) if cfg.lstm else (hx, None))


def _forward(cfg: _Config) -> Any:
    step = _cells.step_fn(cfg.mode)

    def forward(p: dict, inp: Any, *, rng: Any, train: bool) -> Any:
        x, lengths, hx = _split(inp, cfg.lstm, lambda v: not isinstance(v, tuple), jnp.ndim)
        batched = x.ndim == 3
        if not batched:
            x = x[:, None]
            hx = None if hx is None else jax.tree.map(lambda a: a[:, None], hx)
            lengths = None if lengths is None else jnp.reshape(lengths, (1,))
        elif cfg.batch_first:
            x = jnp.swapaxes(x, 0, 1)
        mask = None
        if lengths is not None:
            _check_lengths(lengths, x.shape[0])
            mask = _scan.length_mask(lengths, x.shape[0])
        drop = train and cfg.dropout > 0
        if drop and rng is None:
            raise MissingRNGError("has dropout between layers and needs a PRNG key in training mode; call "
                                  "apply(params, x, rng=jax.random.key(0), train=True)")
        h0, c0 = _initial(cfg, hx, x)
        out, h_n, c_n = x, [], []
        for layer in range(cfg.num_layers):
            if layer > 0 and drop:
                out = _dropout(cfg, out, rng, layer)
            sfx, first = cfg.suffixes(layer), layer * cfg.dirs
            gis = [_cells.project(cfg.mode, out, p[f"weight_ih{s}"], p.get(f"bias_ih{s}"), p.get(f"bias_hh{s}"))
                   for s in sfx]
            carry = [(h0[first + d], c0[first + d]) if cfg.lstm else h0[first + d] for d in range(cfg.dirs)]
            sps = [_cells.step_params(cfg.mode, p, s) for s in sfx]
            ys, finals = _scan.scan(step, sps, gis, carry, reverse=[d == 1 for d in range(cfg.dirs)], mask=mask,
                                    unroll=cfg.unroll)
            out = ys[0] if cfg.dirs == 1 else jnp.concatenate(ys, axis=-1)
            for f in finals:
                h_n.append(f[0] if cfg.lstm else f)
                c_n.extend([f[1]] if cfg.lstm else [])
        h_n = jnp.stack(h_n)
        c_n = jnp.stack(c_n) if cfg.lstm else None
        if not batched:
            out, h_n, c_n = out[:, 0], h_n[:, 0], (None if c_n is None else c_n[:, 0])
        elif cfg.batch_first:
            out = jnp.swapaxes(out, 0, 1)
        return (out, (h_n, c_n)) if cfg.lstm else (out, h_n)

    return forward


def _recurrent(cfg: _Config, weight_init: Initializer | None, bias_init: Initializer | None) -> Module:
    bound = 1.0 / math.sqrt(cfg.hidden_size)
    params = _params(cfg, weight_init or uniform(bound), bias_init or uniform(bound))
    config = {"input_size": cfg.input_size, "hidden_size": cfg.hidden_size, "num_layers": cfg.num_layers,
              "bias": cfg.bias, "batch_first": cfg.batch_first, "dropout": cfg.dropout,
              "bidirectional": cfg.dirs == 2, "unroll": cfg.unroll}
    if cfg.mode.startswith("RNN"):
        config["nonlinearity"] = "tanh" if cfg.mode == "RNN_TANH" else "relu"
    if cfg.lstm:
        config["proj_size"] = cfg.proj_size
    return leaf(cfg.name(), _forward(cfg), kind=cfg.kind, params=params,
                check=lambda shape, dtype: _check(cfg, shape, dtype), float_input=False, config=config)


_SHAPES = """
    Shape contract (L sequence length, N batch, D = 2 if bidirectional else 1):
      input ``x``: ``(L, N, input_size)``, or ``(N, L, input_size)`` with ``batch_first``, or
      unbatched ``(L, input_size)``; or a table ``(x, hx)``, ``(x, lengths)``, ``(x, lengths, hx)``
      with ``lengths`` an int array ``(N,)`` of right-padded sequence lengths in ``[1, L]``.
      **hx is (num_layers * D, N, H): it does NOT follow batch_first** (PyTorch's layout;
      unbatched: ``(num_layers * D, H)``); zeros when absent.
      output: ``output`` ``(L, N, D * H_out)`` (``(N, L, ...)`` with ``batch_first``); ``h_n`` as ``h0``.

    With ``lengths`` (PyTorch's packed-sequence semantics, without packing): outputs at
    ``t >= length`` are exactly 0 and pass back exactly 0 gradient to the padded inputs;
    ``h_n``/``c_n`` are each sequence's last valid step; the reverse direction starts at each
    sequence's own end. Lengths outside ``[1, L]`` raise a :class:`ShapeError` eagerly; under
    ``jit`` they cannot be read (a length above L acts as L, one below 1 leaves ``h0``).

    Dropout (``dropout > 0``) is applied to the output of every layer but the last, in training
    mode only, with the key given to ``apply``; without one it raises :class:`MissingRNGError`.
    ``unroll`` is ``lax.scan``'s unroll factor (a speed/compile-time trade-off, same results).
"""


def RNN(input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh", bias: bool = True,
        batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *, unroll: int = 1,
        weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """An Elman RNN, ``h_t = act(x_t Wᵢₕᵀ + bᵢₕ + h_{t-1} Wₕₕᵀ + bₕₕ)`` (PyTorch's ``nn.RNN``).

    Args:
      input_size: features of ``x``.
      hidden_size: features of ``h`` (H).
      num_layers: stacked layers; layer ``l > 0`` reads the output of layer ``l - 1``.
      nonlinearity: ``'tanh'`` or ``'relu'``.
      bias: whether to use ``bias_ih_l*`` and ``bias_hh_l*``.
      batch_first: ``x`` and ``output`` are ``(N, L, ·)``; **hx and h_n are not affected**.
      dropout: drop probability between layers (training mode only).
      bidirectional: add a reverse direction (params ``..._reverse``), outputs concatenated.
      unroll: ``lax.scan`` unroll factor.
      weight_init: ``(key, shape, dtype) -> array``; default PyTorch's ``U(±1/√hidden_size)``.
      bias_init: as ``weight_init``; same default.
    {shapes}
    Output: ``(output, h_n)``. Params (one dict, PyTorch's names and layouts): ``weight_ih_l{k}
    (H, in_k)``, ``weight_hh_l{k} (H, H)``, ``bias_ih_l{k} (H,)``, ``bias_hh_l{k} (H,)``, and
    the same with ``_reverse``; ``in_0 = input_size``, ``in_k = D * H``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.RNN(3, 4, nonlinearity="relu", bidirectional=True)
    >>> _, params = init(jax.random.key(0), (5, -1, 3))
    >>> out, h_n = apply(params, jnp.ones((5, 2, 3)))
    >>> out.shape, h_n.shape, sorted(params)[:2]
    ((5, 2, 8), (2, 2, 4), ['bias_hh_l0', 'bias_hh_l0_reverse'])
    """
    mode = _cells.nonlinearity_mode("nn.RNN", nonlinearity)
    cfg = _Config("RNN", mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                  unroll)
    return _recurrent(cfg, weight_init, bias_init)


def LSTM(input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True, batch_first: bool = False,
         dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0, *, unroll: int = 1,
         weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """A long short-term memory network (PyTorch's ``nn.LSTM``), gates ``i, f, g, o``.

    ``c_t = σ(f) c_{t-1} + σ(i) tanh(g)``, ``h_t = σ(o) tanh(c_t)``; with ``proj_size > 0``
    ``h_t = W_hr (σ(o) tanh(c_t))`` has ``proj_size`` features (H_out = proj_size).

    torch7's ``rnn`` package ``nn.LSTM`` cannot be copied as is: it is a stateful module that
    keeps ``h`` and ``c`` inside itself between ``forward`` calls (``forget()`` resets them),
    while an fnn layer is a pure function. Here the state is explicit: ``hx = (h0, c0)`` in,
    ``(h_n, c_n)`` out, over a whole sequence per call (PyTorch's contract); to carry state
    across calls (truncated BPTT), feed ``(h_n, c_n)`` back as the next call's ``hx``.

    Args:
      input_size: features of ``x``.
      hidden_size: features of the cell state ``c`` (H).
      num_layers: stacked layers.
      bias: whether to use ``bias_ih_l*`` and ``bias_hh_l*``.
      batch_first: ``x`` and ``output`` are ``(N, L, ·)``; **hx, h_n and c_n are not affected**.
      dropout: drop probability between layers (training mode only).
      bidirectional: add a reverse direction (params ``..._reverse``), outputs concatenated.
      proj_size: if > 0, project ``h`` to this size (``weight_hr_l*``); must be < hidden_size.
      unroll: ``lax.scan`` unroll factor.
      weight_init: ``(key, shape, dtype) -> array``; default PyTorch's ``U(±1/√hidden_size)``.
      bias_init: as ``weight_init``; same default.
    {shapes}
    Input ``hx = (h0, c0)``: ``h0 (num_layers * D, N, H_out)``, ``c0 (num_layers * D, N, H)``.
    Output: ``(output, (h_n, c_n))``. Params: ``weight_ih_l{k} (4H, in_k)``, ``weight_hh_l{k}
    (4H, H_out)``, ``bias_ih_l{k} (4H,)``, ``bias_hh_l{k} (4H,)``, ``weight_hr_l{k} (proj_size, H)``,
    and the same with ``_reverse``; ``in_0 = input_size``, ``in_k = D * H_out``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.LSTM(3, 4, num_layers=2)
    >>> _, params = init(jax.random.key(0), (5, -1, 3))
    >>> out, (h_n, c_n) = apply(params, jnp.ones((5, 2, 3)))
    >>> out.shape, h_n.shape, c_n.shape, params["weight_ih_l1"].shape
    ((5, 2, 4), (2, 2, 4), (2, 2, 4), (16, 4))
    >>> out, _ = apply(params, (jnp.ones((5, 2, 3)), jnp.array([5, 2])))   # variable lengths
    >>> float(abs(out[2:, 1]).max())
    0.0
    """
    cfg = _Config("LSTM", "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                  proj_size, unroll)
    return _recurrent(cfg, weight_init, bias_init)


def GRU(input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True, batch_first: bool = False,
        dropout: float = 0.0, bidirectional: bool = False, *, unroll: int = 1,
        weight_init: Initializer | None = None, bias_init: Initializer | None = None) -> Module:
    """A gated recurrent unit network (PyTorch's ``nn.GRU``), gates ``r, z, n``.

    ``n_t = tanh(Wᵢₙ x_t + bᵢₙ + r (Wₕₙ h_{t-1} + bₕₙ))``, ``h_t = (1 - z) n_t + z h_{t-1}``.

    Args:
      input_size: features of ``x``.
      hidden_size: features of ``h`` (H).
      num_layers: stacked layers.
      bias: whether to use ``bias_ih_l*`` and ``bias_hh_l*``.
      batch_first: ``x`` and ``output`` are ``(N, L, ·)``; **hx and h_n are not affected**.
      dropout: drop probability between layers (training mode only).
      bidirectional: add a reverse direction (params ``..._reverse``), outputs concatenated.
      unroll: ``lax.scan`` unroll factor.
      weight_init: ``(key, shape, dtype) -> array``; default PyTorch's ``U(±1/√hidden_size)``.
      bias_init: as ``weight_init``; same default.
    {shapes}
    Output: ``(output, h_n)``. Params: ``weight_ih_l{k} (3H, in_k)``, ``weight_hh_l{k} (3H, H)``,
    ``bias_ih_l{k} (3H,)``, ``bias_hh_l{k} (3H,)``, and the same with ``_reverse``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.GRU(3, 4)
    >>> _, params = init(jax.random.key(0), (5, 3))
    >>> out, h_n = apply(params, jnp.ones((5, 3)))      # unbatched
    >>> out.shape, h_n.shape
    ((5, 4), (1, 4))
    """
    cfg = _Config("GRU", "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                  unroll)
    return _recurrent(cfg, weight_init, bias_init)


for _f in (RNN, LSTM, GRU):
    if _f.__doc__:  # None under python -OO
        _f.__doc__ = _f.__doc__.replace("{shapes}", _SHAPES)

__all__ = ["RNN", "LSTM", "GRU"]
