"""Loading nngraph's ``nn.gModule`` from a ``.t7`` file as an fnn gModule.

A saved gModule holds its graph twice (``fg`` forward, ``bg`` backward) plus ``forwardnodes``:
the forward graph's nodes in topological order, from ``innode`` (the input table) to
``outnode`` (the output table). Each node's ``data`` holds its ``module`` (if any) and its
inputs in order, ``data.mapindex[1..n]`` (the parents' ``data`` tables). Nodes without a module
are nngraph's plumbing: a ``split(n)`` node (``nSplitOutputs``) and its ``selectindex`` nodes,
the ``innode`` (split into ``nInputs`` inputs when there are several) and the ``outnode``.

The loader walks ``forwardnodes`` once and rebuilds the graph with fnn's node API: a module
node fed by the input table is a graph input (``module()``); others call their module on
their parents' fnn nodes (``module(a, b)``); a split becomes ``node.split(n)``. A module object
used by two nodes is built once, so it keeps one params slot (shared weights, as in nngraph).
The params tuple follows the fnn gModule's slots (its children), whatever order nngraph kept.

>>> "nn.gModule" in T7_MODULES or not hasattr(nn, "gModule")
True
"""

from __future__ import annotations

from typing import Any

import fnn.layers as nn
from fnn.core import Module
from fnn.io._t7_load import Fields
from fnn.io._t7_modules import T7_MODULES

_INPUT_TABLE = object()


class _Split:
    """The input table split into its entries: selectindex i is graph input i."""


def _parents(f: Fields, data: Any) -> list[Any]:
    mapindex = data.get("mapindex") or {}
    n = sum(1 for k in mapindex if isinstance(k, int))
    try:
        return [mapindex[i] for i in range(1, n + 1)] if isinstance(mapindex, dict) else list(mapindex)
    except KeyError:
        raise f.fail("a graph node's inputs (mapindex) are not numbered 1..n") from None


def _graph_parts(f: Fields) -> tuple[list, Any, Any, int]:
    nodes = f.children("forwardnodes")
    innode, outnode = f.raw("innode"), f.raw("outnode")
    n_inputs = f.integer("nInputs", 1)
    if not nodes or any(getattr(n, "typename", None) != "nngraph.Node" for n in nodes):
        raise f.fail("forwardnodes should be a list of nngraph.Node")
    return nodes, innode.data, outnode.data, n_inputs


class _Builder:
    """One gModule: fnn values of the nngraph nodes, keyed by ``id(node.data)``."""

    def __init__(self, f: Fields, n_inputs: int):
        self.f, self.n_inputs = f, n_inputs
        self.values: dict[int, Any] = {}
        self.inputs: list[Any] = [None] * n_inputs
        self.built: dict[int, tuple[Module, Any, Any]] = {}  # id(torch module) -> built
        self.slots: dict[int, tuple[Any, Any]] = {}  # id(fnn module) -> (params, state)

    def module(self, obj: Any) -> Module:
        if id(obj) not in self.built:
            built = self.f.build(obj, len(self.built))
            self.built[id(obj)] = built
            self.slots[id(built[0])] = (built[1], built[2])
        return self.built[id(obj)][0]

    def node(self, data: Any) -> Any:
        parents = [self.values.get(id(p)) for p in _parents(self.f, data)]
        if any(p is None for p in parents):
            raise self.f.fail("a graph node reads a node that is not before it in forwardnodes")
        if data.get("selectindex") is not None:
            return self.select(int(data["selectindex"]) - 1, parents)
        if data.get("nSplitOutputs") is not None:
            if len(parents) != 1:
                raise self.f.fail("a split node should have one input")
            n = int(data["nSplitOutputs"])
            return _Split() if parents[0] is _INPUT_TABLE else parents[0].split(n)
        if data.get("module") is None:  # plumbing without a module: the identity (a table of several)
            return parents[0] if len(parents) == 1 else nn.Identity()(*parents)
        m = self.module(data["module"])
        if len(parents) == 1 and parents[0] is _INPUT_TABLE:
            return self.source(m, 0)
        if len(parents) == 1 and isinstance(parents[0], tuple) and parents[0][0] == "input":
            return self.source(m, parents[0][1])
        return m(*parents)

    def select(self, index: int, parents: list[Any]) -> Any:
        (parent,) = parents
        if isinstance(parent, _Split):
            return ("input", index)
        return parent[index]  # an entry of split(n)'s tuple, or node[i] of a table-valued node

    def source(self, m: Module, index: int) -> Any:
        if not 0 <= index < self.n_inputs or self.inputs[index] is not None:
            raise self.f.fail(f"graph input {index + 1} is fed twice or does not exist")
        self.inputs[index] = m()
        return self.inputs[index]


def _gmodule(f: Fields) -> tuple[Module, Any, Any]:
    nodes, in_data, out_data, n_inputs = _graph_parts(f)
    b = _Builder(f, n_inputs)
    b.values[id(in_data)] = _INPUT_TABLE
    outputs = None
    for node in nodes:
        data = node.data
        if data is in_data:
            continue
        if data is out_data:
            outputs = [b.values[id(p)] for p in _parents(f, data)]
            continue
        b.values[id(data)] = b.node(data)
    if outputs is None or any(i is None for i in b.inputs):
        raise f.fail("the graph's outnode or one of its inputs is missing from forwardnodes")
    g = nn.gModule(b.inputs, outputs)
    params = tuple(b.slots[id(m)][0] for m in g.children)
    state = tuple(b.slots[id(m)][1] for m in g.children)
    return g, params, state


if hasattr(nn, "gModule"):  # the graphs issue; until then nn.gModule is an unknown class
    T7_MODULES["nn.gModule"] = _gmodule
