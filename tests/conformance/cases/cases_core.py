"""Conformance cases: containers and Linear."""

import fnn
from tests.conformance.cases import Case

CASES = [
    Case("Linear", lambda: fnn.Linear(3, 4), (2, 3)),
    Case("Linear", lambda: fnn.Linear(3, 4, bias=False), (2, 3), id="nobias"),
    Case("Linear", lambda: fnn.Linear(3, 4), (2, 5, 3), id="3d"),
    Case("Sequential", lambda: fnn.Sequential(fnn.Linear(3, 4), fnn.Linear(4, 2)), (2, 3)),
    Case("Sequential", lambda: fnn.Sequential(), (2, 3), id="empty"),
    Case("Concat", lambda: fnn.Concat(-1, fnn.Linear(3, 4), fnn.Linear(3, 2)), (2, 3)),
    Case("ConcatTable", lambda: fnn.ConcatTable(fnn.Linear(3, 4), fnn.Linear(3, 2)), (2, 3)),
    Case("ParallelTable", lambda: fnn.ParallelTable(fnn.Linear(3, 4), fnn.Linear(2, 4)), ((2, 3), (2, 2))),
    Case("MapTable", lambda: fnn.MapTable(fnn.Linear(3, 2)), ((2, 3), (2, 3))),
    Case("Parallel", lambda: fnn.Parallel(-2, -1, fnn.Linear(3, 2), fnn.Linear(3, 4)), (2, 2, 3)),
]
