"""Batch normalization in training on oneDNN's CPU kernels, as JAX primitives every transformation understands.

XLA:CPU reduces a channels-last activation over its batch and spatial dims by first copying it
row-major, for the statistics and again for the gradients. oneDNN's batch normalization reads the
convolutions' channels-last output in place: on channels-last buffers its forward pass with the
gradients takes 0.13-0.19x XLA's time at ResNet-20's shapes. In ResNet-20's train step the copies
and reductions go, but the ReLUs XLA had fused into them become passes of their own: the step's
kernel time stays the same and its wall time is 0.99-1.08x (two cores), and as a layer on a
row-major NCHW array, which XLA transposes for the call, it is slower. So the batch-norm layers take
it only inside ``fnn.kernels.implementation("onednn")`` (:func:`fnn.kernels.use_onednn_norm`;
bench/HISTORY.md, round 2, tenth pass).

Three primitives, each on ``(N, C, *spatial)`` images XLA stores channels-last and ``(C,)`` vectors:

* ``forward(x, w, b) -> (y, mean, var)``: ``y = (x - mean) / sqrt(var + eps) * w + b`` with the
  batch statistics (``var`` biased) -- oneDNN's forward training pass;
* ``tangent(x, mean, var, w; tx, tw, tb) -> ty``: the forward pass's derivative, linear in
  ``(tx, tw, tb)``; it is what JAX transposes for reverse mode, and it runs as XLA ops (forward
  mode only evaluates it);
* ``backward(x, mean, var, w; ct) -> (dx, dw, db)``: the tangent map's transpose -- oneDNN's
  backward pass, which gives the input's, weight's and bias's gradients in one call.

``forward``'s JVP is ``tangent``, whose transpose is ``backward``: ``jax.grad`` runs on oneDNN both
ways. Every derivative beyond the first (Hessians, ``jax.jvp`` of a gradient) and every ``vmap`` runs
the primitives' pure-JAX reference forms, as does every platform other than CPU and every program
serialized with ``jax.export``.
"""

from __future__ import annotations

import functools
import math
from ctypes import byref, c_void_p
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from . import _onednn, _xla_ffi
from ._onednn import _ARG

Array = jax.Array

_TARGET = "fnn_onednn_norm"
_USE_SCALE_SHIFT = 0x2 | 0x4  # dnnl_use_scale | dnnl_use_shift
_BACKWARD = 128  # dnnl_backward: the input's gradient and the scale's and shift's
# The two oneDNN operations: their operands and results by oneDNN argument name, in the FFI call's order.
OPS = {
    "forward": (("src", "scale", "shift"), ("dst", "mean", "variance")),
    "backward": (("src", "mean", "variance", "scale", "diff_dst"), ("diff_src", "diff_scale", "diff_shift")),
}
_IMAGES = ("src", "dst", "diff_src", "diff_dst")


class NormGeometry(NamedTuple):
    """One batch normalization: the ``(N, C, *spatial)`` input's shape and ``eps``."""

    shape: tuple[int, ...]
    eps: float


class NormPlan:
    """oneDNN's forward-training and backward batch normalization for one :class:`NormGeometry`."""

    def __init__(self, lib: _onednn._Library, g: NormGeometry) -> None:
        self.lib = lib
        image, vector = lib.desc(g.shape, "nhwc"), lib.desc((g.shape[1],), "plain")
        fwd, bwd = c_void_p(), c_void_p()
        lib.check(lib.lib.dnnl_batch_normalization_forward_primitive_desc_create(
            byref(fwd), lib.engine, _onednn._FORWARD_TRAINING, image, image, g.eps, _USE_SCALE_SHIFT, None),
            f"creating the forward batch normalization for {g}")  # fmt: skip
        lib.check(lib.lib.dnnl_batch_normalization_backward_primitive_desc_create(
            byref(bwd), lib.engine, _BACKWARD, image, image, image, g.eps, _USE_SCALE_SHIFT, fwd, None),
            f"creating the backward batch normalization for {g}")  # fmt: skip
        self.ops = {}
        for name, pd in (("forward", fwd), ("backward", bwd)):
            args = [a for group in OPS[name] for a in group]
            memories = [lib.memory(image if a in _IMAGES else vector, handle=None) for a in args]
            self.ops[name] = (lib.primitive(pd), memories, [(_ARG[a], m) for a, m in zip(args, memories, strict=True)])

    def run(self, op: str, inputs: Any, outputs: Any) -> None:
        """Runs ``op`` (a key of :data:`OPS`) from the buffers at addresses ``inputs`` into ``outputs``."""
        lib, (primitive, memories, args) = self.lib, self.ops[op]
        with _onednn._LOCK:  # the memories are the plan's, and oneDNN's threads are shared
            for memory, address in zip(memories, (*inputs, *outputs), strict=True):
                lib.check(lib.lib.dnnl_memory_set_data_handle(memory, address), "setting a buffer")
            lib.execute(primitive, args)
            lib.check(lib.lib.dnnl_stream_wait(lib.stream), "waiting for the stream")


def plan(g: NormGeometry) -> NormPlan:
    """The plan for ``g``, built on first use (raises :class:`OneDNNError` where oneDNN is missing)."""
    return _onednn.cached_plan(g, NormPlan)


# --------------------------------------------------------------------------- reference forms
def _channel(v: Array, ndim: int) -> Array:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _axes(ndim: int) -> tuple[int, ...]:
    return (0, *range(2, ndim))


def _normalized(x: Array, mean: Array, var: Array, eps: float) -> Array:
    return (x - _channel(mean, x.ndim)) * _channel(lax.rsqrt(var + eps), x.ndim)


def _forward_ref(x: Array, w: Array, b: Array, *, eps: float) -> tuple[Array, Array, Array]:
    axes = _axes(x.ndim)
    mean = jnp.mean(x, axes)
    var = jnp.mean(jnp.square(x - _channel(mean, x.ndim)), axes)
    return _normalized(x, mean, var, eps) * _channel(w, x.ndim) + _channel(b, x.ndim), mean, var


def _tangent_ref(x: Array, mean: Array, var: Array, w: Array, tx: Array, tw: Array, tb: Array, *, eps: float) -> Array:
    axes, xhat = _axes(x.ndim), _normalized(x, mean, var, eps)
    m1, m2 = jnp.mean(tx, axes), jnp.mean(xhat * tx, axes)  # d mean / sqrt(var), d var / (2 sqrt(var))
    scale = _channel(w * lax.rsqrt(var + eps), x.ndim)
    return (
        scale * (tx - _channel(m1, x.ndim) - xhat * _channel(m2, x.ndim))
        + xhat * _channel(tw, x.ndim)
        + _channel(tb, x.ndim)
    )


def _backward_ref(x: Array, mean: Array, var: Array, w: Array, ct: Array, *, eps: float) -> tuple[Array, Array, Array]:
    axes, xhat = _axes(x.ndim), _normalized(x, mean, var, eps)
    dw, db = jnp.sum(ct * xhat, axes), jnp.sum(ct, axes)
    n = math.prod(x.shape[a] for a in axes)
    scale = _channel(w * lax.rsqrt(var + eps), x.ndim)
    return scale * (ct - _channel(db / n, x.ndim) - xhat * _channel(dw / n, x.ndim)), dw, db


# --------------------------------------------------------------------------- the primitives
def _jitted_impl(p: Primitive) -> Any:
    return functools.partial(jax.jit, static_argnames=("eps",))(lambda *args, eps: p.bind(*args, eps=eps))


forward_p = Primitive("fnn_onednn_norm_forward")
tangent_p = Primitive("fnn_onednn_norm_tangent")
backward_p = Primitive("fnn_onednn_norm_backward")
forward_p.multiple_results = backward_p.multiple_results = True
_REFERENCE = {forward_p: _forward_ref, tangent_p: _tangent_ref, backward_p: _backward_ref}


def _abstract_eval(p: Primitive) -> Any:
    def rule(x: Any, *rest: Any, eps: float) -> Any:
        image, vector = jax.core.ShapedArray(x.shape, x.dtype), jax.core.ShapedArray(x.shape[1:2], x.dtype)
        for aval in (x, *rest):
            expected = x.shape if aval.ndim == x.ndim else x.shape[1:2]
            if aval.dtype != jnp.float32 or aval.shape != expected:
                raise TypeError(f"{p.name}: expected float32 {list(x.shape)} images and {list(x.shape[1:2])} "
                                f"vectors, got {aval.dtype}{list(aval.shape)}")  # fmt: skip
        return image if p is tangent_p else (image, vector, vector)

    return rule


def _reference_jvp(p: Primitive) -> Any:
    """A JVP from the reference form: the second and higher derivatives run as XLA ops."""

    def rule(primals: tuple, tangents: tuple, *, eps: float) -> tuple:
        tangents = tuple(ad.instantiate_zeros(t) for t in tangents)
        return jax.jvp(functools.partial(_REFERENCE[p], eps=eps), primals, tangents)

    return rule


def _batch(p: Primitive) -> Any:
    """Under ``vmap`` each instance has its own statistics: the reference form, vmapped."""

    def rule(args: tuple, dims: tuple, *, eps: float) -> tuple:
        size = next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)
        args = [batching.bdim_at_front(a, d, size) for a, d in zip(args, dims, strict=True)]
        out = jax.vmap(functools.partial(_REFERENCE[p], eps=eps))(*args)
        return out, ([0] * len(out) if p.multiple_results else 0)

    return rule


def _forward_jvp(primals: tuple, tangents: tuple, *, eps: float) -> tuple:
    (x, w, b), (tx, tw, tb) = primals, tuple(ad.instantiate_zeros(t) for t in tangents)
    y, mean, var = forward_p.bind(x, w, b, eps=eps)
    axes = _axes(x.ndim)
    t_mean, t_var = jnp.mean(tx, axes), 2 * jnp.mean((x - _channel(mean, x.ndim)) * tx, axes)
    return (y, mean, var), (tangent_p.bind(x, mean, var, w, tx, tw, tb, eps=eps), t_mean, t_var)


def _tangent_transpose(
    ct: Any, x: Array, mean: Array, var: Array, w: Array, tx: Any, tw: Any, tb: Any, *, eps: float
) -> tuple:
    if any(ad.is_undefined_primal(v) for v in (x, mean, var, w)):
        raise NotImplementedError("fnn_onednn_norm_tangent is linear in its tangents only")
    if type(ct) is ad.Zero:
        return (None,) * 7
    grads = backward_p.bind(x, mean, var, w, ct, eps=eps)
    return (None,) * 4 + tuple(
        g if ad.is_undefined_primal(t) else None for g, t in zip(grads, (tx, tw, tb), strict=True)
    )


def _key(op: str, g: NormGeometry) -> str:
    """The FFI call's attribute: the op, the input's shape and eps ("forward;128,16,32,32;1e-05")."""
    return f"{op};{','.join(map(str, g.shape))};{g.eps!r}"


@functools.cache
def _parse(key: bytes) -> tuple[str, NormGeometry]:
    op, shape, eps = key.decode().split(";")
    return op, NormGeometry(tuple(int(v) for v in shape.split(",")), float(eps))


def _run(key: bytes, inputs: Any, outputs: Any) -> None:
    op, geometry = _parse(key)
    plan(geometry).run(op, inputs, outputs)


def _layouts(ctx: Any, *, eps: float) -> tuple[list, list]:
    """Images channels-last, ``(C,)`` vectors plain."""
    ndim = ctx.avals_in[0].ndim
    return tuple([_onednn.xla_layout("nhwc" if a.ndim == ndim else "plain", a.ndim) for a in avals]
                 for avals in (ctx.avals_in, ctx.avals_out))  # fmt: skip


def _lower_cpu(p: Primitive, op: str) -> Any:
    key = lambda ctx, *, eps: _key(op, NormGeometry(tuple(ctx.avals_in[0].shape), float(eps)))
    return _xla_ffi.cpu_lowering(_TARGET, _run, _LOWER_REFERENCE[p], _layouts, key)


_LOWER_REFERENCE = {p: mlir.lower_fun(ref, multiple_results=p.multiple_results) for p, ref in _REFERENCE.items()}
for _p in (forward_p, tangent_p, backward_p):
    _p.def_impl(_jitted_impl(_p))
    _p.def_abstract_eval(_abstract_eval(_p))
    batching.primitive_batchers[_p] = _batch(_p)
    mlir.register_lowering(_p, _LOWER_REFERENCE[_p])
ad.primitive_jvps[forward_p] = _forward_jvp
ad.primitive_jvps[tangent_p] = _reference_jvp(tangent_p)
ad.primitive_jvps[backward_p] = _reference_jvp(backward_p)
ad.primitive_transposes[tangent_p] = _tangent_transpose
mlir.register_lowering(forward_p, _lower_cpu(forward_p, "forward"), platform="cpu")
mlir.register_lowering(backward_p, _lower_cpu(backward_p, "backward"), platform="cpu")


def unsupported(x: Any) -> str | None:
    """Why oneDNN cannot normalise ``x`` (rank, dtype, symbolic or empty shape), or None where it can."""
    if not all(isinstance(n, int) for n in x.shape):
        return f"the shape must be static (not jax.export's symbolic sizes), got {x.shape}"
    if not 2 <= x.ndim <= 5 or min(x.shape) <= 0:
        return f"expected a non-empty (N, C, *spatial) input with 0-3 spatial dims, got {x.shape}"
    if x.dtype != jnp.float32:
        return f"oneDNN normalises float32, got {x.dtype}"
    return None


def batch_norm_onednn(x: Array, weight: Array, bias: Array, eps: float = 1e-5) -> tuple[Array, Array, Array]:
    """Batch normalization with the batch's statistics, on oneDNN (float32): ``(y, mean, var)``.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, the statistics over every dim but the
    channels (dim 1), ``var`` biased. ``jax.grad`` runs oneDNN's backward pass; forward mode, higher
    derivatives and ``vmap`` run the same arithmetic as XLA ops (see the module docstring), as does
    every platform other than CPU.

    Args:
      x: ``(N, C, *spatial)`` float32, 0-3 spatial dims.
      weight, bias: ``(C,)`` float32.
      eps: added to the variance inside the square root.

    Returns:
      ``y`` shaped like ``x``; ``mean`` and ``var``, ``(C,)``.

    Raises:
      TypeError: the shapes or dtypes do not fit (a message naming them).

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[[1.0, 3.0]], [[5.0, 7.0]]], jnp.float32)  # (N=2, C=1, L=2)
    >>> y, mean, var = batch_norm_onednn(x, jnp.ones(1, jnp.float32), jnp.zeros(1, jnp.float32))
    >>> mean.tolist(), var.tolist(), y[:, 0, 0].round(3).tolist()
    ([4.0], [5.0], [-1.342, 0.447])
    """
    x, weight, bias = jnp.asarray(x), jnp.asarray(weight), jnp.asarray(bias)
    reason = unsupported(x)
    if reason is None and (weight.shape != x.shape[1:2] or bias.shape != x.shape[1:2]):
        reason = f"weight and bias must be ({x.shape[1]},), got {weight.shape} and {bias.shape}"
    if reason is None and (weight.dtype != jnp.float32 or bias.dtype != jnp.float32):
        reason = f"weight and bias must be float32, got {weight.dtype} and {bias.dtype}"
    if reason is not None:
        raise TypeError(f"batch_norm_onednn: {reason}")
    return tuple(forward_p.bind(x, weight, bias, eps=float(eps)))
