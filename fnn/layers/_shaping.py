"""Shaping layers: View, Reshape, Transpose, Narrow, Select, Squeeze, Unsqueeze, Flatten.

torch7's tensor-method adapters, with Python's conventions:
dimensions, offsets and indices are 0-based and negative values count from the end.
None of these layers has parameters; all accept integer inputs too.

The batch rules are torch7's, spelled per layer: View, Transpose and
Unsqueeze offset their dims by ``rank - num_input_dims``; Squeeze shifts its dim only when
``rank == num_input_dims + 1``; Reshape uses torch7's element-count heuristic. A *negative*
dim always counts from the end of the actual input, so it never needs a batch offset.

Replicate and Padding live in ``_simple.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp

from fnn.core import Module, each_concrete, expect_array, format_shape, is_shape, leaf
from fnn.core import _sharded as sharded
from fnn.core._args import int_arg, opt_int_arg, sizes_arg
from fnn.errors import ConfigError, ShapeError


def _x(sizes: Sequence[int]) -> str:
    return "x".join(str(s) for s in sizes)


def _shape_layer(name: str, kind: str, out_shape, forward, config: dict) -> Module:
    """A parameter-free layer whose output shape is ``out_shape(in_shape)`` (which raises ShapeError)."""

    def check(shape, dtype):
        expect_array(shape)
        for concrete in each_concrete(shape):
            try:
                out_shape(concrete)
            except ShapeError as e:
                if concrete == tuple(shape):
                    raise
                shown = e.message.replace(format_shape(concrete), format_shape(shape)).replace(_x(concrete), _x(shape))
                raise ShapeError(shown) from None

    return leaf(name, lambda p, x, *, rng, train: forward(x), kind=kind, check=check, float_input=False, config=config)


# --------------------------------------------------------------------------- View / Reshape


def View(*sizes: int | Sequence[int], num_input_dims: int | None = None) -> Module:
    """A view of the input with the given sizes; one size may be ``-1`` (inferred).

    torch7's batch rule, exactly: the product of the last ``num_input_dims`` input dims
    (all dims when unset) divided by the view's element count is a batch size, which is
    prepended to the view when it is not 1; dims before the last ``num_input_dims`` are
    always batch. With a ``-1`` size the remainder goes into that size instead. torch7's
    ``setNumInputDims(n)`` is the ``num_input_dims=n`` argument.

    Args:
      *sizes: the view's sizes (positive ints, one may be ``-1``), or one tuple of them.
      num_input_dims: the rank of one example (makes a batch of size 1 stay a batch).

    Shape contract: ``(*in) -> (*sizes)`` or ``(B, *sizes)``, same element count.
    Deviation: none (``resetSize`` is not needed: build another View).

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.View(6)
    >>> init(jax.random.key(0), (-1, 2, 3))[0], apply((), jnp.ones((2, 3))).shape
    ((-1, 6), (6,))
    >>> fnn.View(-1, num_input_dims=2).apply((), jnp.ones((1, 2, 3))).shape
    (1, 6)
    """
    size = sizes_arg("nn.View", sizes, allow_infer=True)
    nid = opt_int_arg("nn.View", "num_input_dims", num_input_dims, minimum=1)
    n_el = math.prod(s for s in size if s != -1)
    infer = -1 in size

    def out_shape(shape):
        rank = len(shape)
        maxdim = rank if nid is None else nid
        if maxdim > rank:
            raise ShapeError(f"expects at least {nid} dims (num_input_dims), got {format_shape(shape)}")
        ine = math.prod(shape[rank - maxdim :])
        if ine % n_el:
            raise ShapeError(f"input view ({_x(shape)}) and desired view ({_x(size)}) do not match")
        bsz = 1 if infer else ine // n_el
        bsz *= math.prod(shape[: rank - maxdim])
        target = size if (bsz == 1 and (nid is None or rank <= nid)) else (bsz,) + size
        if infer:
            known = math.prod(s for s in target if s != -1)
            total = math.prod(shape)
            if total % known:
                raise ShapeError(f"input view ({_x(shape)}) and desired view ({_x(size)}) do not match")
            target = tuple(total // known if s == -1 else s for s in target)
        return target

    return _shape_layer(
        f"nn.View({', '.join(str(s) for s in size)})",
        "View",
        out_shape,
        lambda x: sharded.reshape(x, out_shape(x.shape)),
        {"sizes": size, "num_input_dims": nid},
    )


def Reshape(*sizes: int | Sequence[int], batch_mode: bool | None = None) -> Module:
    """Reshapes the input to ``sizes``, keeping a leading batch dim when there is one.

    torch7's heuristic: the input is one example only if its element count equals
    ``prod(sizes)`` **and** its first dim is not 1; otherwise dim 0 is a batch and is
    kept (so a leading size-1 dim counts as a batch). ``batch_mode=True/False`` forces it.

    Args:
      *sizes: the target sizes of one example (positive ints), or one tuple of them.
      batch_mode: ``None`` for the heuristic, ``True`` always batch, ``False`` never.

    Shape contract: ``(*in) -> (*sizes)`` or ``(B, ...) -> (B, *sizes)``.
    Deviation: none (``-1`` sizes are refused as in torch7; use :func:`View`).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Reshape(6).apply((), jnp.ones((2, 3))).shape, fnn.Reshape(6).apply((), jnp.ones((1, 6))).shape
    ((6,), (1, 6))
    """
    size = sizes_arg("nn.Reshape", sizes, allow_infer=False)
    if batch_mode is not None and not isinstance(batch_mode, bool):
        raise ConfigError(f"nn.Reshape: batch_mode must be None, True or False, got {batch_mode!r}")
    n_el = math.prod(size)

    def out_shape(shape):
        total = math.prod(shape)
        single = batch_mode is False or (
            batch_mode is None and total == n_el and (len(shape) == 0 or shape[0] != 1)
        )
        if single:
            if total != n_el:
                raise ShapeError(f"cannot reshape {format_shape(shape)} to {format_shape(size)}")
            return size
        if len(shape) == 0 or total != shape[0] * n_el:
            raise ShapeError(
                f"cannot reshape {format_shape(shape)} to {format_shape(size)} nor to (batch, {_x(size)})"
            )
        return (shape[0],) + size

    return _shape_layer(
        f"nn.Reshape({_x(size)})",
        "Reshape",
        out_shape,
        lambda x: sharded.reshape(x, out_shape(x.shape)),
        {"sizes": size, "batch_mode": batch_mode},
    )


# --------------------------------------------------------------------------- Transpose, Narrow, Select


def _offset_dim(d: int, rank: int, nid: int | None, what: str = "dim") -> int:
    """A non-negative dim shifted by ``rank - nid`` batch dims; a negative dim counts from the end."""
    if d < 0:
        out = d + rank
    else:
        if nid is not None and rank < nid:
            raise ShapeError(f"expects at least {nid} dims (num_input_dims), got {rank}-D")
        out = d + (0 if nid is None else rank - nid)
    if not 0 <= out < rank:
        raise ShapeError(f"{what} {d} is out of range for a {rank}-D input")
    return out


def Transpose(*pairs: tuple[int, int], num_input_dims: int | None = None) -> Module:
    """Swaps pairs of dims, in order: ``Transpose((0, 1), (2, 3))``.

    Args:
      *pairs: ``(d1, d2)`` pairs of 0-based dims.
      num_input_dims: the rank of one example; non-negative dims are shifted by
        ``rank - num_input_dims`` (torch7's ``setNumInputDims``).

    Shape contract: the input's shape with the pairs swapped.
    Deviation: 0-based dims; negative dims count from the end (torch7 had none).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Transpose((0, 1)).apply((), jnp.ones((2, 3))).shape
    (3, 2)
    >>> fnn.Transpose((0, 1), num_input_dims=2).apply((), jnp.ones((5, 2, 3))).shape
    (5, 3, 2)
    """
    ps = []
    for p in pairs:
        if not (isinstance(p, (tuple, list)) and len(p) == 2):
            raise ConfigError(f"nn.Transpose: each argument must be a pair of dims (d1, d2), got {p!r}")
        ps.append((int_arg("nn.Transpose", "dim", p[0]), int_arg("nn.Transpose", "dim", p[1])))
    ps = tuple(ps)
    nid = opt_int_arg("nn.Transpose", "num_input_dims", num_input_dims, minimum=1)

    def resolved(rank):
        return [(_offset_dim(a, rank, nid), _offset_dim(b, rank, nid)) for a, b in ps]

    def out_shape(shape):
        s = list(shape)
        for a, b in resolved(len(shape)):
            s[a], s[b] = s[b], s[a]
        return tuple(s)

    def forward(x):
        for a, b in resolved(x.ndim):
            x = jnp.swapaxes(x, a, b)
        return x

    return _shape_layer("nn.Transpose", "Transpose", out_shape, forward, {"pairs": ps, "num_input_dims": nid})


def Narrow(dim: int, offset: int, length: int = 1) -> Module:
    """``x.narrow(dim, offset, length)``: ``length`` entries of ``dim`` from ``offset``.

    Args:
      dim: the dim (0-based; negative counts from the end).
      offset: the first entry (0-based; negative counts from the end of ``dim``).
      length: how many entries; a **negative** length stops ``-length - 1`` entries
        before the end (torch7: ``-1`` means "to the end", ``-2`` drops the last entry).

    Shape contract: the input's shape with ``dim`` of size ``length``.
    Deviation: 0-based ``offset`` (torch7's was 1-based); negative offsets are an fnn extension.
    The gradient scatters into zeros, as torch7's.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Narrow(0, 1, -1).apply((), jnp.arange(5.0))
    Array([1., 2., 3., 4.], dtype=float32)
    """
    d0 = int_arg("nn.Narrow", "dim", dim)
    off0 = int_arg("nn.Narrow", "offset", offset)
    ln0 = int_arg("nn.Narrow", "length", length)
    if ln0 == 0:
        raise ConfigError("nn.Narrow: length must be positive, or negative to count from the end; got 0")

    def resolve(shape):
        if len(shape) == 0:
            raise ShapeError("expects at least a 1-D input, got a 0-D one")
        d = _offset_dim(d0, len(shape), None)
        n = shape[d]
        off = off0 + n if off0 < 0 else off0
        ln = n - off + ln0 + 1 if ln0 < 0 else ln0
        if not (0 <= off < n and ln >= 1 and off + ln <= n):
            raise ShapeError(
                f"cannot narrow dim {d} of size {n} at offset {off0} with length {ln0} (input {format_shape(shape)})"
            )
        return d, off, ln

    def out_shape(shape):
        d, _, ln = resolve(shape)
        return tuple(ln if i == d else s for i, s in enumerate(shape))

    def forward(x):
        d, off, ln = resolve(x.shape)
        return _slice(x, d, off, off + ln)

    return _shape_layer("nn.Narrow", "Narrow", out_shape, forward, {"dim": d0, "offset": off0, "length": ln0})


def _slice(x, d: int, start: int, stop: int):
    index = [slice(None)] * x.ndim
    index[d] = slice(start, stop)
    return x[tuple(index)]


def Select(dim: int, index: int) -> Module:
    """``x.select(dim, index)``: one entry of ``dim``, which disappears.

    Args:
      dim: the dim (0-based; negative counts from the end).
      index: the entry (0-based; negative counts from the end).

    Shape contract: the input's shape without ``dim``. Deviation: 0-based ``index``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Select(1, -1).apply((), jnp.arange(6.0).reshape(2, 3))
    Array([2., 5.], dtype=float32)
    """
    d0 = int_arg("nn.Select", "dim", dim)
    i0 = int_arg("nn.Select", "index", index)

    def resolve(shape):
        if len(shape) == 0:
            raise ShapeError("expects at least a 1-D input, got a 0-D one")
        d = _offset_dim(d0, len(shape), None)
        n = shape[d]
        if not -n <= i0 < n:
            raise ShapeError(f"index {i0} is out of range for dim {d} of size {n} (input {format_shape(shape)})")
        return d, i0 % n

    def out_shape(shape):
        d, _ = resolve(shape)
        return shape[:d] + shape[d + 1 :]

    def forward(x):
        d, i = resolve(x.shape)
        return jnp.squeeze(_slice(x, d, i, i + 1), axis=d)

    return _shape_layer(f"nn.Select({d0}, {i0})", "Select", out_shape, forward, {"dim": d0, "index": i0})


# --------------------------------------------------------------------------- Squeeze, Unsqueeze


def Squeeze(dim: int | None = None, num_input_dims: int | None = None) -> Module:
    """Removes size-1 dims: all of them, or only ``dim`` (a no-op if ``dim`` is not size 1).

    torch7's batch rule: with ``num_input_dims`` and an input of rank ``num_input_dims + 1``,
    a non-negative ``dim`` is shifted by one, and a batch of size 1 is kept when
    squeezing all dims.

    Args:
      dim: the dim to squeeze (0-based, negative counts from the end), or None for all.
      num_input_dims: the rank of one example.

    Shape contract: the input's shape without the squeezed size-1 dims.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Squeeze().apply((), jnp.ones((1, 3, 1))).shape
    (3,)
    >>> fnn.Squeeze(num_input_dims=2).apply((), jnp.ones((1, 3, 1))).shape
    (1, 3)
    """
    d0 = None if dim is None else int_arg("nn.Squeeze", "dim", dim)
    nid = opt_int_arg("nn.Squeeze", "num_input_dims", num_input_dims, minimum=1)

    def axes(shape):
        rank = len(shape)
        batched = nid is not None and rank == nid + 1
        if d0 is not None:
            d = d0 + 1 if (batched and d0 >= 0) else d0
            if not -rank <= d < rank:
                raise ShapeError(f"dim {d0} is out of range for input {format_shape(shape)}")
            d %= rank
            return (d,) if shape[d] == 1 else ()
        keep_batch = batched and rank > 0 and shape[0] == 1
        return tuple(i for i, s in enumerate(shape) if s == 1 and not (keep_batch and i == 0))

    def out_shape(shape):
        ax = axes(shape)
        return tuple(s for i, s in enumerate(shape) if i not in ax)

    return _shape_layer(
        "nn.Squeeze",
        "Squeeze",
        out_shape,
        lambda x: jnp.squeeze(x, axis=axes(x.shape)),
        {"dim": d0, "num_input_dims": nid},
    )


def Unsqueeze(pos: int, num_input_dims: int | None = None) -> Module:
    """Inserts a size-1 dim so that it is dim ``pos`` of one example.

    Args:
      pos: the new dim's position, ``0 <= pos <= rank`` (0-based); a negative ``pos``
        counts from the end of the output, as ``torch.unsqueeze`` (``-1`` appends).
      num_input_dims: the rank of one example; a non-negative ``pos`` is shifted by
        ``rank - num_input_dims`` batch dims (torch7).

    Shape contract: ``(*in) -> (*in[:p], 1, *in[p:])``.
    Deviation: 0-based ``pos`` (torch7's ``pos`` 1 is fnn's 0); negative ``pos`` is an extension.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Unsqueeze(0, num_input_dims=1).apply((), jnp.ones((4, 3))).shape
    (4, 1, 3)
    """
    p0 = int_arg("nn.Unsqueeze", "pos", pos)
    nid = opt_int_arg("nn.Unsqueeze", "num_input_dims", num_input_dims, minimum=0)

    def where(shape):
        rank = len(shape)
        if p0 < 0:
            p = p0 + rank + 1
        else:
            off = 0 if nid is None else rank - nid
            if off < 0:
                raise ShapeError(f"expects at least {nid} dims (num_input_dims), got {format_shape(shape)}")
            p = p0 + off
        if not 0 <= p <= rank:
            raise ShapeError(f"cannot insert a dim at position {p0} of input {format_shape(shape)}")
        return p

    def out_shape(shape):
        p = where(shape)
        return tuple(shape[:p]) + (1,) + tuple(shape[p:])

    return _shape_layer(
        f"nn.Unsqueeze(dim {p0})",
        "Unsqueeze",
        out_shape,
        lambda x: jnp.expand_dims(x, where(x.shape)),
        {"pos": p0, "num_input_dims": nid},
    )


# --------------------------------------------------------------------------- PyTorch aliases


def Flatten(start_dim: int = 1, end_dim: int = -1) -> Module:
    """PyTorch's ``nn.Flatten``: merges dims ``start_dim..end_dim`` (inclusive) into one.

    PyTorch semantics (not torch7's Collapse): dim 0 is the batch by default, so a 1-D
    input is refused with the default ``start_dim=1``; under ``jax.vmap`` give
    ``start_dim=0``. A 0-D input becomes 1-D.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Flatten().apply((), jnp.ones((2, 3, 4))).shape
    (2, 12)
    """
    s0 = int_arg("nn.Flatten", "start_dim", start_dim)
    e0 = int_arg("nn.Flatten", "end_dim", end_dim)

    def out_shape(shape):
        if len(shape) == 0:
            return (1,)
        s, e = _offset_dim(s0, len(shape), None, "start_dim"), _offset_dim(e0, len(shape), None, "end_dim")
        if s > e:
            raise ShapeError(f"start_dim {s0} comes after end_dim {e0} for input {format_shape(shape)}")
        return tuple(shape[:s]) + (math.prod(shape[s : e + 1]),) + tuple(shape[e + 1 :])

    return _shape_layer(
        "nn.Flatten",
        "Flatten",
        out_shape,
        lambda x: sharded.reshape(x, out_shape(x.shape)),
        {"start_dim": s0, "end_dim": e0},
    )


def Unflatten(dim: int, unflattened_size: Sequence[int]) -> Module:
    """PyTorch's ``nn.Unflatten``: splits dim ``dim`` into ``unflattened_size`` (one may be ``-1``).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Unflatten(1, (2, -1)).apply((), jnp.ones((5, 6))).shape
    (5, 2, 3)
    """
    d0 = int_arg("nn.Unflatten", "dim", dim)
    if not is_shape(unflattened_size):
        raise ConfigError(f"nn.Unflatten: unflattened_size must be a tuple of ints, got {unflattened_size!r}")
    size = sizes_arg("nn.Unflatten", (tuple(unflattened_size),), allow_infer=True)

    def out_shape(shape):
        if len(shape) == 0:
            raise ShapeError("expects at least a 1-D input, got a 0-D one")
        d = _offset_dim(d0, len(shape), None)
        n = shape[d]
        known = math.prod(s for s in size if s != -1)
        if (-1 in size and n % known) or (-1 not in size and n != known):
            raise ShapeError(f"cannot unflatten dim {d} of size {n} into {format_shape(size)}")
        new = tuple(n // known if s == -1 else s for s in size)
        return tuple(shape[:d]) + new + tuple(shape[d + 1 :])

    return _shape_layer(
        "nn.Unflatten",
        "Unflatten",
        out_shape,
        lambda x: sharded.reshape(x, out_shape(x.shape)),
        {"dim": d0, "unflattened_size": size},
    )


__all__ = ["View", "Reshape", "Transpose", "Narrow", "Select", "Squeeze", "Unsqueeze", "Flatten", "Unflatten"]
