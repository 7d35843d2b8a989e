"""The Module contract: a layer is a pair of pure functions.

A :class:`Module` is a small frozen object. It unpacks like a stax pair::

    init, apply = fnn.Linear(3, 4)
    out_shape, params = init(jax.random.key(0), (-1, 3))
    y = apply(params, x)                      # also apply(params, x, rng=key, train=True)

Underneath there is one code path, the stateful form::

    init, apply = model.stateful
    out_shape, params, state = init(rng, input_shape)
    y, state = apply(params, state, x, rng=None, train=False)

The plain pair is derived from it and refuses models that have state.

Shapes use ``-1`` for an unknown batch size. A table (multi-input) shape is a
tuple of shapes; a table input is a tuple of arrays. Output shapes are derived
in one place, :func:`derive_output`, by abstract evaluation of the layer's own
forward function (``jax.eval_shape``, no FLOPs, no memory), with two sentinel
sizes substituted for ``-1``: a dimension that differs between the two is a
batch dimension again.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from fnn.core._compile import jit_once
from fnn.core._node import Node, call_module
from fnn.core._shapes import Array, Params, ShapeTree, State, as_input, normalize_shape
from fnn.errors import FnnError, StatefulModelError, UsageError

# --------------------------------------------------------------------------- recording (summary, debug)

RECORDER: contextvars.ContextVar[list | None] = contextvars.ContextVar("fnn_recorder", default=None)
PATH: contextvars.ContextVar[tuple] = contextvars.ContextVar("fnn_path", default=())
APPLY_HOOK: contextvars.ContextVar[Callable | None] = contextvars.ContextVar("fnn_apply_hook", default=None)


@contextlib.contextmanager
def recording() -> Iterator[list]:
    """Records one row per module initialised inside the block (used by :func:`fnn.summary`)."""
    rows: list = []
    token = RECORDER.set(rows)
    try:
        yield rows
    finally:
        RECORDER.reset(token)


@contextlib.contextmanager
def apply_hook(hook: Callable[[tuple, Module, Any], Any]) -> Iterator[None]:
    """Calls ``hook(path, module, output)`` on every module output during apply (debugging)."""
    token = APPLY_HOOK.set(hook)
    try:
        yield
    finally:
        APPLY_HOOK.reset(token)


def current_path() -> tuple[int | str, ...]:
    """The params path of the module being initialised or applied, e.g. ``(2, 0)``."""
    return PATH.get()


from fnn.core import _params_check  # noqa: E402  (it reads the context variables above)


@contextlib.contextmanager
def _at(index: int | str, container: Module) -> Iterator[None]:
    token = PATH.set(PATH.get() + (index,))
    try:
        yield
    except FnnError as e:
        raise e.at(index, container.name) from None
    finally:
        PATH.reset(token)


# --------------------------------------------------------------------------- the Module

# torch7 methods that fnn replaces, with the fnn call to use instead.
_TORCH_METHODS = {
    "forward": "y = model.apply(params, x)",
    "updateOutput": "y = model.apply(params, x)",
    "backward": "grad_input, grad_params = fnn.backward(model, params, x, grad_output)",
    "updateGradInput": "grad_input, grad_params = fnn.backward(model, params, x, grad_output)",
    "accGradParameters": "grad_input, grad_params = fnn.backward(model, params, x, grad_output)",
    "zeroGradParameters": "gradients are fresh values returned by jax.grad; there is nothing to zero",
    "parameters": "out_shape, params = model.init(jax.random.key(0), input_shape)",
    "getParameters": "flat, unflatten = fnn.get_parameters(params)",
    "training": "y = model.apply(params, x, rng=key, train=True)",
    "evaluate": "y = model.apply(params, x)   (train=False is the default)",
}


def _check_call(module: Module, rng: Any, train: Any) -> None:
    if not isinstance(train, bool):
        raise FnnError(
            f"{module.name}: train must be a Python bool, got {type(train).__name__}. "
            "Under jax.jit mark it static: jax.jit(apply, static_argnames='train')"
        )
    if rng is not None and not (isinstance(rng, (jax.Array, jax.core.Tracer, np.ndarray))):
        raise FnnError(f"{module.name}: rng must be a jax PRNG key such as jax.random.key(0), got {rng!r}")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Module:
    """A layer or a container: a frozen object that unpacks into ``(init, apply)``.

    Attributes:
      name: torch7's printed form of the layer, e.g. ``nn.Linear(784 -> 128)``.
      init_fn: the stateful init, ``(rng, in_shape, in_dtype) ->
        (out_shape, out_dtype, params, state)``; ``in_dtype`` None means the layer's default.
      apply_fn: the stateful apply, ``(params, state, x, *, rng, train) -> (y, state)``.
      children: the child modules of a container, in params order.
      has_state: whether the model carries state (BatchNorm statistics, ...).
      kind: the torch7 class name (``"Linear"``), used by summaries and weight import.
      render: prints a container in torch7's format; None for leaves.
      rebuild: builds the same container with other children (used by ``add``).
      config: the constructor's hyper-parameters, for printing and weight import.
    """

    name: str
    init_fn: Callable[..., Any]
    apply_fn: Callable[..., Any]
    children: tuple[Module, ...] = ()
    has_state: bool = False
    kind: str = ""
    render: Callable[[Module], str] | None = None
    rebuild: Callable[[tuple[Module, ...]], Module] | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)

    # -- the plain pair ---------------------------------------------------------------
    def init(self, rng: Array, input_shape: ShapeTree, dtype: Any = None) -> tuple[ShapeTree, Params]:
        """Initialises the parameters for inputs of ``input_shape``.

        Args:
          rng: a PRNG key, ``jax.random.key(seed)``.
          input_shape: the input shape, ``-1`` for an unknown batch size; a tuple of
            shapes for a table input.
          dtype: the input dtype (default: the layer's natural one, float32 for most,
            int32 for index inputs). Floating params take the input's float dtype.

        Returns:
          ``(output_shape, params)``.

        Raises:
          StatefulModelError: the model has state; use ``model.stateful``.
          ShapeError: ``input_shape`` does not fit a layer; the message names it.
        """
        self._refuse_state("init")
        out_shape, params, _ = self.stateful.init(rng, input_shape, dtype)
        return out_shape, params

    def apply(self, params: Params, x: Any, *, rng: Array | None = None, train: bool = False) -> Any:
        """Runs the layer: pure, and safe under ``jit``, ``grad`` and ``vmap``.

        Args:
          params: the params pytree from ``init``.
          x: an array, or a tuple of arrays for a table input; one example or a batch.
          rng: a PRNG key, needed only by random layers in training mode.
          train: training mode (a Python bool; static under ``jit``).

        Returns:
          The output (an array or a tuple of arrays).
        """
        self._refuse_state("apply")
        y, _ = self.stateful.apply(params, self._empty_state(), x, rng=rng, train=train)
        return y

    def __iter__(self) -> Iterator[Callable[..., Any]]:
        return iter((self.init, self.apply))

    # -- graphs (nngraph) and torch-style calls -----------------------------------------
    def __call__(self, *nodes: Node | list[Node]) -> Node:
        """Builds a graph node (nngraph): ``module()`` is a graph input, ``module(a, b)`` reads nodes.

        Calling a Module on arrays is not how fnn runs a model: that raises a
        :class:`~fnn.errors.UsageError` showing ``y = model.apply(params, x)``. See
        ``fnn.gModule``.
        """
        return call_module(self, nodes)

    def __neg__(self) -> Node:
        """nngraph's ``-module``: a graph input node, ``module()``."""
        return call_module(self, ())

    def __rsub__(self, nodes: Any) -> Node:
        """nngraph's ``{a, b} - module``: ``[a, b] - module`` is ``module(a, b)``."""
        if not isinstance(nodes, (list, tuple)):
            return NotImplemented
        return call_module(self, (nodes,))

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes that do not exist: torch7 method names get the fnn call.
        hint = _TORCH_METHODS.get(name)
        if hint is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self)
        raise UsageError(
            f"{self.name.splitlines()[0]} has no .{name}() (a torch7 method): fnn modules are pure (init, apply) "
            f"pairs. Instead:\n    {hint}\nwith\n    init, apply = model\n"
            "    out_shape, params = init(jax.random.key(0), input_shape)"
        )

    # -- the stateful pair ------------------------------------------------------------
    @property
    def stateful(self) -> StatefulPair:
        """The stateful view: ``init -> (out_shape, params, state)``, ``apply -> (y, state)``."""
        return StatefulPair(self)

    # -- containers -------------------------------------------------------------------
    def __getitem__(self, index: int) -> Module:
        """The child at ``index`` (0-based; torch7's ``get(i)`` was 1-based)."""
        return self.children[index]

    def add(self, module: Module) -> Module:
        """A new container with ``module`` appended (torch7's ``:add``, without mutation)."""
        if self.rebuild is None:
            raise FnnError(f"{self.name} is not a container; only containers take add()")
        if not isinstance(module, Module):
            raise FnnError(f"{self.name}.add expects an fnn Module, got {type(module).__name__}")
        return self.rebuild(self.children + (module,))

    def __str__(self) -> str:
        return self.render(self) if self.render is not None else self.name

    __repr__ = __str__

    # -- helpers ----------------------------------------------------------------------
    def _stateful_leaf(self, path: tuple = ()) -> tuple[tuple, Module] | None:
        if not self.has_state:
            return None
        for i, child in enumerate(self.children):
            found = child._stateful_leaf(path + (i,))
            if found is not None:
                return found
        return path, self

    def _refuse_state(self, what: str) -> None:
        if not self.has_state:
            return
        path, leaf = self._stateful_leaf()
        where = "".join(f"[{i}]" for i in path) or "the model itself"
        raise StatefulModelError(
            f"{self.name.splitlines()[0]} has state: {leaf.name} at {where} keeps non-trained "
            f"variables, so the plain {what}() cannot carry them. Use the stateful pair:\n"
            "    init, apply = model.stateful\n"
            "    out_shape, params, state = init(rng, input_shape)\n"
            "    y, state = apply(params, state, x, rng=key, train=True)"
        )

    def _empty_state(self) -> State:
        return tuple(c._empty_state() for c in self.children) if self.children else ()


@dataclasses.dataclass(frozen=True, eq=False)
class StatefulPair:
    """The stateful form of a model; unpacks into ``(init, apply)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.Linear(3, 2).stateful
    >>> out_shape, params, state = init(jax.random.key(0), (-1, 3))
    >>> y, state = apply(params, state, jnp.ones((4, 3)))
    >>> y.shape, state
    ((4, 2), ())
    """

    module: Module

    def init(self, rng: Array, input_shape: ShapeTree, dtype: Any = None) -> tuple[ShapeTree, Params, State]:
        """Initialises params and state; see :meth:`Module.init`.

        The whole init is one compiled program, cached per model, input shape and dtype: a
        second init of the same model (another seed, another ``fit``) neither traces nor compiles.
        """
        program = _init_program(self.module, normalize_shape(input_shape), dtype)
        params, state = program.run(rng)
        return program.out_shape, params, state

    def apply(
        self, params: Params, state: State, x: Any, *, rng: Array | None = None, train: bool = False
    ) -> tuple[Any, State]:
        """Runs the model and returns ``(output, new_state)``; see :meth:`Module.apply`."""
        _check_call(self.module, rng, train)
        x = as_input(x)
        _params_check.check_params(self.module, params, state, x)  # trace time only; cached per input
        return self.module.apply_fn(params, state, x, rng=rng, train=train)

    def __iter__(self) -> Iterator[Callable[..., Any]]:
        return iter((self.init, self.apply))


class _InitProgram:
    """One model's init for one input shape and dtype, jitted: ``run(rng) -> (params, state)``.

    One compiled program for the whole init, because eager random ops would compile one small
    kernel per op and shape, which dominates init time for real models. The program is kept
    (:func:`_init_program`); it holds the model weakly: the cache entry lives exactly as long as
    the model.

    It runs once per seed, so it compiles by :func:`jit_once` (on CPU at LLVM optimisation level 1,
    which compiles the threefry hash of ``jax.random`` 3.6-4.1x faster).
    """

    def __init__(self, module: Module, shape: ShapeTree, dtype: Any):
        module_ref, self.out_shape = weakref.ref(module), None

        def run(key):
            self.out_shape, _, params, state = module_ref().init_fn(key, shape, dtype)  # set at trace time
            return params, state

        self.run = jit_once(run)


_INIT_PROGRAMS: weakref.WeakKeyDictionary[Module, dict] = weakref.WeakKeyDictionary()


def init_programs(module: Module) -> dict:
    """``{(input shape, dtype, x64): program}``: the inits of ``module`` cached so far."""
    try:
        return _INIT_PROGRAMS.get(module) or {}
    except TypeError:  # not weak-referenceable
        return {}


def _init_program(module: Module, shape: ShapeTree, dtype: Any) -> _InitProgram:
    """The cached :class:`_InitProgram` of ``module`` for ``shape`` and ``dtype``; a fresh one while
    :func:`recording` (the rows are written at trace time) or inside a container's init."""
    if RECORDER.get() is not None or PATH.get():
        return _InitProgram(module, shape, dtype)
    try:
        key = (shape, dtype, jax.config.jax_enable_x64)
        hash(key)
    except TypeError:  # an unhashable dtype spelling: no cache
        return _InitProgram(module, shape, dtype)
    programs = _INIT_PROGRAMS.setdefault(module, {})
    if key not in programs:
        programs[key] = _InitProgram(module, shape, dtype)
    return programs[key]


# --------------------------------------------------------------------------- children


def init_child(
    container: Module, index: int, child: Module, rng: Array, shape: ShapeTree, dtype: Any
) -> tuple[ShapeTree, Any, Params, State]:
    """Initialises one child of ``container``; errors get the child's path."""
    with _at(index, container):
        return child.init_fn(rng, shape, dtype)


def apply_child(
    container: Module, index: int, child: Module, params: Params, state: State, x: Any, rng: Array | None, train: bool
) -> tuple[Any, State]:
    """Applies one child of ``container`` with its own key (derived only if a key was given)."""
    key = None if rng is None else jax.random.fold_in(rng, index)
    with _at(index, container):
        return child.apply_fn(params, state, x, rng=key, train=train)

