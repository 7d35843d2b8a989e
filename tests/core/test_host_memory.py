"""``fnn.core.keep_host_memory``: glibc's malloc set to reuse the host memory XLA:CPU frees.

What is specified: called first in a process on Linux with glibc, it returns True and a program
whose temporaries take one large block stops mapping that block afresh on every call (counted in
minor page faults, not timed); called after JAX's runtime started it changes nothing, says why and
returns False; without glibc it returns False. The speed this buys is measured, not tested
(``python -m bench.host_memory``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import fnn
from fnn.core import _host_memory

GLIBC = _host_memory._libc() is not None

# A jitted program whose 128 MB result is freed after every call (as a step's temporaries are): the
# minor page faults of ten calls after fifteen (glibc's heap takes a few calls to hold as many blocks as are
# in flight at once: a block is freed asynchronously, after the next call may have asked for its own).
_PROGRAM = """
import json, resource, sys
import fnn
kept = fnn.core.keep_host_memory() if sys.argv[1] == "keep" else None
import jax, jax.numpy as jnp
f = jax.jit(lambda s: jnp.arange(1 << 25, dtype=jnp.float32) * s)
for _ in range(15):
    f(1.0).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    f(2.0).block_until_ready()
print(json.dumps({"kept": kept, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _faults(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROGRAM, mode], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="keep_host_memory sets glibc's malloc (Linux)")
def test_a_large_block_is_reused_instead_of_mapped_afresh():
    pages = 10 * (1 << 25) * 4 // 4096  # the 4 KiB pages of ten blocks
    system, kept = _faults("system"), _faults("keep")
    assert kept["kept"] is True
    assert system["faults"] > pages * 9 // 10  # glibc's default: a fresh mapping each call, every page faulted in
    assert kept["faults"] < pages // 3  # kept: the same pages again (none faulted in, in 8 of 8 trial runs)


def test_after_the_runtime_started_it_warns_and_changes_nothing(monkeypatch):
    import jax.numpy as jnp

    jnp.ones(2).block_until_ready()  # this process's runtime has started
    monkeypatch.setattr(_host_memory, "_applied", False)
    monkeypatch.setattr(_host_memory, "_libc", lambda: object())  # a libc without mallopt: it must not be called
    with pytest.warns(RuntimeWarning, match="before the first JAX computation"):
        assert fnn.core.keep_host_memory() is False
    assert _host_memory._applied is False


def test_without_glibc_it_is_a_no_op(monkeypatch):
    monkeypatch.setattr(_host_memory, "_libc", lambda: None)
    monkeypatch.setattr(_host_memory, "_applied", False)
    assert fnn.core.keep_host_memory() is False
