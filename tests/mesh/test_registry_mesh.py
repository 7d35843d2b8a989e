"""Every layer of the conformance registry on 8 devices, batch-sharded, equals its unsharded result.

The Explicit mesh (``jax.make_mesh``'s default, where layouts are types and JAX refuses what it
cannot infer) runs every case; the Auto mesh, where XLA propagates layouts and the risk is
lower, every second one (``FNN_MESH_FULL=1``: all). See ``registry.py`` for the method.
"""

import os

from tests.conformance.cases import all_cases
from tests.mesh.registry import prepare, run_chunk

CASES = all_cases()
CHUNK = 64  # cases per compiled program


def test_every_registry_layer_on_a_batch_sharded_mesh(meshes):
    items = [prepare(c, i) for i, c in enumerate(CASES)]
    every = 1 if os.environ.get("FNN_MESH_FULL") == "1" else 2
    problems = []
    for k in range(0, len(items), CHUNK):
        n = len(items[k:k + CHUNK])
        plans = [(meshes["explicit"], range(n)), (meshes["auto"], [i for i in range(n) if (k + i) % every == 0])]
        problems += run_chunk(items[k:k + CHUNK], plans)
    assert not problems, "\n".join(problems)
