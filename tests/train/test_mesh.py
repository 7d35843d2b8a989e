"""Data parallelism: the 8-device tests (in their own process) and what one device can check.

``tests/mesh/`` needs ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` before jax starts
its CPU backend, which the main test process has already done with one device: this file runs
them with ``python -m pytest tests/mesh`` in a subprocess. The rest runs here: placement
helpers and their errors, the one-process rule, a one-device mesh, and an import of fnn that
starts no backend.
"""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P

import fnn
from fnn.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args, env_extra, timeout):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "XLA_FLAGS"))}
    env.update(env_extra)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_eight_device_tests_pass_in_their_own_process():
    flags = "--xla_force_host_platform_device_count=8"
    proc = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "tests/mesh"],
                {"FNN_MESH_TESTS": "1", "XLA_FLAGS": flags}, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and " skipped" not in proc.stdout, proc.stdout[-2000:]


def test_importing_fnn_starts_no_backend():
    code = ("import fnn, fnn.train, fnn.kernels; from jax._src import xla_bridge as xb; "
            "assert not xb.backends_are_initialized(), 'a backend started at import'")
    proc = _run(["-c", code], {}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _mesh():
    return jax.make_mesh((1,), ("data",))


def test_replicate_and_shard_batch_place_trees():
    mesh = _mesh()
    tree = {"w": jnp.ones((2, 3)), "k": jax.random.key(0), "n": np.zeros(4)}
    placed = fnn.replicate(tree, mesh)
    assert all(leaf.sharding.spec == P() for leaf in jax.tree.leaves(placed))
    x, y = fnn.shard_batch((jnp.ones((4, 3)), jnp.arange(4)), mesh, "data")
    assert x.sharding.spec == P("data") and y.sharding.spec == P("data")
    assert fnn.train.batch_sharding(mesh, "data").spec == P("data")


def test_placement_errors_are_config_errors():
    mesh = _mesh()
    with pytest.raises(ConfigError, match="not the data axis 'batch'"):
        fnn.shard_batch(jnp.ones((4, 3)), mesh, "batch")
    with pytest.raises(ConfigError, match="must be a jax.sharding.Mesh"):
        fnn.replicate(jnp.ones(3), "data")
    with pytest.raises(ConfigError, match="leading dimension"):
        fnn.shard_batch(jnp.float32(1.0), mesh, "data")


def test_fit_refuses_more_than_one_process(monkeypatch):
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    x, y = jnp.ones((8, 3)), jnp.zeros((8,), jnp.int32)
    with pytest.raises(ConfigError, match="one process"):
        fnn.fit(fnn.Linear(3, 2), fnn.CrossEntropyCriterion(), optax.sgd(0.1), (x, y), epochs=1, batch_size=4,
                rng=0, progress=False, mesh=_mesh())
    with pytest.raises(ConfigError, match="2 processes"):
        fnn.fit(fnn.Linear(3, 2), fnn.CrossEntropyCriterion(), optax.sgd(0.1), (x, y), epochs=1, batch_size=4,
                rng=0, progress=False)


def test_fit_on_a_one_device_mesh_equals_fit():
    x = jax.random.normal(jax.random.key(0), (24, 3))
    y = (x[:, 0] > 0).astype(jnp.int32)
    model, crit, opt = fnn.Sequential(fnn.Linear(3, 2), fnn.LogSoftMax()), fnn.ClassNLLCriterion(), optax.sgd(0.1)
    kw = dict(epochs=2, batch_size=8, rng=0, progress=False, eval_data=(x, y), eval_batch_size=8)
    ref = fnn.fit(model, crit, opt, (x, y), **kw)
    ts = fnn.fit(model, crit, opt, (x, y), mesh=_mesh(), **kw)
    for a, b in zip(jax.tree.leaves(ref.params), jax.tree.leaves(ts.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-12)
    for k in ref.history:
        np.testing.assert_allclose(ref.history[k], ts.history[k], atol=1e-12)
