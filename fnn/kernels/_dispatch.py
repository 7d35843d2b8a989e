"""Which form a convolution or a max pooling takes: the implementation context and the dispatch.

:func:`conv2d` and :func:`reduce_max` choose, when a call is traced, between XLA's own op and the CPU
forms of this package, by their ``impl=`` argument, else the innermost :func:`implementation` block
around the tracing, else ``"auto"``; ``"auto"`` takes a CPU form only on CPU
(``lax.platform_dependent``): oneDNN's convolutions where the library is installed and the
convolution fits it, else the pure-JAX forms for the shapes where they measured faster.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._chunked import CHUNK, chunk_size, conv2d_chunked
from ._max_pool import max_pool, use_max_taps
from ._onednn import Geometry
from ._onednn_conv import available as onednn_available
from ._onednn_conv import conv2d_onednn
from ._onednn_conv import unsupported as onednn_unsupported
from ._onednn_norm import unsupported as onednn_norm_unsupported
from ._toeplitz import _pads, _pair, conv2d_toeplitz, use_toeplitz

Array = jax.Array
Pair = tuple[int, int]

# The implementations conv2d and reduce_max choose between:
# "auto" -- the CPU forms where they win, on CPU only; "xla" -- XLA's own convolution and
# reduce_window everywhere (what fnn did before these kernels); "toeplitz" -- the banded GEMM and
# the max of taps wherever they apply, on any platform; "chunked" -- XLA's convolution with the
# weight gradient summed over batch chunks, on any platform (pooling as "auto"); "onednn" -- oneDNN's
# convolution (float32, one group; XLA's otherwise), its XLA lowering on other platforms (pooling as "auto"),
# and the batch-norm layers' training normalisation on oneDNN too (use_onednn_norm).
IMPLS = ("auto", "xla", "toeplitz", "chunked", "onednn")
# The default for calls traced in this context (thread, task), set by `implementation`.
_IMPL: contextvars.ContextVar[str] = contextvars.ContextVar("fnn.kernels.implementation", default="auto")


def _checked(fn: str, impl: str) -> str:
    if impl not in IMPLS:
        raise ValueError(f"{fn}: impl must be one of {', '.join(map(repr, IMPLS))}, got {impl!r}")
    return impl


@contextlib.contextmanager
def implementation(impl: str) -> Iterator[str]:
    """Sets the implementation :func:`conv2d` and :func:`reduce_max` use for calls traced inside the block.

    The choice is read when a call is *traced*. JAX caches the trace of a function
    (``jax.jit``, ``jax.make_jaxpr``) without looking at this setting, so wrap the first call
    of a jitted function: one traced before the block keeps the implementation it was traced
    with. An explicit ``impl=`` argument still wins. The setting is a :mod:`contextvars` variable:
    it is local to the thread (and asyncio task) that enters the block, is restored on exit,
    and blocks nest.

    Args:
      impl: ``"auto"`` (the CPU forms where they win, on CPU only), ``"xla"`` (XLA's own
        convolution and ``reduce_window`` everywhere), ``"toeplitz"`` (the banded GEMM and the
        max of taps wherever they apply, on any platform), ``"chunked"`` (every convolution
        with its weight gradient summed over batch chunks, on any platform; pooling as ``"auto"``)
        or ``"onednn"`` (oneDNN's convolution where it applies, see :func:`conv2d_onednn`,
        and the batch-norm layers' training normalisation, see :func:`use_onednn_norm`;
        pooling as ``"auto"``).

    Yields:
      ``impl``.

    Raises:
      ValueError: ``impl`` is not one of :data:`IMPLS`.

    >>> import jax, jax.numpy as jnp
    >>> x, w = jnp.zeros((1, 1, 8, 8)), jnp.zeros((2, 1, 3, 3))
    >>> with implementation("xla"):
    ...     jaxpr = jax.make_jaxpr(conv2d)(x, w)
    >>> "conv_general_dilated" in str(jaxpr), current_implementation()
    (True, 'auto')
    """
    token = _IMPL.set(_checked("implementation", impl))
    try:
        yield impl
    finally:
        _IMPL.reset(token)


def current_implementation() -> str:
    """The implementation that calls traced here and now take without ``impl=`` (see :func:`implementation`).

    >>> current_implementation()
    'auto'
    """
    return _IMPL.get()


def _batch_sharded(x: Array) -> bool:
    """Whether ``x``'s leading dim is sharded over a mesh axis in its type (an Explicit mesh; this module
    imports nothing from fnn, so it does not use ``fnn.core._sharded``)."""
    spec = getattr(getattr(jax.typeof(x), "sharding", None), "spec", None)
    return bool(spec) and spec[0] is not None


def _lax_conv(x: Array, w: Array, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair, groups: int) -> Array:
    return lax.conv_general_dilated(x, w, stride, padding, rhs_dilation=dilation,
                                    dimension_numbers=("NCHW", "OIHW", "NCHW"), feature_group_count=groups)


def _impl(fn: str, impl: str | None) -> str:
    # set on the package by code written for fnn 0.1, which would otherwise be ignored
    if "DEFAULT_IMPL" in vars(sys.modules["fnn.kernels"]):
        raise ValueError(f"{fn}: fnn.kernels.DEFAULT_IMPL is gone; use `with fnn.kernels.implementation(...)`")
    return _checked(fn, _IMPL.get() if impl is None else impl)


def conv2d(x: Array, w: Array, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
           *, impl: str | None = None) -> Array:
    """NCHW/OIHW 2-D cross-correlation: ``lax.conv_general_dilated``'s result, faster on CPU.

    With ``impl="auto"`` on CPU, a float32 convolution of one group runs on oneDNN
    (:func:`conv2d_onednn`, where :func:`use_onednn` says so: the library is installed);
    otherwise one with few input channels (:func:`use_toeplitz`) runs as the banded GEMM of
    :func:`conv2d_toeplitz`, and any other one whose batch and output are large enough
    (:func:`chunk_size`) as :func:`conv2d_chunked` (XLA's convolution, its weight gradient
    summed over batch chunks); the rest, and every convolution on GPU/TPU, as XLA's own.

    Args:
      x: ``(B, C, H, W)``.
      w: ``(O, C // groups, kh, kw)``.
      stride, padding, dilation: as in :func:`conv2d_toeplitz` (padding may be ``"VALID"``).
      groups: ``feature_group_count``.
      impl: ``"auto"``, ``"xla"``, ``"toeplitz"``, ``"chunked"`` or ``"onednn"`` (see :func:`implementation`);
        default :func:`current_implementation` (``"auto"`` outside any :func:`implementation`
        block), read when the call is traced.

    Returns:
      ``(B, O, H', W')``.

    >>> import jax, jax.numpy as jnp
    >>> x, w = jnp.ones((2, 1, 6, 6)), jnp.ones((3, 1, 3, 3))
    >>> conv2d(x, w).shape, float(conv2d(x, w)[0, 0, 0, 0])
    ((2, 3, 4, 4), 9.0)
    """
    impl = _impl("conv2d", impl)
    s, d = _pair(stride), _pair(dilation)
    p = ((0, 0), (0, 0)) if isinstance(padding, str) and padding.upper() == "VALID" else _pads(padding)
    xla = functools.partial(_lax_conv, stride=s, padding=p, dilation=d, groups=groups)
    if impl == "xla":
        return xla(x, w)
    if impl == "toeplitz":
        if groups != 1:
            raise ValueError("conv2d: the Toeplitz form takes one group; use impl='xla'")
        return conv2d_toeplitz(x, w, s, p, d)
    if impl == "chunked":
        return conv2d_chunked(x, w, s, p, d, groups, CHUNK)
    if impl == "onednn":
        return conv2d_onednn(x, w, s, p, d) if _onednn_fits(x, w, groups, s, p, d) else xla(x, w)
    if x.ndim != 4 or w.ndim != 4 or _batch_sharded(x):  # an Explicit mesh shards the batch the CPU forms split
        return xla(x, w)
    padded = min(v for pair in p for v in pair) >= 0
    if use_onednn(x, w, groups, p, s, d):
        cpu = functools.partial(conv2d_onednn, stride=s, padding=p, dilation=d)
    elif use_toeplitz(x.shape, w.shape, s, d, groups) and padded:
        cpu = functools.partial(conv2d_toeplitz, stride=s, padding=p, dilation=d)
    else:
        y = jax.eval_shape(xla, x, w)
        chunk = chunk_size(x.shape, y.shape[2:])
        if chunk is None:
            return xla(x, w)
        cpu = functools.partial(conv2d_chunked, stride=s, padding=p, dilation=d, groups=groups, chunk=chunk)
    return lax.platform_dependent(x, w, cpu=cpu, default=xla)


def _onednn_fits(x: Array, w: Array, groups: int, stride: Pair, padding: tuple[Pair, Pair], dilation: Pair) -> bool:
    return groups == 1 and onednn_unsupported(x, w, stride, padding, dilation) is None


# The fewest output pixels over the batch (B * H' * W', the rows of the convolution's GEMM) for which
# "auto" calls oneDNN: each call costs ~0.1 ms of its own (the FFI handler, the weights' reorder,
# waking oneDNN's threads), so below this XLA's or the pure-JAX forms finish first. A forward pass
# with both gradients (python -m bench.onednn_calls; bench/HISTORY.md, round 2, ninth pass): at batch 1
# and 64 channels at 8x8 (64 rows) oneDNN 0.85 ms against 0.24, LeNet's second convolution at
# batch 4 (400 rows) 0.80 against 0.48; from 1024 rows it is faster, or within 20 %.
ONEDNN_MIN_ROWS = 1024


def use_onednn(x: Array, w: Array, groups: int, padding: tuple[Pair, Pair], stride: Pair = (1, 1),
               dilation: Pair = (1, 1)) -> bool:
    """Whether ``"auto"`` runs a convolution on oneDNN (on CPU): float32, one group, padding ≥ 0, at
    least :data:`ONEDNN_MIN_ROWS` output pixels over the batch, and the library installed
    (:func:`onednn_available`).

    Per layer oneDNN's forward pass and input gradient take 0.45-0.75x the time of XLA's, its weight
    gradient 0.25-0.55x, and ResNet-20's and LeNet-5's train steps 0.74-0.77x the time they take on
    the pure-JAX forms (bench/HISTORY.md, round 2, ninth pass); it convolves float32 only, so float64
    keeps the pure-JAX forms, and small calls (batch 1 inference) keep them too.

    >>> import jax.numpy as jnp
    >>> x, w = jnp.zeros((16, 3, 8, 8)), jnp.zeros((4, 3, 3, 3))
    >>> use_onednn(x, w, 1, ((1, 1), (1, 1))) == onednn_available(), use_onednn(x, w, 1, ((-1, 0), (0, 0)))
    (True, False)
    >>> use_onednn(x[:1], w, 1, ((1, 1), (1, 1)))  # 64 output pixels: XLA's or the pure-JAX forms
    False
    """
    if not _onednn_fits(x, w, groups, stride, padding, dilation):
        return False
    n, _, oh, ow = Geometry(x.shape, w.shape, stride, padding, dilation).y_shape
    return n * oh * ow >= ONEDNN_MIN_ROWS and onednn_available()


def use_onednn_norm(x: Array) -> bool:
    """Whether a batch-norm layer in training normalises ``x`` on oneDNN (:func:`batch_norm_onednn`):
    inside ``implementation("onednn")``, for a float32 ``(N, C, *spatial)`` input, where the library is
    installed (:func:`onednn_available`). ``"auto"`` keeps XLA's normalisation: in ResNet-20's train
    step oneDNN's removes the layout copies around it, but the ReLUs XLA had fused into them become
    passes of their own; the kernel time stays the same and the step takes 0.99-1.08x the wall time
    on two cores (``python -m bench.step_variants --variants onednn``, ``python -m bench.step_profile
    --variant onednn``; bench/HISTORY.md, round 2, tenth pass).

    >>> import jax.numpy as jnp
    >>> x = jnp.zeros((8, 4, 5, 5))
    >>> use_onednn_norm(x)
    False
    >>> with implementation("onednn"):
    ...     use_onednn_norm(x) == onednn_available(), use_onednn_norm(x.astype(jnp.int32))
    (True, False)
    """
    if _impl("use_onednn_norm", None) != "onednn" or onednn_norm_unsupported(x) is not None or _batch_sharded(x):
        return False
    return onednn_available()


def reduce_max(x: Array, window: Sequence[int], strides: Sequence[int], padding: Sequence[Pair],
               *, impl: str | None = None) -> Array:
    """Max pooling dispatch: ``lax.reduce_window(x, -inf, lax.max, ...)``'s values and gradients, faster on CPU.

    Args:
      x: any array.
      window, strides: one entry per dim of ``x`` (1 for the dims not pooled).
      padding: ``(low, high)`` per dim of ``x``.
      impl: ``"auto"`` (:func:`max_pool` on CPU where :func:`use_max_taps` says so,
        ``reduce_window`` otherwise and on GPU/TPU), ``"xla"``, ``"toeplitz"`` (the
        taps wherever they apply) or ``"chunked"`` (as ``"auto"``); default
        :func:`current_implementation`, read when the call is traced.

    >>> import jax.numpy as jnp
    >>> x = jnp.arange(16.0).reshape(1, 1, 4, 4)
    >>> reduce_max(x, (1, 1, 2, 2), (1, 1, 2, 2), [(0, 0)] * 4)[0, 0]
    Array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    """
    impl = _impl("reduce_max", impl)
    impl = "auto" if impl == "chunked" else impl  # the chunked form is a convolution's
    window, strides = tuple(int(k) for k in window), tuple(int(s) for s in strides)
    padding = [(int(lo), int(hi)) for lo, hi in padding]
    xla = lambda x: lax.reduce_window(x, -jnp.inf, lax.max, window, strides, padding)
    taps = lambda x: max_pool(x, window, strides, padding)
    if impl == "xla" or (impl == "auto" and not use_max_taps(window, strides)):
        return xla(x)
    if impl == "auto" and _batch_sharded(x):  # the taps' reshapes merge the batch, sharded on an Explicit mesh
        return xla(x)
    if impl == "toeplitz":
        return taps(x)
    return lax.platform_dependent(x, cpu=taps, default=xla)
