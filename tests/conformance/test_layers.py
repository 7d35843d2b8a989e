"""Every layer in the registry passes the shared checks of ``fnn.testing.check_layer``.

The registry's coverage is checked by reflection, as haiku's ``integration/descriptors.py``
does: every constructor that ``fnn.testing.layer_constructors()`` finds in ``fnn.layers``
(torch7 names and PyTorch aliases alike) must have a case in ``tests/conformance/cases/``
or an entry, with its reason, in ``EXCEPTIONS``. A new layer is noticed as soon as it is
exported.
"""

import pytest

import fnn
import fnn.layers
from fnn.testing import check_layer, layer_constructors
from tests.conformance.cases import all_cases

CASES = all_cases()

# Layer constructors that have no conformance case, each with the reason. Keep it empty:
# every exported constructor, aliases included, builds a Module that check_layer can run.
EXCEPTIONS: dict[str, str] = {}


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_conformance(case):
    x = case.x() if case.x is not None else None
    check_layer(case.make(), case.shape, dtype=case.dtype, x=x, batched=case.batched, grads=case.grads,
                train_rng=case.train_rng)


def test_every_layer_is_registered():
    covered = {c.name for c in CASES}
    missing = sorted(set(layer_constructors()) - covered - set(EXCEPTIONS))
    assert not missing, f"layers without a conformance case (add one in tests/conformance/cases/): {missing}"


def test_cases_and_exceptions_name_real_constructors():
    known = set(layer_constructors())
    unknown = sorted({c.name for c in CASES} - known)
    assert not unknown, f"cases whose name is not a layer constructor: {unknown}"
    stale = sorted(set(EXCEPTIONS) - known)
    assert not stale, f"exceptions that are no longer layer constructors: {stale}"
    covered = sorted(set(EXCEPTIONS) & {c.name for c in CASES})
    assert not covered, f"exceptions that have a case now (drop them from EXCEPTIONS): {covered}"


def test_reflection_finds_constructors_and_aliases_only():
    names = layer_constructors()
    assert names == fnn.LAYER_NAMES
    assert list(names) == sorted(set(names))
    # torch7 names, PyTorch aliases and containers are all listed.
    for name in ("Linear", "SpatialConvolution", "Conv2d", "ConvTranspose3d", "MaxPool1d", "BatchNorm2d",
                 "Embedding", "Flatten", "Softmax", "GLU", "Sequential", "ConcatTable"):
        assert name in names, name
    # A public helper of fnn.layers that returns an array, not a Module, is not a layer.
    assert callable(fnn.layers.lookup_weight)
    assert "lookup_weight" not in names
    # Every listed name is a public constructor of both fnn.layers and the facade.
    for name in names:
        assert not name.startswith("_")
        assert getattr(fnn, name) is getattr(fnn.layers, name), name
