"""Params and state are checked at apply: one check, in the core, for every model.

:meth:`fnn.core.StatefulPair.apply` (under every ``model.apply`` and ``model.stateful.apply``)
calls :func:`check_params` before running the model. It compares the params and state it is
given with what the model's own init produces for this input (abstractly, ``jax.eval_shape``:
no FLOPs, no memory) and raises :class:`~fnn.errors.ParamsError` (a :class:`~fnn.errors.ShapeError`)
naming the layer (its params path and torch7 name) and the expected versus the actual entry.

What is compared:

* the tree paths (dict keys, sequence indices, NamedTuple fields): a missing entry, an extra
  one (extra trailing params were silently ignored before) or a subtree where a leaf belongs;
  lists and tuples are interchangeable (a JSON or a ``tree.map`` round trip may turn one into the other);
* every leaf's shape, exactly;
* the dtype *kind* of every leaf ("dtypes where they matter"): floating, complex, integer, bool
  or PRNG key. A float leaf given as an integer array (or the reverse) is an error; the
  precision within a kind is not compared, so mixed precision (bfloat16 params, float32
  input; float32 params, float64 input) is accepted exactly as before.

Cost: the check runs in Python at trace time, so under ``jit`` it is free after the first trace.
The expected tree is computed once per (model, input shapes and dtypes) and cached (weakly,
per model); an eager call with an already-seen input and params layout costs one
``jax.tree.flatten`` of the params and a dict lookup. Where the model's own init already ran for
an input that covers this one (``init(key, (-1, 784))``, then a batch of 128), its cached,
traced program gives the expected tree without another trace. Symbolic dimensions (``jax.export`` with
``jax.export.symbolic_shape``) are treated as an unknown size (``-1``). If the model's init
cannot take this input, the check steps aside and the model's own input check reports it.

>>> import jax, jax.numpy as jnp, fnn
>>> _, p10 = fnn.Linear(784, 10).init(jax.random.key(0), (-1, 784))
>>> try:
...     fnn.Linear(784, 20).apply(p10, jnp.ones((2, 784)))
... except fnn.ParamsError as e:
...     for line in str(e).split("; "):
...         print(line)
nn.Linear(784 -> 20): params['bias'] should be float32[20], got float32[10]
params['weight'] should be float32[20, 784], got float32[10, 784]
"""

from __future__ import annotations

import weakref
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import _module
from fnn.errors import FnnError, ParamsError

_KINDS = (("key", jax.dtypes.prng_key), ("bool", jnp.bool_), ("int", jnp.integer),
          ("complex", jnp.complexfloating), ("float", jnp.floating))
_SKIP = object()  # cached: init cannot take this input, the model's own checks will say why
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_MAX_SPECS = 64  # per model; a model applied to ever new shapes keeps only the latest


def _dtype(leaf: Any) -> Any:
    dtype = getattr(leaf, "dtype", None)
    return dtype if dtype is not None else jnp.result_type(leaf)


def _kind(dtype: Any) -> str:
    for name, cls in _KINDS:
        if jnp.issubdtype(dtype, cls):
            return name
    return jnp.dtype(dtype).name


def _dim(d: Any) -> int:
    return int(d) if isinstance(d, (int, np.integer)) else -1  # symbolic (jax.export) -> unknown


def _input_spec(x: Any) -> tuple[Any, Any] | None:
    """The (shape tree, dtype tree) ``init`` takes for ``x``; None for inputs init cannot describe."""
    if isinstance(x, tuple):
        parts = [_input_spec(e) for e in x]
        if any(p is None for p in parts):
            return None
        return tuple(p[0] for p in parts), tuple(p[1] for p in parts)
    shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
    if shape is None or dtype is None:
        return None
    return tuple(_dim(d) for d in shape), jnp.dtype(dtype)


def _signature(tree: Any) -> tuple:
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple((tuple(np.shape(v)), _kind(_dtype(v))) for v in leaves)


def _layout(tree: Any) -> dict[tuple, tuple[tuple, Any]]:
    """``{path: (shape, dtype)}``, with list/tuple indices alike (both are SequenceKey)."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {tuple(_norm_key(k) for k in path): (tuple(np.shape(v)), _dtype(v)) for path, v in flat}


def _norm_key(k: Any) -> Any:
    if isinstance(k, jax.tree_util.SequenceKey):
        return ("seq", k.idx)
    if isinstance(k, jax.tree_util.DictKey):
        return ("key", k.key)
    if isinstance(k, jax.tree_util.GetAttrKey):
        return ("attr", k.name)
    if isinstance(k, jax.tree_util.FlattenedIndexKey):
        return ("seq", k.key)
    return ("other", str(k))


def _covers(general: Any, shape: Any) -> bool:
    """Whether an init for the shape tree ``general`` (``-1``: any size) takes ``shape`` too."""
    if isinstance(general, tuple) and isinstance(shape, tuple) and len(general) == len(shape):
        return all(_covers(g, d) for g, d in zip(general, shape, strict=True))
    return isinstance(general, int) and isinstance(shape, int) and general in (-1, shape)


def _from_init(module: Any, shape: Any, dtype: Any) -> tuple[Any, Any] | None:
    """The abstract ``(params, state)`` of an init this model already ran for an input shape that
    covers ``shape`` (``model.init(key, (-1, 784))`` before a batch of 128): its traced program
    answers without a new trace. Params do not depend on the sizes an init leaves at ``-1``."""
    x64 = jax.config.jax_enable_x64
    for (general, init_dtype, init_x64), program in list(_module.init_programs(module).items()):
        same_dtype = init_dtype is None or jax.tree.map(jnp.dtype, init_dtype) == dtype
        if init_x64 == x64 and same_dtype and _covers(general, shape):
            return jax.eval_shape(program.run, jax.random.key(0))
    return None


def _expected(module: Any, spec: tuple[Any, Any]) -> Any:
    """The abstract ``(params, state)`` of ``module``'s init for this input, or _SKIP."""
    shape, dtype = spec
    tokens = (_module.RECORDER.set(None), _module.APPLY_HOOK.set(None), _module.PATH.set(()))
    try:
        known = _from_init(module, shape, dtype)
        params, state = known or jax.eval_shape(lambda: module.init_fn(jax.random.key(0), shape, dtype)[2:])
    except (FnnError, TypeError, ValueError, IndexError, KeyError, AttributeError):
        return _SKIP
    finally:
        _module.PATH.reset(tokens[2])
        _module.APPLY_HOOK.reset(tokens[1])
        _module.RECORDER.reset(tokens[0])
    return _layout(params), _layout(state), _signature(params), _signature(state)


def check_params(module: Any, params: Any, state: Any, x: Any) -> None:
    """Raises :class:`ParamsError` unless ``params`` and ``state`` fit what ``module`` expects for ``x``."""
    spec = _input_spec(x)
    if spec is None:
        return
    try:
        per_model = _CACHE.setdefault(module, {})
    except TypeError:  # not weak-referenceable: check without caching
        per_model = {}
    expected = per_model.get(spec)
    if expected is None:
        if len(per_model) >= _MAX_SPECS:
            per_model.clear()
        expected = per_model[spec] = _expected(module, spec)
    if expected is _SKIP:
        return
    p_layout, s_layout, p_sig, s_sig = expected
    p_ok = _signature(params) == p_sig
    s_ok = _signature(state) == s_sig
    if p_ok and s_ok:
        return
    for what, given, layout in (("params", params, p_layout), ("state", state, s_layout)):
        problems = _compare(_layout(given), layout)
        if problems:
            raise _error(module, what, problems)


def _compare(given: dict, expected: dict) -> list[tuple[tuple, str]]:
    """One ``(path, text)`` per difference, in the expected tree's order then the extras."""
    problems = []
    for path, (shape, dtype) in expected.items():
        if path not in given:
            problems.append((path, f"is missing (expected {_fmt(shape, dtype)})"))
            continue
        g_shape, g_dtype = given[path]
        if g_shape != shape or _kind(g_dtype) != _kind(dtype):
            want = g_dtype if _kind(g_dtype) == _kind(dtype) else dtype  # the precision is not compared
            problems.append((path, f"should be {_fmt(shape, want)}, got {_fmt(g_shape, g_dtype)}"))
    for path, (shape, dtype) in given.items():
        if path not in expected:
            problems.append((path, f"is unexpected ({_fmt(shape, dtype)}; this layer has no such entry)"))
    return problems


def _fmt(shape: tuple, dtype: Any) -> str:
    return f"{jnp.dtype(dtype).name}[{', '.join(str(d) for d in shape)}]"


def _text(keys: tuple) -> str:
    out = []
    for kind, k in keys:
        out.append(f"[{k!r}]" if kind == "key" else f".{k}" if kind == "attr" else f"[{k}]")
    return "".join(out)


def _error(module: Any, what: str, problems: list[tuple[tuple, str]]) -> ParamsError:
    """The error for the first layer with a problem: its path, its name, every problem it has."""
    first = problems[0][0]
    layer, chain, depth = module, [], 0
    while depth < len(first) and first[depth][0] == "seq" and first[depth][1] < len(layer.children):
        chain.append((first[depth][1], layer))
        layer = layer.children[first[depth][1]]
        depth += 1
    prefix = first[:depth]
    mine = [(p[depth:], t) for p, t in problems if p[:depth] == prefix]
    if layer.children:  # a container: only the problems that belong to no child are its own
        mine = [(p, t) for p, t in mine if not (p and p[0][0] == "seq" and p[0][1] < len(layer.children))] or mine
    lines = [f"{what}{_text(p)} {t}" for p, t in mine[:4]]
    more = len(problems) - len(lines)
    text = "; ".join(lines) + (f" (and {more} more mismatches elsewhere)" if more > 0 else "")
    if len(mine) > 4:
        text += f"; {len(mine) - 4} more in this layer"
    error = ParamsError(f"{layer.name.splitlines()[0]}: {text}")
    error._named = True
    for index, container in reversed(chain):
        error.at(index, container.name.splitlines()[0])
    return error


__all__ = ["check_params"]
