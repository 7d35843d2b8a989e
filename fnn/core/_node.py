"""Graph nodes: calling a Module on nodes builds a graph (nngraph's ``nn.Module.__call__``).

A :class:`Node` is one use of a Module in a graph. It records the Module, the nodes it
reads (in argument order), where it was created (``file:line``, for errors) and its
annotations. Nodes hold no arrays: a graph is turned into an ``(init, apply)`` pair by
``fnn.gModule``, which evaluates the nodes in topological order.

* ``module()`` with no argument makes a *source* node: a graph input that the module is
  applied to (``fnn.Input()`` is ``fnn.Identity()()``).
* ``module(a)`` feeds node ``a``'s output; ``module(a, b)`` (or ``module([a, b])``) feeds
  the table ``(a, b)``, in argument order.
* ``node.split(n)`` / ``node[i]``: nodes for the entries of a node whose output is a table.
* nngraph's data-flow spelling: ``-module`` is ``module()``, ``node - module`` is
  ``module(node)`` and ``[a, b] - module`` is ``module(a, b)``.

>>> import fnn
>>> x = fnn.Identity()()
>>> h = fnn.Tanh()(x).annotate(name="h")
>>> h.label, h.module.name, h.parents == (x,)
('h', 'nn.Tanh', True)
>>> a, b = fnn.SplitTable(0)(x).split(2)
>>> a.index, b.index
(0, 1)
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fnn.core._args import int_arg
from fnn.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from fnn.core._module import Module

_FNN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_IDS = itertools.count(1)

APPLY_HINT = (
    "fnn modules are pure (init, apply) pairs; run one with\n"
    "    init, apply = model\n"
    "    out_shape, params = init(jax.random.key(0), input_shape)\n"
    "    y = apply(params, x)                # or: y = model.apply(params, x)\n"
    "(calling a Module on graph nodes, as in nngraph, builds a graph: h = fnn.Linear(3, 4)(fnn.Input()))"
)


def _created_at() -> str:
    """``file:line`` of the first caller outside the fnn package (nngraph's debug label)."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_FNN_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    path = frame.f_code.co_filename
    try:
        rel = os.path.relpath(path)
        path = rel if not rel.startswith("..") else path
    except ValueError:  # another drive (Windows)
        pass
    return f"{path}:{frame.f_lineno}"


class Node:
    """One use of a Module in a graph (or one entry of a table-valued node).

    Attributes:
      module: the Module this node applies; None for an entry node (``split`` / ``[i]``).
      parents: the nodes whose outputs form this node's input, in argument order; empty
        for a source node (a graph input).
      index: for an entry node, the table entry it selects (0-based).
      n_split: for an entry node made by ``split(n)``, ``n`` (the table must have exactly n).
      annotations: ``name``, ``description``, ``graph_attributes`` (Graphviz attributes).
      where: ``file:line`` where the node was created.
      id: a process-wide creation counter (creation order is a topological order).
    """

    __slots__ = ("module", "parents", "index", "n_split", "annotations", "where", "id", "consumers")

    def __init__(self, module: Module | None, parents: tuple[Node, ...], index: int | None = None,
                 n_split: int | None = None, where: str | None = None):
        self.module: Module | None = module
        self.parents: tuple[Node, ...] = parents
        self.index: int | None = index
        self.n_split: int | None = n_split
        self.annotations: dict[str, Any] = {}
        self.where: str = where or _created_at()
        self.id: int = next(_IDS)
        self.consumers: list[Node] = []  # nodes made from this one (finds dangling nodes)
        for p in dict.fromkeys(parents):
            p.consumers.append(self)

    # -- entries of a table-valued node ------------------------------------------------
    def split(self, n: int) -> tuple[Node, ...]:
        """``n`` nodes for the entries of this node's table output (nngraph's ``:split(n)``).

        The table must have exactly ``n`` entries (checked at ``init`` and ``apply``), and
        every one of the ``n`` nodes must be used by the graph. Always returns a tuple
        (also for ``n == 1``).
        """
        int_arg("Node.split", "n", n, minimum=1)
        where = _created_at()
        return tuple(Node(None, (self,), index=i, n_split=n, where=where) for i in range(n))

    def __getitem__(self, i: int) -> Node:
        """A node for entry ``i`` (0-based, negative from the end) of this node's table output."""
        int_arg("Node[i]", "i", i)
        return Node(None, (self,), index=i)

    def __sub__(self, module: Module) -> Node:
        """nngraph's data-flow spelling: ``node - module`` is ``module(node)``."""
        from fnn.core._module import Module

        if not isinstance(module, Module):
            return NotImplemented
        return Node(module, (self,))

    def __iter__(self) -> Iterator[Node]:
        raise ConfigError(
            "a graph node is not iterable: take the entries of a table-valued node with "
            "node.split(n) (a, b = node.split(2)) or node[i]"
        )

    def annotate(self, **annotations: Any) -> Node:
        """Adds annotations and returns the node (nngraph's ``:annotate{...}``).

        Args:
          **annotations: ``name`` (the label used in printing, DOT and errors),
            ``description`` (shown in DOT), ``graph_attributes`` (or ``graphAttributes``):
            a dict of Graphviz node attributes such as ``{"color": "red"}``.
        """
        attrs = annotations.pop("graphAttributes", None)
        if attrs is not None:
            annotations.setdefault("graph_attributes", attrs)
        for key in ("name", "description"):
            if key in annotations and not isinstance(annotations[key], str):
                raise ConfigError(f"Node.annotate: {key} must be a str, got {annotations[key]!r}")
        ga = annotations.get("graph_attributes")
        if ga is not None and not isinstance(ga, dict):
            raise ConfigError(f"Node.annotate: graph_attributes must be a dict, got {ga!r}")
        self.annotations.update(annotations)
        return self

    @property
    def label(self) -> str | None:
        """The ``name`` annotation, or None."""
        return self.annotations.get("name")

    def describe(self) -> str:
        """``"L1" nn.Linear(10 -> 20) created at file.py:12`` (used in errors)."""
        label = f'"{self.label}" ' if self.label else ""
        if self.module is not None:
            what = self.module.name.splitlines()[0]
        else:
            what = f"entry [{self.index}]" + (f" of split({self.n_split})" if self.n_split is not None else "")
        return f"{label}{what} created at {self.where}"

    def __repr__(self) -> str:
        return f"<fnn graph node {self.describe()}>"


def _as_node_args(module: Module, args: tuple) -> tuple[Node, ...]:
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])  # nngraph's table form: module({a, b})
        if not args:
            raise ConfigError(f"{module.name} was called on an empty list; pass graph nodes")
    for i, a in enumerate(args):
        if isinstance(a, Node):
            continue
        if a is None:
            raise ConfigError(f"{module.name} was called on None (argument {i}): a graph node is needed (a nil input)")
        if hasattr(a, "shape") and hasattr(a, "dtype") or isinstance(a, (int, float, complex)):
            raise UsageError(f"{module.name} was called on an array (argument {i}). {APPLY_HINT}")
        raise ConfigError(
            f"{module.name} was called on a {type(a).__name__} (argument {i}); a Module is called on graph "
            "nodes (made with fnn.Input() or another module's call) to build a graph"
        )
    return args


def call_module(module: Module, args: tuple) -> Node:
    """``module(*args)``: a node applying ``module`` to the nodes ``args`` (a source node if none)."""
    return Node(module, _as_node_args(module, args))
