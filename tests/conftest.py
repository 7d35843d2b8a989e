"""Test configuration: float64 for gradient checks, strict dtype promotion, no rank promotion."""

import os

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

_DEFAULT_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist.npz")
MNIST_PATH = os.environ.get("FNN_MNIST", _DEFAULT_MNIST)
_DEFAULT_T7 = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "t7")
T7_PATH = os.environ.get("FNN_T7", _DEFAULT_T7)  # genuine Lua torch7 files (tests/io/test_t7_*.py)


def torch_or_skip():
    """Imports torch; skips when it is absent, except in CI where parity tests must run."""
    try:
        import torch
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("PyTorch is not installed (pip install torch==2.13.0); parity tests need it")
    torch.set_default_dtype(torch.float64)
    return torch


@pytest.fixture
def torch():
    return torch_or_skip()


@pytest.fixture
def key():
    return jax.random.key(0)


# Tests that run for a minute or more in a child process, longest first (the 8-device suite, ~2 min;
# the notebooks' kernels, 6-42 s each): started first, so that the run cannot end with one of xdist's
# two workers alone on a two-minute test (collected in file order they start last). In the CI runs of
# 2026-12-07 the workers ended 26-27 s apart either way: a guard, not a measured gain. They share no
# state with the worker, so moving them changes no other test's order.
_LONG_CHILD_PROCESS_TESTS = ("test_the_eight_device_tests_pass_in_their_own_process",
                             "test_notebook_runs_top_to_bottom")


def pytest_collection_modifyitems(config, items):
    order = {name: i for i, name in enumerate(_LONG_CHILD_PROCESS_TESTS)}

    def rank(item) -> int:
        return order.get(getattr(item, "originalname", ""), len(order))

    items.sort(key=rank)  # stable: every other test keeps its order
