"""A 2-D convolution on oneDNN's CPU kernels, as a JAX primitive that every transformation understands.

``onednn_conv`` is one primitive with three operations (``op``): ``forward(x, w) -> y``,
``backward_data(dy, w) -> dx`` and ``backward_weights(x, dy) -> dw``, each bilinear in its two
operands and each the adjoint of another in one operand, so the three are closed under
differentiation -- as ``lax.conv_general_dilated`` is under its own transposes:

==================  ==========================  ============================
``op(a, b)``        transposed in ``a``         transposed in ``b``
==================  ==========================  ============================
forward(x, w)       backward_data(ct, w)        backward_weights(x, ct)
backward_data(dy,w) forward(ct, w)              backward_weights(ct, dy)
backward_weights    backward_data(dy, ct)       forward(x, ct)
==================  ==========================  ============================

So ``jax.grad``, ``jax.jvp``, ``jax.linearize`` and Hessians all run on oneDNN. Under ``vmap``,
a batch over the images only (``x`` or ``dy``) folds into oneDNN's batch; any other batching
(per-example weight gradients, stacked weights) runs XLA's convolution, vmapped. On CPU the
primitive lowers to an XLA FFI call into ``_onednn.py``'s plans (``_xla_ffi.py``); on any other
platform, to XLA's convolution.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from . import _onednn, _xla_ffi
from ._onednn import OPS, Geometry, layout_of, xla_layout

Array = jax.Array
Pair = tuple[int, int]

_TARGET = "fnn_onednn_conv"
# Where each op's result goes, by its operands: the other ops that transpose it (table above).
_TRANSPOSES = {
    "forward": (("backward_data", lambda ct, a, b: (ct, b)), ("backward_weights", lambda ct, a, b: (a, ct))),
    "backward_data": (("forward", lambda ct, a, b: (ct, b)), ("backward_weights", lambda ct, a, b: (ct, a))),
    "backward_weights": (("backward_data", lambda ct, a, b: (b, ct)), ("forward", lambda ct, a, b: (a, ct))),
}


def _reference(a: Array, b: Array, *, op: str, geometry: Geometry) -> Array:
    """``op`` with XLA's convolution (its own transposes for the gradients): other platforms, vmap."""
    conv = functools.partial(lax.conv_general_dilated, window_strides=geometry.stride, padding=geometry.padding,
                             rhs_dilation=geometry.dilation, dimension_numbers=("NCHW", "OIHW", "NCHW"))  # fmt: skip
    if op == "forward":
        return conv(a, b)
    if op == "backward_data":
        x = jax.ShapeDtypeStruct(geometry.x_shape, a.dtype)
        return jax.linear_transpose(lambda x: conv(x, b), x)(a)[0]
    w = jax.ShapeDtypeStruct(geometry.w_shape, a.dtype)
    return jax.linear_transpose(lambda w: conv(a, w), w)(b)[0]


onednn_conv_p = Primitive("fnn_onednn_conv")
onednn_conv_p.def_impl(functools.partial(jax.jit, static_argnames=("op", "geometry"))(
    lambda a, b, *, op, geometry: onednn_conv_p.bind(a, b, op=op, geometry=geometry)))  # fmt: skip


def _abstract_eval(a: Any, b: Any, *, op: str, geometry: Geometry) -> jax.core.ShapedArray:
    (first, second), result = OPS[op]
    for name, aval in ((first, a), (second, b)):
        if aval.shape != geometry.shape_of(name) or aval.dtype != jnp.float32:
            raise TypeError(f"onednn_conv {op}: {name} must be float32{list(geometry.shape_of(name))}, "
                            f"got {aval.dtype}{list(aval.shape)}")  # fmt: skip
    return jax.core.ShapedArray(geometry.shape_of(result), jnp.float32)


onednn_conv_p.def_abstract_eval(_abstract_eval)


def _transpose_rule(side: int) -> Any:
    def rule(ct: Array, a: Any, b: Any, *, op: str, geometry: Geometry) -> Array:
        to, operands = _TRANSPOSES[op][side]
        return onednn_conv_p.bind(*operands(ct, a, b), op=to, geometry=geometry)

    return rule


ad.defbilinear(onednn_conv_p, _transpose_rule(0), _transpose_rule(1))


def _batch(args: tuple[Array, Array], dims: tuple[Any, Any], *, op: str, geometry: Geometry) -> tuple[Array, int]:
    (a, b), (da, db) = args, dims
    images_only = op in ("forward", "backward_data") and db is None
    if images_only:  # fold the vmapped axis into the images: one oneDNN call
        a = jnp.moveaxis(a, da, 0)
        v, n = a.shape[0], a.shape[1]
        folded = geometry._replace(x_shape=(v * n, *geometry.x_shape[1:]))
        y = onednn_conv_p.bind(a.reshape(v * n, *a.shape[2:]), b, op=op, geometry=folded)
        return y.reshape(v, n, *y.shape[1:]), 0
    size = next(x.shape[d] for x, d in zip(args, dims, strict=True) if d is not None)
    a, b = (batching.bdim_at_front(x, d, size) for x, d in zip(args, dims, strict=True))
    return jax.vmap(functools.partial(_reference, op=op, geometry=geometry))(a, b), 0


batching.primitive_batchers[onednn_conv_p] = _batch


def _key(op: str, g: Geometry) -> str:
    """The FFI call's attribute: the op and every number of its geometry ("forward;128,16,32,32;...")."""
    numbers = (g.x_shape, g.w_shape, g.stride, (*g.padding[0], *g.padding[1]), g.dilation)
    return ";".join([op, *(",".join(map(str, group)) for group in numbers)])


@functools.cache
def _parse(key: bytes) -> tuple[str, Geometry]:
    op, *groups = key.decode().split(";")
    x, w, stride, pads, dilation = (tuple(int(v) for v in group.split(",")) for group in groups)
    return op, Geometry(x, w, stride, (pads[:2], pads[2:]), dilation)


def _run(key: bytes, inputs: Any, outputs: Any) -> None:
    op, geometry = _parse(key)
    _onednn.plan(geometry).run(op, outputs[0], inputs)


def _layouts(ctx: Any, *, op: str, geometry: Geometry) -> tuple[list, list]:
    (first, second), result = OPS[op]
    return [xla_layout(layout_of(n), 4) for n in (first, second)], [xla_layout(layout_of(result), 4)]


_lower_reference = mlir.lower_fun(_reference, multiple_results=False)
mlir.register_lowering(onednn_conv_p, _lower_reference)
mlir.register_lowering(onednn_conv_p, _xla_ffi.cpu_lowering(_TARGET, _run, _lower_reference, _layouts,
                                                            lambda ctx, *, op, geometry: _key(op, geometry)),
                       platform="cpu")


def available() -> bool:
    """Whether oneDNN's library is installed and loads (``pip install onednn-cpu-gomp``; ``FNN_ONEDNN=0`` turns it off).

    >>> isinstance(available(), bool)
    True
    """
    return _onednn.library() is not None


def conv2d_onednn(x: Array, w: Array, stride: Pair = (1, 1), padding: tuple[Pair, Pair] = ((0, 0), (0, 0)),
                  dilation: Pair = (1, 1)) -> Array:
    """NCHW/OIHW 2-D cross-correlation on oneDNN (float32, one group, padding ≥ 0).

    The forward pass and both gradients run on oneDNN's CPU kernels (through XLA's FFI); every JAX
    transformation applies (see the module docstring). On a platform other than CPU it lowers to
    ``lax.conv_general_dilated``.

    Args:
      x: ``(B, C, H, W)`` float32.
      w: ``(O, C, kh, kw)`` float32.
      stride: ``(sh, sw)``.
      padding: ``((top, bottom), (left, right))``, each ≥ 0.
      dilation: ``(dh, dw)`` (1: none).

    Returns:
      ``(B, O, H', W')``: ``lax.conv_general_dilated``'s result up to float32 rounding.

    Raises:
      TypeError: the shapes, dtypes or padding do not fit (a message naming them).

    >>> import jax.numpy as jnp
    >>> y = conv2d_onednn(jnp.ones((2, 1, 5, 5)), jnp.ones((3, 1, 3, 3)))
    >>> y.shape, float(y[0, 0, 0, 0])
    ((2, 3, 3, 3), 9.0)
    """
    x, w = jnp.asarray(x), jnp.asarray(w)
    reason = unsupported(x, w, stride, padding, dilation)
    if reason is not None:
        raise TypeError(f"conv2d_onednn: {reason}")
    geometry = Geometry(tuple(x.shape), tuple(w.shape), tuple(stride), tuple(map(tuple, padding)), tuple(dilation))
    return onednn_conv_p.bind(x, w, op="forward", geometry=geometry)


def unsupported(x: Any, w: Any, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair) -> str | None:
    """Why oneDNN cannot run this convolution (shapes, dtypes, padding, or an empty output), or None
    where it can: the one check behind :func:`conv2d_onednn`'s errors and the dispatch's choice."""
    if not all(isinstance(n, int) for n in (*x.shape, *w.shape)):
        return f"shapes must be static (not jax.export's symbolic sizes), got {x.shape} and {w.shape}"
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        return f"expected x (B, C, H, W) and w (O, C, kh, kw), got {x.shape} and {w.shape}"
    if x.dtype != jnp.float32 or w.dtype != jnp.float32:
        return f"oneDNN convolves float32, got {x.dtype} and {w.dtype}"
    if min(v for pair in padding for v in pair) < 0:
        return f"padding must be >= 0, got {padding}"
    geometry = Geometry(tuple(x.shape), tuple(w.shape), tuple(stride), tuple(map(tuple, padding)), tuple(dilation))
    if min(geometry.y_shape) <= 0:
        return f"a {x.shape} input and {w.shape} kernel give no output ({geometry})"
    return None
