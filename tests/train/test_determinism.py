"""Determinism: the same seed gives bit-identical training, in one process and across processes (CPU)."""

import hashlib
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fnn
from fnn.train import fit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root

# The subprocess uses the same jax configuration as tests/conftest.py.
_CHILD = """
import sys
import jax
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")
from tests.train.test_determinism import train_digest
print(train_digest(int(sys.argv[1])))
"""


def digest(tree) -> str:
    """SHA-256 of every leaf's dtype, shape and bytes, in tree order."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        a = np.asarray(jax.random.key_data(leaf) if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf)
        h.update(f"{a.dtype.name}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def train(seed: int):
    """A few epochs of an MLP with dropout (train mode, a key per step) on fixed data."""
    data = np.random.default_rng(0)
    x = data.normal(size=(64, 4))
    y = (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 0).astype(np.int32)
    model = fnn.Sequential(fnn.Linear(4, 16), fnn.ReLU(), fnn.Dropout(0.3), fnn.Linear(16, 3), fnn.LogSoftMax())
    return fit(model, fnn.ClassNLLCriterion(), optax.adam(1e-2), (x, y), epochs=3, batch_size=16, rng=seed,
               progress=False)


def train_digest(seed: int) -> str:
    ts = train(seed)
    return digest((ts.params, ts.opt_state, ts.history))


_DIGESTS: dict[int, str] = {}  # this process's digests, reused by the cross-process test


def test_same_seed_same_bits_in_one_process():
    a, b = train(7), train(7)
    assert int(a.step) == 12 and a.history["loss"].shape == (3,)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)
    assert digest((a.params, a.opt_state, a.history)) == digest((b.params, b.opt_state, b.history))
    _DIGESTS[7] = digest((a.params, a.opt_state, a.history))


def test_same_seed_same_bits_across_processes():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), JAX_PLATFORMS="cpu")
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, "7"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=ROOT) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        outs.append(out.strip().splitlines()[-1])
    assert outs[0] == outs[1] == (_DIGESTS.get(7) or train_digest(7))
