"""Checkpoints: arrays only, keyed by tree path, written atomically, checked on load.

A checkpoint is one `safetensors <https://github.com/huggingface/safetensors>`_ file.
Every array is stored under its tree path (``params/[3]/weight``,
``opt_state/[0]/mu/[3]/weight``, ``state/[1]/running_mean``) and a JSON block in the
file's ``__metadata__`` records the format name and version, the fnn version, the
step, your ``meta`` dict, the structure of every tree (dicts, lists, tuples,
NamedTuples such as optax states, registered dataclasses, ``None``) and a SHA-256
digest of every array; a second entry holds the SHA-256 of that whole block.
:func:`fnn.train.save_train_state` / :func:`fnn.train.load_train_state` keep a whole
:class:`fnn.train.TrainState`, so that ``fit(..., resume=...)`` continues bit-identically.

Safety:

* **The whole header is protected.** The JSON header (tree skeleton, leaf records, step, meta)
  is stored with its SHA-256 digest (metadata entry ``fnn_sha256``); every leaf record holds the
  SHA-256 of its array's bytes and the stored dtype and shape, which are cross-checked against the
  safetensors entry (a relabelled dtype of the same size, a changed shape or a record pointing at
  another array is refused). A file that is not exactly what was saved loads bit-identically or
  raises :class:`~fnn.errors.CheckpointError`; every failure while reading (malformed or deeply
  nested JSON included) is a ``CheckpointError``.
* **Format versions.** This fnn writes format version 2 (the digest and stored dtypes). Version
  1 files (fnn before the digest) still load, with every array checksum and record checked but
  without the header digest (they never had one); a newer version raises a ``CheckpointError``
  naming it.
* **No code runs at load time.** There is no pickle anywhere; the file holds raw arrays and
  JSON. Only an explicit allow-list of classes comes back as itself: fnn's
  :class:`~fnn.train.TrainState` and optax's NamedTuple states, taken from modules *already
  imported* (never imported) and filled field by field (``tuple.__new__`` /
  ``object.__setattr__``: no ``__init__``, ``__new__`` or ``__post_init__`` of theirs runs). Any
  other NamedTuple comes back as a plain ``collections.namedtuple``, any other dataclass as a dict
  of its fields (pass ``like=`` to get exact types).
* **Atomic writes, one documented temporary file.** fnn serialises the safetensors header in
  memory and writes it and the arrays' bytes itself to one temporary file in the target's
  directory, ``.<name>.<random>.tmp``, then flushes and fsyncs it, renames it over the target
  with ``os.replace`` and fsyncs the directory. A process killed mid-save leaves the previous
  checkpoint intact; at worst that ``.<name>.*.tmp`` file remains (no other file is ever
  created), which :func:`load` never reads and which is safe to delete.
* **Everything is checked against like=.** ``load(path, like=...)`` checks every tree path,
  shape and dtype against ``like`` and reports all mismatches at once (a 64-bit record loads into
  a template leaf of the dtype jax gives it with x64 off, e.g. ``jax.eval_shape`` of a state
  holding float64 numpy arrays).

>>> import os, tempfile, jax, jax.numpy as jnp, fnn
>>> from fnn.io import save, load
>>> model = fnn.Sequential(fnn.Linear(3, 2))
>>> _, params = model.init(jax.random.key(0), (-1, 3))
>>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
>>> save(path, params=params, step=7, meta={"epoch": 1})
>>> ckpt = load(path, like={"params": params})
>>> ckpt.step, ckpt.meta, ckpt.params[0]["weight"].dtype
(7, {'epoch': 1}, dtype('float32'))
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn._version import __version__
from fnn.errors import CheckpointError
from fnn.io import _safetensors
from fnn.io._tree import build, describe, digest, is_key_array, path_key, restore_leaf

FORMAT = "fnn.checkpoint"
VERSION = 2  # 2: the header digest and stored dtypes; version 1 files (no digest) still load
TREES = ("params", "state", "opt_state", "extra")
_META_KEY = "fnn"
_DIGEST_KEY = "fnn_sha256"  # SHA-256 of the exact "fnn" header text (skeleton, records, step, meta)
_KNOWN_KEYS = {_META_KEY, _DIGEST_KEY, "format"}
_KINDS = {"prng_key", "bool", "int", "float", "numpy", "jax"}
# What a corrupt header can raise while it is taken apart; each becomes a CheckpointError.
_CORRUPT = (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError, OverflowError)


# --------------------------------------------------------------------------- reports


@dataclasses.dataclass(frozen=True)
class LoadReport:
    """What a non-strict :func:`load` could not match.

    Attributes:
      missing: tree paths ``like`` has and the file lacks (they keep ``like``'s value).
      unexpected: tree paths the file has and ``like`` lacks (not loaded).
      mismatched: one line per path whose shape or dtype differs (they keep ``like``'s value).
      notes: anything else worth knowing (e.g. a NamedTuple rebuilt as a plain namedtuple).
    """

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    mismatched: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every path matched."""
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        lines = []
        for title, items in (("missing from the file", self.missing), ("unexpected in the file", self.unexpected),
                             ("shape/dtype mismatch", self.mismatched), ("notes", self.notes)):
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend(f"  {item}" for item in items)
        return "\n".join(lines) if lines else "all paths matched"


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
      params: the params tree.
      state: the state tree (``None`` if none was saved).
      opt_state: the optimiser state (``None`` if none was saved).
      step: the training step recorded by :func:`save`.
      meta: the user's JSON metadata.
      report: what a non-strict load could not match (empty for a strict load).
      fnn_version: the fnn version that wrote the file.
      extra: the ``extra`` tree given to :func:`save` (``None`` if none).
    """

    params: Any
    state: Any = None
    opt_state: Any = None
    step: int = 0
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    report: LoadReport = dataclasses.field(default_factory=LoadReport)
    fnn_version: str = ""
    extra: Any = None


def save(
    path: str | os.PathLike[str],
    *,
    params: Any,
    state: Any = None,
    opt_state: Any = None,
    step: int = 0,
    meta: Mapping[str, Any] | None = None,
    extra: Any = None,
) -> None:
    """Saves params, state and optimiser state to one safetensors file, atomically.

    Args:
      path: the file to write (conventionally ``*.safetensors``); parent directories
        are created. An existing file is replaced only once the new one is complete.
      params: the params tree (dicts, lists, tuples, NamedTuples, ``None`` and arrays).
      state: the model state (BatchNorm statistics ...), or ``None``.
      opt_state: the optimiser state (e.g. ``optax.adam(...).init(params)``), or ``None``.
      step: the training step (a non-negative int).
      meta: JSON-serialisable user metadata (epoch, config, metrics ...).
      extra: any other tree of arrays to keep (PRNG keys, a data position, a registered
        dataclass such as the rest of a training state; see :func:`fnn.train.save_train_state`).

    Raises:
      CheckpointError: a leaf is not an array or number, ``meta`` is not JSON, or
        the file cannot be written.

    Array dtypes that safetensors lacks (bfloat16 ...) are stored as raw bytes and
    restored exactly; PRNG key arrays are stored as their key data and restored as keys.
    """
    try:
        step = int(step)
    except (TypeError, ValueError):
        raise CheckpointError(f"step must be an int, got {step!r}") from None
    if step < 0:
        raise CheckpointError(f"step must be >= 0, got {step}")
    records: dict[str, dict] = {}
    arrays: dict[str, np.ndarray] = {}
    trees = {name: describe(tree, name, (), records, arrays)
             for name, tree in (("params", params), ("state", state), ("opt_state", opt_state), ("extra", extra))}
    header = {"format": FORMAT, "version": VERSION, "fnn_version": __version__,
              "step": step, "meta": dict(meta or {}), "trees": trees, "leaves": records}
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"meta must be JSON-serialisable (numbers, strings, lists, dicts): {e}") from None
    try:
        _safetensors.write(path, arrays, {_META_KEY: text, _DIGEST_KEY: _sha256(text), "format": "np"})
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoint {os.fspath(path)}: {e}") from e


# --------------------------------------------------------------------------- load


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _header(path: str, metadata: dict[str, str]) -> dict:
    """The fnn header of a checkpoint's safetensors metadata, its digest verified, its fields checked."""
    if _META_KEY not in metadata:
        raise CheckpointError(
            f"{path} is a safetensors file but not an fnn checkpoint (it has no fnn metadata). "
            "To import PyTorch weights use fnn.load_torch_state_dict"
        )
    text = metadata[_META_KEY]
    unknown = sorted(set(metadata) - _KNOWN_KEYS)
    if unknown:
        raise CheckpointError(f"{path} has corrupt fnn metadata: unknown metadata entries {unknown}")
    if _DIGEST_KEY in metadata and metadata[_DIGEST_KEY] != _sha256(text):
        raise CheckpointError(
            f"{path} is corrupt: the header digest does not match (the tree structure, the array records, "
            "the step or the meta changed since they were written)"
        )
    try:
        header = json.loads(text)
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        fmt, version = header.get("format"), header.get("version")
        if fmt != FORMAT:
            raise ValueError(f"format {fmt!r}, expected {FORMAT!r}")
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
            raise CheckpointError(
                f"{path} has checkpoint format version {version!r}; this fnn reads versions 1 to {VERSION}")
        if version >= 2 and _DIGEST_KEY not in metadata:
            raise ValueError(f"a version {version} checkpoint without its header digest")
        records, trees = header["leaves"], header["trees"]
        if version == 1:
            trees.setdefault("extra", {"t": "none"})
        if not isinstance(records, dict) or not isinstance(trees, dict) or set(trees) != set(TREES) or \
                not all(isinstance(trees[t], dict) for t in TREES):
            raise ValueError("the tree description is incomplete")
        step = header["step"]
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"step {step!r} is not a non-negative int")
        if not isinstance(header.get("meta", {}), dict):
            raise ValueError("meta is not a JSON object")
    except CheckpointError:
        raise
    except _CORRUPT as e:
        raise CheckpointError(f"{path} has corrupt fnn metadata: {e}") from None
    return header


def _stored_dtype(rec: dict, version: int) -> str:
    """The dtype the record says the stored array has (version 1 did not write it down)."""
    if version >= 2:
        return rec["stored_dtype"]
    if rec.get("raw"):
        return "uint8"
    return "uint32" if rec["kind"] == "prng_key" else rec["dtype"]


def _checked(rec: Any, a: np.ndarray, version: int) -> np.ndarray:
    """The stored array ``a`` given back the dtype and shape of its record, every field checked."""
    if not isinstance(rec, dict) or rec.get("kind") not in _KINDS:
        raise ValueError("not a leaf record")
    shape = rec["shape"]
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise ValueError(f"bad shape {shape!r}")
    if rec["kind"] == "prng_key":
        if not isinstance(rec.get("impl"), str) or a.ndim < len(shape) or list(a.shape[:len(shape)]) != shape:
            raise ValueError("bad PRNG key record")
        return a
    if rec.get("raw"):
        a = a.view(jnp.dtype(rec["dtype"]))
        if a.size != math.prod(shape):
            raise ValueError(f"shape {shape} does not fit the {a.size} stored {rec['dtype']} values")
    elif rec["dtype"] != a.dtype.name or list(a.shape) not in (shape, shape or [1]):  # a 0-d array is stored as [1]
        raise ValueError(f"the record says {rec['dtype']}{shape}, the stored array is {a.dtype.name}{list(a.shape)}")
    kinds = {"bool": "b", "int": "i", "float": "f"}
    if rec["kind"] in kinds and a.dtype.kind != kinds[rec["kind"]]:
        raise ValueError(f"a {rec['kind']} stored as {a.dtype.name}")
    return a.reshape(shape)


def _verified(path: str, header: dict, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The stored arrays cross-checked against their records (SHA-256, stored dtype and shape) and
    given back their dtype and shape."""
    records, version = header["leaves"], header["version"]
    problems = []
    if set(records) != set(raw):
        lost = sorted(set(records) - set(raw))
        extra = sorted(set(raw) - set(records))
        problems.append(f"arrays listed but absent: {lost}; arrays present but not listed: {extra}")
    arrays = {}
    for key in sorted(set(records) & set(raw)):
        rec, a = records[key], raw[key]
        try:
            if list(a.shape) != rec["stored_shape"] or a.dtype.name != _stored_dtype(rec, version):
                problems.append(f"{key}: the stored array is {a.dtype.name}{list(a.shape)}, its record says "
                                f"{_stored_dtype(rec, version)}{rec['stored_shape']}")
                continue
            if digest(a) != rec["sha256"]:
                problems.append(f"{key}: checksum mismatch (the bytes changed since they were written)")
                continue
            arrays[key] = _checked(rec, a, version)
        except _CORRUPT as e:
            problems.append(f"{key}: bad record ({e})")
    if problems:
        raise CheckpointError(f"{path} is corrupt:\n  " + "\n  ".join(problems))
    return arrays


def _read(path: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Reads and verifies the header and every array of an fnn checkpoint."""
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}: the file does not exist")
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    metadata, raw = _safetensors.read(path, what="checkpoint")
    header = _header(path, metadata)
    return header, _verified(path, header, raw)


def _like_trees(like: Any) -> dict[str, Any]:
    """The trees named in ``like``: a mapping, a Checkpoint or any object with those attributes."""
    if like is None:
        return {}
    if isinstance(like, Mapping):
        extra = set(like) - set(TREES)
        if extra:
            raise CheckpointError(f"like= has unknown entries {sorted(extra)}; use {list(TREES)}")
        return dict(like)
    found = {name: getattr(like, name) for name in TREES if hasattr(like, name)}
    if not found:
        raise CheckpointError(
            f"like= must be a dict with keys {list(TREES)} (or an object with those attributes), "
            f"got {type(like).__name__}"
        )
    return found


def _describe_template(x: Any) -> tuple[tuple, str]:
    if is_key_array(x):
        return tuple(np.shape(x)), "key"
    if isinstance(x, bool):
        return (), "bool"
    if isinstance(x, int):
        return (), "int64"
    if isinstance(x, float):
        return (), "float64"
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return tuple(x.shape), jnp.dtype(x.dtype).name
    raise CheckpointError(f"like= has a leaf of type {type(x).__name__}; use arrays or jax.ShapeDtypeStruct")


def _fmt(shape: tuple, dtype: str) -> str:
    return f"{dtype}{list(shape)}"


def _same_dtype(stored: str, wanted: str, template: Any) -> bool:
    """Equal dtypes, or a 64-bit record for a jax template of the dtype jax gives it with x64 off
    (``jax.eval_shape`` of a state that holds float64 numpy arrays gives float32 leaves)."""
    if stored == wanted:
        return True
    if stored == "key" or wanted == "key" or isinstance(template, (np.ndarray, np.generic, int, float)):
        return False
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.dtype(stored))).name == wanted


def _load_like(name: str, template: Any, records: dict, arrays: dict,
               missing: list, mismatched: list, unfilled: list) -> Any:
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    out = []
    for p, leaf in flat:
        key = path_key(name, p)
        shape, dtype = _describe_template(leaf)
        rec = records.get(key)
        if rec is None:
            missing.append(key)
        elif tuple(rec["shape"]) != shape or not _same_dtype(rec["dtype"], dtype, leaf):
            mismatched.append(f"{key}: file has {_fmt(rec['shape'], rec['dtype'])}, expected {_fmt(shape, dtype)}")
        else:
            out.append(restore_leaf(rec, arrays[key], leaf))
            continue
        if isinstance(leaf, jax.ShapeDtypeStruct):
            unfilled.append(key)
        out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out)


def load(path: str | os.PathLike[str], like: Any = None, strict: bool = True) -> Checkpoint:
    """Loads a checkpoint written by :func:`save`, verifying every array.

    Args:
      path: the checkpoint file.
      like: what to load into: a dict with any of the keys ``params``, ``state``,
        ``opt_state``, ``extra`` (or an object with those attributes, such as a training state
        or a :class:`Checkpoint`) whose leaves are arrays or ``jax.ShapeDtypeStruct``.
        Those trees come back with exactly ``like``'s structure and leaf types, after
        every tree path, shape and dtype is checked. Trees not named in ``like`` are
        rebuilt from the structure recorded in the file.
      strict: if True (default) any missing, unexpected or mismatched path raises one
        :class:`CheckpointError` listing all of them. If False, what matches is
        loaded, the rest keeps ``like``'s value and is listed in ``Checkpoint.report``
        (a ``ShapeDtypeStruct`` leaf that cannot be filled still raises).

    Returns:
      A :class:`Checkpoint` with ``params``, ``state``, ``opt_state``, ``step``, ``meta``, ``report``
      and ``extra``.

    Raises:
      CheckpointError: the file is missing, truncated, corrupt (every array's SHA-256
        is checked), not an fnn checkpoint, or does not match ``like``.
    """
    path = os.fspath(path)
    header, arrays = _read(path)
    records, trees = header["leaves"], header["trees"]
    templates = _like_trees(like)
    notes: list[str] = []
    missing: list[str] = []
    mismatched: list[str] = []
    unfilled: list[str] = []
    unexpected: list[str] = []
    out: dict[str, Any] = {}
    for name in TREES:
        if name in templates:
            out[name] = _load_like(name, templates[name], records, arrays, missing, mismatched, unfilled)
            expected = {path_key(name, p) for p, _ in jax.tree_util.tree_flatten_with_path(templates[name])[0]}
            unexpected += sorted(k for k in records if k.split("/", 1)[0] == name and k not in expected)
        else:
            try:
                out[name] = build(trees[name], records, arrays, notes, f"{path} ({name})")
            except _CORRUPT as e:
                raise CheckpointError(f"{path} has corrupt fnn metadata ({name}): {e!r}") from None
    report = LoadReport(tuple(missing), tuple(unexpected), tuple(mismatched), tuple(notes))
    if (strict and not report.ok) or unfilled:
        why = (f"{len(unfilled)} abstract leaves of like= could not be filled: {unfilled}\n"
               if unfilled and not strict else "")
        raise CheckpointError(f"{path} does not match like=:\n{why}{report}")
    return Checkpoint(
        params=out["params"], state=out["state"], opt_state=out["opt_state"], step=int(header["step"]),
        meta=header.get("meta", {}), report=report, fnn_version=str(header.get("fnn_version", "")),
        extra=out["extra"],
    )


__all__ = ["Checkpoint", "LoadReport", "load", "save"]
