"""Top-level programs compiled with XLA:CPU options: :func:`jit_once` and :func:`jit_step`.

``jax.jit(fn, compiler_options=...)`` sets XLA options for one program, and only for a top-level
one: a jit with options called inside another trace is an error. Both functions here return a
:class:`OptionedJit`, which compiles with the options when called at top level on CPU and is a
plain ``jax.jit`` inside a trace (``jit``, ``vmap``, ``grad``, ``eval_shape``), on other platforms,
and where the installed jaxlib does not accept the options.

* :func:`jit_once` -- a program that runs once or twice (a model's init, the test kit's checks):
  :data:`ONCE_COMPILER_OPTIONS`, XLA's LLVM level 1, compiles faster.
* :func:`jit_step` -- a program that runs many times (the train and evaluation steps):
  :data:`STEP_COMPILER_OPTIONS` run its convolutions on XLA's Eigen kernels instead of YNNPACK.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# XLA options on CPU for a program that runs once or twice (see jit_once): ResNet-20's first init 5.6 ->
# 2.8 s, LeNet-5's 2.2 -> 1.1 s (`python -m bench.init_time`; bench/HISTORY.md, round 2, sixth pass).
ONCE_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}

# XLA options on CPU for a step (see jit_step). XLA:CPU (jax 0.10) hands dots, convolutions of more
# than 16 channels and reductions to YNNPACK (this option's default); YNNPACK runs a convolution of
# fewer than 128 input or output channels on one thread, where XLA's Eigen convolution uses every
# core. Without convolutions in the list, ResNet-20's train step takes 0.88x the time, VGG's 0.89x
# (`python -m bench.conv_threads`; bench/HISTORY.md, round 2, seventh pass).
STEP_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,"
                                                                 "LIBRARY_FUSION_TYPE_REDUCE"}


try:  # a cheap test for "no trace is active" (0.2 us; creating a zeros array to look costs ~45 us)
    from jax._src.core import trace_state_clean as _top_level
except ImportError:  # pragma: no cover - a future jax without it

    def _top_level() -> bool:
        return not isinstance(jnp.zeros(()), jax.core.Tracer)


@functools.cache
def _accepted(options: tuple[tuple[str, Any], ...]) -> bool:
    """Whether this process's XLA compiles with ``options`` (an XLA:CPU option may be missing from an older
    jaxlib, or renamed in a later one: then fnn compiles without it)."""
    try:
        jax.jit(lambda x: x + 1, compiler_options=dict(options)).lower(np.float32(0)).compile()
    except Exception:  # noqa: BLE001 - XLA reports a rejected option as one of several error types
        return False
    return True


@functools.cache
def _check_step_options() -> None:
    """Warns, once, where XLA:CPU runs convolutions on YNNPACK but rejects :data:`STEP_COMPILER_OPTIONS`
    (a later jaxlib that renamed the option): fnn's steps then lose Eigen's threads. An XLA without
    YNNPACK convolutions (jax 0.8) has nothing to take them off: no warning."""
    if jax.default_backend() != "cpu" or cpu_compiler_options(STEP_COMPILER_OPTIONS):
        return
    conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    x, w = np.zeros((1, 4, 4, 32), np.float32), np.zeros((3, 3, 32, 32), np.float32)
    if "ynn_fusion" in jax.jit(conv).lower(x, w).compile().as_text():
        warnings.warn(f"fnn: XLA:CPU runs convolutions on YNNPACK (one thread below 128 channels) but does not "
                      f"accept {STEP_COMPILER_OPTIONS}, which would move them to its multi-threaded Eigen "
                      "kernels: fnn's train steps compile with XLA's defaults", RuntimeWarning, stacklevel=4)


def cpu_compiler_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` where a top-level program compiles with them: on CPU, when XLA accepts them; else ``{}``.

    >>> import jax
    >>> cpu_compiler_options(STEP_COMPILER_OPTIONS) == (STEP_COMPILER_OPTIONS if jax.default_backend() == "cpu" else {})
    True
    """
    if jax.default_backend() != "cpu" or not _accepted(tuple(sorted(options.items()))):
        return {}
    return dict(options)


class OptionedJit:
    """``jax.jit(fn, **jit_kwargs)`` compiled with ``options`` where they apply (see the module docstring).

    Calls at top level run the program compiled with the options; calls inside a trace, the plain
    jit. ``lower``, ``trace`` and anything else a jitted function has (``_cache_size``, ...) are the
    optioned jit's, so ``f.lower(...).compile()`` compiles what a top-level call runs.
    """

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any], **jit_kwargs: Any) -> None:
        self.plain = jax.jit(fn, **jit_kwargs)
        chosen = cpu_compiler_options(options)
        self.options = chosen
        self.optioned = jax.jit(fn, compiler_options=chosen, **jit_kwargs) if chosen else self.plain
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return (self.optioned if _top_level() else self.plain)(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # lower, trace, eval_shape, _cache_size, ...
        if name in ("optioned", "plain"):  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.optioned, name)

    def __repr__(self) -> str:
        return f"OptionedJit({getattr(self, '__name__', '?')}, options={self.options})"


def jit_once(fn: Callable[..., Any], **jit_kwargs: Any) -> OptionedJit:
    """``jax.jit(fn)`` for a program that runs once or twice, where compiling costs more than running.

    On CPU it compiles at LLVM optimisation level 1 (:data:`ONCE_COMPILER_OPTIONS`): XLA:CPU takes
    about 0.7 s at its default level to compile the threefry hash of a conv weight's ``jax.random``
    draw, about 0.18 s at level 1, and runs a 16M-element draw 1.18x slower (``python -m
    bench.init_time``), a cost a program run once pays once. The random bits and the uniform and
    normal draws are the same at both levels; a float reduction may round differently in its last
    bit. Called inside a ``jit`` trace (options are for top-level programs only), and on
    other platforms, it is ``jax.jit(fn)``.

    >>> import jax
    >>> jit_once(lambda k: jax.random.uniform(k, (2,)))(jax.random.key(0)).shape
    (2,)
    """
    return OptionedJit(fn, ONCE_COMPILER_OPTIONS, **jit_kwargs)


def jit_step(fn: Callable[..., Any], **jit_kwargs: Any) -> OptionedJit:
    """``jax.jit(fn, **jit_kwargs)`` for a program that runs many times: a train or evaluation step.

    On CPU it compiles with :data:`STEP_COMPILER_OPTIONS`, which leave convolutions to XLA's Eigen
    kernels (multi-threaded) instead of YNNPACK (one thread below 128 channels), dots and reductions
    to YNNPACK as before: ResNet-20's train step 0.88x the time and VGG's 0.89x on two cores, MLP and
    LeNet-5 unchanged (``python -m bench.conv_threads``). The values are the same up to float rounding
    (the two libraries sum in different orders). :func:`fnn.make_train_step`, :func:`fnn.fit` and
    :func:`fnn.evaluate` compile their steps with it; use it for a hand-written step::

        step = fnn.core.jit_step(my_step, donate_argnums=(0, 1))

    Inside another trace, on other platforms, and where XLA does not accept the options, it is
    ``jax.jit(fn, **jit_kwargs)`` (with a warning, once, where XLA runs convolutions on YNNPACK and
    rejects the options).

    >>> import jax.numpy as jnp
    >>> jit_step(lambda x: 2 * x)(jnp.ones(2))
    Array([2., 2.], dtype=float32)
    """
    _check_step_options()
    return OptionedJit(fn, STEP_COMPILER_OPTIONS, **jit_kwargs)
