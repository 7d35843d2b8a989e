"""Max pooling that returns its argmax indices, and max unpooling: torch7's SpatialMaxUnpooling
and VolumetricMaxUnpooling, PyTorch's ``MaxUnpool1d/2d/3d``.

torch7 kept the argmax indices inside the pooling module and gave the unpooling module a
reference to it. fnn keeps no hidden buffers, so the indices travel with the data, as in
PyTorch: a max-pooling layer built with ``return_indices=True`` returns the table
``(output, indices)`` and an unpooling layer takes that table. An index is the **0-based** flat
position of the maximum inside its input plane (``h·W + w``, or ``(t·H + h)·W + w`` in 3-D), as
in PyTorch (torch7's were 1-based), in ``int32``.

The pooling is a gather of every window (padding masked to ``-inf``, so it never wins) and an
``argmax`` that keeps the first maximum, as torch7 and PyTorch do; the gradient flows to the
argmax only. The unpooling scatters every value to its index in a zero output; indices out of
range raise :class:`~fnn.errors.IndexRangeError` when they are concrete (eager calls) and are
dropped under ``jit``/``vmap``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import Module, expect_table, format_shape, is_shape, leaf
from fnn.core._args import int_tuple
from fnn.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from fnn.layers import _windows as win

_LETTERS = {1: ("C", "L"), 2: ("C", "H", "W"), 3: ("C", "T", "H", "W")}

# --------------------------------------------------------------------------- window gathers


def gather_windows(x: Any, starts: Sequence[Any], kernel: Sequence[int], dilation: Sequence[int]
                   ) -> tuple[Any, Any, Any]:
    """Every window of ``x (B, C, *sizes)``: ``(values, flat input index, valid)``, each ``(B, C, *outs, K)``.

    Args:
      starts: per spatial dim, the window starts: an int array ``(o,)`` or ``(B, C, o)``
        (fractional pooling draws them per plane); a start may be negative (padding).
      kernel, dilation: per spatial dim.
    """
    n_sp = len(kernel)
    sizes = x.shape[2:]
    lead = x.shape[:2]
    vals, flat, valid = x, jnp.zeros((), jnp.int32), jnp.ones((), bool)
    step = 1
    outs = []
    for i in reversed(range(n_sp)):  # the last dim first, so that ``step`` is its row-major stride
        s = jnp.asarray(starts[i], jnp.int32)
        o = s.shape[-1]
        outs.insert(0, o)
        taps = jnp.arange(kernel[i], dtype=jnp.int32) * dilation[i]
        pos = s[..., :, None] + jnp.reshape(taps, (1,) * s.ndim + (kernel[i],))  # (..., o, k)
        ok = (pos >= 0) & (pos < sizes[i])
        pos_c = jnp.clip(pos, 0, sizes[i] - 1)
        shape = list(pos.shape[:-2]) if pos.ndim == 4 else [1, 1]
        axis = 2 + i
        idx = jnp.reshape(pos_c, shape + [1] * i + [o * kernel[i]] + [1] * (n_sp - i - 1))
        vals = jnp.take_along_axis(vals, idx, axis=axis, mode="clip")
        # per-dim factors, broadcast later: shaped (lead?, o, k) at this dim's place
        flat = flat + _place(pos_c * step, i, n_sp)
        valid = valid & _place(ok, i, n_sp)
        step *= sizes[i]
    # vals: (B, C, o1*k1, ..., on*kn) -> (B, C, o1.., k1..)
    vals = jnp.reshape(vals, lead + tuple(v for o, k in zip(outs, kernel, strict=True) for v in (o, k)))
    perm = (0, 1) + tuple(2 + 2 * i for i in range(n_sp)) + tuple(3 + 2 * i for i in range(n_sp))
    vals = jnp.transpose(vals, perm)
    flat = jnp.broadcast_to(jnp.transpose(flat, perm), vals.shape)
    valid = jnp.broadcast_to(jnp.transpose(valid, perm), vals.shape)
    out_shape = lead + tuple(outs) + (math.prod(kernel),)
    return jnp.reshape(vals, out_shape), jnp.reshape(flat, out_shape), jnp.reshape(valid, out_shape)


def _place(a: Any, i: int, n_sp: int) -> Any:
    """``a (lead?, o, k)`` -> rank ``2 + 2·n_sp``: dim ``i``'s ``(o, k)`` pair among the interleaved pairs."""
    lead = list(a.shape[:2]) if a.ndim == 4 else [1, 1]
    return jnp.reshape(a, lead + [1, 1] * i + list(a.shape[-2:]) + [1, 1] * (n_sp - i - 1))


def max_with_indices(vals: Any, flat: Any, valid: Any) -> tuple[Any, Any]:
    """The first maximum of each window (padding never wins) and its flat input index."""
    masked = jnp.where(valid, vals, jnp.asarray(-jnp.inf, vals.dtype))
    am = jnp.argmax(masked, axis=-1)[..., None]
    return jnp.take_along_axis(masked, am, axis=-1)[..., 0], jnp.take_along_axis(flat, am, axis=-1)[..., 0]


def pool_starts(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> np.ndarray:
    """The window starts of a padded, strided pooling (torch7 / PyTorch output size)."""
    return np.arange(win.pool_out(n, k, s, p, d, ceil=ceil)) * s - p


def indices_pool_layer(name: str, kind: str, config: dict, *, kernel: tuple[int, ...], stride: tuple[int, ...],
                       padding: tuple[int, ...], dilation: tuple[int, ...], ceil: bool,
                       letters: tuple[str, ...], op: str = "max") -> Module:
    """Max pooling (``op`` must be ``'max'``) over the last ``len(kernel)`` dims returning ``(output, indices)``."""
    n_sp = len(kernel)
    win.pool_padding(name, kernel, padding, dilation)
    axes = tuple(range(-n_sp, 0))
    check = win.check_layout(letters, channel_axis=None, channels=None, spatial_axes=axes,
                             out_fn=lambda i, n: win.pool_out(n, kernel[i], stride[i], padding[i], dilation[i],
                                                              ceil=ceil))

    def forward(p: Any, x: Any, *, rng: Any, train: bool) -> Any:
        xb, single = win.batch_first(x, n_sp + 1)
        starts = [pool_starts(n, k, s, q, d, ceil) for n, k, s, q, d in zip(xb.shape[2:], kernel, stride, padding,
                                                                            dilation, strict=True)]
        y, idx = max_with_indices(*gather_windows(xb, starts, kernel, dilation))
        return (y[0], idx[0]) if single else (y, idx)

    return leaf(name + " with indices", forward, kind=kind, check=check, config=config | {"return_indices": True})


# --------------------------------------------------------------------------- unpooling


def _unpool_check(n_sp: int, kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...]) -> Any:
    letters = _LETTERS[n_sp]
    base = win.check_layout(letters, channel_axis=None, channels=None, spatial_axes=tuple(range(-n_sp, 0)),
                            out_fn=lambda i, n: (n - 1) * stride[i] - 2 * padding[i] + kernel[i])

    def check(shape: Any, dtype: Any) -> None:
        if is_shape(shape):
            raise ShapeError(f"expects the table (input, indices) of a max pooling with return_indices=True, "
                             f"got one array {format_shape(shape)}")
        expect_table(shape, 2)
        if not (is_shape(shape[0]) and is_shape(shape[1])) or tuple(shape[0]) != tuple(shape[1]):
            raise ShapeError(f"expects input and indices of the same shape, got {format_shape(shape)}")
        base(shape[0], dtype)
        xd, idd = jax.tree.leaves(dtype)
        if not jnp.issubdtype(xd, jnp.floating) or not jnp.issubdtype(idd, jnp.integer):
            raise DTypeError(f"expects a floating input and integer indices, got {jnp.dtype(xd).name} and "
                             f"{jnp.dtype(idd).name}")

    return check


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _scatter(total: int, x: Any, idx: Any) -> Any:
    """``y[b, c, idx[b, c, i]] = x[b, c, i]`` in zeros ``(B, C, total)``; out-of-range indices are dropped."""
    b, c, _ = x.shape
    rows = jnp.reshape(jnp.arange(b), (b, 1, 1))
    chans = jnp.reshape(jnp.arange(c), (1, c, 1))
    return jnp.zeros((b, c, total), x.dtype).at[rows, chans, idx].set(x, mode="drop")


def _scatter_fwd(total: int, x: Any, idx: Any) -> tuple[Any, Any]:
    return _scatter(total, x, idx), idx


def _scatter_bwd(total: int, idx: Any, g: Any) -> tuple[Any, None]:
    # torch7 and PyTorch: every input reads the gradient at its index (also when two share one)
    return jnp.take_along_axis(g, idx, axis=-1, mode="fill", fill_value=0), None


_scatter.defvjp(_scatter_fwd, _scatter_bwd)


def unpool_layer(name: str, kind: str, config: dict, *, kernel: tuple[int, ...], stride: tuple[int, ...],
                 padding: tuple[int, ...]) -> Module:
    """``(x, indices) -> y`` with ``y.flat[indices] = x`` per plane, zeros elsewhere."""
    n_sp = len(kernel)

    def forward(p: Any, table: Any, *, rng: Any, train: bool) -> Any:
        x, idx = table
        xb, single = win.batch_first(x, n_sp + 1)
        ib, _ = win.batch_first(idx, n_sp + 1)
        outs = tuple((n - 1) * s - 2 * q + k for n, k, s, q in zip(xb.shape[2:], kernel, stride, padding,
                                                                   strict=True))
        total = math.prod(outs)
        if not isinstance(idx, jax.core.Tracer):
            values = np.asarray(idx)
            bad = (values < 0) | (values >= total)
            if bad.any():
                raise IndexRangeError(f"index out of range [0, {total}) for an output plane of size "
                                      f"{format_shape(outs)}: got {int(values[bad].flat[0])}")
        b, c = xb.shape[:2]
        y = _scatter(total, jnp.reshape(xb, (b, c, -1)), jnp.reshape(ib, (b, c, -1)).astype(jnp.int32))
        y = jnp.reshape(y, (b, c) + outs)
        return y[0] if single else y

    return leaf(name, forward, kind=kind, check=_unpool_check(n_sp, kernel, stride, padding), config=config,
                float_input=False)


def _from_pool(layer: str, pool: Any, keys: Sequence[tuple[str, str, str]], kinds: tuple[str, ...]) -> tuple:
    """Kernel, stride, padding (in dim order) read from a torch7 pooling module's config."""
    if not isinstance(pool, Module) or pool.kind not in kinds:
        raise ConfigError(f"{layer}: expects a {' or '.join(kinds)} module (the pooling it inverts), got {pool!r}")
    cfg = pool.config
    kernel = tuple(cfg[k] for k, _, _ in keys)
    stride = tuple(cfg[s] for _, s, _ in keys)
    padding = tuple(cfg.get(q, 0) for _, _, q in keys)
    return kernel, stride, padding


def SpatialMaxUnpooling(pool: Module) -> Module:
    """The inverse of a :func:`fnn.SpatialMaxPooling`: scatters each value to its argmax position.

    Args:
      pool: the ``SpatialMaxPooling`` (or ``SpatialDilatedMaxPooling``) module it inverts; its kernel,
        stride and padding set the output size. Build that module with ``return_indices=True`` so that
        it returns the table ``(output, indices)`` this layer takes (torch7 read the indices from
        inside the pooling module instead).

    Shape contract: ``((C, H, W), (C, H, W) int)`` or batched -> ``(..., C, H', W')`` with
    ``H' = (H-1)·dH - 2·padH + kH``; zeros except ``y[c].flat[indices[c, i]] = x[c, i]``.

    >>> import jax.numpy as jnp, fnn
    >>> pool = fnn.SpatialMaxPooling(2, 2, return_indices=True)
    >>> y, idx = pool.apply((), jnp.arange(16.0).reshape(1, 4, 4))
    >>> fnn.SpatialMaxUnpooling(pool).apply((), (y, idx))[0]
    Array([[ 0.,  0.,  0.,  0.],
           [ 0.,  5.,  0.,  7.],
           [ 0.,  0.,  0.,  0.],
           [ 0., 13.,  0., 15.]], dtype=float32)
    """
    layer = "nn.SpatialMaxUnpooling"
    k, s, p = _from_pool(layer, pool, (("kH", "dH", "padH"), ("kW", "dW", "padW")),
                         ("SpatialMaxPooling", "SpatialDilatedMaxPooling"))
    return unpool_layer(f"{layer} associated to {pool.name.removesuffix(' with indices')}", "SpatialMaxUnpooling",
                        {"kernel": k, "stride": s, "padding": p}, kernel=k, stride=s, padding=p)


def VolumetricMaxUnpooling(pool: Module) -> Module:
    """The inverse of a :func:`fnn.VolumetricMaxPooling` (built with ``return_indices=True``).

    Args:
      pool: the ``VolumetricMaxPooling`` (or ``VolumetricDilatedMaxPooling``) module it inverts.

    Shape contract: ``((C, T, H, W), same shape int)`` or batched -> ``T' = (T-1)·dT - 2·padT + kT`` (H, W alike).

    >>> import jax, jax.numpy as jnp, fnn
    >>> pool = fnn.VolumetricMaxPooling(2, 2, 2, return_indices=True)
    >>> out = pool.apply((), jnp.ones((1, 2, 2, 2)))
    >>> fnn.VolumetricMaxUnpooling(pool).apply((), out).shape
    (1, 2, 2, 2)
    """
    layer = "nn.VolumetricMaxUnpooling"
    k, s, p = _from_pool(layer, pool, (("kT", "dT", "padT"), ("kH", "dH", "padH"), ("kW", "dW", "padW")),
                         ("VolumetricMaxPooling", "VolumetricDilatedMaxPooling"))
    return unpool_layer(f"{layer} associated to {pool.name.removesuffix(' with indices')}",
                        "VolumetricMaxUnpooling", {"kernel": k, "stride": s, "padding": p}, kernel=k, stride=s,
                        padding=p)


def _unpool_nd(nd: int, kernel_size: Any, stride: Any, padding: Any) -> Module:
    cls = f"MaxUnpool{nd}d"
    k = int_tuple(f"nn.{cls}", "kernel_size", kernel_size, nd, 1)
    s = k if stride is None else int_tuple(f"nn.{cls}", "stride", stride, nd, 1)
    p = int_tuple(f"nn.{cls}", "padding", padding, nd, 0)
    return unpool_layer(f"nn.{cls}(kernel_size={k}, stride={s}, padding={p})", cls,
                        {"kernel_size": k, "stride": s, "padding": p}, kernel=k, stride=s, padding=p)


def MaxUnpool1d(kernel_size: Any, stride: Any = None, padding: Any = 0) -> Module:
    """PyTorch ``nn.MaxUnpool1d`` on the table ``(x, indices)`` of ``(C, L)`` or ``(B, C, L)`` arrays.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MaxUnpool1d(2).apply((), (jnp.array([[5.0]]), jnp.array([[1]])))
    Array([[0., 5.]], dtype=float32)
    """
    return _unpool_nd(1, kernel_size, stride, padding)


def MaxUnpool2d(kernel_size: Any, stride: Any = None, padding: Any = 0) -> Module:
    """PyTorch ``nn.MaxUnpool2d``: the inverse of ``MaxPool2d(..., return_indices=True)``.

    Args:
      kernel_size, stride, padding: an int or ``(h, w)``; ``stride`` defaults to the kernel.

    Shape contract: the table ``(x, indices)`` of ``(C, H, W)`` or ``(B, C, H, W)`` arrays (indices: the
    flat position ``h·W' + w`` in the output plane) -> ``H' = (H-1)·stride - 2·padding + kernel_size``.
    PyTorch's ``output_size`` argument of the call is not supported.

    >>> import jax.numpy as jnp, fnn
    >>> out = fnn.MaxPool2d(2, return_indices=True).apply((), jnp.arange(16.0).reshape(1, 4, 4))
    >>> fnn.MaxUnpool2d(2).apply((), out).shape
    (1, 4, 4)
    """
    return _unpool_nd(2, kernel_size, stride, padding)


def MaxUnpool3d(kernel_size: Any, stride: Any = None, padding: Any = 0) -> Module:
    """PyTorch ``nn.MaxUnpool3d`` on the table ``(x, indices)`` of ``(C, T, H, W)`` or batched arrays.

    >>> import jax, fnn
    >>> fnn.MaxUnpool3d(2).init(jax.random.key(0), ((-1, 1, 2, 2, 2), (-1, 1, 2, 2, 2)), (float, int))[0]
    (-1, 1, 4, 4, 4)
    """
    return _unpool_nd(3, kernel_size, stride, padding)
