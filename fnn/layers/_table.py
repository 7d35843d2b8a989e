"""Table layers: layers whose input or output is a table.

A table is a tuple of arrays (possibly nested: a tuple may hold tuples). Its shape
is the tuple of the entries' shapes, e.g. ``((-1, 3), (-1, 3))``. The table
*containers* (ConcatTable, ParallelTable, MapTable) live in ``_containers.py``;
this module has the plain layers:

- conversion: JoinTable, SplitTable, NarrowTable, SelectTable, FlattenTable;
- element-wise over a table: CAddTable, CSubTable, CMulTable, CDivTable, CMaxTable, CMinTable;
- pair layers: PairwiseDistance, DotProduct, CosineDistance.

Indices and dims are 0-based (torch7's were 1-based). The gradients of the entries a
layer does not use are zeros of their shape, as torch7's backward filled them. A
wrong arity, an empty table, a single array where a table is needed, or entries of
mismatched shapes raise a :class:`~fnn.errors.ShapeError` that names the layer.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import Module, ShapeTree, canonical_dim, expect_array, expect_table, format_shape, is_shape, leaf
from fnn.core._args import int_arg
from fnn.errors import ConfigError, DTypeError, ShapeError

# CosineDistance's epsilon, added to the squared norms (torch7).
COSINE_EPS = 1e-12


def batch_dim(dim: int, rank: int, n_input_dims: int | None) -> int:
    """torch7's nInputDims rule, 0-based: a non-negative ``dim`` is shifted by one when
    ``rank == n_input_dims + 1`` exactly (a batch in front); a negative ``dim`` counts from
    the end and is never shifted. Returns a dim in ``[0, rank)`` or raises ShapeError."""
    if dim >= 0 and n_input_dims is not None and rank == n_input_dims + 1:
        dim += 1
    return canonical_dim(dim, rank)


def _table(shape: ShapeTree, n: int | None = None, *, at_least: int = 1) -> None:
    """A table of ``n`` (or at least ``at_least``) entries."""
    if shape == ():
        # An empty tuple is also the shape of a scalar: name both readings.
        raise ShapeError("expects a non-empty table (tuple) of inputs, got () (an empty table or a scalar)")
    expect_table(shape, n, at_least=at_least)


def _arrays(shape: ShapeTree, n: int | None = None, *, at_least: int = 1) -> None:
    """A table of ``n`` (or at least ``at_least``) arrays, no nested tables."""
    _table(shape, n, at_least=at_least)
    for i, s in enumerate(shape):
        if not is_shape(s):
            raise ShapeError(f"expects a table of arrays, but entry {i} is a table {format_shape(s)}")


def _same_shapes(shape: ShapeTree) -> None:
    first = shape[0]
    for s in shape[1:]:
        if len(s) != len(first) or any(a != b and -1 not in (a, b) for a, b in zip(s, first, strict=True)):
            raise ShapeError(f"expects a table of arrays of one shape, got {format_shape(shape)}")


def _promoted(dtype: Any) -> Any:
    """The common dtype of a table's entries by JAX's standard promotion (PyTorch's for floats:
    float32 + float64 -> float64), whatever ``jax_numpy_dtype_promotion`` is set to; a
    :class:`DTypeError` when there is none."""
    try:
        with jax.numpy_dtype_promotion("standard"):
            return jnp.result_type(*jax.tree.leaves(dtype))
    except (TypeError, jax.dtypes.TypePromotionError) as e:
        names = ", ".join(sorted({jnp.dtype(d).name for d in jax.tree.leaves(dtype)}))
        raise DTypeError(f"cannot combine entries of dtypes {names}: {e}") from None


def _promote(x: tuple) -> tuple:
    """The entries of ``x`` cast to their promoted dtype (a no-op when they already agree)."""
    dt = _promoted(tuple(e.dtype for e in x))
    return tuple(e if e.dtype == dt else e.astype(dt) for e in x)


def _table_leaf(name: str, forward: Callable, check: Callable, kind: str, config: dict | None = None,
                float_input: bool = True, promote: bool = False) -> Module:
    run = (lambda x: forward(_promote(x))) if promote else forward
    return leaf(name, lambda p, x, *, rng, train: run(x), kind=kind, check=check, config=config,
                float_input=float_input)


# --------------------------------------------------------------------------- conversion


def JoinTable(dim: int, n_input_dims: int | None = None) -> Module:
    """Concatenates a table of arrays along ``dim`` (``torch.cat``).

    Args:
      dim: the dim to join along, 0-based; negative counts from the end.
      n_input_dims: the rank of one example. When given, a non-negative ``dim`` is
        shifted by one for inputs of rank ``n_input_dims + 1`` exactly (a batch in
        front), torch7's nInputDims rule; other ranks use ``dim`` as given.

    Shape contract: a table of arrays of one rank, equal except along the joined
    dim -> one array. Any dtype; entries of different dtypes are promoted as ``torch.cat`` and
    JAX's standard promotion do (float32 + float64 -> float64).

    >>> import jax.numpy as jnp, fnn
    >>> x = (jnp.ones((1, 3)), jnp.zeros((1, 2)))
    >>> fnn.JoinTable(1, 2).apply((), x)          # torch7's nn.JoinTable(2, 2)
    Array([[1., 1., 1., 0., 0.]], dtype=float32)
    """
    int_arg("nn.JoinTable", "dim", dim)
    if n_input_dims is not None:
        int_arg("nn.JoinTable", "n_input_dims", n_input_dims, minimum=1)

    def check(shape, dtype):
        _arrays(shape)
        _promoted(dtype)
        rank = len(shape[0])
        if any(len(s) != rank for s in shape):
            raise ShapeError(f"expects arrays of one rank, got {format_shape(shape)}")
        d = batch_dim(dim, rank, n_input_dims)
        for s in shape[1:]:
            if any(a != b and -1 not in (a, b) for k, (a, b) in enumerate(zip(s, shape[0], strict=True)) if k != d):
                raise ShapeError(f"joins along dim {d}; the other dims must match, got {format_shape(shape)}")

    def forward(x):
        return jnp.concatenate(x, axis=batch_dim(dim, x[0].ndim, n_input_dims))

    name = f"nn.JoinTable({dim}" + ("" if n_input_dims is None else f", {n_input_dims}") + ")"
    return _table_leaf(name, forward, check, "JoinTable", {"dim": dim, "n_input_dims": n_input_dims}, False, True)


def SplitTable(dim: int, n_input_dims: int | None = None) -> Module:
    """Splits an array into the table of its slices along ``dim`` (``torch.unbind``).

    Args:
      dim: the dim to split, 0-based; negative counts from the end.
      n_input_dims: the rank of one example; see :func:`JoinTable` for the shift rule.

    Shape contract: ``(..., n, ...) -> ((...), ..., (...))``, a table of ``n`` arrays with
    ``dim`` removed. The size along ``dim`` must be known at ``init`` (not ``-1``) and
    at least 1, since it fixes the table's length.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SplitTable(0, 1).apply((), jnp.array([[1.0, 2.0], [3.0, 4.0]]))   # splits dim 1
    (Array([1., 3.], dtype=float32), Array([2., 4.], dtype=float32))
    """
    int_arg("nn.SplitTable", "dim", dim)
    if n_input_dims is not None:
        int_arg("nn.SplitTable", "n_input_dims", n_input_dims, minimum=1)

    def check(shape, dtype):
        expect_array(shape)
        d = batch_dim(dim, len(shape), n_input_dims)
        if shape[d] == -1:
            raise ShapeError(
                f"splits dim {d} into a table whose length is its size, which is unknown in {format_shape(shape)}; "
                "give a concrete size (or n_input_dims to skip the batch dim)"
            )
        if shape[d] == 0:
            raise ShapeError(f"cannot split dim {d} of size 0 (an empty table) in {format_shape(shape)}")

    def forward(x):
        d = batch_dim(dim, x.ndim, n_input_dims)
        return tuple(jnp.take(x, i, axis=d) for i in range(x.shape[d]))

    name = f"nn.SplitTable({dim}" + ("" if n_input_dims is None else f", {n_input_dims}") + ")"
    return _table_leaf(name, forward, check, "SplitTable", {"dim": dim, "n_input_dims": n_input_dims}, False)


def NarrowTable(offset: int, length: int = 1) -> Module:
    """The sub-table of ``length`` entries starting at ``offset``: ``x[offset:offset + length]``.

    Always returns a table (also for ``length=1``). The entries left out get zero
    gradients. A negative ``offset`` counts from the end (an fnn extension).

    Args:
      offset: the first entry, 0-based (torch7's was 1-based).
      length: the number of entries, >= 1.

    Shape contract: a table of at least ``offset + length`` entries (arrays or tables)
    -> a table of ``length`` entries.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.NarrowTable(1, 2).apply((), (jnp.zeros(1), jnp.ones(1), jnp.ones(2)))
    (Array([1.], dtype=float32), Array([1., 1.], dtype=float32))
    """
    int_arg("nn.NarrowTable", "offset", offset)
    int_arg("nn.NarrowTable", "length", length, minimum=1)

    def start(n: int) -> int:
        return offset + n if offset < 0 else offset

    def check(shape, dtype):
        _table(shape)
        n = len(shape)
        s = start(n)
        if s < 0 or s + length > n:
            raise ShapeError(
                f"takes entries {offset}..{offset + length - 1} (0-based), but the input table has {n}: "
                f"{format_shape(shape)}"
            )

    def forward(x):
        s = start(len(x))
        return tuple(x[s : s + length])

    return _table_leaf(f"nn.NarrowTable({offset}, {length})", forward, check, "NarrowTable",
                       {"offset": offset, "length": length}, False)


def SelectTable(index: int) -> Module:
    """Entry ``index`` of a table (an array, or a nested table); the other entries get zero gradients.

    Args:
      index: 0-based (torch7's was 1-based); negative counts from the end. torch7's
        string keys have no counterpart: fnn tables are tuples.

    Shape contract: a table of at least ``index + 1`` entries -> that entry.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.SelectTable(-1).apply((), (jnp.zeros(2), (jnp.ones(1), jnp.ones(3))))
    (Array([1.], dtype=float32), Array([1., 1., 1.], dtype=float32))
    """
    int_arg("nn.SelectTable", "index", index)

    def check(shape, dtype):
        _table(shape)
        if not -len(shape) <= index < len(shape):
            raise ShapeError(f"selects entry {index}, but the input table has {len(shape)}: {format_shape(shape)}")

    return _table_leaf(f"nn.SelectTable({index})", lambda x: x[index], check, "SelectTable", {"index": index}, False)


def _flatten(x: Any) -> tuple:
    if isinstance(x, (tuple, list)):
        return tuple(a for e in x for a in _flatten(e))
    return (x,)


def FlattenTable() -> Module:
    """Flattens a nested table into a flat table of arrays, depth-first.

    Shape contract: ``(a, (b, (c,)), d) -> (a, b, c, d)``; a single array gives ``(x,)``.

    >>> import jax.numpy as jnp, fnn
    >>> y = fnn.FlattenTable().apply((), (jnp.zeros(1), (jnp.ones(2), (jnp.ones(3),))))
    >>> [a.shape for a in y]
    [(1,), (2,), (3,)]
    """

    def check(shape, dtype):
        if shape == () or (not is_shape(shape) and not _flatten_shapes(shape)):
            raise ShapeError(f"expects a table holding at least one array, got {format_shape(shape)}")

    return _table_leaf("nn.FlattenTable", _flatten, check, "FlattenTable", None, False)


def _flatten_shapes(shape: ShapeTree) -> list:
    if is_shape(shape):
        return [shape]
    return [s for e in shape for s in _flatten_shapes(e)]


# --------------------------------------------------------------------------- element-wise over a table


def _cmath(kind: str, op: Callable[[tuple], jax.Array], n: int | None) -> Module:
    def check(shape, dtype):
        _arrays(shape, n, at_least=1)
        _same_shapes(shape)
        _promoted(dtype)

    return _table_leaf(f"nn.{kind}", op, check, kind, promote=True)


def CAddTable() -> Module:
    """The element-wise sum of a table of arrays of one shape.

    Shape contract: a table of at least one array, all of one shape -> that shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CAddTable().apply((), (jnp.ones(2), jnp.ones(2), jnp.ones(2)))
    Array([3., 3.], dtype=float32)
    """
    return _cmath("CAddTable", lambda x: functools.reduce(jnp.add, x), None)


def CMulTable() -> Module:
    """The element-wise product of a table of arrays of one shape.

    Shape contract: a table of at least one array, all of one shape -> that shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CMulTable().apply((), (jnp.array([2.0, 1.0]), jnp.array([3.0, 4.0])))
    Array([6., 4.], dtype=float32)
    """
    return _cmath("CMulTable", lambda x: functools.reduce(jnp.multiply, x), None)


def CSubTable() -> Module:
    """``x[0] - x[1]`` for a table of exactly two arrays of one shape.

    torch7 silently ignored extra entries; fnn raises a ShapeError.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CSubTable().apply((), (jnp.array([5.0, 1.0]), jnp.ones(2)))
    Array([4., 0.], dtype=float32)
    """
    return _cmath("CSubTable", lambda x: x[0] - x[1], 2)


def CDivTable() -> Module:
    """``x[0] / x[1]`` for a table of exactly two arrays of one shape.

    torch7 silently ignored extra entries; fnn raises a ShapeError.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CDivTable().apply((), (jnp.array([6.0, 1.0]), jnp.array([4.0, 2.0])))
    Array([1.5, 0.5], dtype=float32)
    """
    return _cmath("CDivTable", lambda x: x[0] / x[1], 2)


def _winner(better: Callable[[jax.Array, jax.Array], jax.Array]) -> Callable[[tuple], jax.Array]:
    # torch7's loop: a later entry replaces the running result only where it is strictly
    # better, so the gradient goes to the first winner of a tie (and a NaN in a later
    # entry never wins).
    def op(x):
        out = x[0]
        for e in x[1:]:
            out = jnp.where(better(e, out), e, out)
        return out

    return op


def CMaxTable() -> Module:
    """The element-wise maximum of a table of arrays of one shape.

    The gradient goes to the *first* entry holding the maximum (torch7); PyTorch's
    ``torch.maximum`` splits it between tied entries instead.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CMaxTable().apply((), (jnp.array([1.0, 5.0]), jnp.array([3.0, 2.0])))
    Array([3., 5.], dtype=float32)
    """
    return _cmath("CMaxTable", _winner(jnp.greater), None)


def CMinTable() -> Module:
    """The element-wise minimum of a table of arrays of one shape.

    The gradient goes to the *first* entry holding the minimum (torch7).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CMinTable().apply((), (jnp.array([1.0, 5.0]), jnp.array([3.0, 2.0])))
    Array([1., 2.], dtype=float32)
    """
    return _cmath("CMinTable", _winner(jnp.less), None)


# --------------------------------------------------------------------------- pair layers


def _pair(kind: str, name: str, fn: Callable[[jax.Array, jax.Array], jax.Array], config: dict | None = None) -> Module:
    def check(shape, dtype):
        _arrays(shape, 2)
        _same_shapes(shape)
        _promoted(dtype)
        if len(shape[0]) < 1:
            raise ShapeError(f"expects vectors (D,) or batches (..., D), got {format_shape(shape)}")

    return _table_leaf(name, lambda x: fn(x[0], x[1]), check, kind, config, promote=True)


def PairwiseDistance(p: float = 2) -> Module:
    """The p-norm distance ``||x - y||_p`` of a pair ``(x, y)``, over the last dim.

    No epsilon is added (torch7; PyTorch adds 1e-6 to the difference). The gradient
    at ``x == y`` is 0 rather than torch7's NaN.

    Args:
      p: the norm's order, > 0 (``math.inf`` for the max norm).

    Shape contract: ``((..., D), (..., D)) -> (...)``.
    torch7 took ``(D)`` or ``(B, D)`` and returned a 1-element array for one pair; fnn
    returns a scalar for one pair (so ``jax.vmap`` over pairs equals the batched call)
    and reduces the last dim of any rank >= 1.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.PairwiseDistance().apply((), (jnp.array([[0.0, 0.0]]), jnp.array([[3.0, 4.0]])))
    Array([5.], dtype=float32)
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p > 0:
        raise ConfigError(f"nn.PairwiseDistance: p must be a positive number, got {p!r}")

    def fn(x, y):
        d = x - y
        d = jnp.sign(d) * d  # |x - y| with gradient sign(x - y): 0 at a tie, as torch7
        if math.isinf(p):
            return jnp.max(d, axis=-1)
        s = jnp.sum(d if p == 1 else d**p, axis=-1)
        if p == 1:
            return s
        # Double where: no NaN gradient at x == y (s == 0).
        pos = s > 0
        return jnp.where(pos, jnp.where(pos, s, 1.0) ** (1.0 / p), 0.0)

    return _pair("PairwiseDistance", f"nn.PairwiseDistance({p:g})", fn, {"p": p})


def DotProduct() -> Module:
    """The dot product ``sum(x * y)`` of a pair ``(x, y)``, over the last dim.

    Shape contract: ``((..., D), (..., D)) -> (...)``.
    torch7 took ``(D)`` or ``(B, D)`` and returned a 1-element array for one pair; fnn
    returns a scalar for one pair (so ``jax.vmap`` over pairs equals the batched call)
    and reduces the last dim of any rank >= 1.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.DotProduct().apply((), (jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0])))
    Array(11., dtype=float32)
    """
    return _pair("DotProduct", "nn.DotProduct", lambda x, y: jnp.sum(x * y, axis=-1))


def CosineDistance() -> Module:
    """The cosine **similarity** (despite torch7's name) of a pair ``(x, y)``, over the last dim:
    ``x.y / sqrt((|x|^2 + 1e-12) (|y|^2 + 1e-12))`` (torch7's epsilon).

    Shape contract: ``((..., D), (..., D)) -> (...)``.
    torch7 took ``(D)`` or ``(B, D)`` and returned a 1-element array for one pair; fnn
    returns a scalar for one pair (so ``jax.vmap`` over pairs equals the batched call)
    and reduces the last dim of any rank >= 1.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CosineDistance().apply((), (jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0])))
    Array(0.70710677, dtype=float32)
    """

    def fn(x, y):
        xx = jnp.sum(x * x, axis=-1) + COSINE_EPS
        yy = jnp.sum(y * y, axis=-1) + COSINE_EPS
        return jnp.sum(x * y, axis=-1) / jnp.sqrt(xx * yy)

    return _pair("CosineDistance", "nn.CosineDistance", fn)


__all__ = [
    "JoinTable", "SplitTable", "NarrowTable", "SelectTable", "FlattenTable",
    "CAddTable", "CSubTable", "CMulTable", "CDivTable", "CMaxTable", "CMinTable",
    "PairwiseDistance", "DotProduct", "CosineDistance",
]
