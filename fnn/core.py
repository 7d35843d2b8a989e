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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.errors import DTypeError, FnnError, ShapeError, StatefulModelError

Shape = tuple[int, ...]
ShapeTree = Any  # a Shape, or a tuple of ShapeTrees for a table
Params = Any  # a pytree of arrays: dicts for leaves, tuples for containers
State = Any
Array = jax.Array

# Sentinel sizes substituted for -1 when deriving output shapes.
_SENTINELS = (12, 60)


# --------------------------------------------------------------------------- shapes


def is_shape(s: Any) -> bool:
    """True if ``s`` is one array shape (a tuple of ints), False for a table of shapes."""
    return isinstance(s, (tuple, list)) and all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in s
    )


def normalize_shape(s: Any, where: str = "input_shape") -> ShapeTree:
    """Turns lists into tuples and checks that ``s`` is a shape or a table of shapes."""
    if is_shape(s):
        dims = tuple(int(d) for d in s)
        if any(d < -1 for d in dims):
            raise ShapeError(f"{where} {dims} has a negative size; use -1 for an unknown batch size")
        return dims
    if isinstance(s, (tuple, list)):
        return tuple(normalize_shape(e, where) for e in s)
    raise ShapeError(f"{where} must be a tuple of ints or a tuple of shapes, got {s!r}")


def format_shape(s: ShapeTree) -> str:
    """``(-1, 784)`` for a shape, ``{(3,), (4,)}`` for a table (torch7 tables print in braces)."""
    if is_shape(s):
        return "(" + ", ".join(str(d) for d in s) + ("," if len(s) == 1 else "") + ")"
    return "{" + ", ".join(format_shape(e) for e in s) + "}"


def shape_of(x: Any) -> ShapeTree:
    """The shape tree of an input: an array's shape, or a tuple of shapes for a table."""
    if isinstance(x, (tuple, list)):
        return tuple(shape_of(e) for e in x)
    return tuple(jnp.shape(x))


def dtype_of(x: Any) -> Any:
    """The dtype tree of an input (same structure as :func:`shape_of`)."""
    if isinstance(x, (tuple, list)):
        return tuple(dtype_of(e) for e in x)
    return jnp.result_type(x)


def as_input(x: Any) -> Any:
    """Converts numpy arrays and Python numbers to jax arrays; lists and tuples stay tables."""
    if isinstance(x, (tuple, list)):
        return tuple(as_input(e) for e in x)
    if isinstance(x, (jax.Array, jax.core.Tracer)):
        return x
    return jnp.asarray(x)


def _fill(shape: ShapeTree, dtype: Any) -> Any:
    """A dtype tree of the same structure as ``shape`` (``dtype`` may already be a tree)."""
    if is_shape(shape):
        return jnp.dtype(dtype) if not isinstance(dtype, tuple) else dtype
    if isinstance(dtype, tuple):
        if len(dtype) != len(shape):
            raise ShapeError(f"dtype table {dtype} does not match shape table {format_shape(shape)}")
        return tuple(_fill(s, d) for s, d in zip(shape, dtype))
    return tuple(_fill(s, dtype) for s in shape)


def _concrete(shape: ShapeTree, dtype: Any, batch: int) -> Any:
    if is_shape(shape):
        return jax.ShapeDtypeStruct(tuple(batch if d == -1 else d for d in shape), dtype)
    return tuple(_concrete(s, d, batch) for s, d in zip(shape, dtype))


def _merge(a: Any, b: Any) -> tuple[ShapeTree, Any]:
    """Merges the abstract outputs of the two sentinel runs into (shape tree, dtype tree)."""
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        merged = [_merge(x, y) for x, y in zip(a, b)]
        return tuple(m[0] for m in merged), tuple(m[1] for m in merged)
    if isinstance(a, jax.ShapeDtypeStruct) and isinstance(b, jax.ShapeDtypeStruct) and a.ndim == b.ndim:
        return tuple(d if d == e else -1 for d, e in zip(a.shape, b.shape)), a.dtype
    raise ShapeError("the output structure depends on the (unknown) batch size; give a concrete batch size")


# --------------------------------------------------------------------------- recording (summary, debug)

_RECORDER: contextvars.ContextVar[list | None] = contextvars.ContextVar("fnn_recorder", default=None)
_PATH: contextvars.ContextVar[tuple] = contextvars.ContextVar("fnn_path", default=())
_APPLY_HOOK: contextvars.ContextVar[Callable | None] = contextvars.ContextVar("fnn_apply_hook", default=None)


@contextlib.contextmanager
def recording() -> Iterator[list]:
    """Records one row per module initialised inside the block (used by :func:`fnn.summary`)."""
    rows: list = []
    token = _RECORDER.set(rows)
    try:
        yield rows
    finally:
        _RECORDER.reset(token)


@contextlib.contextmanager
def apply_hook(hook: Callable[[tuple, Module, Any], Any]) -> Iterator[None]:
    """Calls ``hook(path, module, output)`` on every module output during apply (debugging)."""
    token = _APPLY_HOOK.set(hook)
    try:
        yield
    finally:
        _APPLY_HOOK.reset(token)


def current_path() -> tuple:
    """The params path of the module being initialised or applied, e.g. ``(2, 0)``."""
    return _PATH.get()


@contextlib.contextmanager
def _at(index: int | str, container: Module) -> Iterator[None]:
    token = _PATH.set(_PATH.get() + (index,))
    try:
        yield
    except FnnError as e:
        raise e.at(index, container.name) from None
    finally:
        _PATH.reset(token)


# --------------------------------------------------------------------------- the Module


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
    init_fn: Callable
    apply_fn: Callable
    children: tuple[Module, ...] = ()
    has_state: bool = False
    kind: str = ""
    render: Callable[[Module], str] | None = None
    rebuild: Callable[[tuple[Module, ...]], Module] | None = None
    config: dict = dataclasses.field(default_factory=dict)

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

    def __iter__(self) -> Iterator[Callable]:
        return iter((self.init, self.apply))

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
        """Initialises params and state; see :meth:`Module.init`."""
        shape = normalize_shape(input_shape)
        derived = {}

        # One compiled program for the whole init: eager random ops would compile one
        # small kernel per op and shape, which dominates init time for real models.
        def run(key):
            derived["shape"], _, params, state = self.module.init_fn(key, shape, dtype)
            return params, state

        params, state = jax.jit(run)(rng)
        return derived["shape"], params, state

    def apply(
        self, params: Params, state: State, x: Any, *, rng: Array | None = None, train: bool = False
    ) -> tuple[Any, State]:
        """Runs the model and returns ``(output, new_state)``; see :meth:`Module.apply`."""
        _check_call(self.module, rng, train)
        return self.module.apply_fn(params, state, as_input(x), rng=rng, train=train)

    def __iter__(self) -> Iterator[Callable]:
        return iter((self.init, self.apply))


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


# --------------------------------------------------------------------------- leaves


def derive_output(
    name: str, forward: Callable, params: Params, state: State, shape: ShapeTree, dtype: Any
) -> tuple[ShapeTree, Any]:
    """The output shape and dtype of ``forward`` for an input of ``shape`` (``-1`` allowed).

    Also checks that ``forward`` returns state of the same structure, shapes and dtypes
    as it was given (so ``jit`` and ``lax.scan`` carries stay stable).
    """
    outs = []
    for batch in _SENTINELS if _has_unknown(shape) else _SENTINELS[:1]:
        x = _concrete(shape, dtype, batch)
        try:
            y, new_state = jax.eval_shape(lambda p, s, x: forward(p, s, x, rng=None, train=False), params, state, x)
        except FnnError:
            raise
        except (TypeError, ValueError, IndexError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ShapeError(f"cannot take input {format_shape(shape)}: {first}") from e
        in_struct = jax.tree.structure(state)
        if jax.tree.structure(new_state) != in_struct or any(
            (a.shape, a.dtype) != (jnp.shape(b), jnp.result_type(b))
            for a, b in zip(jax.tree.leaves(new_state), jax.tree.leaves(state))
        ):
            raise FnnError("returned state of another structure than it was given")
        outs.append(y)
    if len(outs) == 1:
        return _merge(outs[0], outs[0])
    return _merge(outs[0], outs[1])


def _has_unknown(shape: ShapeTree) -> bool:
    return (-1 in shape) if is_shape(shape) else any(_has_unknown(s) for s in shape)


def _dtype_text(dtype: Any) -> str:
    return ", ".join(jnp.dtype(d).name for d in jax.tree.leaves(dtype))


def _named(e: FnnError, name: str) -> FnnError:
    if not getattr(e, "_named", False):
        e.message = f"{name} {e.message}"
        e.args = (e.message,)
        e._named = True
    return e


def leaf(
    name: str,
    forward: Callable,
    *,
    kind: str,
    params: Callable[[Array, ShapeTree, Any], Params] | None = None,
    state: Callable[[ShapeTree, Any], State] | None = None,
    check: Callable[[ShapeTree, Any], None] | None = None,
    input_dtype: Any = jnp.float32,
    float_input: bool = True,
    stateful: bool = False,
    config: dict | None = None,
) -> Module:
    """Builds a leaf Module from its forward function, initialisers and shape check.

    Args:
      name: torch7's printed form, e.g. ``"nn.Linear(3 -> 4)"``; it prefixes every error.
      forward: ``forward(params, x, *, rng, train) -> y``; with ``stateful=True``
        ``forward(params, state, x, *, rng, train) -> (y, state)``.
      kind: the torch7 class name.
      params: ``params(rng, in_shape, param_dtype) -> dict`` (default: no params, ``()``).
      state: ``state(in_shape, param_dtype) -> dict`` (default: no state, ``()``).
      check: ``check(in_shape, in_dtype)`` raises :class:`ShapeError` (message without the
        layer name, e.g. ``"expects input (..., 784), got (-1, 785)"``). It runs at init
        with ``-1`` for unknown sizes and at every apply (trace time, free under ``jit``).
      input_dtype: the dtype assumed when ``init`` is given none.
      float_input: reject non-floating inputs with a :class:`DTypeError`.
      stateful: ``forward`` takes and returns state.
      config: hyper-parameters, kept for printing and weight import.
    """
    step = forward if stateful else (lambda p, s, x, *, rng, train: (forward(p, x, rng=rng, train=train), s))

    def validate(shape: ShapeTree, dtype: Any) -> None:
        try:
            if float_input:
                for d in jax.tree.leaves(dtype):
                    if not jnp.issubdtype(d, jnp.floating):
                        raise DTypeError(f"expects floating-point input, got {jnp.dtype(d).name}")
            if check is not None:
                check(shape, dtype)
        except FnnError as e:
            raise _named(e, name) from None

    def init_fn(rng: Array, shape: ShapeTree, dtype: Any) -> tuple[ShapeTree, Any, Params, State]:
        dtype = _fill(shape, input_dtype if dtype is None else dtype)
        validate(shape, dtype)
        leaves = jax.tree.leaves(dtype)
        pdt = leaves[0] if leaves and jnp.issubdtype(leaves[0], jnp.floating) else jnp.dtype(jnp.float32)
        p = params(rng, shape, pdt) if params is not None else ()
        s = state(shape, pdt) if state is not None else ()
        try:
            out_shape, out_dtype = derive_output(name, step, p, s, shape, dtype)
        except FnnError as e:
            raise _named(e, name) from None
        rows = _RECORDER.get()
        if rows is not None:
            rows.append((_PATH.get(), module, shape, out_shape, p, s))
        return out_shape, out_dtype, p, s

    def apply_fn(p: Params, s: State, x: Any, *, rng: Array | None = None, train: bool = False) -> tuple[Any, State]:
        validate(shape_of(x), dtype_of(x))
        try:
            y, s = step(p, s, x, rng=rng, train=train)
        except FnnError as e:
            raise _named(e, name) from None
        except jax.dtypes.TypePromotionError as e:
            pdts = sorted({jnp.dtype(v.dtype).name for v in jax.tree.leaves(p)})
            raise DTypeError(
                f"{name} got input of dtype {_dtype_text(dtype_of(x))} but its params are {', '.join(pdts) or 'none'}; "
                "cast one to the other (init with dtype=... or x.astype(...))"
            ) from e
        hook = _APPLY_HOOK.get()
        if hook is not None:
            hook(_PATH.get(), module, y)
        return y, s

    module = Module(
        name=name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        has_state=state is not None,
        kind=kind,
        config=dict(config or {}),
    )
    return module


def elementwise(
    name: str, fn: Callable[[Array], Array], *, kind: str | None = None, config: dict | None = None
) -> Module:
    """A parameter-free element-wise layer ``y = fn(x)`` of any shape."""
    return leaf(name, lambda p, x, *, rng, train: fn(x), kind=kind or name.removeprefix("nn."), config=config)


# --------------------------------------------------------------------------- small shared checks


def dims_text(shape: Shape) -> str:
    return format_shape(shape)


def expect_table(shape: ShapeTree, n: int | None = None, *, at_least: int = 0) -> None:
    """Raises a ShapeError unless ``shape`` is a table (of exactly ``n`` or at least ``at_least`` entries)."""
    if is_shape(shape):
        raise ShapeError(f"expects a table (tuple) of inputs, got one array of shape {format_shape(shape)}")
    if n is not None and len(shape) != n:
        raise ShapeError(f"expects a table of {n} inputs, got {len(shape)}: {format_shape(shape)}")
    if len(shape) < at_least:
        raise ShapeError(f"expects a table of at least {at_least} inputs, got {len(shape)}: {format_shape(shape)}")


def expect_array(shape: ShapeTree, ranks: Sequence[int] | None = None, what: str = "input") -> None:
    """Raises a ShapeError unless ``shape`` is one array shape with a rank in ``ranks``."""
    if not is_shape(shape):
        raise ShapeError(f"expects one array as {what}, got a table {format_shape(shape)}")
    if ranks is not None and len(shape) not in ranks:
        allowed = " or ".join(f"{r}-D" for r in ranks)
        raise ShapeError(f"expects a {allowed} {what}, got {len(shape)}-D {format_shape(shape)}")


def same_size(expected: int, got: int) -> bool:
    """True when a dimension matches (``-1``, an unknown size, matches anything)."""
    return got == -1 or expected == -1 or expected == got


def canonical_dim(dim: int, rank: int, name: str = "dim") -> int:
    """A 0-based, non-negative dimension; negative dims count from the end."""
    if not -rank <= dim < rank:
        raise ShapeError(f"{name} {dim} is out of range for a {rank}-D input")
    return dim % rank


def uniform(bound: float) -> Callable[[Array, Shape, Any], Array]:
    """The torch7 default initialiser: ``U(-bound, bound)``."""

    def init(key: Array, shape: Shape, dtype: Any = jnp.float32) -> Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def is_floating(dtype: Any) -> bool:
    return bool(jnp.issubdtype(dtype, jnp.floating))


def lift(a: Array, ndim: int) -> Array:
    """Prepends size-1 dims so ``a`` broadcasts against a rank-``ndim`` array (no rank promotion)."""
    return jnp.reshape(a, (1,) * (ndim - jnp.ndim(a)) + jnp.shape(a))
