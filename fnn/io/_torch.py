"""PyTorch weight import and export, by structure.

fnn keeps torch's parameter names and layouts and a container's params are a tuple
in child order, so a PyTorch ``state_dict`` key maps to an fnn tree path one to one::

    "3.weight"            -> params[3]['weight']
    "0.1.weight"          -> params[0][1]['weight']
    "1.running_mean"      -> state[1]['running_mean']      (BatchNorm statistics live in state)
    "1.num_batches_tracked"  ignored (fnn keeps no batch counter), listed in the report

A PyTorch ``nn.Sequential`` numbers its children by position, parameter-less ones
(ReLU, MaxPool2d, Flatten) included, exactly as fnn's params tuple does (those
hold ``()``), so the indices line up without renaming. Models with named children
(``features.0.weight``) need ``rename=``.

Where torch7's layout differs from PyTorch's, the weight is converted by the layer's
kind: ``TemporalConvolution`` stores ``(out, kW*in)`` (kernel-position major) where
``Conv1d`` stores ``(out, in, kW)``. Register more with :func:`register_layout`.

No pickle: ``torch.save`` files (``.pt``/``.pth``) are refused (unpickling runs code). Convert them once
in PyTorch with ``safetensors.torch.save_file(model.state_dict(), "model.safetensors")``.

>>> import jax, numpy as np, fnn
>>> from fnn.io import load_torch_state_dict, to_torch_state_dict
>>> model = fnn.Sequential(fnn.Linear(3, 2), fnn.Tanh())
>>> _, params = model.init(jax.random.key(0), (-1, 3))
>>> sd = {"0.weight": np.ones((2, 3), np.float32), "0.bias": np.zeros(2, np.float32)}
>>> params, state, report = load_torch_state_dict(model, params, None, sd)
>>> params[0]["weight"].sum(), sorted(to_torch_state_dict(params))
(Array(6., dtype=float32), ['0.bias', '0.weight'])
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import Module
from fnn.errors import CheckpointError, ShapeError
from fnn.io import _safetensors

_IGNORED_SUFFIX = "num_batches_tracked"


@dataclasses.dataclass(frozen=True)
class ImportReport:
    """What :func:`load_torch_state_dict` did.

    Attributes:
      loaded: the torch keys copied into fnn's params or state.
      missing: fnn entries (as torch keys) that the state_dict lacks; they keep their value.
      unexpected: torch keys with no fnn counterpart (with a hint where one helps).
      ignored: torch keys skipped on purpose (``num_batches_tracked``; keys renamed to None).
      converted: layout conversions and dtype casts, one line per key.
    """

    loaded: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    converted: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "\n".join([f"loaded {len(self.loaded)} arrays", *self.problems(include_notes=True)])

    def problems(self, include_notes: bool = False) -> list[str]:
        """The report's lines for missing and unexpected keys (and the notes, if asked)."""
        sections = [("missing from the state_dict", self.missing), ("unexpected", self.unexpected)]
        if include_notes:
            sections += [("ignored", self.ignored), ("converted", self.converted)]
        lines = []
        for title, items in sections:
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend(f"  {item}" for item in items)
        return lines


class TorchImport(NamedTuple):
    """The result of :func:`load_torch_state_dict`: unpacks as ``params, state, report``."""

    params: Any
    state: Any
    report: ImportReport


# --------------------------------------------------------------------------- layouts

# kind -> (to_fnn(module, name, array, fnn_shape) -> array | None, to_torch(module, name, array) -> array)
_LAYOUTS: dict[str, tuple[Callable, Callable]] = {}


def register_layout(
    kind: str,
    to_fnn: Callable[[Module, str, np.ndarray, tuple], np.ndarray | None],
    to_torch: Callable[[Module, str, np.ndarray], np.ndarray],
) -> None:
    """Registers a weight-layout conversion for layers of ``kind`` (torch7's class name).

    Args:
      kind: the layer kind, ``module.kind``.
      to_fnn: ``(module, param_name, torch_array, fnn_shape)`` returns the array in fnn's
        layout, or None when it does not apply (the shape mismatch is then reported).
      to_torch: ``(module, param_name, fnn_array)`` returns the array in PyTorch's layout.
    """
    _LAYOUTS[kind] = (to_fnn, to_torch)


def _temporal_to_fnn(module: Module, name: str, a: np.ndarray, shape: tuple) -> np.ndarray | None:
    # Conv1d (out, in, kW) -> torch7 (out, kW*in), element [o, k*in + i].
    if name == "weight" and a.ndim == 3 and shape == (a.shape[0], a.shape[1] * a.shape[2]):
        return a.transpose(0, 2, 1).reshape(shape)
    return None


def _temporal_to_torch(module: Module, name: str, a: np.ndarray) -> np.ndarray:
    if name != "weight":
        return a
    kw = module.config["kW"]
    return a.reshape(a.shape[0], kw, a.shape[1] // kw).transpose(0, 2, 1)


register_layout("TemporalConvolution", _temporal_to_fnn, _temporal_to_torch)


# --------------------------------------------------------------------------- reading


def _to_numpy(key: str, v: Any) -> np.ndarray:
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch.Tensor, without importing torch
        t = v.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            return t.float().numpy().astype(jnp.bfloat16)
        return t.numpy()
    if isinstance(v, (np.ndarray, np.generic, jax.Array, int, float)):
        return np.asarray(v)
    raise CheckpointError(f"state_dict[{key!r}] is a {type(v).__name__}, not an array or tensor")


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Reads every array of a safetensors file (e.g. from ``safetensors.torch.save_file``).

    Handles the dtypes ``safetensors.numpy`` lacks (bfloat16, float8). Runs no code.

    Raises:
      CheckpointError: the file is missing, a ``torch.save`` pickle, truncated or not safetensors.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"no state_dict file at {path}" + (": it is a directory" if os.path.isdir(path) else ""))
    return _safetensors.read(path)[1]


# --------------------------------------------------------------------------- paths


def _segment(entry: Any) -> str:
    if isinstance(entry, jax.tree_util.SequenceKey):
        return str(entry.idx)
    if isinstance(entry, jax.tree_util.DictKey):
        return str(entry.key)
    if isinstance(entry, jax.tree_util.GetAttrKey):
        return entry.name
    if isinstance(entry, jax.tree_util.FlattenedIndexKey):
        return str(entry.key)
    return str(entry)


def _torch_key(path: tuple) -> str:
    return ".".join(_segment(e) for e in path)


def _module_at(model: Module | None, path: tuple) -> tuple[Module | None, str]:
    """The layer owning the leaf at ``path`` (a params/state path) and the leaf's param name."""
    m = model
    for e in path[:-1]:
        idx = e.idx if isinstance(e, jax.tree_util.SequenceKey) else None
        if m is None or idx is None or not m.children or idx >= len(m.children):
            return (m if m is not None and not m.children else None), _segment(path[-1])
        m = m.children[idx]
    return m, _segment(path[-1]) if path else ""


def _hint(model: Module | None, key: str) -> str:
    """Why a torch key has no fnn counterpart, when the model can tell."""
    if model is None:
        return ""
    m, trail = model, []
    for part in key.split(".")[:-1]:
        if not m.children:
            break
        if not part.isdigit():
            return f" (fnn containers are indexed by position: {'.'.join(trail + [part])} is a name; use rename=)"
        i = int(part)
        if i >= len(m.children):
            at = "".join(f"[{t}]" for t in trail) or "the top"
            return f" (the fnn {m.kind or m.name} at {at} has {len(m.children)} children)"
        m = m.children[i]
        trail.append(part)
    where = f"fnn's {''.join(f'[{t}]' for t in trail)}" if trail else "the fnn model"
    return f" ({where} is {m.name.splitlines()[0]}, which has no such entry)"


def _leaves(tree: Any) -> list[tuple[tuple, Any]]:
    return jax.tree_util.tree_flatten_with_path(tree)[0]


def _as_like(value: np.ndarray, template: Any) -> Any:
    return np.array(value) if isinstance(template, np.ndarray) else jnp.asarray(value)


# --------------------------------------------------------------------------- import


class _Target(NamedTuple):
    """Where one fnn entry lives: its tree (``"params"`` or ``"state"``), leaf index, tree path and value."""

    tree: str
    index: int
    path: tuple
    leaf: Any


@dataclasses.dataclass
class _Matching:
    """What matching a state_dict against fnn's entries found (the report's lists, plus the mismatches)."""

    loaded: list[str] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    ignored: list[str] = dataclasses.field(default_factory=list)
    converted: list[str] = dataclasses.field(default_factory=list)
    bad: list[str] = dataclasses.field(default_factory=list)
    done: set[str] = dataclasses.field(default_factory=set)  # fnn keys the state_dict provided (loaded or bad)


def _source(state_dict: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The state_dict as numpy arrays, from a mapping or a .safetensors file."""
    if isinstance(state_dict, (str, os.PathLike)):
        return read_safetensors(state_dict)
    if isinstance(state_dict, Mapping):
        return {str(k): _to_numpy(str(k), v) for k, v in state_dict.items()}
    raise CheckpointError(f"state_dict must be a mapping or a .safetensors path, got {type(state_dict).__name__}")


def _targets(flat: Mapping[str, list[tuple[tuple, Any]]]) -> dict[str, _Target]:
    """fnn's entries by torch key, from the flattened params and state."""
    targets: dict[str, _Target] = {}
    for tree, leaves in flat.items():
        for i, (path, leaf) in enumerate(leaves):
            key = _torch_key(path)
            if key in targets:
                raise CheckpointError(f"fnn's params and state both have an entry {key!r}")
            targets[key] = _Target(tree, i, path, leaf)
    return targets


def _renamed(raw_key: str, rename: Mapping[str, str | None] | Callable[[str], str | None] | None) -> str | None:
    if rename is None:
        return raw_key
    return rename(raw_key) if callable(rename) else rename.get(raw_key, raw_key)


def _fit(model: Module | None, raw_key: str, a: np.ndarray, target: _Target, found: _Matching) -> np.ndarray | None:
    """``a`` in the layout and dtype of ``target``, or None when it cannot be (the reason goes to ``found.bad``)."""
    module, name = _module_at(model, target.path)
    layer = f" ({module.name.splitlines()[0]})" if module is not None else ""
    want_shape, want_dtype = tuple(np.shape(target.leaf)), np.dtype(target.leaf.dtype)
    if a.shape != want_shape:
        conv = _LAYOUTS.get(module.kind) if module is not None else None
        b = conv[0](module, name, a, want_shape) if conv else None
        if b is None:
            found.bad.append(f"{raw_key}{layer}: torch shape {tuple(a.shape)}, fnn expects {want_shape}")
            return None
        found.converted.append(f"{raw_key}: layout {tuple(a.shape)} -> {want_shape} ({module.kind})")
        a = b
    if a.dtype != want_dtype:
        if jnp.issubdtype(a.dtype, jnp.inexact) != jnp.issubdtype(want_dtype, jnp.inexact):
            found.bad.append(f"{raw_key}{layer}: torch dtype {a.dtype.name}, fnn expects {want_dtype.name}")
            return None
        found.converted.append(f"{raw_key}: cast {a.dtype.name} -> {want_dtype.name}")
        a = a.astype(want_dtype)
    return a


def _match(model: Module | None, source: dict[str, np.ndarray], targets: dict[str, _Target],
           rename: Any, new: dict[str, list]) -> _Matching:
    """Copies every state_dict entry that fits into ``new`` (the leaf lists) and records the rest."""
    found = _Matching()
    for raw_key, a in source.items():
        key = _renamed(raw_key, rename)
        if key is None:
            found.ignored.append(f"{raw_key} (renamed to None)")
        elif key not in targets:
            if key.rsplit(".", 1)[-1] == _IGNORED_SUFFIX:
                found.ignored.append(f"{raw_key} (PyTorch's BatchNorm batch counter; fnn keeps none)")
            else:
                found.unexpected.append(raw_key + _hint(model, key))
        else:
            target = targets[key]
            found.done.add(key)
            b = _fit(model, raw_key, a, target, found)
            if b is not None:
                new[target.tree][target.index] = _as_like(b, target.leaf)
                found.loaded.append(raw_key)
    return found


def _missing(model: Module | None, targets: dict[str, _Target], done: set[str]) -> tuple[list[str], list[str]]:
    """The fnn entries the state_dict did not provide (with their layer), and those of them that are abstract."""
    missing, unfilled = [], []
    for key, target in targets.items():
        if key not in done:
            module, _ = _module_at(model, target.path)
            missing.append(key + (f" ({module.name.splitlines()[0]})" if module is not None else ""))
            if isinstance(target.leaf, jax.ShapeDtypeStruct):
                unfilled.append(key)
    return missing, unfilled


def _raise_problems(report: ImportReport, bad: list[str], unfilled: list[str], strict: bool) -> None:
    if unfilled and not bad:
        raise CheckpointError("\n".join([
            f"the state_dict lacks {len(unfilled)} entries of the abstract params/state, which have no value "
            f"to keep: {unfilled}", *report.problems()]))
    if bad:
        raise ShapeError("\n".join([
            f"the state_dict does not fit the fnn model ({len(bad)} shape/dtype mismatches):",
            *(f"  {b}" for b in bad), *report.problems()]))
    if strict and (report.missing or report.unexpected):
        raise CheckpointError("\n".join([
            "the state_dict does not match the fnn model (pass strict=False to load what matches):",
            *report.problems()]))


def load_torch_state_dict(
    model: Module | None,
    params: Any,
    state: Any,
    state_dict: Mapping[str, Any] | str | os.PathLike[str],
    *,
    strict: bool = True,
    rename: Mapping[str, str | None] | Callable[[str], str | None] | None = None,
) -> TorchImport:
    """Copies a PyTorch ``state_dict`` into fnn params and state, matching keys by structure.

    Args:
      model: the fnn model (used for layer names in messages and for layout conversions;
        may be None when no layer needs converting).
      params: the model's current params (from ``init``): they give the structure,
        shapes and dtypes, and entries the state_dict lacks keep these values. They may be
        abstract (``jax.eval_shape`` of the init: no memory, nothing compiled); every entry
        must then come from the state_dict, even with ``strict=False``.
      state: the model's state (``None`` or ``()`` for a stateless model).
      state_dict: a mapping of names to torch tensors or numpy arrays (``model.state_dict()``),
        or the path of a ``.safetensors`` file written by ``safetensors.torch.save_file``.
      strict: if True (default) any fnn entry the state_dict lacks, or any state_dict key
        with no fnn counterpart, raises :class:`CheckpointError`. If False they are only
        listed in the report. Shape mismatches always raise (as PyTorch's ``load_state_dict``).
      rename: maps a torch key to fnn's key (``"features.0.weight" -> "0.weight"``), or to
        None to skip it: a dict, or a function of the key.

    Returns:
      ``(params, state, report)``: new trees of the same structure (arrays cast to the
      dtypes of the given ones) and an :class:`ImportReport`.

    Raises:
      ShapeError: some arrays have the wrong shape; every problem is listed.
      CheckpointError: (strict) missing or unexpected keys, all listed; or an unreadable file.
    """
    source = _source(state_dict)
    state = () if state is None else state
    flat = {"params": _leaves(params), "state": _leaves(state)}
    targets = _targets(flat)
    new = {tree: [leaf for _, leaf in leaves] for tree, leaves in flat.items()}
    found = _match(model, source, targets, rename, new)
    missing, unfilled = _missing(model, targets, found.done)
    report = ImportReport(tuple(found.loaded), tuple(missing), tuple(found.unexpected), tuple(found.ignored),
                          tuple(found.converted))
    _raise_problems(report, found.bad, unfilled, strict)
    out_params = jax.tree.unflatten(jax.tree.structure(params), new["params"])
    out_state = jax.tree.unflatten(jax.tree.structure(state), new["state"])
    return TorchImport(out_params, out_state, report)


# --------------------------------------------------------------------------- export


def to_torch_state_dict(
    params: Any, state: Any = None, *, model: Module | None = None, num_batches_tracked: bool = True
) -> dict[str, np.ndarray]:
    """fnn params and state as a PyTorch ``state_dict`` of numpy arrays.

    Args:
      params: the params tree.
      state: the state tree (BatchNorm running statistics), or None.
      model: the model; needed only to convert torch7 layouts (TemporalConvolution) to PyTorch's.
      num_batches_tracked: add ``<prefix>num_batches_tracked = 0`` (int64) next to every
        ``running_mean``/``running_var`` pair, so PyTorch's strict ``load_state_dict`` accepts it.

    Returns:
      ``{"0.weight": array, ...}``; load it in PyTorch with
      ``model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``.
    """
    out: dict[str, np.ndarray] = {}
    for tree in (params, () if state is None else state):
        for path, leaf in _leaves(tree):
            key = _torch_key(path)
            if key in out:
                raise CheckpointError(f"fnn's params and state both have an entry {key!r}")
            a = np.asarray(jax.random.key_data(leaf) if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf)
            module, name = _module_at(model, path)
            if module is not None and module.kind in _LAYOUTS:
                a = _LAYOUTS[module.kind][1](module, name, a)
            out[key] = np.ascontiguousarray(a)
    if num_batches_tracked:
        for key in list(out):
            prefix, _, name = key.rpartition(".")
            head = prefix + "." if prefix else ""
            if name == "running_mean" and head + "running_var" in out:
                out.setdefault(head + _IGNORED_SUFFIX, np.zeros((), np.int64))
    return out


def save_torch_state_dict(
    path: str | os.PathLike[str], params: Any, state: Any = None, *, model: Module | None = None
) -> None:
    """Writes :func:`to_torch_state_dict` as a ``.safetensors`` file PyTorch reads, atomically.

    In PyTorch: ``model.load_state_dict(safetensors.torch.load_file(path))``.
    """
    sd = to_torch_state_dict(params, state, model=model)
    try:
        _safetensors.write(path, sd, {"format": "pt"})
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(f"cannot write {os.fspath(path)}: {e}") from e
    except Exception as e:  # safetensors refuses a dtype (complex128 ...)
        raise CheckpointError(f"cannot write {os.fspath(path)} as safetensors: {e}") from None


__all__ = [
    "ImportReport",
    "TorchImport",
    "load_torch_state_dict",
    "read_safetensors",
    "register_layout",
    "save_torch_state_dict",
    "to_torch_state_dict",
]
