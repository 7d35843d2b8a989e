"""Shapes: shape trees, their printed form, and the checks every layer shares.

A shape uses ``-1`` for an unknown batch size. A table (multi-input) shape is a
tuple of shapes; a table input is a tuple of arrays.

>>> format_shape((-1, 784)), format_shape(((3,), (4, 5)))
('(-1, 784)', '{(3,), (4, 5)}')
>>> list(each_concrete((-1, 3)))
[(12, 3), (60, 3)]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.errors import ShapeError

Shape = tuple[int, ...]
ShapeTree = Any  # a Shape, or a tuple of ShapeTrees for a table
Params = Any  # a pytree of arrays: dicts for leaves, tuples for containers
State = Any
Array = jax.Array

# The two concrete batch sizes substituted for -1 when deriving output shapes: a
# dimension whose size differs between the two runs is a batch dimension again.
SENTINELS = (12, 60)

# --------------------------------------------------------------------------- shapes


def _is_int(d: Any) -> bool:
    return isinstance(d, (int, np.integer)) and not isinstance(d, bool)


def _is_dim(d: Any) -> bool:
    """An int, or a symbolic dimension of ``jax.export`` (``jax.export.symbolic_shape("b, 784")``)."""
    return _is_int(d) or jax.export.is_symbolic_dim(d)


def is_shape(s: Any) -> bool:
    """True if ``s`` is one array shape (a tuple of ints), False for a table of shapes.

    A symbolic dimension (``jax.export``) counts as a size; :func:`shape_of` and
    :func:`normalize_shape` turn it into ``-1``, the unknown size every check accepts.
    """
    return isinstance(s, (tuple, list)) and all(_is_dim(d) for d in s)


def normalize_shape(s: Any, where: str = "input_shape") -> ShapeTree:
    """Turns lists into tuples and checks that ``s`` is a shape or a table of shapes."""
    if is_shape(s):
        dims = tuple(int(d) if _is_int(d) else -1 for d in s)
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
    """The shape tree of an input: an array's shape, or a tuple of shapes for a table; symbolic
    sizes (``jax.export``) become ``-1``."""
    if isinstance(x, (tuple, list)):
        return tuple(shape_of(e) for e in x)
    # A symbolic size (jax.export with a symbolic batch) is unknown here, as -1 is at init.
    return tuple(d if _is_int(d) else -1 for d in jnp.shape(x))


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


def fill_dtype(shape: ShapeTree, dtype: Any) -> Any:
    """A dtype tree of the same structure as ``shape`` (``dtype`` may already be a tree)."""
    if is_shape(shape):
        return jnp.dtype(dtype) if not isinstance(dtype, tuple) else dtype
    if isinstance(dtype, tuple):
        if len(dtype) != len(shape):
            raise ShapeError(f"dtype table {dtype} does not match shape table {format_shape(shape)}")
        return tuple(fill_dtype(s, d) for s, d in zip(shape, dtype))
    return tuple(fill_dtype(s, dtype) for s in shape)


def concrete(shape: ShapeTree, dtype: Any, batch: int) -> Any:
    """Abstract inputs (``ShapeDtypeStruct``s) for ``shape`` with ``-1`` replaced by ``batch``."""
    if is_shape(shape):
        return jax.ShapeDtypeStruct(tuple(batch if d == -1 else d for d in shape), dtype)
    return tuple(concrete(s, d, batch) for s, d in zip(shape, dtype))


def merge_abstract(a: Any, b: Any) -> tuple[ShapeTree, Any]:
    """Merges the abstract outputs of the two sentinel runs into (shape tree, dtype tree)."""
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        merged = [merge_abstract(x, y) for x, y in zip(a, b)]
        return tuple(m[0] for m in merged), tuple(m[1] for m in merged)
    if isinstance(a, jax.ShapeDtypeStruct) and isinstance(b, jax.ShapeDtypeStruct) and a.ndim == b.ndim:
        return tuple(d if d == e else -1 for d, e in zip(a.shape, b.shape)), a.dtype
    raise ShapeError("the output structure depends on the (unknown) batch size; give a concrete batch size")


def has_unknown(shape: ShapeTree) -> bool:
    """True when ``shape`` (or any shape of a table) has an unknown ``-1`` size."""
    return (-1 in shape) if is_shape(shape) else any(has_unknown(s) for s in shape)


def each_concrete(shape: Shape) -> Iterator[Shape]:
    """The concrete shapes ``shape`` may stand for: ``-1`` (an unknown batch) replaced by each sentinel."""
    if -1 not in shape:
        yield tuple(shape)
        return
    for b in SENTINELS:
        yield tuple(b if d == -1 else d for d in shape)


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



def lift(a: Array, ndim: int) -> Array:
    """Prepends size-1 dims so ``a`` broadcasts against a rank-``ndim`` array (no rank promotion)."""
    return jnp.reshape(a, (1,) * (ndim - jnp.ndim(a)) + jnp.shape(a))
