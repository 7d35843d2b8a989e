"""Loading a Lua torch7 ``nn`` model from a ``.t7`` file as an fnn Module with its params and state.

:func:`load_t7` reads the file with :func:`~fnn.io._t7_read.read_t7` (nothing is executed) and
builds the model with fnn's own constructors, one torch class at a time, through the registry
in ``_t7_registry.py`` (torch class name -> builder). Each builder reads the module's fields
(``kW``, ``nInputPlane``, ``numInputDims``, ...), turns torch7's 1-based dims and indices into
fnn's 0-based ones, and copies its weights into fnn's param layout (torch7's own layouts, so
mostly as stored; an old ``SpatialConvolutionMM`` 2-D weight is reshaped). Training-only fields
(``output``, ``gradInput``, ``gradWeight``, ``gradBias``, buffers, ``train``) are ignored.

Every class name the registry does not know is collected over the whole tree first, so one
:class:`~fnn.errors.T7Error` lists them all with their places; ``strict=False`` puts a
placeholder there instead (printed ``t7.Unsupported(<class>)``), which raises if initialised or
run. A module tree that contains itself (a container among its own descendants) cannot be a
model and gives a :class:`~fnn.errors.T7Error`; a module object used twice is built twice
(two params entries holding the same values: the tie is not kept for training).

>>> import fnn
>>> sorted(name for name in fnn.io.T7_MODULES if name.startswith("nn.Spatial"))[:3]
['nn.SpatialAdaptiveAveragePooling', 'nn.SpatialAdaptiveMaxPooling', 'nn.SpatialAveragePooling']
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from fnn.core import Module, leaf
from fnn.errors import T7Error
from fnn.io._t7_read import T7List, T7Object, T7Table, read_t7

_REQUIRED = object()


class T7Model(NamedTuple):
    """What :func:`load_t7` returns; unpacks as ``model, params, state``."""

    model: Module
    params: Any
    state: Any


class Fields:
    """One torch object's fields as a builder sees them: typed getters whose errors name the place.

    Attributes:
      obj: the :class:`T7Object`.
      path: where it sits, as fnn's params path (``[2][0]``).
      ctx: the load in progress (dtype, strictness, the registry).
    """

    def __init__(self, obj: T7Object, path: str, ctx: _Load):
        self.obj, self.path, self.ctx = obj, path, ctx

    @property
    def typename(self) -> str:
        return self.obj.typename

    def fail(self, message: str) -> T7Error:
        return T7Error(f"{self.typename} at {self.path or 'the top'}: {message}")

    def has(self, name: str) -> bool:
        return self.obj.get(name) is not None

    def raw(self, name: str, default: Any = _REQUIRED) -> Any:
        v = self.obj.get(name)
        if v is None:
            if default is _REQUIRED:
                raise self.fail(f"the field {name!r} is missing")
            return default
        return v

    def num(self, name: str, default: Any = _REQUIRED) -> Any:
        v = self.raw(name, default)
        if v is default and default is not _REQUIRED:
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            if isinstance(v, np.ndarray) and v.size == 1:
                return float(v.reshape(()))
            raise self.fail(f"the field {name!r} should be a number, got {type(v).__name__}")
        return float(v)

    def integer(self, name: str, default: Any = _REQUIRED) -> Any:
        v = self.num(name, default)
        if v is default and default is not _REQUIRED:
            return v
        if not float(v).is_integer():
            raise self.fail(f"the field {name!r} should be an integer, got {v}")
        return int(v)

    def boolean(self, name: str, default: Any = _REQUIRED) -> Any:
        v = self.raw(name, default)
        if not isinstance(v, bool):
            raise self.fail(f"the field {name!r} should be a boolean, got {type(v).__name__}")
        return v

    def dim(self, name: str, default: Any = _REQUIRED) -> Any:
        """A torch7 dimension or index (1-based; negative counts from the end) made 0-based."""
        v = self.integer(name, default)
        if v is None:
            return None
        return v - 1 if v > 0 else v

    def ints(self, name: str) -> tuple[int, ...]:
        """A size list: a LongStorage, a tensor or a table of numbers."""
        v = self.raw(name)
        if isinstance(v, np.ndarray):
            return tuple(int(x) for x in v.reshape(-1))
        if isinstance(v, (T7List, list)):
            return tuple(int(x) for x in v)
        if isinstance(v, dict) and not v:
            return ()
        raise self.fail(f"the field {name!r} should be a list of sizes, got {type(v).__name__}")

    def array(self, name: str, default: Any = _REQUIRED) -> Any:
        """A weight: float arrays take the load's dtype, others keep theirs."""
        v = self.raw(name, default)
        if v is None:
            return None
        if not isinstance(v, np.ndarray):
            raise self.fail(f"the field {name!r} should be a tensor, got {type(v).__name__}")
        return self.ctx.cast(v)

    def children(self, name: str = "modules") -> list[T7Object]:
        v = self.raw(name, T7List())
        if isinstance(v, dict):  # a table with holes or extra keys: keep the numbered entries in order
            v = [v[k] for k in sorted(k for k in v if isinstance(k, int) and k >= 1)]
        if not isinstance(v, list):
            raise self.fail(f"the field {name!r} should be a list of modules, got {type(v).__name__}")
        return list(v)

    def build(self, child: Any, index: int) -> tuple[Module, Any, Any]:
        return self.ctx.build(child, f"{self.path}[{index}]")


Builder = Callable[[Fields], tuple[Module, Any, Any]]


def unsupported(typename: str, obj: Any = None) -> Module:
    """The placeholder ``strict=False`` puts where a torch class fnn does not know sat; raises if used.

    >>> m = unsupported("nn.Euclidean")
    >>> print(m)
    t7.Unsupported(nn.Euclidean)
    """
    def forward(p, x, *, rng, train):
        raise T7Error(f"t7.Unsupported({typename}) is a placeholder for a torch7 module fnn does not implement; "
                      "replace it before running the model")

    def check(shape, dtype):
        forward(None, None, rng=None, train=False)

    return leaf(f"t7.Unsupported({typename})", forward, kind="Unsupported", check=check, float_input=False,
                config={"typename": typename, "t7": obj})


class _Load:
    """One load: builds modules recursively, collects unknown classes, detects cycles."""

    def __init__(self, registry: dict[str, Builder], dtype: Any, strict: bool):
        self.registry, self.dtype, self.strict = registry, jnp.dtype(dtype), strict
        self.unknown: list[str] = []
        self.active: set[int] = set()

    def cast(self, a: np.ndarray) -> Any:
        if np.issubdtype(a.dtype, np.floating):
            return jnp.asarray(a, self.dtype)
        return jnp.asarray(a)

    def build(self, obj: Any, path: str) -> tuple[Module, Any, Any]:
        where = path or "the top"
        if not isinstance(obj, T7Object):
            hint = ""
            if not path and isinstance(obj, dict):  # a checkpoint table such as char-rnn's {protos=..., opt=...}
                keys = ", ".join(repr(k) for k in list(obj)[:12])
                hint = (f" with keys {keys}; build the model from the entry that holds it: "
                        "fnn.io.build_t7(fnn.read_t7(path)[key])")
            raise T7Error(f"at {where}: expected a torch7 module, got {_describe(obj)}{hint}")
        if id(obj) in self.active:
            raise T7Error(f"{obj.typename} at {where}: reference cycle: the module contains itself, so the tree "
                          "cannot be a model")
        builder = self.registry.get(obj.typename)
        if builder is None:
            self.unknown.append(f"{obj.typename} at {where}")
            return unsupported(obj.typename, obj), (), ()
        self.active.add(id(obj))
        try:
            return builder(Fields(obj, path, self))
        finally:
            self.active.discard(id(obj))


def _describe(obj: Any) -> str:
    if isinstance(obj, np.ndarray):
        return f"a tensor of shape {obj.shape}"
    if isinstance(obj, (T7Table, T7List)):
        return "a Lua table"
    return f"a {type(obj).__name__}"


def build_t7(obj: Any, *, dtype: Any = jnp.float32, strict: bool = True) -> T7Model:
    """Builds an fnn model from a torch7 module object read by :func:`read_t7`; see :func:`load_t7`.

    For files that hold a model inside a table (training checkpoints such as char-rnn's
    ``{protos = {rnn = ...}, opt = ...}``): ``build_t7(fnn.read_t7(path)["protos"]["rnn"])``.

    >>> import numpy as np
    >>> from fnn.io import T7Object, T7Table
    >>> build_t7(T7Object("nn.Tanh")).model.name
    'nn.Tanh'
    """
    from fnn.io._t7_registry import T7_MODULES

    load = _Load(T7_MODULES, dtype, strict)
    model, params, state = load.build(obj, "")
    if load.unknown and strict:
        listed = "\n".join(f"  {u}" for u in load.unknown)
        raise T7Error(f"the model holds {len(load.unknown)} torch7 module(s) fnn does not implement:\n{listed}\n"
                      "load_t7(path, strict=False) puts a placeholder there that raises if run")
    return T7Model(model, params, state)


def load_t7(path: str | os.PathLike[str], dtype: Any = jnp.float32, strict: bool = True) -> T7Model:
    """Loads a Lua torch7 model (``torch.save(path, model)``) as an fnn Module, its params and state.

    The model is built with fnn's own constructors, so it prints as torch7 printed it and runs,
    fine-tunes and exports like any fnn model. ``cudnn.*`` modules load as their ``nn`` twins;
    training-only fields are ignored. Things to know: fnn's dims and indices are 0-based
    (a loaded ``LookupTable`` takes 0-based indices: subtract 1 from torch7's), and the model
    is in evaluation mode unless you pass ``train=True`` when applying it.

    Args:
      path: the ``.t7`` file (binary mode, as ``torch.save`` writes by default).
      dtype: the dtype of floating-point params and state (default float32, whatever the file
        held: ``torch.DoubleTensor`` weights are cast). Integer tensors keep their dtype.
      strict: when False, a torch class fnn does not know becomes a placeholder that raises
        if run, instead of an error.

    Returns:
      ``(model, params, state)``, a :class:`T7Model`. ``state`` holds the BatchNorm running
      statistics (``()`` entries elsewhere); use ``model.stateful`` when it has any.

    Raises:
      T7Error: the file is corrupt, truncated or not torch7 (the message names the byte
        offset); the model holds classes fnn does not implement (one error listing every one
        and where it sits); or its module tree contains itself.

    >>> import jax.numpy as jnp, numpy as np, fnn
    >>> from fnn.io._t7_read import T7Object, T7Table
    >>> from fnn.io._t7_load import build_t7
    >>> lin = T7Object("nn.Linear", fields=T7Table(weight=np.ones((2, 3)), bias=np.zeros(2)))
    >>> model, params, state = build_t7(T7Object("nn.Sequential", fields=T7Table(modules=[lin])))
    >>> print(model)
    nn.Sequential {
      [input -> (1) -> output]
      (1): nn.Linear(3 -> 2)
    }
    >>> model.apply(params, jnp.ones(3))
    Array([3., 3.], dtype=float32)
    """
    return build_t7(read_t7(path), dtype=dtype, strict=strict)
