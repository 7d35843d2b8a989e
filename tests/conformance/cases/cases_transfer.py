"""Conformance cases: transfer functions.

``batched=False`` marks the inputs where vmap over the leading dim genuinely differs
from the batched call under torch7's rank rules (documented in the layers):
- the softmax family without ``dim`` reads a 3-D input as one ``(C, H, W)`` image
  (dim 0) but each 2-D example along dim 1, and a 1-D input has no batch dim;
- per-channel PReLU reads the channel from dim 1 for any rank > 1, so a ``(B, C, L)``
  batch is not vmap-able (each example ``(C, L)`` would be read as ``(B=C, C=L)``),
  and a 1-D ``(C,)`` input has no batch dim;
- GatedLinearUnit with a non-negative dim splits an absolute dim, as does a PyTorch-style
  ``dim=1`` (an absolute dim: the class dim of a ``(B, C)`` batch, out of range for one example).

The PyTorch aliases (``Softmax``, ``Hardtanh``, ``GLU``, ...) call their torch7 twins with
PyTorch's argument names; they get cases with PyTorch-style arguments but no finite
differences (their twins run them, and tests/layers/test_activations.py compares them with
PyTorch).
"""

import fnn
from tests.conformance.cases import Case

_POINTWISE = [
    ("Sigmoid", fnn.Sigmoid),
    ("Tanh", fnn.Tanh),
    ("ReLU", fnn.ReLU),
    ("ReLU6", fnn.ReLU6),
    ("LeakyReLU", fnn.LeakyReLU),
    ("ELU", fnn.ELU),
    ("SELU", fnn.SELU),
    ("GELU", fnn.GELU),
    ("SoftPlus", fnn.SoftPlus),
    ("SoftSign", fnn.SoftSign),
    ("LogSigmoid", fnn.LogSigmoid),
    ("HardTanh", fnn.HardTanh),
    ("HardShrink", fnn.HardShrink),
    ("SoftShrink", fnn.SoftShrink),
    ("Threshold", fnn.Threshold),
    ("TanhShrink", fnn.TanhShrink),
]

CASES = [Case(name, make, (2, 3)) for name, make in _POINTWISE]
CASES += [Case(name, make, (2, 3, 2), id="3d") for name, make in _POINTWISE if name == "ReLU"]
CASES += [
    Case("GELU", lambda: fnn.GELU("tanh"), (2, 3), id="tanh"),
    Case("SoftPlus", lambda: fnn.SoftPlus(2.0, 1.0), (2, 3), id="beta-threshold"),
    Case("HardTanh", lambda: fnn.HardTanh(-0.5, 1.5), (2, 3), id="bounds"),
    Case("Threshold", lambda: fnn.Threshold(0.5, -3.0), (2, 3), id="th-v"),
    Case("PReLU", fnn.PReLU, (2, 3), id="shared"),
    Case("PReLU", lambda: fnn.PReLU(3), (2, 3), id="per-channel"),
    Case("PReLU", lambda: fnn.PReLU(3), (2, 3, 4), batched=False, id="per-channel-3d"),
    Case("PReLU", lambda: fnn.PReLU(3), (2, 3, 2, 2), batched=False, id="per-channel-4d"),
    Case("PReLU", lambda: fnn.PReLU(3), (3,), batched=False, id="per-channel-1d"),
    Case("GatedLinearUnit", fnn.GatedLinearUnit, (2, 4)),
    Case("GatedLinearUnit", fnn.GatedLinearUnit, (2, 3, 6), id="3d"),
    Case("GatedLinearUnit", lambda: fnn.GatedLinearUnit(1), (2, 4, 3), batched=False, id="dim1"),
]
CASES += [
    Case("SoftMax", fnn.SoftMax, (2, 3, 2, 2), id="4d"),
    Case("SoftMax", fnn.SoftMax, (4,), batched=False, id="1d"),
    Case("SoftMax", lambda: fnn.SoftMax(dim=1), (2, 3, 4, 2, 1), batched=False, id="5d-dim1"),
]
for _name, _make in [("SoftMax", fnn.SoftMax), ("LogSoftMax", fnn.LogSoftMax), ("SoftMin", fnn.SoftMin)]:
    CASES += [
        Case(_name, _make, (2, 4), id="2d"),
        Case(_name, _make, (3, 2, 2), batched=False, id="3d-image"),
        Case(_name, lambda m=_make: m(dim=-1), (2, 3, 4), id="dim-last"),
    ]
del _name, _make

# PyTorch aliases, with PyTorch's argument names.
CASES += [
    Case("Softmax", lambda: fnn.Softmax(dim=-1), (2, 3), grads=False),
    Case("LogSoftmax", lambda: fnn.LogSoftmax(dim=1), (2, 3), batched=False, grads=False),
    Case("Softmin", lambda: fnn.Softmin(dim=-1), (2, 3, 2), grads=False),
    Case("Hardtanh", lambda: fnn.Hardtanh(min_val=-0.5, max_val=1.5), (2, 3), grads=False),
    Case("Hardshrink", lambda: fnn.Hardshrink(lambd=0.3), (2, 3), grads=False),
    Case("Softshrink", lambda: fnn.Softshrink(lambd=0.3), (2, 3), grads=False),
    Case("Softplus", lambda: fnn.Softplus(beta=2.0, threshold=1.0), (2, 3), grads=False),
    Case("Softsign", fnn.Softsign, (2, 3), grads=False),
    Case("Tanhshrink", fnn.Tanhshrink, (2, 3), grads=False),
    Case("GLU", lambda: fnn.GLU(dim=-1), (2, 4), grads=False),
    Case("GLU", lambda: fnn.GLU(dim=1), (2, 4, 3), batched=False, grads=False, id="dim1"),
]
