"""Finding the layer where NaN or infinity first appears, forward or backward.

:func:`find_nonfinite` runs the model eagerly (no ``jit``) and names the first layer,
by its params path, whose **forward output** is non-finite, or, when a criterion
is given, the layer whose **backward pass** first produces a non-finite gradient
(with respect to its input or its params) from a finite incoming gradient.
:func:`check_finite` does the same and raises :class:`~fnn.errors.NonFiniteError`.
:func:`nonfinite_checks` is a lighter switch for eager forward passes.

How the backward pass is located: every leaf layer is wrapped so that a zero
"probe" is added to its input, its params and its output (``x + 0``: the values
do not change). The gradient of the loss with respect to those probes is exactly
each layer's incoming gradient (output probe) and the gradients it passes on
(input and params probes), one entry per call, so a layer called twice (MapTable)
is checked per call. Walking the calls in reverse execution order, the first
layer whose incoming gradient is finite but whose outgoing gradient is not is the
culprit. Wrapping uses each container's ``rebuild``; a container without one is
probed as a whole.

>>> import jax, jax.numpy as jnp, fnn
>>> from fnn.debug import find_nonfinite
>>> model = fnn.Sequential(fnn.MulConstant(-1.0), fnn.Log())
>>> _, params = model.init(jax.random.key(0), (3,))
>>> print(find_nonfinite(model, params, jnp.ones(3)))
at [1]: nn.Log produced a non-finite forward output: 3 of 3 values (nan 3); its input was finite
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import Module, apply_hook, as_input, current_path
from fnn.errors import FnnError, NonFiniteError
from fnn.layers import MapTable

_PROBE: contextvars.ContextVar[_Probe | None] = contextvars.ContextVar("fnn_debug_probe", default=None)


@dataclasses.dataclass(frozen=True)
class NonFinite:
    """Where a non-finite value first appeared.

    Attributes:
      path: the layer's params path, e.g. ``(2,)`` (``()`` for the model input or the loss).
      layer: the layer's printed name (``nn.Log``), or ``"input"`` / ``"criterion"`` / ``"model"``.
      where: ``"input"``, ``"forward output"``, ``"loss"``,
        ``"gradient of the loss w.r.t. the model output"``, ``"gradient w.r.t. its input"``,
        ``"gradient w.r.t. its params"`` or ``"incoming gradient"``.
      count: how many values are non-finite.
      size: how many values were checked.
      kinds: the counts by kind, e.g. ``nan 3, +inf 1``.
      context: what else was seen (``its input was finite``).
    """

    path: tuple[int | str, ...]
    layer: str
    where: str
    count: int
    size: int
    kinds: str = ""
    context: str = ""

    def __str__(self) -> str:
        at = "".join(f"[{i}]" for i in self.path)
        verb = "has a non-finite" if self.where == "input" else "produced a non-finite"
        text = f"{self.layer} {verb} {self.where}: {self.count} of {self.size} values ({self.kinds})"
        return (f"at {at}: " if at else "") + text + (f"; {self.context}" if self.context else "")


@dataclasses.dataclass
class _Call:
    path: tuple
    module: Module
    x: list
    p: list
    y: list
    event: int


class _Probe:
    """Per-apply bookkeeping for the wrapped leaves: records calls, or adds probes."""

    def __init__(self, probes: list | None = None):
        self.probes = probes
        self.calls: list[_Call] = []
        self.events: list = []
        self.i = 0


def _is_float(a: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(a), jnp.inexact)


def _add(tree: Any, probe: list) -> Any:
    leaves, treedef = jax.tree.flatten(tree)
    return jax.tree.unflatten(treedef, [v if q is None else v + q for v, q in zip(leaves, probe, strict=True)])


def _zeros(tree: Any) -> list:
    return [jnp.zeros_like(v) if _is_float(v) else None for v in jax.tree.leaves(tree)]


def _wrap(module: Module) -> Module:
    """``module`` with probes at its input, params and output while a _Probe is active."""
    inner = module.apply_fn

    def apply_fn(p, s, x, *, rng=None, train=False):
        probe = _PROBE.get()
        if probe is None:
            return inner(p, s, x, rng=rng, train=train)
        i, probe.i = probe.i, probe.i + 1
        if probe.probes is None:  # recording pass
            y, s = inner(p, s, x, rng=rng, train=train)
            event = len(probe.events) - 1 if not module.children else -1
            probe.calls.append(_Call(current_path(), module, jax.tree.leaves(x), jax.tree.leaves(p),
                                     jax.tree.leaves(y), event))
            return y, s
        px, pp, py = probe.probes[i]
        y, s = inner(_add(p, pp), s, _add(x, px), rng=rng, train=train)
        return _add(y, py), s

    return dataclasses.replace(module, apply_fn=apply_fn)


def _rebuild(module: Module) -> Callable[[tuple[Module, ...]], Module] | None:
    """How to build ``module`` again with other children (MapTable has no ``rebuild``: it takes one child)."""
    if module.rebuild is not None:
        return module.rebuild
    if module.kind == "MapTable" and len(module.children) == 1:
        return lambda children: MapTable(*children)
    return None


def _probed(module: Module) -> Module:
    rebuild = _rebuild(module) if module.children else None
    if rebuild is not None:
        return rebuild(tuple(_probed(c) for c in module.children))
    return _wrap(module)


def _census(leaves: list) -> tuple[int, int, str]:
    """(non-finite count, size, ``nan 3, +inf 1``) over the float arrays in ``leaves``."""
    bad = size = 0
    kinds = {"nan": 0, "+inf": 0, "-inf": 0}
    for v in leaves:
        if v is None or not _is_float(v):
            continue
        a = np.asarray(v)
        size += a.size
        kinds["nan"] += int(np.isnan(a).sum())
        kinds["+inf"] += int(np.isposinf(a).sum()) if not np.iscomplexobj(a) else 0
        kinds["-inf"] += int(np.isneginf(a).sum()) if not np.iscomplexobj(a) else 0
        bad += int((~np.isfinite(a)).sum())
    return bad, size, ", ".join(f"{k} {n}" for k, n in kinds.items() if n)


def _finite(leaves: list) -> bool:
    return _census(leaves)[0] == 0


def _finding(path: tuple, layer: str, where: str, leaves: list, context: str = "") -> NonFinite:
    bad, size, kinds = _census(leaves)
    return NonFinite(tuple(path), layer, where, bad, size, kinds, context)


def _layer_name(module: Module) -> str:
    return module.name.splitlines()[0]


def find_nonfinite(
    model: Module,
    params: Any,
    x: Any,
    *,
    state: Any = None,
    target: Any = None,
    criterion: Callable[[Any, Any], Any] | None = None,
    rng: jax.Array | None = None,
    train: bool = False,
) -> NonFinite | None:
    """Runs the model eagerly and returns where a NaN or infinity first appears, or None.

    Args:
      model: the model.
      params: its params.
      x: an input (an array or a table), as for ``apply``.
      state: the model's state (stateful models).
      target: the target passed to ``criterion``.
      criterion: ``criterion(output, target) -> scalar``; when given, the loss and the
        backward pass are checked too (else only the forward pass).
      rng, train: as for ``apply``.

    Returns:
      A :class:`NonFinite` naming the path, the layer and whether the forward output,
      the loss or a gradient went non-finite; None when everything is finite.
    """
    x = as_input(x)
    if state is None:
        if model.has_state:
            raise FnnError(f"{_layer_name(model)} has state: pass state= (from model.stateful.init)")
        state = model._empty_state()
    if not _finite(jax.tree.leaves(x)):
        return _finding((), "input", "input", jax.tree.leaves(x))
    probed = _probed(model)
    probe = _Probe()
    token = _PROBE.set(probe)
    try:
        with apply_hook(lambda path, module, y: probe.events.append((path, module, jax.tree.leaves(y)))):
            y, _ = probed.stateful.apply(params, state, x, rng=rng, train=train)
    finally:
        _PROBE.reset(token)
    by_event = {c.event: c for c in probe.calls if c.event >= 0}
    for n, (path, module, out) in enumerate(probe.events):
        if not _finite(out):
            call = by_event.get(n)
            context = ""
            if call is not None:
                context = "its input was finite" if _finite(call.x) else "its input was already non-finite"
                if not _finite(call.p):
                    context += " and its params hold non-finite values"
            return _finding(path, _layer_name(module), "forward output", out, context)
    if not _finite(jax.tree.leaves(y)):
        return _finding((), _layer_name(model), "forward output", jax.tree.leaves(y), "outside any leaf layer")
    if criterion is None:
        return None
    loss = criterion(y, target)
    if not _finite([loss]):
        return _finding((), "criterion", "loss", [loss])
    return _backward(probed, probe.calls, params, state, x, target, criterion, rng, train, y)


def _backward(probed: Module, calls: list[_Call], params: Any, state: Any, x: Any, target: Any,
              criterion: Callable, rng: Any, train: bool, y: Any) -> NonFinite | None:
    probes = [(_zeros(c.x), _zeros(c.p), _zeros(c.y)) for c in calls]
    out_probe = _zeros(y)

    def loss_fn(probes, out_probe):
        token = _PROBE.set(_Probe(probes))
        try:
            out, _ = probed.stateful.apply(params, state, x, rng=rng, train=train)
        finally:
            _PROBE.reset(token)
        return criterion(_add(out, out_probe), target)

    grads, g_final = jax.grad(loss_fn, argnums=(0, 1))(probes, out_probe)
    if not _finite(g_final):
        return _finding((), "criterion", "gradient of the loss w.r.t. the model output", g_final)
    first_bad_incoming = None
    for call, (g_in, g_p, g_out) in zip(reversed(calls), reversed(grads), strict=True):
        name = _layer_name(call.module)
        if not _finite(g_out):
            first_bad_incoming = first_bad_incoming or (call, g_out)
            continue
        if not _finite(g_p):
            return _finding(call.path, name, "gradient w.r.t. its params", g_p, "its incoming gradient was finite")
        if not _finite(g_in):
            return _finding(call.path, name, "gradient w.r.t. its input", g_in, "its incoming gradient was finite")
    if first_bad_incoming is not None:  # made non-finite between layers (a container's own op)
        call, g_out = first_bad_incoming
        return _finding(call.path, _layer_name(call.module), "incoming gradient", g_out, "from outside any leaf")
    return None


def check_finite(
    model: Module,
    params: Any,
    x: Any,
    *,
    state: Any = None,
    target: Any = None,
    criterion: Callable[[Any, Any], Any] | None = None,
    rng: jax.Array | None = None,
    train: bool = False,
) -> None:
    """:func:`find_nonfinite`, raising :class:`NonFiniteError` (``.finding``, ``.path``) instead of returning.

    >>> import jax.numpy as jnp, fnn
    >>> from fnn.debug import check_finite
    >>> check_finite(fnn.Sequential(fnn.Log()), ((),), jnp.ones(2))   # all finite: returns None
    """
    found = find_nonfinite(model, params, x, state=state, target=target, criterion=criterion, rng=rng, train=train)
    if found is not None:
        raise _error(found)


def _error(found: NonFinite) -> NonFiniteError:
    e = NonFiniteError(str(found).split(": ", 1)[1] if found.path else str(found))
    e.path = found.path
    e.finding = found
    return e


@contextlib.contextmanager
def nonfinite_checks() -> Iterator[None]:
    """Within the block, an eager ``apply`` raises :class:`NonFiniteError` at the first leaf
    whose output is non-finite, naming its path and layer.

    Values under ``jit``/``grad`` tracing are abstract and are not checked (use
    :func:`find_nonfinite` for gradients).

    >>> import jax.numpy as jnp, fnn
    >>> from fnn.debug import nonfinite_checks
    >>> model = fnn.Sequential(fnn.Tanh(), fnn.MulConstant(-1.0), fnn.Log())
    >>> with nonfinite_checks():
    ...     model.apply(((), (), ()), jnp.ones(2))
    Traceback (most recent call last):
    ...
    fnn.errors.NonFiniteError: at [2]: nn.Log produced a non-finite forward output: 2 of 2 values (nan 2)
      inside child [2] of nn.Sequential
    """

    def hook(path: tuple, module: Module, y: Any) -> None:
        leaves = jax.tree.leaves(y)
        if any(isinstance(v, jax.core.Tracer) for v in leaves) or _finite(leaves):
            return
        # containers on the way out prefix the path (FnnError.at), so the message starts at the leaf
        raise NonFiniteError(str(_finding((), _layer_name(module), "forward output", leaves)))

    with apply_hook(hook):
        yield


__all__ = ["NonFinite", "check_finite", "find_nonfinite", "nonfinite_checks"]
