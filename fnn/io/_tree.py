"""Trees of arrays as flat safetensors entries plus a JSON skeleton.

The machinery under :mod:`fnn.io`'s checkpoints:

* :func:`describe` turns a tree (dicts, lists, tuples, NamedTuples, registered dataclasses,
  ``None``, arrays, numbers, PRNG keys) into a JSON skeleton, one record per leaf (kind,
  dtype, shape, SHA-256) and the arrays to store, keyed by tree path (``params/[3]/weight``).
* :func:`build` rebuilds the tree from the skeleton. It runs no code named by the file: only
  the classes of an explicit allow-list come back as themselves (fnn's :class:`~fnn.train.TrainState`
  and optax's NamedTuple states, taken from modules *already imported*, never imported), and
  they are filled field by field (``tuple.__new__`` / ``object.__setattr__``: no ``__init__``,
  ``__new__`` or ``__post_init__`` of the class runs). Any other NamedTuple comes back as a
  plain ``collections.namedtuple`` and any other dataclass as a dict of its fields (with a note
  in the load report; pass ``like=`` to get the exact types).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.errors import CheckpointError

# dtypes safetensors.numpy stores natively; others are stored as raw bytes (uint8).
_NATIVE = {"float64", "float32", "float16", "int64", "int32", "int16", "int8",
           "uint64", "uint32", "uint16", "uint8", "bool", "complex64"}


def entry_text(entry: Any) -> str:
    """One tree-path segment: ``[3]`` for a sequence index, the name for a dict key or field."""
    if isinstance(entry, jax.tree_util.SequenceKey):
        return f"[{entry.idx}]"
    if isinstance(entry, jax.tree_util.FlattenedIndexKey):
        return f"[{entry.key}]"
    if isinstance(entry, jax.tree_util.GetAttrKey):
        name = entry.name
    elif isinstance(entry, jax.tree_util.DictKey):
        name = entry.key
    else:
        return f"[{entry!r}]"
    if isinstance(name, str) and name and "/" not in name and not name.startswith("["):
        return name
    return f"[{name!r}]"


def path_key(prefix: str, path: tuple) -> str:
    """The checkpoint key of a leaf: ``prefix/seg/seg``, e.g. ``params/[3]/weight``."""
    return "/".join((prefix, *(entry_text(e) for e in path)))


def is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def is_key_array(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)


# --------------------------------------------------------------------------- save


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).reshape(-1).view(np.uint8)).hexdigest()


def leaf_record(key: str, x: Any) -> tuple[dict, np.ndarray]:
    """The metadata record and the array to store for one leaf."""
    if is_key_array(x):
        data = np.asarray(jax.random.key_data(x))
        rec = {"kind": "prng_key", "impl": str(jax.random.key_impl(x)), "dtype": "key", "shape": list(np.shape(x))}
    elif isinstance(x, (bool, np.bool_)) and not isinstance(x, np.ndarray):
        data, rec = np.asarray(x, dtype=np.bool_), {"kind": "bool"}
    elif isinstance(x, int):
        if not -(2**63) <= x < 2**63:
            raise CheckpointError(f"cannot save {key}: the int {x} does not fit in int64")
        data, rec = np.asarray(x, dtype=np.int64), {"kind": "int"}
    elif isinstance(x, float):
        data, rec = np.asarray(x, dtype=np.float64), {"kind": "float"}
    elif isinstance(x, (jax.Array, np.ndarray, np.generic)):
        data = np.asarray(x)
        rec = {"kind": "numpy" if isinstance(x, (np.ndarray, np.generic)) else "jax"}
    else:
        raise CheckpointError(
            f"cannot save {key}: it is a {type(x).__name__}; checkpoints hold arrays, numbers and "
            "trees of dicts, lists, tuples and NamedTuples only"
        )
    rec.setdefault("dtype", data.dtype.name)
    rec.setdefault("shape", list(data.shape))
    stored = np.ascontiguousarray(data)
    if stored.dtype.name not in _NATIVE:
        stored = stored.reshape(-1).view(np.uint8)
        rec["raw"] = True
    rec["stored_shape"] = list(stored.shape)
    rec["stored_dtype"] = stored.dtype.name
    rec["sha256"] = digest(stored)
    return rec, stored


def describe(node: Any, prefix: str, path: tuple, records: dict, arrays: dict) -> dict:
    """The JSON skeleton of ``node``; fills ``records``/``arrays`` with its leaves."""
    if node is None:
        return {"t": "none"}
    if isinstance(node, dict):
        for k in node:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise CheckpointError(f"cannot save {path_key(prefix, path)}: dict key {k!r} is not a str or int")
        return {"t": "dict", "keys": list(node),
                "items": [describe(v, prefix, path + (jax.tree_util.DictKey(k),), records, arrays)
                          for k, v in node.items()]}
    if is_namedtuple(node):
        cls = type(node)
        return {"t": "namedtuple", "module": cls.__module__, "name": cls.__qualname__, "fields": list(cls._fields),
                "items": [describe(v, prefix, path + (jax.tree_util.GetAttrKey(f),), records, arrays)
                          for f, v in zip(cls._fields, node, strict=True)]}
    if isinstance(node, (list, tuple)):
        return {"t": "list" if isinstance(node, list) else "tuple",
                "items": [describe(v, prefix, path + (jax.tree_util.SequenceKey(i),), records, arrays)
                          for i, v in enumerate(node)]}
    if isinstance(node, (jax.Array, np.ndarray, np.generic, int, float)) or \
            jax.tree_util.treedef_is_leaf(jax.tree.structure(node)):
        key = path_key(prefix, path)
        if key in records:
            raise CheckpointError(f"cannot save: two leaves map to the same key {key!r}")
        records[key], arrays[key] = leaf_record(key, node)
        return {"t": "leaf", "key": key}
    children, _ = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    cls = type(node)
    if dataclasses.is_dataclass(node) and all(isinstance(p[0], jax.tree_util.GetAttrKey) for p, _ in children):
        data = [p[0].name for p, _ in children]
        static = {f.name: getattr(node, f.name) for f in dataclasses.fields(node) if f.init and f.name not in data}
        try:
            json.dumps(static)
        except (TypeError, ValueError):
            static = None
        if static is not None:  # a jax.tree_util.register_dataclass node with JSON-able static fields
            return {"t": "dataclass", "module": cls.__module__, "name": cls.__qualname__, "fields": data,
                    "static": static, "items": [describe(v, prefix, path + tuple(p), records, arrays)
                                                for p, v in children]}
    # Another registered pytree node: saved, but only load(like=...) rebuilds it.
    return {"t": "opaque", "module": cls.__module__, "name": cls.__qualname__,
            "items": [describe(v, prefix, path + tuple(p), records, arrays) for p, v in children]}


def restore_leaf(rec: dict, a: np.ndarray, template: Any = None) -> Any:
    """The leaf value from its stored array, as ``template``'s type if given, else as recorded."""
    kind = rec["kind"]
    if kind == "prng_key":
        return jax.random.wrap_key_data(jnp.asarray(a), impl=rec["impl"])
    if template is not None:
        if isinstance(template, (np.ndarray, np.generic)):
            return np.array(a)
        if isinstance(template, bool):
            return bool(a)
        if isinstance(template, int):
            return int(a)
        if isinstance(template, float):
            return float(a)
        sharding = getattr(template, "sharding", None)
        return jax.device_put(a, sharding) if sharding is not None else jnp.asarray(a)
    if kind == "numpy":
        return np.array(a)
    if kind in ("bool", "int", "float"):
        return {"bool": bool, "int": int, "float": float}[kind](a)
    return jnp.asarray(a)


# The classes a checkpoint may name and get back without like=: fnn's training state, and the
# NamedTuple states of optax. Everything else comes back as a plain namedtuple or a dict.
FNN_TYPES = frozenset({"fnn.train._state.TrainState"})


def imported_class(skel: dict) -> Any:
    """The class named in ``skel`` if its module is already imported (loading imports nothing), else None."""
    cls = sys.modules.get(_text(skel, "module"))
    for part in _text(skel, "name").split("."):
        cls = getattr(cls, part, None) if cls is not None else None
    return cls if isinstance(cls, type) else None


def allowed(cls: type) -> bool:
    """Whether ``cls`` is on the allow-list: fnn's training state, or an optax NamedTuple state."""
    qual = f"{cls.__module__}.{cls.__qualname__}"
    if qual in FNN_TYPES:
        return dataclasses.is_dataclass(cls)
    root = cls.__module__.split(".")[0]
    return root == "optax" and issubclass(cls, tuple) and hasattr(cls, "_fields")


def _text(skel: dict, field: str) -> str:
    value = skel[field]
    if not isinstance(value, str):
        raise TypeError(f"{field} is not a string")
    return value


def _fields(skel: dict) -> tuple[str, ...]:
    fields = skel["fields"]
    if not isinstance(fields, list) or not all(isinstance(f, str) and f.isidentifier() for f in fields) or \
            len(set(fields)) != len(fields):
        raise ValueError(f"bad field names {fields!r}")
    return tuple(fields)


def _namedtuple(skel: dict, items: list, notes: list) -> Any:
    """An allowed NamedTuple class filled by ``tuple.__new__`` (no ``__new__``/``__init__`` of the class runs)."""
    cls = imported_class(skel)
    fields = _fields(skel)
    if len(items) != len(fields):
        raise ValueError(f"{len(items)} items for {len(fields)} fields")
    where = f"{skel['module']}.{skel['name']}"
    if cls is not None and allowed(cls) and getattr(cls, "_fields", None) == fields:
        return tuple.__new__(cls, items)
    why = "is not imported" if cls is None else "is not an fnn/optax state type"
    notes.append(f"{where} {why}; rebuilt as a plain namedtuple (pass like= to get the exact type)")
    name = skel["name"].split(".")[-1].split("<")[0]
    return collections.namedtuple(name if name.isidentifier() else "NamedTuple", fields)(*items)


def _dataclass(skel: dict, items: list, notes: list) -> Any:
    """An allowed dataclass filled field by field (its ``__init__``/``__post_init__`` never run)."""
    cls = imported_class(skel)
    fields, static = _fields(skel), skel["static"]
    if not isinstance(static, dict) or len(items) != len(fields):
        raise ValueError("bad dataclass record")
    values = dict(zip(fields, items, strict=True))
    if cls is not None and allowed(cls):
        declared = {f.name for f in dataclasses.fields(cls)}
        if declared != set(values) | set(static) or set(values) & set(static):
            raise ValueError(f"{skel['name']} has fields {sorted(declared)}, the file lists "
                             f"{sorted(values)} + {sorted(static)}")
        obj = object.__new__(cls)
        for name, value in {**values, **static}.items():
            object.__setattr__(obj, name, value)
        return obj
    why = "is not imported" if cls is None else "is not an fnn/optax state type"
    notes.append(f"{skel['module']}.{skel['name']} {why}; rebuilt as a dict of its fields (pass like= to get "
                 "the exact type)")
    return {**values, **static}


def build(skel: dict, records: dict, arrays: dict, notes: list, where: str) -> Any:
    """Rebuilds a tree from its skeleton; runs no code named by the file (see :data:`FNN_TYPES`)."""
    if not isinstance(skel, dict):
        raise TypeError("a tree node is not a JSON object")
    t = skel["t"]
    items = [build(s, records, arrays, notes, where) for s in skel.get("items", ())]
    if t == "none":
        return None
    if t == "leaf":
        return restore_leaf(records[skel["key"]], arrays[skel["key"]])
    if t == "dict":
        keys = skel["keys"]
        if not isinstance(keys, list) or not all(isinstance(k, (str, int)) for k in keys) or \
                len(set(keys)) != len(keys):
            raise ValueError(f"bad dict keys {keys!r}")
        return dict(zip(keys, items, strict=True))
    if t == "list":
        return items
    if t == "tuple":
        return tuple(items)
    if t == "namedtuple":
        return _namedtuple(skel, items, notes)
    if t == "dataclass":
        return _dataclass(skel, items, notes)
    if t == "opaque":
        raise CheckpointError(
            f"{where} contains a {skel['module']}.{skel['name']} node, which fnn cannot rebuild on its own; "
            "pass like= with a tree of the same structure"
        )
    raise CheckpointError(f"{where} has corrupt fnn metadata: unknown node type {t!r}")


__all__ = ["build", "describe", "digest", "is_key_array", "path_key", "restore_leaf"]
