"""Every layer in the registry passes the shared checks of ``fnn.testing.check_layer``."""

import pytest

import fnn
from fnn.testing import check_layer
from tests.conformance.cases import all_cases

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_conformance(case):
    x = case.x() if case.x is not None else None
    check_layer(case.make(), case.shape, dtype=case.dtype, x=x, batched=case.batched, grads=case.grads,
                train_rng=case.train_rng)


def test_every_layer_is_registered():
    covered = {c.name for c in CASES}
    missing = sorted(set(fnn.LAYER_NAMES) - covered)
    assert not missing, f"layers without a conformance case: {missing}"
