"""oneDNN's CPU convolutions, called through ``ctypes``: the library, and one plan per convolution shape.

XLA:CPU runs convolutions on Eigen or YNNPACK, 1.1-2x slower than oneDNN's JIT kernels (which
PyTorch's CPU convolutions run on); the jaxlib wheel contains oneDNN but cannot route convolutions
to it (bench/HISTORY.md, "Round 2"). This module binds ``libdnnl`` from the ``onednn-cpu-gomp``
wheel (a dependency of fnn on x86-64 Linux) through its C API, with no compiled code of fnn's own.

A :class:`ConvPlan` holds, for one convolution geometry, oneDNN's three primitives -- forward,
backward data (the input gradient), backward weights. The images (input, output and their
gradients) are exchanged with XLA channels-last (``nhwc``: oneDNN's fastest layout, which the
custom call asks XLA for, so oneDNN reads and writes them in place); the weights are plain OIHW, reordered
into the blocked format oneDNN chose (``format_tag_any``) before each call -- a few kilobytes. With
oneDNN choosing every layout (blocked ``nChw16c`` images, as PyTorch's ``mkldnn_convolution`` does)
the reorders around each call cost 20-60 % more (bench/HISTORY.md, round 2, ninth pass).
:func:`plan` builds a plan once per geometry; :meth:`ConvPlan.run` runs one of its operations on
raw buffer addresses, under one lock: XLA may call two convolutions at once from its two threads,
and a plan's intermediate buffers, like the cores oneDNN's OpenMP team runs on, are shared.

Nothing here calls JAX; ``_onednn_conv.py`` makes the plans a JAX primitive.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import threading
from collections.abc import Callable, Sequence
from ctypes import POINTER, byref, c_char_p, c_float, c_int, c_int64, c_size_t, c_uint, c_void_p
from typing import Any, NamedTuple

from ._toeplitz import _out

# The library's file: FNN_ONEDNN_LIBRARY, else the onednn-cpu-gomp wheel's (installed under the
# environment's prefix, lib/), else the dynamic loader's search path.
_LIBRARY_ENV = "FNN_ONEDNN_LIBRARY"
_MAX_NDIMS = 12  # DNNL_MAX_NDIMS: every dnnl_dims_t is an int64[12]
_Dims = c_int64 * _MAX_NDIMS
_ALLOCATE = c_void_p(ctypes.c_size_t(-1).value)  # DNNL_MEMORY_ALLOCATE: the library owns the buffer

# C API constants (oneapi/dnnl/dnnl_types.h, oneDNN v3).
_CPU = 1  # dnnl_cpu
_IN_ORDER = 1  # dnnl_stream_in_order
_F32 = 3  # dnnl_f32
_FORMAT_ANY = 1  # dnnl_format_tag_any
_FORWARD_TRAINING = 64  # dnnl_forward_training
_CONVOLUTION_DIRECT = 1  # dnnl_convolution_direct
_QUERY_IMPL_INFO = 8  # dnnl_query_impl_info_str
_QUERY = {"src": 129, "diff_src": 130, "weights": 131, "diff_weights": 132, "dst": 133, "diff_dst": 134}
# DNNL_ARG_*: how a primitive's execute call names each buffer (convolutions and batch normalization).
_ARG = {"src": 1, "dst": 17, "weights": 33, "mean": 49, "variance": 50, "scale": 51, "shift": 52, "diff_src": 129,
        "diff_dst": 145, "diff_weights": 161, "diff_scale": 255, "diff_shift": 256}  # fmt: skip

# The three operations of a plan: their operands and result, by oneDNN argument name.
OPS = {
    "forward": (("src", "weights"), "dst"),
    "backward_data": (("diff_dst", "weights"), "diff_src"),
    "backward_weights": (("src", "diff_dst"), "diff_weights"),
}


class OneDNNError(RuntimeError):
    """A oneDNN call failed (its status code is in the message)."""


class _ExecArg(ctypes.Structure):
    _fields_ = [("arg", c_int), ("memory", c_void_p)]


def _find_library() -> str | None:
    files = [os.environ.get(_LIBRARY_ENV), os.path.join(sys.prefix, "lib", "libdnnl.so.3")]
    found = next((path for path in files if path and os.path.exists(path)), None)
    return found or ctypes.util.find_library("dnnl")  # a bare name ("libdnnl.so.3") the loader resolves


class _Library:
    """``libdnnl``'s C functions with their signatures, one CPU engine and one in-order stream."""

    def __init__(self, path: str) -> None:
        lib = ctypes.CDLL(path)  # CDLL releases the GIL during each call
        p, pp = c_void_p, POINTER(c_void_p)
        signatures = {
            "dnnl_engine_create": (pp, c_int, c_size_t),
            "dnnl_stream_create": (pp, p, c_uint),
            "dnnl_stream_wait": (p,),
            "dnnl_memory_desc_create_with_tag": (pp, c_int, _Dims, c_int, c_int),
            "dnnl_memory_desc_create_with_strides": (pp, c_int, _Dims, c_int, _Dims),
            "dnnl_memory_desc_equal": (p, p),
            "dnnl_memory_create": (pp, p, p, p),
            "dnnl_memory_set_data_handle": (p, p),
            "dnnl_primitive_desc_query_md": (p, c_int, c_int),
            "dnnl_primitive_desc_query": (p, c_int, c_int, p),
            "dnnl_primitive_create": (pp, p),
            "dnnl_primitive_execute": (p, p, c_int, POINTER(_ExecArg)),
            "dnnl_reorder_primitive_desc_create": (pp, p, p, p, p, p),
            "dnnl_convolution_forward_primitive_desc_create":
                (pp, p, c_int, c_int, p, p, p, p, _Dims, _Dims, _Dims, _Dims, p),
            "dnnl_convolution_backward_data_primitive_desc_create":
                (pp, p, c_int, p, p, p, _Dims, _Dims, _Dims, _Dims, p, p),
            "dnnl_convolution_backward_weights_primitive_desc_create":
                (pp, p, c_int, p, p, p, p, _Dims, _Dims, _Dims, _Dims, p, p),
            "dnnl_batch_normalization_forward_primitive_desc_create": (pp, p, c_int, p, p, c_float, c_uint, p),
            "dnnl_batch_normalization_backward_primitive_desc_create":
                (pp, p, c_int, p, p, p, c_float, c_uint, p, p),
        }  # fmt: skip
        for name, argtypes in signatures.items():
            fn = getattr(lib, name)
            fn.argtypes = argtypes
            fn.restype = c_int  # dnnl_status_t
        lib.dnnl_primitive_desc_query_md.restype = c_void_p
        self.lib = lib
        self.engine, self.stream = c_void_p(), c_void_p()
        self.check(lib.dnnl_engine_create(byref(self.engine), _CPU, 0), "creating the CPU engine")
        self.check(lib.dnnl_stream_create(byref(self.stream), self.engine, _IN_ORDER), "creating a stream")

    @staticmethod
    def check(status: int, what: str) -> None:
        if status != 0:
            raise OneDNNError(f"oneDNN: {what} failed with status {status}")

    def desc(self, shape: Sequence[int], layout: str) -> c_void_p:
        """A float32 memory descriptor of NCHW/OIHW ``shape`` (any rank): stored ``"plain"`` (row-major),
        ``"nhwc"`` (channels fastest: dim 1 innermost), or ``"any"`` (for the primitive to choose)."""
        md, dims = c_void_p(), _Dims(*shape)
        if layout == "any":
            status = self.lib.dnnl_memory_desc_create_with_tag(byref(md), len(shape), dims, _F32, _FORMAT_ANY)
        else:
            strides, step = [0] * len(shape), 1
            for axis in reversed(dim_order(layout, len(shape))):
                strides[axis], step = step, step * shape[axis]
            status = self.lib.dnnl_memory_desc_create_with_strides(byref(md), len(shape), dims, _F32, _Dims(*strides))
        self.check(status, f"describing a {layout} {tuple(shape)} array")
        return md

    def memory(self, md: c_void_p | int, handle: c_void_p | None = _ALLOCATE) -> c_void_p:
        mem = c_void_p()
        self.check(self.lib.dnnl_memory_create(byref(mem), md, self.engine, handle), "creating a memory object")
        return mem

    def primitive(self, pd: c_void_p) -> c_void_p:
        prim = c_void_p()
        self.check(self.lib.dnnl_primitive_create(byref(prim), pd), "creating a primitive")
        return prim

    def reorder(self, src_md: c_void_p | int, dst_md: c_void_p | int) -> c_void_p | None:
        """A reorder primitive between two layouts of one array, or None when they are the same."""
        if self.lib.dnnl_memory_desc_equal(src_md, dst_md):
            return None
        pd = c_void_p()
        self.check(self.lib.dnnl_reorder_primitive_desc_create(byref(pd), src_md, self.engine, dst_md, self.engine,
                                                               None), "creating a reorder")  # fmt: skip
        return self.primitive(pd)

    def implementation(self, pd: c_void_p) -> str:
        name = c_char_p()
        self.check(self.lib.dnnl_primitive_desc_query(pd, _QUERY_IMPL_INFO, 0, byref(name)), "querying a primitive")
        return (name.value or b"").decode()

    def execute(self, prim: c_void_p, args: Sequence[tuple[int, c_void_p]]) -> None:
        array = (_ExecArg * len(args))(*(_ExecArg(a, m) for a, m in args))
        self.check(self.lib.dnnl_primitive_execute(prim, self.stream, len(args), array), "executing a primitive")


@functools.cache
def library() -> _Library | None:
    """The loaded oneDNN library, or None where it is not installed (or ``FNN_ONEDNN=0``)."""
    if os.environ.get("FNN_ONEDNN", "1") == "0" or not sys.platform.startswith("linux"):
        return None
    path = _find_library()
    if path is None:
        return None
    try:
        return _Library(path)
    except (OSError, AttributeError, OneDNNError):  # a library without the v3 C API, or no CPU engine
        return None


class Geometry(NamedTuple):
    """One 2-D convolution: NCHW input, OIHW weights, per-side padding, 1-based dilation."""

    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    stride: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    dilation: tuple[int, int]

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        (n, _, h, w), (o, _, kh, kw) = self.x_shape, self.w_shape
        (ph, pw), (dh, dw), (sh, sw) = self.padding, self.dilation, self.stride
        return n, o, _out(h + sum(ph), kh, sh, dh), _out(w + sum(pw), kw, sw, dw)

    def shape_of(self, arg: str) -> tuple[int, ...]:
        return {"src": self.x_shape, "diff_src": self.x_shape, "weights": self.w_shape,
                "diff_weights": self.w_shape, "dst": self.y_shape, "diff_dst": self.y_shape}[arg]  # fmt: skip


def dim_order(layout: str, ndim: int) -> tuple[int, ...]:
    """The dims of a ``"plain"`` (row-major) or ``"nhwc"`` (dim 1 innermost) array, outermost first."""
    return tuple(range(ndim)) if layout == "plain" else (0, *range(2, ndim), 1)


def xla_layout(layout: str, ndim: int) -> tuple[int, ...]:
    """The same order minor-to-major, as XLA's custom calls take operand and result layouts."""
    return dim_order(layout, ndim)[::-1]


def layout_of(arg: str) -> str:
    """How XLA stores an operand or result: images channels-last (``"nhwc"``, oneDNN's fastest and
    batch norm's), weights ``"plain"`` OIHW."""
    return "plain" if arg in ("weights", "diff_weights") else "nhwc"


class _Operation(NamedTuple):
    primitive: c_void_p
    # per operand: the memory holding XLA's buffer, the reorder into the primitive's layout (or None)
    # and the memory the primitive reads (the same memory when there is no reorder)
    inputs: tuple[tuple[c_void_p, c_void_p | None, c_void_p], ...]
    output: tuple[c_void_p, c_void_p | None, c_void_p]  # XLA's buffer, the reorder from the primitive's, its memory
    args: tuple[tuple[int, c_void_p], ...]
    implementation: str


class ConvPlan:
    """oneDNN's forward, backward-data and backward-weights primitives for one :class:`Geometry`."""

    def __init__(self, lib: _Library, g: Geometry) -> None:
        self.lib, self.geometry = lib, g
        strides, dilates = _Dims(*g.stride), _Dims(*(d - 1 for d in g.dilation))  # oneDNN's dilation is 0-based
        pad_l, pad_r = _Dims(g.padding[0][0], g.padding[1][0]), _Dims(g.padding[0][1], g.padding[1][1])
        x_any, w_any, y_any = lib.desc(g.x_shape, "nhwc"), lib.desc(g.w_shape, "any"), lib.desc(g.y_shape, "nhwc")
        geometry = (strides, dilates, pad_l, pad_r)
        fwd, bwd_data, bwd_weights = c_void_p(), c_void_p(), c_void_p()
        lib.check(lib.lib.dnnl_convolution_forward_primitive_desc_create(
            byref(fwd), lib.engine, _FORWARD_TRAINING, _CONVOLUTION_DIRECT, x_any, w_any, None, y_any, *geometry, None),
            f"creating the forward convolution for {g}")  # fmt: skip
        lib.check(lib.lib.dnnl_convolution_backward_data_primitive_desc_create(
            byref(bwd_data), lib.engine, _CONVOLUTION_DIRECT, x_any, w_any, y_any, *geometry, fwd, None),
            f"creating the backward-data convolution for {g}")  # fmt: skip
        lib.check(lib.lib.dnnl_convolution_backward_weights_primitive_desc_create(
            byref(bwd_weights), lib.engine, _CONVOLUTION_DIRECT, x_any, w_any, None, y_any, *geometry, fwd, None),
            f"creating the backward-weights convolution for {g}")  # fmt: skip
        self.ops = {name: self._operation(pd, *OPS[name]) for name, pd in
                    (("forward", fwd), ("backward_data", bwd_data), ("backward_weights", bwd_weights))}  # fmt: skip

    def _operation(self, pd: c_void_p, inputs: Sequence[str], output: str) -> _Operation:
        staged = tuple(self._stage(pd, name, into_primitive=True) for name in inputs)
        result = self._stage(pd, output, into_primitive=False)
        args = tuple((_ARG[name], own) for name, (_, _, own) in zip((*inputs, output), (*staged, result), strict=True))
        return _Operation(self.lib.primitive(pd), staged, result, args, self.lib.implementation(pd))

    def _stage(self, pd: c_void_p, name: str, *, into_primitive: bool) -> tuple[c_void_p, c_void_p | None, c_void_p]:
        """The memory for XLA's buffer of ``name``, the reorder between it and the layout the primitive
        chose (into the primitive for an operand, out of it for the result; None when they agree), and
        the memory the primitive uses."""
        lib = self.lib
        chosen = lib.lib.dnnl_primitive_desc_query_md(pd, _QUERY[name], 0)
        user_md = lib.desc(self.geometry.shape_of(name), layout_of(name))
        reorder = lib.reorder(user_md, chosen) if into_primitive else lib.reorder(chosen, user_md)
        user = lib.memory(user_md, handle=None)
        return user, reorder, user if reorder is None else lib.memory(chosen)

    def run(self, op: str, out: int, inputs: Sequence[int]) -> None:
        """Runs ``op`` (a key of :data:`OPS`) from the buffers at addresses ``inputs`` into ``out``."""
        lib, operation = self.lib, self.ops[op]
        with _LOCK:
            for (user, reorder, own), address in zip(operation.inputs, inputs, strict=True):
                lib.check(lib.lib.dnnl_memory_set_data_handle(user, address), "setting an input")
                if reorder is not None:
                    lib.execute(reorder, ((_ARG["src"], user), (_ARG["dst"], own)))
            user, reorder, own = operation.output
            lib.check(lib.lib.dnnl_memory_set_data_handle(user, out), "setting the output")
            lib.execute(operation.primitive, operation.args)
            if reorder is not None:
                lib.execute(reorder, ((_ARG["src"], own), (_ARG["dst"], user)))
            lib.check(lib.lib.dnnl_stream_wait(lib.stream), "waiting for the stream")


_LOCK = threading.Lock()
_PLANS: dict[tuple[Callable, Any], Any] = {}  # (plan class, geometry) -> plan: convolutions' and batch norms'


def cached_plan(g: Any, build: Callable[[_Library, Any], Any]) -> Any:
    """``build(library, g)``, built on first use and kept (raises :class:`OneDNNError` where oneDNN is missing)."""
    found = _PLANS.get((build, g))
    if found is None:
        lib = library()
        if lib is None:
            raise OneDNNError("oneDNN is not installed: pip install onednn-cpu-gomp")
        with _LOCK:
            found = _PLANS.setdefault((build, g), build(lib, g))
    return found


def plan(g: Geometry) -> ConvPlan:
    """The convolution plan for ``g``, built on first use (raises :class:`OneDNNError` where oneDNN is missing)."""
    return cached_plan(g, ConvPlan)
