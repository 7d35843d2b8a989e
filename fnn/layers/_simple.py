"""Simple layers: CMul, CAdd, Add, Mul, MulConstant, AddConstant, Identity, Replicate, Padding.

torch7's simple element-wise layers with parameters (CMul, CAdd, Add, Mul), the
constant ones, Identity, and the two layers that grow a dim (Replicate, Padding).
Default initialisations are torch7's (documented per layer); each parametrised layer takes its
own initialiser ``(key, shape, dtype) -> array``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnn.core import Initializer, Module, each_concrete, expect_array, format_shape, leaf, lift, uniform
from fnn.core._args import boolean, check_number, int_arg, opt_int_arg, sizes_arg
from fnn.errors import ConfigError, ShapeError

# --------------------------------------------------------------------------- CMul / CAdd


def _broadcastable(p: Sequence[int], x: Sequence[int]) -> bool:
    return len(p) == len(x) and all(a == b or a == 1 for a, b in zip(p, x, strict=True))


def _param_mode(p: tuple[int, ...], x: tuple[int, ...]) -> str:
    """How a CMul/CAdd parameter of shape ``p`` meets an input of shape ``x`` (torch7's order)."""
    if math.prod(x) == math.prod(p):
        return "flat"  # same element count: element-wise in storage order
    if _broadcastable(p, x):
        return "broadcast"  # same rank: singleton dims broadcast
    if len(x) >= 1 and math.prod(x[1:]) == math.prod(p):
        return "batch"  # dim 0 is a batch; each example element-wise in storage order
    if len(x) >= 1 and _broadcastable(p, x[1:]):
        return "batch_broadcast"  # fnn extension: broadcast over each example of a batch
    if math.prod(p) == 1:
        return "scalar"
    raise ShapeError(
        f"expects an input of {math.prod(p)} elements, a batch of such, or one that {format_shape(p)} "
        f"broadcasts to; got {format_shape(x)}"
    )


def _combine(op: Callable, x: jax.Array, p: jax.Array) -> jax.Array:
    mode = _param_mode(tuple(p.shape), tuple(x.shape))
    if mode == "flat":
        return op(x, jnp.reshape(p, x.shape))
    if mode == "broadcast":
        return op(x, p)
    if mode == "batch":
        return op(x, jnp.reshape(p, (1,) + x.shape[1:]))
    if mode == "batch_broadcast":
        return op(x, lift(p, x.ndim))
    return op(x, jnp.reshape(p, ()))


def _check_param_shape(pshape: tuple[int, ...]) -> Callable:
    def check(shape, dtype):
        expect_array(shape)
        for concrete in each_concrete(shape):
            try:
                _param_mode(pshape, concrete)
            except ShapeError as e:
                if concrete == tuple(shape):
                    raise
                raise ShapeError(e.message.replace(format_shape(concrete), format_shape(shape))) from None

    return check


def _component(
    layer: str, kind: str, op: Callable, pname: str, size: Sequence[Any], init: Initializer | None
) -> Module:
    shape = sizes_arg(f"nn.{kind}", tuple(size), allow_infer=False)
    p_init = init or uniform(1.0 / math.sqrt(math.prod(shape)))

    def params(rng, in_shape, dtype):
        return {pname: p_init(rng, shape, dtype)}

    def forward(p, x, *, rng, train):
        return _combine(op, x, p[pname])

    return leaf(layer, forward, kind=kind, params=params, check=_check_param_shape(shape), config={"size": shape})


def CMul(*size: int | Sequence[int], weight_init: Initializer | None = None) -> Module:
    """``y = x ⊙ w``: element-wise product with a learnable weight of shape ``size``.

    torch7's rules, in order: if the input has as many elements as ``w``, the product is
    element-wise in storage order; else if it has ``w``'s rank, ``w``'s size-1 dims
    broadcast; else dim 0 is a batch and each example is multiplied by ``w``. fnn also
    broadcasts ``w`` over each example of a batch (e.g. ``CMul(3, 1)`` on ``(B, 3, 4)``),
    which torch7 refused, so that a batch always equals ``vmap`` over its examples.

    Args:
      *size: the weight's shape (positive ints), or one tuple of them.
      weight_init: ``(key, shape, dtype) -> array``; default torch7's ``U(±1/√numel)``.

    Shape contract: ``size -> size``, ``(B, *size) -> (B, *size)``, broadcasting as above.
    Params: ``weight`` of shape ``size``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.CMul(5)
    >>> out_shape, params = init(jax.random.key(0), (-1, 5))
    >>> y = apply(params, jnp.arange(1.0, 6.0))
    >>> out_shape, bool(jnp.allclose(y, jnp.arange(1.0, 6.0) * params['weight']))
    ((-1, 5), True)
    """
    return _component("nn.CMul", "CMul", jnp.multiply, "weight", size, weight_init)


def CAdd(*size: int | Sequence[int], bias_init: Initializer | None = None) -> Module:
    """``y = x + b`` with a learnable bias of shape ``size``; broadcasting as :func:`CMul`.

    Args:
      *size: the bias's shape (positive ints), or one tuple of them.
      bias_init: ``(key, shape, dtype) -> array``; default torch7's ``U(±1/√numel)``.

    Shape contract: as :func:`CMul`. Params: ``bias`` of shape ``size``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.CAdd(1, 3)
    >>> _, params = init(jax.random.key(0), (4, 3))
    >>> apply(params, jnp.zeros((4, 3))).shape
    (4, 3)
    """
    return _component("nn.CAdd", "CAdd", jnp.add, "bias", size, bias_init)


# --------------------------------------------------------------------------- Add, Mul


def Add(input_size: int, scalar: bool = False, *, bias_init: Initializer | None = None) -> Module:
    """``y = x + b``: a learnable bias of ``input_size`` entries (or one shared scalar).

    torch7's batch rule: an input of shape ``(input_size,)`` gets ``b`` added; otherwise
    dim 0 is a batch and each example (of ``input_size`` elements, in storage order) gets ``b``.
    With ``scalar=True`` the single bias is added to every element of any input. fnn also
    takes one example of any shape with ``input_size`` elements (storage order, as CAdd),
    which torch7 refused unless it was 1-D, so that ``vmap`` over such examples works.

    Args:
      input_size: the number of elements of one example.
      scalar: one shared bias instead of ``input_size``.
      bias_init: ``(key, shape, dtype) -> array``; default ``U(±1/√input_size)``
        (``U(±1)`` when scalar), as torch7.

    Shape contract: one example with ``input_size`` elements, or ``(B, ...)`` with
    ``input_size`` elements per example (any shape when ``scalar``). Params: ``bias`` ``(input_size,)`` or ``(1,)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.Add(3)
    >>> _, params = init(jax.random.key(0), (-1, 3))
    >>> bool(jnp.allclose(apply(params, jnp.zeros((2, 3))), params['bias']))
    True
    """
    n = int_arg("nn.Add", "input_size", input_size, minimum=1)
    boolean("nn.Add", "scalar", scalar)
    size = 1 if scalar else n
    b_init = bias_init or uniform(1.0 / math.sqrt(size))

    def check(shape, dtype):
        expect_array(shape)
        if scalar or (-1 not in shape and math.prod(shape) == n):
            return
        if len(shape) < 1 or math.prod(d for d in shape[1:]) != n or any(d == -1 for d in shape[1:]):
            raise ShapeError(f"expects input ({n},) or a batch (B, ...) of {n} elements per example, "
                             f"got {format_shape(shape)}")

    def params(rng, in_shape, dtype):
        return {"bias": b_init(rng, (size,), dtype)}

    def forward(p, x, *, rng, train):
        b = p["bias"]
        if scalar:
            return x + jnp.reshape(b, ())
        if x.size == n:
            return x + jnp.reshape(b, x.shape)
        return x + jnp.reshape(b, (1,) + x.shape[1:])

    return leaf("nn.Add", forward, kind="Add", params=params, check=check, config={"input_size": n, "scalar": scalar})


def Mul(*, weight_init: Initializer | None = None) -> Module:
    """``y = w · x`` with one learnable scalar ``w``, for inputs of any shape.

    Args:
      weight_init: ``(key, shape, dtype) -> array``; default torch7's ``U(±1)``.

    Params: ``weight`` of shape ``(1,)``.

    >>> import jax, jax.numpy as jnp, fnn
    >>> init, apply = fnn.Mul()
    >>> _, params = init(jax.random.key(0), (2, 3))
    >>> bool(jnp.allclose(apply(params, jnp.ones((2, 3))), params['weight'][0]))
    True
    """
    w_init = weight_init or uniform(1.0)

    def params(rng, in_shape, dtype):
        return {"weight": w_init(rng, (1,), dtype)}

    def forward(p, x, *, rng, train):
        return x * jnp.reshape(p["weight"], ())

    return leaf("nn.Mul", forward, kind="Mul", params=params, check=lambda s, d: expect_array(s))


# --------------------------------------------------------------------------- constants, Identity


def MulConstant(k: float) -> Module:
    """``y = k · x`` for a fixed number ``k`` (torch7's ``inplace`` has no functional meaning).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.MulConstant(2.5).apply((), jnp.ones(2))
    Array([2.5, 2.5], dtype=float32)
    """
    c = check_number("nn.MulConstant", "k", k)
    return leaf(f"nn.MulConstant({c:g})", lambda p, x, *, rng, train: x * c, kind="MulConstant",
                check=lambda s, d: expect_array(s), config={"k": c})


def AddConstant(k: float | Sequence[float] | np.ndarray) -> Module:
    """``y = x + k`` for a fixed number, or a fixed 1-D vector matching the last dim.

    Args:
      k: a number, or a 1-D array of ``n`` values added along the last dim.

    Shape contract: any shape for a number; ``(..., n)`` for a vector (torch7 allowed
    ``(n)`` and ``(B, n)`` only; more leading dims are an fnn extension).

    >>> import jax.numpy as jnp, fnn
    >>> fnn.AddConstant([1.0, 2.0]).apply((), jnp.zeros((2, 2)))
    Array([[1., 2.],
           [1., 2.]], dtype=float32)
    """
    if isinstance(k, (int, float, np.integer, np.floating)) and not isinstance(k, bool):
        c = check_number("nn.AddConstant", "k", k)
        return leaf(f"nn.AddConstant({c:g})", lambda p, x, *, rng, train: x + c, kind="AddConstant",
                    check=lambda s, d: expect_array(s), config={"k": c})
    vec = np.asarray(k, dtype=np.float64)
    if vec.ndim != 1 or vec.size == 0 or not np.all(np.isfinite(vec)):
        raise ConfigError(f"nn.AddConstant: k must be a number or a non-empty finite 1-D vector, got {k!r}")
    n = vec.shape[0]

    def check(shape, dtype):
        expect_array(shape)
        if len(shape) < 1 or shape[-1] not in (n, -1):
            raise ShapeError(f"expects input (..., {n}) to match the constant vector, got {format_shape(shape)}")

    def forward(p, x, *, rng, train):
        return x + lift(jnp.asarray(vec, dtype=x.dtype), x.ndim)

    return leaf(f"nn.AddConstant({n})", forward, kind="AddConstant", check=check, config={"k": vec.tolist()})


def Identity() -> Module:
    """Returns its input unchanged: an array of any dtype, or a table (tuple) of them.

    >>> import jax.numpy as jnp, fnn
    >>> x = (jnp.ones(2), jnp.arange(3))
    >>> fnn.Identity().apply((), x)[1]
    Array([0, 1, 2], dtype=int32)
    """
    return leaf("nn.Identity", lambda p, x, *, rng, train: x, kind="Identity", float_input=False)


# --------------------------------------------------------------------------- Replicate, Padding


def Replicate(n: int, dim: int = 0, ndim: int | None = None) -> Module:
    """Inserts a new dim of size ``n`` at ``dim`` by repeating the input (torch7's zero-stride view).

    Args:
      n: how many copies.
      dim: where the new dim goes (0-based, ``0 <= dim <= rank``); a negative ``dim``
        counts from the end of the output (``-1`` appends).
      ndim: the rank of one example: inputs with more dims are a batch and a non-negative
        ``dim`` is shifted by one (torch7).

    Shape contract: ``(*in) -> (*in[:d], n, *in[d:])``. The gradient sums over the copies.
    Deviation: 0-based ``dim`` (torch7's default 1 is fnn's 0); negative ``dim`` is an extension.

    >>> import jax.numpy as jnp, fnn
    >>> fnn.Replicate(3).apply((), jnp.arange(2.0))
    Array([[0., 1.],
           [0., 1.],
           [0., 1.]], dtype=float32)
    """
    k = int_arg("nn.Replicate", "n", n, minimum=1)
    d0 = int_arg("nn.Replicate", "dim", dim)
    nd = opt_int_arg("nn.Replicate", "ndim", ndim, minimum=0)

    def where(shape):
        rank = len(shape)
        d = d0 + rank + 1 if d0 < 0 else d0 + (1 if nd is not None and rank > nd else 0)
        if not 0 <= d <= rank:
            raise ShapeError(f"cannot insert a dim at position {d0} of input {format_shape(shape)}")
        return d

    def check(shape, dtype):
        expect_array(shape)
        where(shape)

    def forward(p, x, *, rng, train):
        d = where(x.shape)
        y = jnp.expand_dims(x, d)
        return jnp.broadcast_to(y, y.shape[:d] + (k,) + y.shape[d + 1 :])

    return leaf("nn.Replicate", forward, kind="Replicate", check=check, float_input=False,
                config={"n": k, "dim": d0, "ndim": nd})


def Padding(dim: int, pad: int, n_input_dim: int | None = None, value: float = 0, index: int = 0) -> Module:
    """Adds ``|pad|`` entries equal to ``value`` along ``dim``: on the left if ``pad < 0``,
    on the right if ``pad > 0``.

    Args:
      dim: the dim (0-based; a negative dim counts from the end).
      pad: how many entries; the sign picks the side.
      n_input_dim: the rank of one example. torch7's rule: a non-negative ``dim`` is
        shifted by one whenever the input's rank differs from ``n_input_dim`` (any mismatch).
      value: the fill value.
      index: the offset of the padding, counted from the side ``pad`` picks: ``index=0``
        pads at that end, ``index=k`` leaves ``k`` input entries between the end and the padding.

    Shape contract: the input's shape with ``dim`` grown by ``|pad|``.
    Deviation: 0-based ``dim`` and ``index`` (torch7's ``index=1`` is fnn's ``index=0``).

    >>> import jax.numpy as jnp, fnn
    >>> x = jnp.array([1.0, 2.0, 3.0])
    >>> fnn.Padding(0, -2).apply((), x), fnn.Padding(0, 1, index=1).apply((), x)
    (Array([0., 0., 1., 2., 3.], dtype=float32), Array([1., 2., 0., 3.], dtype=float32))
    """
    d0 = int_arg("nn.Padding", "dim", dim)
    pd = int_arg("nn.Padding", "pad", pad)
    nid = opt_int_arg("nn.Padding", "n_input_dim", n_input_dim, minimum=0)
    idx = int_arg("nn.Padding", "index", index, minimum=0)
    val = check_number("nn.Padding", "value", value)

    def resolve(shape):
        rank = len(shape)
        d = d0 + rank if d0 < 0 else d0 + (1 if nid is not None and rank != nid else 0)
        if not 0 <= d < rank:
            raise ShapeError(f"dim {d0} is out of range for input {format_shape(shape)}")
        size = shape[d]
        if size != -1 and idx > size:
            raise ShapeError(f"index {idx} is beyond dim {d} of size {size} (input {format_shape(shape)})")
        return d, (idx if pd < 0 else size - idx)

    def check(shape, dtype):
        expect_array(shape)
        resolve(shape)

    def forward(p, x, *, rng, train):
        d, at = resolve(x.shape)
        filler = jnp.full(x.shape[:d] + (abs(pd),) + x.shape[d + 1 :], val, dtype=x.dtype)
        before = jax.lax.slice_in_dim(x, 0, at, axis=d)
        after = jax.lax.slice_in_dim(x, at, x.shape[d], axis=d)
        return jnp.concatenate([before, filler, after], axis=d)

    return leaf("nn.Padding", forward, kind="Padding", check=check, float_input=False,
                config={"dim": d0, "pad": pd, "n_input_dim": nid, "value": val, "index": idx})


__all__ = ["CMul", "CAdd", "Add", "Mul", "MulConstant", "AddConstant", "Identity", "Replicate", "Padding"]
