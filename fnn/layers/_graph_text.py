"""How a gModule prints: torch7's node list, and Graphviz DOT text.

Nodes are numbered ``(1)``, ``(2)``, ... in topological order, as torch7 numbers a
container's children; ``params[k]`` is the node's params slot. For example::

    nn.gModule {
      (1): nn.Identity <- input[0]  params[0]
      (2): nn.Linear(3 -> 4) <- (1)  params[1]  "h"
      (3): nn.SplitTable(0) <- (2)  params[2]
      (4): (3)[0] of split(2)
      (5): (3)[1] of split(2)
      (6): nn.CAddTable <- {(4), (5)}  params[3]
      output <- (6)
    }

Both walk the node list once (no recursion: deep graphs print too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fnn.core import Module, Node
from fnn.errors import ConfigError

if TYPE_CHECKING:
    from fnn.layers._graph import Graph

_TAB = "  "


def _sources(graph: Graph, node: Node) -> str:
    if not node.parents:
        return f"input[{graph.inputs.index(node)}]"
    refs = [f"({graph.number(p)})" for p in node.parents]
    return refs[0] if len(refs) == 1 else "{" + ", ".join(refs) + "}"


def _entry_text(graph: Graph, node: Node) -> str:
    text = f"({graph.number(node.parents[0])})[{node.index}]"
    return text + (f" of split({node.n_split})" if node.n_split is not None else "")


def render_graph(module: Module, graph: Graph) -> str:
    """torch7-style text: one line per node, ``(k): module <- sources  params[slot]  "label"``."""
    lines = [f"nn.{module.kind} {{"]
    for node in graph.nodes:
        head = f"{_TAB}({graph.number(node)}): "
        if node.module is None:
            body = _entry_text(graph, node)
        else:
            name = str(node.module).replace("\n", "\n" + _TAB * 2)
            body = f"{name} <- {_sources(graph, node)}  params[{graph.slot[id(node)]}]"
        if node.label:
            body += f'  "{node.label}"'
        lines.append(head + body)
    outs = [f"({graph.number(n)})" for n in graph.outputs]
    lines.append(f"{_TAB}output <- " + (outs[0] if len(outs) == 1 else "{" + ", ".join(outs) + "}"))
    return "\n".join(lines) + "\n}"


def _quote(text: Any) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(attrs: dict[str, Any]) -> str:
    return "[" + ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items()) + "]"


def _node_attrs(graph: Graph, node: Node, highlight: bool) -> dict[str, Any]:
    k = graph.number(node)
    lines = [f"{node.label} ({k})" if node.label else f"({k})"]
    if node.module is None:
        lines.append(_entry_text(graph, node))
    else:
        lines.append(node.module.name.splitlines()[0])
        lines.append(f"params[{graph.slot[id(node)]}]")
    if node.annotations.get("description"):
        lines.append(node.annotations["description"])
    attrs: dict[str, Any] = {"label": "\n".join(lines), "tooltip": node.where}
    attrs.update(node.annotations.get("graph_attributes") or {})
    if highlight:
        attrs.update(style="filled", fillcolor="red", penwidth="2")
    return attrs


def to_dot(module: Module, graph: Graph, highlight: Node | None = None, title: str | None = None) -> str:
    """Graphviz DOT text of ``graph`` (see :meth:`GraphModule.to_dot`)."""
    if highlight is not None and (not isinstance(highlight, Node) or id(highlight) not in graph.numbers):
        raise ConfigError(f"{module.name}.to_dot: highlight must be a node of this graph, got {highlight!r}")
    title = title or module.name
    lines = [
        f"digraph {_quote(title)} {{",
        f"{_TAB}graph {_attrs({'label': title, 'labelloc': 't'})};",
        f"{_TAB}node [shape=box];",
        f"{_TAB}input [label=\"input\", shape=ellipse];",
    ]
    edges = []
    for node in graph.nodes:
        k = graph.number(node)
        lines.append(f"{_TAB}n{k} {_attrs(_node_attrs(graph, node, node is highlight))};")
        if not node.parents:
            edges.append(f"{_TAB}input -> n{k} [label=\"{graph.inputs.index(node)}\"];")
        for i, p in enumerate(node.parents):
            arg = f" [label=\"{i}\"]" if len(node.parents) > 1 else ""
            edges.append(f"{_TAB}n{graph.number(p)} -> n{k}{arg};")
    lines.append(f"{_TAB}output [label=\"output\", shape=ellipse];")
    for i, n in enumerate(graph.outputs):
        edges.append(f"{_TAB}n{graph.number(n)} -> output [label=\"{i}\"];")
    return "\n".join(lines + edges) + "\n}\n"
