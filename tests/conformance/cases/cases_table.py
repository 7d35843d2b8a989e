"""Conformance cases: table layers (table inputs are tuples of shapes).

``batched=False`` marks layers whose dims are absolute, so the leading dim is not a
batch (JoinTable/SplitTable without ``n_input_dims`` along dim 0).
"""

import math

import jax
import jax.numpy as jnp

import fnn
from tests.conformance.cases import Case

_T3 = ((2, 3), (2, 3), (2, 3))
_T2 = ((2, 3), (2, 3))


def _away_from_zero():
    """A pair whose denominator lies in [1, 2] (finite differences of CDivTable)."""
    k1, k2 = jax.random.split(jax.random.key(7))
    return (jax.random.uniform(k1, (2, 3), jnp.float64, -2, 2),
            jax.random.uniform(k2, (2, 3), jnp.float64, 1, 2) * jnp.array([[1.0, -1.0, 1.0]]))


CASES = [
    Case("JoinTable", lambda: fnn.JoinTable(-1), ((2, 3), (2, 2))),
    Case("JoinTable", lambda: fnn.JoinTable(0, 1), ((2, 3), (2, 2), (2, 1)), id="n-input-dims"),
    Case("JoinTable", lambda: fnn.JoinTable(0, 2), ((2, 1, 3), (2, 2, 3)), id="n-input-dims-3d"),
    Case("JoinTable", lambda: fnn.JoinTable(0), ((2, 3), (1, 3)), batched=False, id="absolute-dim0"),
    Case("SplitTable", lambda: fnn.SplitTable(0, 1), (2, 3)),
    Case("SplitTable", lambda: fnn.SplitTable(-1), (2, 3, 2), id="last"),
    Case("SplitTable", lambda: fnn.SplitTable(1, 2), (2, 3, 2), id="n-input-dims-3d"),
    Case("SplitTable", lambda: fnn.SplitTable(0), (3, 2), batched=False, id="absolute-dim0"),
    Case("NarrowTable", lambda: fnn.NarrowTable(1, 2), ((2, 3), (2, 2), (2, 1))),
    Case("NarrowTable", lambda: fnn.NarrowTable(-1), ((2, 3), (2, 2)), id="negative-offset"),
    Case("SelectTable", lambda: fnn.SelectTable(0), ((2, 3), (2, 2))),
    Case("SelectTable", lambda: fnn.SelectTable(-1), ((2, 3), ((2, 2), (2, 1))), id="nested"),
    Case("FlattenTable", fnn.FlattenTable, ((2, 3), ((2, 2), ((2, 1),)), (2, 4))),
    Case("CAddTable", fnn.CAddTable, _T3),
    Case("CAddTable", fnn.CAddTable, ((2, 3),), id="one"),
    Case("CSubTable", fnn.CSubTable, _T2),
    Case("CMulTable", fnn.CMulTable, _T3),
    Case("CDivTable", fnn.CDivTable, _T2, x=_away_from_zero),
    Case("CMaxTable", fnn.CMaxTable, _T3),
    Case("CMinTable", fnn.CMinTable, _T3),
    Case("PairwiseDistance", fnn.PairwiseDistance, _T2),
    Case("PairwiseDistance", lambda: fnn.PairwiseDistance(1), _T2, id="p1"),
    Case("PairwiseDistance", lambda: fnn.PairwiseDistance(3), ((2, 2, 3), (2, 2, 3)), id="p3-3d"),
    Case("PairwiseDistance", lambda: fnn.PairwiseDistance(math.inf), _T2, id="inf"),
    Case("DotProduct", fnn.DotProduct, _T2),
    Case("CosineDistance", fnn.CosineDistance, _T2),
]
