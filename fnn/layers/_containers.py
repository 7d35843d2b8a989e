"""Containers: Sequential, Concat, Parallel and the table containers.

A container's params and state are tuples with one entry per child, in child
order, so ``params[3]['weight']`` is the weight of the fourth child (PyTorch's
``state_dict`` key ``"3.weight"``). Every container forwards ``train`` to every
child and derives one PRNG key per child (``fold_in(rng, i)``) only when a key
was given. Errors raised by a child carry the child's path.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import (
    Module,
    ShapeTree,
    apply_child,
    canonical_dim,
    format_shape,
    init_child,
    is_shape,
    shape_of,
)
from fnn.core._args import int_arg
from fnn.errors import ConfigError, ShapeError

_TAB = "  "


def _indent(text: str, pad: str) -> str:
    return text.replace("\n", "\n" + pad)


def _render_chain(m: Module) -> str:
    """torch7's Sequential.__tostring__."""
    arrows = "".join(f" -> ({i + 1})" for i in range(len(m.children)))
    lines = [f"nn.{m.kind} {{", f"{_TAB}[input{arrows} -> output]"]
    for i, c in enumerate(m.children):
        lines.append(f"{_TAB}({i + 1}): " + _indent(str(c), _TAB))
    return "\n".join(lines) + "\n}"


def _render_branches(m: Module) -> str:
    """torch7's Concat / ConcatTable / ParallelTable.__tostring__ (ParallelTable marks
    every branch ``|`->``; the others mark the last one `` `->``)."""
    lines = [f"nn.{m.kind} {{", f"{_TAB}input"]
    n = len(m.children)
    for i, c in enumerate(m.children):
        last = i == n - 1
        head = "   `-> " if last and m.kind != "ParallelTable" else "  |`-> "
        pad = "       " if last else "  |    "
        lines.append(_TAB + head + f"({i + 1}): " + _indent(str(c), _TAB + pad))
    lines.append(_TAB + "   ... -> output")
    return "\n".join(lines) + "\n}"


def _render_wrapper(m: Module) -> str:
    return f"nn.{m.kind} {{\n{_TAB}" + _indent(str(m.children[0]), _TAB) + "\n}"


def _check_children(kind: str, modules: Sequence[Any]) -> tuple[Module, ...]:
    for i, m in enumerate(modules):
        if isinstance(m, Module):
            continue
        name = getattr(m, "__name__", None)
        if callable(m) and name and getattr(m, "__annotations__", {}).get("return") in (Module, "Module"):
            where = "fnn" if getattr(fnn_layers(), name, None) is m else m.__module__
            call = f"{where}.{name}({'' if _no_required_args(m) else '...'})"
            raise ConfigError(
                f"nn.{kind}: child {i} is {where}.{name}, the layer constructor, not a layer; call it: {call}"
            )
        what = f"the function {getattr(m, '__module__', '?')}.{name}" if callable(m) and name else \
            f"a {type(m).__name__}"
        raise ConfigError(f"nn.{kind}: child {i} is {what}, not an fnn Module")
    return tuple(modules)


def _no_required_args(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


def fnn_layers() -> Any:
    """The ``fnn.layers`` namespace (imported late: this file is part of it)."""
    import fnn.layers

    return fnn.layers


def _container(
    kind: str,
    children: tuple[Module, ...],
    init_fn: Callable,
    apply_fn: Callable,
    render: Callable[[Module], str],
    rebuild: Callable[[tuple[Module, ...]], Module] | None,
    name: str | None = None,
    config: dict | None = None,
) -> Module:
    return Module(
        name=name or f"nn.{kind}",
        init_fn=init_fn,
        apply_fn=apply_fn,
        children=children,
        has_state=any(c.has_state for c in children),
        kind=kind,
        render=render,
        rebuild=rebuild,
        config=dict(config or {}),
    )


def _split(rng: jax.Array, i: int) -> jax.Array:
    return jax.random.fold_in(rng, i)


# --------------------------------------------------------------------------- Sequential


def Sequential(*modules: Module) -> Module:
    """Chains modules: child ``i`` receives child ``i - 1``'s output.

    Args:
      *modules: the children, in order. ``Sequential()`` with none is the identity.

    Shape contract: input = the first child's input; output = the last child's output.

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.Sequential(fnn.Linear(4, 3), fnn.ReLU(), fnn.Linear(3, 2))
    >>> init, apply = model
    >>> out_shape, params = init(jax.random.key(0), (-1, 4))
    >>> out_shape, apply(params, jnp.ones((5, 4))).shape
    ((-1, 2), (5, 2))
    """
    children = _check_children("Sequential", modules)

    def init_fn(rng, shape, dtype):
        params, state = [], []
        for i, c in enumerate(children):
            shape, dtype, p, s = init_child(m, i, c, _split(rng, i), shape, dtype)
            params.append(p)
            state.append(s)
        return shape, dtype, tuple(params), tuple(state)

    def apply_fn(params, state, x, *, rng=None, train=False):
        new_state = []
        for i, c in enumerate(children):
            x, s = apply_child(m, i, c, params[i], state[i], x, rng, train)
            new_state.append(s)
        return x, tuple(new_state)

    m = _container("Sequential", children, init_fn, apply_fn, _render_chain, lambda cs: Sequential(*cs))
    return m


# --------------------------------------------------------------------------- Concat


def _concat_shapes(where: str, shapes: Sequence[ShapeTree], dim: int) -> tuple[int, ...]:
    for s in shapes:
        if not is_shape(s):
            raise ShapeError(f"{where} needs every child to output one array, got {format_shape(s)}")
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        raise ShapeError(f"{where} cannot join outputs of different ranks: {format_shape(tuple(shapes))}")
    rank = ranks.pop()
    if not -rank <= dim < rank:
        raise ShapeError(
            f"{where}: dim {dim} is out of range for its children's {rank}-D outputs {format_shape(tuple(shapes))}"
        )
    d = canonical_dim(dim, rank)
    out = list(shapes[0])
    for s in shapes[1:]:
        for k in range(rank):
            if k != d and s[k] != out[k] and -1 not in (s[k], out[k]):
                raise ShapeError(
                    f"{where} cannot join along dim {dim}: outputs differ in dim {k}: {format_shape(tuple(shapes))}"
                )
    sizes = [s[d] for s in shapes]
    out[d] = -1 if -1 in sizes else sum(sizes)
    return tuple(out)


def Concat(dim: int, *modules: Module) -> Module:
    """Feeds the same input to every child and concatenates their outputs along ``dim``.

    torch7 semantics: ``dim`` is absolute (no batch offset), so for a batch of
    feature vectors write ``Concat(1)`` (0-based) or ``Concat(-1)``. Deviation from
    torch7: dims are 0-based and may be negative. A negative ``dim`` keeps
    ``vmap`` over examples equal to the batched call.

    Args:
      dim: the output dimension to join along.
      *modules: the children.

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.Concat(0, fnn.Identity(), fnn.Sum(0))
    >>> _, params = model.init(jax.random.key(0), (5,))
    >>> model.apply(params, jnp.arange(1., 6.))
    Array([ 1.,  2.,  3.,  4.,  5., 15.], dtype=float32)
    """
    children = _check_children("Concat", modules)
    int_arg("nn.Concat", "dim", dim)

    def init_fn(rng, shape, dtype):
        outs = [init_child(m, i, c, _split(rng, i), shape, dtype) for i, c in enumerate(children)]
        if not outs:
            raise ShapeError(f"nn.{m.kind} has no children")
        out_shape = _concat_shapes(f"nn.{m.kind}", [o[0] for o in outs], dim)
        return out_shape, outs[0][1], tuple(o[2] for o in outs), tuple(o[3] for o in outs)

    def apply_fn(params, state, x, *, rng=None, train=False):
        ys, new_state = [], []
        for i, c in enumerate(children):
            y, s = apply_child(m, i, c, params[i], state[i], x, rng, train)
            ys.append(y)
            new_state.append(s)
        _concat_shapes(f"nn.{m.kind}", [shape_of(y) for y in ys], dim)
        return jnp.concatenate(ys, axis=dim), tuple(new_state)

    m = _container(
        "Concat", children, init_fn, apply_fn, _render_branches, lambda cs: Concat(dim, *cs), config={"dim": dim}
    )
    return m


def ConcatTable(*modules: Module) -> Module:
    """Applies every child to the same input; the output is the table (tuple) of their outputs.

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.ConcatTable(fnn.Identity(), fnn.MulConstant(2.0))
    >>> _, params = model.init(jax.random.key(0), (2,))
    >>> model.apply(params, jnp.ones(2))
    (Array([1., 1.], dtype=float32), Array([2., 2.], dtype=float32))
    """
    children = _check_children("ConcatTable", modules)

    def init_fn(rng, shape, dtype):
        outs = [init_child(m, i, c, _split(rng, i), shape, dtype) for i, c in enumerate(children)]
        return tuple(tuple(o[k] for o in outs) for k in range(4)) if outs else ((), (), (), ())

    def apply_fn(params, state, x, *, rng=None, train=False):
        outs = [apply_child(m, i, c, params[i], state[i], x, rng, train) for i, c in enumerate(children)]
        return tuple(o[0] for o in outs), tuple(o[1] for o in outs)

    m = _container("ConcatTable", children, init_fn, apply_fn, _render_branches, lambda cs: ConcatTable(*cs))
    return m


def ParallelTable(*modules: Module) -> Module:
    """Child ``i`` receives entry ``i`` of the input table; returns the table of outputs.

    The table must have exactly one entry per child: fewer or more entries is a
    :class:`ShapeError`. Deviation from torch7, which silently ignored entries beyond the
    number of children (a third input given to a ParallelTable of two was simply dropped).

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.ParallelTable(fnn.MulConstant(2.0), fnn.MulConstant(3.0))
    >>> _, params = model.init(jax.random.key(0), ((2,), (2,)))
    >>> model.apply(params, (jnp.ones(2), jnp.ones(2)))
    (Array([2., 2.], dtype=float32), Array([3., 3.], dtype=float32))
    """
    children = _check_children("ParallelTable", modules)

    def check(shape):
        if is_shape(shape):
            raise ShapeError(
                f"nn.{m.kind} expects a table of {len(children)} inputs, got one array {format_shape(shape)}"
            )
        if len(shape) != len(children):
            raise ShapeError(
                f"nn.{m.kind} expects a table of {len(children)} inputs, got {len(shape)}: {format_shape(shape)}"
            )

    def init_fn(rng, shape, dtype):
        check(shape)
        dts = dtype if isinstance(dtype, tuple) else (dtype,) * len(shape)
        outs = [init_child(m, i, c, _split(rng, i), shape[i], dts[i]) for i, c in enumerate(children)]
        return tuple(tuple(o[k] for o in outs) for k in range(4)) if outs else ((), (), (), ())

    def apply_fn(params, state, x, *, rng=None, train=False):
        check(shape_of(x))
        outs = [apply_child(m, i, c, params[i], state[i], x[i], rng, train) for i, c in enumerate(children)]
        return tuple(o[0] for o in outs), tuple(o[1] for o in outs)

    m = _container("ParallelTable", children, init_fn, apply_fn, _render_branches, lambda cs: ParallelTable(*cs))
    return m


def Parallel(input_dim: int, output_dim: int, *modules: Module) -> Module:
    """Child ``i`` receives slice ``i`` of the input along ``input_dim`` (that dim removed);
    the outputs are concatenated along ``output_dim`` (a dim of the child's output).

    torch7 semantics, 0-based dims: the number of slices must not exceed the
    number of children; extra children are ignored.

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.Parallel(0, 0, fnn.Linear(3, 2), fnn.Linear(3, 4))
    >>> out_shape, params = model.init(jax.random.key(0), (2, 3))
    >>> out_shape
    (6,)
    """
    children = _check_children("Parallel", modules)

    def slices(shape):
        if not is_shape(shape):
            raise ShapeError(f"{m.name} expects one array, got a table {format_shape(shape)}")
        d = canonical_dim(input_dim, len(shape), "input_dim")
        n = shape[d]
        if n == -1:
            raise ShapeError(f"{m.name} cannot slice along the unknown (batch) dim {input_dim}")
        if n > len(children):
            raise ShapeError(f"{m.name} got {n} slices along dim {input_dim} but has {len(children)} children")
        return d, n, shape[:d] + shape[d + 1 :]

    def init_fn(rng, shape, dtype):
        d, n, sub = slices(shape)
        outs = [init_child(m, i, children[i], _split(rng, i), sub, dtype) for i in range(n)]
        out_shape = _concat_shapes(m.name, [o[0] for o in outs], output_dim)
        params = tuple(o[2] for o in outs) + tuple(c._empty_state() for c in children[n:])
        state = tuple(o[3] for o in outs) + tuple(c._empty_state() for c in children[n:])
        return out_shape, outs[0][1], params, state

    def apply_fn(params, state, x, *, rng=None, train=False):
        d, n, _ = slices(shape_of(x))
        ys, new_state = [], list(state)
        for i in range(n):
            y, new_state[i] = apply_child(m, i, children[i], params[i], state[i], jnp.take(x, i, axis=d), rng, train)
            ys.append(y)
        return jnp.concatenate(ys, axis=output_dim), tuple(new_state)

    m = _container(
        "Parallel",
        children,
        init_fn,
        apply_fn,
        _render_branches,
        lambda cs: Parallel(input_dim, output_dim, *cs),
        config={"input_dim": input_dim, "output_dim": output_dim},
    )
    return m


def MapTable(module: Module) -> Module:
    """Applies one module, with one set of shared params, to every entry of a table.

    torch7's clones share ``weight`` and ``bias``; here there is simply one params
    entry, and its gradient is the sum over entries. State (if any) is threaded
    through the entries in order.

    Params layout: ``params[0]`` is the shared module's params.

    >>> import jax, jax.numpy as jnp, fnn
    >>> model = fnn.MapTable(fnn.Linear(3, 2))
    >>> out_shape, params = model.init(jax.random.key(0), ((3,), (-1, 3)))
    >>> out_shape
    ((2,), (-1, 2))
    """
    (child,) = _check_children("MapTable", (module,))

    def init_fn(rng, shape, dtype):
        if is_shape(shape):
            raise ShapeError(f"{m.name} expects a table of inputs, got one array {format_shape(shape)}")
        dts = dtype if isinstance(dtype, tuple) else (dtype,) * len(shape)
        outs = [init_child(m, i, child, rng, s, d) for i, (s, d) in enumerate(zip(shape, dts))]
        if not outs:
            return (), (), (child._empty_state(),), (child._empty_state(),)
        return tuple(o[0] for o in outs), tuple(o[1] for o in outs), (outs[0][2],), (outs[0][3],)

    def apply_fn(params, state, x, *, rng=None, train=False):
        if not isinstance(x, tuple):
            raise ShapeError(f"{m.name} expects a table of inputs, got one array {format_shape(shape_of(x))}")
        (p,), (s,) = params, state
        ys = []
        for i, xi in enumerate(x):
            y, s = apply_child(m, i, child, p, s, xi, rng, train)
            ys.append(y)
        return tuple(ys), (s,)

    m = _container("MapTable", (child,), init_fn, apply_fn, _render_wrapper, None)
    return m
