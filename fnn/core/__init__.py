"""The authoring API: the Module contract, leaves, shapes, argument checks, initialisers.

Everything a layer is written with lives here, and nothing here imports a layer:

* :class:`Module` and :class:`StatefulPair` (``_module.py``): a layer is a frozen object that
  unpacks into ``(init, apply)``; the stateful form underneath, the plain pair derived.
* :func:`leaf`, :func:`elementwise`, :func:`derive_output` (``_leaf.py``): how a layer is built
  from its forward function; output shapes are derived in one place.
* shapes (``_shapes.py``): shape trees, their printed form, the checks layers share.
* ``_args.py``: the one set of constructor argument checks.
* ``_init.py``: initialisers (``Initializer``, torch7's defaults).
* :class:`Node` (``_node.py``): calling a Module on graph nodes builds a graph (``fnn.gModule``).
* :func:`jit_once`, :func:`jit_step` (``_compile.py``): top-level programs compiled with XLA:CPU
  options, for a program that runs once (an init) and one that runs many times (a train step).
* :func:`keep_host_memory` (``_host_memory.py``): glibc's ``malloc`` set to reuse the host memory XLA:CPU
  frees after each step, instead of mapping it afresh.

A new layer is usually ten lines::

    >>> import jax, jax.numpy as jnp
    >>> from fnn.core import leaf, format_shape
    >>> def Scale(s):
    ...     return leaf(f"nn.Scale({s})", lambda p, x, *, rng, train: s * x, kind="Scale")
    >>> init, apply = Scale(3.0)
    >>> init(jax.random.key(0), (-1, 2))[0]
    (-1, 2)
    >>> apply((), jnp.ones(2))
    Array([3., 3.], dtype=float32)
"""

from fnn.core._compile import ONCE_COMPILER_OPTIONS as ONCE_COMPILER_OPTIONS
from fnn.core._compile import STEP_COMPILER_OPTIONS as STEP_COMPILER_OPTIONS
from fnn.core._compile import OptionedJit as OptionedJit
from fnn.core._compile import cpu_compiler_options as cpu_compiler_options
from fnn.core._compile import jit_once as jit_once
from fnn.core._compile import jit_step as jit_step
from fnn.core._host_memory import keep_host_memory as keep_host_memory
from fnn.core._init import Initializer as Initializer
from fnn.core._init import normal as normal
from fnn.core._init import uniform as uniform
from fnn.core._leaf import derive_output as derive_output
from fnn.core._leaf import elementwise as elementwise
from fnn.core._leaf import leaf as leaf
from fnn.core._leaf import named as named
from fnn.core._module import Module as Module
from fnn.core._module import StatefulPair as StatefulPair
from fnn.core._module import apply_child as apply_child
from fnn.core._module import apply_hook as apply_hook
from fnn.core._module import current_path as current_path
from fnn.core._module import init_child as init_child
from fnn.core._module import recording as recording
from fnn.core._node import Node as Node
from fnn.core._shapes import SENTINELS as SENTINELS
from fnn.core._shapes import Array as Array
from fnn.core._shapes import Params as Params
from fnn.core._shapes import Shape as Shape
from fnn.core._shapes import ShapeTree as ShapeTree
from fnn.core._shapes import State as State
from fnn.core._shapes import as_input as as_input
from fnn.core._shapes import canonical_dim as canonical_dim
from fnn.core._shapes import dtype_of as dtype_of
from fnn.core._shapes import each_concrete as each_concrete
from fnn.core._shapes import expect_array as expect_array
from fnn.core._shapes import expect_table as expect_table
from fnn.core._shapes import format_shape as format_shape
from fnn.core._shapes import is_shape as is_shape
from fnn.core._shapes import lift as lift
from fnn.core._shapes import normalize_shape as normalize_shape
from fnn.core._shapes import same_size as same_size
from fnn.core._shapes import shape_of as shape_of
