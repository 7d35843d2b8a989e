"""Checkpoints: arrays only, keyed by tree path, written atomically, checked on load.

A checkpoint is one `safetensors <https://github.com/huggingface/safetensors>`_ file.
Every array is stored under its tree path (``params/[3]/weight``,
``opt_state/[0]/mu/[3]/weight``, ``state/[1]/running_mean``) and a JSON block in the
file's ``__metadata__`` records the format name and version, the fnn version, the
step, your ``meta`` dict, the structure of every tree (dicts, lists, tuples,
NamedTuples such as optax states, registered dataclasses, ``None``) and a SHA-256
digest of every array. :func:`fnn.train.save_train_state` / :func:`fnn.train.load_train_state` keep a
whole :class:`fnn.train.TrainState`, so that ``fit(..., resume=...)`` continues bit-identically.

Safety:

* **No code runs at load time.** There is no pickle anywhere; the file holds raw
  arrays and JSON. A NamedTuple (an optax state) or a dataclass is rebuilt from a
  class that is *already imported* in the loading process (looked up in
  ``sys.modules``, never imported); otherwise it comes back as a plain
  ``collections.namedtuple`` (or a dict) with the same fields (pass ``like=`` to
  get exact types).
* **Atomic writes.** :func:`save` writes a temporary file in the target's
  directory (``.<name>.<random>.tmp``), flushes and fsyncs it, renames it over
  the target with ``os.replace`` and fsyncs the directory. A process killed
  mid-save leaves the previous checkpoint intact; at worst a stale
  ``.<name>.*.tmp`` file remains, which :func:`load` never reads and which is
  safe to delete.
* **Everything is checked.** A missing, truncated, corrupted or foreign file
  raises :class:`~fnn.errors.CheckpointError` saying what is wrong (never a raw
  safetensors or JSON exception); ``load(path, like=...)`` checks every tree
  path, shape and dtype against ``like`` and reports all mismatches at once.

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
import json
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
VERSION = 1
TREES = ("params", "state", "opt_state", "extra")
_META_KEY = "fnn"


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
        _safetensors.write(path, arrays, {_META_KEY: text, "format": "np"})
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoint {os.fspath(path)}: {e}") from e


# --------------------------------------------------------------------------- load


def _header(path: str, metadata: dict[str, str]) -> dict:
    """The fnn header of a checkpoint's safetensors metadata, checked."""
    if _META_KEY not in metadata:
        raise CheckpointError(
            f"{path} is a safetensors file but not an fnn checkpoint (it has no fnn metadata). "
            "To import PyTorch weights use fnn.load_torch_state_dict"
        )
    try:
        header = json.loads(metadata[_META_KEY])
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        fmt, version = header.get("format"), header.get("version")
        if fmt != FORMAT:
            raise ValueError(f"format {fmt!r}, expected {FORMAT!r}")
        if not isinstance(version, int) or version > VERSION:
            raise CheckpointError(f"{path} has checkpoint format version {version!r}; this fnn reads up to {VERSION}")
        records, trees = header["leaves"], header["trees"]
        trees.setdefault("extra", {"t": "none"})
        if not isinstance(records, dict) or not all(isinstance(trees.get(t), dict) for t in TREES):
            raise ValueError("the tree description is incomplete")
        int(header["step"])
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{path} has corrupt fnn metadata: {e}") from None
    return header


def _verified(path: str, records: dict, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The stored arrays checked against their records (SHA-256, shape) and given back their dtype and shape."""
    problems = []
    if set(records) != set(raw):
        lost = sorted(set(records) - set(raw))
        extra = sorted(set(raw) - set(records))
        problems.append(f"arrays listed but absent: {lost}; arrays present but not listed: {extra}")
    arrays = {}
    for key in sorted(set(records) & set(raw)):
        rec, a = records[key], raw[key]
        try:
            if list(a.shape) != rec["stored_shape"] or digest(a) != rec["sha256"]:
                problems.append(f"{key}: checksum mismatch (the bytes changed since they were written)")
                continue
            if rec.get("raw"):
                a = a.view(jnp.dtype(rec["dtype"]))
            # PRNG keys keep their key-data shape; wrap_key_data restores the key shape.
            arrays[key] = a if rec["kind"] == "prng_key" else a.reshape(rec["shape"])
        except (KeyError, TypeError, ValueError) as e:
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
    return header, _verified(path, header["leaves"], raw)


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
        elif (tuple(rec["shape"]), rec["dtype"]) != (shape, dtype):
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
            except (KeyError, TypeError, ValueError, AttributeError) as e:
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
