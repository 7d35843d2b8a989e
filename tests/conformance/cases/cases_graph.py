"""Conformance cases: graphs (nngraph's gModule), built from fnn.Input nodes.

Each ``make`` builds a fresh graph (nodes remember their consumers, so a graph's nodes
are not shared between cases).
"""

import fnn
from tests.conformance.cases import Case


def _mlp():
    x = fnn.Input()
    h = fnn.Tanh()(fnn.Linear(4, 5)(x))
    return fnn.gModule([x], [fnn.Linear(5, 3)(h)])


def _residual():
    x = fnn.Input()
    h = fnn.Linear(4, 4)(fnn.Tanh()(fnn.Linear(4, 4)(x)))
    return fnn.gModule([x], [fnn.CAddTable()(h, x)])


def _two_in_two_out():
    x1, x2 = fnn.Input(), fnn.Input()
    s = fnn.CAddTable()(fnn.Linear(4, 6)(x1), fnn.Linear(2, 6)(x2))
    a, b = fnn.SplitTable(-2)(fnn.Reshape(2, 3)(s)).split(2)
    return fnn.gModule([x1, x2], [fnn.Tanh()(a), fnn.Sigmoid()(b)])


def _shared():
    x = fnn.Input()
    lin = fnn.Linear(3, 3)
    return fnn.gModule([x], [lin(fnn.Tanh()(lin(x)))])


def _batch_norm():
    x = fnn.Input()
    return fnn.gModule([x], [fnn.BatchNormalization(3)(fnn.Linear(4, 3)(x))])


def _dropout():
    x = fnn.Input()
    return fnn.gModule([x], [fnn.Dropout(0.5)(fnn.Linear(4, 3)(x)), fnn.Dropout(0.5)(x)])


def _identity():
    x = fnn.Input()
    return fnn.gModule([x], [x])


CASES = [
    Case("gModule", _mlp, (2, 4), id="mlp"),
    Case("gModule", _residual, (2, 4), id="residual"),
    Case("gModule", _two_in_two_out, ((2, 4), (2, 2)), id="two-in-two-out"),
    Case("gModule", _shared, (2, 3), id="shared-module"),
    Case("gModule", _batch_norm, (3, 4), id="stateful"),
    Case("gModule", _dropout, (2, 4), train_rng=True, id="dropout"),
    Case("gModule", _identity, (2, 3), id="identity"),
]
