"""Fast CPU convolutions and max pooling: oneDNN's kernels, and pure-JAX formulations.

XLA's CPU backend runs ``lax.conv_general_dilated`` through a generic spatial convolution that
is slow when the input channels are few (LeNet's ``1 -> 6`` and ``6 -> 16``), and slower still
for the *weight gradient* of the 16-128-channel 3x3 and 1x1 convolutions real CNNs are made of;
``reduce_window`` max pooling differentiates into a ``select_and_scatter`` that XLA:CPU lowers to
a serial scatter. This package runs them faster behind the same NCHW/OIHW contract (measured
figures: ``bench/HISTORY.md``, "The CPU convolution gap" and "Round 2"), one form per file:

* :func:`conv2d_onednn` (``_onednn_conv.py``) -- **oneDNN's convolutions** (the CPU kernels PyTorch
  runs), called from the compiled program through XLA's FFI: a JAX primitive whose forward pass,
  input gradient and weight gradient are each a oneDNN call on channels-last images, closed under
  ``jvp``, ``grad`` and ``vmap``. ``_onednn.py`` binds the library (the ``onednn-cpu-gomp`` wheel,
  installed with fnn on x86-64 Linux) through ``ctypes``; ``_xla_ffi.py`` is the FFI handler. The
  default for float32 convolutions of one group with at least :data:`ONEDNN_MIN_ROWS` output pixels
  over the batch wherever the library loads (:func:`use_onednn`, :func:`onednn_available`;
  ``FNN_ONEDNN=0`` turns it off); the forms below serve float64, grouped convolutions, small calls
  and machines without it. A program serialized with ``jax.export`` takes XLA's convolution in its place, since
  it must run where fnn is not imported.
* :func:`batch_norm_onednn` (``_onednn_norm.py``) -- **oneDNN's batch normalization** in training, the
  same way: its forward pass one call, the input's, weight's and bias's gradients another. The
  batch-norm layers run it inside ``implementation("onednn")`` (:func:`use_onednn_norm`); ``"auto"``
  keeps XLA's, which measured as fast in a whole train step.
* :func:`conv2d_toeplitz` (``_toeplitz.py``) -- the convolution as **one matrix product against
  a banded (Toeplitz) weight matrix**: for few input channels (:func:`use_toeplitz`).
* :func:`conv2d_chunked` (``_chunked.py``) -- XLA's forward convolution and input gradient, with
  **the weight gradient summed over batch chunks** (:func:`chunk_size`), each chunk's operands
  small enough to stay in cache: for the rest, at batch sizes where chunks pay. It computes
  channels-last (NHWC) between transposes, so that XLA cancels them against batch norm's, and
  differentiates a strided convolution in its input as stride-1 convolutions over the phases of
  the stride (a base-dilated convolution would run on Eigen, not YNNPACK).
* :func:`max_pool` (``_max_pool.py``) -- max pooling as the maximum of the strided taps, its
  backward pass a few fused selects (:func:`use_max_taps`).
* :func:`materialize` and :func:`materialized` (``_materialize.py``) -- a fusion barrier XLA:CPU
  keeps (a conditional it can neither fold nor turn into a select): a value computed once into
  memory instead of in each consumer. The pooling uses it for its output, the first maximum's
  position and the incoming gradient.
* :func:`conv2d` and :func:`reduce_max` (``_dispatch.py``) -- the dispatch: the CPU forms on CPU
  for the shapes where they win, XLA's own ops otherwise and on every other platform
  (``lax.platform_dependent``: GPU and TPU always run XLA's convolution and ``reduce_window``).

Every form is differentiated by JAX (the chunked form and the pooling through a ``custom_jvp``,
oneDNN's through its primitive's transposes), so forward mode, reverse mode, ``vmap`` and higher
derivatives work on each.

Which library runs XLA's own convolutions (those oneDNN does not run) is a compile option, not a
form: XLA:CPU hands those of more than 16 channels to YNNPACK, which runs one of fewer than 128
input or output channels on a single thread. fnn's train and evaluation steps compile with
:func:`fnn.core.jit_step`, whose options leave convolutions to XLA's multi-threaded Eigen kernels
(``python -m bench.conv_threads``).

fnn's ``SpatialConvolution`` family (NCHW, 2-D) calls :func:`conv2d` and its max-pooling layers
call :func:`reduce_max`. Which form they take is chosen when a call is traced: by its ``impl=``
argument, else by the innermost ``with fnn.kernels.implementation(...)`` block around the tracing
(:func:`current_implementation` tells which), else ``"auto"``. ``with
fnn.kernels.implementation("xla"):`` around the first call of a jitted model restores XLA's own
convolution and ``reduce_window`` everywhere.

Non-finite inputs: the band multiplies every input column of a block by the zeros around the
kernel, so an ``inf`` or ``NaN`` in the input of the Toeplitz form makes the whole output row block
it reads ``NaN`` (``0 * inf``), where XLA's convolution keeps it to the receptive field. Outputs
are never a wrong *finite* number -- every finite output is exact -- and the first non-finite
layer is still the one before the convolution; use ``implementation("xla")`` when the exact
placement of non-finite values matters.

>>> import jax, jax.numpy as jnp
>>> from jax import lax
>>> x = jax.random.normal(jax.random.key(0), (2, 3, 9, 9))
>>> w = jax.random.normal(jax.random.key(1), (4, 3, 3, 3))
>>> ref = lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW"))
>>> y = conv2d_toeplitz(x, w, padding=((1, 1), (1, 1)))
>>> y.shape, bool(jnp.allclose(y, ref, atol=1e-4))
((2, 4, 9, 9), True)
"""

from typing import Any

from ._chunked import chunk_size as chunk_size
from ._chunked import conv2d_chunked as conv2d_chunked
from ._dispatch import IMPLS as IMPLS
from ._dispatch import ONEDNN_MIN_ROWS as ONEDNN_MIN_ROWS
from ._dispatch import conv2d as conv2d
from ._dispatch import current_implementation as current_implementation
from ._dispatch import implementation as implementation
from ._dispatch import reduce_max as reduce_max
from ._dispatch import use_onednn as use_onednn
from ._dispatch import use_onednn_norm as use_onednn_norm
from ._materialize import materialize as materialize
from ._materialize import materialized as materialized
from ._max_pool import max_pool as max_pool
from ._max_pool import use_max_taps as use_max_taps
from ._onednn import OneDNNError as OneDNNError
from ._onednn_conv import available as onednn_available
from ._onednn_conv import conv2d_onednn as conv2d_onednn
from ._onednn_norm import batch_norm_onednn as batch_norm_onednn
from ._toeplitz import block_width as block_width
from ._toeplitz import conv2d_toeplitz as conv2d_toeplitz
from ._toeplitz import use_toeplitz as use_toeplitz

__all__ = [
    "IMPLS",
    "ONEDNN_MIN_ROWS",
    "OneDNNError",
    "batch_norm_onednn",
    "block_width",
    "chunk_size",
    "conv2d",
    "conv2d_chunked",
    "conv2d_onednn",
    "conv2d_toeplitz",
    "current_implementation",
    "implementation",
    "materialize",
    "materialized",
    "max_pool",
    "onednn_available",
    "reduce_max",
    "use_max_taps",
    "use_onednn",
    "use_onednn_norm",
    "use_toeplitz",
]


def __getattr__(name: str) -> Any:
    if name == "DEFAULT_IMPL":  # fnn 0.1's mutable global
        raise AttributeError(
            "fnn.kernels.DEFAULT_IMPL was replaced by `with fnn.kernels.implementation(...)`; "
            "read the current one with fnn.kernels.current_implementation()"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

