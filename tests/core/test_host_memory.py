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

# A jitted program whose 128 MB result is freed after every call (as a step's temporaries are). It
# reports, while it holds one result, the bytes glibc has mapped on their own (mallinfo2's hblkhd:
# the block, with glibc's defaults), and the minor page faults of ten calls, after fifteen, up to
# ten times until ten calls fault in under a third of their pages. The kept heap grows over the
# first calls until it holds as many blocks as are in flight at once (a block is freed
# asynchronously, after the next call may have asked for its own) and as the small pieces glibc's
# thread caches keep between the blocks fragment it: quiet, within the fifteen; on a loaded
# machine, later (in one run of the suite, half of the first ten calls after fifteen faulted).
_PROGRAM = """
import ctypes, json, resource, sys
import fnn
kept = fnn.core.keep_host_memory() if sys.argv[1] == "keep" else None
import jax, jax.numpy as jnp

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL(None)
if hasattr(libc, "mallinfo2"):  # glibc >= 2.33
    libc.mallinfo2.restype = MallInfo2
f = jax.jit(lambda s: jnp.arange(1 << 25, dtype=jnp.float32) * s)
for _ in range(15):
    f(1.0).block_until_ready()
held = f(1.0).block_until_ready()
mapped = libc.mallinfo2().hblkhd if hasattr(libc, "mallinfo2") else None
del held
windows = []
while len(windows) < 10 and (not windows or windows[-1] >= 32768 * 10 // 3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        f(2.0).block_until_ready()
    windows.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    if sys.argv[1] != "keep":
        break
heap = libc.mallinfo2().arena if hasattr(libc, "mallinfo2") else None
print(json.dumps({"kept": kept, "mapped": mapped, "faults": windows, "heap": heap}))
"""


def _run(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROGRAM, mode], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="keep_host_memory sets glibc's malloc (Linux)")
def test_a_large_block_is_reused_instead_of_mapped_afresh():
    block, pages = 1 << 27, 10 * (1 << 25) * 4 // 4096  # the block's bytes; the 4 KiB pages of ten blocks
    system, kept = _run("system"), _run("keep")
    assert kept["kept"] is True
    # glibc's default: the block mapped on its own, afresh each call, every page faulted in
    assert system["faults"][0] > pages * 9 // 10
    assert system["mapped"] is None or system["mapped"] >= block  # None: a glibc older than mallinfo2
    # kept: the block comes from the heap, and once the heap has grown, its pages are used again
    # (the first window of ten calls was under a third in 8 of 8 quiet trial runs)
    assert kept["mapped"] is None or kept["mapped"] < block
    assert kept["faults"][-1] < pages // 3, f"the kept heap never settled: faults per ten calls {kept['faults']}"


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
