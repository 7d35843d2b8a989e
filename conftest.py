"""Root pytest configuration: doctests run in JAX's default mode (float32, x64 off).

``tests/conftest.py`` turns float64 on for the unit tests; the docstring examples
show what a user sees by default, so they run with x64 switched off again.
"""

import jax
import pytest


@pytest.fixture(autouse=True)
def _doctest_default_jax_mode(request):
    if type(request.node).__name__ == "DoctestItem":
        with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
            yield
    else:
        yield
