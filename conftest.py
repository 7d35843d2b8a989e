"""Root pytest configuration: doctests run in JAX's default mode (float32, x64 off), and the run's
time per test file is summed and printed (``--file-times``, always in CI) to keep the suite short.

``tests/conftest.py`` turns float64 on for the unit tests; the docstring examples
show what a user sees by default, so they run with x64 switched off again.
"""

import collections
import os

import jax
import pytest

_FILE_SECONDS: collections.Counter = collections.Counter()  # setup + call + teardown of each file's tests
SLOWEST_FILES = 15


@pytest.fixture(autouse=True)
def _doctest_default_jax_mode(request):
    if type(request.node).__name__ == "DoctestItem":
        with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
            yield
    else:
        yield


def pytest_addoption(parser):
    parser.addoption("--file-times", action="store_true",
                     help=f"print the {SLOWEST_FILES} slowest test files (always when $CI is set)")


def pytest_runtest_logreport(report):
    # Under pytest-xdist the workers' reports reach the controller through this hook too: it sums them all.
    _FILE_SECONDS[report.nodeid.split("::", 1)[0]] += report.duration


def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, "workerinput") or not _FILE_SECONDS:  # an xdist worker: the controller prints
        return
    if not (config.getoption("--file-times") or os.environ.get("CI")):
        return
    total = sum(_FILE_SECONDS.values())
    workers = getattr(config.option, "numprocesses", None)
    summed = f", summed over {workers} workers" if workers else ""
    terminalreporter.write_sep("=", f"slowest test files: {total:.1f} s of tests in {len(_FILE_SECONDS)} files{summed}")
    for path, seconds in _FILE_SECONDS.most_common(SLOWEST_FILES):
        terminalreporter.write_line(f"{seconds:8.1f} s {100 * seconds / total:5.1f} %  {path}")
