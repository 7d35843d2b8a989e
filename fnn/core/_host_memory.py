"""Host memory for XLA:CPU's steps: :func:`keep_host_memory`.

XLA:CPU allocates all of a program's temporaries (a train step's activations, their gradients, the
layout copies) as one block per execution and frees it when the execution ends: 203 MB for
ResNet-20's step at batch 128. glibc's ``malloc`` serves a block that large with a fresh ``mmap`` and
returns it with ``munmap``, so every step touches 50 000 new pages: the kernel zeroes each on first
write, and the step pays about 100 ms of system time on two cores (``python -m bench.host_memory``).
(PyTorch's steps pay it too, for their tensors over glibc's 32 MB mapping threshold.)

:func:`keep_host_memory` sets glibc's ``malloc`` to serve every block from its main heap and to keep
what is freed there, so the next step reuses the same pages. The heap grows over the first steps
until it holds as many blocks as are in flight at once (a block is freed asynchronously, sometimes
after the next step has asked for its own) and as the small pieces glibc's per-thread caches keep
between the blocks fragment it (a 128 MB block: a heap of 0.3-1.2 GB, up to 1.6 GB under load);
until then some steps still fault in fresh pages, the more so on a loaded machine. A process
started with ``GLIBC_TUNABLES=glibc.malloc.tcache_count=0`` as well (no per-thread caches, which
only the environment can turn off) keeps a smaller heap (ResNet-20's benchmark process peaks
0.25-0.48 GB lower) and compiles more slowly still.

It is a setting of the whole process, for its whole life: memory a program frees stays with the
process (the benchmark's processes peak 0.47 GB higher), which suits a training process and may
not suit a long-lived service. One arena also costs time where many threads allocate at once:
XLA's compilation of a step takes 1.2-1.4x as long (the first step of ResNet-20 3.3 s instead of
2.5 s, of LeNet-5 1.1 s instead of 0.8 s), paid once per program.
"""

from __future__ import annotations

import ctypes
import platform
import sys
import warnings

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8

# (parameter, value): one arena, so that XLA's worker threads allocate from the main heap (a thread's
# own arena holds no block over 64 MB: those are always mapped afresh); no block mapped on its own;
# the free top of the heap never returned to the system.
_SETTINGS = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))

_applied = False


def _libc() -> ctypes.CDLL | None:
    """This process's C library where it is glibc on Linux (the only one whose ``mallopt`` this sets)."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(None)


def _runtime_started() -> bool:
    """Whether JAX has created its backends, and so XLA:CPU its worker threads (and their arenas)."""
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover - a jax without this module
        return False
    started = getattr(xla_bridge, "backends_are_initialized", None)
    return bool(started and started())


def keep_host_memory() -> bool:
    """Lets XLA:CPU's train steps reuse their host memory instead of mapping it afresh every step.

    Call it at the start of a training program, before its first JAX computation (creating an array,
    initialising a model). It sets glibc's ``malloc``, for the whole process and its whole life, to
    serve every block from one heap and keep what is freed (see the module docstring). On two cores
    (``python -m bench.host_memory``, 12 steps after 6) ResNet-20's step at batch 128 then makes 4 200
    page faults instead of 49 700, spends 14 ms of system time instead of 98, and takes 0.88x the
    time; VGG's 0.78x; PyTorch's steps in the same processes gain too (0.89x, 0.93x); an MLP's step,
    whose blocks glibc reuses anyway, is unchanged. Memory the process frees is not returned to
    the system, and compiling a step takes 1.2-1.4x as long (all threads share one heap): a cost
    paid once, against one paid every step. The same setting, without code, in the environment:
    ``MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``.

    Returns:
      True if the setting is now in place (this call or an earlier one); False on a system without
      glibc (macOS, Windows, musl: nothing to set), and, with a ``RuntimeWarning``, when JAX's
      runtime has already started: XLA's worker threads then already allocate from arenas of their
      own, where the setting cannot reach a step's large block, so nothing is changed.

    Example::

        import fnn
        fnn.core.keep_host_memory()  # first, before any JAX computation
        model = fnn.Sequential(...)
    """
    global _applied
    if _applied:
        return True
    libc = _libc()
    if libc is None:
        return False
    if _runtime_started():
        warnings.warn("fnn.core.keep_host_memory: JAX's runtime has already started, so XLA's threads allocate "
                      "from malloc arenas of their own, which this setting cannot change; call it before the first "
                      "JAX computation (or set MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 "
                      "MALLOC_TRIM_THRESHOLD_=2147483647 in the environment). Nothing was changed.",
                      RuntimeWarning, stacklevel=2)
        return False
    for param, value in _SETTINGS:
        if libc.mallopt(param, value) != 1:  # pragma: no cover - glibc accepts all three since 2.x
            raise OSError(f"fnn.core.keep_host_memory: glibc's mallopt({param}, {value}) failed")
    _applied = True
    return True
