"""A small writer of Lua torch7 ``.t7`` files, for tests only (fnn itself only reads them).

:func:`dumps` serialises what :func:`fnn.read_t7` returns (None, numbers, booleans, strings,
tables, lists, numpy arrays as contiguous tensors, :class:`T7Object`, :class:`T7Function`) in
torch7's binary format, with torch7's reference indices, so that shared and self-referencing
objects are written once (checked against the genuine files in ``../shared/data/t7``: writing
what was read gives the same bytes).

:func:`to_t7` turns an fnn model with its params and state into the object tree Lua torch7
would have saved for it (torch7 field names, 1-based dims), for the layer kinds the round-trip
tests use: this is the inverse of ``fnn/io/_t7_modules.py``, written independently from torch/nn's
Lua sources.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from fnn.io import T7Function, T7List, T7Object, T7Table

_CLASS = {
    np.dtype(np.float64): "Double", np.dtype(np.float32): "Float", np.dtype(np.float16): "Half",
    np.dtype(np.int64): "Long", np.dtype(np.int32): "Int", np.dtype(np.int16): "Short",
    np.dtype(np.int8): "Char", np.dtype(np.uint8): "Byte",
}


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()
        self.index: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps written objects alive so ids stay unique

    def int32(self, v: int) -> None:
        self.out += struct.pack("<i", v)

    def string(self, s: str | bytes) -> None:
        raw = s.encode("utf-8") if isinstance(s, str) else s
        self.int32(len(raw))
        self.out += raw

    def reference(self, tag: int, obj: Any) -> bool:
        """Writes the tag and index; True when the object was written before (a reference)."""
        self.int32(tag)
        if id(obj) in self.index:
            self.int32(self.index[id(obj)])
            return True
        self.index[id(obj)] = len(self.index) + 1
        self.keep.append(obj)
        self.int32(self.index[id(obj)])
        return False

    def write(self, obj: Any) -> None:
        if obj is None:
            self.int32(0)
        elif isinstance(obj, bool):
            self.int32(5)
            self.int32(1 if obj else 0)
        elif isinstance(obj, (int, float, np.integer, np.floating)) and not isinstance(obj, np.ndarray):
            self.int32(1)
            self.out += struct.pack("<d", float(obj))
        elif isinstance(obj, (str, bytes)):
            self.int32(2)
            self.string(obj)
        elif isinstance(obj, np.ndarray):
            self.tensor(obj)
        elif isinstance(obj, T7Object):
            if not self.reference(4, obj):
                self.string(f"V {obj.version}")
                self.string(obj.typename)
                self.write(obj.fields)
        elif isinstance(obj, T7Function):
            if not self.reference(8, obj):
                self.string(obj.bytecode)
                self.write(obj.upvalues)
        elif isinstance(obj, (list, tuple)):  # Lua tables hold no nil: None entries are left out
            self.table(obj, [(k, v) for k, v in enumerate(obj, start=1) if v is not None])
        elif isinstance(obj, dict):
            self.table(obj, [(k, v) for k, v in obj.items() if v is not None])
        else:
            raise TypeError(f"cannot write a {type(obj).__name__}")

    def table(self, obj: Any, items: list) -> None:
        if self.reference(3, obj):
            return
        self.int32(len(items))
        for k, v in items:
            self.write(k)
            self.write(v)

    def tensor(self, a: np.ndarray) -> None:
        name = _CLASS[a.dtype]
        if self.reference(4, a):
            return
        self.string("V 1")
        self.string(f"torch.{name}Tensor")
        if a.size == 0:
            self.int32(0)
            self.out += struct.pack("<q", 1)
            self.int32(0)  # no storage
            return
        shape = a.shape
        strides = [int(np.prod(shape[i + 1:])) for i in range(len(shape))]
        self.int32(len(shape))
        self.out += struct.pack(f"<{len(shape)}q", *shape)
        self.out += struct.pack(f"<{len(shape)}q", *strides)
        self.out += struct.pack("<q", 1)
        storage = np.ascontiguousarray(a).reshape(-1)
        self.reference(4, storage)
        self.string("V 1")
        self.string(f"torch.{name}Storage")
        self.out += struct.pack("<q", storage.size)
        self.out += storage.astype(storage.dtype.newbyteorder("<")).tobytes()


def dumps(obj: Any) -> bytes:
    """The bytes torch7's ``torch.save`` would write for ``obj`` (binary mode)."""
    w = _Writer()
    w.write(obj)
    return bytes(w.out)


def write_t7(path: Any, obj: Any) -> None:
    with open(path, "wb") as f:
        f.write(dumps(obj))


def module(typename: str, **fields: Any) -> T7Object:
    """A torch object with the given fields, plus the training-only ones torch7 always saves."""
    base = {"output": np.zeros(0, np.float32), "gradInput": np.zeros(0, np.float32), "train": False}
    return T7Object(typename, 1, T7Table({**base, **fields}))


# --------------------------------------------------------------------------- fnn model -> torch7 tree


def _d(dim: int | None) -> int | None:
    """fnn's 0-based dim as torch7's 1-based one (negative ones count from the end in both)."""
    return None if dim is None else (dim + 1 if dim >= 0 else dim)


def _np(x: Any) -> np.ndarray:
    return np.asarray(x)


def _weights(p: Any) -> dict:
    out = {"weight": _np(p["weight"]), "gradWeight": np.zeros_like(_np(p["weight"]))}
    if "bias" in p:
        out["bias"] = _np(p["bias"])
    return out


def _leaf_fields(kind: str, c: dict, p: Any, s: Any) -> dict:
    conv = lambda: {"nInputPlane": c["n_in"], "nOutputPlane": c["n_out"], "kW": c["kW"], "kH": c["kH"],  # noqa: E731
                    "dW": c["dW"], "dH": c["dH"], "padW": c["padW"], "padH": c["padH"], **_weights(p)}
    table = {
        "Linear": lambda: _weights(p),
        "SpatialConvolution": conv,
        "SpatialMaxPooling": lambda: {k: c[k] for k in ("kW", "kH", "dW", "dH", "padW", "padH", "ceil_mode")},
        "SpatialAveragePooling": lambda: {k: c[k] for k in ("kW", "kH", "dW", "dH", "padW", "padH", "ceil_mode",
                                                            "count_include_pad")},
        "View": lambda: {"size": np.array(c["sizes"], np.int64), "numElements": abs(int(np.prod(c["sizes"]))),
                         "numInputDims": c["num_input_dims"]},
        "Reshape": lambda: {"size": np.array(c["sizes"], np.int64), "nelement": int(np.prod(c["sizes"])),
                            "batchMode": c["batch_mode"]},
        "Dropout": lambda: {"p": c["p"], "v2": not c["v1"], "stochastic_inference": c["stochastic_inference"],
                            "noise": np.zeros(0, np.float32)},
        "Threshold": lambda: {"threshold": c["th"], "val": c["v"], "inplace": False},
        "ReLU": lambda: {"threshold": 0.0, "val": 0.0, "inplace": False},
        "JoinTable": lambda: {"dimension": _d(c["dim"]), "nInputDims": c["n_input_dims"]},
        "SplitTable": lambda: {"dimension": _d(c["dim"]), "nInputDims": c["n_input_dims"]},
        "SelectTable": lambda: {"index": _d(c["index"])},
        "NarrowTable": lambda: {"offset": _d(c["offset"]), "length": c["length"]},
        "Narrow": lambda: {"dimension": _d(c["dim"]), "index": _d(c["offset"]), "length": c["length"]},
        "Select": lambda: {"dimension": _d(c["dim"]), "index": _d(c["index"])},
        "Padding": lambda: {"dim": _d(c["dim"]), "pad": c["pad"], "nInputDim": c["n_input_dim"],
                            "value": c["value"], "index": c["index"] + 1},
        "Sum": lambda: {"dimension": _d(c["dim"]), "nInputDims": c["n_input_dims"], "sizeAverage": c["size_average"],
                        "squeeze": c["squeeze"]},
        "Mean": lambda: {"dimension": _d(c["dim"]), "nInputDims": c["n_input_dims"], "sizeAverage": True},
        "MulConstant": lambda: {"constant_scalar": c["k"]},
        "Replicate": lambda: {"nfeatures": c["n"], "dim": _d(c["dim"]), "ndim": c["ndim"]},
        "LeakyReLU": lambda: {"negval": c["negval"]},
        "ELU": lambda: {"alpha": c["alpha"]},
        "HardTanh": lambda: {"min_val": c["min_value"], "max_val": c["max_value"]},
        "CMul": lambda: {"size": np.array(c["size"], np.int64), "weight": _np(p["weight"])},
        "PReLU": lambda: {"nOutputPlane": c["n_output_plane"], "weight": _np(p["weight"])},
    }
    if kind.endswith("BatchNormalization"):
        fields = {"eps": c["eps"], "momentum": c["momentum"], "affine": c["affine"],
                  "running_mean": _np(s["running_mean"]), "running_var": _np(s["running_var"])}
        if c["affine"]:
            fields.update(_weights(p))
        return fields
    return table[kind]() if kind in table else {}


def to_t7(model: Any, params: Any, state: Any = None) -> T7Object:
    """The torch7 object tree of an fnn model (torch7 field names), with its weights."""
    state = model._empty_state() if state is None else state
    kind, c = model.kind, model.config
    if model.children:
        if kind == "MapTable":
            inner = to_t7(model.children[0], params[0], state[0])
            return module("nn.MapTable", module=inner, modules=T7List([inner]))
        kids = T7List(to_t7(m, p, s) for m, p, s in zip(model.children, params, state))
        extra = {"Concat": lambda: {"dimension": _d(c["dim"])},
                 "Parallel": lambda: {"inputDimension": _d(c["input_dim"]), "outputDimension": _d(c["output_dim"])}}
        return module(f"nn.{kind}", modules=kids, **(extra[kind]() if kind in extra else {}))
    fields = {k: v for k, v in _leaf_fields(kind, c, params, state).items() if v is not None}
    return module(f"nn.{kind}", **fields)
