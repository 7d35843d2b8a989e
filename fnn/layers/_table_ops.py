"""More table layers: MixtureTable, ZipTable, ZipTableOneToMany, CAddTensorTable, Index,
MaskedSelect, MM and MV (torch7's modules that take a table input), and PyTorch's
CosineSimilarity.

Indices and dims are 0-based (torch7's were 1-based). A wrong arity, a single array where a
table is needed, a wrong rank or mismatched sizes raise a :class:`~fnn.errors.ShapeError`
naming the layer; an out-of-range index an :class:`~fnn.errors.IndexRangeError` when the
indices are concrete.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import Module, canonical_dim, expect_array, expect_table, format_shape, is_shape, leaf, same_size
from fnn.core._args import boolean, check_number, int_arg, opt_int_arg
from fnn.errors import DTypeError, IndexRangeError, ShapeError


def _table_leaf(name: str, kind: str, forward: Any, check: Any, config: dict | None = None,
                float_input: bool = False) -> Module:
    return leaf(name, lambda p, x, *, rng, train: forward(x), kind=kind, check=check, config=config,
                float_input=float_input)


def _pair(shape: Any, what: str) -> None:
    expect_table(shape, 2)
    for s, w in zip(shape, what.split(","), strict=True):
        expect_array(s, what=w)


# --------------------------------------------------------------------------- mixtures and zips


def MixtureTable(dim: int | None = None) -> Module:
    """Mixture of experts: input ``(gater, experts)`` -> ``Σ_i gater[..., i] · expert_i``.

    ``experts`` is a table of arrays of one shape, or one array with the experts along ``dim``.
    The gater is ``(n,)`` for one example or ``(B, n)`` for a batch; each gate multiplies its
    expert (broadcast over the expert's trailing dims).

    Args:
      dim: for an array of experts, the dim that indexes them, 0-based and absolute (torch7's
        default: 0 for a 1-D gater, 1 for a batch). Ignored for a table of experts.

    Shape contract: ``((n,), ((...),)*n)`` -> ``(...)``; ``((B, n), ((B, ...),)*n)`` ->
    ``(B, ...)``; ``((B, n), (B, n, ...))`` -> ``(B, ...)``.

    >>> import jax.numpy as jnp, fnn
    >>> g = jnp.array([0.25, 0.75])
    >>> fnn.MixtureTable().apply((), (g, (jnp.ones(3), jnp.zeros(3))))
    Array([0.25, 0.25, 0.25], dtype=float32)
    """
    d = opt_int_arg("nn.MixtureTable", "dim", dim, minimum=0)

    def axis(gshape: Any) -> int:
        return d if d is not None else (1 if len(gshape) == 2 else 0)

    def check(shape, dtype):
        expect_table(shape, 2)
        gs, es = shape
        expect_array(gs, (1, 2), what="gater")
        n = gs[-1]
        if is_shape(es):
            a = axis(gs)
            if len(es) <= a or not same_size(n, es[a]):
                raise ShapeError(f"expects experts with {n} entries along dim {a}, got {format_shape(shape)}")
            if len(gs) == 2 and not same_size(gs[0], es[0]):
                raise ShapeError(f"expects gater and experts with one batch size, got {format_shape(shape)}")
            return
        if not same_size(n, len(es)):
            raise ShapeError(f"expects one gater output per expert: {n} gates, {len(es)} experts")
        for s in es:
            expect_array(s, what="expert")
            if s != es[0] or (len(gs) == 2 and (not s or not same_size(gs[0], s[0]))):
                raise ShapeError(f"expects experts of one shape (with the gater's batch), got {format_shape(shape)}")

    def forward(x):
        g, e = x
        if isinstance(e, tuple):
            lead = g.shape[:-1]
            return sum(jnp.reshape(g[..., i], lead + (1,) * (e[i].ndim - len(lead))) * e[i] for i in range(len(e)))
        a = axis(g.shape)
        view = [1] * e.ndim
        view[a] = g.shape[-1]
        if g.ndim == 2:
            view[0] = g.shape[0]
        return jnp.sum(jnp.reshape(g, view) * e, axis=a)

    return _table_leaf("nn.MixtureTable", "MixtureTable", forward, check, {"dim": d}, float_input=True)


def ZipTable() -> Module:
    """Zips a table of tables: ``((a1, a2), (b1, b2))`` -> ``((a1, b1), (a2, b2))``.

    Shape contract: a table of ``m`` tables of ``n`` entries -> ``n`` tables of ``m``.

    >>> import jax.numpy as jnp, fnn
    >>> a, b = jnp.zeros(1), jnp.ones(1)
    >>> fnn.ZipTable().apply((), ((a, a), (b, b)))[0]
    (Array([0.], dtype=float32), Array([1.], dtype=float32))
    """

    def check(shape, dtype):
        if is_shape(shape) or not shape:
            raise ShapeError(f"expects a non-empty table of tables, got {format_shape(shape)}")
        for i, s in enumerate(shape):
            if is_shape(s):
                raise ShapeError(f"expects a table of tables, but entry {i} is an array {format_shape(s)}")
            if len(s) != len(shape[0]):
                raise ShapeError(f"expects tables of one length, got {format_shape(shape)}")

    return _table_leaf("nn.ZipTable", "ZipTable", lambda x: tuple(zip(*x, strict=True)), check)


def ZipTableOneToMany() -> Module:
    """Pairs one entry with each entry of a table: ``(e, (a, b))`` -> ``((e, a), (e, b))``.

    The gradient of ``e`` is the sum of the gradients of its copies.

    >>> import jax.numpy as jnp, fnn
    >>> out = fnn.ZipTableOneToMany().apply((), (jnp.zeros(1), (jnp.ones(1), jnp.ones(2))))
    >>> [[a.shape for a in pair] for pair in out]
    [[(1,), (1,)], [(1,), (2,)]]
    """

    def check(shape, dtype):
        expect_table(shape, 2)
        if is_shape(shape[1]):
            raise ShapeError(f"expects (element, table), but the second entry is an array {format_shape(shape[1])}")

    return _table_leaf("nn.ZipTableOneToMany", "ZipTableOneToMany", lambda x: tuple((x[0], v) for v in x[1]), check)


def CAddTensorTable() -> Module:
    """Adds one array to every entry of a table: ``(t, (a, b))`` -> ``(a + t, b + t)``.

    Shape contract: ``t`` and every entry of one shape.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CAddTensorTable().apply((), (jnp.ones(2), (jnp.zeros(2), jnp.ones(2))))
    (Array([1., 1.], dtype=float32), Array([2., 2.], dtype=float32))
    """

    def check(shape, dtype):
        expect_table(shape, 2)
        expect_array(shape[0])
        if is_shape(shape[1]):
            raise ShapeError(f"expects (array, table), but the second entry is an array {format_shape(shape[1])}")
        for s in shape[1]:
            if not is_shape(s) or len(s) != len(shape[0]) or not all(map(same_size, s, shape[0])):
                raise ShapeError(f"expects table entries shaped like the first array, got {format_shape(shape)}")

    return _table_leaf("nn.CAddTensorTable", "CAddTensorTable", lambda x: tuple(a + x[0] for a in x[1]), check,
                       float_input=True)


# --------------------------------------------------------------------------- indexing


def _index_range(idx: Any, n: int) -> None:
    if not isinstance(idx, jax.core.Tracer):
        v = np.asarray(idx)
        bad = (v < 0) | (v >= n)
        if bad.any():
            raise IndexRangeError(f"index out of range [0, {n}): got {int(v[bad].flat[0])}")


def Index(dim: int) -> Module:
    """``x.index_select(dim, idx)`` on the table ``(x, idx)``; 0-based indices.

    Args:
      dim: the dim to index, 0-based and absolute (no batch shift); negative counts from the end.

    Shape contract: ``(x (..., n, ...), idx (k,) integer)`` -> x's shape with ``n`` replaced by
    ``k``. Indices outside ``[0, n)`` raise an :class:`~fnn.errors.IndexRangeError` when
    concrete; under ``jit`` they select NaN. The index gets no gradient (it is an integer).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Index(0).apply((), (jnp.array([10.0, 20.0, 30.0]), jnp.array([2, 0, 2])))
    Array([30., 10., 30.], dtype=float32)
    """
    int_arg("nn.Index", "dim", dim)

    def check(shape, dtype):
        _pair(shape, "x,index")
        canonical_dim(dim, len(shape[0]))
        if len(shape[1]) != 1:
            raise ShapeError(f"expects a 1-D index, got {format_shape(shape[1])}")
        if not jnp.issubdtype(dtype[1], jnp.integer):
            raise DTypeError(f"expects integer indices (0-based), got {jnp.dtype(dtype[1]).name}")
        if not jnp.issubdtype(dtype[0], jnp.floating):
            raise DTypeError(f"expects a floating-point x, got {jnp.dtype(dtype[0]).name}")

    def forward(x):
        t, idx = x
        a = canonical_dim(dim, t.ndim)
        _index_range(idx, t.shape[a])
        safe = jnp.where(idx < 0, t.shape[a], idx)
        return jnp.take(t, safe, axis=a, mode="fill", fill_value=jnp.nan)

    return _table_leaf(f"nn.Index({dim})", "Index", forward, check, {"dim": dim})


def MaskedSelect(size: int | None = None, fill_value: float = 0.0) -> Module:
    """The elements of ``x`` where ``mask`` is true, in row-major order: input ``(x, mask)``.

    torch7's output length is the number of true entries, which a compiled program cannot
    know. Without ``size`` the layer runs eagerly only (as torch7 did); with ``size`` the
    output has exactly ``size`` entries (extra selected elements dropped, missing ones
    filled with ``fill_value``), so it works under ``jit``, ``vmap`` and in ``init``.
    The gradient goes back to the selected positions of ``x``.

    Args:
      size: the static output length, or None (eager only).
      fill_value: the value of the padding entries when fewer than ``size`` are selected.

    Shape contract: ``(x (...), mask (...) bool)`` of one shape -> ``(k,)``.

    >>> import jax.numpy as jnp, fnn
    >>> x, mask = jnp.array([[1.0, 2.0], [3.0, 4.0]]), jnp.array([[True, False], [False, True]])
    >>> fnn.MaskedSelect().apply((), (x, mask))
    Array([1., 4.], dtype=float32)
    >>> fnn.MaskedSelect(3).apply((), (x, mask))
    Array([1., 4., 0.], dtype=float32)
    """
    k = opt_int_arg("nn.MaskedSelect", "size", size, minimum=0)
    fill = float(fill_value)

    def check(shape, dtype):
        _pair(shape, "x,mask")
        if len(shape[0]) != len(shape[1]) or not all(map(same_size, shape[0], shape[1])):
            raise ShapeError(f"expects x and mask of one shape, got {format_shape(shape)}")
        if not (jnp.dtype(dtype[1]) == jnp.bool_ or jnp.issubdtype(dtype[1], jnp.integer)):
            raise DTypeError(f"expects a boolean mask, got {jnp.dtype(dtype[1]).name}")

    def forward(x):
        t, mask = x
        flat = jnp.ravel(mask).astype(jnp.bool_)
        if k is None:
            if isinstance(flat, jax.core.Tracer):
                raise ShapeError("has an output length that depends on the mask's values: under jit, vmap "
                                 "or init give it a static length, MaskedSelect(size=k)")
            return jnp.ravel(t)[np.flatnonzero(np.asarray(flat))]
        (idx,) = jnp.nonzero(flat, size=k, fill_value=flat.size)
        return jnp.take(jnp.ravel(t), idx, mode="fill", fill_value=fill)

    return _table_leaf("nn.MaskedSelect" if k is None else f"nn.MaskedSelect(size={k})", "MaskedSelect",
                       forward, check, {"size": k, "fill_value": fill})


# --------------------------------------------------------------------------- products


def MM(trans_a: bool = False, trans_b: bool = False) -> Module:
    """Matrix product of the table ``(A, B)``: ``(m, n)·(n, p)``, or a batch ``(b, m, n)·(b, n, p)``.

    Args:
      trans_a: transpose ``A``'s last two dims first.
      trans_b: transpose ``B``'s last two dims first.

    PyTorch: ``torch.mm`` / ``torch.bmm``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MM(False, True).apply((), (jnp.ones((2, 3)), jnp.ones((4, 3)))).shape
    (2, 4)
    """
    ta, tb = boolean("nn.MM", "trans_a", trans_a), boolean("nn.MM", "trans_b", trans_b)

    def check(shape, dtype):
        _pair(shape, "A,B")
        a, b = shape
        if len(a) not in (2, 3) or len(b) != len(a):
            raise ShapeError(f"expects two 2-D matrices or two 3-D batches, got {format_shape(shape)}")
        if len(a) == 3 and not same_size(a[0], b[0]):
            raise ShapeError(f"expects batches of one size, got {format_shape(shape)}")
        inner_a, inner_b = (a[-2] if ta else a[-1]), (b[-1] if tb else b[-2])
        if not same_size(inner_a, inner_b):
            raise ShapeError(f"matrix sizes do not match: {format_shape(shape)} (trans_a={ta}, trans_b={tb})")

    def forward(x):
        a, b = x
        a = jnp.swapaxes(a, -1, -2) if ta else a
        b = jnp.swapaxes(b, -1, -2) if tb else b
        return jnp.matmul(a, b)

    return _table_leaf("nn.MM", "MM", forward, check, {"trans_a": ta, "trans_b": tb}, float_input=True)


def MV(trans: bool = False) -> Module:
    """Matrix-vector product of the table ``(M, v)``: ``(m, n)·(n,)``, or a batch ``(B, m, n)·(B, n)``.

    Args:
      trans: transpose ``M``'s last two dims first.

    PyTorch: ``torch.mv`` (batched: ``torch.bmm`` with a trailing 1).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MV().apply((), (jnp.ones((2, 3)), jnp.ones(3)))
    Array([3., 3.], dtype=float32)
    """
    tr = boolean("nn.MV", "trans", trans)

    def check(shape, dtype):
        _pair(shape, "M,v")
        m, v = shape
        if len(m) not in (2, 3) or len(v) != len(m) - 1:
            raise ShapeError(f"expects a 2-D matrix and a 1-D vector, or a 3-D and a 2-D batch, "
                             f"got {format_shape(shape)}")
        if len(m) == 3 and not same_size(m[0], v[0]):
            raise ShapeError(f"expects batches of one size, got {format_shape(shape)}")
        if not same_size(m[-2] if tr else m[-1], v[-1]):
            raise ShapeError(f"matrix row count and vector length do not match: {format_shape(shape)} (trans={tr})")

    def forward(x):
        m, v = x
        m = jnp.swapaxes(m, -1, -2) if tr else m
        return jnp.einsum("...ij,...j->...i", m, v)

    return _table_leaf("nn.MV", "MV", forward, check, {"trans": tr}, float_input=True)


def CosineSimilarity(dim: int = 1, eps: float = 1e-8) -> Module:
    """PyTorch's ``nn.CosineSimilarity``: ``x1·x2 / (max(‖x1‖, eps) · max(‖x2‖, eps))`` along ``dim``.

    torch7's name for this layer is :func:`CosineDistance` (no dim argument, eps on the
    squared norms); this alias has PyTorch's arguments.

    Args:
      dim: the dim to reduce (PyTorch's default 1; negative counts from the end).
      eps: the smallest norm.

    Shape contract: a table ``(x1, x2)`` of one shape -> that shape without ``dim``.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.CosineSimilarity(0).apply((), (jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0])))
    Array(0.70710677, dtype=float32)
    """
    int_arg("nn.CosineSimilarity", "dim", dim)
    e = check_number("nn.CosineSimilarity", "eps", eps, low=0)

    def check(shape, dtype):
        _pair(shape, "x1,x2")
        if len(shape[0]) != len(shape[1]) or not all(map(same_size, shape[0], shape[1])):
            raise ShapeError(f"expects x1 and x2 of one shape, got {format_shape(shape)}")
        canonical_dim(dim, len(shape[0]))

    def forward(x):
        a, b = x
        d = canonical_dim(dim, a.ndim)
        na = jnp.maximum(jnp.sqrt(jnp.sum(a * a, axis=d)), e)
        nb = jnp.maximum(jnp.sqrt(jnp.sum(b * b, axis=d)), e)
        return jnp.sum(a * b, axis=d) / (na * nb)

    return _table_leaf(f"nn.CosineSimilarity(dim={dim})", "CosineSimilarity", forward, check,
                       {"dim": dim, "eps": e}, float_input=True)


__all__ = ["CosineSimilarity", "MixtureTable", "ZipTable", "ZipTableOneToMany", "CAddTensorTable", "Index",
           "MaskedSelect", "MM", "MV"]
