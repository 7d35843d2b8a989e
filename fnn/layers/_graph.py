"""Graphs: nngraph's ``gModule``, a pure layer made of a graph of modules.

Calling a Module on graph nodes makes a node (``h = fnn.Linear(20, 10)(x)``);
``fnn.gModule(inputs, outputs)`` turns the graph between them into a Module, an
``(init, apply)`` pair like any other layer::

    x1, x2 = fnn.Input(), fnn.Input()
    s = fnn.CAddTable()(fnn.Linear(20, 10)(x1), fnn.Linear(10, 10)(x2))
    a, b = fnn.SplitTable(1)(fnn.Reshape(2, 5)(s)).split(2)
    g = fnn.gModule([x1, x2], [fnn.Tanh()(a), fnn.Sigmoid()(b)])

Params and state are tuples with one entry (a *slot*) per distinct Module object, in
node creation order: a Module used by two nodes has one entry (shared weights, the
gradient is the sum over its uses). The graph is checked when it is built
(:class:`~fnn.errors.ConfigError`); every init/apply error names the node (slot,
label, module, ``file:line``). Printing and Graphviz DOT are in ``_graph_text.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from fnn.core import (
    Module,
    Node,
    ShapeTree,
    apply_child,
    derive_output,
    format_shape,
    init_child,
    is_shape,
    shape_of,
)
from fnn.core._shapes import fill_dtype
from fnn.errors import ConfigError, FnnError, ShapeError
from fnn.layers._graph_text import render_graph, to_dot
from fnn.layers._simple import Identity

# --------------------------------------------------------------------------- the checked graph


@dataclasses.dataclass(frozen=True, eq=False)
class Graph:
    """A checked graph: its nodes in topological order and where params live.

    Attributes:
      nodes: every node from the inputs to the outputs, in creation (topological) order.
      inputs: the input nodes, in the order of the graph's input table.
      outputs: the output nodes, in the order of the output table.
      slot: for each node with a module, its params slot (``id(node)`` -> index).
      modules: the distinct modules, in slot order (the gModule's children).
      numbers: each node's 1-based position in ``nodes`` (``id(node)`` -> number).
    """

    nodes: tuple[Node, ...]
    inputs: tuple[Node, ...]
    outputs: tuple[Node, ...]
    slot: dict[int, int]
    modules: tuple[Module, ...]
    numbers: dict[int, int]

    def number(self, node: Node) -> int:
        """The node's 1-based position in :attr:`nodes` (its number in printouts)."""
        return self.numbers[id(node)]


def _node_list(what: str, nodes: Any) -> tuple[Node, ...]:
    if isinstance(nodes, Node):
        nodes = (nodes,)
    if not isinstance(nodes, (list, tuple)):
        raise ConfigError(f"nn.gModule: {what} must be a list of graph nodes, got {type(nodes).__name__}")
    for i, n in enumerate(nodes):
        if not isinstance(n, Node):
            kind = "None (a nil node)" if n is None else f"a {type(n).__name__}"
            raise ConfigError(f"nn.gModule: {what}[{i}] is {kind}, not a graph node")
    if not nodes:
        raise ConfigError(f"nn.gModule: no {what}; a graph needs at least one input and one output")
    return tuple(nodes)


def _ancestors(outputs: tuple[Node, ...]) -> dict[int, Node]:
    """Every node the outputs depend on (iterative: deep graphs must not recurse)."""
    seen: dict[int, Node] = {}
    stack = list(outputs)
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen[id(n)] = n
        stack.extend(n.parents)
    return seen


def _topological(nodes: dict[int, Node]) -> tuple[Node, ...]:
    """Kahn's algorithm, ties broken by creation order; a cycle is a ConfigError."""
    pending = {k: len(set(map(id, n.parents))) for k, n in nodes.items()}
    users: dict[int, list[Node]] = {k: [] for k in nodes}
    for n in nodes.values():
        for p in dict.fromkeys(n.parents):
            users[id(p)].append(n)
    ready = [(n.id, k) for k, n in nodes.items() if pending[k] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, k = heapq.heappop(ready)
        order.append(nodes[k])
        for u in users[k]:
            pending[id(u)] -= 1
            if pending[id(u)] == 0:
                heapq.heappush(ready, (u.id, id(u)))
    if len(order) != len(nodes):
        stuck = min((n for k, n in nodes.items() if pending[k] > 0), key=lambda n: n.id)
        raise ConfigError(f"nn.gModule: the graph has a cycle through node {stuck.describe()}")
    return tuple(order)


def _check_inputs(inputs: tuple[Node, ...], reach: dict[int, Node]) -> None:
    for i, n in enumerate(inputs):
        if n.parents or n.module is None:
            raise ConfigError(
                f"nn.gModule: inputs[{i}] ({n.describe()}) is not an input node: it reads other nodes. "
                "Make inputs with fnn.Input() or module() called with no argument"
            )
        if sum(m is n for m in inputs) > 1:
            raise ConfigError(f"nn.gModule: inputs[{i}] ({n.describe()}) is given twice")
        if id(n) not in reach:
            raise ConfigError(f"nn.gModule: inputs[{i}] ({n.describe()}) is unused: no output depends on it")
    given = {id(n) for n in inputs}
    for n in reach.values():
        if not n.parents and id(n) not in given:
            raise ConfigError(
                f"nn.gModule: an output depends on {n.describe()}, an input node that is not among the inputs "
                "(the node is not reachable from the inputs); add it to the inputs"
            )


def _check_dangling(order: tuple[Node, ...], reach: dict[int, Node]) -> None:
    for n in order:
        for c in n.consumers:
            if id(c) in reach:
                continue
            if c.n_split is not None:
                raise ConfigError(
                    f"nn.gModule: output [{c.index}] of the split({c.n_split}) of {n.describe()} is unused "
                    f"(split created at {c.where}); every output of a split must be used"
                )
            raise ConfigError(
                f"nn.gModule: {c.describe()} reads {n.describe()} but does not connect to an output "
                "(a dangling node); use it in an output or build it after the gModule"
            )


def build_graph(inputs: Any, outputs: Any) -> Graph:
    """Checks the graph between ``inputs`` and ``outputs`` and numbers its nodes and slots."""
    ins, outs = _node_list("inputs", inputs), _node_list("outputs", outputs)
    reach = _ancestors(outs)
    _check_inputs(ins, reach)
    order = _topological(reach)
    _check_dangling(order, reach)
    slot_of_module: dict[int, int] = {}
    modules: list[Module] = []
    slot: dict[int, int] = {}
    for n in order:
        if n.module is None:
            continue
        if id(n.module) not in slot_of_module:
            slot_of_module[id(n.module)] = len(modules)
            modules.append(n.module)
        slot[id(n)] = slot_of_module[id(n.module)]
    return Graph(order, ins, outs, slot, tuple(modules), {id(n): k + 1 for k, n in enumerate(order)})


# --------------------------------------------------------------------------- evaluation


@contextlib.contextmanager
def _blame(g: Module, graph: Graph, node: Node) -> Iterator[None]:
    """Names the node in every error raised while it is evaluated."""
    try:
        yield
    except FnnError as e:
        where = f"params[{graph.slot[id(node)]}], " if node.module is not None else ""
        prefix = f"{g.name.splitlines()[0]} node ({graph.number(node)}) [{where}{node.describe()}]: "
        e.message = prefix + e.message
        e.args = (e.message,)
        raise
    except Exception as e:
        e.add_note(f"  while evaluating node ({graph.number(node)}) {node.describe()} of {g.name.splitlines()[0]}")
        raise


def _entry(graph: Graph, node: Node, table_shape: ShapeTree) -> int:
    """Checks that the parent's output is a table that has entry ``node.index``; returns it (>= 0)."""
    parent = node.parents[0]
    if is_shape(table_shape):
        raise ShapeError(
            f"selects entry {node.index} of node ({graph.number(parent)})'s output, but that is one array "
            f"{format_shape(table_shape)}, not a table"
        )
    n = len(table_shape)
    if node.n_split is not None and n != node.n_split:
        more = "more" if n > node.n_split else "fewer"
        raise ShapeError(
            f"split({node.n_split}) of node ({graph.number(parent)}) got a table of {n} entries ({more} than "
            f"{node.n_split}): {format_shape(table_shape)}"
        )
    if not -n <= node.index < n:
        raise ShapeError(f"entry {node.index} is out of range for a table of {n}: {format_shape(table_shape)}")
    return node.index % n


def _input_of(graph: Graph, node: Node, values: dict[int, Any], external: tuple) -> Any:
    if not node.parents:
        return external[graph.inputs.index(node)]
    got = [values[id(p)] for p in node.parents]
    return got[0] if len(got) == 1 else tuple(got)


def _split_input(g: Module, graph: Graph, shape: Any, what: str) -> tuple:
    k = len(graph.inputs)
    if k == 1:
        return (shape,)
    if is_shape(shape) or len(shape) != k:
        raise ShapeError(f"{g.name} has {k} inputs and expects a table of {k} {what}, got {format_shape(shape)}")
    return tuple(shape)


def _input_dtypes(graph: Graph, dtype: Any) -> tuple:
    k = len(graph.inputs)
    if k == 1:
        return (dtype,)
    if isinstance(dtype, (tuple, list)) and len(dtype) == k:
        return tuple(dtype)
    return (dtype,) * k


def _resolved(shape: ShapeTree, dtype: Any) -> Any:
    """``None`` (the layer's default dtype) becomes float32 before it is packed in a table:
    ``jnp.dtype(None)`` is float64, which a table layer must not see under x64-off."""
    if dtype is None:
        return fill_dtype(shape, jnp.float32)
    if isinstance(dtype, tuple) and not is_shape(shape):
        return tuple(_resolved(s, d) for s, d in zip(shape, dtype))
    return dtype


def _packed(graph: Graph, node: Node, values: dict[int, Any], ext_shapes: tuple, ext_dtypes: tuple) -> tuple:
    if not node.parents:
        k = graph.inputs.index(node)
        return ext_shapes[k], ext_dtypes[k]
    got = [values[id(p)] for p in node.parents]
    if len(got) == 1:
        return got[0]
    return tuple(s for s, _ in got), tuple(_resolved(s, d) for s, d in got)


def _init_graph(g: Module, graph: Graph, rng: Any, shape: ShapeTree, dtype: Any) -> tuple:
    shapes, dtypes = _split_input(g, graph, shape, "input shapes"), _input_dtypes(graph, dtype)
    values: dict[int, tuple] = {}  # id(node) -> (shape, dtype)
    params: list = [None] * len(graph.modules)
    state: list = [None] * len(graph.modules)
    for pos, node in enumerate(graph.nodes):
        with _blame(g, graph, node):
            if node.module is None:
                s, d = values[id(node.parents[0])]
                i = _entry(graph, node, s)
                values[id(node)] = (s[i], d[i] if isinstance(d, tuple) else d)
                continue
            s, d = _packed(graph, node, values, shapes, dtypes)
            k = graph.slot[id(node)]
            if params[k] is None:
                out_s, out_d, params[k], state[k] = init_child(g, k, node.module, jax.random.fold_in(rng, pos), s, d)
            else:  # a shared module: its params exist; derive this use's output shape from them
                try:
                    out_s, out_d = derive_output(node.module.name, node.module.apply_fn, params[k], state[k], s,
                                                 _resolved(s, d))
                except FnnError as e:
                    raise e.at(k, g.name) from None
            if d is None and node.module.kind == "Identity":
                out_d = None  # fnn.Input() leaves the default dtype to the layers it feeds
            values[id(node)] = (out_s, out_d)
    outs = [values[id(n)] for n in graph.outputs]
    if len(outs) == 1:
        out_shape, out_dtype = outs[0]
    else:
        out_shape, out_dtype = tuple(s for s, _ in outs), tuple(_resolved(s, d) for s, d in outs)
    return out_shape, out_dtype, tuple(params), tuple(state)


def _check_trees(g: Module, graph: Graph, params: Any, state: Any) -> None:
    n = len(graph.modules)
    for what, tree in (("params", params), ("state", state)):
        if not isinstance(tree, (tuple, list)) or len(tree) != n:
            got = f"{len(tree)} entries" if isinstance(tree, (tuple, list)) else type(tree).__name__
            raise ShapeError(f"{g.name} expects {what} with {n} entries (one per module slot), got {got}")


def _apply_graph(g: Module, graph: Graph, params: Any, state: Any, x: Any, rng: Any, train: bool) -> tuple:
    _check_trees(g, graph, params, state)
    if len(graph.inputs) > 1:
        _split_input(g, graph, shape_of(x), "inputs")
    external = tuple(x) if len(graph.inputs) > 1 else (x,)
    values: dict[int, Any] = {}
    new_state = list(state)
    for pos, node in enumerate(graph.nodes):
        with _blame(g, graph, node):
            if node.module is None:
                t = values[id(node.parents[0])]
                values[id(node)] = t[_entry(graph, node, shape_of(t))]
                continue
            k = graph.slot[id(node)]
            key = None if rng is None else jax.random.fold_in(rng, pos)
            inp = _input_of(graph, node, values, external)
            values[id(node)], new_state[k] = apply_child(g, k, node.module, params[k], new_state[k], inp, key, train)
    outs = tuple(values[id(n)] for n in graph.outputs)
    return (outs[0] if len(outs) == 1 else outs), tuple(new_state)


# --------------------------------------------------------------------------- the Module


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class GraphModule(Module):
    """The Module that :func:`gModule` returns: a Module with its graph, and :meth:`to_dot`."""

    graph: Graph | None = None

    def to_dot(self, highlight: Node | None = None, title: str | None = None) -> str:
        """The graph as Graphviz DOT text (render with ``dot -Tsvg``).

        Args:
          highlight: a node to mark (filled red), e.g. the one an error names.
          title: the graph's title (default: the module's name).

        Annotations become node attributes: ``name`` and ``description`` go into the
        label, ``graph_attributes`` are written as they are; the tooltip is ``file:line``.
        """
        return to_dot(self, self.graph, highlight, title)


def Input() -> Node:
    """A graph input node: ``fnn.Input()`` is ``fnn.Identity()()``.

    >>> import fnn
    >>> x = fnn.Input()
    >>> x.module.name, x.parents
    ('nn.Identity', ())
    """
    return Identity()()


def gModule(inputs: Sequence[Node] | Node, outputs: Sequence[Node] | Node) -> Module:
    """The graph from ``inputs`` to ``outputs`` as one Module (nngraph's ``nn.gModule``).

    Args:
      inputs: the input nodes (nodes made with ``fnn.Input()`` or ``module()``), in the
        order of the input table (a single node is a list of one). A graph input node
        applies its module to its input.
      outputs: the output nodes, in the order of the output table (an input may also be
        an output; a node may appear twice). Every node built from a node of the graph
        must lead to an output (nngraph's dangling-node check).

    Shape contract: one input takes an array (or whatever its input module takes); ``k``
    inputs take a table (tuple) of ``k``. One output returns an array; ``k`` outputs
    return a tuple. Params and state: a tuple with one entry per distinct Module object,
    in node creation order (``params[slot]``, PyTorch key ``"<slot>.<name>"``).

    Deviations from nngraph: dims are 0-based; a node may read the same node twice
    (``fnn.CMulTable()(x, x)``); ``split(n)`` always returns a tuple.

    Raises:
      ConfigError: a non-node argument, an unused input, an input that reads other nodes,
        a dangling node, an unused split output, an output that depends on an input node
        not among ``inputs``, or a cycle.

    >>> import jax, jax.numpy as jnp, fnn
    >>> x = fnn.Input()
    >>> h = fnn.Tanh()(fnn.Linear(3, 4)(x))
    >>> g = fnn.gModule([x], [fnn.CAddTable()(h, fnn.Linear(3, 4)(x))])
    >>> init, apply = g
    >>> out_shape, params = init(jax.random.key(0), (-1, 3))
    >>> out_shape, len(params), apply(params, jnp.ones((2, 3))).shape
    ((-1, 4), 5, (2, 4))
    """
    graph = build_graph(inputs, outputs)

    def init_fn(rng, shape, dtype):
        return _init_graph(m, graph, rng, shape, dtype)

    def apply_fn(params, state, x, *, rng=None, train=False):
        return _apply_graph(m, graph, params, state, x, rng, train)

    m = GraphModule(
        name="nn.gModule",
        init_fn=init_fn,
        apply_fn=apply_fn,
        children=graph.modules,
        has_state=any(c.has_state for c in graph.modules),
        kind="gModule",
        render=lambda mod: render_graph(mod, graph),
        rebuild=None,
        config={"n_inputs": len(graph.inputs), "n_outputs": len(graph.outputs)},
        graph=graph,
    )
    return m

