"""Every criterion in the registry passes the shared checks of ``fnn.testing.check_criterion``."""

import jax
import jax.numpy as jnp
import pytest

import fnn
from fnn.criteria._base import make, reduce
from fnn.criteria._checks import is_concrete
from fnn.testing import check_criterion
from tests.conformance.criteria_cases import CASES

# Criterion constructors that need no case, each with the reason. Empty: every one has a case.
EXCEPTIONS: dict[str, str] = {}


@pytest.mark.parametrize("case", CASES, ids=[c.test_id for c in CASES])
def test_criterion_conformance(case):
    x, t = jax.tree.map(jnp.asarray, (case.input, case.target))
    check_criterion(case.make(), x, t, batched=case.batched, grads=case.grads)


def test_every_criterion_is_registered():
    covered = {c.name for c in CASES}
    missing = sorted(set(fnn.CRITERION_NAMES) - covered - set(EXCEPTIONS))
    assert not missing, f"criteria without a conformance case: {missing}"
    unknown = sorted(covered - set(fnn.CRITERION_NAMES))
    assert not unknown, f"cases of names that fnn.CRITERION_NAMES does not list: {unknown}"
    assert not set(EXCEPTIONS) & covered, "a criterion with a case needs no exception"


def _toy(losses, none_scale=1.0, keep_rows=False):
    """A leaf criterion whose per-element losses are ``losses(x, t)``; broken on demand: its 'none' form
    scaled by ``none_scale``, or its reductions keeping the rows (``keep_rows``)."""

    def build(r):
        def loss(x, t):
            v = losses(x, t)
            if r == "none":
                return v * none_scale
            return jnp.sum(v, axis=-1) if keep_rows else reduce(v, r)

        return (lambda x, t: (x, t)), loss

    return make("Toy", build, "mean", {})


X, T = jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), jnp.zeros((2, 3))


def test_check_criterion_passes_a_correct_toy():
    check_criterion(_toy(lambda x, t: (x - t) ** 2), X, T)


@pytest.mark.parametrize("toy, message", [
    (_toy(lambda x, t: (x - t) ** 2, none_scale=2.0), "reduction='none' sums to"),
    (_toy(lambda x, t: (x - jnp.mean(x, axis=0, keepdims=True)) ** 2), "vmap over examples"),  # couples the examples
    (_toy(lambda x, t: jax.lax.stop_gradient(x) * x), "finite differences"),  # gradient x, not 2x
    (_toy(lambda x, t: (x - t) ** 2, keep_rows=True), "expected a 0-d array"),
    (_toy(lambda x, t: (x - t) ** (2 if is_concrete(x) else 3)), "jit differs from eager"),
], ids=["none-sum", "vmap", "grad", "0-d", "jit"])
def test_check_criterion_catches_a_broken_criterion(toy, message):
    with pytest.raises(AssertionError, match=message):
        check_criterion(toy, X, T)
