"""Loading the torch7 ``rnn`` package's modules (Element-Research/rnn) from ``.t7`` files.

``nn.SeqLSTM`` / ``nn.SeqGRU`` keep one input-major ``weight (D+H, nH)`` and ``bias (nH,)``,
as fnn's; ``nn.FastLSTM`` keeps its gates in an ``i2g`` Linear and an ``o2g`` LinearNoBias;
``nn.Sequencer`` wraps a non-recurrent module in an ``nn.Recursor`` (unwrapped here: fnn's
Sequencer applies any step module); ``nn.MaskZero`` keeps ``module`` and ``nInputDim``;
``nn.SeqBRNN`` keeps ``forwardModule``, ``backwardModule`` (two SeqLSTMs) and ``merge``, and a
batch-first one has ``nn.Transpose`` around its inner network. Training-time fields (cells,
gates, ``sharedClones``, ``step``, ``rho``) are ignored.

Not loaded (a clear :class:`~fnn.errors.T7Error`): ``SeqLSTMP`` (``hiddensize`` different from
``outputsize``) and FastLSTM with dropout (``p > 0``) or batch normalisation. The builders are
registered only where fnn has the layers (the sequences issue).

>>> "nn.SeqLSTM" in T7_MODULES or not hasattr(nn, "SeqLSTM")
True
"""

from __future__ import annotations

from typing import Any

import fnn.layers as nn
from fnn.core import Module
from fnn.io._t7_load import Fields
from fnn.io._t7_modules import T7_MODULES


def _sizes(f: Fields) -> tuple[int, int]:
    d = f.integer("inputsize", None)
    d = f.integer("inputSize") if d is None else d
    h = f.integer("outputsize", None)
    h = f.integer("outputSize") if h is None else h
    return d, h


def _seq(ctor_name: str, n_gates: int) -> Any:
    def build(f: Fields) -> tuple[Module, Any, Any]:
        d, h = _sizes(f)
        if f.integer("hiddensize", h) != h:
            raise f.fail("a projected LSTM (hiddensize != outputsize, SeqLSTMP) has no fnn counterpart")
        w, b = f.array("weight"), f.array("bias")
        if tuple(w.shape) != (d + h, n_gates * h) or tuple(b.shape) != (n_gates * h,):
            raise f.fail(f"weight {tuple(w.shape)} and bias {tuple(b.shape)} should be ({d + h}, {n_gates * h}) "
                         f"and ({n_gates * h},)")
        m = getattr(nn, ctor_name)(d, h, f.boolean("batchfirst", False), f.boolean("maskzero", False))
        return m, {"weight": w, "bias": b}, ()
    return build


def _linear_no_bias(f: Fields) -> tuple[Module, Any, Any]:
    w = f.array("weight")
    return nn.LinearNoBias(int(w.shape[1]), int(w.shape[0])), {"weight": w}, ()


def _fast_lstm(f: Fields) -> tuple[Module, Any, Any]:
    if f.num("p", 0.0) != 0 or f.has("bn") and f.raw("bn") is True:
        raise f.fail("FastLSTM with dropout (p > 0) or batch normalisation has no fnn counterpart")
    d, h = _sizes(f)
    _, p_i, _ = f.build(f.raw("i2g"), 0)
    _, p_o, _ = f.build(f.raw("o2g"), 1)
    return nn.FastLSTM(d, h), {"i2g": p_i, "o2g": p_o}, ((), ())


def _inner(f: Fields) -> Any:
    inner = f.raw("module", None)
    if inner is None:
        mods = f.children()
        if not mods:
            raise f.fail("holds no module")
        inner = mods[0]
    return inner


def _unwrap_recursor(obj: Any) -> Any:
    while getattr(obj, "typename", None) == "nn.Recursor":
        inner = obj.get("recurrentModule") or obj.get("module")
        if inner is None:
            mods = obj.get("modules") or []
            inner = mods[0] if mods else None
        if inner is None:
            break
        obj = inner
    return obj


def _sequencer(f: Fields) -> tuple[Module, Any, Any]:
    m, p, s = f.build(_unwrap_recursor(_inner(f)), 0)
    return nn.Sequencer(m), (p,), (s,)


def _recursor(f: Fields) -> tuple[Module, Any, Any]:
    """A Recursor outside a Sequencer applies its module to one step: the module itself."""
    inner = _unwrap_recursor(f.obj)
    if inner is f.obj:
        raise f.fail("holds no module")
    return f.build(inner, 0)


def _mask_zero(f: Fields) -> tuple[Module, Any, Any]:
    m, p, s = f.build(_inner(f), 0)
    return nn.MaskZero(m, f.integer("nInputDim", 1)), (p,), (s,)


def _seq_brnn(f: Fields) -> tuple[Module, Any, Any]:
    fwd, bwd = f.raw("forwardModule"), f.raw("backwardModule")
    _, p_f, _ = f.build(fwd, 0)
    _, p_b, _ = f.build(bwd, 1)
    d, h = _sizes(Fields(fwd, f.path, f.ctx))
    inner = f.raw("module", None)
    first = inner.get("modules", [None])[0] if inner is not None else None
    batchfirst = getattr(first, "typename", None) == "nn.Transpose"
    merge = f.raw("merge", None)
    params: dict[str, Any] = {"forwardModule": p_f, "backwardModule": p_b}
    if merge is None or getattr(merge, "typename", None) == "nn.CAddTable":
        return nn.SeqBRNN(d, h, batchfirst), params, ()
    m_merge, params["merge"], s_merge = f.build(merge, 2)
    return nn.SeqBRNN(d, h, batchfirst, m_merge), params, (s_merge,)


_BUILDERS = {
    "nn.SeqLSTM": ("SeqLSTM", _seq("SeqLSTM", 4)),
    "nn.SeqGRU": ("SeqGRU", _seq("SeqGRU", 3)),
    "nn.LinearNoBias": ("LinearNoBias", _linear_no_bias),
    "nn.FastLSTM": ("FastLSTM", _fast_lstm),
    "nn.Sequencer": ("Sequencer", _sequencer),
    "nn.Recursor": ("Sequencer", _recursor),
    "nn.MaskZero": ("MaskZero", _mask_zero),
    "nn.SeqBRNN": ("SeqBRNN", _seq_brnn),
}
for _name, (_layer, _builder) in _BUILDERS.items():
    if hasattr(nn, _layer):  # the sequences issue; until then these are unknown classes
        T7_MODULES[_name] = _builder
